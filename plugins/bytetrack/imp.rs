//! SECTION:element-bytetrack
//!
//! Gives the objects of `CctvObjectsMeta` stable track ids with ByteTrack
//! (Zhang et al., ECCV 2022): Kalman-predicted tracks, a first association
//! of high-score detections, a second one of low-score detections with the
//! tracks left over, optimal assignment on IoU, and a lost-track buffer.
//!
//! ```text
//! gst-launch-1.0 filesrc location=vtest.avi ! decodebin ! onnxdetect conf-threshold=0.1 classes=person \
//!     ! bytetrack ! fakesink
//! ```
//!
//! Feed it low-score detections too (`onnxdetect conf-threshold=0.1`): the
//! second association is what recovers occluded people. Output objects are
//! the confirmed tracks of the frame; detections that start no confirmed
//! track are dropped unless `keep-untracked`. On frames the detector
//! skipped (`inferred=false`) the tracks' predicted boxes are written,
//! marked `predicted`.
//!
//! Life-cycle changes (`new`, `lost`, `recovered`, `removed`) are sent
//! downstream as serialized custom events named `cctv/track-event`, before
//! the buffer they happen on, so sinks on every `tee` branch see them in
//! order; with `post-messages` they are also posted on the bus as element
//! messages with the same structure. At EOS, and at a discontinuity, every
//! live track is ended with a `removed` event. A flush (seek) resets the
//! tracker without events.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use cctv::bbox::BBox;
use cctv::labels::{ClassFilter, ClassMask};
use cctv::lifecycle::{Kind, TrackEvent};
use cctv::meta::{Frame, Object};
use cctv::track::{ByteTrackConfig, ByteTracker, Detection, TrackChange};

use crate::{metrics, upstream};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "bytetrack",
        gst::DebugColorFlags::empty(),
        Some("ByteTrack tracker"),
    )
});

#[derive(Debug, Default)]
struct Settings {
    frame: FrameSettings,
    /// Parsed when set; copied into the state at start.
    classes: ClassFilter,
}

/// The settings a frame needs, copied out of the lock for each frame.
#[derive(Debug, Clone, Copy)]
struct FrameSettings {
    config: ByteTrackConfig,
    /// 0 to take the frame rate from the caps.
    frame_rate: f64,
    keep_untracked: bool,
    post_messages: bool,
}

impl Default for FrameSettings {
    fn default() -> Self {
        FrameSettings {
            config: ByteTrackConfig::default(),
            frame_rate: 0.0,
            keep_untracked: false,
            post_messages: true,
        }
    }
}

/// Which objects are tracked: by class id once the detector upstream told
/// its labels (`set_caps`), else by each object's id and label.
struct Tracked {
    filter: ClassFilter,
    mask: Option<ClassMask>,
}

impl Tracked {
    fn keeps(&self, o: &Object) -> bool {
        match &self.mask {
            Some(mask) => mask.keeps(o.class_id),
            None => self.filter.keeps(o.class_id, &o.label),
        }
    }
}

/// What the element remembers of a live track for its life-cycle events.
#[derive(Debug, Clone)]
struct TrackInfo {
    label: String,
    bbox: BBox,
}

struct State {
    tracker: ByteTracker,
    tracked: Tracked,
    tracks: HashMap<u64, TrackInfo>,
    size: (u32, u32),
    caps_rate: Option<f64>,
    started: bool,
    /// Stream time of the last frame, for tracks ended by EOS.
    last_ts: u64,
    metrics: Arc<metrics::Source>,
}

#[derive(Default)]
pub struct ByteTrack {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

#[glib::object_subclass]
impl ObjectSubclass for ByteTrack {
    const NAME: &'static str = "GstCctvByteTrack";
    type Type = super::ByteTrack;
    type ParentType = gst_base::BaseTransform;
}

fn double(name: &str, nick: &str, blurb: &str, default: f64, max: f64) -> glib::ParamSpec {
    glib::ParamSpecDouble::builder(name)
        .nick(nick)
        .blurb(blurb)
        .minimum(0.0)
        .maximum(max)
        .default_value(default)
        .mutable_playing()
        .build()
}

impl ObjectImpl for ByteTrack {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let d = ByteTrackConfig::default();
            vec![
                double("track-high-thresh", "High threshold", "Detections scoring at least this take part in the first association", d.track_high_thresh as f64, 1.0),
                double("track-low-thresh", "Low threshold", "Detections scoring at least this (and below the high threshold) take part in the second association", d.track_low_thresh as f64, 1.0),
                double("new-track-thresh", "New track threshold", "Unmatched detections scoring at least this start a new track", d.new_track_thresh as f64, 1.0),
                double("match-thresh", "Match threshold", "Largest 1 - IoU (score-fused) cost accepted in the first association", d.match_thresh as f64, 1.0),
                glib::ParamSpecUInt::builder("track-buffer")
                    .nick("Track buffer")
                    .blurb("Frames (at 30 fps, scaled by frame-rate) a lost track is kept for re-identification")
                    .minimum(1)
                    .maximum(10_000)
                    .default_value(d.track_buffer)
                    .mutable_playing()
                    .build(),
                double("frame-rate", "Frame rate", "Frame rate for the track buffer (0: from the caps)", 0.0, 1000.0),
                double("min-box-area", "Minimum box area", "Tracks with a smaller box (pixels) are not output", d.min_box_area as f64, 1e9),
                glib::ParamSpecString::builder("classes")
                    .nick("Classes")
                    .blurb("Comma-separated labels or class ids to track (empty: all); other objects pass untracked. A name the detector upstream does not know is an error")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("keep-untracked")
                    .nick("Keep untracked")
                    .blurb("Keep detections that belong to no confirmed track (without a track id)")
                    .default_value(false)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("post-messages")
                    .nick("Post messages")
                    .blurb("Also post life-cycle events on the bus as element messages")
                    .default_value(true)
                    .mutable_playing()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        let f = || value.get::<f64>().expect("type checked upstream");
        let s = &mut settings.frame;
        match pspec.name() {
            "track-high-thresh" => s.config.track_high_thresh = f() as f32,
            "track-low-thresh" => s.config.track_low_thresh = f() as f32,
            "new-track-thresh" => s.config.new_track_thresh = f() as f32,
            "match-thresh" => s.config.match_thresh = f() as f32,
            "track-buffer" => s.config.track_buffer = value.get().expect("type checked upstream"),
            "frame-rate" => s.frame_rate = f(),
            "min-box-area" => s.config.min_box_area = f() as f32,
            "classes" => {
                let spec: Option<String> = value.get().expect("type checked upstream");
                settings.classes = ClassFilter::parse(spec.as_deref().unwrap_or_default())
            }
            "keep-untracked" => s.keep_untracked = value.get().expect("type checked upstream"),
            "post-messages" => s.post_messages = value.get().expect("type checked upstream"),
            other => unreachable!("unknown property {other}"),
        }
        gst::debug!(CAT, imp = self, "{} set to {:?}", pspec.name(), value);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings.lock().unwrap();
        let s = &settings.frame;
        match pspec.name() {
            "track-high-thresh" => (s.config.track_high_thresh as f64).to_value(),
            "track-low-thresh" => (s.config.track_low_thresh as f64).to_value(),
            "new-track-thresh" => (s.config.new_track_thresh as f64).to_value(),
            "match-thresh" => (s.config.match_thresh as f64).to_value(),
            "track-buffer" => s.config.track_buffer.to_value(),
            "frame-rate" => s.frame_rate.to_value(),
            "min-box-area" => (s.config.min_box_area as f64).to_value(),
            "classes" => settings.classes.spec().to_value(),
            "keep-untracked" => s.keep_untracked.to_value(),
            "post-messages" => s.post_messages.to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for ByteTrack {}

impl ElementImpl for ByteTrack {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "ByteTrack tracker",
                "Filter/Analyzer/Video",
                "Assigns stable track ids to CctvObjectsMeta objects (ByteTrack) and announces tracks entering and leaving",
                "gst-cctv developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst::Caps::new_any();
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

impl BaseTransformImpl for ByteTrack {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let (config, filter) = {
            let s = self.settings.lock().unwrap();
            (s.frame.config, s.classes.clone())
        };
        *self.state.lock().unwrap() = Some(State {
            tracker: ByteTracker::new(config),
            tracked: Tracked { filter, mask: None },
            tracks: HashMap::new(),
            size: (0, 0),
            caps_rate: None,
            started: false,
            last_ts: 0,
            metrics: metrics::register(&*self.obj(), None),
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let rate = incaps
            .structure(0)
            .and_then(|s| s.get::<gst::Fraction>("framerate").ok())
            .filter(|f| f.numer() > 0 && f.denom() > 0)
            .map(|f| f.numer() as f64 / f.denom() as f64);
        let labels = upstream::ask_labels(self.obj().sink_pad());
        let resolved = {
            let mut guard = self.state.lock().unwrap();
            let Some(state) = guard.as_mut() else {
                return Ok(());
            };
            state.caps_rate = rate;
            let resolved = labels.map(|l| state.tracked.filter.resolve(&l)).transpose();
            resolved.map(|mask| state.tracked.mask = mask)
        };
        // Posted once the state lock is released.
        resolved.map_err(|e| {
            gst::element_imp_error!(
                self,
                gst::ResourceError::Settings,
                ["Invalid classes property: {}", e]
            );
            gst::loggable_error!(CAT, "classes: {}", e)
        })
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::Eos(_) | gst::EventView::StreamStart(_) => self.end_all_tracks(),
            gst::EventView::FlushStop(_) => {
                if let Some(state) = self.state.lock().unwrap().as_mut() {
                    state.tracker.reset();
                    state.tracks.clear();
                }
            }
            _ => {}
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let started = std::time::Instant::now();
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
        let ts = buf.pts().map_or(0, |t| t.nseconds());
        if buf.flags().contains(gst::BufferFlags::DISCONT) && self.has_started() {
            // The stream jumped: nobody can be followed across the gap.
            self.end_all_tracks();
        }
        let settings = self.settings.lock().unwrap().frame;
        let mut guard = self.state.lock().unwrap();
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        state.started = true;
        state.last_ts = ts;
        state.size = (frame.width, frame.height);
        let mut config = settings.config;
        config.frame_rate = if settings.frame_rate > 0.0 {
            settings.frame_rate
        } else {
            state.caps_rate.unwrap_or(config.frame_rate)
        };
        state.tracker.set_config(config);

        // Objects of classes not tracked pass through untouched.
        let tracked = |o: &Object| state.tracked.keeps(o);
        let detections: Vec<Detection> = frame
            .objects
            .iter()
            .filter(|o| tracked(o))
            .map(|o| Detection {
                bbox: o.bbox,
                score: o.confidence,
                class_id: o.class_id,
            })
            .collect();
        let candidates: Vec<&Object> = frame.objects.iter().filter(|o| tracked(o)).collect();
        let output = if frame.inferred {
            state.tracker.update(&detections, ts)
        } else {
            state.tracker.predict(ts)
        };

        let mut labels: HashMap<u32, String> = HashMap::new();
        for o in &frame.objects {
            labels.entry(o.class_id).or_insert_with(|| o.label.clone());
        }
        let mut objects: Vec<Object> = frame
            .objects
            .iter()
            .filter(|o| !tracked(o))
            .cloned()
            .collect();
        let mut used = vec![false; candidates.len()];
        for t in &output.objects {
            let object = match t.detection {
                Some(i) => {
                    used[i] = true;
                    let mut o = candidates[i].clone();
                    o.track_id = Some(t.track_id);
                    o
                }
                None => {
                    let label = state
                        .tracks
                        .get(&t.track_id)
                        .map(|i| i.label.clone())
                        .or_else(|| labels.get(&t.class_id).cloned())
                        .unwrap_or_default();
                    let mut o = Object::new(t.bbox, t.class_id, label, t.score);
                    o.track_id = Some(t.track_id);
                    o.predicted = true;
                    o
                }
            };
            let info = state.tracks.entry(t.track_id).or_insert_with(|| TrackInfo {
                label: object.label.clone(),
                bbox: object.bbox,
            });
            info.bbox = object.bbox;
            objects.push(object);
        }
        if settings.keep_untracked {
            objects.extend(
                candidates
                    .iter()
                    .zip(&used)
                    .filter(|(_, u)| !**u)
                    .map(|(o, _)| (*o).clone()),
            );
        }
        let events: Vec<TrackEvent> = output
            .events
            .iter()
            .map(|e| lifecycle(state, &labels, e))
            .collect();
        for e in output.events.iter().filter(|e| e.kind == Kind::Removed) {
            state.tracks.remove(&e.track_id);
        }
        let metrics = Arc::clone(&state.metrics);
        metrics.objects.store(
            state.tracks.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        drop(guard);

        // Life-cycle events go out before the buffer they happen on.
        self.send(&events, settings.post_messages);
        let frame = Frame { objects, ..frame };
        frame.attach(buf);
        metrics.frame(started.elapsed(), std::time::Duration::ZERO);
        Ok(gst::FlowSuccess::Ok)
    }
}

fn lifecycle(state: &State, labels: &HashMap<u32, String>, change: &TrackChange) -> TrackEvent {
    let info = state.tracks.get(&change.track_id);
    TrackEvent {
        kind: change.kind,
        track_id: change.track_id,
        class_id: change.class_id,
        label: info
            .map(|i| i.label.clone())
            .or_else(|| labels.get(&change.class_id).cloned())
            .unwrap_or_default(),
        first_seen: change.first_seen,
        last_seen: change.last_seen,
        bbox: info.map(|i| i.bbox).unwrap_or_default(),
        width: state.size.0,
        height: state.size.1,
    }
}

impl ByteTrack {
    fn has_started(&self) -> bool {
        self.state
            .lock()
            .unwrap()
            .as_ref()
            .is_some_and(|s| s.started)
    }

    /// Sends life-cycle events downstream (and to the bus).
    fn send(&self, events: &[TrackEvent], post_messages: bool) {
        let obj = self.obj();
        for e in events {
            gst::debug!(CAT, imp = self, "track {} {}", e.track_id, e.kind.as_str());
            if post_messages {
                let msg = gst::message::Element::builder(e.to_structure())
                    .src(&*obj)
                    .build();
                obj.post_message(msg).ok();
            }
            obj.src_pad().push_event(e.to_event());
        }
    }

    /// Ends every live track with a `removed` event and resets the tracker.
    fn end_all_tracks(&self) {
        let post_messages = self.settings.lock().unwrap().frame.post_messages;
        let events = {
            let mut guard = self.state.lock().unwrap();
            let Some(state) = guard.as_mut() else { return };
            let drained = state.tracker.drain(state.last_ts);
            let labels = HashMap::new();
            let events: Vec<TrackEvent> = drained
                .iter()
                .map(|e| lifecycle(state, &labels, e))
                .collect();
            state.tracker.reset();
            state.tracks.clear();
            state.started = false;
            events
        };
        self.send(&events, post_messages);
    }
}
