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
//! or forced with `model-type`. Frames the detector skips carry metadata
//! with `inferred=false` and no objects.

use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

use cctv::detect::{Decoder, Detection, InputSpec, Layout, LayoutKind, Output};
use cctv::labels::{ClassFilter, ClassMask};
use cctv::letterbox::Letterbox;
use cctv::meta::{Frame, Object};
use cctv::preprocess::TensorFormat;

use crate::inference::{
    self, BatchOptions, ExecutionProvider, InputTensor, Model, OutputScratch, SessionOptions,
    Timings, VideoInput,
};
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
const DEFAULT_THREADS: u32 = 0;
const DEFAULT_SESSIONS: u32 = 0;
const DEFAULT_BATCH_SIZE: u32 = 0;
const DEFAULT_BATCH_TIMEOUT_MS: u32 = 10;
/// `batch-size` 0 on a provider other than the CPU.
const AUTO_BATCH: u32 = 16;
const DEFAULT_MAX_DETECTIONS: u32 = 100;

#[derive(Debug, Clone)]
struct Settings {
    model: Option<String>,
    labels: Option<String>,
    model_type: ModelType,
    conf_threshold: f32,
    iou_threshold: f32,
    classes: ClassFilter,
    interval: u32,
    threads: u32,
    sessions: u32,
    batch_size: u32,
    batch_timeout_ms: u32,
    execution_provider: ExecutionProvider,
    max_detections: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model: None,
            labels: None,
            model_type: ModelType::Auto,
            conf_threshold: DEFAULT_CONF_THRESHOLD as f32,
            iou_threshold: DEFAULT_IOU_THRESHOLD as f32,
            classes: ClassFilter::default(),
            interval: DEFAULT_INTERVAL,
            threads: DEFAULT_THREADS,
            sessions: DEFAULT_SESSIONS,
            batch_size: DEFAULT_BATCH_SIZE,
            batch_timeout_ms: DEFAULT_BATCH_TIMEOUT_MS,
            execution_provider: ExecutionProvider::Cpu,
            max_detections: DEFAULT_MAX_DETECTIONS,
        }
    }
}

/// The decoding settings of one frame, copied out of the settings lock.
#[derive(Debug, Clone, Copy)]
struct Thresholds {
    conf: f32,
    iou: f32,
    max_detections: u32,
}

struct State {
    model: Arc<Model>,
    model_name: String,
    layout: Layout,
    decoder: Box<dyn Decoder>,
    input: InputSpec,
    labels: Vec<String>,
    classes: ClassMask,
    /// Negotiated frames and their packing, from `set_caps`.
    video: Option<VideoInput>,
    tensor: InputTensor,
    outputs: OutputScratch,
    candidates: Vec<Detection>,
    /// The metadata written on every buffer; its object list is refilled.
    frame: Frame,
    frame_count: u64,
    timings: Timings,
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
            vec![
                glib::ParamSpecString::builder("model")
                    .nick("Model")
                    .blurb("ONNX detector file (default: the bundled YOLOX-Nano COCO model)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("labels")
                    .nick("Labels")
                    .blurb("Class names file, one per line (default: from the model's metadata, else COCO)")
                    .mutable_ready()
                    .build(),
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
                glib::ParamSpecUInt::builder("threads")
                    .nick("Threads")
                    .blurb("ONNX Runtime intra-op threads (0: one per physical core)")
                    .maximum(256)
                    .default_value(DEFAULT_THREADS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("sessions")
                    .nick("Sessions")
                    .blurb("ONNX Runtime sessions of the model, shared by every instance with the same model and options: \
                            this many cameras of one process run inference at once (0: one session, and a one-thread session \
                            more whenever all are busy, up to one per core)")
                    .maximum(64)
                    .default_value(DEFAULT_SESSIONS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("batch-size")
                    .nick("Batch size")
                    .blurb("Most frames of several instances (cameras) sharing the model run as one batch, \
                            as many as have sent frames in the last second (1: no batching; 0: none on the CPU, \
                            where parallel sessions are faster, and up to 16 on other providers if the model has \
                            a free batch dimension)")
                    .maximum(256)
                    .default_value(DEFAULT_BATCH_SIZE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("batch-timeout")
                    .nick("Batch timeout")
                    .blurb("Longest wait (ms) of a batch's first frame for the other cameras' frames")
                    .maximum(1000)
                    .default_value(DEFAULT_BATCH_TIMEOUT_MS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("execution-provider", d.execution_provider)
                    .nick("Execution provider")
                    .blurb("Where inference runs; non-CPU providers need an ONNX Runtime built with them")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-detections")
                    .nick("Max detections")
                    .blurb("Most detections kept per frame, best first")
                    .minimum(1)
                    .maximum(10_000)
                    .default_value(DEFAULT_MAX_DETECTIONS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("Frames, inferences and mean per-frame times (ms) of pre-processing, inference and post-processing")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "model" => s.model = value.get().expect("type checked upstream"),
            "labels" => s.labels = value.get().expect("type checked upstream"),
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
            "threads" => s.threads = value.get().expect("type checked upstream"),
            "sessions" => s.sessions = value.get().expect("type checked upstream"),
            "batch-size" => s.batch_size = value.get().expect("type checked upstream"),
            "batch-timeout" => s.batch_timeout_ms = value.get().expect("type checked upstream"),
            "execution-provider" => {
                s.execution_provider = value.get().expect("type checked upstream")
            }
            "max-detections" => s.max_detections = value.get().expect("type checked upstream"),
            other => unreachable!("unknown property {other}"),
        }
        gst::debug!(CAT, imp = self, "{} set to {:?}", pspec.name(), value);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "model" => s.model.to_value(),
            "labels" => s.labels.to_value(),
            "model-type" => s.model_type.to_value(),
            "conf-threshold" => (s.conf_threshold as f64).to_value(),
            "iou-threshold" => (s.iou_threshold as f64).to_value(),
            "classes" => s.classes.spec().to_value(),
            "interval" => s.interval.to_value(),
            "sessions" => s.sessions.to_value(),
            "batch-size" => s.batch_size.to_value(),
            "batch-timeout" => s.batch_timeout_ms.to_value(),
            "threads" => s.threads.to_value(),
            "execution-provider" => s.execution_provider.to_value(),
            "max-detections" => s.max_detections.to_value(),
            "stats" => {
                drop(s);
                self.stats_structure().to_value()
            }
            other => unreachable!("unknown property {other}"),
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
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = crate::video::caps();
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

impl BaseTransformImpl for OnnxDetect {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let state = self.open(&settings)?;
        gst::info!(
            CAT,
            imp = self,
            "loaded {} ({}; input {} {}x{}, {} labels)",
            state.model_name,
            state.layout.name(),
            state.input.name,
            state.input.width,
            state.input.height,
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
        self.configure(incaps).map_err(|why| {
            gst::element_imp_error!(
                self,
                gst::StreamError::Format,
                ["Cannot detect on {}: {}", incaps, why]
            );
            gst::loggable_error!(CAT, "caps {} refused: {}", incaps, why)
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
                },
            )
        };
        let started = std::time::Instant::now();
        let mut guard = self.state.lock().unwrap();
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let inference_before = state.timings.inference;
        let infer = state.frame_count % interval as u64 == 0;
        state.frame_count += 1;
        state.timings.frames += 1;
        if state.video.is_none() {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                ["Received a buffer before caps"]
            );
            return Err(gst::FlowError::NotNegotiated);
        }
        state.frame.inferred = infer;
        if infer {
            self.detect(state, thresholds, buf)?;
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
            state.timings.inference - inference_before,
        );
        Ok(gst::FlowSuccess::Ok)
    }
}

impl OnnxDetect {
    /// Sets up packing for negotiated caps; the reason when they cannot be handled.
    fn configure(&self, incaps: &gst::Caps) -> Result<(), String> {
        let mut guard = self.state.lock().unwrap();
        let state = guard
            .as_mut()
            .ok_or("caps set before the model was loaded")?;
        let tensor = TensorFormat {
            planar: state.input.planar,
            bgr: state.layout.bgr(),
            scale: state.layout.pixel_scale(),
            mean: [0.0; 3],
            std: [1.0; 3],
            pad: 114,
        };
        let video = VideoInput::new(incaps, &state.input, state.layout.fit(), tensor)?;
        gst::debug!(
            CAT,
            imp = self,
            "frames {}x{} {:?} placed as {:?}",
            video.width(),
            video.height(),
            video.format(),
            video.letterbox()
        );
        state.frame.width = video.width();
        state.frame.height = video.height();
        state.video = Some(video);
        Ok(())
    }

    /// Loads the model and everything derived from it; errors name the cause.
    fn open(&self, settings: &Settings) -> Result<State, gst::ErrorMessage> {
        let path = settings
            .model
            .as_ref()
            .map(PathBuf::from)
            .unwrap_or_else(assets::default_detector);
        if settings.model.is_none() && !path.exists() {
            return Err(gst::error_msg!(
                gst::ResourceError::NotFound,
                [
                    "Bundled model {} not found: run {}",
                    path.display(),
                    assets::FETCH_COMMAND
                ]
            ));
        }
        let mut options = SessionOptions {
            path: path.clone(),
            threads: settings.threads,
            provider: settings.execution_provider,
            sessions: settings.sessions,
            batch: BatchOptions {
                max: settings.batch_size,
                wait: Duration::from_millis(settings.batch_timeout_ms.into()),
            },
        };
        if settings.batch_size == 0 {
            options.batch.max = match settings.execution_provider {
                ExecutionProvider::Cpu => 1,
                _ => AUTO_BATCH,
            };
        }
        let model = match inference::load(&options) {
            // Batching by default needs a model that takes batches.
            Err(e) if settings.batch_size == 0 && options.batch.max > 1 => {
                gst::info!(CAT, imp = self, "no batches: {}", e);
                options.batch.max = 1;
                inference::load(&options)
            }
            loaded => loaded,
        }
        .map_err(|e| gst::error_msg!(gst::ResourceError::OpenRead, ["{}", e]))?;

        let not_detector = |e: &dyn std::fmt::Display| {
            gst::error_msg!(
                gst::ResourceError::Settings,
                ["{} is not a usable detector: {}", path.display(), e]
            )
        };
        let input = InputSpec::from_model(&model.inputs).map_err(|e| not_detector(&e))?;
        let layout = Layout::detect(&input, &model.outputs, settings.model_type.forced())
            .map_err(|e| not_detector(&e))?;
        let labels = self.labels(settings, &model, &layout)?;
        let classes = settings.classes.resolve(&labels).map_err(|e| {
            gst::error_msg!(
                gst::ResourceError::Settings,
                ["Invalid classes property: {}", e]
            )
        })?;
        let model_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(State {
            frame: Frame {
                source: self.obj().name().to_string(),
                model: model_name.clone(),
                ..Frame::default()
            },
            model_name,
            decoder: layout.decoder(),
            tensor: InputTensor::new(&input),
            layout,
            input,
            labels,
            classes,
            video: None,
            outputs: OutputScratch::default(),
            candidates: Vec::with_capacity(1024),
            frame_count: 0,
            timings: Timings::default(),
            metrics: metrics::register(&*self.obj(), None),
            model,
        })
    }

    fn labels(
        &self,
        settings: &Settings,
        model: &Model,
        layout: &Layout,
    ) -> Result<Vec<String>, gst::ErrorMessage> {
        let labels = if let Some(file) = &settings.labels {
            let text = std::fs::read_to_string(file).map_err(|e| {
                gst::error_msg!(
                    gst::ResourceError::OpenRead,
                    ["Cannot read labels file {}: {}", file, e]
                )
            })?;
            let labels = cctv::labels::parse_label_file(&text);
            if let Some(n) = layout.classes()
                && n != labels.len()
            {
                return Err(gst::error_msg!(
                    gst::ResourceError::Settings,
                    [
                        "Labels file {} has {} names but the model has {} classes",
                        file,
                        labels.len(),
                        n
                    ]
                ));
            }
            labels
        } else if let Some(names) = model
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
        };
        Ok(labels)
    }

    /// Runs the model on the frame in `buf` and fills `state.frame.objects`.
    fn detect(
        &self,
        state: &mut State,
        thresholds: Thresholds,
        buf: &gst::BufferRef,
    ) -> Result<(), gst::FlowError> {
        let start = Instant::now();
        let video = state.video.as_mut().expect("checked by the caller");
        if let Err(e) = video.pack(buf, &mut state.tensor) {
            gst::element_imp_error!(
                self,
                gst::StreamError::Format,
                ["Cannot read the frame: {}", e]
            );
            return Err(gst::FlowError::Error);
        }
        let packed = Instant::now();
        let mut inferred = packed;
        let (decoder, input, candidates) = (&state.decoder, &state.input, &mut state.candidates);
        let decoded = state
            .model
            .run(
                &state.tensor,
                &mut state.outputs,
                |outputs: &[Output<'_>]| {
                    inferred = Instant::now();
                    candidates.clear();
                    decoder.decode(
                        outputs,
                        input.width,
                        input.height,
                        thresholds.conf,
                        candidates,
                    )
                },
            )
            .map_err(|e| {
                gst::element_imp_error!(
                    self,
                    gst::LibraryError::Failed,
                    ["{} on {}", e, state.model_name]
                );
                gst::FlowError::Error
            })?;
        if let Err(e) = decoded {
            gst::element_imp_error!(
                self,
                gst::StreamError::Decode,
                ["Cannot decode the output of {}: {}", state.model_name, e]
            );
            return Err(gst::FlowError::Error);
        }
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
        fill_objects(
            &mut state.frame.objects,
            &state.candidates,
            &video.letterbox(),
            &state.labels,
        );
        state
            .timings
            .add_run([start, packed, inferred, Instant::now()]);
        gst::trace!(CAT, imp = self, "{} detections", state.frame.objects.len());
        Ok(())
    }

    fn stats_structure(&self) -> gst::Structure {
        let state = self.state.lock().unwrap();
        let timings = state.as_ref().map(|s| s.timings).unwrap_or_default();
        let mut stats = timings.to_structure("onnxdetect-stats");
        if let Some((runs, frames)) = state.as_ref().and_then(|s| s.model.batch_counts()) {
            // Of the model, so of every instance sharing it.
            stats.set("batches", runs);
            stats.set("batched-frames", frames);
        }
        stats
    }
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
