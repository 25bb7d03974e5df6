//! What every element that runs a model shares, so a second one (a
//! classifier on face crops, say) needs no copy of it: the ONNX Runtime
//! session cache ([`load`]), sessions leased in turn and frames of several
//! cameras batched ([`BatchOptions`]), input and output tensors of any element type
//! ([`InputTensor`], [`OutputScratch`]), video frames packed into the input
//! whole or by region ([`VideoInput`]), and per-stage times ([`Timings`]).
//! What a model's outputs mean stays with the element (for detectors, the
//! decoders in `cctv::detect`).

mod batch;
mod cache;
mod session;
mod tensor;
mod timings;
mod video;

pub use batch::BatchOptions;
pub use session::{ExecutionProvider, Lease, Model, SessionOptions, load};
pub use tensor::{InputTensor, OutputScratch};
pub use timings::Timings;
pub use video::VideoInput;

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// Locks `mutex` even if a panic poisoned it: the data behind every lock
/// here stays consistent across a panic (a cache slot left empty, the
/// session queue, a batch being gathered).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Waits on `cv` with `guard`, as [`lock`] does for poison.
fn wait<'a, T>(cv: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.wait(guard).unwrap_or_else(PoisonError::into_inner)
}
