//! The process-wide ONNX Runtime environment and the session cache: every
//! element instance asking for the same model file with the same options
//! shares one session, so four cameras load the weights once.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard, OnceLock};

use cctv::detect::{ElementType, Output, TensorInfo};
use gst::glib;
use ort::session::{Session, SessionOutputs};
use ort::value::{TensorElementType, ValueType};

use super::batch::{self, BatchOptions, Batcher};
use super::cache::Cache;
use super::lock;
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
    /// Frames of several callers run as one batch (see [`super::batch`]).
    pub batch: BatchOptions,
}

/// A loaded model shared between elements. `Session::run` needs `&mut`, so
/// each session runs one inference at a time; with several sessions, that
/// many elements (cameras) run at once.
///
/// Callers lease sessions from a queue: a free session goes to the caller
/// that has waited longest, so cameras are served in turn and no session
/// stays idle while a caller waits for another one.
///
/// With `sessions` 0 the model starts with one session (all threads: the
/// fastest for one camera) and, when a caller finds every session busy,
/// adds a one-thread session, up to one per core, and remakes the first
/// with one thread too: cameras then run side by side on the cores instead
/// of queueing for one session (README, Several cameras).
pub struct Model {
    /// Sessions made so far fill the first slots. A slot's mutex is only
    /// ever locked by the caller holding its lease, so it never waits.
    slots: Vec<OnceLock<Mutex<Session>>>,
    queue: Mutex<Queue>,
    freed: Condvar,
    batcher: Option<Batcher>,
    /// The model grew: the first session is to be remade with one thread.
    narrow_first: AtomicBool,
    options: SessionOptions,
    pub inputs: Vec<TensorInfo>,
    pub outputs: Vec<TensorInfo>,
    /// Custom metadata `names` (Ultralytics exports store class names there).
    pub names: Option<String>,
}

/// Who holds which session, and who waits, in ticket order.
struct Queue {
    free: Vec<usize>,
    made: usize,
    /// The next waiter's ticket and the ticket served next.
    next_ticket: u64,
    serving: u64,
    /// A caller is adding a session (outside the lock), or adding failed.
    growing: bool,
    grow_failed: bool,
}

/// One session, leased to its holder until dropped.
pub struct Lease<'a> {
    model: &'a Model,
    index: usize,
    session: Option<MutexGuard<'a, Session>>,
}

impl std::ops::Deref for Lease<'_> {
    type Target = Session;
    fn deref(&self) -> &Session {
        self.session.as_ref().expect("held until dropped")
    }
}

impl std::ops::DerefMut for Lease<'_> {
    fn deref_mut(&mut self) -> &mut Session {
        self.session.as_mut().expect("held until dropped")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        drop(self.session.take());
        lock(&self.model.queue).free.push(self.index);
        self.model.freed.notify_all();
    }
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
    /// leased until `read` returns. With batching, `input` (one frame) runs
    /// in a batch with other callers' frames and `read` gets its share.
    pub fn run<R>(
        &self,
        input: &InputTensor,
        scratch: &mut OutputScratch,
        read: impl FnOnce(&[Output<'_>]) -> R,
    ) -> Result<R, String> {
        match &self.batcher {
            Some(batcher) => batcher.run(self, input, read),
            None => self.run_session(input, |outputs| scratch.read(&self.outputs, outputs, read)),
        }
    }

    /// Runs `input` as it is (one frame or a batch) on a leased session.
    pub(super) fn run_session<R>(
        &self,
        input: &InputTensor,
        read: impl FnOnce(&SessionOutputs<'_>) -> R,
    ) -> Result<R, String> {
        let value = input
            .value()
            .map_err(|e| format!("cannot build the input tensor: {e}"))?;
        let mut session = self.lease();
        let outputs = session
            .run(ort::inputs![input.name() => value])
            .map_err(|e| format!("inference failed: {e}"))?;
        Ok(read(&outputs))
    }

    /// Batches run and the frames in them, with batching.
    pub fn batch_counts(&self) -> Option<(u64, u64)> {
        self.batcher.as_ref().map(Batcher::counts)
    }

    /// Sessions made so far.
    pub fn session_count(&self) -> usize {
        lock(&self.queue).made
    }

    /// A session for the caller alone: a free one, else a new one when the
    /// model grows on demand and has room, else the first freed after
    /// every earlier waiter is served.
    pub fn lease(&self) -> Lease<'_> {
        let mut queue = lock(&self.queue);
        let index = if queue.next_ticket == queue.serving
            && let Some(i) = queue.free.pop()
        {
            i
        } else {
            match self.grow(queue) {
                Ok(i) => i,
                Err(q) => self.wait(q),
            }
        };
        let mut session = lock(
            self.slots[index]
                .get()
                .expect("made sessions fill the first slots"),
        );
        if index == 0 && self.narrow_first.swap(false, Ordering::AcqRel) {
            // The model grew: its first session gives up its extra threads,
            // so the sessions share the cores instead of oversubscribing.
            match make_session(&self.options, 1) {
                Ok(narrow) => *session = narrow,
                Err(e) => gst::warning!(gst::CAT_RUST, "cannot narrow the first session: {}", e),
            }
        }
        Lease {
            model: self,
            index,
            session: Some(session),
        }
    }

    /// Waits for a free session in ticket order.
    fn wait(&self, mut queue: MutexGuard<'_, Queue>) -> usize {
        let ticket = queue.next_ticket;
        queue.next_ticket += 1;
        loop {
            if queue.serving == ticket
                && let Some(i) = queue.free.pop()
            {
                queue.serving += 1;
                drop(queue);
                // The next ticket may find another free session.
                self.freed.notify_all();
                return i;
            }
            queue = super::wait(&self.freed, queue);
        }
    }

    /// Adds a one-thread session for the caller when the model grows on
    /// demand and has room; one caller adds at a time, the others wait on
    /// the sessions made. The queue is unlocked while the session loads.
    fn grow<'q>(
        &'q self,
        mut queue: MutexGuard<'q, Queue>,
    ) -> Result<usize, MutexGuard<'q, Queue>> {
        let k = queue.made;
        if self.options.sessions != 0 || k >= self.slots.len() || queue.growing || queue.grow_failed
        {
            return Err(queue);
        }
        queue.growing = true;
        drop(queue);
        let made = make_session(&self.options, 1);
        let mut queue = lock(&self.queue);
        queue.growing = false;
        match made {
            Ok(session) => {
                let _ = self.slots[k].set(Mutex::new(session));
                queue.made = k + 1;
                if k == 1 && self.options.threads != 1 {
                    self.narrow_first.store(true, Ordering::Release);
                }
                Ok(k)
            }
            Err(e) => {
                // The sessions made go on serving.
                gst::warning!(gst::CAT_RUST, "cannot add a session: {}", e);
                queue.grow_failed = true;
                Err(queue)
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
    let infos = |list: &[ort::value::Outlet]| -> Vec<TensorInfo> {
        list.iter()
            .map(|o| tensor_info(o.name(), o.dtype()))
            .collect()
    };
    let (inputs, outputs) = (infos(first.inputs()), infos(first.outputs()));
    let batcher = match options.batch.max {
        0 | 1 => None,
        _ => {
            batch::check(&inputs, &outputs).map_err(|e| format!("{}: {e}", path.display()))?;
            Some(Batcher::new(options.batch))
        }
    };
    Ok(Model {
        inputs,
        outputs,
        batcher,
        names,
        queue: Mutex::new(Queue {
            free: (0..sessions.len()).rev().collect(),
            made: sessions.len(),
            next_ticket: 0,
            serving: 0,
            growing: false,
            grow_failed: false,
        }),
        freed: Condvar::new(),
        slots: sessions
            .into_iter()
            .map(|s| OnceLock::from(Mutex::new(s)))
            .chain(std::iter::repeat_with(OnceLock::new))
            .take(slots)
            .collect(),
        narrow_first: AtomicBool::new(false),
        options: options.clone(),
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
