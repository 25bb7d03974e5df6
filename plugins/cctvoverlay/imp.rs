//! SECTION:element-cctvoverlay
//!
//! Draws what `CctvObjectsMeta` holds onto raw video, in place: a box per
//! object (colour per track or per class), a label with confidence and
//! track id, attributes (`gender: female 0.91`), short trails of the
//! tracks, the PTZ target (an object whose `ptz` attribute is `target`: a
//! red box twice as thick, with a cross-hair) and a status line (camera,
//! time, people in view).
//!
//! ```text
//! gst-launch-1.0 filesrc location=vtest.avi ! decodebin ! onnxdetect conf-threshold=0.1 classes=person \
//!     ! bytetrack ! cctvoverlay camera-id=plaza ! videoconvert ! autovideosink
//! ```
//!
//! It draws into the negotiated format itself (RGB, BGR, RGBx, BGRx, xRGB,
//! xBGR, RGBA, BGRA, ARGB, ABGR, I420, NV12), so it never asks for a
//! conversion: put it wherever the video already is in one of them. Text is
//! anti-aliased Noto Sans Mono Bold sized from the frame (`font-scale`
//! overrides). A frame without metadata still gets its status line. Trails
//! are forgotten at a flush and at a new stream.

use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use cctv::meta::Frame;
use cctv::overlay::{Annotator, ColorBy, Status, Style};

use crate::metrics;
use crate::video::{self, Video};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "cctvoverlay",
        gst::DebugColorFlags::empty(),
        Some("Objects metadata overlay"),
    )
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstCctvOverlayColorBy")]
pub enum ColorByProp {
    #[default]
    #[enum_value(
        name = "Each track its own colour (untracked objects by class)",
        nick = "track"
    )]
    Track,
    #[enum_value(name = "Each class its own colour", nick = "class")]
    Class,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstCctvOverlayStatusTime")]
pub enum StatusTime {
    #[default]
    #[enum_value(name = "Stream time of the frame (H:MM:SS.mmm)", nick = "stream")]
    Stream,
    #[enum_value(
        name = "Wall-clock time when the frame is drawn (UTC)",
        nick = "wall-clock"
    )]
    WallClock,
}

const DEFAULT_TRAIL_LENGTH: u32 = 30;

#[derive(Debug, Clone)]
struct Settings {
    style: Style,
    /// Shared so that copying the settings out per frame does not allocate.
    camera_id: Arc<str>,
    status_time: StatusTime,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            style: Style {
                trail_length: DEFAULT_TRAIL_LENGTH,
                ..Style::default()
            },
            camera_id: Arc::from(""),
            status_time: StatusTime::Stream,
        }
    }
}

struct State {
    video: Option<Video>,
    annotator: Annotator,
    /// The frame's objects, refilled per buffer without allocating.
    frame: Frame,
    /// The status line's time, rewritten per buffer.
    time: String,
    metrics: Arc<metrics::Source>,
}

#[derive(Default)]
pub struct CctvOverlay {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

#[glib::object_subclass]
impl ObjectSubclass for CctvOverlay {
    const NAME: &'static str = "GstCctvOverlay";
    type Type = super::CctvOverlay;
    type ParentType = gst_base::BaseTransform;
}

fn boolean(name: &str, nick: &str, blurb: &str) -> glib::ParamSpec {
    glib::ParamSpecBoolean::builder(name)
        .nick(nick)
        .blurb(blurb)
        .default_value(true)
        .mutable_playing()
        .build()
}

impl ObjectImpl for CctvOverlay {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("camera-id")
                    .nick("Camera id")
                    .blurb("Camera name shown on the status line (empty: none)")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("line-thickness")
                    .nick("Line thickness")
                    .blurb("Box line width in pixels (0: from the frame size, 2 at 576 lines, 4 at 1080)")
                    .maximum(64)
                    .default_value(0)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("font-scale")
                    .nick("Font scale")
                    .blurb("Text height in multiples of 16 pixels (0: from the frame size, 16 pixels at 576 lines, 30 at 1080)")
                    .minimum(0.0)
                    .maximum(16.0)
                    .default_value(0.0)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("trail-length")
                    .nick("Trail length")
                    .blurb("Positions (frames) of each track drawn as its trail")
                    .maximum(1000)
                    .default_value(DEFAULT_TRAIL_LENGTH)
                    .mutable_playing()
                    .build(),
                boolean("show-labels", "Show labels", "Draw each object's label and track id"),
                boolean("show-confidence", "Show confidence", "Add confidences to labels and attributes"),
                boolean("show-attributes", "Show attributes", "Draw classifier attributes (e.g. gender: female 0.91) under the label"),
                boolean("show-trails", "Show trails", "Draw the recent path of each track"),
                boolean("show-status", "Show status", "Draw a status line: camera, time, people in view"),
                glib::ParamSpecEnum::builder_with_default("color-by", ColorByProp::Track)
                    .nick("Colour by")
                    .blurb("Give boxes a colour per track or per class")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("status-time", StatusTime::Stream)
                    .nick("Status time")
                    .blurb("Time shown on the status line: the frame's stream time or the wall clock")
                    .mutable_playing()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        let b = || value.get::<bool>().expect("type checked upstream");
        let s = &mut settings.style;
        match pspec.name() {
            "camera-id" => {
                let id: Option<String> = value.get().expect("type checked upstream");
                settings.camera_id = Arc::from(id.unwrap_or_default());
            }
            "line-thickness" => s.line_thickness = value.get().expect("type checked upstream"),
            "font-scale" => {
                s.font_scale = value.get::<f64>().expect("type checked upstream") as f32
            }
            "trail-length" => s.trail_length = value.get().expect("type checked upstream"),
            "show-labels" => s.show_labels = b(),
            "show-confidence" => s.show_confidence = b(),
            "show-attributes" => s.show_attributes = b(),
            "show-trails" => s.show_trails = b(),
            "show-status" => s.show_status = b(),
            "color-by" => {
                s.color_by = match value.get().expect("type checked upstream") {
                    ColorByProp::Track => ColorBy::Track,
                    ColorByProp::Class => ColorBy::Class,
                }
            }
            "status-time" => settings.status_time = value.get().expect("type checked upstream"),
            other => unreachable!("unknown property {other}"),
        }
        gst::debug!(CAT, imp = self, "{} set to {:?}", pspec.name(), value);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings.lock().unwrap();
        let s = &settings.style;
        match pspec.name() {
            "camera-id" => (*settings.camera_id).to_value(),
            "line-thickness" => s.line_thickness.to_value(),
            "font-scale" => (s.font_scale as f64).to_value(),
            "trail-length" => s.trail_length.to_value(),
            "show-labels" => s.show_labels.to_value(),
            "show-confidence" => s.show_confidence.to_value(),
            "show-attributes" => s.show_attributes.to_value(),
            "show-trails" => s.show_trails.to_value(),
            "show-status" => s.show_status.to_value(),
            "color-by" => match s.color_by {
                ColorBy::Track => ColorByProp::Track,
                ColorBy::Class => ColorByProp::Class,
            }
            .to_value(),
            "status-time" => settings.status_time.to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for CctvOverlay {}

impl ElementImpl for CctvOverlay {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "CCTV overlay",
                "Filter/Effect/Video",
                "Draws CctvObjectsMeta objects (boxes, labels, track ids, attributes, trails, PTZ target) and a status line onto raw video, in place",
                "gst-cctv developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = video::caps();
            vec![
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &caps,
                )
                .unwrap(),
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &caps,
                )
                .unwrap(),
            ]
        });
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for CctvOverlay {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let style = self.settings.lock().unwrap().style;
        let state = State {
            video: None,
            annotator: Annotator::new(style),
            frame: Frame::default(),
            time: String::with_capacity(32),
            metrics: metrics::register(&*self.obj(), None),
        };
        *self.state.lock().unwrap() = Some(state);
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let video = Video::from_caps(incaps)
            .map_err(|e| gst::loggable_error!(CAT, "cannot draw on {}: {}", incaps, e))?;
        gst::debug!(
            CAT,
            imp = self,
            "drawing on {}x{} {:?}",
            video.width(),
            video.height(),
            video.info.format()
        );
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.video = Some(video);
        }
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::FlushStop(_) | gst::EventView::StreamStart(_) = event.view()
            && let Some(state) = self.state.lock().unwrap().as_mut()
        {
            state.annotator.clear();
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let started = Instant::now();
        let settings = self.settings.lock().unwrap().clone();
        let stream_time = match settings.status_time {
            StatusTime::Stream => buf.pts().and_then(|pts| {
                self.obj()
                    .segment()
                    .downcast_ref::<gst::ClockTime>()
                    .and_then(|segment| segment.to_stream_time(pts))
            }),
            StatusTime::WallClock => None,
        };
        let drawn = {
            let mut guard = self.state.lock().unwrap();
            let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
            let video = state.video.as_ref().ok_or(gst::FlowError::NotNegotiated)?;
            let drawn = draw(
                video,
                &mut state.annotator,
                &mut state.frame,
                &mut state.time,
                buf,
                &settings,
                stream_time,
            );
            state.metrics.frame(started.elapsed(), Duration::ZERO);
            drawn
        };
        drawn.map_err(|e| {
            self.post_error_message(e);
            gst::FlowError::Error
        })?;
        Ok(gst::FlowSuccess::Ok)
    }
}

/// Draws the objects in `buf` (read into `frame`) and the status line
/// (its time written into `time`) onto it; the error to post, once the
/// state lock is released, when it cannot.
fn draw(
    video: &Video,
    annotator: &mut Annotator,
    frame: &mut Frame,
    time: &mut String,
    buf: &mut gst::BufferRef,
    settings: &Settings,
    stream_time: Option<gst::ClockTime>,
) -> Result<(), gst::ErrorMessage> {
    match frame.read_buffer(buf) {
        None => {
            frame.objects.clear();
            frame.width = 0;
            frame.height = 0;
        }
        Some(Ok(())) => {}
        Some(Err(e)) => {
            return Err(gst::error_msg!(
                gst::StreamError::Format,
                ["Bad objects metadata: {}", e]
            ));
        }
    }

    time.clear();
    match (settings.status_time, stream_time) {
        (StatusTime::Stream, Some(t)) => {
            cctv::overlay::write_clock(time, t.nseconds()).ok();
        }
        (StatusTime::Stream, None) => {}
        (StatusTime::WallClock, _) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            cctv::message::write_utc(time, now.as_millis() as i64).ok();
        }
    }

    let mut mapped = video
        .map_mut(buf)
        .map_err(|e| gst::error_msg!(gst::StreamError::Failed, ["{}", e]))?;
    let mut canvas = video.canvas(&mut mapped).map_err(|e| {
        gst::error_msg!(
            gst::StreamError::Format,
            ["Cannot draw on the frame: {}", e]
        )
    })?;
    annotator.set_style(settings.style);
    let status = Status {
        camera: &settings.camera_id,
        time,
    };
    annotator.draw(&mut canvas, frame, status);
    Ok(())
}
