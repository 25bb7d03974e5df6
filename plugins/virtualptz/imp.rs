//! SECTION:element-virtualptz
//!
//! A virtual pan/tilt/zoom camera for trying and testing PTZ control
//! without hardware: it shows the part of its input (a wide scene, e.g. a
//! recorded clip) that a camera at its current pan, tilt and zoom would
//! see, and serves ONVIF on loopback as a camera does, so that ptzservo
//! and third-party clients find and move it from its address alone:
//! device service (`GetSystemDateAndTime`, `GetCapabilities`,
//! `GetServices`, `GetDeviceInformation`), media (`GetProfiles` with a PTZ
//! configuration) and PTZ (`GetNodes`, `GetConfigurations`,
//! `GetConfigurationOptions`, `GetPresets`, `SetPreset`, `GotoPreset`,
//! `GotoHomePosition`, `ContinuousMove`, `AbsoluteMove`, `Stop`,
//! `GetStatus`), in SOAP 1.2 or 1.1 (answered in the version asked).
//!
//! ```text
//! gst-launch-1.0 filesrc location=vtest.avi ! decodebin ! virtualptz port=8899 \
//!     ! onnxdetect classes=person ! bytetrack \
//!     ! ptzservo onvif-url=127.0.0.1:8899 ! autovideosink
//! ```
//!
//! With `user-id`/`user-pw` every operation but the clock, the services
//! and the capabilities (ONVIF's PRE_AUTH ones) needs a WS-Security
//! UsernameToken: a PasswordDigest whose `Created` is within 5 minutes of
//! the camera's clock (`clock-offset` sets it off this machine's, as on a
//! camera without NTP) and whose nonce was not used before; a plain-text
//! password only with `allow-password-text`. Refusals are
//! `ter:NotAuthorized` faults saying why.
//!
//! The motors follow commands after `delay` with a first-order `lag`, at
//! `pan-tilt-speed` and `zoom-speed` generic units per second, in stream
//! time (buffer timestamps), so a run at any speed behaves the same. At
//! zoom 0 the view covers `wide-fov` of the scene's width; pan and tilt
//! -1..1 sweep it from edge to edge; zoom 1 magnifies `max-zoom` times.
//! `stuck-move-status` reports MOVING for ever after the first move, as
//! some cameras do; `online=false` closes the service (a camera gone from
//! the network) until set back. Each request is posted as an element
//! message `virtualptz/request` (operation, profile, velocities, user,
//! fault) so tests can check what a client sent. The view is scaled from
//! the scene straight into the output frame.

use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;

use cctv::letterbox::{Fit, Letterbox};
use cctv::preprocess::{Packer, Region, TensorFormat};
use cctv::ptz::head::{Head, HeadConfig, Optics};

use super::service::{Camera, Handled, Service};
use crate::metrics;
use crate::onvif::camera::{Auth, Guard, Operation};
use crate::onvif::discovery::DEVICE_PATH;
use crate::video::{FORMATS, Video};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "virtualptz",
        gst::DebugColorFlags::empty(),
        Some("Virtual ONVIF PTZ camera"),
    )
});

const DEFAULT_ADDRESS: &str = "127.0.0.1";
const DEFAULT_PROFILE: &str = "Profile_1";
const DEFAULT_WIDTH: u32 = 640;
const DEFAULT_HEIGHT: u32 = 480;
/// Ten years either way: any clock a camera may have been left at.
const MAX_CLOCK_OFFSET: i64 = 10 * 366 * 86_400;

#[derive(Debug, Clone)]
struct Settings {
    address: String,
    port: u32,
    profile: String,
    user_id: String,
    user_pw: String,
    width: u32,
    height: u32,
    optics: Optics,
    head: HeadConfig,
    online: bool,
    clock_offset: i64,
    allow_password_text: bool,
    ptz: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            address: DEFAULT_ADDRESS.into(),
            port: 0,
            profile: DEFAULT_PROFILE.into(),
            user_id: String::new(),
            user_pw: String::new(),
            width: DEFAULT_WIDTH,
            height: DEFAULT_HEIGHT,
            optics: Optics {
                wide_fov: 0.5,
                max_zoom: 4.0,
            },
            head: HeadConfig::default(),
            online: true,
            clock_offset: 0,
            allow_password_text: false,
            ptz: true,
        }
    }
}

impl Settings {
    fn login(&self) -> Option<(String, String)> {
        (!self.user_id.is_empty()).then(|| (self.user_id.clone(), self.user_pw.clone()))
    }
}

/// From READY down to NULL (the service), with what exists from `start`
/// to `stop` (the streaming side).
struct State {
    camera: Arc<Mutex<Camera>>,
    service: Option<Service>,
    /// The port served on, kept when going offline to come back on it.
    port: u16,
    metrics: Option<Arc<metrics::Source>>,
    /// The scene and the view, once negotiated.
    input: Option<Video>,
    output: Option<Video>,
    /// Scales regions of the size last shown; made again when it changes.
    packer: Option<Packer>,
}

impl State {
    /// Moves the head to the frame's time; where it points.
    fn advance(&self, head: HeadConfig, pts: Option<gst::ClockTime>) -> [f64; 3] {
        let mut cam = self.camera.lock().unwrap();
        cam.head.set_config(head);
        if let Some(pts) = pts {
            let now = pts.nseconds() as f64 / 1e9;
            if now > cam.head.now() {
                cam.head.advance(now);
            }
        }
        cam.head.position()
    }
}

/// The output's pixels straight from the scene's: 8-bit RGB, no padding.
const VIEW_PIXELS: TensorFormat = TensorFormat {
    planar: false,
    bgr: false,
    scale: 1.0,
    mean: [0.0; 3],
    std: [1.0; 3],
    pad: 0,
};

/// Lock order: `settings`, then `state`, then the camera's; none is held
/// while posting, and the service's thread is joined with none held (it
/// posts each request).
#[derive(Default)]
pub struct VirtualPtz {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

#[glib::object_subclass]
impl ObjectSubclass for VirtualPtz {
    const NAME: &'static str = "GstCctvVirtualPtz";
    type Type = super::VirtualPtz;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for VirtualPtz {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let d = Settings::default();
            let double = |name: &str, nick: &str, blurb: &str, min, max, default| {
                glib::ParamSpecDouble::builder(name)
                    .nick(nick)
                    .blurb(blurb)
                    .minimum(min)
                    .maximum(max)
                    .default_value(default)
                    .mutable_playing()
                    .build()
            };
            vec![
                glib::ParamSpecString::builder("address")
                    .nick("Address")
                    .blurb("Address the ONVIF service listens on")
                    .default_value(Some(DEFAULT_ADDRESS))
                    .build(),
                glib::ParamSpecUInt::builder("port")
                    .nick("Port")
                    .blurb(
                        "Port of the ONVIF service (0: any free port; read it back once started)",
                    )
                    .maximum(65535)
                    .default_value(0)
                    .build(),
                glib::ParamSpecString::builder("url")
                    .nick("URL")
                    .blurb("The device service URL to give a client (once started)")
                    .read_only()
                    .build(),
                glib::ParamSpecString::builder("profile-token")
                    .nick("Profile token")
                    .blurb("Media profile the camera accepts commands for")
                    .default_value(Some(DEFAULT_PROFILE))
                    .build(),
                glib::ParamSpecString::builder("user-id")
                    .nick("User")
                    .blurb("User a request must authenticate as (empty: no authentication)")
                    .build(),
                glib::ParamSpecString::builder("user-pw")
                    .nick("Password")
                    .blurb("Password of user-id (never read back)")
                    .build(),
                glib::ParamSpecBoolean::builder("allow-password-text")
                    .nick("Allow PasswordText")
                    .blurb(
                        "Also accept a WS-Security PasswordText (the password in clear) \
                         besides PasswordDigest",
                    )
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecInt64::builder("clock-offset")
                    .nick("Clock offset")
                    .blurb(
                        "Seconds the camera's clock is ahead of this machine's (negative: \
                         behind), as GetSystemDateAndTime tells it and as WS-Security's \
                         Created is checked against",
                    )
                    .minimum(-MAX_CLOCK_OFFSET)
                    .maximum(MAX_CLOCK_OFFSET)
                    .default_value(0)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("ptz")
                    .nick("PTZ")
                    .blurb(
                        "Offer the PTZ service (false: a fixed camera with only the device \
                         and media services, whose profile has no PTZ configuration)",
                    )
                    .default_value(true)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("width")
                    .nick("Width")
                    .blurb("Width of the camera's picture")
                    .minimum(16)
                    .maximum(7680)
                    .default_value(DEFAULT_WIDTH)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("height")
                    .nick("Height")
                    .blurb("Height of the camera's picture")
                    .minimum(16)
                    .maximum(4320)
                    .default_value(DEFAULT_HEIGHT)
                    .mutable_ready()
                    .build(),
                double(
                    "wide-fov",
                    "Wide field of view",
                    "Fraction of the scene's width seen at zoom 0",
                    0.05,
                    1.0,
                    d.optics.wide_fov,
                ),
                double(
                    "max-zoom",
                    "Maximum zoom",
                    "Magnification at zoom 1",
                    1.0,
                    40.0,
                    d.optics.max_zoom,
                ),
                double(
                    "pan-tilt-speed",
                    "Pan/tilt speed",
                    "Generic pan/tilt units per second at velocity 1 (the range is -1..1)",
                    0.01,
                    20.0,
                    d.head.pan_tilt_speed,
                ),
                double(
                    "zoom-speed",
                    "Zoom speed",
                    "Generic zoom units per second at velocity 1 (the range is 0..1)",
                    0.01,
                    20.0,
                    d.head.zoom_speed,
                ),
                double(
                    "lag",
                    "Lag",
                    "Time constant of the motors' response, in seconds",
                    0.0,
                    10.0,
                    d.head.lag,
                ),
                double(
                    "delay",
                    "Delay",
                    "Seconds between a command and its effect",
                    0.0,
                    10.0,
                    d.head.delay,
                ),
                glib::ParamSpecBoolean::builder("stuck-move-status")
                    .nick("Stuck MoveStatus")
                    .blurb("Report MOVING for ever after the first move, like some cameras")
                    .default_value(false)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("online")
                    .nick("Online")
                    .blurb("Serve the ONVIF service (false: the camera is unreachable)")
                    .default_value(true)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("Position (pan, tilt, zoom), requests served and faults sent")
                    .read_only()
                    .build(),
            ]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        let string = || value.get::<Option<String>>().unwrap().unwrap_or_default();
        match pspec.name() {
            "address" => s.address = string(),
            "port" => s.port = value.get().unwrap(),
            "profile-token" => s.profile = string(),
            "user-id" => s.user_id = string(),
            "user-pw" => s.user_pw = string(),
            "width" => s.width = value.get().unwrap(),
            "height" => s.height = value.get().unwrap(),
            "wide-fov" => s.optics.wide_fov = value.get().unwrap(),
            "max-zoom" => s.optics.max_zoom = value.get().unwrap(),
            "pan-tilt-speed" => s.head.pan_tilt_speed = value.get().unwrap(),
            "zoom-speed" => s.head.zoom_speed = value.get().unwrap(),
            "lag" => s.head.lag = value.get().unwrap(),
            "delay" => s.head.delay = value.get().unwrap(),
            "stuck-move-status" => s.head.stuck_move_status = value.get().unwrap(),
            "allow-password-text" => s.allow_password_text = value.get().unwrap(),
            "ptz" => s.ptz = value.get().unwrap(),
            "clock-offset" => {
                s.clock_offset = value.get().unwrap();
                let offset = s.clock_offset;
                drop(s);
                if let Some(state) = self.state.lock().unwrap().as_ref() {
                    state.camera.lock().unwrap().clock_offset = offset;
                }
            }
            "online" => {
                s.online = value.get().unwrap();
                let online = s.online;
                drop(s);
                self.set_online(online);
            }
            other => unreachable!("no property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "address" => s.address.to_value(),
            "port" => match self.state.lock().unwrap().as_ref() {
                Some(state) => (state.port as u32).to_value(),
                None => s.port.to_value(),
            },
            "url" => self.url(&s.address).to_value(),
            "profile-token" => s.profile.to_value(),
            "user-id" => s.user_id.to_value(),
            "user-pw" => None::<String>.to_value(),
            "width" => s.width.to_value(),
            "height" => s.height.to_value(),
            "wide-fov" => s.optics.wide_fov.to_value(),
            "max-zoom" => s.optics.max_zoom.to_value(),
            "pan-tilt-speed" => s.head.pan_tilt_speed.to_value(),
            "zoom-speed" => s.head.zoom_speed.to_value(),
            "lag" => s.head.lag.to_value(),
            "delay" => s.head.delay.to_value(),
            "stuck-move-status" => s.head.stuck_move_status.to_value(),
            "allow-password-text" => s.allow_password_text.to_value(),
            "clock-offset" => s.clock_offset.to_value(),
            "ptz" => s.ptz.to_value(),
            "online" => s.online.to_value(),
            "stats" => self.stats().to_value(),
            other => unreachable!("no property {other}"),
        }
    }
}

impl GstObjectImpl for VirtualPtz {}

impl ElementImpl for VirtualPtz {
    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::NullToReady
            && let Err(e) = self.open()
        {
            self.post_error_message(e);
            return Err(gst::StateChangeError);
        }
        let result = self.parent_change_state(transition);
        if transition == gst::StateChange::ReadyToNull {
            let state = self.state.lock().unwrap().take();
            drop(state);
        }
        result
    }

    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Virtual PTZ camera",
                "Filter/Effect/Video",
                "Shows the part of a wide scene a pan/tilt/zoom camera would see and \
                 serves ONVIF PTZ on loopback to move it",
                "gst-cctv developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let sink = gst_video::VideoCapsBuilder::new()
                .format_list(FORMATS)
                .build();
            let src = gst_video::VideoCapsBuilder::new()
                .format(gst_video::VideoFormat::Rgb)
                .build();
            vec![
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &sink,
                )
                .unwrap(),
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &src,
                )
                .unwrap(),
            ]
        });
        TEMPLATES.as_ref()
    }
}

impl VirtualPtz {
    /// The service's URL on `address` once serving (`property` holds the
    /// settings lock: the address comes from there, not from a second take).
    fn url(&self, address: &str) -> Option<String> {
        let port = self.state.lock().unwrap().as_ref()?.port;
        let host = if address.contains(':') {
            format!("[{address}]")
        } else {
            address.to_owned()
        };
        Some(format!("http://{host}:{port}{DEVICE_PATH}"))
    }

    fn stats(&self) -> gst::Structure {
        let state = self.state.lock().unwrap();
        let mut s = gst::Structure::builder("virtualptz/stats");
        if let Some(state) = state.as_ref() {
            let cam = state.camera.lock().unwrap();
            let [pan, tilt, zoom] = cam.head.position();
            s = s
                .field("pan", pan)
                .field("tilt", tilt)
                .field("zoom", zoom)
                .field("requests", cam.requests)
                .field("faults", cam.faults)
                .field("online", state.service.is_some());
        }
        s.build()
    }

    fn serve(
        &self,
        address: &str,
        port: u16,
        camera: &Arc<Mutex<Camera>>,
    ) -> Result<Service, String> {
        let element = self.obj().downgrade();
        Service::start(address, port, Arc::clone(camera), move |handled| {
            if let Some(element) = element.upgrade() {
                post_request(&element, handled);
            }
        })
    }

    /// Serves from READY on, so that a client downstream in the same
    /// pipeline finds the camera when it starts.
    fn open(&self) -> Result<(), gst::ErrorMessage> {
        let s = self.settings.lock().unwrap().clone();
        let port = u16::try_from(s.port).unwrap_or(0);
        let camera = Arc::new(Mutex::new(Camera {
            head: Head::new(s.head, [0.0; 3]),
            profile: s.profile.clone(),
            guard: Guard::new(s.login(), s.allow_password_text),
            clock_offset: s.clock_offset,
            ptz: s.ptz,
            // A lens that does not magnify has no zoom to offer.
            zoom: s.optics.max_zoom > 1.0,
            width: s.width,
            height: s.height,
            presets: Vec::new(),
            requests: 0,
            faults: 0,
        }));
        let service = self.serve(&s.address, port, &camera).map_err(|e| {
            gst::error_msg!(
                gst::ResourceError::OpenReadWrite,
                ["Cannot serve ONVIF: {}", e]
            )
        })?;
        let port = service.port();
        gst::info!(
            CAT,
            imp = self,
            "ONVIF on {}:{}{}",
            s.address,
            port,
            DEVICE_PATH
        );
        *self.state.lock().unwrap() = Some(State {
            camera,
            service: s.online.then_some(service),
            port,
            metrics: None,
            input: None,
            output: None,
            packer: None,
        });
        Ok(())
    }

    fn set_online(&self, online: bool) {
        let address = self.settings.lock().unwrap().address.clone();
        let mut guard = self.state.lock().unwrap();
        let Some(state) = guard.as_mut() else { return };
        match (online, state.service.is_some()) {
            (false, true) => {
                let service = state.service.take();
                drop(guard);
                // Joins the service's thread, which may be posting.
                drop(service);
                gst::info!(CAT, imp = self, "camera offline");
            }
            (true, false) => match self.serve(&address, state.port, &state.camera) {
                Ok(service) => {
                    state.service = Some(service);
                    gst::info!(CAT, imp = self, "camera online again");
                }
                Err(e) => {
                    drop(guard);
                    gst::element_imp_warning!(
                        self,
                        gst::ResourceError::OpenReadWrite,
                        ["Cannot serve ONVIF again: {}", e]
                    );
                }
            },
            _ => {}
        }
    }
}

fn post_request(element: &super::VirtualPtz, handled: Handled<'_>) {
    let mut s = gst::Structure::builder("virtualptz/request");
    if let Some(r) = handled.request {
        s = s
            .field("operation", r.operation.name())
            .field("profile", r.profile.as_str());
        if let Operation::ContinuousMove { pan, tilt, zoom } = r.operation {
            s = s.field("pan", pan).field("tilt", tilt).field("zoom", zoom);
        }
    }
    match handled.auth {
        None | Some(Auth::Anonymous) => {}
        Some(Auth::Valid { user }) => s = s.field("user", user).field("authenticated", true),
        Some(Auth::Invalid { user, .. }) => s = s.field("user", user).field("authenticated", false),
    }
    if let Some(code) = handled.fault {
        s = s.field("fault", code);
    }
    let msg = gst::message::Element::builder(s.build())
        .src(element)
        .build();
    element.post_message(msg).ok();
}

impl BaseTransformImpl for VirtualPtz {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::NeverInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let metrics = metrics::register(&*self.obj(), None);
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.metrics = Some(metrics);
        }
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.metrics = None;
            state.input = None;
            state.output = None;
            state.packer = None;
        }
        Ok(())
    }

    fn transform_caps(
        &self,
        direction: gst::PadDirection,
        caps: &gst::Caps,
        filter: Option<&gst::Caps>,
    ) -> Option<gst::Caps> {
        let (width, height) = {
            let s = self.settings.lock().unwrap();
            (s.width, s.height)
        };
        let mut out = if direction == gst::PadDirection::Sink {
            let mut out = caps.clone();
            for st in out.make_mut().iter_mut() {
                st.set("format", "RGB");
                st.set("width", width as i32);
                st.set("height", height as i32);
                st.remove_fields(["colorimetry", "chroma-site", "pixel-aspect-ratio"]);
            }
            out
        } else {
            let mut out = caps.clone();
            for st in out.make_mut().iter_mut() {
                st.set("format", gst::List::new(FORMATS.iter().map(|f| f.to_str())));
                st.set("width", gst::IntRange::new(1, i32::MAX));
                st.set("height", gst::IntRange::new(1, i32::MAX));
                st.remove_fields(["colorimetry", "chroma-site", "pixel-aspect-ratio"]);
            }
            out
        };
        if let Some(filter) = filter {
            out = filter.intersect_with_mode(&out, gst::CapsIntersectMode::First);
        }
        Some(out)
    }

    fn unit_size(&self, caps: &gst::Caps) -> Option<usize> {
        gst_video::VideoInfo::from_caps(caps)
            .ok()
            .map(|info| info.size())
    }

    fn set_caps(&self, incaps: &gst::Caps, outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let input = Video::from_caps(incaps)
            .map_err(|e| gst::loggable_error!(CAT, "cannot read {}: {}", incaps, e))?;
        let output = Video::from_caps(outcaps)
            .map_err(|e| gst::loggable_error!(CAT, "cannot write {}: {}", outcaps, e))?;
        let mut guard = self.state.lock().unwrap();
        let state = guard
            .as_mut()
            .ok_or_else(|| gst::loggable_error!(CAT, "caps before start"))?;
        state.input = Some(input);
        state.output = Some(output);
        state.packer = None;
        Ok(())
    }

    fn transform(
        &self,
        inbuf: &gst::Buffer,
        outbuf: &mut gst::BufferRef,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let started = Instant::now();
        let (head, optics) = {
            let s = self.settings.lock().unwrap();
            (s.head, s.optics)
        };
        let rendered = {
            let mut guard = self.state.lock().unwrap();
            let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
            let (Some(input), Some(output)) = (&state.input, &state.output) else {
                return Err(gst::FlowError::NotNegotiated);
            };
            let position = state.advance(head, inbuf.pts());
            let region = view_region(&optics, position, input, output);
            let rendered = render(&mut state.packer, input, output, inbuf, outbuf, region);
            if let Some(metrics) = &state.metrics {
                metrics.frame(started.elapsed(), Duration::ZERO);
            }
            rendered.map(|()| (region, position))
        };
        match rendered {
            Ok((region, position)) => {
                gst::trace!(CAT, imp = self, "view {:?} at {:?}", region, position);
                Ok(gst::FlowSuccess::Ok)
            }
            Err(e) => {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Failed,
                    ["Cannot render the view: {}", e]
                );
                Err(gst::FlowError::Error)
            }
        }
    }
}

/// Scales the view at `region` of the scene in `inbuf` into `outbuf`,
/// with `packer` if it was made for a region of that size.
fn render(
    packer: &mut Option<Packer>,
    input: &Video,
    output: &Video,
    inbuf: &gst::Buffer,
    outbuf: &mut gst::BufferRef,
    region: Region,
) -> Result<(), String> {
    let fits = packer
        .as_ref()
        .is_some_and(|p| (p.letterbox.src_w, p.letterbox.src_h) == (region.w, region.h));
    if !fits {
        let fit = Letterbox::new(
            region.w,
            region.h,
            output.width(),
            output.height(),
            Fit::Stretch,
        );
        *packer = Some(Packer::new(fit, input.format, input.matrix, VIEW_PIXELS));
    }
    let packer = packer.as_mut().expect("made just above");
    let scene = input.map(inbuf)?;
    let view = input
        .image(&scene)
        .crop(region)
        .map_err(|e| e.to_string())?;
    let mut frame = output.map_mut(outbuf)?;
    let stride = frame.plane_stride()[0].max(0) as usize;
    let pixels = frame.plane_data_mut(0).map_err(|e| e.to_string())?;
    packer
        .pack_interleaved_strided(&view, pixels, stride)
        .map_err(|e| e.to_string())
}

/// The part of the scene the camera sees at `position`, inside the scene
/// and where its format can crop.
fn view_region(optics: &Optics, position: [f64; 3], input: &Video, output: &Video) -> Region {
    let (sw, sh) = (input.width(), input.height());
    let aspect = output.width() as f64 / output.height() as f64;
    let (x, y, w, h) = optics.view(position, sw as f64, sh as f64, aspect);
    let x = (x.round() as u32).min(sw - 1);
    let y = (y.round() as u32).min(sh - 1);
    Region {
        x,
        y,
        w: (w.round() as u32).clamp(1, sw - x),
        h: (h.round() as u32).clamp(1, sh - y),
    }
    .aligned(input.format)
}
