//! Several frames of one stream in a model at once. Each lane holds what a
//! run needs for itself (input tensor, packing, decoding); with more than
//! one lane, work goes to one thread per lane, so one camera's frames run
//! side by side on the cores (the model's sessions grow with the callers,
//! see [`super::pool`]). One lane runs work in the caller's thread: no
//! thread, no queue, no added latency. Results come back through tickets,
//! which the element answers in the order it submitted.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::lock;

type Job<L> = Box<dyn FnOnce(&mut L) + Send>;

pub struct Lanes<L: Send + 'static> {
    lanes: Vec<Arc<Mutex<L>>>,
    /// Work for the lane threads; none with one lane.
    jobs: Option<Sender<Job<L>>>,
    threads: Vec<JoinHandle<()>>,
}

/// A result to come.
pub enum Ticket<R> {
    Waiting(Receiver<R>),
    Done(R),
    /// The lane's thread ended without answering (the work panicked).
    Lost,
}

impl<R> Ticket<R> {
    /// Whether the result is there, without waiting.
    pub fn ready(&mut self) -> bool {
        if let Ticket::Waiting(rx) = self {
            *self = match rx.try_recv() {
                Ok(r) => Ticket::Done(r),
                Err(mpsc::TryRecvError::Empty) => return false,
                Err(mpsc::TryRecvError::Disconnected) => Ticket::Lost,
            };
        }
        true
    }

    /// The result, once there; `None` if the work never ended.
    pub fn wait(self) -> Option<R> {
        match self {
            Ticket::Waiting(rx) => rx.recv().ok(),
            Ticket::Done(r) => Some(r),
            Ticket::Lost => None,
        }
    }
}

impl<L: Send + 'static> Lanes<L> {
    /// One lane per item of `lanes`; threads named `{name}-{i}` when there
    /// are several. An error if a thread cannot be started.
    pub fn new(lanes: Vec<L>, name: &str) -> std::io::Result<Lanes<L>> {
        let lanes: Vec<_> = lanes.into_iter().map(|l| Arc::new(Mutex::new(l))).collect();
        if lanes.len() < 2 {
            return Ok(Lanes {
                lanes,
                jobs: None,
                threads: Vec::new(),
            });
        }
        let (tx, rx) = mpsc::channel::<Job<L>>();
        let rx = Arc::new(Mutex::new(rx));
        let mut threads = Vec::with_capacity(lanes.len());
        for (i, lane) in lanes.iter().enumerate() {
            let (lane, rx) = (Arc::clone(lane), Arc::clone(&rx));
            let thread = std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || {
                    loop {
                        // The next job of any lane's: a free lane takes it.
                        let job = lock(&rx).recv();
                        let Ok(job) = job else { break };
                        // A job that panics loses its ticket, not the lane.
                        let mut lane = lock(&lane);
                        let run = std::panic::AssertUnwindSafe(|| job(&mut lane));
                        std::panic::catch_unwind(run).ok();
                    }
                });
            match thread {
                Ok(t) => threads.push(t),
                Err(e) => {
                    drop(tx);
                    threads.into_iter().for_each(|t: JoinHandle<()>| {
                        t.join().ok();
                    });
                    return Err(e);
                }
            }
        }
        Ok(Lanes {
            lanes,
            jobs: Some(tx),
            threads,
        })
    }

    /// Lanes, so frames in flight at most.
    pub fn in_flight(&self) -> usize {
        self.lanes.len()
    }

    /// Runs `work` on a free lane: at once with one lane, else on the next
    /// lane thread free.
    pub fn submit<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut L) -> R + Send + 'static,
    ) -> Ticket<R> {
        let Some(jobs) = &self.jobs else {
            return Ticket::Done(work(&mut lock(&self.lanes[0])));
        };
        let (tx, rx) = mpsc::sync_channel(1);
        let job: Job<L> = Box::new(move |lane| {
            let r = work(lane);
            tx.send(r).ok();
        });
        match jobs.send(job) {
            Ok(()) => Ticket::Waiting(rx),
            Err(_) => Ticket::Lost,
        }
    }

    /// Calls `f` on every lane in turn (waiting for work in progress).
    pub fn each(&self, mut f: impl FnMut(&mut L)) {
        for lane in &self.lanes {
            f(&mut lock(lane));
        }
    }
}

impl<L: Send + 'static> Drop for Lanes<L> {
    /// Ends the threads once their work in progress is done.
    fn drop(&mut self) {
        self.jobs = None;
        for t in self.threads.drain(..) {
            t.join().ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn one_lane_runs_in_the_callers_thread() {
        let lanes = Lanes::new(vec![0u32], "t").unwrap();
        let caller = std::thread::current().id();
        let mut t = lanes.submit(move |n| {
            *n += 1;
            std::thread::current().id() == caller
        });
        assert!(t.ready());
        assert_eq!(t.wait(), Some(true));
        let mut seen = 0;
        lanes.each(|n| seen = *n);
        assert_eq!(seen, 1);
    }

    #[test]
    fn two_lanes_run_side_by_side_and_answer_each_ticket() {
        use std::sync::Condvar;
        let lanes = Lanes::new(vec![0u32, 0u32], "t").unwrap();
        // Each job waits until two are running: on one lane at a time the
        // first would give up waiting.
        let running = Arc::new((Mutex::new(0u32), Condvar::new()));
        let tickets: Vec<_> = (0..4)
            .map(|i| {
                let running = Arc::clone(&running);
                lanes.submit(move |n| {
                    let (count, changed) = &*running;
                    let mut c = count.lock().unwrap();
                    *c += 1;
                    changed.notify_all();
                    let target = if i < 2 { 2 } else { 4 };
                    let (c, _) = changed
                        .wait_timeout_while(c, Duration::from_secs(10), |c| *c < target)
                        .unwrap();
                    *n += 1;
                    (i, *c >= target)
                })
            })
            .collect();
        let answers: Vec<_> = tickets.into_iter().map(|t| t.wait().unwrap()).collect();
        // Each ticket gets its own job's answer; every job had company.
        assert_eq!(answers, vec![(0, true), (1, true), (2, true), (3, true)]);
        let mut runs = 0;
        lanes.each(|n| runs += *n);
        assert_eq!(runs, 4);
    }

    #[test]
    fn a_panicking_job_loses_its_ticket_only() {
        let lanes = Lanes::new(vec![(), ()], "t").unwrap();
        let lost = lanes.submit(|_| -> u32 { panic!("on purpose") });
        assert!(lost.wait().is_none());
        // Both lanes still answer.
        let (a, b) = (lanes.submit(|_| 7), lanes.submit(|_| 8));
        assert_eq!((a.wait(), b.wait()), (Some(7), Some(8)));
    }
}
