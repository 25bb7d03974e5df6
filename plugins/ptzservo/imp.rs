//! SECTION:element-ptzservo
//!
//! Keeps a tracked object centred, at a chosen size, with a pan/tilt/zoom
//! camera: it picks a target among the tracked objects of
//! `CctvObjectsMeta`, runs one PID loop per axis on the target's offset
//! from the centre (time steps from buffer timestamps), sets the zoom
//! velocity from how much of the frame the target covers, and sends the
//! result to the camera over ONVIF PTZ (`ContinuousMove`, `Stop`,
//! `GotoHomePosition`/`GotoPreset`, WS-Security UsernameToken digest).
//!
//! ```text
//! gst-launch-1.0 camsrc uri=rtsp://camera/stream ! onnxdetect conf-threshold=0.1 classes=person \
//!     ! bytetrack ! ptzservo onvif-url=http://camera/onvif/ptz_service ! fakesink
//! ```
//!
//! A camera that wants a login takes `user-id` and `user-pw`; the element
//! never logs or reads back the password, but GStreamer logs a whole
//! launch line at DEBUG level, so set `user-pw` from the application.
//!
//! Commands leave from a worker thread (the network layer the sinks use),
//! at most one per `command-interval`, a newer one replacing one not sent
//! yet: a slow or dead camera never stalls the video. An unreachable
//! camera is a warning, retried with capped backoff; refused credentials at
//! start are an error. Every command is also posted as an element message
//! `ptzservo/command`, so an application can drive any other camera;
//! without `onvif-url` that is all the element does. The followed object
//! gets the attribute `ptz` = `target` in the metadata (the overlay draws
//! it). When the target is lost the camera stops; after `lost-timeout` it
//! goes home if `home-on-lost`, and tracking resumes once the camera's
//! reported position stood still (not its MoveStatus, which some cameras
//! never set back to IDLE).

use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

use cctv::labels::ClassFilter;
use cctv::meta::{Attribute, Frame};
use cctv::ptz::{Command, Gains, Policy, Preset, Servo, ServoConfig, TARGET_ATTRIBUTE, Velocity};

use super::camera::{CameraState, Onvif, PtzCommand};
use crate::metrics;
use crate::net::{Flushed, Worker, worker};
use crate::onvif::{Client, Credentials};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "ptzservo",
        gst::DebugColorFlags::empty(),
        Some("PTZ camera control"),
    )
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, glib::Enum)]
#[enum_type(name = "GstCctvPtzPreset")]
pub enum PresetKind {
    #[enum_value(name = "Responsive: kp 3.0, ki 0.2, kd 1.2", nick = "responsive")]
    Responsive,
    #[default]
    #[enum_value(name = "Balanced: kp 2.0, ki 0.15, kd 0.8", nick = "balanced")]
    Balanced,
    #[enum_value(name = "Smooth: kp 1.2, ki 0.1, kd 0.5", nick = "smooth")]
    Smooth,
}

impl PresetKind {
    fn preset(self) -> Preset {
        let name = match self {
            PresetKind::Responsive => "responsive",
            PresetKind::Balanced => "balanced",
            PresetKind::Smooth => "smooth",
        };
        Preset::from_name(name).expect("the three presets")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, glib::Enum)]
#[enum_type(name = "GstCctvPtzPolicy")]
pub enum PolicyKind {
    #[default]
    #[enum_value(name = "The largest object", nick = "largest")]
    Largest,
    #[enum_value(name = "The most confident object", nick = "most-confident")]
    MostConfident,
    #[enum_value(name = "The track seen first", nick = "oldest")]
    Oldest,
    #[enum_value(name = "The object nearest the centre", nick = "closest-to-center")]
    ClosestToCenter,
}

impl PolicyKind {
    fn policy(self) -> Policy {
        match self {
            PolicyKind::Largest => Policy::Largest,
            PolicyKind::MostConfident => Policy::MostConfident,
            PolicyKind::Oldest => Policy::Oldest,
            PolicyKind::ClosestToCenter => Policy::ClosestToCenter,
        }
    }
}

const DEFAULT_PROFILE: &str = "Profile_1";
const DEFAULT_COMMAND_INTERVAL_MS: u32 = 100;
const DEFAULT_TIMEOUT_S: f64 = 2.0;
/// How long EOS and stop wait for the final Stop to reach the camera.
const STOP_WAIT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
struct Settings {
    url: String,
    profile: String,
    user_id: String,
    user_pw: String,
    timeout: f64,
    preset: PresetKind,
    policy: PolicyKind,
    servo: ServoConfig,
    /// Shared, so that a frame takes it without copying.
    home_preset: Option<Arc<str>>,
    classes: Arc<ClassFilter>,
    command_interval_ms: u32,
}

/// What a frame reads of the settings, copied out in one take of the lock
/// without copying a string.
struct FrameSettings {
    servo: ServoConfig,
    command_interval: Duration,
    classes: Arc<ClassFilter>,
    home_preset: Option<Arc<str>>,
}

impl Settings {
    fn frame(&self) -> FrameSettings {
        FrameSettings {
            servo: self.servo,
            command_interval: Duration::from_millis(self.command_interval_ms as u64),
            classes: Arc::clone(&self.classes),
            home_preset: self.home_preset.clone(),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            url: String::new(),
            profile: DEFAULT_PROFILE.into(),
            user_id: String::new(),
            user_pw: String::new(),
            timeout: DEFAULT_TIMEOUT_S,
            preset: PresetKind::default(),
            policy: PolicyKind::default(),
            servo: ServoConfig::from(PresetKind::default().preset()),
            home_preset: None,
            classes: Arc::new(ClassFilter::parse("person")),
            command_interval_ms: DEFAULT_COMMAND_INTERVAL_MS,
        }
    }
}

/// The camera commands go to while running, when `onvif-url` is set.
struct OnvifCamera {
    url: String,
    worker: Arc<Worker<PtzCommand>>,
    camera: Arc<CameraState>,
    /// Connection state last reported on the bus.
    reported_connected: bool,
}

/// What a frame tells the application, posted once the state lock is
/// released: a handler of the message may read `stats`, which takes it.
enum Notice {
    Message(gst::Structure),
    /// The camera stopped answering: the URL and why.
    Unreachable(String, String),
}

#[derive(Default)]
struct Counters {
    frames: u64,
    followed: u64,
    commands: u64,
}

struct State {
    servo: Servo,
    camera: Option<OnvifCamera>,
    /// When the last move was queued and what it asked, for the rate limit.
    last_move: Option<(Instant, Velocity)>,
    /// The camera was told to move and not told to stop since.
    moving: bool,
    counters: Counters,
    metrics: Arc<metrics::Source>,
}

#[derive(Default)]
pub struct PtzServo {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

#[glib::object_subclass]
impl ObjectSubclass for PtzServo {
    const NAME: &'static str = "GstCctvPtzServo";
    type Type = super::PtzServo;
    type ParentType = gst_base::BaseTransform;
}

fn double(
    name: &str,
    nick: &str,
    blurb: &str,
    min: f64,
    max: f64,
    default: f64,
) -> glib::ParamSpec {
    glib::ParamSpecDouble::builder(name)
        .nick(nick)
        .blurb(blurb)
        .minimum(min)
        .maximum(max)
        .default_value(default)
        .mutable_playing()
        .build()
}

impl ObjectImpl for PtzServo {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let d = Settings::default();
            let pid = d.servo.pan;
            let zoom = d.servo.zoom;
            vec![
                glib::ParamSpecString::builder("onvif-url")
                    .nick("ONVIF PTZ URL")
                    .blurb("The camera's ONVIF PTZ service, e.g. http://camera/onvif/ptz_service \
                            (empty: only post the commands as messages)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("profile-token")
                    .nick("Profile token")
                    .blurb("Media profile the commands are for")
                    .default_value(Some(DEFAULT_PROFILE))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("user-id")
                    .nick("User")
                    .blurb("ONVIF user (empty: no authentication)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("user-pw")
                    .nick("Password")
                    .blurb("ONVIF password, sent only as a WS-Security digest (never read back)")
                    .mutable_ready()
                    .build(),
                double("timeout", "Timeout", "Seconds to wait for the camera's answer to a command", 0.1, 60.0, DEFAULT_TIMEOUT_S),
                glib::ParamSpecUInt::builder("command-interval")
                    .nick("Command interval")
                    .blurb("Least time between two move commands, in milliseconds")
                    .minimum(10)
                    .maximum(10_000)
                    .default_value(DEFAULT_COMMAND_INTERVAL_MS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("preset", d.preset)
                    .nick("Preset")
                    .blurb("Gains of the pan and tilt loops; kp, ki and kd set after it override it")
                    .mutable_playing()
                    .build(),
                double("kp", "Kp", "Proportional gain (pan and tilt)", 0.0, 100.0, pid.gains.kp),
                double("ki", "Ki", "Integral gain (pan and tilt)", 0.0, 100.0, pid.gains.ki),
                double("kd", "Kd", "Derivative gain (pan and tilt)", 0.0, 100.0, pid.gains.kd),
                double("integral-limit", "Integral limit", "Bound of the integral state (anti-windup)", 0.0, 100.0, pid.integral_limit),
                double("dead-band", "Dead band", "Offsets from the centre smaller than this, in fractions of the frame, leave the camera still", 0.0, 0.5, pid.dead_band),
                double("zoom-target-coverage", "Zoom target coverage", "Fraction of the frame's area the target should cover (0: leave the zoom alone)", 0.0, 1.0, zoom.target_coverage),
                double("zoom-gain", "Zoom gain", "Zoom velocity per unit of relative coverage gap", 0.0, 10.0, zoom.gain),
                double("zoom-dead-zone", "Zoom dead zone", "Relative coverage gaps smaller than this leave the zoom alone", 0.0, 1.0, zoom.dead_zone),
                glib::ParamSpecEnum::builder_with_default("policy", d.policy)
                    .nick("Policy")
                    .blurb("How the target is chosen when target-id does not name one")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecInt64::builder("target-id")
                    .nick("Target id")
                    .blurb("Track id to follow (-1: choose by policy)")
                    .minimum(-1)
                    .default_value(-1)
                    .mutable_playing()
                    .build(),
                double("lost-timeout", "Lost timeout", "Seconds without a target before the search ends (and the camera goes home with home-on-lost)", 0.0, 3600.0, d.servo.selector.lost_timeout),
                glib::ParamSpecBoolean::builder("home-on-lost")
                    .nick("Home on lost")
                    .blurb("Send the camera home when the search ends")
                    .default_value(false)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("home-preset")
                    .nick("Home preset")
                    .blurb("Preset token to go to when the search ends (empty: the home position)")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("classes")
                    .nick("Classes")
                    .blurb("Comma-separated class labels or ids that may be followed (empty: all)")
                    .default_value(Some("person"))
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("Frames, frames with a target, commands queued and sent, camera connection and position")
                    .read_only()
                    .build(),
            ]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        let string = || value.get::<Option<String>>().unwrap().unwrap_or_default();
        let double = || value.get::<f64>().unwrap();
        let axes = |s: &mut Settings, f: &dyn Fn(&mut cctv::ptz::PidConfig)| {
            f(&mut s.servo.pan);
            f(&mut s.servo.tilt);
        };
        match pspec.name() {
            "onvif-url" => s.url = string(),
            "profile-token" => s.profile = string(),
            "user-id" => s.user_id = string(),
            "user-pw" => s.user_pw = string(),
            "timeout" => s.timeout = double(),
            "command-interval" => s.command_interval_ms = value.get().unwrap(),
            "preset" => {
                s.preset = value.get().unwrap();
                let gains: Gains = s.preset.preset().gains();
                axes(&mut s, &|p| p.gains = gains);
            }
            "kp" => {
                let v = double();
                axes(&mut s, &|p| p.gains.kp = v)
            }
            "ki" => {
                let v = double();
                axes(&mut s, &|p| p.gains.ki = v)
            }
            "kd" => {
                let v = double();
                axes(&mut s, &|p| p.gains.kd = v)
            }
            "integral-limit" => {
                let v = double();
                axes(&mut s, &|p| p.integral_limit = v)
            }
            "dead-band" => {
                let v = double();
                axes(&mut s, &|p| p.dead_band = v)
            }
            "zoom-target-coverage" => s.servo.zoom.target_coverage = double(),
            "zoom-gain" => s.servo.zoom.gain = double(),
            "zoom-dead-zone" => s.servo.zoom.dead_zone = double(),
            "policy" => {
                s.policy = value.get().unwrap();
                s.servo.selector.policy = s.policy.policy();
            }
            "target-id" => {
                let id: i64 = value.get().unwrap();
                s.servo.selector.target_id = u64::try_from(id).ok();
            }
            "lost-timeout" => s.servo.selector.lost_timeout = double(),
            "home-on-lost" => s.servo.home_on_lost = value.get().unwrap(),
            "home-preset" => {
                s.home_preset = Some(string()).filter(|p| !p.is_empty()).map(Arc::from)
            }
            "classes" => s.classes = Arc::new(ClassFilter::parse(&string())),
            other => unreachable!("no property {other}"),
        }
        if pspec.name() != "user-pw" {
            gst::debug!(CAT, imp = self, "{} set to {:?}", pspec.name(), value);
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        let pid = &s.servo.pan;
        match pspec.name() {
            "onvif-url" => s.url.to_value(),
            "profile-token" => s.profile.to_value(),
            "user-id" => s.user_id.to_value(),
            "user-pw" => None::<String>.to_value(),
            "timeout" => s.timeout.to_value(),
            "command-interval" => s.command_interval_ms.to_value(),
            "preset" => s.preset.to_value(),
            "kp" => pid.gains.kp.to_value(),
            "ki" => pid.gains.ki.to_value(),
            "kd" => pid.gains.kd.to_value(),
            "integral-limit" => pid.integral_limit.to_value(),
            "dead-band" => pid.dead_band.to_value(),
            "zoom-target-coverage" => s.servo.zoom.target_coverage.to_value(),
            "zoom-gain" => s.servo.zoom.gain.to_value(),
            "zoom-dead-zone" => s.servo.zoom.dead_zone.to_value(),
            "policy" => s.policy.to_value(),
            "target-id" => s
                .servo
                .selector
                .target_id
                .map_or(-1, |id| id as i64)
                .to_value(),
            "lost-timeout" => s.servo.selector.lost_timeout.to_value(),
            "home-on-lost" => s.servo.home_on_lost.to_value(),
            "home-preset" => s.home_preset.as_deref().unwrap_or_default().to_value(),
            "classes" => s.classes.spec().to_value(),
            "stats" => {
                drop(s);
                self.stats().to_value()
            }
            other => unreachable!("no property {other}"),
        }
    }
}

impl GstObjectImpl for PtzServo {}

impl ElementImpl for PtzServo {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "PTZ servo",
                "Filter/Analyzer/Video",
                "Keeps a tracked object centred with a PID-driven ONVIF PTZ camera",
                "gst-cctv developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst::Caps::builder("video/x-raw").build();
            vec![
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &caps,
                )
                .unwrap(),
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &caps,
                )
                .unwrap(),
            ]
        });
        TEMPLATES.as_ref()
    }
}

impl PtzServo {
    fn stats(&self) -> gst::Structure {
        let state = self.state.lock().unwrap();
        let mut s = gst::Structure::builder("ptzservo/stats");
        let Some(state) = state.as_ref() else {
            return s.build();
        };
        let c = &state.counters;
        s = s
            .field("frames", c.frames)
            .field("followed", c.followed)
            .field("commands", c.commands)
            .field("target-id", state.servo.target().map_or(-1, |t| t as i64));
        if let Some(onvif) = &state.camera {
            let cam = &onvif.camera;
            s = s
                .field("sent", cam.sent.load(Ordering::Relaxed))
                .field("refused", cam.refused.load(Ordering::Relaxed))
                .field(
                    "reconnects",
                    onvif.worker.stats().reconnects.load(Ordering::Relaxed),
                )
                .field("connected", onvif.worker.connected())
                .field("last-error", onvif.worker.last_error().unwrap_or_default())
                .field("homing", cam.homing.load(Ordering::Relaxed));
            if let Some(status) = cam.last.lock().unwrap().as_ref() {
                s = s
                    .field("pan", status.pan.unwrap_or(0.0))
                    .field("tilt", status.tilt.unwrap_or(0.0))
                    .field("zoom", status.zoom.unwrap_or(0.0));
            }
        }
        s.build()
    }

    fn connect(&self, s: &Settings) -> Result<Option<OnvifCamera>, gst::ErrorMessage> {
        if s.url.is_empty() {
            return Ok(None);
        }
        if !s.url.starts_with("http://") && !s.url.starts_with("https://") {
            return Err(gst::error_msg!(
                gst::ResourceError::Settings,
                [
                    "onvif-url must be an http:// or https:// URL, not {:?}",
                    s.url
                ]
            ));
        }
        let credentials = (!s.user_id.is_empty()).then(|| Credentials {
            username: s.user_id.clone(),
            password: s.user_pw.clone(),
        });
        let client = Client::new(
            &s.url,
            &s.profile,
            credentials,
            Duration::from_secs_f64(s.timeout),
        );
        let camera = Arc::new(CameraState::default());
        let config = worker::Config {
            max_queued: 4,
            batch_size: 1,
            linger: Duration::ZERO,
            retry_timeout: None,
            spool: None,
            name: "ptzservo-onvif".into(),
        };
        let element = self.obj().downgrade();
        let url = s.url.clone();
        let worker = Worker::start(
            Onvif::new(client, Arc::clone(&camera)),
            config,
            move |why| {
                if let Some(element) = element.upgrade() {
                    gst::element_warning!(
                        element,
                        gst::ResourceError::Write,
                        [
                            "The camera at {} refused the commands; no more are sent: {}",
                            url,
                            why
                        ]
                    );
                }
            },
        )
        .map_err(|why| {
            gst::error_msg!(
                gst::ResourceError::OpenWrite,
                ["The camera at {} refused ptzservo: {}", s.url, why]
            )
        })?;
        let connected = worker.connected();
        if !connected {
            gst::element_imp_warning!(
                self,
                gst::ResourceError::OpenWrite,
                [
                    "The camera at {} is not reachable; retrying: {}",
                    s.url,
                    worker.last_error().unwrap_or_default()
                ]
            );
        }
        Ok(Some(OnvifCamera {
            url: s.url.clone(),
            worker: Arc::new(worker),
            camera,
            reported_connected: connected,
        }))
    }

    /// A connection change, once.
    fn connection_change(&self, onvif: &mut OnvifCamera) -> Option<Notice> {
        let connected = onvif.worker.connected();
        if connected == onvif.reported_connected {
            return None;
        }
        onvif.reported_connected = connected;
        if connected {
            gst::info!(CAT, imp = self, "camera reachable again");
            let s = gst::Structure::builder("ptzservo/camera")
                .field("connected", true)
                .build();
            Some(Notice::Message(s))
        } else {
            let why = onvif.worker.last_error().unwrap_or_default();
            Some(Notice::Unreachable(onvif.url.clone(), why))
        }
    }

    /// Posts what a frame or a stop has to tell; never with a lock held.
    fn post(&self, notices: Vec<Notice>) {
        for notice in notices {
            match notice {
                Notice::Message(s) => {
                    let msg = gst::message::Element::builder(s).src(&*self.obj()).build();
                    self.obj().post_message(msg).ok();
                }
                Notice::Unreachable(url, why) => gst::element_imp_warning!(
                    self,
                    gst::ResourceError::Write,
                    [
                        "The camera at {} is not reachable; video goes on, commands resume when it is back: {}",
                        url,
                        why
                    ]
                ),
            }
        }
    }

    /// Queues a command for the camera; the message to post about it.
    fn command(
        &self,
        state: &mut State,
        command: PtzCommand,
        target: Option<u64>,
        offset: Option<(f64, f64)>,
    ) -> Notice {
        state.counters.commands += 1;
        let mut s = gst::Structure::builder("ptzservo/command").field("command", command.name());
        match &command {
            PtzCommand::Move { pan, tilt, zoom } => {
                s = s
                    .field("pan", *pan)
                    .field("tilt", *tilt)
                    .field("zoom", *zoom)
            }
            PtzCommand::Home { preset } => {
                s = s.field("preset", preset.clone().unwrap_or_default())
            }
            PtzCommand::Stop => {}
        }
        if let Some(id) = target {
            s = s.field("target-id", id);
        }
        if let Some((x, y)) = offset {
            s = s.field("offset-x", x).field("offset-y", y);
        }
        if let Some(onvif) = &state.camera {
            if matches!(command, PtzCommand::Home { .. }) {
                onvif.camera.homing.store(true, Ordering::SeqCst);
            }
            onvif.worker.push([command]);
        }
        Notice::Message(s.build())
    }

    /// Runs the servo on one frame and queues its command; the target
    /// followed. What to post goes to `notices`.
    fn follow(
        &self,
        state: &mut State,
        settings: &FrameSettings,
        ts: u64,
        frame: &Frame,
        notices: &mut Vec<Notice>,
    ) -> Option<u64> {
        if let Some(onvif) = state.camera.as_mut() {
            notices.extend(self.connection_change(onvif));
            if onvif.camera.homing.load(Ordering::SeqCst) {
                // The picture is still sweeping home: nothing in it is worth following.
                return None;
            }
        }
        if *state.servo.config() != settings.servo {
            state.servo.set_config(settings.servo);
        }
        // Only objects of the classes followed; no copy when that is all of them.
        let keeps = |o: &cctv::meta::Object| settings.classes.keeps(o.class_id, &o.label);
        let filtered;
        let followable = if frame.objects.iter().all(keeps) {
            frame
        } else {
            filtered = Frame {
                width: frame.width,
                height: frame.height,
                source: String::new(),
                model: String::new(),
                inferred: frame.inferred,
                objects: frame.objects.iter().filter(|o| keeps(o)).cloned().collect(),
            };
            &filtered
        };
        let step = state.servo.update(ts, followable);
        let command = match step.command {
            Some(Command::Move(v)) => {
                let due = state.last_move.is_none_or(|(at, last)| {
                    at.elapsed() >= settings.command_interval && !(same(last, v) && still(v))
                });
                due.then(|| {
                    state.last_move = Some((Instant::now(), v));
                    state.moving = !still(v);
                    PtzCommand::Move {
                        pan: v.pan,
                        tilt: v.tilt,
                        zoom: v.zoom,
                    }
                })
            }
            Some(Command::Stop) => {
                state.last_move = None;
                state.moving = false;
                Some(PtzCommand::Stop)
            }
            Some(Command::Home) => {
                state.last_move = None;
                state.moving = false;
                let preset = settings.home_preset.as_deref().map(str::to_owned);
                Some(PtzCommand::Home { preset })
            }
            None => None,
        };
        if let Some(command) = command {
            notices.push(self.command(state, command, step.target, step.offset));
        }
        let target = step.target?;
        state.counters.followed += 1;
        Some(target)
    }

    /// Stops the camera if it was moving and waits a little for the Stop
    /// to reach it, without the state lock.
    fn stop_camera(&self) {
        let (notice, worker) = {
            let mut guard = self.state.lock().unwrap();
            let Some(state) = guard.as_mut() else { return };
            if !std::mem::take(&mut state.moving) {
                return;
            }
            let notice = self.command(state, PtzCommand::Stop, None, None);
            (notice, state.camera.as_ref().map(|c| Arc::clone(&c.worker)))
        };
        self.post(vec![notice]);
        if let Some(worker) = worker
            && worker.connected()
        {
            let flushed = worker.flush(STOP_WAIT);
            gst::debug!(CAT, imp = self, "final stop: {:?}", flushed);
            if flushed != Flushed::Done {
                gst::warning!(CAT, imp = self, "the camera did not confirm the final Stop");
            }
        }
    }
}

impl BaseTransformImpl for PtzServo {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let s = self.settings.lock().unwrap().clone();
        let camera = self.connect(&s)?;
        let report: Option<Box<dyn metrics::Report>> = camera.as_ref().map(|c| {
            Box::new(CameraReport {
                worker: Arc::clone(&c.worker),
                url: s.url.clone(),
            }) as Box<dyn metrics::Report>
        });
        gst::info!(
            CAT,
            imp = self,
            "started ({})",
            if s.url.is_empty() {
                "messages only"
            } else {
                s.url.as_str()
            }
        );
        let state = State {
            servo: Servo::new(s.servo),
            camera,
            last_move: None,
            moving: false,
            counters: Counters::default(),
            metrics: metrics::register(&*self.obj(), report),
        };
        *self.state.lock().unwrap() = Some(state);
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        self.stop_camera();
        // Dropped without the lock: that joins the worker's thread, which
        // may be posting a warning whose handler reads `stats`.
        let state = self.state.lock().unwrap().take();
        drop(state);
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::Eos(_) => self.stop_camera(),
            gst::EventView::FlushStop(_) => {
                if let Some(state) = self.state.lock().unwrap().as_mut() {
                    state.servo.reset();
                    state.last_move = None;
                }
            }
            _ => {}
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let frame = match Frame::from_buffer(buf) {
            None => return Ok(gst::FlowSuccess::Ok),
            Some(Ok(frame)) => frame,
            Some(Err(e)) => {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Format,
                    ["Bad objects metadata: {}", e]
                );
                return Err(gst::FlowError::Error);
            }
        };
        let started = Instant::now();
        let settings = self.settings.lock().unwrap().frame();
        let ts = buf.pts().map_or(0, |t| t.nseconds());
        let mut notices = Vec::new();
        let mut guard = self.state.lock().unwrap();
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        state.counters.frames += 1;
        let _timer = FrameTimer(Arc::clone(&state.metrics), started);
        let target = self.follow(state, &settings, ts, &frame, &mut notices);
        drop(guard);
        self.post(notices);
        // Mark the target for the overlay and the application.
        if let Some(index) =
            target.and_then(|t| frame.objects.iter().position(|o| o.track_id == Some(t)))
        {
            let mark = Attribute {
                name: TARGET_ATTRIBUTE.into(),
                label: "target".into(),
                confidence: 1.0,
                source: self.obj().name().to_string(),
                value: None,
            };
            Frame::add_attribute(buf, index, &mark);
        }
        Ok(gst::FlowSuccess::Ok)
    }
}

/// The camera's figures and health for the metrics exporter.
struct CameraReport {
    worker: Arc<Worker<PtzCommand>>,
    url: String,
}

impl metrics::Report for CameraReport {
    fn report(&self, out: &mut Vec<metrics::Extra>) {
        self.worker.report(&format!("PTZ camera {}", self.url), out);
    }
}

/// Counts a frame in the metrics when the frame's work ends, whichever way.
struct FrameTimer(Arc<metrics::Source>, Instant);

impl Drop for FrameTimer {
    fn drop(&mut self) {
        self.0.frame(self.1.elapsed(), Duration::ZERO);
    }
}

fn same(a: Velocity, b: Velocity) -> bool {
    (a.pan - b.pan).abs() < 1e-3 && (a.tilt - b.tilt).abs() < 1e-3 && (a.zoom - b.zoom).abs() < 1e-3
}

fn still(v: Velocity) -> bool {
    same(v, Velocity::default())
}
