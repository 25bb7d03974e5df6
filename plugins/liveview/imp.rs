//! SECTION:element-liveview
//!
//! Shows a camera in the browser: the page at the exporter's address (`/`,
//! default http://127.0.0.1:9464/, or `CCTV_METRICS`) lists every
//! `liveview` of the process with its live picture (MJPEG, or WebRTC at a
//! click) and counts (frames, objects in view), refreshed without reloading.
//!
//! ```text
//! gst-launch-1.0 filesrc location=vtest.avi ! decodebin ! identity sync=true ! queue \
//!     ! onnxdetect classes=person ! bytetrack ! cctvoverlay ! liveview camera-id=plaza
//! ```
//!
//! `identity sync=true` plays a file at its own speed, so there is time to
//! watch; without it gst-launch-1.0 on GStreamer 1.22 may miss the EOS, as
//! liveview's sink is not async.
//!
//! A sink, and a bin of upstream elements. MJPEG: `videoscale !
//! videoconvert ! jpegenc`, fed only while someone watches and at most
//! `max-fps` per second (by their timestamps). WebRTC (WHEP on
//! `/whep/CAMERA`): a leaky `queue ! videoscale ! videoconvert ! x264enc`
//! (zero-latency tuning) fed every frame while a viewer is connected, then a
//! tee with one `rtph264pay ! webrtcbin` per viewer (at most
//! `max-webrtc-viewers`). Frames nobody watches are counted and dropped
//! before any scaling or encoding. Pictures are `max-width` pixels wide.
//! The same address serves `/metrics` and `/health`; at most 16 MJPEG
//! viewers per process.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::webrtc::{self, Branch, Viewers};
use crate::metrics::{self, view::View};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "liveview",
        gst::DebugColorFlags::empty(),
        Some("Live view in the browser"),
    )
});

const DEFAULT_MAX_WIDTH: u32 = 640;
const DEFAULT_MAX_FPS: u32 = 5;
const DEFAULT_QUALITY: u32 = 75;
const DEFAULT_WEBRTC: bool = true;
const DEFAULT_MAX_WEBRTC_VIEWERS: u32 = 4;
const DEFAULT_BITRATE: u32 = 1500;
const DEFAULT_TIMECODE: bool = false;

#[derive(Debug, Clone)]
struct Settings {
    camera_id: String,
    max_width: u32,
    max_fps: u32,
    quality: u32,
    webrtc: bool,
    max_webrtc_viewers: u32,
    bitrate: u32,
    stun_server: Option<String>,
    turn_server: Option<String>,
    webrtc_addresses: String,
    timecode: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            camera_id: String::new(),
            max_width: DEFAULT_MAX_WIDTH,
            max_fps: DEFAULT_MAX_FPS,
            quality: DEFAULT_QUALITY,
            webrtc: DEFAULT_WEBRTC,
            max_webrtc_viewers: DEFAULT_MAX_WEBRTC_VIEWERS,
            bitrate: DEFAULT_BITRATE,
            stun_server: None,
            turn_server: None,
            webrtc_addresses: String::new(),
            timecode: DEFAULT_TIMECODE,
        }
    }
}

struct Chain {
    caps: gst::Element,
    encoder: gst::Element,
    /// None where x264enc or webrtcbin is missing.
    webrtc: Option<Branch>,
}

/// Which frames go on to be encoded.
#[derive(Default)]
struct Gate {
    watching: bool,
    /// Least stream time between two pictures, nanoseconds.
    interval: u64,
    /// Stream time of the last frame let through.
    last: Option<u64>,
}

/// From READY down to NULL.
struct State {
    view: Arc<View>,
    webrtc: Option<Arc<Viewers>>,
    /// Where the exporter serves the page.
    address: std::net::SocketAddr,
}

/// Locks: `settings`, `state` and `gate` are never held together, nor
/// while posting or setting a child's property.
#[derive(Default)]
pub struct LiveView {
    settings: Mutex<Settings>,
    /// Made once, in `constructed`.
    chain: OnceLock<Chain>,
    state: Mutex<Option<State>>,
    /// Shared with the exporter's thread, which opens it while someone watches.
    gate: Arc<Mutex<Gate>>,
    /// Open while a WebRTC viewer is connected.
    webrtc_gate: Arc<AtomicBool>,
    /// Copied from the setting at READY: drawn only while someone watches.
    timecode: AtomicBool,
}

#[glib::object_subclass]
impl ObjectSubclass for LiveView {
    const NAME: &'static str = "GstCctvLiveView";
    type Type = super::LiveView;
    type ParentType = gst::Bin;
}

impl ObjectImpl for LiveView {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("camera-id")
                    .nick("Camera id")
                    .blurb("Name of the camera on the page (empty: the element's name)")
                    .build(),
                glib::ParamSpecUInt::builder("max-width")
                    .nick("Maximum width")
                    .blurb("Width of the pictures sent to viewers (height keeps the aspect ratio)")
                    .minimum(16)
                    .maximum(7680)
                    .default_value(DEFAULT_MAX_WIDTH)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-fps")
                    .nick("Maximum frame rate")
                    .blurb("Most pictures per second sent to viewers")
                    .minimum(1)
                    .maximum(60)
                    .default_value(DEFAULT_MAX_FPS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("quality")
                    .nick("JPEG quality")
                    .blurb("JPEG quality of the pictures")
                    .minimum(1)
                    .maximum(100)
                    .default_value(DEFAULT_QUALITY)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("webrtc")
                    .nick("WebRTC")
                    .blurb("Also serve viewers over WebRTC (H.264, signalled by WHEP on /whep/CAMERA)")
                    .default_value(DEFAULT_WEBRTC)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-webrtc-viewers")
                    .nick("Most WebRTC viewers")
                    .blurb("WebRTC viewers of this camera at once; more are refused (503)")
                    .minimum(1)
                    .maximum(64)
                    .default_value(DEFAULT_MAX_WEBRTC_VIEWERS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("bitrate")
                    .nick("WebRTC bitrate")
                    .blurb("H.264 bitrate for WebRTC viewers, kbit/s")
                    .minimum(100)
                    .maximum(50_000)
                    .default_value(DEFAULT_BITRATE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("stun-server")
                    .nick("STUN server")
                    .blurb("STUN server for WebRTC viewers behind NAT (stun://HOST:PORT); none on a LAN")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("turn-server")
                    .nick("TURN server")
                    .blurb("TURN relay for WebRTC viewers no direct path reaches (turn://USER:PASSWORD@HOST:PORT; reads back without them)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("webrtc-addresses")
                    .nick("WebRTC addresses")
                    .blurb("Host addresses offered to WebRTC viewers, comma-separated (empty: every address but loopback)")
                    .default_value(Some(""))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("timecode")
                    .nick("Time code")
                    .blurb("Draw each frame's capture time into the picture as a pattern of cells (to measure latency in the viewer)")
                    .default_value(DEFAULT_TIMECODE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("url")
                    .nick("URL")
                    .blurb("The page showing the cameras (once running)")
                    .read_only()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("Frames seen, pictures encoded and viewers now (MJPEG), WebRTC viewers and frames encoded for them")
                    .read_only()
                    .build(),
            ]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "camera-id" => s.camera_id = value.get::<Option<String>>().unwrap().unwrap_or_default(),
            "max-width" => s.max_width = value.get().unwrap(),
            "max-fps" => s.max_fps = value.get().unwrap(),
            "quality" => s.quality = value.get().unwrap(),
            "webrtc" => s.webrtc = value.get().unwrap(),
            "max-webrtc-viewers" => s.max_webrtc_viewers = value.get().unwrap(),
            "bitrate" => s.bitrate = value.get().unwrap(),
            "stun-server" => {
                s.stun_server = value
                    .get::<Option<String>>()
                    .unwrap()
                    .filter(|v| !v.is_empty())
            }
            "turn-server" => {
                s.turn_server = value
                    .get::<Option<String>>()
                    .unwrap()
                    .filter(|v| !v.is_empty())
            }
            "webrtc-addresses" => {
                s.webrtc_addresses = value.get::<Option<String>>().unwrap().unwrap_or_default()
            }
            "timecode" => s.timecode = value.get().unwrap(),
            other => unreachable!("no property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "url" => {
                let state = self.state.lock().unwrap();
                return state
                    .as_ref()
                    .map(|s| format!("http://{}/", s.address))
                    .to_value();
            }
            "stats" => {
                let mut b = gst::Structure::builder("liveview/stats");
                if let Some(v) = self.view() {
                    b = b
                        .field("frames", v.source.frames.load(Ordering::Relaxed))
                        .field("encoded", v.pictures())
                        .field("viewers", v.viewers() as u64);
                    if let Some(w) = &v.whep {
                        b = b
                            .field("webrtc-viewers", w.viewers() as u64)
                            .field("webrtc-encoded", w.encoded());
                    }
                }
                return b.build().to_value();
            }
            _ => {}
        }
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "camera-id" => s.camera_id.to_value(),
            "max-width" => s.max_width.to_value(),
            "max-fps" => s.max_fps.to_value(),
            "quality" => s.quality.to_value(),
            "webrtc" => s.webrtc.to_value(),
            "max-webrtc-viewers" => s.max_webrtc_viewers.to_value(),
            "bitrate" => s.bitrate.to_value(),
            "stun-server" => s.stun_server.to_value(),
            // Holds a password: never read back.
            "turn-server" => s.turn_server.as_ref().map(|_| "turn://***").to_value(),
            "webrtc-addresses" => s.webrtc_addresses.to_value(),
            "timecode" => s.timecode.to_value(),
            other => unreachable!("no property {other}"),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let make = |factory: &str| {
            gst::ElementFactory::make(factory)
                .build()
                .unwrap_or_else(|_| panic!("{factory} is part of gst-plugins-base/good"))
        };
        let scale = make("videoscale");
        let convert = make("videoconvert");
        let caps = make("capsfilter");
        let encoder = make("jpegenc");
        let sink = make("fakesink");
        sink.set_property("sync", false);
        sink.set_property("async", false);
        let tee = make("tee");
        tee.set_property("allow-not-linked", true);
        let chain = [&tee, &scale, &convert, &caps, &encoder, &sink];
        let bin = self.obj();
        bin.add_many(chain).expect("new elements");
        gst::Element::link_many(chain).expect("compatible pads");
        let webrtc = Branch::build(bin.upcast_ref());
        if let Some(branch) = &webrtc {
            tee.request_pad_simple("src_%u")
                .expect("tee pads")
                .link(&branch.sink)
                .expect("compatible pads");
        }

        let target = tee.static_pad("sink").unwrap();
        let ghost = gst::GhostPad::builder_with_target(&target)
            .unwrap()
            .name("sink")
            .build();
        // Every frame counts (and its objects).
        let weak = bin.downgrade();
        ghost.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            if let Some(bin) = weak.upgrade()
                && let Some(gst::PadProbeData::Buffer(buf)) = &mut info.data
            {
                bin.imp().count(buf);
                bin.imp().stamp(pad.upcast_ref(), buf);
            }
            gst::PadProbeReturn::Ok
        });
        bin.add_pad(&ghost).expect("one sink pad");
        // Only frames due while someone watches go on to each encoder.
        let weak = bin.downgrade();
        gate(&scale.static_pad("sink").unwrap(), move |buf| {
            weak.upgrade().is_some_and(|bin| bin.imp().due(buf))
        });
        if let Some(branch) = &webrtc {
            let open = Arc::clone(&self.webrtc_gate);
            gate(&branch.sink, move |_| open.load(Ordering::Relaxed));
        }

        let weak = bin.downgrade();
        sink.static_pad("sink")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                if let (Some(bin), Some(gst::PadProbeData::Buffer(buf))) =
                    (weak.upgrade(), &info.data)
                    && let Ok(map) = buf.map_readable()
                    && let Some(view) = bin.imp().view()
                {
                    view.publish(map.as_slice().to_vec());
                }
                gst::PadProbeReturn::Ok
            });
        self.chain
            .set(Chain {
                caps,
                encoder,
                webrtc,
            })
            .ok();
    }
}

/// Lets through `pad` only the buffers `pass` accepts.
fn gate(pad: &gst::Pad, pass: impl Fn(&gst::BufferRef) -> bool + Send + Sync + 'static) {
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| match &info.data {
        Some(gst::PadProbeData::Buffer(buf)) if !pass(buf) => {
            // Handled, not Drop: gstreamer-rs has already released the
            // buffer, and GStreamer 1.22 would unref it again (a NULL by
            // then: a CRITICAL per dropped frame).
            gst::PadProbeReturn::Handled
        }
        _ => gst::PadProbeReturn::Ok,
    });
}

impl LiveView {
    fn view(&self) -> Option<Arc<View>> {
        let state = self.state.lock().unwrap();
        state.as_ref().map(|s| Arc::clone(&s.view))
    }

    fn count(&self, buf: &gst::BufferRef) {
        let Some(view) = self.view() else {
            return;
        };
        let objects = gst::meta::CustomMeta::from_buffer(buf, cctv::meta::META_NAME)
            .ok()
            .and_then(|m| {
                m.structure()
                    .get::<gst::ArrayRef>("objects")
                    .ok()
                    .map(|a| a.len())
            })
            .unwrap_or(0);
        view.source.objects.store(objects as u64, Ordering::Relaxed);
        view.source
            .frame(std::time::Duration::ZERO, std::time::Duration::ZERO);
    }

    /// Draws the frame's capture time into it (`timecode`) while someone
    /// watches; frames without one are left alone.
    fn stamp(&self, pad: &gst::Pad, buf: &mut gst::Buffer) {
        if !self.timecode.load(Ordering::Relaxed)
            || !(self.webrtc_gate.load(Ordering::Relaxed) || self.gate.lock().unwrap().watching)
        {
            return;
        }
        let Some(ns) = cctv::meta::Frame::capture_time(buf) else {
            return;
        };
        let Some(Ok(video)) = pad
            .current_caps()
            .map(|c| crate::video::Video::from_caps(&c))
        else {
            return;
        };
        if let Ok(mut frame) = video.map_mut(buf.make_mut())
            && let Ok(mut canvas) = video.canvas(&mut frame)
        {
            cctv::overlay::timecode::draw(&mut canvas, ns / 1_000_000);
        }
    }

    /// Whether the frame in `buf` goes on to be encoded as MJPEG.
    fn due(&self, buf: &gst::BufferRef) -> bool {
        let mut gate = self.gate.lock().unwrap();
        if !gate.watching {
            return false;
        }
        let Some(pts) = buf.pts().map(|t| t.nseconds()) else {
            return true;
        };
        // A timestamp going back (a seek, a restart) starts the rate afresh.
        let due = gate
            .last
            .is_none_or(|last| pts < last || pts - last >= gate.interval);
        if due {
            gate.last = Some(pts);
        }
        due
    }

    fn open(&self) -> Result<(), gst::ErrorMessage> {
        let s = self.settings.lock().unwrap().clone();
        let obj = self.obj();
        let camera = if s.camera_id.is_empty() {
            obj.name().to_string()
        } else {
            s.camera_id.clone()
        };
        let raw = gst::Caps::builder("video/x-raw")
            .field("format", "I420")
            .field("width", s.max_width as i32)
            .build();
        let chain = self.chain.get().expect("made in constructed");
        chain.caps.set_property("caps", &raw);
        chain.encoder.set_property("quality", s.quality as i32);
        if let Some(branch) = &chain.webrtc {
            branch.caps.set_property("caps", &raw);
            branch.encoder.set_property("bitrate", s.bitrate);
        }
        self.timecode.store(s.timecode, Ordering::Relaxed);
        self.webrtc_gate.store(false, Ordering::Relaxed);
        *self.gate.lock().unwrap() = Gate {
            watching: false,
            interval: 1_000_000_000 / s.max_fps.max(1) as u64,
            last: None,
        };
        let address = metrics::serve(obj.upcast_ref()).ok_or_else(|| {
            gst::error_msg!(
                gst::ResourceError::OpenWrite,
                ["Cannot serve the live view (see the cctvmetrics debug log)"]
            )
        })?;
        let source = metrics::register(&*obj, None);
        source.set_camera(&camera);
        let webrtc = chain.webrtc.as_ref().filter(|_| s.webrtc).map(|branch| {
            let config = webrtc::Config {
                max_viewers: s.max_webrtc_viewers as usize,
                stun_server: s.stun_server.clone(),
                turn_server: s.turn_server.clone(),
                addresses: s
                    .webrtc_addresses
                    .split(',')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned)
                    .collect(),
            };
            let open = Arc::clone(&self.webrtc_gate);
            Viewers::start(obj.upcast_ref(), branch, &camera, config, move |watching| {
                open.store(watching, Ordering::Relaxed)
            })
        });
        let whep = webrtc
            .clone()
            .map(|w| Box::new(w) as Box<dyn metrics::whep::Whep>);
        let gate = Arc::clone(&self.gate);
        let element = obj.downgrade();
        let view = View::register(camera.clone(), source, whep, move |watching| {
            let mut gate = gate.lock().unwrap();
            gate.watching = watching;
            gate.last = None;
            drop(gate);
            if let Some(e) = element.upgrade() {
                gst::debug!(
                    CAT,
                    obj = e,
                    "viewers: {}",
                    if watching { "some" } else { "none" }
                );
            }
        });
        gst::info!(CAT, imp = self, "camera {} on http://{}/", camera, address);
        *self.state.lock().unwrap() = Some(State {
            view,
            webrtc,
            address,
        });
        Ok(())
    }

    fn close(&self) {
        let state = self.state.lock().unwrap().take();
        if let Some(state) = state {
            state.view.close();
            if let Some(webrtc) = state.webrtc {
                webrtc.close();
            }
        }
    }
}

impl GstObjectImpl for LiveView {}

impl ElementImpl for LiveView {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Live view",
                "Sink/Video",
                "Shows the camera's picture and counts in the browser (MJPEG, encoded only while watched)",
                "gst-cctv developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            vec![
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
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
        if transition == gst::StateChange::NullToReady
            && let Err(e) = self.open()
        {
            self.post_error_message(e);
            return Err(gst::StateChangeError);
        }
        let result = self.parent_change_state(transition);
        if transition == gst::StateChange::ReadyToNull {
            self.close();
        }
        result
    }
}

impl BinImpl for LiveView {}
