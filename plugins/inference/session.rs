//! The process-wide ONNX Runtime environment and the session cache: every
//! element instance asking for the same model file with the same options
//! shares one session, so four cameras load the weights once.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, OnceLock};

use cctv::detect::{ElementType, Output, TensorInfo};
use gst::glib;
use ort::session::Session;
use ort::value::{TensorElementType, ValueType};

use super::cache::Cache;
use super::tensor::{InputTensor, OutputScratch};
use crate::assets;

/// Execution providers an element may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, glib::Enum)]
#[enum_type(name = "GstCctvExecutionProvider")]
pub enum ExecutionProvider {
    #[enum_value(name = "CPU", nick = "cpu")]
    Cpu,
    #[enum_value(name = "NVIDIA CUDA", nick = "cuda")]
    Cuda,
    #[enum_value(name = "NVIDIA TensorRT", nick = "tensorrt")]
    TensorRt,
    #[enum_value(name = "Intel OpenVINO", nick = "openvino")]
    OpenVino,
}

/// What a session is keyed on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionOptions {
    pub path: PathBuf,
    /// Intra-op threads; 0 lets ONNX Runtime choose.
    pub threads: u32,
    pub provider: ExecutionProvider,
    /// Sessions of the model, each able to run while the others do; 0:
    /// grown on demand (see [`Model`]).
    pub sessions: u32,
}

/// A loaded model shared between elements. `Session::run` needs `&mut`, so
/// each session runs one inference at a time; with several sessions, that
/// many elements (cameras) run at once, each taking a free one.
///
/// With `sessions` 0 the model starts with one session (all threads: the
/// fastest for one camera) and, when a caller finds every session busy,
/// adds a one-thread session, up to one per core, and remakes the first
/// with one thread too: cameras then run side by side on the cores instead
/// of queueing for one session (README, Several cameras).
pub struct Model {
    /// Sessions made so far fill the first slots.
    slots: Vec<OnceLock<Mutex<Session>>>,
    made: AtomicUsize,
    /// Held while a session is being added.
    growing: Mutex<()>,
    /// The model grew: the first session is to be remade with one thread.
    narrow_first: AtomicBool,
    options: SessionOptions,
    /// Where the search for a free session starts, so that waits spread.
    next: AtomicUsize,
    pub inputs: Vec<TensorInfo>,
    pub outputs: Vec<TensorInfo>,
    /// Custom metadata `names` (Ultralytics exports store class names there).
    pub names: Option<String>,
}

fn environment() -> Result<&'static ort::environment::Environment, String> {
    static ENV: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let lib = assets::onnxruntime_library();
        if !lib.exists() {
            return Err(format!(
                "ONNX Runtime library {} not found: run {} or set ORT_DYLIB_PATH",
                lib.display(),
                assets::FETCH_COMMAND
            ));
        }
        ort::init_from(&lib)
            .map_err(|e| format!("cannot load ONNX Runtime from {}: {e}", lib.display()))?
            .with_name("gst-cctv")
            .build()
            .map_err(|e| format!("cannot create the ONNX Runtime environment: {e}"))
    })
    .as_ref()
    .map_err(Clone::clone)
}

static CACHE: LazyLock<Cache<SessionOptions, Model>> = LazyLock::new(Cache::default);

/// The shared model for `options`, loading it if no live element holds it.
/// Waits only for a load of the same model, never for other models.
pub fn load(options: &SessionOptions) -> Result<Arc<Model>, String> {
    CACHE.get_or_load(options, open)
}

impl Model {
    /// Runs the model on `input` and hands its outputs, as float slices
    /// (float16 ones converted into `scratch`), to `read`. The session is
    /// locked until `read` returns.
    pub fn run<R>(
        &self,
        input: &InputTensor,
        scratch: &mut OutputScratch,
        read: impl FnOnce(&[Output<'_>]) -> R,
    ) -> Result<R, String> {
        let value = input
            .value()
            .map_err(|e| format!("cannot build the input tensor: {e}"))?;
        let n = self.session_count();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let slot = |i: usize| {
            self.slots[i]
                .get()
                .expect("made sessions fill the first slots")
        };
        let free = (0..n).find_map(|i| {
            let i = (start + i) % n;
            slot(i).try_lock().ok().map(|s| (i, s))
        });
        let (index, mut session) = match free.or_else(|| self.grow()) {
            Some(found) => found,
            None => (start, slot(start).lock().unwrap()),
        };
        if index == 0 && self.narrow_first.swap(false, Ordering::AcqRel) {
            // The model grew: its first session gives up its extra threads,
            // so the sessions share the cores instead of oversubscribing.
            match make_session(&self.options, 1) {
                Ok(narrow) => *session = narrow,
                Err(e) => gst::warning!(gst::CAT_RUST, "cannot narrow the first session: {}", e),
            }
        }
        let outputs = session
            .run(ort::inputs![input.name() => value])
            .map_err(|e| format!("inference failed: {e}"))?;
        Ok(scratch.read(&self.outputs, &outputs, read))
    }
}

impl Model {
    /// Sessions made so far.
    pub fn session_count(&self) -> usize {
        self.made.load(Ordering::Acquire)
    }

    /// Session `i`, if made.
    pub fn session(&self, i: usize) -> Option<&Mutex<Session>> {
        self.slots.get(i)?.get()
    }

    /// Adds a one-thread session, locked for the caller, when the model
    /// grows on demand and has room; one caller adds at a time.
    fn grow(&self) -> Option<(usize, MutexGuard<'_, Session>)> {
        let _growing = self.growing.try_lock().ok()?;
        let k = self.session_count();
        if self.options.sessions != 0 || k >= self.slots.len() {
            return None;
        }
        match make_session(&self.options, 1) {
            Ok(session) => {
                let _ = self.slots[k].set(Mutex::new(session));
                self.made.store(k + 1, Ordering::Release);
                if k == 1 && self.options.threads != 1 {
                    self.narrow_first.store(true, Ordering::Release);
                }
                Some((k, self.slots[k].get()?.try_lock().ok()?))
            }
            Err(e) => {
                // The sessions made go on serving.
                gst::warning!(gst::CAT_RUST, "cannot add a session: {}", e);
                None
            }
        }
    }
}

/// One session of `options`' model with `threads` intra-op threads (0: ONNX
/// Runtime's choice).
fn make_session(options: &SessionOptions, threads: u32) -> Result<Session, String> {
    let path = &options.path;
    let env = environment()?;
    let fail = |what: &str, e: ort::Error| format!("{what} for {}: {e}", path.display());
    let mut builder = Session::builder(env).map_err(|e| fail("session options", e))?;
    if threads > 0 {
        builder = builder
            .with_intra_threads(threads as usize)
            .map_err(|e| fail("intra-op threads", e.into()))?;
    }
    // Idle pool threads sleep instead of spinning: with two models in one
    // pipeline (onnxdetect, gendercls) and a decoder on a few cores, the
    // spinning threads of one session took the cores the other needed
    // (README, Performance).
    builder = builder
        .with_intra_op_spinning(false)
        .map_err(|e| fail("intra-op spinning", e.into()))?;
    builder = register_provider(builder, options.provider, path)?;
    builder
        .commit_from_file(path)
        .map_err(|e| format!("cannot load model {}: {e}", path.display()))
}

fn open(options: &SessionOptions) -> Result<Model, String> {
    let path = &options.path;
    if !path.is_file() {
        return Err(format!("model file {} not found", path.display()));
    }
    let (first_count, slots) = match options.sessions {
        0 => (
            1,
            std::thread::available_parallelism().map_or(1, |n| n.get()),
        ),
        n => (n as usize, n as usize),
    };
    let sessions = (0..first_count)
        .map(|_| make_session(options, options.threads))
        .collect::<Result<Vec<Session>, String>>()?;
    let first = &sessions[0];
    let names = first.metadata().ok().and_then(|m| m.custom("names"));
    Ok(Model {
        inputs: first
            .inputs()
            .iter()
            .map(|o| tensor_info(o.name(), o.dtype()))
            .collect(),
        outputs: first
            .outputs()
            .iter()
            .map(|o| tensor_info(o.name(), o.dtype()))
            .collect(),
        names,
        made: AtomicUsize::new(sessions.len()),
        slots: sessions
            .into_iter()
            .map(|s| OnceLock::from(Mutex::new(s)))
            .chain(std::iter::repeat_with(OnceLock::new))
            .take(slots)
            .collect(),
        growing: Mutex::new(()),
        narrow_first: AtomicBool::new(false),
        options: options.clone(),
        next: AtomicUsize::new(0),
    })
}

fn register_provider(
    builder: ort::session::builder::SessionBuilder,
    provider: ExecutionProvider,
    path: &Path,
) -> Result<ort::session::builder::SessionBuilder, String> {
    use ort::ep;
    let dispatch = match provider {
        ExecutionProvider::Cpu => return Ok(builder),
        ExecutionProvider::Cuda => ep::CUDA::default().build(),
        ExecutionProvider::TensorRt => ep::TensorRT::default().build(),
        ExecutionProvider::OpenVino => ep::OpenVINO::default().build(),
    };
    builder
        .with_execution_providers([dispatch.error_on_failure()])
        .map_err(|e| {
            format!(
                "execution provider {provider:?} is not available in this ONNX Runtime build \
                 (for {}): {e}",
                path.display()
            )
        })
}

fn tensor_info(name: &str, ty: &ValueType) -> TensorInfo {
    let shape = ty.tensor_shape().map(|s| s.to_vec()).unwrap_or_default();
    let ty = match ty.tensor_type() {
        Some(TensorElementType::Float32) => ElementType::F32,
        Some(TensorElementType::Float16) => ElementType::F16,
        Some(TensorElementType::Uint8) => ElementType::U8,
        _ => ElementType::Other,
    };
    TensorInfo {
        name: name.to_string(),
        shape,
        ty,
    }
}
