//! SECTION:element-onnxdetect
//!
//! Runs a pretrained object detector (ONNX, through ONNX Runtime) on each
//! frame, or every `interval` frames, and attaches the detections to the
//! buffer as `CctvObjectsMeta`. With no `model` set it uses the bundled
//! YOLOX-Nano (COCO, 80 classes).
//!
//! ```text
//! gst-launch-1.0 filesrc location=vtest.avi ! decodebin ! onnxdetect classes=person ! fakesink
//! ```
//!
//! Output layouts: YOLOX raw head, YOLOv5/v7, YOLOv8/YOLO11, TF Object
//! Detection API and end-to-end `[N,6]`/`[N,7]`, recognised from the model
//! or forced with `model-type`; labels come from `labels`, the model's own
//! metadata or the COCO lists, and `classes` keeps only some. Frames the
//! detector skips carry metadata with `inferred=false` and no objects; a
//! tracker downstream carries its tracks over them.
//!
//! With `motion-gate=true` the detector runs only on frames where something
//! moves (a frame's brightness over a grid of cells against an adapting
//! background, `cctv::motion`), and every `motion-refresh` frames while the
//! last run found objects (people standing still): a camera watching an
//! empty scene costs almost nothing.
//!
//! Every instance with the same model and options shares the model's ONNX
//! Runtime sessions: one to begin with, and a one-thread session more
//! whenever all are busy, up to one per core (`sessions` fixes the count).
//! `batch-size` runs the frames of several cameras as one batch, for GPUs;
//! on the CPU parallel sessions measured faster, so it batches nothing
//! there by default. `in-flight=2` runs two frames of this stream at once
//! (one thread each, results in order): one camera then uses both cores of
//! a small box, for one frame more of latency.

use std::collections::VecDeque;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use cctv::detect::{Decoder, Detection, InputSpec, Layout, LayoutKind, Output};
use cctv::labels::{ClassFilter, ClassMask};
use cctv::letterbox::Letterbox;
use cctv::meta::{Frame, Object};
use cctv::motion::{MotionConfig, MotionDetector};
use cctv::preprocess::TensorFormat;

use crate::inference::{
    Error, Lanes, Model, ModelProperties, ModelSettings, Stage, Ticket, Timings,
};
use crate::video::Video;
use crate::{assets, metrics, upstream};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "onnxdetect",
        gst::DebugColorFlags::empty(),
        Some("ONNX object detector"),
    )
});

/// Output layout of the model, `auto` to recognise it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, glib::Enum, Default)]
#[enum_type(name = "GstCctvModelType")]
pub enum ModelType {
    #[default]
    #[enum_value(name = "Recognise from the model's outputs", nick = "auto")]
    Auto,
    #[enum_value(name = "YOLOX raw head [1,N,5+C]", nick = "yolox")]
    Yolox,
    #[enum_value(name = "YOLOv5/v7 [1,N,5+C]", nick = "yolov5")]
    YoloV5,
    #[enum_value(name = "YOLOv8/YOLO11 [1,4+C,N]", nick = "yolov8")]
    YoloV8,
    #[enum_value(name = "TensorFlow Object Detection API", nick = "tf-object-detection")]
    TfObjectDetection,
    #[enum_value(name = "End-to-end with NMS in graph [N,6] or [N,7]", nick = "end2end")]
    End2End,
}

impl ModelType {
    fn forced(self) -> Option<LayoutKind> {
        match self {
            ModelType::Auto => None,
            ModelType::Yolox => Some(LayoutKind::Yolox),
            ModelType::YoloV5 => Some(LayoutKind::YoloV5),
            ModelType::YoloV8 => Some(LayoutKind::YoloV8),
            ModelType::TfObjectDetection => Some(LayoutKind::TfObjectDetection),
            ModelType::End2End => Some(LayoutKind::End2End),
        }
    }
}

const DEFAULT_CONF_THRESHOLD: f64 = 0.25;
const DEFAULT_IOU_THRESHOLD: f64 = 0.45;
const DEFAULT_INTERVAL: u32 = 1;
const DEFAULT_MAX_DETECTIONS: u32 = 100;
const DEFAULT_MOTION_THRESHOLD: f64 = 12.0;
const DEFAULT_MOTION_REFRESH: u32 = 10;
const DEFAULT_IN_FLIGHT: u32 = 1;

const MODEL_PROPERTIES: ModelProperties = ModelProperties {
    model: "ONNX detector file (default: the bundled YOLOX-Nano COCO model)",
    labels: "Class names file, one per line (default: from the model's metadata, else COCO)",
    batches: true,
};

#[derive(Debug, Clone)]
struct Settings {
    model: ModelSettings,
    model_type: ModelType,
    conf_threshold: f32,
    iou_threshold: f32,
    classes: ClassFilter,
    interval: u32,
    max_detections: u32,
    motion_gate: bool,
    motion_threshold: f32,
    motion_refresh: u32,
    in_flight: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model: ModelSettings::default(),
            model_type: ModelType::Auto,
            conf_threshold: DEFAULT_CONF_THRESHOLD as f32,
            iou_threshold: DEFAULT_IOU_THRESHOLD as f32,
            classes: ClassFilter::default(),
            interval: DEFAULT_INTERVAL,
            max_detections: DEFAULT_MAX_DETECTIONS,
            motion_gate: false,
            motion_threshold: DEFAULT_MOTION_THRESHOLD as f32,
            motion_refresh: DEFAULT_MOTION_REFRESH,
            in_flight: DEFAULT_IN_FLIGHT,
        }
    }
}

/// The decoding settings of one frame, copied out of the settings lock.
#[derive(Debug, Clone, Copy)]
struct Thresholds {
    conf: f32,
    iou: f32,
    max_detections: u32,
    motion_threshold: f32,
    motion_refresh: u32,
}

/// The motion gate's detector and what it decided.
struct Gate {
    motion: MotionDetector,
    /// Frames since the last run, and objects that run found.
    since_run: u32,
    found: usize,
    /// Frames with motion, and frames the gate skipped.
    moving: u64,
    skipped: u64,
}

impl Gate {
    /// Whether the detector runs on this frame: at the first, when something
    /// moves, and every `refresh` frames while the last run found objects.
    fn opens(&mut self, moving: bool, refresh: u32) -> bool {
        let first = self.since_run == u32::MAX;
        let open = first || moving || (self.found > 0 && self.since_run + 1 >= refresh);
        self.skipped += !open as u64;
        self.since_run = if open {
            0
        } else {
            self.since_run.saturating_add(1)
        };
        open
    }
}

/// What one run of the model needs for itself: one per frame in flight.
struct Lane {
    stage: Stage,
    decoder: Box<dyn Decoder>,
    labels: Vec<String>,
    classes: ClassMask,
    candidates: Vec<Detection>,
}

/// A lane's answer for one frame.
struct Detected {
    objects: Vec<Object>,
    /// Time the lane spent on the frame, and inside the model.
    busy: Duration,
    inference: Duration,
}

/// A frame submitted and not yet pushed, in stream order.
struct Pending {
    buf: gst::Buffer,
    /// Its detections to come; none when the detector skips the frame.
    ticket: Option<Ticket<Result<Detected, Error>>>,
    /// Time spent on it before the run (the gate).
    gated: Duration,
}

struct State {
    lanes: Lanes<Lane>,
    model: Arc<Model>,
    /// The model's file name and input, for messages.
    name: String,
    layout: Layout,
    labels: Vec<String>,
    /// The metadata written on every buffer. Its object list is empty
    /// between frames: a lane's list is swapped in to be written.
    frame: Frame,
    /// Object lists back from the lanes, for reuse.
    spare: Vec<Vec<Object>>,
    /// The negotiated frames, for the motion gate.
    video: Option<Video>,
    pending: VecDeque<Pending>,
    /// Frames since the start or the last flush, for `interval`.
    frame_count: u64,
    /// Frames seen in all.
    frames: u64,
    /// With `motion-gate`, from the caps on.
    gate: Option<Gate>,
    motion_gate: bool,
    metrics: Arc<metrics::Source>,
}

#[derive(Default)]
pub struct OnnxDetect {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

#[glib::object_subclass]
impl ObjectSubclass for OnnxDetect {
    const NAME: &'static str = "GstCctvOnnxDetect";
    type Type = super::OnnxDetect;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for OnnxDetect {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let d = Settings::default();
            let mut props = ModelSettings::properties(&MODEL_PROPERTIES);
            props.extend([
                glib::ParamSpecEnum::builder_with_default("model-type", d.model_type)
                    .nick("Model type")
                    .blurb("Output layout of the model")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("conf-threshold")
                    .nick("Confidence threshold")
                    .blurb("Minimum detection score reported")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_CONF_THRESHOLD)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("iou-threshold")
                    .nick("IoU threshold")
                    .blurb("Non-maximum suppression overlap above which the weaker box of a class is dropped")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_IOU_THRESHOLD)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("classes")
                    .nick("Classes")
                    .blurb("Comma-separated class names or ids to report, e.g. \"person\" (empty: all)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("interval")
                    .nick("Interval")
                    .blurb("Run the detector every N frames; frames in between carry inferred=false")
                    .minimum(1)
                    .maximum(1000)
                    .default_value(DEFAULT_INTERVAL)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-detections")
                    .nick("Max detections")
                    .blurb("Most detections kept per frame, best first")
                    .minimum(1)
                    .maximum(10_000)
                    .default_value(DEFAULT_MAX_DETECTIONS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("motion-gate")
                    .nick("Motion gate")
                    .blurb("Run the detector only on frames where something moves, and every motion-refresh frames while objects are in view")
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("motion-threshold")
                    .nick("Motion threshold")
                    .blurb("Change of a cell's mean brightness (0-255) that is motion; raise it for noisy cameras")
                    .minimum(1.0)
                    .maximum(255.0)
                    .default_value(DEFAULT_MOTION_THRESHOLD)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("motion-refresh")
                    .nick("Motion refresh")
                    .blurb("With motion-gate: run the detector at least every N frames while the last run found objects (people standing still)")
                    .minimum(1)
                    .maximum(10_000)
                    .default_value(DEFAULT_MOTION_REFRESH)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("in-flight")
                    .nick("Frames in flight")
                    .blurb("Frames of this stream in the model at once, each on its own thread, pushed in order: \
                            2 lets one camera use two cores, for one frame more of latency; \
                            1 runs each frame in the streaming thread")
                    .minimum(1)
                    .maximum(16)
                    .default_value(DEFAULT_IN_FLIGHT)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("frames, runs, and mean ms per run of pre-processing, inference and post-processing; \
                            with motion-gate, motion-frames and gated-frames (skipped); \
                            batches and batched-frames of the shared model when it batches")
                    .read_only()
                    .build(),
            ]);
            props
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "model-type" => s.model_type = value.get().expect("type checked upstream"),
            "conf-threshold" => {
                s.conf_threshold = value.get::<f64>().expect("type checked upstream") as f32
            }
            "iou-threshold" => {
                s.iou_threshold = value.get::<f64>().expect("type checked upstream") as f32
            }
            "classes" => {
                let spec: Option<String> = value.get().expect("type checked upstream");
                s.classes = ClassFilter::parse(spec.as_deref().unwrap_or_default())
            }
            "interval" => s.interval = value.get().expect("type checked upstream"),
            "max-detections" => s.max_detections = value.get().expect("type checked upstream"),
            "motion-gate" => s.motion_gate = value.get().expect("type checked upstream"),
            "motion-threshold" => {
                s.motion_threshold = value.get::<f64>().expect("type checked upstream") as f32
            }
            "motion-refresh" => s.motion_refresh = value.get().expect("type checked upstream"),
            "in-flight" => s.in_flight = value.get().expect("type checked upstream"),
            other => assert!(s.model.set(other, value), "unknown property {other}"),
        }
        gst::debug!(CAT, imp = self, "{} set to {:?}", pspec.name(), value);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        if pspec.name() == "stats" {
            return self.stats().to_value();
        }
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "model-type" => s.model_type.to_value(),
            "conf-threshold" => (s.conf_threshold as f64).to_value(),
            "iou-threshold" => (s.iou_threshold as f64).to_value(),
            "classes" => s.classes.spec().to_value(),
            "interval" => s.interval.to_value(),
            "max-detections" => s.max_detections.to_value(),
            "motion-gate" => s.motion_gate.to_value(),
            "motion-threshold" => (s.motion_threshold as f64).to_value(),
            "motion-refresh" => s.motion_refresh.to_value(),
            "in-flight" => s.in_flight.to_value(),
            other => s
                .model
                .get(other)
                .unwrap_or_else(|| unreachable!("unknown property {other}")),
        }
    }
}

impl GstObjectImpl for OnnxDetect {}

impl ElementImpl for OnnxDetect {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "ONNX object detector",
                "Filter/Analyzer/Video",
                "Detects people and objects with an ONNX model (YOLOX, YOLOv5/v8, SSD) and attaches them as CctvObjectsMeta",
                "gst-cctv developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> =
            LazyLock::new(crate::video::pad_templates);
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for OnnxDetect {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let state = self.open(&settings).map_err(|e| e.message())?;
        gst::info!(
            CAT,
            imp = self,
            "loaded {} ({}; {} labels; {} frames in flight)",
            state.name,
            state.layout.name(),
            state.labels.len(),
            state.lanes.in_flight()
        );
        *self.state.lock().unwrap() = Some(state);
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let configured = self.configure(incaps);
        configured.map_err(|e| {
            self.obj().post_error_message(e.message());
            gst::loggable_error!(CAT, "caps {} refused: {}", incaps, e)
        })
    }

    fn query(&self, direction: gst::PadDirection, query: &mut gst::QueryRef) -> bool {
        if direction == gst::PadDirection::Src
            && let Some(state) = self.state.lock().unwrap().as_ref()
            && upstream::answer_labels(query, &state.labels)
        {
            return true;
        }
        BaseTransformImplExt::parent_query(self, direction, query)
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::FlushStop(_) => {
                if let Some(state) = self.state.lock().unwrap().as_mut() {
                    // Frames in flight are dropped, as queues drop theirs.
                    state.pending.clear();
                    state.frame_count = 0;
                    if let Some(gate) = &mut state.gate {
                        // Another scene: a new background, and a run at once.
                        gate.motion.reset();
                        gate.since_run = u32::MAX;
                    }
                }
            }
            // Frames in flight go before the events that follow them.
            _ if event.is_serialized() => self.drain(),
            _ => {}
        }
        self.parent_sink_event(event)
    }

    fn submit_input_buffer(
        &self,
        _is_discont: bool,
        inbuf: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        // Only the settings a running stream may change are copied. Nothing
        // here allocates once the first frames have sized the buffers
        // (with one frame in flight), except the GstStructure the metadata
        // is written into.
        let (interval, thresholds) = {
            let s = self.settings.lock().unwrap();
            (
                s.interval,
                Thresholds {
                    conf: s.conf_threshold,
                    iou: s.iou_threshold,
                    max_detections: s.max_detections,
                    motion_threshold: s.motion_threshold,
                    motion_refresh: s.motion_refresh,
                },
            )
        };
        let started = Instant::now();
        let mut guard = self.state.lock().unwrap();
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let due = state.frame_count % interval as u64 == 0;
        state.frame_count += 1;
        state.frames += 1;
        let infer = match gate(state, &thresholds, &inbuf, due) {
            Ok(infer) => infer,
            Err(e) => {
                // Posted without the lock: a bus handler may read `stats`.
                drop(guard);
                return Err(e.post(&*self.obj()));
            }
        };
        let gated = started.elapsed();
        let ticket = infer.then(|| {
            let mut objects = state.spare.pop().unwrap_or_default();
            let buf = inbuf.clone();
            state.lanes.submit(move |lane: &mut Lane| {
                let started = Instant::now();
                let before = lane.stage.timings.inference;
                let detected = detect(lane, thresholds, &buf, &mut objects);
                // The buffer is released before the answer, so the element
                // writes into it without a copy.
                drop(buf);
                detected.map(|()| Detected {
                    objects,
                    busy: started.elapsed(),
                    inference: lane.stage.timings.inference - before,
                })
            })
        });
        state.pending.push_back(Pending {
            buf: inbuf,
            ticket,
            gated,
        });
        Ok(gst::FlowSuccess::Ok)
    }

    fn generate_output(
        &self,
    ) -> Result<gst_base::subclass::base_transform::GenerateOutputSuccess, gst::FlowError> {
        use gst_base::subclass::base_transform::GenerateOutputSuccess;
        Ok(match self.next_out(false)? {
            Some(buf) => GenerateOutputSuccess::Buffer(buf),
            None => GenerateOutputSuccess::NoOutput,
        })
    }
}

impl OnnxDetect {
    /// The oldest frame with its objects written, once its run is done:
    /// when `all`, or when as many frames are in flight as lanes, it waits
    /// for it; otherwise `None` until it is done.
    fn next_out(&self, all: bool) -> Result<Option<gst::Buffer>, gst::FlowError> {
        let mut guard = self.state.lock().unwrap();
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let full = state.pending.len() >= state.lanes.in_flight();
        let Some(front) = state.pending.front_mut() else {
            return Ok(None);
        };
        let done = front.ticket.as_mut().is_none_or(Ticket::ready);
        if !(all || full || done) {
            return Ok(None);
        }
        let Pending {
            mut buf,
            ticket,
            gated,
        } = state.pending.pop_front().expect("looked at above");
        let started = Instant::now();
        // The lanes never take the state lock: waiting here holds no one up.
        let detected = ticket.map(|t| {
            t.wait()
                .unwrap_or_else(|| Err(Error::Run(format!("a run of {} panicked", state.name))))
        });
        let (found, busy, inference) = match detected {
            None => {
                // An empty list for this frame.
                state.frame.inferred = false;
                state.frame.attach(buf.make_mut());
                (0, Duration::ZERO, Duration::ZERO)
            }
            Some(Ok(Detected {
                mut objects,
                busy,
                inference,
            })) => {
                std::mem::swap(&mut state.frame.objects, &mut objects);
                state.frame.inferred = true;
                state.frame.attach(buf.make_mut());
                std::mem::swap(&mut state.frame.objects, &mut objects);
                if let Some(gate) = &mut state.gate {
                    gate.found = objects.len();
                }
                let found = objects.len();
                state.spare.push(objects);
                (found, busy, inference)
            }
            Some(Err(e)) => {
                drop(guard);
                return Err(e.post(&*self.obj()));
            }
        };
        state
            .metrics
            .objects
            .store(found as u64, std::sync::atomic::Ordering::Relaxed);
        state
            .metrics
            .frame(gated + busy + started.elapsed(), inference);
        Ok(Some(buf))
    }

    /// Pushes every frame in flight, in order (before a serialized event).
    fn drain(&self) {
        loop {
            match self.next_out(true) {
                Ok(Some(buf)) => {
                    if let Err(e) = self.obj().src_pad().push(buf) {
                        gst::debug!(CAT, imp = self, "frames in flight not pushed: {e:?}");
                        self.discard();
                        return;
                    }
                }
                Ok(None) | Err(_) => return,
            }
        }
    }

    /// Drops the frames in flight.
    fn discard(&self) {
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.pending.clear();
        }
    }

    /// Sets up packing for negotiated caps.
    fn configure(&self, incaps: &gst::Caps) -> Result<(), Error> {
        let mut guard = self.state.lock().unwrap();
        let state = guard
            .as_mut()
            .ok_or_else(|| Error::Caps("caps set before the model was loaded".into()))?;
        let video = Video::from_caps(incaps)
            .map_err(|why| Error::Caps(format!("cannot take {incaps}: {why}")))?;
        // No frame is in flight: they were pushed before the caps event.
        let mut configured = Ok(());
        state.lanes.each(|lane| {
            if configured.is_ok() {
                configured = lane.stage.configure(incaps).map(|v| {
                    gst::debug!(
                        CAT,
                        imp = self,
                        "frames {}x{} {:?} placed as {:?}",
                        v.width(),
                        v.height(),
                        v.format(),
                        v.letterbox()
                    );
                });
            }
        });
        configured?;
        let (width, height) = (video.width(), video.height());
        state.frame.width = width;
        state.frame.height = height;
        state.video = Some(video);
        state.gate = state.motion_gate.then(|| Gate {
            motion: MotionDetector::new(width, height, MotionConfig::default()),
            since_run: u32::MAX,
            found: 0,
            moving: 0,
            skipped: 0,
        });
        Ok(())
    }

    /// Loads the model and everything derived from it; errors name the cause.
    fn open(&self, settings: &Settings) -> Result<State, Error> {
        let (path, model) = settings.model.open(Some(assets::default_detector()))?;
        let not_detector = |e: &dyn std::fmt::Display| {
            Error::Unfit(format!("{} is not a usable detector: {e}", path.display()))
        };
        let input = InputSpec::from_model(&model.inputs).map_err(|e| not_detector(&e))?;
        let layout = Layout::detect(&input, &model.outputs, settings.model_type.forced())
            .map_err(|e| not_detector(&e))?;
        let labels = settings
            .model
            .labels(layout.classes(), || default_labels(&model, &layout))?;
        let classes = settings
            .classes
            .resolve(&labels)
            .map_err(|e| Error::Unfit(format!("invalid classes property: {e}")))?;
        let format = TensorFormat {
            planar: input.planar,
            bgr: layout.bgr(),
            scale: layout.pixel_scale(),
            mean: [0.0; 3],
            std: [1.0; 3],
            pad: 114,
        };
        let lanes = (0..settings.in_flight.max(1))
            .map(|_| Lane {
                stage: Stage::new(
                    &path,
                    Arc::clone(&model),
                    input.clone(),
                    layout.fit(),
                    format,
                ),
                decoder: layout.decoder(),
                labels: labels.clone(),
                classes: classes.clone(),
                candidates: Vec::with_capacity(1024),
            })
            .collect();
        let lanes = Lanes::new(lanes, &self.obj().name())
            .map_err(|e| Error::Run(format!("cannot start a thread for frames in flight: {e}")))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(State {
            frame: Frame {
                source: self.obj().name().to_string(),
                model: name.clone(),
                ..Frame::default()
            },
            lanes,
            model,
            name,
            layout,
            labels,
            spare: Vec::new(),
            video: None,
            pending: VecDeque::new(),
            frame_count: 0,
            frames: 0,
            gate: None,
            motion_gate: settings.motion_gate,
            metrics: metrics::register(&*self.obj(), None),
        })
    }

    fn stats(&self) -> gst::Structure {
        let state = self.state.lock().unwrap();
        let Some(state) = state.as_ref() else {
            return gst::Structure::new_empty("onnxdetect/stats");
        };
        let mut timings = Timings::default();
        state.lanes.each(|lane| timings.merge(&lane.stage.timings));
        let mut stats = timings
            .fields(
                gst::Structure::builder("onnxdetect/stats").field("frames", state.frames),
                "",
            )
            .build();
        if let Some(gate) = &state.gate {
            stats.set("motion-frames", gate.moving);
            stats.set("gated-frames", gate.skipped);
        }
        if let Some((runs, frames)) = state.model.batch_counts() {
            // Of the model, so of every instance sharing it.
            stats.set("batches", runs);
            stats.set("batched-frames", frames);
        }
        stats
    }
}

/// The labels of a model without a labels file: its own metadata's, COCO's
/// for COCO-sized outputs, else `class0`, `class1`, ...
fn default_labels(model: &Model, layout: &Layout) -> Vec<String> {
    if let Some(names) = model
        .names
        .as_deref()
        .and_then(cctv::labels::parse_ultralytics_names)
    {
        names
    } else if layout.coco91() {
        cctv::labels::coco91()
    } else if layout
        .classes()
        .is_none_or(|n| n == cctv::labels::COCO80.len())
    {
        cctv::labels::COCO80.iter().map(|s| s.to_string()).collect()
    } else {
        (0..layout.classes().unwrap_or(0))
            .map(|i| format!("class{i}"))
            .collect()
    }
}

/// Whether the detector runs on the frame in `buf`: when `due` by the
/// interval and, with the motion gate, when the gate opens; the motion
/// detector sees every frame.
fn gate(
    state: &mut State,
    thresholds: &Thresholds,
    buf: &gst::BufferRef,
    due: bool,
) -> Result<bool, Error> {
    let video = state
        .video
        .as_ref()
        .ok_or_else(|| Error::Caps("received a buffer before caps".into()))?;
    let Some(gate) = &mut state.gate else {
        return Ok(due);
    };
    gate.motion.set_config(MotionConfig {
        threshold: thresholds.motion_threshold,
        ..MotionConfig::default()
    });
    let mapped = video
        .map(buf)
        .map_err(|why| Error::Input(format!("cannot read the frame: {why}")))?;
    let moving = gate.motion.update(&video.image(&mapped)).moving;
    gate.moving += moving as u64;
    Ok(due && gate.opens(moving, thresholds.motion_refresh))
}

/// Runs the model on the frame in `buf` and fills `objects`.
fn detect(
    lane: &mut Lane,
    thresholds: Thresholds,
    buf: &gst::BufferRef,
    objects: &mut Vec<Object>,
) -> Result<(), Error> {
    let (decoder, input, candidates) = (&lane.decoder, &lane.stage.input, &mut lane.candidates);
    let (width, height) = (input.width, input.height);
    lane.stage.run(
        |video, tensor| video.pack(buf, tensor),
        |outputs: &[Output<'_>]| {
            candidates.clear();
            decoder
                .decode(outputs, width, height, thresholds.conf, candidates)
                .map_err(Error::from)
        },
    )?;
    let decoded = Instant::now();
    let classes = &lane.classes;
    lane.candidates.retain(|d| classes.keeps(d.class_id));
    let max = thresholds.max_detections as usize;
    if lane.decoder.needs_nms() {
        cctv::nms::nms(&mut lane.candidates, thresholds.iou, max);
    } else {
        lane.candidates
            .sort_unstable_by(|a, b| b.score.total_cmp(&a.score));
        lane.candidates.truncate(max);
    }
    let letterbox = lane.stage.video()?.letterbox();
    fill_objects(objects, &lane.candidates, &letterbox, &lane.labels);
    // Suppression and mapping are post-processing too.
    lane.stage.timings.postprocess += decoded.elapsed();
    Ok(())
}

/// Refills `objects` with the detections mapped to the frame, reusing the
/// objects already there. Empty boxes (degenerate rows, boxes wholly in the
/// padding) are not objects.
fn fill_objects(
    objects: &mut Vec<Object>,
    detections: &[Detection],
    letterbox: &Letterbox,
    labels: &[String],
) {
    let mut n = 0;
    for d in detections {
        let bbox = letterbox.to_frame(&d.bbox);
        if bbox.area() <= 0.0 {
            continue;
        }
        let label = labels.get(d.class_id as usize).map_or("", String::as_str);
        match objects.get_mut(n) {
            Some(o) => o.reset(bbox, d.class_id, label, d.score),
            None => objects.push(Object::new(bbox, d.class_id, label, d.score)),
        }
        n += 1;
    }
    objects.truncate(n);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate() -> Gate {
        Gate {
            motion: MotionDetector::new(64, 48, MotionConfig::default()),
            since_run: u32::MAX,
            found: 0,
            moving: 0,
            skipped: 0,
        }
    }

    #[test]
    fn the_gate_opens_first_on_motion_and_to_refresh_what_it_found() {
        let mut g = gate();
        let runs = |g: &mut Gate, moving: &[bool]| -> Vec<bool> {
            moving.iter().map(|&m| g.opens(m, 3)).collect()
        };
        // The first frame runs; then only motion opens an empty scene.
        assert_eq!(
            runs(&mut g, &[false, false, false, false, true, false]),
            [true, false, false, false, true, false]
        );
        // Once objects were found, every third frame runs without motion.
        g.found = 2;
        assert_eq!(
            runs(&mut g, &[false, false, false, false, false, false]),
            [false, true, false, false, true, false]
        );
        assert_eq!(g.skipped, 4 + 4);
    }
}
