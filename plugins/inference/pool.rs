//! Sessions of one model leased in turn to the callers (cameras) that run
//! it. A session runs one inference at a time (`Session::run` needs
//! `&mut`), so with several sessions that many callers run at once.
//!
//! A free session goes to the caller that has waited longest, so cameras
//! are served in turn and no session stays idle while a caller waits for
//! another one. A pool that grows on demand starts with one session (all
//! threads: the fastest for one camera) and, when a caller finds every
//! session busy, adds a one-thread session, up to its size, and remakes the
//! first with one thread too: cameras then run side by side on the cores
//! instead of queueing for one session.
//!
//! Generic over the session so the rules are tested without a runtime.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};

use super::error::Error;
use super::{lock, wait};

/// Makes a session with the given number of intra-op threads (0: the
/// runtime's choice).
pub type Make<S> = Box<dyn Fn(u32) -> Result<S, Error> + Send + Sync>;

pub struct Pool<S> {
    /// Sessions made so far fill the first slots. A slot's mutex is only
    /// ever locked by the caller holding its lease, so it never waits.
    slots: Vec<OnceLock<Mutex<S>>>,
    queue: Mutex<Queue>,
    freed: Condvar,
    /// Sessions are added on demand.
    grows: bool,
    /// Threads of the first sessions; added ones get one.
    threads: u32,
    /// The pool grew: the first session is to be remade with one thread.
    narrow_first: AtomicBool,
    make: Make<S>,
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
pub struct Lease<'a, S> {
    pool: &'a Pool<S>,
    index: usize,
    session: Option<MutexGuard<'a, S>>,
}

impl<S> std::ops::Deref for Lease<'_, S> {
    type Target = S;
    fn deref(&self) -> &S {
        self.session.as_ref().expect("held until dropped")
    }
}

impl<S> std::ops::DerefMut for Lease<'_, S> {
    fn deref_mut(&mut self) -> &mut S {
        self.session.as_mut().expect("held until dropped")
    }
}

impl<S> Drop for Lease<'_, S> {
    fn drop(&mut self) {
        drop(self.session.take());
        lock(&self.pool.queue).free.push(self.index);
        self.pool.freed.notify_all();
    }
}

impl<S> Pool<S> {
    /// `sessions` sessions of `threads` threads made at once; with
    /// `sessions` 0, one made at once and more on demand, up to `most`.
    pub fn new(sessions: u32, threads: u32, most: usize, make: Make<S>) -> Result<Pool<S>, Error> {
        let (first, slots) = match sessions {
            0 => (1, most.max(1)),
            n => (n as usize, n as usize),
        };
        let made = (0..first)
            .map(|_| make(threads))
            .collect::<Result<Vec<S>, Error>>()?;
        Ok(Pool {
            queue: Mutex::new(Queue {
                free: (0..first).rev().collect(),
                made: first,
                next_ticket: 0,
                serving: 0,
                growing: false,
                grow_failed: false,
            }),
            freed: Condvar::new(),
            slots: made
                .into_iter()
                .map(|s| OnceLock::from(Mutex::new(s)))
                .chain(std::iter::repeat_with(OnceLock::new))
                .take(slots)
                .collect(),
            grows: sessions == 0,
            threads,
            narrow_first: AtomicBool::new(false),
            make,
        })
    }

    /// Sessions made so far.
    pub fn count(&self) -> usize {
        lock(&self.queue).made
    }

    /// A session for the caller alone: a free one when nobody waits, else a
    /// new one when the pool grows and has room, else the first freed after
    /// every earlier waiter is served.
    pub fn lease(&self) -> Lease<'_, S> {
        let mut queue = lock(&self.queue);
        let index = if queue.next_ticket == queue.serving
            && let Some(i) = queue.free.pop()
        {
            i
        } else {
            match self.grow(queue) {
                Ok(i) => i,
                Err(queue) => self.wait_turn(queue),
            }
        };
        self.held(index)
    }

    fn held(&self, index: usize) -> Lease<'_, S> {
        let mut session = lock(
            self.slots[index]
                .get()
                .expect("made sessions fill the first slots"),
        );
        if index == 0 && self.narrow_first.swap(false, Ordering::AcqRel) {
            // The pool grew: its first session gives up its extra threads,
            // so the sessions share the cores instead of oversubscribing.
            match (self.make)(1) {
                Ok(narrow) => *session = narrow,
                Err(e) => gst::warning!(gst::CAT_RUST, "cannot narrow the first session: {}", e),
            }
        }
        Lease {
            pool: self,
            index,
            session: Some(session),
        }
    }

    /// Waits for a free session in ticket order.
    fn wait_turn(&self, mut queue: MutexGuard<'_, Queue>) -> usize {
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
            queue = wait(&self.freed, queue);
        }
    }

    /// Adds a one-thread session for the caller when the pool grows and has
    /// room; one caller adds at a time, the others wait on the sessions
    /// made. The queue is unlocked while the session is made.
    fn grow<'q>(
        &'q self,
        mut queue: MutexGuard<'q, Queue>,
    ) -> Result<usize, MutexGuard<'q, Queue>> {
        let k = queue.made;
        if !self.grows || k >= self.slots.len() || queue.growing || queue.grow_failed {
            return Err(queue);
        }
        queue.growing = true;
        drop(queue);
        let made = (self.make)(1);
        let mut queue = lock(&self.queue);
        queue.growing = false;
        match made {
            Ok(session) => {
                let _ = self.slots[k].set(Mutex::new(session));
                queue.made = k + 1;
                if k == 1 && self.threads != 1 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    /// A session that only knows how many threads it was made with.
    #[derive(Debug)]
    struct Fake {
        threads: u32,
    }

    fn counting(made: Arc<AtomicUsize>, fail_after: usize) -> Make<Fake> {
        Box::new(move |threads| {
            if made.fetch_add(1, Ordering::SeqCst) >= fail_after {
                return Err(Error::Load("no room".into()));
            }
            Ok(Fake { threads })
        })
    }

    #[test]
    fn a_fixed_pool_makes_its_sessions_at_once_and_never_grows() {
        let made = Arc::new(AtomicUsize::new(0));
        let pool = Pool::new(2, 3, 8, counting(Arc::clone(&made), usize::MAX)).unwrap();
        assert_eq!(made.load(Ordering::SeqCst), 2);
        let a = pool.lease();
        let b = pool.lease();
        assert_ne!(a.index, b.index);
        assert_eq!((a.threads, b.threads), (3, 3));
        // A third caller waits for one of the two.
        let (tx, rx) = mpsc::channel();
        thread::scope(|s| {
            s.spawn(|| {
                let c = pool.lease();
                tx.send(c.index).unwrap();
            });
            assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
            let freed = b.index;
            drop(b);
            assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), freed);
        });
        drop(a);
        assert_eq!(pool.count(), 2);
        assert_eq!(made.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_growing_pool_adds_one_thread_sessions_and_narrows_the_first() {
        let made = Arc::new(AtomicUsize::new(0));
        let pool = Pool::new(0, 4, 3, counting(Arc::clone(&made), usize::MAX)).unwrap();
        let first = pool.lease();
        assert_eq!((first.index, first.threads), (0, 4));
        let second = pool.lease();
        assert_eq!((second.index, second.threads), (1, 1));
        let third = pool.lease();
        assert_eq!((third.index, third.threads), (2, 1));
        assert_eq!(pool.count(), 3);
        drop(first);
        // Taken again after the pool grew: remade with one thread.
        let again = pool.lease();
        assert_eq!((again.index, again.threads), (0, 1));
        drop((again, second, third));
        // Full: no fourth session, callers share the three.
        let held: Vec<_> = (0..3).map(|_| pool.lease()).collect();
        assert_eq!(pool.count(), 3);
        drop(held);
        assert_eq!(made.load(Ordering::SeqCst), 4, "3 sessions and one remade");
    }

    #[test]
    fn a_failed_growth_is_not_retried_and_the_made_sessions_serve() {
        let made = Arc::new(AtomicUsize::new(0));
        let pool = Pool::new(0, 2, 4, counting(Arc::clone(&made), 1)).unwrap();
        let first = pool.lease();
        thread::scope(|s| {
            let waiter = s.spawn(|| pool.lease().index);
            thread::sleep(Duration::from_millis(50));
            drop(first);
            assert_eq!(waiter.join().unwrap(), 0);
        });
        let _again = pool.lease();
        assert_eq!(pool.count(), 1);
        assert_eq!(
            made.load(Ordering::SeqCst),
            2,
            "one made, one failed, none retried"
        );
    }

    #[test]
    fn waiters_are_served_in_the_order_they_came() {
        let pool = Pool::new(1, 1, 1, counting(Arc::new(AtomicUsize::new(0)), usize::MAX)).unwrap();
        let held = pool.lease();
        let order = Mutex::new(Vec::new());
        thread::scope(|s| {
            for caller in 0..4 {
                let (pool, order) = (&pool, &order);
                s.spawn(move || {
                    let _lease = pool.lease();
                    lock(order).push(caller);
                    thread::sleep(Duration::from_millis(5));
                });
                // Each waiter takes its ticket before the next comes.
                while lock(&pool.queue).next_ticket <= caller as u64 {
                    thread::yield_now();
                }
            }
            drop(held);
        });
        assert_eq!(*lock(&order), vec![0, 1, 2, 3]);
    }
}
