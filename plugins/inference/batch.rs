//! Frames of several callers (cameras) run together in one batch, as
//! DeepStream's nvstreammux does: the first caller to arrive opens a batch
//! and waits, at most `wait`, for every caller seen in the last second (up
//! to `max`) to add its frame; then it runs the batch on a leased session and
//! hands every caller its share of the outputs. Nothing waits longer than
//! `wait` for a camera that has stalled, and no thread is added.
//!
//! Worth it where one call on a batch is much cheaper than a call per frame
//! (GPUs); on a few CPU cores parallel sessions do better (docs/performance.md,
//! Several cameras), so batching is off there unless asked for.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use cctv::detect::{ElementType, Output, TensorInfo};
use ort::session::SessionOutputs;

use super::error::Error;
use super::tensor::{InputTensor, output_f32};
use super::{lock, wait};

/// How frames are gathered; part of the model's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BatchOptions {
    /// Most frames in one run; 1: every caller runs alone.
    pub max: u32,
    /// Longest wait of a batch's first frame for the others.
    pub wait: Duration,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            max: 1,
            wait: Duration::ZERO,
        }
    }
}

/// The batch being gathered, and the counts of batches run.
pub struct Batcher {
    pub options: BatchOptions,
    open: Mutex<Gathering>,
    /// A frame joined the open batch, or the open batch was taken.
    joined: Condvar,
}

#[derive(Default)]
struct Gathering {
    batch: Option<Open>,
    /// Batched input tensors kept for the next batches.
    spare: Vec<InputTensor>,
    runs: u64,
    frames: u64,
    /// Callers (by their input tensor) and when each last came.
    seen: Vec<(usize, Instant)>,
}

/// A caller that has not come for this long is not waited for.
const ACTIVE: Duration = Duration::from_secs(1);

impl Gathering {
    /// Notes that `caller` came; the callers seen lately.
    fn came(&mut self, caller: usize, now: Instant) -> usize {
        self.seen.retain(|&(_, t)| now.duration_since(t) < ACTIVE);
        match self.seen.iter_mut().find(|(c, _)| *c == caller) {
            Some(entry) => entry.1 = now,
            None => self.seen.push((caller, now)),
        }
        self.seen.len()
    }
}

struct Open {
    input: InputTensor,
    members: usize,
    /// How many frames the first caller waits for.
    target: usize,
    round: Arc<Round>,
}

/// One batch's outputs, read by each of its callers.
#[derive(Default)]
struct Round {
    result: Mutex<Option<Result<Arc<BatchOutputs>, Error>>>,
    done: Condvar,
}

/// A batch's outputs copied out of the session, as float32.
pub struct BatchOutputs {
    /// Per model output: the shape of one item (batch 1) and the data.
    tensors: Vec<(Vec<i64>, Vec<f32>)>,
    names: Vec<String>,
    items: usize,
}

/// Why `options` cannot batch this model's inputs and outputs.
pub fn check(inputs: &[TensorInfo], outputs: &[TensorInfo]) -> Result<(), Error> {
    let fixed = inputs
        .iter()
        .chain(outputs)
        .find(|t| t.shape.first().is_none_or(|&d| d > 0));
    match fixed {
        Some(t) => Err(Error::Unfit(format!(
            "batches of several frames need a model with a free batch dimension; {} is {:?}",
            t.name, t.shape
        ))),
        None => Ok(()),
    }
}

impl Batcher {
    pub fn new(options: BatchOptions) -> Batcher {
        Batcher {
            options,
            open: Mutex::new(Gathering::default()),
            joined: Condvar::new(),
        }
    }

    /// Batches run and frames in them so far.
    pub fn counts(&self) -> (u64, u64) {
        let g = lock(&self.open);
        (g.runs, g.frames)
    }

    /// Runs `input` (one frame; each caller keeps its own tensor) in a
    /// batch with other callers' frames: the batch's first caller runs it
    /// with `run` (the batched input and its number of frames), and every
    /// caller's `read` gets its own share of the outputs.
    pub fn run<R>(
        &self,
        input: &InputTensor,
        run: impl FnOnce(&InputTensor, usize) -> Result<BatchOutputs, Error>,
        read: impl FnOnce(&[Output<'_>]) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let now = Instant::now();
        let mut g = lock(&self.open);
        let callers = g.came(input as *const InputTensor as usize, now);
        loop {
            match &mut g.batch {
                Some(open) if open.members < open.target => {
                    // Join the open batch and wait for its first caller to run it.
                    let item = open.members;
                    open.input.copy_item(item, input).map_err(Error::Input)?;
                    open.members += 1;
                    let round = Arc::clone(&open.round);
                    drop(g);
                    self.joined.notify_all();
                    return read_item(&round, item, read);
                }
                // Full, about to be taken by its first caller.
                Some(_) => g = wait(&self.joined, g),
                None => break,
            }
        }
        // Open a batch with this frame first.
        let target = callers.clamp(1, self.options.max as usize);
        let mut batched = match g.spare.pop() {
            Some(spare) if spare.same_image(input) => spare,
            _ => input.empty_like(),
        };
        batched.set_batch(target);
        batched.copy_item(0, input).map_err(Error::Input)?;
        let round = Arc::new(Round::default());
        g.batch = Some(Open {
            input: batched,
            members: 1,
            target,
            round: Arc::clone(&round),
        });
        let deadline = now + self.options.wait;
        while g.batch.as_ref().is_some_and(|o| o.members < o.target) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            g = self
                .joined
                .wait_timeout(g, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let mut open = g.batch.take().expect("only its first caller takes a batch");
        g.runs += 1;
        g.frames += open.members as u64;
        drop(g);
        self.joined.notify_all();

        // The batch's callers are answered even if the run panics.
        let finish = Finish(&round);
        open.input.set_batch(open.members);
        let result = run(&open.input, open.members).map(Arc::new);
        finish.set(result);
        lock(&self.open).spare.push(open.input);
        read_item(&round, 0, read)
    }
}

/// Answers a batch's callers; with an error if dropped unanswered.
struct Finish<'a>(&'a Round);

impl Finish<'_> {
    fn set(self, result: Result<Arc<BatchOutputs>, Error>) {
        *lock(&self.0.result) = Some(result);
    }
}

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        let mut result = lock(&self.0.result);
        if result.is_none() {
            *result = Some(Err(Error::Run("the batch's run failed".into())));
        }
        self.0.done.notify_all();
    }
}

/// Item `item` of `round`'s outputs, once they are there.
fn read_item<R>(
    round: &Round,
    item: usize,
    read: impl FnOnce(&[Output<'_>]) -> Result<R, Error>,
) -> Result<R, Error> {
    let mut result = lock(&round.result);
    while result.is_none() {
        result = wait(&round.done, result);
    }
    let outputs = match result.as_ref().expect("checked above") {
        Ok(outputs) => Arc::clone(outputs),
        Err(e) => return Err(e.clone()),
    };
    drop(result);
    let views: Vec<Output<'_>> = outputs
        .tensors
        .iter()
        .zip(&outputs.names)
        .map(|((shape, data), name)| {
            let per = data.len() / outputs.items;
            Output {
                name,
                shape,
                data: &data[item * per..(item + 1) * per],
            }
        })
        .collect();
    read(&views)
}

/// The outputs of a batch of `items` frames, each split by its first dimension.
pub fn copy_outputs(
    outputs: &SessionOutputs<'_>,
    infos: &[TensorInfo],
    items: usize,
) -> Result<BatchOutputs, Error> {
    let mut tensors = Vec::with_capacity(infos.len());
    let mut names = Vec::with_capacity(infos.len());
    for info in infos {
        let mut converted = Vec::new();
        let Some(extracted) = output_f32(outputs, info, &mut converted) else {
            continue;
        };
        let (shape, data) = extracted
            .map_err(|e| Error::Output(format!("cannot read output {}: {e}", info.name)))?;
        // Float16 outputs are already a copy, in `converted`.
        let (shape, copied) = (
            shape.to_vec(),
            (info.ty != ElementType::F16).then(|| data.to_vec()),
        );
        let data = copied.unwrap_or(converted);
        if shape.first() != Some(&(items as i64)) {
            return Err(Error::Output(format!(
                "output {} has shape {shape:?}, not a batch of {items}",
                info.name
            )));
        }
        let mut item_shape = shape;
        item_shape[0] = 1;
        tensors.push((item_shape, data));
        names.push(info.name.clone());
    }
    Ok(BatchOutputs {
        tensors,
        names,
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cctv::detect::InputSpec;
    use std::thread;

    /// A one-pixel uint8 image holding `value`.
    fn frame(value: u8) -> InputTensor {
        let mut t = InputTensor::new(&InputSpec {
            name: "images".into(),
            width: 1,
            height: 1,
            planar: false,
            ty: ElementType::U8,
        });
        t.bytes_mut().unwrap().fill(value);
        t
    }

    /// What a model computes here: per item, its first byte times ten.
    fn fake_run(batched: &InputTensor, items: usize) -> Result<BatchOutputs, Error> {
        let bytes = batched.bytes().unwrap();
        assert_eq!(batched.batch(), items);
        let data = (0..items).map(|i| bytes[i * 3] as f32 * 10.0).collect();
        Ok(BatchOutputs {
            tensors: vec![(vec![1, 1], data)],
            names: vec!["out".into()],
            items,
        })
    }

    fn value(outputs: &[Output<'_>]) -> Result<f32, Error> {
        Ok(outputs[0].data[0])
    }

    fn batcher(max: u32, wait_ms: u64) -> Batcher {
        Batcher::new(BatchOptions {
            max,
            wait: Duration::from_millis(wait_ms),
        })
    }

    /// Lets the batcher see every caller of `frames` once, one after the
    /// other, each run at once.
    fn meet(b: &mut Batcher, frames: &[InputTensor]) {
        let wait = std::mem::replace(&mut b.options.wait, Duration::ZERO);
        for f in frames {
            b.run(f, fake_run, value).unwrap();
        }
        b.options.wait = wait;
    }

    /// Runs every frame of `frames` at once, one caller (thread) each.
    fn together(b: &Batcher, frames: &[InputTensor]) -> Vec<f32> {
        thread::scope(|s| {
            let handles: Vec<_> = frames
                .iter()
                .map(|f| s.spawn(|| b.run(f, fake_run, value).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    #[test]
    fn callers_seen_lately_share_one_run_and_each_reads_its_own_share() {
        let mut b = batcher(4, 10_000);
        let frames: Vec<InputTensor> = (1..=3).map(frame).collect();
        meet(&mut b, &frames);
        let (runs_before, _) = b.counts();
        // All three were seen in the last second, so the first to come
        // waits for the other two (the long timeout never ends it).
        assert_eq!(together(&b, &frames), vec![10.0, 20.0, 30.0]);
        let (runs, batched) = b.counts();
        assert_eq!(runs - runs_before, 1, "one run for the three frames");
        assert_eq!(batched, 3 + 3);
    }

    #[test]
    fn a_stalled_caller_is_waited_for_only_until_the_timeout() {
        let mut b = batcher(4, 20);
        let (a, stalled) = (frame(1), frame(2));
        meet(&mut b, std::slice::from_ref(&a));
        meet(&mut b, std::slice::from_ref(&stalled));
        // `stalled` was seen, but does not come again: `a` runs alone after
        // the timeout, with its own result.
        assert_eq!(b.run(&a, fake_run, value).unwrap(), 10.0);
        assert_eq!(b.counts(), (3, 3));
    }

    #[test]
    fn a_full_batch_runs_and_the_next_caller_opens_another() {
        let mut b = batcher(2, 10_000);
        let frames: Vec<InputTensor> = (1..=4).map(frame).collect();
        meet(&mut b, &frames);
        let (runs_before, _) = b.counts();
        // All four seen: batches fill to two and the others open the next.
        assert_eq!(together(&b, &frames), vec![10.0, 20.0, 30.0, 40.0]);
        let (runs, frames_run) = b.counts();
        assert_eq!(frames_run, 8);
        assert_eq!(runs - runs_before, 2, "two full batches of two");
    }

    #[test]
    fn a_run_that_fails_or_panics_answers_every_caller_of_its_batch() {
        let mut b = batcher(2, 10_000);
        let frames = [frame(1), frame(2)];
        meet(&mut b, &frames);
        let [x, y] = &frames;
        let outcomes: Vec<Result<f32, Error>> = thread::scope(|s| {
            let first = s.spawn(|| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    b.run(x, |_, _| panic!("the runtime crashed"), value)
                }))
                .unwrap_or_else(|_| Err(Error::Run("panicked".into())))
            });
            let second = s.spawn(|| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    b.run(y, |_, _| panic!("the runtime crashed"), value)
                }))
                .unwrap_or_else(|_| Err(Error::Run("panicked".into())))
            });
            vec![first.join().unwrap(), second.join().unwrap()]
        });
        assert!(outcomes.iter().all(Result::is_err), "{outcomes:?}");
        // The batcher goes on working after the failed batch.
        assert_eq!(together(&b, &frames), vec![10.0, 20.0]);
    }

    #[test]
    fn frames_of_another_size_cannot_join_a_batch() {
        let mut b = batcher(2, 1000);
        let small = frame(1);
        let large = InputTensor::new(&InputSpec {
            name: "images".into(),
            width: 2,
            height: 2,
            planar: false,
            ty: ElementType::U8,
        });
        meet(&mut b, std::slice::from_ref(&small));
        meet(&mut b, std::slice::from_ref(&large));
        let outcomes: Vec<bool> = thread::scope(|s| {
            let a = s.spawn(|| b.run(&small, fake_run, value).is_ok());
            let c = s.spawn(|| b.run(&large, fake_run, value).is_ok());
            vec![a.join().unwrap(), c.join().unwrap()]
        });
        // Whichever opened the batch ran; the other could not join it.
        assert_eq!(outcomes.iter().filter(|ok| **ok).count(), 1, "{outcomes:?}");
    }
}
