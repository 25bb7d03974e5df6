//! SECTION:element-camsrc
//!
//! A live camera (`rtsp://`, `rtsps://`, `http(s)://`, `file://`) as decoded
//! raw video that keeps flowing through outages: while the camera is away
//! the element sends a stand-in frame (`on-loss`: NO SIGNAL or the last
//! frame) and retries with capped exponential backoff (`retry-backoff`
//! doubling up to `max-backoff`), forever unless `retry-timeout` says
//! otherwise; a camera that comes back (it accepts TCP connections again,
//! checked every second) is tried at once. It posts element messages `camsrc/connected`,
//! `camsrc/disconnected` (with the reason) and `camsrc/retrying` (attempt,
//! delay), and exposes `status` and `stats`.
//!
//! ```text
//! gst-launch-1.0 -e camsrc uri=rtsp://10.0.0.5/stream1 credentials-file=/etc/gst-cctv/gate.cred \
//!     camera-id=gate ! onnxdetect classes=person ! bytetrack ! mqttsink host=127.0.0.1
//! ```
//!
//! Credentials (in the URI, `user-id`/`user-pw` or `credentials-file`,
//! whose first line is `user:password`) never appear in this element's
//! logs, messages or errors: the URI is read back as
//! `rtsp://***:***@host/...`. GStreamer's own launch-line parser logs
//! the whole line at DEBUG level, so on a `gst-launch-1.0` line put them in
//! `credentials-file`; applications may set them in any of the properties.
//! Every frame carries the camera id and its capture time (stamped after
//! rtspsrc's jitter buffer) in the objects metadata, and camsrc answers
//! the sinks' `cctv/camera` query with its camera id. A leaky queue of
//! `max-queue` frames ends the bin, so a slow detector drops stale frames
//! (counted in `stats` and the metrics) instead of falling behind.
//!
//! Built on upstream's `fallbacksrc` (gst-plugins-rs, registered into this
//! plugin), which keeps the output live and switches to its stand-in
//! stream; the source it restarts (`input`) adds the backoff and reasons.

use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock, Mutex, Once, OnceLock};
use std::time::Duration;

use cctv::camera_uri::CameraUri;
use cctv::overlay::canvas::Rgb;
use cctv::overlay::font::Font;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::camera::{CAT, Camera, Config};
use super::input::CameraInput;
use super::{OnLoss, Status, Transport};
use crate::video::Video;
use crate::{metrics, upstream};

const DEFAULT_TIMEOUT_MS: u32 = 5_000;
const DEFAULT_RETRY_BACKOFF_MS: u32 = 5_000;
const DEFAULT_MAX_BACKOFF_MS: u32 = 60_000;
const DEFAULT_LATENCY_MS: u32 = 200;
const DEFAULT_MAX_QUEUE: u32 = 2;
/// fallbacksrc's black stand-in stream: what comes out (with NO SIGNAL)
/// until the camera's size is known, scaled to it afterwards.
const STAND_IN_WIDTH: i32 = 160;
const STAND_IN_HEIGHT: i32 = 120;

#[derive(Debug, Clone)]
struct Settings {
    /// The camera, or why the `uri` set is not one (refused at start).
    uri: Option<Result<CameraUri, String>>,
    user_id: Option<String>,
    user_pw: Option<String>,
    credentials_file: Option<String>,
    camera_id: String,
    timeout_ms: u32,
    retry_backoff_ms: u32,
    max_backoff_ms: u32,
    retry_timeout_s: u32,
    latency_ms: u32,
    transport: Transport,
    on_loss: OnLoss,
    max_queue: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            uri: None,
            user_id: None,
            user_pw: None,
            credentials_file: None,
            camera_id: String::new(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            retry_backoff_ms: DEFAULT_RETRY_BACKOFF_MS,
            max_backoff_ms: DEFAULT_MAX_BACKOFF_MS,
            retry_timeout_s: 0,
            latency_ms: DEFAULT_LATENCY_MS,
            transport: Transport::Auto,
            on_loss: OnLoss::NoSignal,
            max_queue: DEFAULT_MAX_QUEUE,
        }
    }
}

/// The elements after `fallbacksrc`.
struct Chain {
    fallback: gst::Element,
    filter: gst::Element,
    queue: gst::Element,
}

/// What exists from READY down to NULL.
struct State {
    /// Shared with the source `fallbacksrc` restarts.
    camera: Arc<Camera>,
    metrics: Arc<metrics::Source>,
    stand_in: StandIn,
}

/// The stand-in frames' picture.
#[derive(Default)]
struct StandIn {
    info: Option<gst_video::VideoInfo>,
    last: Option<gst::Buffer>,
    font: Option<Font>,
}

/// Lock order: `settings`, then `state`, then the camera's own; none is
/// held while posting a message, setting a child's property or emitting a
/// signal (a handler may read `stats`).
#[derive(Default)]
pub struct CamSrc {
    settings: Mutex<Settings>,
    /// Made once, in `constructed`.
    chain: OnceLock<Chain>,
    state: Mutex<Option<State>>,
}

#[glib::object_subclass]
impl ObjectSubclass for CamSrc {
    const NAME: &'static str = "GstCctvCamSrc";
    type Type = super::CamSrc;
    type ParentType = gst::Bin;
}

impl ObjectImpl for CamSrc {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let ms = |name: &str, nick: &str, blurb: &str, min: u32, default: u32| {
                glib::ParamSpecUInt::builder(name)
                    .nick(nick)
                    .blurb(blurb)
                    .minimum(min)
                    .maximum(3_600_000)
                    .default_value(default)
                    .mutable_ready()
                    .build()
            };
            vec![
                glib::ParamSpecString::builder("uri")
                    .nick("URI")
                    .blurb("Camera URI: rtsp://, rtsps://, http(s)://, file:// (read back with credentials as ***)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("user-id")
                    .nick("User")
                    .blurb("User name for the camera (instead of one in the URI)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("user-pw")
                    .nick("Password")
                    .blurb("Password for the camera (never logged; read back as ***)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("credentials-file")
                    .nick("Credentials file")
                    .blurb("File whose first line is user:password (keeps the password off launch lines, which GStreamer logs)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("camera-id")
                    .nick("Camera id")
                    .blurb("Camera name in every frame's metadata, read by the sinks (empty: the element's name)")
                    .mutable_ready()
                    .build(),
                ms("timeout", "Timeout", "Milliseconds without frames before the camera counts as lost", 100, DEFAULT_TIMEOUT_MS),
                ms("retry-backoff", "Retry backoff", "Milliseconds before the first retry; doubles per failed attempt (at least 1 s: fallbacksrc's own pause)", 0, DEFAULT_RETRY_BACKOFF_MS),
                ms("max-backoff", "Maximum backoff", "Longest wait between two attempts, milliseconds", 0, DEFAULT_MAX_BACKOFF_MS),
                glib::ParamSpecUInt::builder("retry-timeout")
                    .nick("Retry timeout")
                    .blurb("Seconds without the camera before giving up with an error (0: never)")
                    .maximum(u32::MAX)
                    .default_value(0)
                    .mutable_ready()
                    .build(),
                ms("latency", "Latency", "RTSP jitter buffer, milliseconds", 0, DEFAULT_LATENCY_MS),
                glib::ParamSpecEnum::builder_with_default("transport", Transport::Auto)
                    .nick("Transport")
                    .blurb("How RTSP media travels")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("on-loss", OnLoss::NoSignal)
                    .nick("On loss")
                    .blurb("What is sent while the camera is away")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-queue")
                    .nick("Maximum queue")
                    .blurb("Frames waiting for the pipeline; older ones are dropped (and counted) beyond")
                    .minimum(1)
                    .maximum(1000)
                    .default_value(DEFAULT_MAX_QUEUE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("status", Status::Stopped)
                    .nick("Status")
                    .blurb("Where the camera stands")
                    .read_only()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("Status, attempts, reconnects, last reason, seconds disconnected, frames, stand-in frames, dropped frames")
                    .read_only()
                    .build(),
            ]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        let string = || {
            value
                .get::<Option<String>>()
                .unwrap()
                .filter(|v| !v.is_empty())
        };
        match pspec.name() {
            "uri" => {
                s.uri = string().map(|u| CameraUri::parse(&u));
                if let Some(Err(e)) = &s.uri {
                    gst::warning!(CAT, imp = self, "invalid uri (refused at start): {}", e);
                }
            }
            "user-id" => s.user_id = string(),
            "user-pw" => s.user_pw = string(),
            "credentials-file" => s.credentials_file = string(),
            "camera-id" => s.camera_id = string().unwrap_or_default(),
            "timeout" => s.timeout_ms = value.get().unwrap(),
            "retry-backoff" => s.retry_backoff_ms = value.get().unwrap(),
            "max-backoff" => s.max_backoff_ms = value.get().unwrap(),
            "retry-timeout" => s.retry_timeout_s = value.get().unwrap(),
            "latency" => s.latency_ms = value.get().unwrap(),
            "transport" => s.transport = value.get().unwrap(),
            "on-loss" => s.on_loss = value.get().unwrap(),
            "max-queue" => s.max_queue = value.get().unwrap(),
            other => unreachable!("no property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "status" => {
                return self
                    .camera()
                    .map_or(Status::Stopped, |c| c.status())
                    .to_value();
            }
            "stats" => {
                return match self.camera() {
                    Some(camera) => camera.stats().to_value(),
                    None => gst::Structure::new_empty("camsrc/stats").to_value(),
                };
            }
            _ => {}
        }
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "uri" => s
                .uri
                .as_ref()
                .and_then(|u| u.as_ref().ok())
                .map(CameraUri::display)
                .to_value(),
            "user-id" => s.user_id.as_ref().map(|_| "***").to_value(),
            "user-pw" => s.user_pw.as_ref().map(|_| "***").to_value(),
            "credentials-file" => s.credentials_file.to_value(),
            "camera-id" => s.camera_id.to_value(),
            "timeout" => s.timeout_ms.to_value(),
            "retry-backoff" => s.retry_backoff_ms.to_value(),
            "max-backoff" => s.max_backoff_ms.to_value(),
            "retry-timeout" => s.retry_timeout_s.to_value(),
            "latency" => s.latency_ms.to_value(),
            "transport" => s.transport.to_value(),
            "on-loss" => s.on_loss.to_value(),
            "max-queue" => s.max_queue.to_value(),
            other => unreachable!("no property {other}"),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        register_fallbacksrc();
        let obj = self.obj();
        obj.set_suppressed_flags(
            gst::ElementFlags::SOURCE | gst::ElementFlags::SINK | gst::ElementFlags::PROVIDE_CLOCK,
        );
        obj.set_element_flags(gst::ElementFlags::SOURCE);
        let make = |factory: &str| {
            gst::ElementFactory::make(factory)
                .build()
                .unwrap_or_else(|_| {
                    panic!("{factory} is registered with this plugin or in gst-plugins-base")
                })
        };
        let fallback = make("fallbacksrc");
        fallback.set_property("enable-audio", false);
        fallback.set_property("restart-on-eos", true);
        // fallbacksrc queues up to 1 s of its stand-in stream (a full
        // second once the camera was lost and came back) at whatever size
        // it negotiates, by default the camera's (at 30 fps in I420, 14 MB
        // at 640x480, 93 MB at 1080p) for black frames. Small ones keep it
        // under 1 MB; the conversion below scales them to the camera's size.
        fallback.set_property(
            "dummy-video-caps",
            gst::Caps::builder("video/x-raw")
                .field("format", "I420")
                .field("width", STAND_IN_WIDTH)
                .field("height", STAND_IN_HEIGHT)
                .build(),
        );
        let convert = make("videoconvertscale");
        let filter = make("capsfilter");
        let queue = make("queue");
        queue.set_property("max-size-bytes", 0u32);
        queue.set_property("max-size-time", 0u64);
        queue.set_property_from_str("leaky", "downstream");
        obj.add_many([&fallback, &convert, &filter, &queue])
            .expect("new elements");
        gst::Element::link_many([&convert, &filter, &queue]).expect("raw video links");

        let target = queue.static_pad("src").unwrap();
        // The leaky queue marks the frame after a drop as a discontinuity,
        // on which a tracker ends every track: a dropped stale frame is
        // not a break in the camera's stream.
        target.add_probe(gst::PadProbeType::BUFFER, |_, info| {
            if let Some(gst::PadProbeData::Buffer(buffer)) = &mut info.data
                && buffer.flags().contains(gst::BufferFlags::DISCONT)
            {
                buffer.make_mut().unset_flags(gst::BufferFlags::DISCONT);
            }
            gst::PadProbeReturn::Ok
        });
        let ghost = gst::GhostPad::builder_with_target(&target)
            .unwrap()
            .name("src")
            .build();
        let weak = obj.downgrade();
        ghost.add_probe(gst::PadProbeType::QUERY_UPSTREAM, move |_, info| {
            let Some(camsrc) = weak.upgrade() else {
                return gst::PadProbeReturn::Ok;
            };
            let camera = camsrc.imp().camera_id();
            let answered = info
                .query_mut()
                .is_some_and(|query| upstream::answer_camera(query, &camera));
            if answered {
                gst::PadProbeReturn::Handled
            } else {
                gst::PadProbeReturn::Ok
            }
        });
        obj.add_pad(&ghost).expect("a new pad");

        let sink = convert.static_pad("sink").unwrap();
        fallback.connect_pad_added(move |_, pad| {
            if pad.name().starts_with("video") && !sink.is_linked() && pad.link(&sink).is_err() {
                gst::warning!(CAT, "cannot link {}", pad.name());
            }
        });
        let weak = obj.downgrade();
        queue.connect("overrun", false, move |_| {
            if let Some(camsrc) = weak.upgrade()
                && let Some(state) = camsrc.imp().state.lock().unwrap().as_ref()
            {
                state.camera.dropped.fetch_add(1, Ordering::Relaxed);
                state.metrics.dropped.fetch_add(1, Ordering::Relaxed);
            }
            None
        });
        let weak = obj.downgrade();
        filter.static_pad("src").unwrap().add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
            move |_, info| {
                if let Some(camsrc) = weak.upgrade() {
                    camsrc.imp().on_output(info);
                }
                gst::PadProbeReturn::Ok
            },
        );
        self.chain
            .set(Chain {
                fallback,
                filter,
                queue,
            })
            .ok();
    }
}

impl GstObjectImpl for CamSrc {}

impl ElementImpl for CamSrc {
    fn provide_clock(&self) -> Option<gst::Clock> {
        None
    }

    /// EOS sent to the element (`gst-launch-1.0 -e`, an application
    /// stopping): the stream ends here. Passed on to fallbacksrc it would
    /// reach the camera's source and come back as the camera ending its
    /// stream, which fallbacksrc answers with a restart.
    fn send_event(&self, event: gst::Event) -> bool {
        if event.type_() == gst::EventType::Eos
            && let Some(chain) = self.chain.get()
        {
            gst::debug!(CAT, imp = self, "ending the stream");
            return chain.queue.static_pad("sink").unwrap().send_event(event);
        }
        self.parent_send_event(event)
    }

    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Camera source",
                "Source/Video/Network",
                "A live camera (RTSP, HTTP, file) that survives outages: stand-in frames, backoff, reasons, origin metadata",
                "gst-cctv developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            vec![
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &gst::Caps::builder("video/x-raw").build(),
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
        if transition == gst::StateChange::NullToReady {
            self.start().map_err(|e| {
                self.post_error_message(e);
                gst::StateChangeError
            })?;
        }
        let result = self.parent_change_state(transition);
        if transition == gst::StateChange::ReadyToNull
            || (result.is_err() && transition == gst::StateChange::NullToReady)
        {
            self.stop();
        }
        let result = result?;
        Ok(match transition {
            gst::StateChange::ReadyToPaused | gst::StateChange::PlayingToPaused => {
                gst::StateChangeSuccess::NoPreroll
            }
            _ => result,
        })
    }
}

impl BinImpl for CamSrc {
    fn handle_message(&self, msg: gst::Message) {
        match msg.view() {
            // The camera offers no clock. Inside, rtspsrc and fallbacksrc's
            // clocksync offer the system clock and take it away at every
            // restart; an application told the clock was lost re-selects
            // one by pausing the pipeline (gst-launch does), which upstream's
            // restart does not survive. The pipeline's own clock is the same
            // system clock.
            gst::MessageView::ClockProvide(_) | gst::MessageView::ClockLost(_) => {}
            _ => self.parent_handle_message(msg),
        }
    }
}

impl CamSrc {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let s = self.settings.lock().unwrap().clone();
        let mut uri = match s.uri {
            None => {
                return Err(gst::error_msg!(
                    gst::ResourceError::NotFound,
                    ["No uri set"]
                ));
            }
            Some(Err(why)) => {
                return Err(gst::error_msg!(
                    gst::ResourceError::Settings,
                    ["Invalid uri property: {}", why]
                ));
            }
            Some(Ok(uri)) => uri,
        };
        if let Some(path) = &s.credentials_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                gst::error_msg!(
                    gst::ResourceError::OpenRead,
                    ["Cannot read credentials-file {}: {}", path, e]
                )
            })?;
            let line = text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("");
            let Some((user, password)) = line.split_once(':') else {
                return Err(gst::error_msg!(
                    gst::ResourceError::Settings,
                    [
                        "credentials-file {} does not start with a user:password line",
                        path
                    ]
                ));
            };
            uri.user = Some(user.to_owned()).filter(|u| !u.is_empty());
            uri.password = Some(password.to_owned()).filter(|p| !p.is_empty());
        }
        if s.user_id.is_some() {
            uri.user = s.user_id.clone();
        }
        if s.user_pw.is_some() {
            uri.password = s.user_pw.clone();
        }
        let camera_id = self.camera_id();
        let ms = |v: u32| Duration::from_millis(v as u64);
        let config = Config {
            uri,
            camera_id: camera_id.clone(),
            timeout: ms(s.timeout_ms),
            retry_backoff: ms(s.retry_backoff_ms),
            max_backoff: ms(s.max_backoff_ms.max(s.retry_backoff_ms)),
            retry_timeout: (s.retry_timeout_s > 0)
                .then(|| Duration::from_secs(s.retry_timeout_s as u64)),
            latency_ms: s.latency_ms,
            transport: s.transport,
        };
        gst::info!(
            CAT,
            imp = self,
            "camera {} at {}",
            camera_id,
            config.uri.display()
        );
        let camera = Arc::new(Camera::new(&self.obj(), config));
        let chain = self.chain.get().expect("built in constructed");
        let fallback = &chain.fallback;
        fallback.set_property("source", CameraInput::new(Arc::clone(&camera)));
        let ns = |d: Duration| d.as_nanos() as u64;
        fallback.set_property("timeout", ns(camera.config.timeout));
        // Our input fails a silent attempt after `timeout` and waits the
        // backoff itself: upstream's own restart timer must never be first.
        let last_resort =
            camera.config.max_backoff + camera.config.timeout * 2 + Duration::from_secs(10);
        fallback.set_property("restart-timeout", ns(last_resort));
        fallback.set_property("retry-timeout", u64::MAX / 4);
        chain.queue.set_property("max-size-buffers", s.max_queue);

        let report: Box<dyn metrics::Report> = Box::new(Health(Arc::downgrade(&camera)));
        let metrics = metrics::register(&*self.obj(), Some(report));
        metrics.set_camera(&camera_id);
        *self.state.lock().unwrap() = Some(State {
            camera,
            metrics,
            stand_in: StandIn::default(),
        });
        Ok(())
    }

    /// `camera-id`, or the element's name.
    fn camera_id(&self) -> String {
        let id = self.settings.lock().unwrap().camera_id.clone();
        if id.is_empty() {
            self.obj().name().to_string()
        } else {
            id
        }
    }

    /// The running camera.
    fn camera(&self) -> Option<Arc<Camera>> {
        let state = self.state.lock().unwrap();
        state.as_ref().map(|s| Arc::clone(&s.camera))
    }

    fn stop(&self) {
        let state = self.state.lock().unwrap().take();
        if let Some(state) = state {
            state.camera.stop();
        }
    }

    /// Frames leaving for the queue: the camera's pass (and are kept for
    /// `last-frame`), stand-ins get the camera's origin and a picture.
    fn on_output(&self, info: &mut gst::PadProbeInfo) {
        match &mut info.data {
            Some(gst::PadProbeData::Event(event)) => {
                if let gst::EventView::Caps(c) = event.view()
                    && let Some(state) = self.state.lock().unwrap().as_mut()
                {
                    state.stand_in.info = gst_video::VideoInfo::from_caps(c.caps()).ok();
                }
            }
            Some(gst::PadProbeData::Buffer(buffer)) => {
                let on_loss = self.settings.lock().unwrap().on_loss;
                let mut guard = self.state.lock().unwrap();
                let Some(state) = guard.as_mut() else { return };
                if cctv::meta::Frame::capture_time(buffer).is_some() {
                    state.metrics.frame(Duration::ZERO, Duration::ZERO);
                    if on_loss == OnLoss::LastFrame {
                        state.stand_in.last = Some(buffer.clone());
                    }
                    return;
                }
                state.camera.stand_ins.fetch_add(1, Ordering::Relaxed);
                let camera_id = &state.camera.config.camera_id;
                stand_in_frame(&mut state.stand_in, buffer, camera_id, on_loss);
            }
            _ => {}
        }
    }

    /// Holds the output to the camera's size and format, so stand-ins come
    /// out as the camera's frames do (the camera's own pass unconverted).
    pub(super) fn camera_caps(&self, caps: &gst::Caps) {
        let Some(s) = caps.structure(0) else { return };
        let mut wanted = gst::Caps::builder("video/x-raw");
        for field in ["format", "width", "height"] {
            if let Ok(v) = s.value(field) {
                wanted = wanted.field(field, v.clone());
            }
        }
        let wanted = wanted.build();
        let Some(chain) = self.chain.get() else {
            return;
        };
        let current = chain.filter.property::<Option<gst::Caps>>("caps");
        if current.as_ref() != Some(&wanted) {
            gst::debug!(CAT, imp = self, "output held to {}", wanted);
            chain.filter.set_property("caps", &wanted);
        }
    }
}

fn stand_in_frame(
    stand_in: &mut StandIn,
    buffer: &mut gst::Buffer,
    camera_id: &str,
    on_loss: OnLoss,
) {
    let (pts, dts, duration) = (buffer.pts(), buffer.dts(), buffer.duration());
    let replaced = match (&stand_in.last, on_loss) {
        (Some(last), OnLoss::LastFrame) if last.size() == buffer.size() => {
            let mut copy = last.copy();
            {
                let b = copy.get_mut().expect("a new copy");
                b.set_pts(pts);
                b.set_dts(dts);
                b.set_duration(duration);
            }
            *buffer = copy;
            true
        }
        _ => false,
    };
    let b = buffer.make_mut();
    let Some(info) = stand_in.info.clone() else {
        return;
    };
    cctv::meta::Frame::stamp_origin(b, info.width(), info.height(), camera_id, None);
    if replaced {
        return;
    }
    let font = stand_in
        .font
        .get_or_insert_with(|| Font::new((info.height() / 12).clamp(10, 96)));
    draw_no_signal(b, &info, font);
}

/// "NO SIGNAL" in the middle of the frame (a black one, from fallbacksrc).
fn draw_no_signal(buffer: &mut gst::BufferRef, info: &gst_video::VideoInfo, font: &Font) {
    let Ok(video) = Video::from_info(info.clone()) else {
        return;
    };
    let Ok(mut frame) = video.map_mut(buffer) else {
        return;
    };
    let Ok(mut canvas) = video.canvas(&mut frame) else {
        return;
    };
    let text = "NO SIGNAL";
    let x = (info.width() as i32 - font.width(text) as i32) / 2;
    let y = (info.height() as i32 - font.height() as i32) / 2;
    let paint = canvas.paint(Rgb(255, 255, 255));
    canvas.text(x.max(0), y.max(0), text, font, paint);
}

/// The camera's status and reconnects, for `/metrics` and `/health`.
struct Health(std::sync::Weak<Camera>);

impl metrics::Report for Health {
    fn report(&self, out: &mut Vec<metrics::Extra>) {
        let Some(camera) = self.0.upgrade() else {
            return;
        };
        out.push(metrics::Extra::Gauge {
            name: "camera_connected",
            help: "1 while the camera's frames arrive",
            value: (camera.status() == Status::Connected) as i64,
        });
        out.push(metrics::Extra::Counter {
            name: "camera_reconnects",
            help: "Times the camera came back after a loss",
            value: camera.reconnects(),
        });
        out.push(metrics::Extra::Counter {
            name: "camera_stand_in_frames",
            help: "Frames sent while the camera was away",
            value: camera.stand_ins.load(Ordering::Relaxed),
        });
        if let Some(reason) = camera.degraded() {
            out.push(metrics::Extra::Degraded(reason));
        }
    }
}

/// `fallbacksrc` comes with this plugin (gst-plugin-fallbackswitch, linked
/// in), registered the first time a camera is made.
fn register_fallbacksrc() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if gst::ElementFactory::find("fallbacksrc").is_none()
            && let Err(e) = gstfallbackswitch::plugin_register_static()
        {
            gst::error!(CAT, "cannot register fallbacksrc: {}", e);
        }
    });
}
