//! What every element that runs a model shares, so a second one needs no
//! copy of it: the model properties ([`ModelSettings`]), the shared model
//! cache and its sessions leased in turn ([`load`], `pool`), frames of
//! several cameras batched (`batch`), input and output tensors of any
//! element type ([`InputTensor`]), video frames packed whole, by region or
//! as a warped patch ([`VideoInput`]), a model run on video with its
//! timings ([`Stage`]), several frames of one stream in flight ([`Lanes`]),
//! and one [`Error`] type posted in the right domain.
//! What a model's outputs mean stays with the element (for detectors, the
//! decoders in `cctv::detect`; for classifiers, `crate::classifier`).

mod batch;
mod cache;
mod error;
mod lanes;
mod model;
mod pool;
mod session;
mod settings;
mod stage;
mod tensor;
mod timings;
mod video;

pub use batch::BatchOptions;
pub use error::Error;
pub use lanes::{Lanes, Ticket};
pub use model::{Model, SessionOptions, load};
pub use session::ExecutionProvider;
pub use settings::{ModelProperties, ModelSettings};
pub use stage::Stage;
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
