//! The delivery worker shared by the sinks that talk to a server. The
//! streaming thread only queues items ([`Worker::push`] never blocks); one
//! thread per sink connects, delivers batches and waits for the server's
//! acknowledgement through the sink's [`Protocol`], and retries with capped
//! backoff when the connection fails.
//!
//! Queue policy (what `max-queued` bounds): items are queued in order and
//! delivered in order. [`Class::Sample`]s (per-frame data) are dropped oldest
//! first when the queue is full; a [`Class::Latest`] replaces the queued item
//! with the same key, so a live track costs one item however long the outage;
//! [`Class::Record`]s (life-cycle facts) go to the on-disk spool while the
//! server is away, when the sink has one, and are otherwise dropped only when
//! no sample is left to drop (counted in `dropped` and reported).
//!
//! Failures are fatal (the server refused us: credentials, rights, schema,
//! TLS) or transient (connection lost, server restarting). A server that
//! stays unreachable for `retry-timeout` becomes fatal, at start as later.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cctv::backoff::Backoff;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::spool::Spool;

/// How the queue treats an item while the server is away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Per-frame data: dropped oldest first when the queue is full.
    Sample,
    /// The latest state of something (a live track): replaces the queued
    /// item with the same key.
    Latest(u64),
    /// A fact that must arrive (life-cycle events, track rows): spooled.
    Record,
}

pub trait Item: Serialize + DeserializeOwned + Send + 'static {
    fn class(&self) -> Class;
}

#[derive(Debug, Clone)]
pub enum Failure {
    /// The connection or the server's availability: retry.
    Transient(String),
    /// Retrying cannot help (refused credentials, rights, schema, TLS).
    Fatal(String),
}

/// What a sink brings to the worker: its protocol, nothing else. Items are
/// sent in batches and acknowledged in the order sent; up to `window()`
/// items may wait for their acknowledgement while more are sent, so a
/// server's acknowledgement delay does not stall the stream.
pub trait Protocol: Send + 'static {
    type Item: Item;
    type Connection: Send;
    /// Connects and prepares (e.g. creates the schema); returns within the
    /// protocol's connect timeout, or soon after `cancel` is set.
    fn connect(&mut self, cancel: &AtomicBool) -> Result<Self::Connection, Failure>;
    /// Sends a batch (it need not be acknowledged yet).
    fn send(&mut self, conn: &mut Self::Connection, batch: &[Self::Item]) -> Result<(), Failure>;
    /// Waits up to `wait` for acknowledgements (and keeps an idle connection
    /// alive); returns how many of the oldest items sent were acknowledged.
    fn acknowledged(
        &mut self,
        conn: &mut Self::Connection,
        wait: Duration,
    ) -> Result<usize, Failure>;
    /// Items sent and not acknowledged yet, at most.
    fn window(&self) -> usize;
}

/// How long a sent item may wait for its acknowledgement before the
/// connection is taken for lost.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Config {
    pub max_queued: usize,
    pub batch_size: usize,
    /// How long queued items may wait for a batch to fill.
    pub linger: Duration,
    /// Give up when the server stays unreachable this long (`None`: never).
    pub retry_timeout: Option<Duration>,
    pub spool: Option<Spool>,
    /// Thread name, e.g. `pgsink-worker`.
    pub name: String,
}

/// Counters readable through the element's `stats`.
#[derive(Debug, Default)]
pub struct Stats {
    pub delivered: AtomicU64,
    pub batches: AtomicU64,
    pub retries: AtomicU64,
    pub reconnects: AtomicU64,
    pub dropped: AtomicU64,
    /// Records among `dropped`: facts lost, not just samples.
    pub dropped_records: AtomicU64,
}

/// How a flush ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flushed {
    /// Everything was acknowledged.
    Done,
    /// The deadline passed: `queued` items in memory, `spooled` on disk.
    TimedOut { queued: u64, spooled: u64 },
    /// `unlock()`: a state change interrupted the wait.
    Interrupted,
    /// The worker gave up with this error (already posted).
    Failed(String),
}

struct Queue<I> {
    /// Items in order (`seq`); `None` marks a replaced or dropped one.
    items: VecDeque<(u64, Option<I>)>,
    live: usize,
    samples: usize,
    /// Where each `Latest` key's item is (its seq).
    latest: HashMap<u64, u64>,
    next_seq: u64,
    /// When the oldest queued item arrived (for `linger`).
    oldest: Option<Instant>,
    /// Taken by the worker, not yet acknowledged.
    in_flight: usize,
    spooled: u64,
    /// The server was reached at least once: a flush is not done before.
    reached: bool,
    flush: bool,
    stop: bool,
    interrupted: bool,
    fatal: Option<String>,
    last_error: Option<String>,
}

impl<I: Item> Queue<I> {
    fn new(spooled: u64, reached: bool, last_error: Option<String>) -> Queue<I> {
        Queue {
            items: VecDeque::new(),
            live: 0,
            samples: 0,
            latest: HashMap::new(),
            next_seq: 0,
            oldest: None,
            in_flight: 0,
            spooled,
            reached,
            flush: false,
            stop: false,
            interrupted: false,
            fatal: None,
            last_error,
        }
    }

    /// A batch is due: full, its oldest item waited `linger`, or a flush
    /// or the stop wants everything now.
    fn due(&self, batch_size: usize, linger: Duration) -> bool {
        self.live > 0
            && (self.live >= batch_size
                || self.flush
                || self.stop
                || self.oldest.is_some_and(|t| t.elapsed() >= linger))
    }

    fn push(&mut self, item: I, max: usize, stats: &Stats) {
        let class = item.class();
        if let Class::Latest(key) = class
            && let Some(&seq) = self.latest.get(&key)
            && let Ok(i) = self.items.binary_search_by_key(&seq, |(s, _)| *s)
        {
            self.items[i].1 = Some(item);
            return;
        }
        if self.live >= max && !self.drop_oldest_sample(stats) {
            if class == Class::Sample {
                stats.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            self.drop_oldest_record(stats);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Class::Latest(key) = class {
            self.latest.insert(key, seq);
        }
        if class == Class::Sample {
            self.samples += 1;
        }
        self.items.push_back((seq, Some(item)));
        self.live += 1;
        self.oldest.get_or_insert_with(Instant::now);
    }

    fn drop_oldest_sample(&mut self, stats: &Stats) -> bool {
        if self.samples == 0 {
            return false;
        }
        let found = self
            .items
            .iter()
            .position(|(_, i)| i.as_ref().is_some_and(|i| i.class() == Class::Sample));
        let Some(i) = found else { return false };
        self.items[i].1 = None;
        self.live -= 1;
        self.samples -= 1;
        stats.dropped.fetch_add(1, Ordering::Relaxed);
        self.compact();
        true
    }

    fn drop_oldest_record(&mut self, stats: &Stats) {
        while let Some((seq, item)) = self.items.pop_front() {
            let Some(item) = item else { continue };
            if let Class::Latest(key) = item.class()
                && self.latest.get(&key) == Some(&seq)
            {
                self.latest.remove(&key);
            }
            self.live -= 1;
            stats.dropped.fetch_add(1, Ordering::Relaxed);
            stats.dropped_records.fetch_add(1, Ordering::Relaxed);
            break;
        }
    }

    /// Keeps dropped slots from piling up behind an undeliverable front.
    fn compact(&mut self) {
        while matches!(self.items.front(), Some((_, None))) {
            self.items.pop_front();
        }
        if self.items.len() > 2 * self.live + 64 {
            self.items.retain(|(_, i)| i.is_some());
        }
    }

    /// Takes up to `max` items from the front, in order.
    fn take(&mut self, max: usize) -> Vec<(u64, I)> {
        let mut out = Vec::new();
        while out.len() < max {
            let Some((seq, item)) = self.items.pop_front() else {
                break;
            };
            let Some(item) = item else { continue };
            match item.class() {
                Class::Latest(key) if self.latest.get(&key) == Some(&seq) => {
                    self.latest.remove(&key);
                }
                Class::Sample => self.samples -= 1,
                _ => {}
            }
            self.live -= 1;
            out.push((seq, item));
        }
        if self.live == 0 {
            self.oldest = None;
        }
        out
    }

    /// Puts items that were not delivered back where their `seq` places
    /// them. A `Latest` that was replaced meanwhile stays replaced.
    fn put_back(&mut self, batch: Vec<(u64, I)>) {
        for (seq, item) in batch.into_iter().rev() {
            match item.class() {
                Class::Latest(key) => {
                    if self.latest.contains_key(&key) {
                        continue;
                    }
                    self.latest.insert(key, seq);
                }
                Class::Sample => self.samples += 1,
                Class::Record => {}
            }
            let at = self
                .items
                .binary_search_by_key(&seq, |(s, _)| *s)
                .unwrap_or_else(|at| at);
            self.items.insert(at, (seq, Some(item)));
            self.live += 1;
        }
        if self.live > 0 {
            self.oldest.get_or_insert_with(Instant::now);
        }
    }

    /// Takes every record (or, when stopping, every item), in order, for the spool.
    fn take_for_spool(&mut self, all: bool) -> Vec<(u64, I)> {
        if all {
            return self.take(usize::MAX);
        }
        let mut out = Vec::new();
        for (seq, slot) in self.items.iter_mut() {
            if slot.as_ref().is_some_and(|i| i.class() == Class::Record) {
                out.extend(slot.take().map(|i| (*seq, i)));
                self.live -= 1;
            }
        }
        self.compact();
        out
    }
}

struct Shared<I> {
    queue: Mutex<Queue<I>>,
    /// Wakes the worker (new items, flush, stop) and the flushing thread.
    wake: Condvar,
    stats: Stats,
    connected: AtomicBool,
    /// Set by `stop()`: ends waits inside the protocol too.
    cancel: AtomicBool,
}

pub struct Worker<I: Item> {
    shared: Arc<Shared<I>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    max_queued: usize,
    spool: bool,
}

impl<I: Item> Worker<I> {
    /// Makes the first connection attempt here, so that a refusal fails the
    /// element's start (the state change) rather than surfacing later, then
    /// starts the worker thread; `on_fatal` is called once, first, when the
    /// thread gives up (post the element error there).
    pub fn start<P: Protocol<Item = I>>(
        mut protocol: P,
        mut config: Config,
        on_fatal: impl Fn(&str) + Send + 'static,
    ) -> Result<Worker<I>, String> {
        let (connection, first_error) = match protocol.connect(&AtomicBool::new(false)) {
            Ok(c) => (Some(c), None),
            Err(Failure::Fatal(why)) => return Err(why),
            Err(Failure::Transient(why)) => (None, Some(why)),
        };
        let reached = connection.is_some();
        let spooled = config.spool.as_ref().map_or(0, Spool::len);
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::new(spooled, reached, first_error)),
            wake: Condvar::new(),
            stats: Stats::default(),
            connected: AtomicBool::new(reached),
            cancel: AtomicBool::new(false),
        });
        let max_queued = config.max_queued;
        let spool = config.spool.is_some();
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(std::mem::take(&mut config.name))
                .spawn(move || {
                    let mut run = Run {
                        protocol,
                        config,
                        shared: &shared,
                        unreachable_since: (!reached).then(Instant::now),
                        ever_connected: reached,
                        connection,
                        in_flight: VecDeque::new(),
                        backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(5)),
                    };
                    if !reached {
                        // The first attempt failed: wait before the next.
                        run.pause();
                    }
                    if let Err(why) = run.run() {
                        on_fatal(&why);
                        run.spill(true);
                        shared.queue.lock().unwrap().fatal = Some(why);
                        shared.wake.notify_all();
                    }
                })
                .map_err(|e| format!("cannot start the worker thread: {e}"))?
        };
        Ok(Worker {
            shared,
            thread: Mutex::new(Some(thread)),
            max_queued,
            spool,
        })
    }

    /// Queues items without blocking (see the module doc for the policy).
    pub fn push(&self, items: impl IntoIterator<Item = I>) {
        let mut q = self.shared.queue.lock().unwrap();
        for item in items {
            // With a spool, records over the limit go to disk instead.
            let max = if self.spool && item.class() == Class::Record {
                usize::MAX
            } else {
                self.max_queued
            };
            q.push(item, max, &self.shared.stats);
        }
        drop(q);
        self.shared.wake.notify_all();
    }

    /// The server is reachable now (the last attempt succeeded).
    pub fn connected(&self) -> bool {
        self.shared.connected.load(Ordering::Relaxed)
    }

    /// Why the server was last unreachable, if it ever was.
    pub fn last_error(&self) -> Option<String> {
        self.shared.queue.lock().unwrap().last_error.clone()
    }

    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// The worker's figures and health for the metrics exporter; `what`
    /// names the server (no credentials).
    pub fn report(&self, what: &str, out: &mut Vec<crate::metrics::Extra>) {
        use crate::metrics::Extra::{Counter, Degraded, Gauge};
        let stats = &self.shared.stats;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (queued, spooled, last_error, fatal) = {
            let q = self.shared.queue.lock().unwrap();
            (
                (q.live + q.in_flight) as i64,
                q.spooled as i64,
                q.last_error.clone(),
                q.fatal.clone(),
            )
        };
        let connected = self.connected();
        out.extend([
            Counter {
                name: "cctv_delivered",
                help: "Items the server acknowledged",
                value: load(&stats.delivered),
            },
            Counter {
                name: "cctv_reconnects",
                help: "Connections made again after a failure",
                value: load(&stats.reconnects),
            },
            Counter {
                name: "cctv_items_dropped",
                help: "Items dropped because the queue was full",
                value: load(&stats.dropped),
            },
            Gauge {
                name: "cctv_queued",
                help: "Items waiting in memory for the server",
                value: queued,
            },
            Gauge {
                name: "cctv_spooled",
                help: "Items waiting on disk for the server",
                value: spooled,
            },
            Gauge {
                name: "cctv_connected",
                help: "1 while the server is reachable",
                value: connected as i64,
            },
        ]);
        if let Some(why) = fatal {
            out.push(Degraded(format!("{what} refused us: {why}")));
        } else if !connected {
            out.push(Degraded(format!(
                "{what} unreachable: {}",
                last_error.unwrap_or_default()
            )));
        }
    }

    /// Waits until everything queued (and spooled) was acknowledged, the
    /// deadline passed, the worker gave up, or `unlock()` interrupted it.
    pub fn flush(&self, timeout: Duration) -> Flushed {
        let deadline = Instant::now() + timeout;
        let mut q = self.shared.queue.lock().unwrap();
        q.flush = true;
        self.shared.wake.notify_all();
        let result = loop {
            if let Some(why) = &q.fatal {
                break Flushed::Failed(why.clone());
            }
            if q.interrupted {
                break Flushed::Interrupted;
            }
            if q.reached && q.live + q.in_flight == 0 && q.spooled == 0 {
                break Flushed::Done;
            }
            let now = Instant::now();
            if now >= deadline {
                break Flushed::TimedOut {
                    queued: (q.live + q.in_flight) as u64,
                    spooled: q.spooled,
                };
            }
            q = self.shared.wake.wait_timeout(q, deadline - now).unwrap().0;
        };
        q.flush = false;
        result
    }

    /// Stops the thread without waiting for the server: what is still
    /// queued goes to the spool when there is one, and is discarded otherwise.
    pub fn stop(&self) {
        self.shared.queue.lock().unwrap().stop = true;
        self.shared.cancel.store(true, Ordering::SeqCst);
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.lock().unwrap().take() {
            t.join().ok();
        }
    }
}

/// What the sink layer does with a worker whatever its items: it holds the
/// worker as `dyn Control`, while the element's stream pushes typed items.
pub trait Control: Send + Sync {
    fn flush(&self, timeout: Duration) -> Flushed;
    fn idle(&self) -> bool;
    fn interrupt(&self, on: bool);
    fn stop(&self);
    fn has_failed(&self) -> bool;
    fn has_spool(&self) -> bool;
    fn stats_fields(&self, s: gst::structure::Builder) -> gst::structure::Builder;
    fn report(&self, what: &str, out: &mut Vec<crate::metrics::Extra>);
}

impl<I: Item> Control for Worker<I> {
    fn flush(&self, timeout: Duration) -> Flushed {
        Worker::flush(self, timeout)
    }

    /// Nothing is queued or in flight: stopping loses nothing, whether the
    /// server was ever reached or not (spooled items stay on disk).
    fn idle(&self) -> bool {
        let q = self.shared.queue.lock().unwrap();
        q.live + q.in_flight == 0
    }

    /// Ends a `flush` in progress (`BaseSink::unlock`); until
    /// `unlock_stop`, flushes return at once.
    fn interrupt(&self, on: bool) {
        self.shared.queue.lock().unwrap().interrupted = on;
        self.shared.wake.notify_all();
    }

    fn stop(&self) {
        Worker::stop(self)
    }

    /// Undelivered items go to disk rather than being lost.
    fn has_spool(&self) -> bool {
        self.spool
    }

    /// The worker gave up (its error was posted).
    fn has_failed(&self) -> bool {
        self.shared.queue.lock().unwrap().fatal.is_some()
    }

    /// The element's `stats` fields common to every network sink.
    fn stats_fields(&self, s: gst::structure::Builder) -> gst::structure::Builder {
        let q = self.shared.queue.lock().unwrap();
        let stats = &self.shared.stats;
        s.field("delivered", stats.delivered.load(Ordering::Relaxed))
            .field("batches", stats.batches.load(Ordering::Relaxed))
            .field("retries", stats.retries.load(Ordering::Relaxed))
            .field("reconnects", stats.reconnects.load(Ordering::Relaxed))
            .field("dropped", stats.dropped.load(Ordering::Relaxed))
            .field(
                "dropped-records",
                stats.dropped_records.load(Ordering::Relaxed),
            )
            .field("queued", (q.live + q.in_flight) as u64)
            .field("spooled", q.spooled)
            .field("connected", self.shared.connected.load(Ordering::Relaxed))
            .field("last-error", q.last_error.clone().unwrap_or_default())
    }

    fn report(&self, what: &str, out: &mut Vec<crate::metrics::Extra>) {
        Worker::report(self, what, out)
    }
}

impl<I: Item> Drop for Worker<I> {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The worker thread's own state.
struct Run<'a, P: Protocol> {
    protocol: P,
    config: Config,
    shared: &'a Shared<P::Item>,
    connection: Option<P::Connection>,
    backoff: Backoff,
    unreachable_since: Option<Instant>,
    ever_connected: bool,
    /// Sent, not acknowledged yet, oldest first, with when each was sent.
    in_flight: VecDeque<(u64, P::Item, Instant)>,
}

impl<P: Protocol> Run<'_, P> {
    fn lock(&self) -> MutexGuard<'_, Queue<P::Item>> {
        self.shared.queue.lock().unwrap()
    }

    fn run(&mut self) -> Result<(), String> {
        loop {
            if self.lock().stop {
                self.requeue();
                self.spill(true);
                return Ok(());
            }
            if self.connection.is_none() {
                // Records wait on disk while the server is away.
                self.spill(false);
                self.connect()?;
                continue;
            }
            let spooled = self.config.spool.as_ref().is_some_and(|s| !s.is_empty());
            if spooled && self.in_flight.is_empty() {
                self.spill(false);
                if let Err(f) = self.deliver_spooled() {
                    self.failed(f)?;
                }
                continue;
            }
            let room = self.protocol.window().saturating_sub(self.in_flight.len());
            if !spooled
                && room > 0
                && let Some(batch) = self.take_due(room.min(self.config.batch_size))
                && let Err(f) = self.send(batch)
            {
                self.failed(f)?;
                continue;
            }
            if self.in_flight.is_empty() {
                self.wait_for_items();
            }
            // Acknowledgements, and the connection's keep-alive when idle.
            let wait = if self.in_flight.is_empty() {
                Duration::ZERO
            } else {
                Duration::from_millis(2)
            };
            let conn = self.connection.as_mut().expect("connected");
            match self.protocol.acknowledged(conn, wait) {
                Ok(n) => self.acknowledged(n),
                Err(f) => {
                    self.failed(f)?;
                    continue;
                }
            }
            if self
                .in_flight
                .front()
                .is_some_and(|(_, _, sent)| sent.elapsed() >= ACK_TIMEOUT)
            {
                let late = self.in_flight.len();
                self.failed(Failure::Transient(format!(
                    "{late} items not acknowledged within {} s",
                    ACK_TIMEOUT.as_secs()
                )))?;
            }
        }
    }

    /// Up to `max` queued items once a batch is due: full, old enough
    /// (`linger`), flushed or stopping.
    fn take_due(&mut self, max: usize) -> Option<Vec<(u64, P::Item)>> {
        let mut q = self.lock();
        if !q.due(self.config.batch_size, self.config.linger) {
            return None;
        }
        let batch = q.take(max);
        q.in_flight += batch.len();
        Some(batch)
    }

    /// Waits (at most 50 ms, for the keep-alive) for a batch to be due.
    fn wait_for_items(&self) {
        let q = self.lock();
        if q.stop || q.flush && q.live > 0 {
            return;
        }
        let wait = match q.oldest {
            Some(t) => self.config.linger.saturating_sub(t.elapsed()),
            None => Duration::from_millis(50),
        };
        if !wait.is_zero() {
            drop(self.shared.wake.wait_timeout(q, wait).unwrap());
        }
    }

    fn send(&mut self, batch: Vec<(u64, P::Item)>) -> Result<(), Failure> {
        let (seqs, items): (Vec<u64>, Vec<P::Item>) = batch.into_iter().unzip();
        let conn = self.connection.as_mut().expect("connected");
        let result = self.protocol.send(conn, &items);
        self.shared.stats.batches.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        // Kept as in flight even on failure: `requeue` puts them back.
        self.in_flight.extend(
            seqs.into_iter()
                .zip(items)
                .map(|(seq, item)| (seq, item, now)),
        );
        result
    }

    /// The `n` oldest items in flight were acknowledged.
    fn acknowledged(&mut self, n: usize) {
        let n = n.min(self.in_flight.len());
        if n == 0 {
            return;
        }
        self.in_flight.drain(..n);
        self.lock().in_flight -= n;
        self.delivered(n);
        self.shared.wake.notify_all();
    }

    /// Puts what is in flight back at the front of the queue, to be sent
    /// again (the connection failed or the worker stops before the server
    /// acknowledged it).
    fn requeue(&mut self) {
        if self.in_flight.is_empty() {
            return;
        }
        self.shared.stats.retries.fetch_add(1, Ordering::Relaxed);
        let batch: Vec<(u64, P::Item)> = self.in_flight.drain(..).map(|(s, i, _)| (s, i)).collect();
        let mut q = self.lock();
        q.put_back(batch);
        q.in_flight = 0;
    }

    /// Sends the oldest spooled records and waits for all of them to be
    /// acknowledged before they leave the spool.
    fn deliver_spooled(&mut self) -> Result<(), Failure> {
        let Some(spool) = self.config.spool.as_mut() else {
            return Ok(());
        };
        let max = self.config.batch_size.min(self.protocol.window()).max(1);
        let peeked = spool.peek::<P::Item>(max).map_err(Failure::Transient)?;
        let items = &peeked.items;
        let conn = self.connection.as_mut().expect("connected");
        if !items.is_empty() {
            self.protocol.send(conn, items)?;
            self.shared.stats.batches.fetch_add(1, Ordering::Relaxed);
            let deadline = Instant::now() + ACK_TIMEOUT;
            let mut acked = 0;
            while acked < items.len() {
                if Instant::now() >= deadline || self.shared.cancel.load(Ordering::SeqCst) {
                    return Err(Failure::Transient(format!(
                        "{} spooled items not acknowledged",
                        items.len() - acked
                    )));
                }
                acked += self
                    .protocol
                    .acknowledged(conn, Duration::from_millis(10))?;
            }
        }
        let spool = self.config.spool.as_mut().expect("spool");
        spool.consume(&peeked).map_err(Failure::Transient)?;
        let left = spool.len();
        self.delivered(peeked.items.len());
        self.lock().spooled = left;
        self.shared.wake.notify_all();
        Ok(())
    }

    /// One connection attempt, then the backoff delay if it failed.
    fn connect(&mut self) -> Result<(), String> {
        match self.protocol.connect(&self.shared.cancel) {
            Ok(c) => {
                if self.ever_connected {
                    self.shared.stats.reconnects.fetch_add(1, Ordering::Relaxed);
                }
                self.ever_connected = true;
                self.connection = Some(c);
                self.shared.connected.store(true, Ordering::Relaxed);
                self.lock().reached = true;
                self.shared.wake.notify_all();
                self.unreachable_since = None;
                self.backoff.reset();
                Ok(())
            }
            Err(f) => self.failed(f),
        }
    }

    /// Records a failure: fatal ends the worker, transient waits the backoff.
    fn failed(&mut self, failure: Failure) -> Result<(), String> {
        // What was in flight on this connection was not acknowledged.
        self.requeue();
        self.connection = None;
        self.shared.connected.store(false, Ordering::Relaxed);
        let why = match failure {
            Failure::Fatal(why) => return Err(why),
            Failure::Transient(why) => why,
        };
        let since = *self.unreachable_since.get_or_insert_with(Instant::now);
        if let Some(limit) = self.config.retry_timeout
            && since.elapsed() >= limit
        {
            return Err(format!(
                "{why} (unreachable for {} s, retry-timeout)",
                since.elapsed().as_secs()
            ));
        }
        self.lock().last_error = Some(why);
        self.pause();
        Ok(())
    }

    /// Waits the backoff delay (or until stopped), moving records that
    /// arrive meanwhile to the spool at once: a crash loses none of them.
    fn pause(&mut self) {
        let until = Instant::now() + self.backoff.next_delay();
        loop {
            self.spill(false);
            let q = self.lock();
            let now = Instant::now();
            if q.stop || now >= until {
                return;
            }
            drop(self.shared.wake.wait_timeout(q, until - now).unwrap());
        }
    }

    fn delivered(&self, n: usize) {
        self.shared
            .stats
            .delivered
            .fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Moves the queued records (`all`: every item) to the spool, if there is one.
    fn spill(&mut self, all: bool) {
        let Some(spool) = self.config.spool.as_mut() else {
            return;
        };
        let records = self.shared.queue.lock().unwrap().take_for_spool(all);
        if records.is_empty() {
            return;
        }
        let items: Vec<&P::Item> = records.iter().map(|(_, i)| i).collect();
        let result = spool.append(&items);
        let left = spool.len();
        let mut q = self.shared.queue.lock().unwrap();
        q.spooled = left;
        match result {
            Ok(dropped) => {
                let stats = &self.shared.stats;
                stats.dropped.fetch_add(dropped, Ordering::Relaxed);
                stats.dropped_records.fetch_add(dropped, Ordering::Relaxed);
            }
            Err(e) => {
                // The disk refused: keep them in memory rather than lose them.
                q.last_error = Some(e);
                q.put_back(records);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// An item: its number and how the queue treats it.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    enum T {
        S(u64),
        L(u64, u64),
        R(u64),
    }

    impl Item for T {
        fn class(&self) -> Class {
            match self {
                T::S(_) => Class::Sample,
                T::L(key, _) => Class::Latest(*key),
                T::R(_) => Class::Record,
            }
        }
    }

    fn queue() -> Queue<T> {
        Queue::new(0, true, None)
    }

    fn take_all(q: &mut Queue<T>) -> Vec<T> {
        q.take(usize::MAX).into_iter().map(|(_, i)| i).collect()
    }

    #[test]
    fn a_full_queue_drops_samples_oldest_first_then_the_oldest_record() {
        let stats = Stats::default();
        let mut q = queue();
        for item in [T::S(1), T::R(2), T::S(3)] {
            q.push(item, 3, &stats);
        }
        q.push(T::S(4), 3, &stats);
        q.push(T::R(5), 3, &stats);
        q.push(T::R(6), 3, &stats);
        // Samples 1, 3 and 4 made room, oldest first; records stay.
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 3);
        // No sample left: a new sample is the one dropped, a new record
        // drops the oldest record, and both are counted.
        q.push(T::S(7), 3, &stats);
        q.push(T::R(8), 3, &stats);
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 5);
        assert_eq!(stats.dropped_records.load(Ordering::Relaxed), 1);
        assert_eq!(take_all(&mut q), [T::R(5), T::R(6), T::R(8)]);
        assert_eq!(q.live, 0);
    }

    #[test]
    fn the_latest_state_replaces_its_key_in_place_and_stays_replaced() {
        let stats = Stats::default();
        let mut q = queue();
        q.push(T::L(1, 0), 10, &stats);
        q.push(T::L(2, 0), 10, &stats);
        q.push(T::L(1, 1), 10, &stats);
        assert_eq!(q.live, 2, "one item per key");
        // Key 1 goes out, is replaced while in flight, and the send fails:
        // the newer state wins, in its own place after key 2.
        let sent = q.take(1);
        assert_eq!(sent[0].1, T::L(1, 1));
        q.push(T::L(1, 2), 10, &stats);
        q.put_back(sent);
        assert_eq!(take_all(&mut q), [T::L(2, 0), T::L(1, 2)]);
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn items_sent_back_return_to_their_place() {
        let stats = Stats::default();
        let mut q = queue();
        for i in 0..5 {
            q.push(T::R(i), 10, &stats);
        }
        let sent = q.take(2);
        q.push(T::S(5), 10, &stats);
        q.put_back(sent);
        assert_eq!(
            take_all(&mut q),
            [T::R(0), T::R(1), T::R(2), T::R(3), T::R(4), T::S(5)]
        );
    }

    #[test]
    fn only_records_go_to_the_spool_until_the_stop_takes_everything() {
        let stats = Stats::default();
        let mut q = queue();
        for item in [T::S(0), T::R(1), T::L(7, 2), T::R(3)] {
            q.push(item, 10, &stats);
        }
        let spooled: Vec<T> = q
            .take_for_spool(false)
            .into_iter()
            .map(|(_, i)| i)
            .collect();
        assert_eq!(spooled, [T::R(1), T::R(3)]);
        assert_eq!(q.live, 2);
        let rest: Vec<T> = q.take_for_spool(true).into_iter().map(|(_, i)| i).collect();
        assert_eq!(rest, [T::S(0), T::L(7, 2)]);
    }

    #[test]
    fn a_batch_is_due_when_full_old_enough_flushed_or_stopping() {
        let stats = Stats::default();
        let hour = Duration::from_secs(3600);
        let mut q = queue();
        assert!(!q.due(1, Duration::ZERO), "nothing queued");
        q.push(T::S(0), 10, &stats);
        assert!(!q.due(2, hour));
        assert!(q.due(1, hour), "full");
        assert!(q.due(2, Duration::ZERO), "waited long enough");
        q.flush = true;
        assert!(q.due(2, hour), "a flush sends what there is");
        q.flush = false;
        q.stop = true;
        assert!(q.due(2, hour), "so does the stop");
    }

    /// A server in the test: what it received and acknowledged, and how
    /// it behaves.
    #[derive(Default)]
    struct Server {
        /// Answers to the next connection attempts; then it accepts.
        refusals: VecDeque<Failure>,
        /// Refuses connections and fails sends (transient) while set.
        down: bool,
        /// Acknowledges nothing while set.
        silent: bool,
        /// The next acknowledgement wait fails with this.
        break_connection: Option<Failure>,
        /// The next send fails with this.
        refuse_send: Option<Failure>,
        batches: Vec<Vec<T>>,
        acked: Vec<T>,
    }

    impl Server {
        fn down() -> Server {
            Server {
                down: true,
                ..Server::default()
            }
        }
    }

    struct Fake {
        server: Arc<Mutex<Server>>,
        /// Sent on this connection, not acknowledged yet.
        pending: VecDeque<T>,
    }

    impl Protocol for Fake {
        type Item = T;
        type Connection = ();

        fn connect(&mut self, _cancel: &AtomicBool) -> Result<(), Failure> {
            let mut s = self.server.lock().unwrap();
            self.pending.clear();
            if let Some(f) = s.refusals.pop_front() {
                return Err(f);
            }
            if s.down {
                return Err(Failure::Transient("down".into()));
            }
            Ok(())
        }

        fn send(&mut self, _: &mut (), batch: &[T]) -> Result<(), Failure> {
            let mut s = self.server.lock().unwrap();
            if let Some(f) = s.refuse_send.take() {
                return Err(f);
            }
            if s.down {
                return Err(Failure::Transient("down".into()));
            }
            s.batches.push(batch.to_vec());
            self.pending.extend(batch.iter().cloned());
            Ok(())
        }

        fn acknowledged(&mut self, _: &mut (), wait: Duration) -> Result<usize, Failure> {
            let mut s = self.server.lock().unwrap();
            if let Some(f) = s.break_connection.take() {
                return Err(f);
            }
            if s.down {
                return Err(Failure::Transient("down".into()));
            }
            if s.silent {
                drop(s);
                std::thread::sleep(wait);
                return Ok(0);
            }
            let n = self.pending.len();
            s.acked.extend(self.pending.drain(..));
            Ok(n)
        }

        fn window(&self) -> usize {
            100
        }
    }

    const LONG: Duration = Duration::from_secs(20);

    struct Setup {
        server: Arc<Mutex<Server>>,
        fatal: Arc<Mutex<Vec<String>>>,
    }

    impl Setup {
        fn new(server: Server) -> Setup {
            Setup {
                server: Arc::new(Mutex::new(server)),
                fatal: Arc::default(),
            }
        }

        fn start(&self, config: Config) -> Result<Worker<T>, String> {
            let fatal = Arc::clone(&self.fatal);
            Worker::start(
                Fake {
                    server: Arc::clone(&self.server),
                    pending: VecDeque::new(),
                },
                config,
                move |why| fatal.lock().unwrap().push(why.to_string()),
            )
        }

        fn server(&self) -> std::sync::MutexGuard<'_, Server> {
            self.server.lock().unwrap()
        }

        /// Waits (at most `LONG`) until `check` holds for the server.
        fn until(&self, check: impl Fn(&Server) -> bool) {
            let deadline = Instant::now() + LONG;
            while !check(&self.server()) {
                assert!(Instant::now() < deadline, "the server never got there");
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    fn config(batch_size: usize, linger: Duration) -> Config {
        Config {
            max_queued: 100,
            batch_size,
            linger,
            retry_timeout: None,
            spool: None,
            name: "test-worker".into(),
        }
    }

    fn stat(w: &Worker<T>, name: &str) -> u64 {
        gst::init().unwrap();
        w.stats_fields(gst::Structure::builder("s"))
            .build()
            .get::<u64>(name)
            .unwrap()
    }

    #[test]
    fn delivers_in_order_in_full_batches_and_a_flush_sends_the_rest() {
        let setup = Setup::new(Server::default());
        let w = setup.start(config(3, Duration::from_secs(3600))).unwrap();
        w.push((0..7).map(T::R));
        setup.until(|s| s.batches.len() == 2);
        assert_eq!(w.flush(LONG), Flushed::Done);
        let batches = setup.server().batches.clone();
        assert_eq!(
            batches,
            [
                vec![T::R(0), T::R(1), T::R(2)],
                vec![T::R(3), T::R(4), T::R(5)],
                vec![T::R(6)]
            ]
        );
        assert_eq!(setup.server().acked, (0..7).map(T::R).collect::<Vec<_>>());
        assert_eq!((stat(&w, "delivered"), stat(&w, "batches")), (7, 3));
    }

    #[test]
    fn what_was_not_acknowledged_is_sent_again_after_reconnecting() {
        let setup = Setup::new(Server {
            silent: true,
            ..Server::default()
        });
        let w = setup.start(config(10, Duration::ZERO)).unwrap();
        w.push([T::R(0), T::R(1)]);
        setup.until(|s| s.batches.len() == 1);
        {
            let mut s = setup.server();
            s.silent = false;
            s.break_connection = Some(Failure::Transient("connection reset".into()));
        }
        assert_eq!(w.flush(LONG), Flushed::Done);
        let s = setup.server();
        assert_eq!(s.batches, [vec![T::R(0), T::R(1)], vec![T::R(0), T::R(1)]]);
        assert_eq!(s.acked, [T::R(0), T::R(1)], "each acknowledged once");
        drop(s);
        assert_eq!((stat(&w, "retries"), stat(&w, "reconnects")), (1, 1));
        assert_eq!(stat(&w, "delivered"), 2);
    }

    #[test]
    fn a_refusal_at_start_fails_the_start() {
        let setup = Setup::new(Server {
            refusals: [Failure::Fatal("wrong password".into())].into(),
            ..Server::default()
        });
        let err = setup.start(config(10, Duration::ZERO)).err();
        assert_eq!(err.as_deref(), Some("wrong password"));
    }

    #[test]
    fn an_outage_at_start_is_waited_out_with_backoff() {
        let setup = Setup::new(Server {
            refusals: [
                Failure::Transient("refused".into()),
                Failure::Transient("refused".into()),
            ]
            .into(),
            ..Server::default()
        });
        let w = setup.start(config(10, Duration::ZERO)).unwrap();
        w.push([T::R(0)]);
        assert_eq!(w.flush(LONG), Flushed::Done);
        assert_eq!(setup.server().acked, [T::R(0)]);
        assert!(setup.fatal.lock().unwrap().is_empty());
        assert_eq!(stat(&w, "reconnects"), 0, "the first connection");
    }

    #[test]
    fn a_refusal_later_is_posted_once_and_ends_the_flush() {
        let setup = Setup::new(Server {
            refuse_send: Some(Failure::Fatal("permission denied".into())),
            ..Server::default()
        });
        let w = setup.start(config(10, Duration::ZERO)).unwrap();
        w.push([T::R(0)]);
        assert_eq!(w.flush(LONG), Flushed::Failed("permission denied".into()));
        assert!(w.has_failed());
        assert_eq!(*setup.fatal.lock().unwrap(), ["permission denied"]);
    }

    #[test]
    fn a_server_away_longer_than_retry_timeout_is_fatal() {
        let setup = Setup::new(Server::down());
        let mut c = config(10, Duration::ZERO);
        c.retry_timeout = Some(Duration::from_millis(200));
        let w = setup.start(c).unwrap();
        w.push([T::R(0)]);
        let Flushed::Failed(why) = w.flush(LONG) else {
            panic!("not given up")
        };
        assert!(why.contains("retry-timeout"), "{why}");
        assert_eq!(setup.fatal.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_flush_ends_at_its_deadline_or_when_interrupted() {
        let setup = Setup::new(Server::down());
        let w = setup.start(config(10, Duration::ZERO)).unwrap();
        w.push([T::R(0), T::S(1)]);
        assert_eq!(
            w.flush(Duration::from_millis(50)),
            Flushed::TimedOut {
                queued: 2,
                spooled: 0
            }
        );
        w.interrupt(true);
        assert_eq!(w.flush(LONG), Flushed::Interrupted);
        w.interrupt(false);
        setup.server().down = false;
        assert_eq!(w.flush(LONG), Flushed::Done);
        assert_eq!(setup.server().acked, [T::R(0), T::S(1)]);
    }

    #[test]
    fn a_worker_is_idle_until_something_waits_for_the_server() {
        let setup = Setup::new(Server::down());
        let w = setup.start(config(10, Duration::ZERO)).unwrap();
        assert!(Control::idle(&w), "never reached, nothing queued");
        w.push([T::R(0)]);
        assert!(!Control::idle(&w));
        setup.server().down = false;
        assert_eq!(w.flush(LONG), Flushed::Done);
        assert!(Control::idle(&w));
    }

    #[test]
    fn records_wait_in_the_spool_while_the_server_is_away_and_survive_a_stop() {
        let dir = std::env::temp_dir().join(format!("cctv-worker-test-{}", std::process::id()));
        std::fs::remove_dir_all(&dir).ok();
        let spooled = |setup: &Setup| {
            let mut c = config(10, Duration::ZERO);
            c.spool = Some(Spool::open(&dir, "spool", 1 << 20).unwrap());
            setup.start(c).unwrap()
        };
        let setup = Setup::new(Server::down());
        let w = spooled(&setup);
        w.push([T::S(0), T::R(1), T::R(2)]);
        // The records go to disk at once; the sample stays in memory.
        let deadline = Instant::now() + LONG;
        while stat(&w, "spooled") < 2 {
            assert!(Instant::now() < deadline, "records never spooled");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(stat(&w, "queued"), 1);
        // Stopped during the outage: the sample goes to disk too.
        w.stop();
        drop(w);
        setup.server().down = false;
        let w = spooled(&setup);
        w.push([T::R(3)]);
        assert_eq!(w.flush(LONG), Flushed::Done);
        let acked = setup.server().acked.clone();
        assert_eq!(acked, [T::R(1), T::R(2), T::S(0), T::R(3)]);
        drop(w);
        std::fs::remove_dir_all(&dir).ok();
    }
}
