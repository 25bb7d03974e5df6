//! An RTSP server in this process (gst-rtsp-server through the
//! `gstreamer-rtsp-server` crate) on a free loopback port, for the camera
//! tests, the soak run and the live demo: it can be stopped and started
//! again on the same port (a camera rebooting), stall a mount (a camera
//! that keeps the connection but sends nothing), and ask for a password.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
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

/// The clip re-encoded once as an H.264 byte stream, which `multifilesrc
/// loop=true` can play again and again: a byte stream read twice is still
/// one stream, and the decoder carries the timestamps on across the seam.
/// (`multifilesrc loop=true ! decodebin` on the AVI itself plays it once
/// and ends.) Returns the file and the clip's frame rate.
pub fn loopable(video: &str, dir: &Path) -> Result<(PathBuf, gst::Fraction), String> {
    let clip = dir.join("clip.h264");
    let launch = format!(
        "filesrc location=\"{video}\" ! decodebin ! videoconvert ! video/x-raw,format=I420 \
         ! x264enc speed-preset=ultrafast tune=zerolatency pass=quant quantizer=18 \
         ! video/x-h264,stream-format=byte-stream,alignment=au ! filesink name=sink location=\"{}\"",
        clip.display()
    );
    let pipeline = gst::parse::launch(&launch).map_err(|e| format!("re-encoding: {e}"))?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("re-encoding {video}: {e}"))?;
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(300),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .ok_or("re-encoding the clip took over 5 minutes")?;
    let caps = pipeline
        .downcast_ref::<gst::Bin>()
        .and_then(|b| b.by_name("sink"))
        .and_then(|s| s.static_pad("sink"))
        .and_then(|p| p.current_caps());
    pipeline.set_state(gst::State::Null).ok();
    if let gst::MessageView::Error(e) = msg.view() {
        return Err(format!("re-encoding {video}: {}", e.error()));
    }
    let fps = caps
        .as_ref()
        .and_then(|c| c.structure(0))
        .and_then(|s| s.get::<gst::Fraction>("framerate").ok())
        .filter(|f| f.numer() > 0 && f.denom() > 0)
        .unwrap_or(gst::Fraction::new(25, 1));
    Ok((clip, fps))
}

/// A camera's mount: the loopable clip decoded, paced to its frame rate by
/// `identity sync=true` (which also makes the media live: no preroll, no
/// seeking), and encoded as a camera does, H.264 tuned for zero latency
/// with a key frame every second.
///
/// H.264 rather than the MJPEG the camsrc tests serve, by measurement on
/// this 2-core VM. Per 768x576 frame (1,590 frames through gst-launch-1.0,
/// `/usr/bin/time`), encoding, payloading, depayloading and decoding cost
/// 3.0 ms of CPU with x264 (ultrafast, zerolatency, one thread) and
/// avdec_h264, 1.8-2.2 ms with jpegenc (quality 70-85) and jpegdec, and
/// decoding the loop 0.9 ms more for both. In the demo, four cameras for
/// 20 s took the same CPU either way (20.1 s with H.264, 20.3 s with MJPEG,
/// whose bigger packets cost system time) and every frame was analysed;
/// sixteen cameras, more than the detector keeps up with, had 51-59 frames
/// per second analysed with H.264 against 65-67 with MJPEG (three runs
/// each). Where the detector keeps up the choice costs nothing, and H.264
/// is what real cameras send: camsrc runs the path it runs in the field.
pub fn clip_mount(clip: &Path, fps: gst::Fraction) -> String {
    let key_interval = (fps.numer() as f64 / fps.denom() as f64).round().max(1.0);
    format!(
        "( multifilesrc location=\"{}\" loop=true \
         caps=video/x-h264,stream-format=byte-stream,alignment=au,framerate={}/{} \
         ! h264parse ! avdec_h264 max-threads=1 ! identity sync=true \
         ! x264enc speed-preset=ultrafast tune=zerolatency threads=1 key-int-max={key_interval} \
         ! rtph264pay name=pay0 pt=96 config-interval=-1 )",
        clip.display(),
        fps.numer(),
        fps.denom()
    )
}

/// The media pipelines serving each mount now.
type Medias = Arc<Mutex<Vec<(String, glib::WeakRef<gst::Element>)>>>;

struct Running {
    context: glib::MainContext,
    main_loop: glib::MainLoop,
    thread: JoinHandle<()>,
    /// Disconnected when the thread ends.
    ended: std::sync::mpsc::Receiver<()>,
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
    /// The media send and receive RTCP.
    rtcp: bool,
}

impl RtspServer {
    /// Serves each `(mount, launch)` (the launch is a bin with a payloader
    /// named pay0, and a `valve` named stall to stall it) on a free port.
    pub fn start(mounts: &[(&str, &str)], auth: Option<(&str, &str)>) -> RtspServer {
        Self::start_on(crate::free_port(), mounts, auth)
    }

    pub fn start_on(port: u16, mounts: &[(&str, &str)], auth: Option<(&str, &str)>) -> RtspServer {
        Self::serve(port, mounts, auth, true)
    }

    /// Serves `mounts` as [`RtspServer::start`] does, with RTCP off in both
    /// directions, as some cameras have it. For many clients over TCP at
    /// once: gst-rtsp-server 1.22 can deadlock then between a client's
    /// incoming RTCP, handled in the server's thread, and the media's own
    /// RTCP and caps (seen in the capacity benchmark, 8 cameras and more).
    pub fn start_without_rtcp(mounts: &[(&str, &str)]) -> RtspServer {
        Self::serve(crate::free_port(), mounts, None, false)
    }

    fn serve(
        port: u16,
        mounts: &[(&str, &str)],
        auth: Option<(&str, &str)>,
        rtcp: bool,
    ) -> RtspServer {
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
            rtcp,
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
            factory.set_enable_rtcp(self.rtcp);
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
        let (ending, ended) = std::sync::mpsc::channel::<()>();
        let thread = {
            let (context, main_loop) = (context.clone(), main_loop.clone());
            std::thread::Builder::new()
                .name("rtsp-server".into())
                .spawn(move || {
                    let _ending = ending;
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
            ended,
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
        // A thread stuck in gst-rtsp-server (see `start_without_rtcp`) is
        // left behind rather than hanging the caller.
        match running
            .ended
            .recv_timeout(std::time::Duration::from_secs(10))
        {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                eprintln!(
                    "RTSP server on port {}: its thread did not end within 10 s; left behind",
                    self.port
                )
            }
            _ => {
                running.thread.join().ok();
            }
        }
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
