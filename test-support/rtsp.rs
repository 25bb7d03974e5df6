//! An RTSP server in this process (gst-rtsp-server through the
//! `gstreamer-rtsp-server` crate) on a free loopback port, for the camera
//! tests, the soak run and the live demo: it can be stopped and started
//! again on the same port (a camera rebooting), stall a mount (a camera
//! that keeps the connection but sends nothing), and ask for a password.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use gst::prelude::*;
use gst_rtsp_server::prelude::*;
use gst_rtsp_server::{gio, glib};

/// A live test pattern as MJPEG over RTP: cheap to encode and decode.
pub fn test_pattern(width: u32, height: u32, fps: u32) -> String {
    format!(
        "( videotestsrc is-live=true pattern=ball ! video/x-raw,width={width},height={height},framerate={fps}/1,format=I420 \
         ! valve name=stall ! jpegenc quality=70 ! rtpjpegpay name=pay0 pt=96 )"
    )
}

/// The media pipelines serving each mount now.
type Medias = Arc<Mutex<Vec<(String, glib::WeakRef<gst::Element>)>>>;

struct Running {
    context: glib::MainContext,
    main_loop: glib::MainLoop,
    thread: JoinHandle<()>,
    server: gst_rtsp_server::RTSPServer,
    source: glib::Source,
}

pub struct RtspServer {
    pub port: u16,
    mounts: Vec<(String, String)>,
    auth: Option<(String, String)>,
    running: Option<Running>,
    /// Mounts that send nothing now, and the media pipelines serving them.
    stalled: Arc<Mutex<HashSet<String>>>,
    medias: Medias,
}

impl RtspServer {
    /// Serves each `(mount, launch)` (the launch is a bin with a payloader
    /// named pay0, and a `valve` named stall to stall it) on a free port.
    pub fn start(mounts: &[(&str, &str)], auth: Option<(&str, &str)>) -> RtspServer {
        Self::start_on(crate::free_port(), mounts, auth)
    }

    pub fn start_on(port: u16, mounts: &[(&str, &str)], auth: Option<(&str, &str)>) -> RtspServer {
        gst::init().expect("GStreamer initialises");
        let mut server = RtspServer {
            port,
            mounts: mounts
                .iter()
                .map(|(m, l)| (m.to_string(), l.to_string()))
                .collect(),
            auth: auth.map(|(u, p)| (u.to_string(), p.to_string())),
            running: None,
            stalled: Arc::default(),
            medias: Arc::default(),
        };
        server.resume();
        server
    }

    /// `rtsp://127.0.0.1:PORT/MOUNT`, with `user:password@` when given.
    pub fn url(&self, mount: &str, credentials: Option<(&str, &str)>) -> String {
        let auth = credentials.map_or(String::new(), |(u, p)| format!("{u}:{p}@"));
        format!(
            "rtsp://{auth}127.0.0.1:{}/{}",
            self.port,
            mount.trim_start_matches('/')
        )
    }

    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Starts serving again on the same port.
    pub fn resume(&mut self) {
        if self.running.is_some() {
            return;
        }
        let server = gst_rtsp_server::RTSPServer::new();
        server.set_address("127.0.0.1");
        server.set_service(&self.port.to_string());
        // Clients are served by the thread that runs the server's context,
        // not by threads of gst-rtsp-server's pool, so that `stop` can cut
        // them off between two of that thread's calls.
        if let Some(pool) = server.thread_pool() {
            pool.set_max_threads(0);
        }
        let mounts = server.mount_points().expect("a server has mount points");
        for (mount, launch) in &self.mounts {
            let factory = gst_rtsp_server::RTSPMediaFactory::new();
            factory.set_launch(launch);
            factory.set_shared(true);
            let path = format!("/{}", mount.trim_start_matches('/'));
            let (stalled, medias, name) = (self.stalled.clone(), self.medias.clone(), path.clone());
            factory.connect_media_configure(move |_, media| {
                let element = media.element();
                let stall = stalled.lock().unwrap().contains(&name);
                set_valve(&element, stall);
                let mut medias = medias.lock().unwrap();
                medias.retain(|(_, e)| e.upgrade().is_some());
                medias.push((name.clone(), element.downgrade()));
            });
            if self.auth.is_some() {
                factory.add_role_from_structure(
                    &gst::Structure::builder("user")
                        .field(
                            gst_rtsp_server::RTSP_PERM_MEDIA_FACTORY_ACCESS.as_str(),
                            true,
                        )
                        .field(
                            gst_rtsp_server::RTSP_PERM_MEDIA_FACTORY_CONSTRUCT.as_str(),
                            true,
                        )
                        .build(),
                );
            }
            mounts.add_factory(&path, factory);
        }
        if let Some((user, password)) = &self.auth {
            let auth = gst_rtsp_server::RTSPAuth::new();
            let token = gst_rtsp_server::RTSPToken::builder()
                .field(
                    gst_rtsp_server::RTSP_TOKEN_MEDIA_FACTORY_ROLE.as_str(),
                    "user",
                )
                .build();
            auth.add_basic(
                &gst_rtsp_server::RTSPAuth::make_basic(user, password),
                &token,
            );
            server.set_auth(Some(&auth));
        }
        let context = glib::MainContext::new();
        let source = server
            .create_source(None::<&gio::Cancellable>)
            .unwrap_or_else(|e| panic!("RTSP server cannot listen on port {}: {e}", self.port));
        source.attach(Some(&context));
        let main_loop = glib::MainLoop::new(Some(&context), false);
        let thread = {
            let (context, main_loop) = (context.clone(), main_loop.clone());
            std::thread::Builder::new()
                .name("rtsp-server".into())
                .spawn(move || {
                    context
                        .with_thread_default(|| main_loop.run())
                        .expect("the context is free");
                })
                .expect("a thread")
        };
        self.running = Some(Running {
            context,
            main_loop,
            thread,
            server,
            source,
        });
    }

    /// Stops serving: the listening socket closes and every client is
    /// cut off, as when a camera reboots.
    pub fn stop(&mut self) {
        let Some(running) = self.running.take() else {
            return;
        };
        // The thread that serves the clients cuts them off, and their
        // media pipelines stop as gst-rtsp-server ends their sessions.
        // Closing clients from this thread while a thread of the server's
        // pool answered them, and stopping their pipelines behind
        // gst-rtsp-server's back, aborted the camera churn stress in that
        // thread (`gst_rtsp_media_get_rates: assertion failed`), and most
        // likely crashed the camsrc tests (a segfault in such a thread).
        let (closed, done) = std::sync::mpsc::channel();
        let (server, source) = (running.server.clone(), running.source.clone());
        let paths: Vec<String> = self
            .mounts
            .iter()
            .map(|(mount, _)| format!("/{}", mount.trim_start_matches('/')))
            .collect();
        running
            .context
            .invoke_with_priority(glib::Priority::DEFAULT, move || {
                source.destroy();
                server.client_filter(Some(&mut |_, _| gst_rtsp_server::RTSPFilterResult::Remove));
                if let Some(mounts) = server.mount_points() {
                    for path in &paths {
                        mounts.remove_factory(path);
                    }
                }
                closed.send(()).ok();
            });
        // Never a hang when that thread is gone: its context would keep
        // the closure, and the sender in it, unrun.
        done.recv_timeout(std::time::Duration::from_secs(10)).ok();
        running.main_loop.quit();
        running.thread.join().ok();
        self.medias.lock().unwrap().clear();
    }

    /// Stops and starts again at once.
    pub fn restart(&mut self) {
        self.stop();
        self.resume();
    }

    /// Makes `mount` send nothing (`true`) or send again, keeping its
    /// connections open.
    pub fn stall(&self, mount: &str, stall: bool) {
        let name = format!("/{}", mount.trim_start_matches('/'));
        {
            let mut stalled = self.stalled.lock().unwrap();
            if stall {
                stalled.insert(name.clone());
            } else {
                stalled.remove(&name);
            }
        }
        for (m, media) in self.medias.lock().unwrap().iter() {
            if *m == name
                && let Some(element) = media.upgrade()
            {
                set_valve(&element, stall);
            }
        }
    }
}

fn set_valve(element: &gst::Element, stall: bool) {
    if let Some(valve) = element
        .downcast_ref::<gst::Bin>()
        .and_then(|b| b.by_name_recurse_up("stall").or_else(|| b.by_name("stall")))
    {
        valve.set_property("drop", stall);
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        self.stop();
    }
}
