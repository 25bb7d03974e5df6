//! The live view's side of the exporter: the cameras that `liveview`
//! elements registered, their latest JPEG, their WebRTC side (served by
//! [`super::whep`]), and the MJPEG stream and page the HTTP server serves
//! from them.

use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex, Weak};
use std::time::Duration;

use super::Source;
use super::whep::Whep;

/// Viewers served at once by the process, over all cameras: each holds a thread.
const MAX_VIEWERS: usize = 16;

/// One camera's picture for viewers.
pub struct View {
    pub camera: String,
    /// The latest JPEG and its number (0: none yet).
    latest: Mutex<(u64, Arc<Vec<u8>>)>,
    fresh: Condvar,
    viewers: AtomicUsize,
    /// The camera's element stopped: streams end.
    closed: AtomicBool,
    /// Told when the first viewer arrives (true) and the last leaves (false):
    /// frames are encoded only while someone watches.
    on_watch: Box<dyn Fn(bool) + Send + Sync>,
    /// The camera's frame and object counts.
    pub source: Arc<Source>,
    /// The camera's WebRTC viewers, if it serves any.
    pub whep: Option<Box<dyn Whep>>,
}

static VIEWS: LazyLock<Mutex<Vec<Weak<View>>>> = LazyLock::new(|| Mutex::new(Vec::new()));
static WATCHING: AtomicUsize = AtomicUsize::new(0);

impl View {
    /// Registers a camera; it is listed while the returned handle lives.
    pub fn register(
        camera: String,
        source: Arc<Source>,
        whep: Option<Box<dyn Whep>>,
        on_watch: impl Fn(bool) + Send + Sync + 'static,
    ) -> Arc<View> {
        let view = Arc::new(View {
            camera,
            latest: Mutex::new((0, Arc::new(Vec::new()))),
            fresh: Condvar::new(),
            viewers: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            on_watch: Box::new(on_watch),
            source,
            whep,
        });
        let mut views = VIEWS.lock().unwrap();
        views.retain(|v| v.strong_count() > 0);
        views.push(Arc::downgrade(&view));
        view
    }

    /// A new JPEG of the camera.
    pub fn publish(&self, jpeg: Vec<u8>) {
        let mut latest = self.latest.lock().unwrap();
        *latest = (latest.0 + 1, Arc::new(jpeg));
        self.fresh.notify_all();
    }

    /// The camera stops: viewers' streams end.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let _guard = self.latest.lock().unwrap();
        self.fresh.notify_all();
    }

    /// Pictures published so far (encoded only while someone watched).
    pub fn pictures(&self) -> u64 {
        self.latest.lock().unwrap().0
    }

    pub fn viewers(&self) -> usize {
        self.viewers.load(Ordering::SeqCst)
    }
}

pub fn views() -> Vec<Arc<View>> {
    let mut views = VIEWS.lock().unwrap();
    views.retain(|v| v.strong_count() > 0);
    views.iter().filter_map(Weak::upgrade).collect()
}

/// `[{"camera", "frames", "objects", "viewers", "pictures", "webrtc"}]`
/// for the page: `viewers` and `pictures` are MJPEG's, `webrtc` (null
/// without) its viewers and the frames encoded for them.
pub fn cameras_json() -> String {
    let list: Vec<serde_json::Value> = views()
        .iter()
        .map(|v| {
            serde_json::json!({
                "camera": v.camera,
                "frames": v.source.frames.load(Ordering::Relaxed),
                "objects": v.source.objects.load(Ordering::Relaxed),
                "viewers": v.viewers(),
                "pictures": v.pictures(),
                "webrtc": webrtc_json(v),
            })
        })
        .collect();
    serde_json::Value::Array(list).to_string()
}

fn webrtc_json(view: &View) -> serde_json::Value {
    view.whep.as_ref().map_or(
        serde_json::Value::Null,
        |w| serde_json::json!({ "viewers": w.viewers(), "encoded": w.encoded() }),
    )
}

/// Camera `camera`'s WebRTC viewers and frames encoded for them, as in
/// [`cameras_json`] (null without a live view or without WebRTC).
pub fn webrtc(camera: &str) -> serde_json::Value {
    views()
        .iter()
        .find(|v| v.camera == camera)
        .map_or(serde_json::Value::Null, |v| webrtc_json(v))
}

/// The page: every camera's live picture and counts, refreshed by script.
/// The cameras running now are in the page itself, so their pictures load
/// with it; the script adds cameras that start later.
pub fn page() -> String {
    let figures: String = views()
        .iter()
        .map(|v| {
            let id = escape(&v.camera);
            format!(
                "<figure data-camera=\"{id}\"><img src=\"/stream/{}\" alt=\"{id}\"><figcaption><b>{id}</b></figcaption></figure>",
                cctv::camera_uri::percent_encode(&v.camera)
            )
        })
        .collect();
    include_str!("view.html").replace("{cameras}", &figures)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub const BOUNDARY: &str = "cctvframe";

/// An MJPEG stream (`multipart/x-mixed-replace`) of one camera, as a
/// reader the HTTP server copies to the viewer until it goes away.
pub struct Mjpeg {
    view: Arc<View>,
    seen: u64,
    part: Vec<u8>,
    pos: usize,
}

impl Mjpeg {
    /// A stream of `camera`, or `None` when there is no such camera or too
    /// many viewers already.
    pub fn open(camera: &str) -> Option<Mjpeg> {
        let view = views().into_iter().find(|v| v.camera == camera)?;
        if WATCHING.fetch_add(1, Ordering::SeqCst) >= MAX_VIEWERS {
            WATCHING.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        if view.viewers.fetch_add(1, Ordering::SeqCst) == 0 {
            (view.on_watch)(true);
        }
        Some(Mjpeg {
            view,
            seen: 0,
            part: Vec::new(),
            pos: 0,
        })
    }
}

impl Drop for Mjpeg {
    fn drop(&mut self) {
        WATCHING.fetch_sub(1, Ordering::SeqCst);
        if self.view.viewers.fetch_sub(1, Ordering::SeqCst) == 1 {
            (self.view.on_watch)(false);
        }
    }
}

impl Read for Mjpeg {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.part.len() {
            let jpeg = {
                let mut latest = self.view.latest.lock().unwrap();
                // A camera that stopped for good (its element gone) ends the stream.
                while latest.0 == self.seen {
                    if self.view.closed.load(Ordering::SeqCst) {
                        return Ok(0);
                    }
                    latest = self
                        .view
                        .fresh
                        .wait_timeout(latest, Duration::from_secs(1))
                        .unwrap()
                        .0;
                }
                self.seen = latest.0;
                Arc::clone(&latest.1)
            };
            self.part.clear();
            self.part.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                    jpeg.len()
                )
                .as_bytes(),
            );
            self.part.extend_from_slice(&jpeg);
            self.part.extend_from_slice(b"\r\n");
            self.pos = 0;
        }
        let n = out.len().min(self.part.len() - self.pos);
        out[..n].copy_from_slice(&self.part[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
