//! Metrics and health of every element in the process, and the live view,
//! served over HTTP when the environment variable `CCTV_METRICS` is set
//! (`1` for 127.0.0.1:9464, or `HOST:PORT`) or a `liveview` element runs,
//! so a plain `gst-launch-1.0` line is monitored too:
//!
//! - `/metrics`: Prometheus text (encoded by `prometheus-client`), one
//!   series per element with labels `pipeline`, `element` and `camera`;
//! - `/health`: `ok`, or `degraded` and one reason per line (a server or
//!   camera unreachable, frames dropped in the last interval, a stream that
//!   stopped flowing);
//! - `/`: the live view, each `liveview` camera's picture (`/stream/ID`,
//!   MJPEG, or WebRTC signalled by WHEP on `/whep/ID`) and counts
//!   (`/cameras.json`).
//!
//! An application (the site service, `cctvd`) may start it instead
//! ([`serve_app`]) with routes of its own and an access token that every
//! request then needs.
//!
//! Elements update their [`Source`] with atomics on the streaming thread (no
//! lock, no allocation per frame); what lives elsewhere (a sink's queue and
//! connection) is read at scrape time by the element's [`Report`].

mod server;
pub mod view;
pub mod whep;

pub use server::{App, Request, Response};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock, Weak};
use std::time::Instant;

use gst::prelude::*;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "cctvmetrics",
        gst::DebugColorFlags::empty(),
        Some("Metrics and health exporter"),
    )
});

/// The variable that turns the exporter on.
pub const ENV: &str = "CCTV_METRICS";
const DEFAULT_ADDRESS: &str = "127.0.0.1:9464";
/// A stream whose last frame is older than this is reported as stalled.
const STALL_AFTER_MS: u64 = 5_000;

/// What an element reads at scrape time, besides its counters.
pub trait Report: Send + Sync {
    fn report(&self, out: &mut Vec<Extra>);
}

impl<T: Report + ?Sized> Report for Arc<T> {
    fn report(&self, out: &mut Vec<Extra>) {
        (**self).report(out)
    }
}

/// One figure or health fact an element reports at scrape time.
pub enum Extra {
    Counter {
        name: &'static str,
        help: &'static str,
        value: u64,
    },
    Gauge {
        name: &'static str,
        help: &'static str,
        value: i64,
    },
    /// The element cannot do its job right now.
    Degraded(String),
}

/// One element's figures.
pub struct Source {
    pipeline: String,
    element: String,
    camera: Mutex<String>,
    pub frames: AtomicU64,
    /// Streaming-thread time spent in the element, nanoseconds.
    pub busy_ns: AtomicU64,
    /// Of which inside model inference.
    pub inference_ns: AtomicU64,
    /// Frames or items the element dropped.
    pub dropped: AtomicU64,
    /// Objects in the element's last frame (live tracks, for a tracker).
    pub objects: AtomicU64,
    /// Milliseconds since the exporter's epoch at the last frame (or at
    /// registration, until the first frame).
    last_frame_ms: AtomicU64,
    report: Option<Box<dyn Report>>,
}

impl Source {
    /// Counts one frame that took the streaming thread `busy` (and
    /// `inference` of it in a model).
    pub fn frame(&self, busy: std::time::Duration, inference: std::time::Duration) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        self.busy_ns
            .fetch_add(busy.as_nanos() as u64, Ordering::Relaxed);
        if !inference.is_zero() {
            self.inference_ns
                .fetch_add(inference.as_nanos() as u64, Ordering::Relaxed);
        }
        self.last_frame_ms.store(now_ms(), Ordering::Relaxed);
    }

    pub fn set_camera(&self, camera: &str) {
        let mut c = self.camera.lock().unwrap();
        if *c != camera {
            camera.clone_into(&mut c);
        }
    }
}

struct Registry {
    sources: Mutex<Vec<Weak<Source>>>,
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| Registry {
    sources: Mutex::new(Vec::new()),
});

static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

fn now_ms() -> u64 {
    EPOCH.elapsed().as_millis() as u64
}

/// The exporter, started once by the first element when `CCTV_METRICS` is set.
static EXPORTER: OnceLock<Result<server::Exporter, String>> = OnceLock::new();

/// Registers `element` (call in `start`, keep the handle until `stop`: the
/// series goes when the handle is dropped). Starts the exporter on first use.
pub fn register(element: &impl IsA<gst::Element>, report: Option<Box<dyn Report>>) -> Arc<Source> {
    let element = element.as_ref();
    let pipeline = std::iter::successors(element.parent(), |p| p.parent())
        .last()
        .map(|p| p.name().to_string())
        .unwrap_or_default();
    let source = Arc::new(Source {
        pipeline,
        element: element.name().to_string(),
        camera: Mutex::new(String::new()),
        frames: AtomicU64::new(0),
        busy_ns: AtomicU64::new(0),
        inference_ns: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
        objects: AtomicU64::new(0),
        last_frame_ms: AtomicU64::new(now_ms()),
        report,
    });
    let mut sources = REGISTRY.sources.lock().unwrap();
    sources.retain(|s| s.strong_count() > 0);
    sources.push(Arc::downgrade(&source));
    drop(sources);
    if std::env::var_os(ENV).is_some() {
        serve(element);
    }
    source
}

/// Starts the process's exporter if it is not running yet (a live view
/// needs it even without `CCTV_METRICS`); the address it serves on.
pub fn serve(element: &gst::Element) -> Option<std::net::SocketAddr> {
    let exporter = EXPORTER.get_or_init(|| {
        let setting = std::env::var(ENV).unwrap_or_default();
        let address = match setting.trim() {
            "" | "1" => DEFAULT_ADDRESS,
            other => other,
        };
        server::Exporter::start(address, None, None)
    });
    match exporter {
        Ok(e) => {
            gst::debug!(CAT, obj = element, "serving on http://{}", e.address());
            Some(e.address())
        }
        Err(e) => {
            gst::warning!(CAT, obj = element, "no exporter: {}", e);
            None
        }
    }
}

/// Starts the process's exporter for an application, before any element
/// does: on `address`, with `app`'s routes tried first, and every request
/// (the app's, metrics, health, page, video) refused with a bare 401 unless
/// it carries `token` (when given). Fails when the exporter runs already.
pub fn serve_app(
    address: &str,
    token: Option<String>,
    app: Arc<dyn App>,
) -> Result<std::net::SocketAddr, String> {
    let mut started = None;
    EXPORTER.get_or_init(|| {
        let exporter = server::Exporter::start(address, token, Some(app));
        started = Some(exporter.as_ref().map(|e| e.address()).map_err(Clone::clone));
        exporter
    });
    started.unwrap_or_else(|| Err("the exporter runs already".into()))
}

/// What `/metrics` serves now.
pub fn scrape() -> String {
    server::encode().unwrap_or_default()
}

/// The live sources, for a scrape.
fn sources() -> Vec<Arc<Source>> {
    let mut list = REGISTRY.sources.lock().unwrap();
    list.retain(|s| s.strong_count() > 0);
    list.iter().filter_map(Weak::upgrade).collect()
}

type Labels = [(&'static str, String); 3];

fn labels(s: &Source) -> Labels {
    [
        ("pipeline", s.pipeline.clone()),
        ("element", s.element.clone()),
        ("camera", s.camera.lock().unwrap().clone()),
    ]
}

/// One metric: name, help and a sample per element.
pub(crate) type Series<T> = (&'static str, &'static str, Vec<(Labels, T)>);

/// Everything scraped at once.
pub(crate) struct Snapshot {
    pub counters: Vec<Series<f64>>,
    pub gauges: Vec<Series<i64>>,
    /// (element, reason) for `/health`.
    pub degraded: Vec<String>,
    /// Per source: frames and dropped, to compare with the previous scrape.
    pub flow: Vec<(String, u64, u64)>,
}

fn push<T>(
    list: &mut Vec<Series<T>>,
    name: &'static str,
    help: &'static str,
    labels: Labels,
    value: T,
) {
    match list.iter_mut().find(|(n, _, _)| *n == name) {
        Some((_, _, samples)) => samples.push((labels, value)),
        None => list.push((name, help, vec![(labels, value)])),
    }
}

pub(crate) fn snapshot() -> Snapshot {
    let mut snap = Snapshot {
        counters: Vec::new(),
        gauges: Vec::new(),
        degraded: Vec::new(),
        flow: Vec::new(),
    };
    let now = now_ms();
    for s in sources() {
        let l = labels(&s);
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let frames = load(&s.frames);
        let dropped = load(&s.dropped);
        push(
            &mut snap.counters,
            "cctv_frames",
            "Frames through the element",
            l.clone(),
            frames as f64,
        );
        push(
            &mut snap.counters,
            "cctv_processing_seconds",
            "Streaming-thread time spent in the element",
            l.clone(),
            load(&s.busy_ns) as f64 / 1e9,
        );
        push(
            &mut snap.counters,
            "cctv_inference_seconds",
            "Time spent in model inference",
            l.clone(),
            load(&s.inference_ns) as f64 / 1e9,
        );
        push(
            &mut snap.counters,
            "cctv_dropped",
            "Frames or items dropped",
            l.clone(),
            dropped as f64,
        );
        push(
            &mut snap.gauges,
            "cctv_objects",
            "Objects in the element's last frame",
            l.clone(),
            load(&s.objects) as i64,
        );
        let name = format!("{} ({})", s.element, s.pipeline);
        let last = load(&s.last_frame_ms);
        if now.saturating_sub(last) > STALL_AFTER_MS {
            snap.degraded.push(format!(
                "{name}: no frame for {:.0} s",
                now.saturating_sub(last) as f64 / 1000.0
            ));
        }
        snap.flow.push((name.clone(), frames, dropped));
        if let Some(report) = &s.report {
            let mut extras = Vec::new();
            report.report(&mut extras);
            for e in extras {
                match e {
                    Extra::Counter { name, help, value } => {
                        push(&mut snap.counters, name, help, l.clone(), value as f64)
                    }
                    Extra::Gauge { name, help, value } => {
                        push(&mut snap.gauges, name, help, l.clone(), value)
                    }
                    Extra::Degraded(why) => snap.degraded.push(format!("{name}: {why}")),
                }
            }
        }
    }
    snap
}
