//! A loaded model shared by every element instance that asks for the same
//! file with the same options, so four cameras load the weights once: its
//! sessions, its batcher and what it declares.

use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use cctv::detect::{Output, TensorInfo};

use super::batch::{self, BatchOptions, Batcher};
use super::cache::Cache;
use super::error::Error;
use super::session::{ExecutionProvider, Sessions, Signature};
use super::tensor::{InputTensor, OutputScratch};

/// What a model is keyed on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionOptions {
    pub path: PathBuf,
    /// Intra-op threads; 0 lets ONNX Runtime choose.
    pub threads: u32,
    pub provider: ExecutionProvider,
    /// Sessions of the model, each able to run while the others do; 0:
    /// grown on demand (see [`super::pool`]).
    pub sessions: u32,
    /// Frames of several callers run as one batch (see [`super::batch`]).
    pub batch: BatchOptions,
}

pub struct Model {
    sessions: Sessions,
    batcher: Option<Batcher>,
    pub inputs: Vec<TensorInfo>,
    pub outputs: Vec<TensorInfo>,
    /// Custom metadata `names` (Ultralytics exports store class names there).
    pub names: Option<String>,
}

static CACHE: LazyLock<Cache<SessionOptions, Model>> = LazyLock::new(Cache::default);

/// The shared model for `options`, loading it if no live element holds it.
/// Waits only for a load of the same model, never for other models.
pub fn load(options: &SessionOptions) -> Result<Arc<Model>, Error> {
    CACHE.get_or_load(options, open)
}

fn open(options: &SessionOptions) -> Result<Model, Error> {
    let (
        sessions,
        Signature {
            inputs,
            outputs,
            names,
        },
    ) = Sessions::open(options)?;
    let batcher = match options.batch.max {
        0 | 1 => None,
        _ => {
            batch::check(&inputs, &outputs)
                .map_err(|e| Error::Unfit(format!("{}: {e}", options.path.display())))?;
            Some(Batcher::new(options.batch))
        }
    };
    Ok(Model {
        sessions,
        batcher,
        inputs,
        outputs,
        names,
    })
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
        read: impl FnOnce(&[Output<'_>]) -> Result<R, Error>,
    ) -> Result<R, Error> {
        match &self.batcher {
            Some(batcher) => batcher.run(
                input,
                |batched, items| {
                    self.sessions.run(batched, |outputs| {
                        batch::copy_outputs(outputs, &self.outputs, items)
                    })
                },
                read,
            ),
            None => self
                .sessions
                .run(input, |outputs| scratch.read(&self.outputs, outputs, read)),
        }
    }

    /// Batches run and the frames in them, with batching.
    pub fn batch_counts(&self) -> Option<(u64, u64)> {
        self.batcher.as_ref().map(Batcher::counts)
    }

    /// Sessions made so far.
    pub fn session_count(&self) -> usize {
        self.sessions.count()
    }
}
