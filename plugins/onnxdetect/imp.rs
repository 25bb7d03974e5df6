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
use gst_video::prelude::*;

use cctv::detect::{Decoder, Detection, ElementType, InputSpec, Layout, LayoutKind, Output};
use cctv::letterbox::Letterbox;
use cctv::meta::{Frame, Object};
use cctv::preprocess::{Image, Packer, PixelFormat, TensorFormat, YuvMatrix};
use ort::value::TensorRef;

use crate::assets;
use crate::inference::{self, ExecutionProvider, Model, SessionOptions};

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
const DEFAULT_MAX_DETECTIONS: u32 = 100;

#[derive(Debug, Clone)]
struct Settings {
    model: Option<String>,
    labels: Option<String>,
    model_type: ModelType,
    conf_threshold: f32,
    iou_threshold: f32,
    classes: String,
    interval: u32,
    threads: u32,
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
            classes: String::new(),
            interval: DEFAULT_INTERVAL,
            threads: DEFAULT_THREADS,
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

/// Time spent per stage, for the `stats` property and the benchmark.
#[derive(Debug, Default, Clone)]
struct Stats {
    frames: u64,
    inferred: u64,
    preprocess: Duration,
    inference: Duration,
    postprocess: Duration,
}

/// Input tensor storage, reused across frames.
enum InputBuffer {
    F32(Vec<f32>),
    F16(Vec<f32>, Vec<half::f16>),
    U8(Vec<u8>),
}

struct State {
    model: Arc<Model>,
    model_name: String,
    layout: Layout,
    decoder: Box<dyn Decoder>,
    input: InputSpec,
    labels: Vec<String>,
    /// Per class id: reported or filtered out; empty means all classes.
    wanted: Vec<bool>,
    /// Negotiated frames and their packing, from `set_caps`.
    info: Option<gst_video::VideoInfo>,
    packer: Option<Packer>,
    tensor: InputBuffer,
    /// Decoded outputs converted from float16, reused.
    f16_outputs: Vec<Vec<f32>>,
    candidates: Vec<Detection>,
    frame_count: u64,
    stats: Stats,
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
                s.classes = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .unwrap_or_default()
            }
            "interval" => s.interval = value.get().expect("type checked upstream"),
            "threads" => s.threads = value.get().expect("type checked upstream"),
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
            "classes" => s.classes.to_value(),
            "interval" => s.interval.to_value(),
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
            let caps = gst_video::VideoCapsBuilder::new()
                .format_list([
                    gst_video::VideoFormat::Rgb,
                    gst_video::VideoFormat::Bgr,
                    gst_video::VideoFormat::Rgbx,
                    gst_video::VideoFormat::Bgrx,
                    gst_video::VideoFormat::Xrgb,
                    gst_video::VideoFormat::Xbgr,
                    gst_video::VideoFormat::Rgba,
                    gst_video::VideoFormat::Bgra,
                    gst_video::VideoFormat::Argb,
                    gst_video::VideoFormat::Abgr,
                    gst_video::VideoFormat::I420,
                    gst_video::VideoFormat::Nv12,
                ])
                .build();
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

    fn sink_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::FlushStop(_) = event.view()
            && let Some(state) = self.state.lock().unwrap().as_mut()
        {
            state.frame_count = 0;
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        // Only the settings a running stream may change; no allocation per frame.
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
        let mut guard = self.state.lock().unwrap();
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let infer = state.frame_count % interval as u64 == 0;
        state.frame_count += 1;
        state.stats.frames += 1;

        let mut frame = Frame {
            source: self.obj().name().to_string(),
            model: state.model_name.clone(),
            inferred: infer,
            ..Frame::default()
        };
        let Some(packer) = state.packer.as_ref() else {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                ["Received a buffer before caps"]
            );
            return Err(gst::FlowError::NotNegotiated);
        };
        frame.width = packer.letterbox.src_w;
        frame.height = packer.letterbox.src_h;
        if infer {
            self.detect(state, thresholds, buf, &mut frame)?;
        }
        frame.attach(buf);
        Ok(gst::FlowSuccess::Ok)
    }
}

fn pixel_format(format: gst_video::VideoFormat) -> Option<PixelFormat> {
    use gst_video::VideoFormat as F;
    Some(match format {
        F::Rgb => PixelFormat::Rgb,
        F::Bgr => PixelFormat::Bgr,
        F::Rgbx => PixelFormat::Rgbx,
        F::Bgrx => PixelFormat::Bgrx,
        F::Xrgb => PixelFormat::Xrgb,
        F::Xbgr => PixelFormat::Xbgr,
        F::Rgba => PixelFormat::Rgba,
        F::Bgra => PixelFormat::Bgra,
        F::Argb => PixelFormat::Argb,
        F::Abgr => PixelFormat::Abgr,
        F::I420 => PixelFormat::I420,
        F::Nv12 => PixelFormat::Nv12,
        _ => return None,
    })
}

impl OnnxDetect {
    /// Sets up packing for negotiated caps; the reason when they cannot be handled.
    fn configure(&self, incaps: &gst::Caps) -> Result<(), String> {
        let info =
            gst_video::VideoInfo::from_caps(incaps).map_err(|_| "not video caps".to_string())?;
        if info.width() == 0 || info.height() == 0 {
            return Err(format!(
                "zero-sized frames ({}x{})",
                info.width(),
                info.height()
            ));
        }
        let format = pixel_format(info.format())
            .ok_or_else(|| format!("unsupported format {:?}", info.format()))?;
        let matrix = match info.colorimetry().matrix() {
            gst_video::VideoColorMatrix::Bt709 => YuvMatrix::Bt709,
            _ => YuvMatrix::Bt601,
        };
        let mut guard = self.state.lock().unwrap();
        let state = guard
            .as_mut()
            .ok_or("caps set before the model was loaded")?;
        let letterbox = Letterbox::new(
            info.width(),
            info.height(),
            state.input.width,
            state.input.height,
            state.layout.fit(),
        );
        let tensor = TensorFormat {
            planar: state.input.planar,
            bgr: state.layout.bgr(),
            scale: state.layout.pixel_scale(),
            mean: [0.0; 3],
            std: [1.0; 3],
            pad: 114,
        };
        gst::debug!(
            CAT,
            imp = self,
            "frames {}x{} {:?} placed as {:?}",
            info.width(),
            info.height(),
            format,
            letterbox
        );
        state.packer = Some(Packer::new(letterbox, format, matrix, tensor));
        state.info = Some(info);
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
        let model = inference::load(&SessionOptions {
            path: path.clone(),
            threads: settings.threads,
            provider: settings.execution_provider,
        })
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
        let wanted = wanted_classes(&settings.classes, &labels).map_err(|e| {
            gst::error_msg!(
                gst::ResourceError::Settings,
                ["Invalid classes property: {}", e]
            )
        })?;
        let len = 3 * (input.width * input.height) as usize;
        let tensor = match input.ty {
            ElementType::U8 => InputBuffer::U8(vec![0; len]),
            ElementType::F16 => InputBuffer::F16(vec![0.0; len], vec![half::f16::ZERO; len]),
            _ => InputBuffer::F32(vec![0.0; len]),
        };
        Ok(State {
            model_name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            decoder: layout.decoder(),
            layout,
            input,
            labels,
            wanted,
            info: None,
            packer: None,
            tensor,
            f16_outputs: Vec::new(),
            candidates: Vec::with_capacity(1024),
            frame_count: 0,
            stats: Stats::default(),
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

    fn detect(
        &self,
        state: &mut State,
        thresholds: Thresholds,
        buf: &gst::BufferRef,
        frame: &mut Frame,
    ) -> Result<(), gst::FlowError> {
        let packer = state.packer.as_mut().expect("checked by the caller");
        let info = state.info.as_ref().expect("set with the packer");
        let t0 = Instant::now();
        let video =
            gst_video::VideoFrameRef::from_buffer_ref_readable(buf, info).map_err(|_| {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Format,
                    ["Cannot map the video frame"]
                );
                gst::FlowError::Error
            })?;
        let mut planes: [&[u8]; 3] = [&[], &[], &[]];
        let mut strides = [0usize; 3];
        for p in 0..(video.n_planes() as usize).min(3) {
            planes[p] = video.plane_data(p as u32).unwrap_or(&[]);
            strides[p] = video.plane_stride()[p].max(0) as usize;
        }
        let image = Image {
            format: packer.format(),
            width: packer.letterbox.src_w,
            height: packer.letterbox.src_h,
            planes,
            strides,
        };
        let packed = match &mut state.tensor {
            InputBuffer::F32(t) => packer.pack_planar(&image, t),
            InputBuffer::F16(t, h) => packer.pack_planar(&image, t).map(|()| {
                for (o, v) in h.iter_mut().zip(t.iter()) {
                    *o = half::f16::from_f32(*v);
                }
            }),
            InputBuffer::U8(t) => packer.pack_interleaved(&image, t),
        };
        drop(video);
        if let Err(e) = packed {
            gst::element_imp_error!(
                self,
                gst::StreamError::Format,
                ["Cannot read the frame: {}", e]
            );
            return Err(gst::FlowError::Error);
        }
        let t1 = Instant::now();

        let (w, h) = (state.input.width as usize, state.input.height as usize);
        let shape = if state.input.planar {
            [1, 3, h, w]
        } else {
            [1, h, w, 3]
        };
        let input_value = match &state.tensor {
            InputBuffer::F32(t) => {
                TensorRef::from_array_view((shape, &t[..])).map(|t| t.into_dyn())
            }
            InputBuffer::F16(_, t) => {
                TensorRef::from_array_view((shape, &t[..])).map(|t| t.into_dyn())
            }
            InputBuffer::U8(t) => TensorRef::from_array_view((shape, &t[..])).map(|t| t.into_dyn()),
        };
        let input_value = input_value.map_err(|e| {
            gst::element_imp_error!(
                self,
                gst::LibraryError::Failed,
                ["Cannot build the input tensor: {}", e]
            );
            gst::FlowError::Error
        })?;
        let mut session = state.model.session.lock().unwrap();
        let outputs = session
            .run(ort::inputs![state.input.name.as_str() => input_value])
            .map_err(|e| {
                gst::element_imp_error!(
                    self,
                    gst::LibraryError::Failed,
                    ["Inference failed on {}: {}", state.model_name, e]
                );
                gst::FlowError::Error
            })?;
        let t2 = Instant::now();

        // Outputs as float slices; float16 ones are converted into reused buffers.
        // float16 outputs are converted into reused buffers first.
        let model = Arc::clone(&state.model);
        state.f16_outputs.resize_with(model.outputs.len(), Vec::new);
        for (info, buf) in model.outputs.iter().zip(&mut state.f16_outputs) {
            if info.ty == ElementType::F16
                && let Some(Ok((_, data))) = outputs
                    .get(info.name.as_str())
                    .map(|v| v.try_extract_tensor::<half::f16>())
            {
                buf.clear();
                buf.extend(data.iter().map(|v| v.to_f32()));
            }
        }
        let decoded: Vec<Output<'_>> = model
            .outputs
            .iter()
            .zip(&state.f16_outputs)
            .filter_map(|(info, converted)| {
                let value = outputs.get(info.name.as_str())?;
                let (shape, data) = match info.ty {
                    ElementType::F16 => (
                        value.try_extract_tensor::<half::f16>().ok()?.0,
                        &converted[..],
                    ),
                    _ => value.try_extract_tensor::<f32>().ok()?,
                };
                Some(Output {
                    name: &info.name,
                    shape,
                    data,
                })
            })
            .collect();
        state.candidates.clear();
        let result = state.decoder.decode(
            &decoded,
            state.input.width,
            state.input.height,
            thresholds.conf,
            &mut state.candidates,
        );
        drop(decoded);
        drop(outputs);
        drop(session);
        if let Err(e) = result {
            gst::element_imp_error!(
                self,
                gst::StreamError::Decode,
                ["Cannot decode the output of {}: {}", state.model_name, e]
            );
            return Err(gst::FlowError::Error);
        }
        if !state.wanted.is_empty() {
            let wanted = &state.wanted;
            state
                .candidates
                .retain(|d| wanted.get(d.class_id as usize).copied().unwrap_or(false));
        }
        let max = thresholds.max_detections as usize;
        if state.decoder.needs_nms() {
            cctv::nms::nms(&mut state.candidates, thresholds.iou, max);
        } else {
            state
                .candidates
                .sort_unstable_by(|a, b| b.score.total_cmp(&a.score));
            state.candidates.truncate(max);
        }
        let letterbox = packer.letterbox;
        frame.objects = state
            .candidates
            .iter()
            .filter_map(|d| {
                // Empty boxes (degenerate rows, boxes wholly in the padding) are not objects.
                let bbox = letterbox.to_frame(&d.bbox);
                let label = state
                    .labels
                    .get(d.class_id as usize)
                    .map(String::as_str)
                    .unwrap_or("");
                (bbox.area() > 0.0).then(|| Object::new(bbox, d.class_id, label, d.score))
            })
            .collect();
        let t3 = Instant::now();
        let stats = &mut state.stats;
        stats.inferred += 1;
        stats.preprocess += t1 - t0;
        stats.inference += t2 - t1;
        stats.postprocess += t3 - t2;
        gst::trace!(CAT, imp = self, "{} detections", frame.objects.len());
        Ok(())
    }

    fn stats_structure(&self) -> gst::Structure {
        let stats = self
            .state
            .lock()
            .unwrap()
            .as_ref()
            .map(|s| s.stats.clone())
            .unwrap_or_default();
        let mean_ms = |d: Duration| {
            if stats.inferred == 0 {
                0.0
            } else {
                d.as_secs_f64() * 1000.0 / stats.inferred as f64
            }
        };
        gst::Structure::builder("onnxdetect-stats")
            .field("frames", stats.frames)
            .field("inferred", stats.inferred)
            .field("preprocess-ms", mean_ms(stats.preprocess))
            .field("inference-ms", mean_ms(stats.inference))
            .field("postprocess-ms", mean_ms(stats.postprocess))
            .build()
    }
}

/// Class-id mask from `classes` (names or ids, comma separated).
fn wanted_classes(spec: &str, labels: &[String]) -> Result<Vec<bool>, String> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Ok(Vec::new());
    }
    let mut wanted = vec![false; labels.len()];
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let id = match item.parse::<usize>() {
            Ok(id) => id,
            Err(_) => labels.iter().position(|l| l == item).ok_or_else(|| {
                format!(
                    "unknown class \"{item}\" (the model's labels: {})",
                    labels.join(", ")
                )
            })?,
        };
        if id >= wanted.len() {
            wanted.resize(id + 1, false);
        }
        wanted[id] = true;
    }
    Ok(wanted)
}
