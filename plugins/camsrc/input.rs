//! The source `fallbacksrc` restarts: one connection attempt per start, made
//! after the backoff delay, through `uridecodebin` with the credentials set
//! on the protocol element (never in the URI it logs). It tells the camera
//! when frames arrive and why an attempt failed (the errors of its
//! children, end of stream, or no data for `timeout`), stamps every frame
//! with its camera and capture time, and fails the attempt on a stall so
//! `fallbacksrc` restarts it.
//!
//! While an attempt waits out its backoff, a TCP connect to the camera's
//! port every [`PROBE_PERIOD`] tells when it comes back (refusing
//! connections, then accepting them), and the attempt is made at once: the
//! backoff spares a camera that is down from full attempts, not a guard
//! from a camera that is up. Each return hurries one attempt: a camera that
//! accepts connections but fails its attempts (a stalled stream, a wrong
//! path) and one that refused the credentials keep their backoff.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::Transport;
use super::camera::{CAT, Camera, Config};

glib::wrapper! {
    pub struct CameraInput(ObjectSubclass<Input>) @extends gst::Bin, gst::Element, gst::Object;
}

impl CameraInput {
    pub fn new(camera: Arc<Camera>) -> CameraInput {
        let input: CameraInput = glib::Object::new();
        input.imp().camera.set(camera).ok();
        input
    }
}

static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// How often a camera that is away is checked for being back.
const PROBE_PERIOD: Duration = Duration::from_secs(1);
/// How long one check waits for the camera to accept a connection.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

fn now_ms() -> u64 {
    EPOCH.elapsed().as_millis() as u64
}

/// What one attempt runs.
#[derive(Default)]
struct Attempt {
    decoder: Option<gst::Element>,
    delay: Option<gst::SingleShotClockId>,
    watchdog: Option<gst::PeriodicClockId>,
}

#[derive(Default)]
pub struct Input {
    /// Set once, when made.
    camera: OnceLock<Arc<Camera>>,
    attempt: Mutex<Attempt>,
    /// Counts attempts, so a late callback of an old one does nothing.
    generation: AtomicU64,
    /// The attempt whose connection was begun (by its delay or its probe).
    launched: AtomicU64,
    /// When the attempt began or its last frame came (ms since EPOCH).
    last_data_ms: Arc<AtomicU64>,
    /// This attempt's loss was told (no second error for it).
    failed: AtomicBool,
    /// This attempt's first frame came.
    connected: AtomicBool,
    /// The camera's frame size, width << 32 | height.
    size: AtomicU64,
}

#[glib::object_subclass]
impl ObjectSubclass for Input {
    const NAME: &'static str = "GstCctvCamSrcInput";
    type Type = CameraInput;
    type ParentType = gst::Bin;
}

impl ObjectImpl for Input {
    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.set_element_flags(gst::ElementFlags::SOURCE);
        // One pad for the element's life, retargeted at each attempt's
        // decoder: `fallbacksrc` keeps its link to it across restarts.
        let template = obj.pad_template("video_0").expect("declared below");
        let ghost = gst::GhostPad::builder_from_template(&template).build();
        let weak = obj.downgrade();
        ghost.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
            move |pad, info| {
                if let Some(input) = weak.upgrade() {
                    input.imp().on_data(pad, info);
                }
                // The camera's EOS ends here, as an error (`on_data`) that
                // restarts us: passed on, fallbacksrc drops it in a probe,
                // which GStreamer 1.22 answers with a CRITICAL.
                match info.event() {
                    Some(e) if e.type_() == gst::EventType::Eos => gst::PadProbeReturn::Handled,
                    _ => gst::PadProbeReturn::Ok,
                }
            },
        );
        obj.add_pad(&ghost).expect("a new pad");
    }
}

impl GstObjectImpl for Input {}

impl ElementImpl for Input {
    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            vec![
                gst::PadTemplate::new(
                    "video_0",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &gst::Caps::builder("video/x-raw").any_features().build(),
                )
                .unwrap(),
            ]
        });
        TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::PausedToReady {
            self.end_attempt();
        }
        let mut result = self.parent_change_state(transition)?;
        match transition {
            gst::StateChange::ReadyToPaused => {
                self.begin_attempt();
                result = gst::StateChangeSuccess::NoPreroll;
            }
            gst::StateChange::PlayingToPaused => result = gst::StateChangeSuccess::NoPreroll,
            gst::StateChange::PausedToReady => self.remove_decoder(),
            _ => {}
        }
        Ok(result)
    }
}

impl BinImpl for Input {
    fn handle_message(&self, msg: gst::Message) {
        match msg.view() {
            gst::MessageView::Error(e) => {
                // The debug text ends with the element's own words
                // ("Could not connect to server."), after its path.
                let detail = e.debug().and_then(|d| {
                    d.rsplit('\n')
                        .next()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(str::to_owned)
                });
                let reason = match detail {
                    Some(detail) => format!("{} ({})", e.error(), detail),
                    None => e.error().to_string(),
                };
                self.fail(&reason);
                self.parent_handle_message(msg);
            }
            // This source is not stream-aware for `fallbacksrc`: it exposes
            // one video pad.
            gst::MessageView::StreamCollection(_) | gst::MessageView::StreamsSelected(_) => {}
            _ => self.parent_handle_message(msg),
        }
    }
}

impl Input {
    fn camera(&self) -> Option<&Arc<Camera>> {
        self.camera.get()
    }

    /// Schedules this start's attempt after the backoff delay.
    /// (`fallbacksrc` itself waits 1 s before restarting.)
    fn begin_attempt(&self) {
        let Some(camera) = self.camera() else { return };
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let delay = camera.attempt().saturating_sub(Duration::from_secs(1));
        let clock = gst::SystemClock::obtain();
        let at = clock.time() + gst::ClockTime::from_nseconds(delay.as_nanos() as u64);
        let id = clock.new_single_shot_id(at);
        let weak = self.obj().downgrade();
        let scheduled = id.wait_async(move |_, _, _| {
            if let Some(input) = weak.upgrade() {
                input.call_async(move |input| input.imp().connect(generation));
            }
        });
        if scheduled.is_ok() {
            self.attempt.lock().unwrap().delay = Some(id);
        }
        if delay >= PROBE_PERIOD
            && !camera.refused()
            && let Some(endpoint) = camera.config.uri.endpoint()
        {
            self.probe(generation, endpoint);
        }
    }

    /// Checks now and every [`PROBE_PERIOD`], on a thread of its own,
    /// whether the camera accepts connections again after refusing them, and
    /// then begins attempt `generation` at once. Ends with the attempt.
    fn probe(&self, generation: u64, (host, port): (String, u16)) {
        let weak = self.obj().downgrade();
        let spawned = std::thread::Builder::new()
            .name("camsrc-probe".into())
            .spawn(move || {
                loop {
                    let Some(input) = weak.upgrade() else { return };
                    let imp = input.imp();
                    if imp.generation.load(Ordering::SeqCst) != generation
                        || imp.launched.load(Ordering::SeqCst) == generation
                    {
                        return;
                    }
                    let Some(camera) = imp.camera() else { return };
                    if !reachable(&host, port) {
                        camera.seen_down.store(true, Ordering::SeqCst);
                    } else if camera.seen_down.swap(false, Ordering::SeqCst) {
                        gst::debug!(CAT, imp = imp, "camera back: trying at once");
                        input.call_async(move |input| input.imp().connect(generation));
                        return;
                    }
                    drop(input);
                    std::thread::sleep(PROBE_PERIOD);
                }
            });
        if let Err(e) = spawned {
            gst::warning!(CAT, imp = self, "cannot check the camera's return: {}", e);
        }
    }

    fn connect(&self, generation: u64) {
        if self.generation.load(Ordering::SeqCst) != generation
            || self.launched.swap(generation, Ordering::SeqCst) == generation
        {
            return;
        }
        if let Some(id) = self.attempt.lock().unwrap().delay.take() {
            id.unschedule();
        }
        let Some(camera) = self.camera() else { return };
        let config = &camera.config;
        camera.connecting();
        self.failed.store(false, Ordering::SeqCst);
        self.connected.store(false, Ordering::SeqCst);
        self.last_data_ms.store(now_ms(), Ordering::Relaxed);
        gst::debug!(CAT, imp = self, "connecting to {}", config.uri.display());

        let decoder = match gst::ElementFactory::make("uridecodebin")
            .property("uri", &config.uri.address)
            .property(
                "caps",
                gst::Caps::builder("video/x-raw").any_features().build(),
            )
            .property("expose-all-streams", false)
            .build()
        {
            Ok(d) => d,
            Err(e) => {
                self.fail_attempt(&format!("cannot make uridecodebin: {e}"));
                return;
            }
        };
        let setup = Arc::clone(camera);
        decoder.connect("source-setup", false, move |args| {
            if let Ok(source) = args[1].get::<gst::Element>() {
                configure(&source, &setup.config);
            }
            None
        });
        let weak = self.obj().downgrade();
        decoder.connect_pad_added(move |_, pad| {
            if let Some(input) = weak.upgrade() {
                input.imp().expose(pad, generation);
            }
        });
        {
            let mut attempt = self.attempt.lock().unwrap();
            if self.generation.load(Ordering::SeqCst) != generation {
                return;
            }
            attempt.decoder = Some(decoder.clone());
        }
        let opened = self.obj().add(&decoder).is_ok() && decoder.sync_state_with_parent().is_ok();
        // A state change that ended this attempt meanwhile (this runs from
        // `call_async`) has set the decoder to NULL and removed it, maybe
        // before `add` or `sync_state_with_parent` here: left as it is, the
        // decoder stays in the bin and streams beside the next attempts',
        // or it is PAUSED with no parent and freed with rtspsrc's thread
        // still running on it (a segfault in that thread).
        if !self.is_current(generation, &decoder) {
            decoder.set_state(gst::State::Null).ok();
            self.obj().remove(&decoder).ok();
            return;
        }
        if !opened {
            self.fail_attempt(&format!("cannot open {}", config.uri.display()));
            return;
        }
        self.watch(generation, config.timeout);
    }

    /// Whether `decoder` is still the running attempt's.
    fn is_current(&self, generation: u64, decoder: &gst::Element) -> bool {
        let attempt = self.attempt.lock().unwrap();
        self.generation.load(Ordering::SeqCst) == generation
            && attempt.decoder.as_ref() == Some(decoder)
    }

    /// Fails the attempt when no frame came for `timeout`.
    fn watch(&self, generation: u64, timeout: Duration) {
        let clock = gst::SystemClock::obtain();
        let period = (timeout / 4).max(Duration::from_millis(50));
        let period = gst::ClockTime::from_nseconds(period.as_nanos() as u64);
        let id = clock.new_periodic_id(clock.time() + period, period);
        let weak = self.obj().downgrade();
        let last = self.last_data_ms.clone();
        let limit = timeout.as_millis() as u64;
        let scheduled = id.wait_async(move |_, _, _| {
            let Some(input) = weak.upgrade() else { return };
            let imp = input.imp();
            if imp.generation.load(Ordering::SeqCst) != generation {
                return;
            }
            if now_ms().saturating_sub(last.load(Ordering::Relaxed)) >= limit {
                let reason = format!("no data for {:.1} s", timeout.as_secs_f64());
                imp.fail_attempt(&reason);
            }
        });
        if scheduled.is_err() {
            return;
        }
        let mut attempt = self.attempt.lock().unwrap();
        // The attempt may have ended since `connect` checked: its watchdog
        // must not outlive it (nor replace the next attempt's).
        if self.generation.load(Ordering::SeqCst) == generation {
            attempt.watchdog = Some(id);
        } else {
            id.unschedule();
        }
    }

    /// Tells the camera why, and posts an error so `fallbacksrc` restarts us.
    fn fail_attempt(&self, reason: &str) {
        if self.fail(reason) {
            let msg = gst::error_msg!(gst::ResourceError::Read, ["{}", reason]);
            self.post_error_message(msg);
        }
    }

    /// Records the loss once per attempt; false when already recorded.
    fn fail(&self, reason: &str) -> bool {
        if self.failed.swap(true, Ordering::SeqCst) {
            return false;
        }
        if let Some(id) = self.attempt.lock().unwrap().watchdog.take() {
            id.unschedule();
        }
        if let Some(camera) = self.camera() {
            camera.disconnected(reason);
        }
        true
    }

    /// Points the element's pad at the decoder's video pad.
    fn expose(&self, pad: &gst::Pad, generation: u64) {
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        let is_video = pad
            .current_caps()
            .unwrap_or_else(|| pad.query_caps(None))
            .structure(0)
            .is_some_and(|s| s.name().starts_with("video/"));
        let ghost = self.ghost();
        if !is_video || ghost.target().is_some() {
            return;
        }
        if let Err(e) = ghost.set_target(Some(pad)) {
            gst::warning!(CAT, imp = self, "cannot expose {}: {}", pad.name(), e);
        }
    }

    fn ghost(&self) -> gst::GhostPad {
        self.obj()
            .static_pad("video_0")
            .and_downcast()
            .expect("made in constructed")
    }

    /// The camera's frames: counted, stamped with their origin and watched.
    fn on_data(&self, pad: &gst::GhostPad, info: &mut gst::PadProbeInfo) {
        let Some(camera) = self.camera() else { return };
        match &mut info.data {
            Some(gst::PadProbeData::Buffer(buffer)) => {
                self.last_data_ms.store(now_ms(), Ordering::Relaxed);
                camera.frames.fetch_add(1, Ordering::Relaxed);
                if !self.connected.swap(true, Ordering::SeqCst) {
                    camera.connected(pad.current_caps().as_ref());
                }
                let size = self.size.load(Ordering::Relaxed);
                let capture = capture_time(pad.upcast_ref(), buffer.pts());
                cctv::meta::Frame::stamp_origin(
                    buffer.make_mut(),
                    (size >> 32) as u32,
                    size as u32,
                    &camera.config.camera_id,
                    Some(capture),
                );
            }
            Some(gst::PadProbeData::Event(event)) => match event.view() {
                gst::EventView::Caps(c) => {
                    if let Ok(info) = gst_video::VideoInfo::from_caps(c.caps()) {
                        let packed = (info.width() as u64) << 32 | info.height() as u64;
                        self.size.store(packed, Ordering::Relaxed);
                    }
                }
                gst::EventView::Eos(_) => {
                    self.fail_attempt("the camera ended the stream");
                }
                _ => {}
            },
            _ => {}
        }
    }

    fn end_attempt(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        let mut attempt = self.attempt.lock().unwrap();
        if let Some(id) = attempt.delay.take() {
            id.unschedule();
        }
        if let Some(id) = attempt.watchdog.take() {
            id.unschedule();
        }
    }

    fn remove_decoder(&self) {
        let decoder = self.attempt.lock().unwrap().decoder.take();
        self.ghost().set_target(None::<&gst::Pad>).ok();
        if let Some(decoder) = decoder {
            decoder.set_state(gst::State::Null).ok();
            self.obj().remove(&decoder).ok();
            drop(decoder);
            self.release_freed_memory();
        }
    }

    /// Hands the memory the attempt's elements freed back to the system.
    /// Each attempt's streaming threads (rtspsrc, uridecodebin, the decoder)
    /// allocate in glibc's per-thread arenas, which keep what they free:
    /// without this a camera that keeps reconnecting holds on to megabytes
    /// of free heap (docs/performance.md, Camera outages).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn release_freed_memory(&self) {
        let start = Instant::now();
        // SAFETY: malloc_trim only walks and shrinks the allocator's arenas.
        let released = unsafe { libc::malloc_trim(0) } != 0;
        gst::debug!(
            CAT,
            imp = self,
            "malloc_trim took {:?} (memory released: {})",
            start.elapsed(),
            released
        );
    }

    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    fn release_freed_memory(&self) {}
}

/// Whether `host` accepts a TCP connection on `port` within
/// [`PROBE_TIMEOUT`].
fn reachable(host: &str, port: u16) -> bool {
    use std::net::ToSocketAddrs;
    let Ok(addresses) = (host, port).to_socket_addrs() else {
        return false;
    };
    addresses
        .into_iter()
        .any(|a| std::net::TcpStream::connect_timeout(&a, PROBE_TIMEOUT).is_ok())
}

/// Credentials, latency and transport on the protocol element.
fn configure(source: &gst::Element, config: &Config) {
    let has = |name: &str| source.find_property(name).is_some();
    if let Some(user) = &config.uri.user
        && has("user-id")
    {
        source.set_property("user-id", user);
    }
    if let Some(password) = &config.uri.password
        && has("user-pw")
    {
        source.set_property("user-pw", password);
    }
    if has("latency") && has("drop-on-latency") {
        // rtspsrc: a short jitter buffer, late packets dropped.
        source.set_property("latency", config.latency_ms);
        source.set_property("drop-on-latency", true);
        let protocols = match config.transport {
            Transport::Auto => None,
            Transport::Tcp => Some("tcp"),
            Transport::Udp => Some("udp"),
        };
        if let Some(p) = protocols {
            source.set_property_from_str("protocols", p);
        }
    }
    let factory = source.factory().map(|f| f.name());
    if factory.as_deref() == Some("souphttpsrc") {
        // souphttpsrc: a dead server fails the attempt instead of hanging.
        source.set_property("timeout", config.timeout.as_secs().max(1) as u32);
    }
}

/// The wall-clock time a frame with running time `pts` was captured: now,
/// less how long ago that running time was on the pipeline's clock.
fn capture_time(pad: &gst::Pad, pts: Option<gst::ClockTime>) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let lag = (|| {
        let element = pad.parent_element()?;
        let clock = element.clock()?;
        let segment = pad.sticky_event::<gst::event::Segment>(0)?;
        let segment = segment.segment().downcast_ref::<gst::ClockTime>()?.clone();
        let running = segment.to_running_time(pts?)?;
        let at = element.base_time()? + running;
        Some(clock.time().saturating_sub(at).nseconds())
    })()
    .unwrap_or(0);
    now.saturating_sub(lag)
}
