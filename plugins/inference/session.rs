//! The process-wide ONNX Runtime environment and a model's sessions, leased
//! in turn to the callers (cameras) that run it.

use std::path::Path;
use std::sync::OnceLock;

use cctv::detect::{ElementType, TensorInfo};
use gst::glib;
use ort::session::{Session, SessionOutputs};
use ort::value::{TensorElementType, ValueType};

use super::SessionOptions;
use super::error::Error;
use super::pool::Pool;
use super::tensor::InputTensor;
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

fn environment() -> Result<&'static ort::environment::Environment, Error> {
    static ENV: OnceLock<Result<ort::environment::Environment, Error>> = OnceLock::new();
    ENV.get_or_init(|| {
        let lib = assets::onnxruntime_library();
        if !lib.exists() {
            return Err(Error::Runtime(format!(
                "ONNX Runtime library {} not found: run {} or set ORT_DYLIB_PATH",
                lib.display(),
                assets::FETCH_COMMAND
            )));
        }
        ort::init_from(&lib)
            .map_err(|e| {
                Error::Runtime(format!(
                    "cannot load ONNX Runtime from {}: {e}",
                    lib.display()
                ))
            })?
            .with_name("gst-cctv")
            .build()
            .map_err(|e| Error::Runtime(format!("cannot create the ONNX Runtime environment: {e}")))
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// Names, shapes and element types of a model's inputs and outputs, and
/// its custom metadata `names` (Ultralytics exports store class names there).
pub struct Signature {
    pub inputs: Vec<TensorInfo>,
    pub outputs: Vec<TensorInfo>,
    pub names: Option<String>,
}

/// The sessions of one model, leased in turn (see [`Pool`]).
pub struct Sessions(Pool<Session>);

impl Sessions {
    /// Opens the model of `options` with its first sessions.
    pub fn open(options: &SessionOptions) -> Result<(Sessions, Signature), Error> {
        let path = &options.path;
        if !path.is_file() {
            return Err(Error::NotFound(format!(
                "model file {} not found",
                path.display()
            )));
        }
        let most = std::thread::available_parallelism().map_or(1, |n| n.get());
        let make_options = options.clone();
        let pool = Pool::new(
            options.sessions,
            options.threads,
            most,
            Box::new(move |threads| make_session(&make_options, threads)),
        )?;
        let first = pool.lease();
        let infos = |list: &[ort::value::Outlet]| -> Vec<TensorInfo> {
            list.iter()
                .map(|o| tensor_info(o.name(), o.dtype()))
                .collect()
        };
        let signature = Signature {
            inputs: infos(first.inputs()),
            outputs: infos(first.outputs()),
            names: first.metadata().ok().and_then(|m| m.custom("names")),
        };
        drop(first);
        Ok((Sessions(pool), signature))
    }

    /// Runs `input` as it is (one frame or a batch) on a leased session and
    /// hands the outputs to `read` while the session is held.
    pub fn run<R>(
        &self,
        input: &InputTensor,
        read: impl FnOnce(&SessionOutputs<'_>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let value = input
            .value()
            .map_err(|e| Error::Input(format!("cannot build the input tensor: {e}")))?;
        let mut session = self.0.lease();
        let outputs = session
            .run(ort::inputs![input.name() => value])
            .map_err(|e| Error::Run(format!("inference failed: {e}")))?;
        read(&outputs)
    }

    /// Sessions made so far.
    pub fn count(&self) -> usize {
        self.0.count()
    }
}

/// One session of `options`' model with `threads` intra-op threads (0: ONNX
/// Runtime's choice).
fn make_session(options: &SessionOptions, threads: u32) -> Result<Session, Error> {
    let path = &options.path;
    let env = environment()?;
    let fail =
        |what: &str, e: ort::Error| Error::Load(format!("{what} for {}: {e}", path.display()));
    let mut builder = Session::builder(env).map_err(|e| fail("session options", e))?;
    if threads > 0 {
        builder = builder
            .with_intra_threads(threads as usize)
            .map_err(|e| fail("intra-op threads", e.into()))?;
    }
    // Idle pool threads sleep instead of spinning: with two models in one
    // pipeline (onnxdetect, gendercls) and a decoder on a few cores, the
    // spinning threads of one session took the cores the other needed
    // (docs/performance.md).
    builder = builder
        .with_intra_op_spinning(false)
        .map_err(|e| fail("intra-op spinning", e.into()))?;
    builder = register_provider(builder, options.provider, path)?;
    builder
        .commit_from_file(path)
        .map_err(|e| Error::Load(format!("cannot load model {}: {e}", path.display())))
}

fn register_provider(
    builder: ort::session::builder::SessionBuilder,
    provider: ExecutionProvider,
    path: &Path,
) -> Result<ort::session::builder::SessionBuilder, Error> {
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
            Error::Runtime(format!(
                "execution provider {provider:?} is not available in this ONNX Runtime build \
                 (for {}): {e}",
                path.display()
            ))
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
