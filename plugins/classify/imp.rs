//! SECTION:element-classify
//!
//! Classifies the objects in `CctvObjectsMeta` with any ONNX classification
//! model and attaches the result as an attribute, as DL Streamer's
//! `gvaclassify` does. Each object of `classes` is cropped from its box
//! (`crop=box`) or, for face models, as the aligned chip of its face
//! (`crop=face`: the face found by an earlier face classifier, else searched
//! with CenterFace in the upper part of the box), all crops of a frame run
//! as one batch, and the result is either the most likely label
//! (`decode=labels`) or a value read from bins (`decode=value`: the expected
//! value of the labels read as numbers, labelled with its band).
//!
//! ```text
//! gst-launch-1.0 filesrc location=traffic.mp4 ! decodebin ! onnxdetect classes=car ! bytetrack \
//!     ! classify model=colour.onnx labels=colour.txt classes=car attribute=colour \
//!       mean=123.7,116.3,103.5 std=58.4,57.1,57.4 ! fakesink
//! ```
//!
//! (`colour.onnx` and `colour.txt` stand for a vehicle-colour model of your
//! own.) The model takes one image (`[N,3,H,W]` float or `[N,H,W,3]` uint8)
//! normalised as `(byte - mean) / std` per channel in `channel-order`, and
//! gives one row of scores per image; objects narrower than `min-size`
//! (their box, or their face) read `unknown`.
//!
//! Tracked objects are classified when first seen, then every
//! `reclassify-interval` frames, and carry their track's confidence-weighted
//! vote on the frames between; a track's vote is forgotten when `bytetrack`
//! removes it. Untracked objects are classified on every frame. An
//! attribute reads `unknown` until there is a vote at least
//! `min-confidence` sure.

use std::sync::{Arc, LazyLock, Mutex};
use std::time::Instant;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

use cctv::bbox::BBox;
use cctv::classify::{Classifications, Decoding, Policy, Schedule, parse_bands};
use cctv::detect::{InputSpec, Output};
use cctv::labels::ClassFilter;
use cctv::letterbox::Fit;
use cctv::lifecycle::{Kind, TrackEvent};
use cctv::meta::{Frame, Object};
use cctv::preprocess::{Affine, Region, TensorFormat};

use super::faces::FaceFinder;
use super::{ClassifyClass, Preset};
use crate::inference::{Error, ModelProperties, ModelSettings, Stage};
use crate::{assets, metrics};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "classify",
        gst::DebugColorFlags::empty(),
        Some("Secondary classifier"),
    )
});

/// Where an object's pixels for the model come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, glib::Enum)]
#[enum_type(name = "GstCctvClassifyCrop")]
pub enum Crop {
    #[enum_value(name = "The object's box, resized to the model's input", nick = "box")]
    Box,
    #[enum_value(
        name = "The object's face as an aligned chip (dlib style, from the eyes)",
        nick = "face"
    )]
    Face,
}

/// How a row of the model's outputs is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, glib::Enum)]
#[enum_type(name = "GstCctvClassifyDecode")]
pub enum Decode {
    #[enum_value(
        name = "The most likely label (probabilities, or logits)",
        nick = "labels"
    )]
    Labels,
    #[enum_value(
        name = "The expected value of the labels read as numbers (bins), labelled with its band",
        nick = "value"
    )]
    Value,
}

/// Channel order of the model's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, glib::Enum)]
#[enum_type(name = "GstCctvChannelOrder")]
pub enum ChannelOrder {
    #[enum_value(name = "RGB", nick = "rgb")]
    Rgb,
    #[enum_value(name = "BGR", nick = "bgr")]
    Bgr,
}

/// The generic classifier's preset: nothing bundled, every object's box.
static GENERIC: Preset = Preset {
    attribute: "class",
    model: None,
    labels: &[],
    labels_file: None,
    crop: Crop::Box,
    decode: Decode::Labels,
    bands: "",
    classes: "",
    mean: "0",
    std: "1",
    channel_order: ChannelOrder::Rgb,
    min_size: 16,
    reclassify_interval: 10,
    min_confidence: 0.5,
};

const MODEL_PROPERTIES: ModelProperties = ModelProperties {
    model: "ONNX classifier, one image in ([N,3,H,W] float or [N,H,W,3] uint8), one row of scores per image out \
            (default: the element's bundled model; classify has none)",
    labels: "File with the names of the model's outputs, one per line; numbers for decode=value \
             (default: the element's own, else class0, class1, ... or the bins 0, 1, ...)",
    batches: false,
};

/// Tracks whose votes are kept at most (the track seen longest ago goes
/// first); removed tracks are forgotten long before that.
const MAX_TRACKS: usize = 4096;

#[derive(Debug, Clone)]
struct Settings {
    model: ModelSettings,
    face_model: Option<String>,
    attribute: String,
    classes: ClassFilter,
    crop: Crop,
    decode: Decode,
    bands: String,
    mean: String,
    std: String,
    channel_order: ChannelOrder,
    min_size: u32,
    reclassify_interval: u32,
    min_confidence: f32,
}

impl From<&Preset> for Settings {
    fn from(p: &Preset) -> Settings {
        Settings {
            model: ModelSettings::default(),
            face_model: None,
            attribute: p.attribute.into(),
            classes: ClassFilter::parse(p.classes),
            crop: p.crop,
            decode: p.decode,
            bands: p.bands.into(),
            mean: p.mean.into(),
            std: p.std.into(),
            channel_order: p.channel_order,
            min_size: p.min_size,
            reclassify_interval: p.reclassify_interval,
            min_confidence: p.min_confidence as f32,
        }
    }
}

/// The settings a running stream may change, copied once per frame.
#[derive(Debug, Clone, Copy)]
struct PerFrame {
    min_size: u32,
    schedule: Schedule,
    min_confidence: f32,
}

/// The counters the metrics exporter reads, stored after every frame
/// (relaxed: no lock at scrape time).
#[derive(Default)]
struct Exported {
    classifications: std::sync::atomic::AtomicU64,
    cache_hits: std::sync::atomic::AtomicU64,
    faces_found: std::sync::atomic::AtomicU64,
}

impl metrics::Report for Exported {
    fn report(&self, out: &mut Vec<metrics::Extra>) {
        use metrics::Extra::Counter;
        let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        out.extend([
            Counter {
                name: "cctv_classifications",
                help: "Objects classified (model rows read)",
                value: load(&self.classifications),
            },
            Counter {
                name: "cctv_cache_hits",
                help: "Objects answered from their track's vote without a run",
                value: load(&self.cache_hits),
            },
            Counter {
                name: "cctv_faces_found",
                help: "Faces found by the face detector",
                value: load(&self.faces_found),
            },
        ]);
    }
}

struct State {
    stage: Stage,
    faces: Option<FaceFinder>,
    results: Classifications,
    /// Outputs per object, and how many objects one run may take.
    outputs: usize,
    max_batch: usize,
    classes: ClassFilter,
    attribute: String,
    source: String,
    /// Per-frame working memory, reused.
    due: Vec<usize>,
    crops: Vec<(usize, Piece)>,
    rows: Vec<f32>,
    frames: u64,
    metrics: Arc<metrics::Source>,
    exported: Arc<Exported>,
}

pub struct Classify {
    preset: &'static Preset,
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

#[glib::object_subclass]
impl ObjectSubclass for Classify {
    const NAME: &'static str = "GstCctvClassify";
    type Type = super::Classify;
    type ParentType = gst_base::BaseTransform;
    type Class = ClassifyClass;

    fn class_init(klass: &mut Self::Class) {
        klass.preset = || &GENERIC;
    }

    fn with_class(klass: &Self::Class) -> Self {
        let preset = (klass.preset)();
        Classify {
            preset,
            settings: Mutex::new(Settings::from(preset)),
            state: Mutex::new(None),
        }
    }
}

impl ObjectImpl for Classify {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let d = Settings::from(&GENERIC);
            let mut props = ModelSettings::properties(&MODEL_PROPERTIES);
            props.extend([
                glib::ParamSpecString::builder("face-model")
                    .nick("Face model")
                    .blurb("ONNX CenterFace face detector with free input size, for crop=face (default: the bundled centerface.onnx)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("attribute")
                    .nick("Attribute")
                    .blurb("Name of the attribute written on each object")
                    .default_value(Some(d.attribute.as_str()))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("classes")
                    .nick("Classes")
                    .blurb("Comma-separated class names or ids of the objects to classify (empty: all)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("crop", d.crop)
                    .nick("Crop")
                    .blurb("Where each object's pixels come from")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("decode", d.decode)
                    .nick("Decode")
                    .blurb("How the model's outputs are read")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("bands")
                    .nick("Bands")
                    .blurb("For decode=value: comma-separated bands that label the value, e.g. \"0-17,18-64,65+\" (empty: the rounded value)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("mean")
                    .nick("Mean")
                    .blurb("Per-channel mean subtracted from the pixel bytes, in the model's channel order: one value or three, comma-separated")
                    .default_value(Some(d.mean.as_str()))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("std")
                    .nick("Standard deviation")
                    .blurb("Per-channel divisor after the mean (255 for inputs in 0-1): one value or three, comma-separated")
                    .default_value(Some(d.std.as_str()))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("channel-order", d.channel_order)
                    .nick("Channel order")
                    .blurb("Channel order of the model's input")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("min-size")
                    .nick("Minimum size")
                    .blurb("Narrowest box (crop=box) or face (crop=face) classified, in frame pixels; narrower ones read unknown")
                    .minimum(1)
                    .maximum(4096)
                    .default_value(d.min_size)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("reclassify-interval")
                    .nick("Reclassify interval")
                    .blurb("Classify a track again every N frames once it has a result (0: never again, 1: every frame)")
                    .maximum(100_000)
                    .default_value(d.reclassify_interval)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("min-confidence")
                    .nick("Minimum confidence")
                    .blurb("Votes less sure than this read unknown (for decode=value: the probability of the band)")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(d.min_confidence as f64)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("frames, objects, classifications, cache-hits, tracks; runs and mean ms per run of each step \
                            (face- for the face search, with face-searches, faces-found, faces-too-small, faces-reused)")
                    .read_only()
                    .build(),
            ]);
            props
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        let string = || {
            value
                .get::<Option<String>>()
                .expect("type checked upstream")
                .unwrap_or_default()
        };
        match pspec.name() {
            "face-model" => s.face_model = Some(string()).filter(|f| !f.is_empty()),
            "attribute" => s.attribute = string(),
            "classes" => s.classes = ClassFilter::parse(&string()),
            "crop" => s.crop = value.get().expect("type checked upstream"),
            "decode" => s.decode = value.get().expect("type checked upstream"),
            "bands" => s.bands = string(),
            "mean" => s.mean = string(),
            "std" => s.std = string(),
            "channel-order" => s.channel_order = value.get().expect("type checked upstream"),
            "min-size" => s.min_size = value.get().expect("type checked upstream"),
            "reclassify-interval" => {
                s.reclassify_interval = value.get().expect("type checked upstream")
            }
            "min-confidence" => {
                s.min_confidence = value.get::<f64>().expect("type checked upstream") as f32
            }
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
            "face-model" => s.face_model.to_value(),
            "attribute" => s.attribute.to_value(),
            "classes" => s.classes.spec().to_value(),
            "crop" => s.crop.to_value(),
            "decode" => s.decode.to_value(),
            "bands" => s.bands.to_value(),
            "mean" => s.mean.to_value(),
            "std" => s.std.to_value(),
            "channel-order" => s.channel_order.to_value(),
            "min-size" => s.min_size.to_value(),
            "reclassify-interval" => s.reclassify_interval.to_value(),
            "min-confidence" => (s.min_confidence as f64).to_value(),
            other => s
                .model
                .get(other)
                .unwrap_or_else(|| unreachable!("unknown property {other}")),
        }
    }
}

impl GstObjectImpl for Classify {}

impl ElementImpl for Classify {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Object classifier",
                "Filter/Analyzer/Video",
                "Classifies the objects of CctvObjectsMeta (their box or their face) with an ONNX model and attaches the per-track vote as an attribute",
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

impl BaseTransformImpl for Classify {
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
            "loaded {} ({}x{}, {} outputs, crop {:?}){}",
            state.stage.name,
            state.stage.input.width,
            state.stage.input.height,
            state.outputs,
            settings.crop,
            state
                .faces
                .as_ref()
                .map(|f| format!(" and {}", f.stage.name))
                .unwrap_or_default()
        );
        *self.state.lock().unwrap() = Some(state);
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let configured = {
            let mut guard = self.state.lock().unwrap();
            match guard.as_mut() {
                None => Err(Error::Caps("caps set before the model was loaded".into())),
                Some(state) => state.stage.configure(incaps).map(|_| ()).and_then(|()| {
                    match &mut state.faces {
                        Some(faces) => faces.stage.configure(incaps).map(|_| ()),
                        None => Ok(()),
                    }
                }),
            }
        };
        configured.map_err(|e| {
            self.obj().post_error_message(e.message());
            gst::loggable_error!(CAT, "caps {} refused: {}", incaps, e)
        })
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::CustomDownstream(_) => {
                if let Some(e) = TrackEvent::from_event(&event)
                    && e.kind == Kind::Removed
                    && let Some(state) = self.state.lock().unwrap().as_mut()
                {
                    state.results.forget(e.track_id);
                    gst::trace!(CAT, imp = self, "forgot track {}", e.track_id);
                }
            }
            gst::EventView::FlushStop(_) | gst::EventView::StreamStart(_) => {
                if let Some(state) = self.state.lock().unwrap().as_mut() {
                    state.results.clear();
                }
            }
            _ => {}
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let started = Instant::now();
        let mut frame = match Frame::from_buffer(buf) {
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
        let per_frame = {
            let s = self.settings.lock().unwrap();
            PerFrame {
                min_size: s.min_size,
                schedule: Schedule {
                    reclassify_interval: s.reclassify_interval,
                },
                min_confidence: s.min_confidence,
            }
        };
        let mut guard = self.state.lock().unwrap();
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let inference_before = inference(state);
        if let Err(e) = classify(state, &mut frame, buf, per_frame) {
            // Posted without the lock: a bus handler may read `stats`.
            drop(guard);
            return Err(e.post(&*self.obj()));
        }
        let inference = inference(state) - inference_before;
        let relaxed = std::sync::atomic::Ordering::Relaxed;
        let counts = state.results.counts;
        let exported = &state.exported;
        exported
            .classifications
            .store(counts.classifications, relaxed);
        exported.cache_hits.store(counts.cache_hits, relaxed);
        if let Some(faces) = &state.faces {
            exported.faces_found.store(faces.counts.found, relaxed);
        }
        let metrics = Arc::clone(&state.metrics);
        drop(guard);
        frame.attach(buf);
        metrics.frame(started.elapsed(), inference);
        Ok(gst::FlowSuccess::Ok)
    }
}

/// Inference time of every model of the element so far.
fn inference(state: &State) -> std::time::Duration {
    state.stage.timings.inference
        + state
            .faces
            .as_ref()
            .map_or(std::time::Duration::ZERO, |f| f.stage.timings.inference)
}

impl Classify {
    /// Loads the model (and the face detector for crop=face) and checks them
    /// against the settings; errors name the file and the cause.
    fn open(&self, settings: &Settings) -> Result<State, Error> {
        let preset = self.preset;
        let (path, model) = settings.model.open(preset.model.map(|f| f()))?;
        let unfit = |why: String| {
            Error::Unfit(format!(
                "{} is not a usable classifier: {why}",
                path.display()
            ))
        };
        let input = InputSpec::from_model(&model.inputs).map_err(|e| unfit(e.to_string()))?;
        let output = model
            .outputs
            .first()
            .ok_or_else(|| unfit("it has no output".into()))?;
        // Scores per image: every dimension but the batch (free or fixed).
        let per_item: i64 = output.shape.iter().skip(1).product();
        let outputs = usize::try_from(per_item)
            .ok()
            .filter(|&n| n > 0 && output.shape.len() >= 2)
            .ok_or_else(|| unfit(format!("its output {:?} is not [N, classes]", output.shape)))?;
        let default_labels = || match (preset.labels, preset.labels_file) {
            (names, _) if !names.is_empty() => Ok(names.iter().map(|s| s.to_string()).collect()),
            (_, Some(file)) => ModelSettings {
                labels: Some(file().to_string_lossy().into_owned()),
                ..ModelSettings::default()
            }
            .labels(Some(outputs), Vec::new),
            (_, None) => Ok(match settings.decode {
                Decode::Labels => (0..outputs).map(|i| format!("class{i}")).collect(),
                Decode::Value => (0..outputs).map(|i| i.to_string()).collect(),
            }),
        };
        let labels = match &settings.model.labels {
            Some(_) => settings.model.labels(Some(outputs), Vec::new)?,
            None => default_labels()?,
        };
        if labels.len() != outputs {
            return Err(unfit(format!(
                "it has {outputs} outputs per image for {} labels",
                labels.len()
            )));
        }
        let decoding = match settings.decode {
            Decode::Labels => Decoding::Labels,
            Decode::Value => Decoding::Value {
                values: labels
                    .iter()
                    .map(|l| {
                        l.trim().parse::<f32>().map_err(|_| {
                            Error::Unfit(format!(
                                "decode=value reads the labels as numbers; \"{l}\" is not one"
                            ))
                        })
                    })
                    .collect::<Result<_, _>>()?,
                bands: parse_bands(&settings.bands)
                    .map_err(|e| Error::Unfit(format!("invalid bands property: {e}")))?,
            },
        };
        let channel = |name: &str, spec: &str| -> Result<[f32; 3], Error> {
            let values: Vec<f32> = spec
                .split(',')
                .map(|v| v.trim().parse::<f32>())
                .collect::<Result<_, _>>()
                .map_err(|_| {
                    Error::Unfit(format!("invalid {name} property \"{spec}\": not numbers"))
                })?;
            match values[..] {
                [v] => Ok([v; 3]),
                [a, b, c] => Ok([a, b, c]),
                _ => Err(Error::Unfit(format!(
                    "invalid {name} property \"{spec}\": one value or three"
                ))),
            }
        };
        let std = channel("std", &settings.std)?;
        if std.iter().any(|&s| s == 0.0 || !s.is_finite()) {
            return Err(Error::Unfit(format!(
                "invalid std property \"{}\": divisors must be finite and not zero",
                settings.std
            )));
        }
        let format = TensorFormat {
            planar: input.planar,
            bgr: settings.channel_order == ChannelOrder::Bgr,
            scale: 1.0,
            mean: channel("mean", &settings.mean)?,
            std,
            pad: 0,
        };
        let faces = match settings.crop {
            Crop::Box => None,
            Crop::Face => {
                if input.width != input.height {
                    return Err(unfit(format!(
                        "face chips are square, its input is {}x{}",
                        input.width, input.height
                    )));
                }
                if !input.planar {
                    return Err(unfit("face chips need a [N,3,H,W] float input".into()));
                }
                let faces = ModelSettings {
                    model: settings.face_model.clone(),
                    labels: None,
                    ..settings.model.clone()
                };
                let (face_path, face_model) = faces.open(Some(assets::default_face_model()))?;
                Some(FaceFinder::new(&face_path, face_model)?)
            }
        };
        let max_batch = match model.inputs.first().and_then(|i| i.shape.first()) {
            Some(&n) if n > 0 => n as usize,
            _ => usize::MAX,
        };
        let exported = Arc::new(Exported::default());
        let names = decoding.names(&labels);
        Ok(State {
            stage: Stage::new(&path, model, input, Fit::Stretch, format),
            faces,
            results: Classifications::new(decoding, outputs, names, MAX_TRACKS),
            outputs,
            max_batch,
            classes: settings.classes.clone(),
            attribute: settings.attribute.clone(),
            source: self.obj().name().to_string(),
            due: Vec::new(),
            crops: Vec::new(),
            rows: Vec::new(),
            frames: 0,
            metrics: metrics::register(&*self.obj(), Some(Box::new(Arc::clone(&exported)))),
            exported,
        })
    }

    fn stats(&self) -> gst::Structure {
        let name = format!(
            "{}/stats",
            self.obj()
                .factory()
                .map_or_else(|| "classify".into(), |f| f.name().to_string())
        );
        let guard = self.state.lock().unwrap();
        let Some(state) = guard.as_ref() else {
            return gst::Structure::new_empty(name);
        };
        let c = state.results.counts;
        let mut stats = gst::Structure::builder(name.as_str())
            .field("frames", state.frames)
            .field("objects", c.objects)
            .field("classifications", c.classifications)
            .field("cache-hits", c.cache_hits)
            .field("tracks", state.results.tracks() as u64);
        stats = state.stage.timings.fields(stats, "");
        if let Some(faces) = &state.faces {
            stats = faces
                .stage
                .timings
                .fields(stats, "face-")
                .field("face-searches", faces.counts.searches)
                .field("faces-found", faces.counts.found)
                .field("faces-too-small", faces.counts.too_small)
                .field("faces-reused", faces.counts.reused);
        }
        stats.build()
    }
}

/// Classifies the due objects of `frame` (the frame in `buf`) and writes
/// every wanted object's attribute.
fn classify(
    state: &mut State,
    frame: &mut Frame,
    buf: &gst::BufferRef,
    per_frame: PerFrame,
) -> Result<(), Error> {
    state.frames += 1;
    let classes = &state.classes;
    let wanted = |o: &Object| classes.keeps(o.class_id, &o.label);
    state
        .results
        .select(&frame.objects, wanted, per_frame.schedule, &mut state.due);
    let size = (frame.width, frame.height);
    let crops = &mut state.crops;
    crops.clear();
    match &mut state.faces {
        None => {
            let format = state.stage.video()?.format();
            for &i in &state.due {
                if let Some(r) = box_region(&frame.objects[i].bbox, size, per_frame.min_size) {
                    crops.push((i, Piece::Region(r.aligned(format))));
                }
            }
        }
        Some(faces) => {
            faces.find(
                &mut frame.objects,
                &state.due,
                buf,
                size,
                per_frame.min_size,
            )?;
            let chip = state.stage.input.width;
            faces.chips(
                &frame.objects,
                &state.due,
                chip,
                per_frame.min_size,
                |i, map| crops.push((i, Piece::Chip(map))),
            );
        }
    }
    for batch in (0..crops.len()).step_by(state.max_batch) {
        let pieces = &crops[batch..(batch + state.max_batch).min(crops.len())];
        let (rows, outputs, n) = (&mut state.rows, state.outputs, pieces.len());
        state.stage.tensor.set_batch(n);
        state.stage.run(
            |video, tensor| {
                for (item, (_, piece)) in pieces.iter().enumerate() {
                    match piece {
                        Piece::Region(r) => video.pack_region(buf, *r, tensor, item).map(|_| ())?,
                        Piece::Chip(map) => video.pack_warped(buf, map, tensor, item)?,
                    }
                }
                Ok(())
            },
            |out: &[Output<'_>]| {
                let o = out
                    .first()
                    .ok_or_else(|| Error::Output("no output".into()))?;
                if o.data.len() != n * outputs {
                    return Err(Error::Output(format!(
                        "{} values for {n} images of {outputs} outputs",
                        o.data.len()
                    )));
                }
                rows.clear();
                rows.extend_from_slice(o.data);
                Ok(())
            },
        )?;
        for (item, &(i, _)) in pieces.iter().enumerate() {
            let row = &state.rows[item * state.outputs..(item + 1) * state.outputs];
            state.results.add(&frame.objects[i], i, row);
        }
    }
    let policy = Policy {
        schedule: per_frame.schedule,
        min_confidence: per_frame.min_confidence,
        attribute: &state.attribute,
        source: &state.source,
    };
    let classes = &state.classes;
    state.results.annotate(
        &mut frame.objects,
        |o| classes.keeps(o.class_id, &o.label),
        &policy,
    );
    Ok(())
}

/// What is cropped for one object.
enum Piece {
    /// A region of the frame, resized to the input.
    Region(Region),
    /// An aligned face chip: the map from chip pixels to frame pixels.
    Chip(Affine),
}

/// The part of a box inside the frame, when at least `min_size` wide.
fn box_region(bbox: &BBox, (width, height): (u32, u32), min_size: u32) -> Option<Region> {
    let b = bbox.clamp_to(width as f32, height as f32);
    let x = b.x.floor().max(0.0) as u32;
    let y = b.y.floor().max(0.0) as u32;
    let w = (b.x2().ceil() as u32).min(width).saturating_sub(x);
    let h = (b.y2().ceil() as u32).min(height).saturating_sub(y);
    (w >= min_size.max(2) && h >= 2).then_some(Region { x, y, w, h })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_regions_are_clipped_and_narrow_boxes_skipped() {
        let frame = (640, 480);
        assert_eq!(
            box_region(&BBox::new(-10.0, 470.0, 50.0, 40.0), frame, 16),
            Some(Region {
                x: 0,
                y: 470,
                w: 40,
                h: 10
            })
        );
        assert_eq!(
            box_region(&BBox::new(10.0, 10.0, 12.0, 40.0), frame, 16),
            None
        );
        assert_eq!(
            box_region(&BBox::new(700.0, 10.0, 40.0, 40.0), frame, 1),
            None
        );
        assert_eq!(
            box_region(&BBox::new(10.0, 10.0, f32::NAN, 40.0), frame, 1),
            None
        );
    }
}
