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
//! there by default.

use std::sync::{Arc, LazyLock, Mutex};
use std::time::Instant;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

use cctv::detect::{Decoder, Detection, InputSpec, Layout, LayoutKind, Output};
use cctv::labels::{ClassFilter, ClassMask};
use cctv::letterbox::Letterbox;
use cctv::meta::{Frame, Object};
use cctv::motion::{MotionConfig, MotionDetector};
use cctv::preprocess::TensorFormat;

use crate::inference::{Error, Model, ModelProperties, ModelSettings, Stage};
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

struct State {
    stage: Stage,
    layout: Layout,
    decoder: Box<dyn Decoder>,
    labels: Vec<String>,
    classes: ClassMask,
    candidates: Vec<Detection>,
    /// The metadata written on every buffer; its object list is refilled.
    frame: Frame,
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
            "loaded {} ({}; input {} {}x{}, {} labels)",
            state.stage.name,
            state.layout.name(),
            state.stage.input.name,
            state.stage.input.width,
            state.stage.input.height,
            state.labels.len()
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
        if let gst::EventView::FlushStop(_) = event.view()
            && let Some(state) = self.state.lock().unwrap().as_mut()
        {
            state.frame_count = 0;
            if let Some(gate) = &mut state.gate {
                // Another scene: a new background, and a run at once.
                gate.motion.reset();
                gate.since_run = u32::MAX;
            }
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        // Only the settings a running stream may change are copied. Nothing
        // here allocates once the first frames have sized the buffers, except
        // the GstStructure the metadata is written into.
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
        let inference_before = state.stage.timings.inference;
        let due = state.frame_count % interval as u64 == 0;
        state.frame_count += 1;
        state.frames += 1;
        let detected = gate(state, &thresholds, buf, due).and_then(|infer| {
            state.frame.inferred = infer;
            match infer {
                true => detect(state, thresholds, buf),
                false => Ok(()),
            }
        });
        let infer = state.frame.inferred;
        if let Err(e) = detected {
            // Posted without the lock: a bus handler may read `stats`.
            drop(guard);
            return Err(e.post(&*self.obj()));
        }
        if infer {
            state.frame.attach(buf);
        } else {
            // An empty list for this frame; the filled one is kept for reuse.
            let objects = std::mem::take(&mut state.frame.objects);
            state.frame.attach(buf);
            state.frame.objects = objects;
        }
        let objects = if infer { state.frame.objects.len() } else { 0 };
        state
            .metrics
            .objects
            .store(objects as u64, std::sync::atomic::Ordering::Relaxed);
        state.metrics.frame(
            started.elapsed(),
            state.stage.timings.inference - inference_before,
        );
        Ok(gst::FlowSuccess::Ok)
    }
}

impl OnnxDetect {
    /// Sets up packing for negotiated caps.
    fn configure(&self, incaps: &gst::Caps) -> Result<(), Error> {
        let mut guard = self.state.lock().unwrap();
        let state = guard
            .as_mut()
            .ok_or_else(|| Error::Caps("caps set before the model was loaded".into()))?;
        let video = state.stage.configure(incaps)?;
        gst::debug!(
            CAT,
            imp = self,
            "frames {}x{} {:?} placed as {:?}",
            video.width(),
            video.height(),
            video.format(),
            video.letterbox()
        );
        let (width, height) = (video.width(), video.height());
        state.frame.width = width;
        state.frame.height = height;
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
        let stage = Stage::new(&path, model, input, layout.fit(), format);
        Ok(State {
            frame: Frame {
                source: self.obj().name().to_string(),
                model: stage.name.clone(),
                ..Frame::default()
            },
            stage,
            decoder: layout.decoder(),
            layout,
            labels,
            classes,
            candidates: Vec::with_capacity(1024),
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
        let mut stats = state
            .stage
            .timings
            .fields(
                gst::Structure::builder("onnxdetect/stats").field("frames", state.frames),
                "",
            )
            .build();
        if let Some(gate) = &state.gate {
            stats.set("motion-frames", gate.moving);
            stats.set("gated-frames", gate.skipped);
        }
        if let Some((runs, frames)) = state.stage.model.batch_counts() {
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
    let video = state.stage.video()?;
    let Some(gate) = &mut state.gate else {
        return Ok(due);
    };
    gate.motion.set_config(MotionConfig {
        threshold: thresholds.motion_threshold,
        ..MotionConfig::default()
    });
    let moving = video
        .look(buf, |image| gate.motion.update(image).moving)
        .map_err(|why| Error::Input(format!("cannot read the frame: {why}")))?;
    gate.moving += moving as u64;
    Ok(due && gate.opens(moving, thresholds.motion_refresh))
}

/// Runs the model on the frame in `buf` and fills `state.frame.objects`.
fn detect(state: &mut State, thresholds: Thresholds, buf: &gst::BufferRef) -> Result<(), Error> {
    let (decoder, input, candidates) = (&state.decoder, &state.stage.input, &mut state.candidates);
    let (width, height) = (input.width, input.height);
    state.stage.run(
        |video, tensor| video.pack(buf, tensor),
        |outputs: &[Output<'_>]| {
            candidates.clear();
            decoder
                .decode(outputs, width, height, thresholds.conf, candidates)
                .map_err(Error::from)
        },
    )?;
    let decoded = Instant::now();
    let classes = &state.classes;
    state.candidates.retain(|d| classes.keeps(d.class_id));
    let max = thresholds.max_detections as usize;
    if state.decoder.needs_nms() {
        cctv::nms::nms(&mut state.candidates, thresholds.iou, max);
    } else {
        state
            .candidates
            .sort_unstable_by(|a, b| b.score.total_cmp(&a.score));
        state.candidates.truncate(max);
    }
    let letterbox = state.stage.video()?.letterbox();
    fill_objects(
        &mut state.frame.objects,
        &state.candidates,
        &letterbox,
        &state.labels,
    );
    if let Some(gate) = &mut state.gate {
        gate.found = state.frame.objects.len();
    }
    // Suppression and mapping are post-processing too.
    state.stage.timings.postprocess += decoded.elapsed();
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
