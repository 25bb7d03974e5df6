//! The process-wide ONNX Runtime environment and the session cache: every
//! element instance asking for the same model file with the same options
//! shares one session, so four cameras load the weights once.

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};

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
    /// Sessions of the model, each able to run while the others do (at least 1).
    pub sessions: u32,
}

/// A loaded model shared between elements. `Session::run` needs `&mut`, so
/// each session runs one inference at a time; with several sessions, that
/// many elements (cameras) run at once, each taking a free one.
pub struct Model {
    pub sessions: Vec<Mutex<Session>>,
    /// Where the search for a free session starts, so that waits spread.
    next: std::sync::atomic::AtomicUsize,
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
        let n = self.sessions.len();
        let start = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % n;
        let free = (0..n).find_map(|i| self.sessions[(start + i) % n].try_lock().ok());
        let mut session = match free {
            Some(session) => session,
            None => self.sessions[start].lock().unwrap(),
        };
        let outputs = session
            .run(ort::inputs![input.name() => value])
            .map_err(|e| format!("inference failed: {e}"))?;
        Ok(scratch.read(&self.outputs, &outputs, read))
    }
}

fn open(options: &SessionOptions) -> Result<Model, String> {
    let path = &options.path;
    if !path.is_file() {
        return Err(format!("model file {} not found", path.display()));
    }
    let env = environment()?;
    let fail = |what: &str, e: ort::Error| format!("{what} for {}: {e}", path.display());
    let mut builder = Session::builder(env).map_err(|e| fail("session options", e))?;
    if options.threads > 0 {
        builder = builder
            .with_intra_threads(options.threads as usize)
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
    let sessions = (0..options.sessions.max(1))
        .map(|_| {
            builder
                .clone()
                .commit_from_file(path)
                .map_err(|e| format!("cannot load model {}: {e}", path.display()))
        })
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
        sessions: sessions.into_iter().map(Mutex::new).collect(),
        next: std::sync::atomic::AtomicUsize::new(0),
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
