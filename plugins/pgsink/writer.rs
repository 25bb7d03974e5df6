//! The database side of `pgsink`: a thread that takes rows from a bounded
//! queue, writes them in batches (one transaction, multi-row upserts with
//! bound parameters) and, when the server goes away, keeps the batch,
//! reconnects with backoff and writes it again. Every statement is an
//! idempotent upsert on the rows' natural keys, so a retried batch never
//! duplicates rows.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use cctv::backoff::Backoff;
use cctv::bbox::BBox;
use cctv::summary::TrackSummary;
use postgres::types::ToSql;
use postgres::{Client, NoTls};

use super::schema;

/// A row for one of the tables; timestamps are wall-clock.
#[derive(Debug, Clone)]
pub enum Row {
    Track {
        summary: TrackSummary,
        first_seen: SystemTime,
        last_seen: SystemTime,
        ended: bool,
    },
    Event {
        track_id: u64,
        kind: &'static str,
        ts: SystemTime,
        stream_ns: u64,
        label: String,
    },
    Detection {
        stream_ns: u64,
        idx: u32,
        ts: SystemTime,
        track_id: Option<u64>,
        class_id: u32,
        label: String,
        confidence: f32,
        bbox: BBox,
    },
}

impl Row {
    /// Detection rows are samples: they go first when the queue is full.
    fn droppable(&self) -> bool {
        matches!(self, Row::Detection { .. })
    }
}

pub struct Config {
    pub pg: postgres::Config,
    /// host:port/dbname as user, for messages (no password).
    pub target: String,
    pub schema: String,
    pub create_schema: bool,
    pub camera: String,
    pub run: i64,
    pub batch_size: usize,
    pub flush_interval: Duration,
    pub max_queued: usize,
}

#[derive(Debug, Default)]
pub struct Stats {
    pub rows: AtomicU64,
    pub batches: AtomicU64,
    pub retries: AtomicU64,
    pub dropped: AtomicU64,
}

struct Queue {
    rows: VecDeque<Row>,
    /// Rows taken by the writer and not yet committed.
    in_flight: usize,
    flush: bool,
    stop: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    stats: Stats,
    connected: AtomicBool,
    /// The first connection attempt is over (whatever its outcome).
    tried: AtomicBool,
    fatal: Mutex<Option<String>>,
    /// The last transient failure, for `stats`.
    last_error: Mutex<Option<String>>,
}

pub struct Writer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    max_queued: usize,
}

impl Writer {
    pub fn start(
        config: Config,
        on_fatal: impl Fn(&str) + Send + 'static,
    ) -> Result<Writer, String> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                rows: VecDeque::new(),
                in_flight: 0,
                flush: false,
                stop: false,
            }),
            wake: Condvar::new(),
            stats: Stats::default(),
            connected: AtomicBool::new(false),
            tried: AtomicBool::new(false),
            fatal: Mutex::new(None),
            last_error: Mutex::new(None),
        });
        let max_queued = config.max_queued;
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("pgsink-writer".into())
                .spawn(move || {
                    if let Err(why) = run(&config, &shared) {
                        // The element error goes first: once `fatal` is set,
                        // rendering fails, and that must not be the first error.
                        on_fatal(&why);
                        *shared.fatal.lock().unwrap() = Some(why.clone());
                        shared.wake.notify_all();
                    }
                })
                .map_err(|e| format!("cannot start the writer thread: {e}"))?
        };
        Ok(Writer {
            shared,
            thread: Some(thread),
            max_queued,
        })
    }

    /// Queues rows without blocking; beyond `max-queued`, the oldest
    /// detection rows are dropped (tracks and events never are).
    pub fn push(&self, rows: impl IntoIterator<Item = Row>) {
        let mut q = self.shared.queue.lock().unwrap();
        for row in rows {
            if q.rows.len() >= self.max_queued {
                if row.droppable() {
                    self.shared.stats.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                if let Some(i) = q.rows.iter().position(Row::droppable) {
                    q.rows.remove(i);
                    self.shared.stats.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            q.rows.push_back(row);
        }
        drop(q);
        self.shared.wake.notify_all();
    }

    pub fn fatal_error(&self) -> Option<String> {
        self.shared.fatal.lock().unwrap().clone()
    }

    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Relaxed)
    }

    pub fn last_error(&self) -> Option<String> {
        self.shared.last_error.lock().unwrap().clone()
    }

    /// Rows queued or being written.
    pub fn queued(&self) -> usize {
        let q = self.shared.queue.lock().unwrap();
        q.rows.len() + q.in_flight
    }

    /// Writes everything queued now; waits up to `timeout` for the commit.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut q = self.shared.queue.lock().unwrap();
        q.flush = true;
        self.shared.wake.notify_all();
        // Also wait for the first connection attempt, so that a refusal is
        // reported before EOS even when there was nothing to write.
        while q.rows.len() + q.in_flight > 0 || !self.shared.tried.load(Ordering::SeqCst) {
            if self.shared.fatal.lock().unwrap().is_some() {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            q = self
                .shared
                .wake
                .wait_timeout(q, (deadline - now).min(Duration::from_millis(50)))
                .unwrap()
                .0;
        }
        true
    }

    /// Stops the thread; rows still queued are discarded (flush first).
    pub fn stop(mut self) {
        self.shared.queue.lock().unwrap().stop = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}

/// Why a batch was not written.
enum Failure {
    /// The connection or the server's availability: retry.
    Transient(String),
    /// Our SQL, the schema or the rights: retrying cannot help.
    Fatal(String),
}

impl Failure {
    fn from_pg(config: &Config, e: postgres::Error) -> Failure {
        match e.as_db_error() {
            Some(db) if !matches!(&db.code().code()[..2], "08" | "57" | "53" | "40" | "58") => {
                Failure::Fatal(format!(
                    "PostgreSQL {}: {} (SQLSTATE {})",
                    config.target,
                    db.message(),
                    db.code().code()
                ))
            }
            // The client's own configuration errors (e.g. a password the server
            // asks for and the conninfo lacks) are only told apart by their text.
            None if e.to_string().starts_with("invalid configuration") => {
                Failure::Fatal(format!("PostgreSQL {}: {e}", config.target))
            }
            _ => Failure::Transient(format!("PostgreSQL {}: {e}", config.target)),
        }
    }
}

fn run(config: &Config, shared: &Shared) -> Result<(), String> {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    let mut batch: Vec<Row> = Vec::new();
    // Connect right away: bad credentials or rights show at start, not at the first row.
    let first = connect(config);
    shared.tried.store(true, Ordering::SeqCst);
    shared.wake.notify_all();
    let mut client = match first {
        Ok(c) => {
            shared.connected.store(true, Ordering::Relaxed);
            Some(c)
        }
        Err(Failure::Fatal(why)) => return Err(why),
        Err(Failure::Transient(why)) => {
            *shared.last_error.lock().unwrap() = Some(why);
            None
        }
    };
    loop {
        // Gather a batch: full, old enough, flushed or stopping.
        {
            let mut q = shared.queue.lock().unwrap();
            let started = Instant::now();
            loop {
                let take = config
                    .batch_size
                    .saturating_sub(batch.len())
                    .min(q.rows.len());
                batch.extend(q.rows.drain(..take));
                q.in_flight = batch.len();
                if q.stop && batch.is_empty() {
                    return Ok(());
                }
                let due = batch.len() >= config.batch_size
                    || (!batch.is_empty()
                        && (q.flush || q.stop || started.elapsed() >= config.flush_interval));
                if due {
                    break;
                }
                if q.rows.is_empty() {
                    q.flush = false;
                }
                q = shared
                    .wake
                    .wait_timeout(q, Duration::from_millis(20))
                    .unwrap()
                    .0;
            }
        }
        // Write it, as many times as it takes.
        loop {
            if shared.queue.lock().unwrap().stop && client.is_none() && backoff.attempts() > 0 {
                // Stopping with the server away: the element's flush already warned.
                return Ok(());
            }
            if client.is_none() {
                match connect(config) {
                    Ok(c) => {
                        client = Some(c);
                        shared.connected.store(true, Ordering::Relaxed);
                    }
                    Err(Failure::Fatal(why)) => return Err(why),
                    Err(Failure::Transient(why)) => *shared.last_error.lock().unwrap() = Some(why),
                }
            }
            let result = match client.as_mut() {
                Some(c) => write(config, c, &batch).map_err(|e| Failure::from_pg(config, e)),
                None => Err(Failure::Transient(
                    shared
                        .last_error
                        .lock()
                        .unwrap()
                        .clone()
                        .unwrap_or_default(),
                )),
            };
            match result {
                Ok(()) => {
                    backoff.reset();
                    shared
                        .stats
                        .rows
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    shared.stats.batches.fetch_add(1, Ordering::Relaxed);
                    batch.clear();
                    shared.queue.lock().unwrap().in_flight = 0;
                    shared.wake.notify_all();
                    break;
                }
                Err(Failure::Fatal(why)) => return Err(why),
                Err(Failure::Transient(why)) => {
                    *shared.last_error.lock().unwrap() = Some(why);
                    client = None;
                    shared.connected.store(false, Ordering::Relaxed);
                    shared.stats.retries.fetch_add(1, Ordering::Relaxed);
                    let until = Instant::now() + backoff.next_delay();
                    while Instant::now() < until && !shared.queue.lock().unwrap().stop {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            }
        }
    }
}

fn connect(config: &Config) -> Result<Client, Failure> {
    let pg = |e| Failure::from_pg(config, e);
    let mut client = config.pg.connect(NoTls).map_err(pg)?;
    let s = &config.schema;
    if config.create_schema {
        // One transaction under a database-wide lock: sinks of several
        // cameras starting together would otherwise race on the
        // `IF NOT EXISTS` statements (unique violations in the catalog).
        let mut tx = client.transaction().map_err(pg)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&schema::LOCK_KEY])
            .map_err(pg)?;
        tx.batch_execute(&schema::create_v1(s)).map_err(pg)?;
        tx.execute(
            &format!(
                r#"INSERT INTO "{s}".schema_version SELECT $1 WHERE NOT EXISTS (SELECT 1 FROM "{s}".schema_version)"#
            ),
            &[&schema::VERSION],
        )
        .map_err(pg)?;
        tx.commit().map_err(pg)?;
    }
    // Fails with a clear "does not exist" when the schema is missing.
    let version: Option<i32> = client
        .query_one(
            &format!(r#"SELECT max(version) FROM "{s}".schema_version"#),
            &[],
        )
        .map_err(pg)?
        .get(0);
    if version != Some(schema::VERSION) {
        return Err(Failure::Fatal(format!(
            "PostgreSQL {}: schema {s} has version {}, this pgsink writes version {}",
            config.target,
            version.map_or("none".to_string(), |v| v.to_string()),
            schema::VERSION
        )));
    }
    Ok(client)
}

fn write(config: &Config, client: &mut Client, batch: &[Row]) -> Result<(), postgres::Error> {
    let s = &config.schema;
    let camera = &config.camera;
    let run = &config.run;
    let now = SystemTime::now();
    let mut tx = client.transaction()?;
    tx.execute(
        &format!(
            r#"INSERT INTO "{s}".cameras VALUES ($1, $2, $2)
               ON CONFLICT (camera_id) DO UPDATE SET last_seen = GREATEST("{s}".cameras.last_seen, EXCLUDED.last_seen)"#
        ),
        &[camera, &now],
    )?;

    // Later rows of the same key win: one statement may not update a row twice.
    let mut tracks: HashMap<u64, &Row> = HashMap::new();
    let mut events: HashMap<(u64, &str), &Row> = HashMap::new();
    let mut detections: HashMap<(u64, u32), &Row> = HashMap::new();
    for row in batch {
        match row {
            Row::Track { summary, .. } => {
                tracks.insert(summary.track_id, row);
            }
            Row::Event { track_id, kind, .. } => {
                events.insert((*track_id, kind), row);
            }
            Row::Detection { stream_ns, idx, .. } => {
                detections.insert((*stream_ns, *idx), row);
            }
        }
    }

    let track_rows: Vec<Vec<Box<dyn ToSql + Sync>>> = tracks
        .values()
        .map(|row| {
            let Row::Track {
                summary: t,
                first_seen,
                last_seen,
                ended,
            } = row
            else {
                unreachable!()
            };
            let gender = t.attributes.iter().find(|a| a.name == "gender");
            let values: Vec<Box<dyn ToSql + Sync>> = vec![
                Box::new(camera.clone()),
                Box::new(*run),
                Box::new(t.track_id as i64),
                Box::new(t.class_id as i32),
                Box::new(t.label.clone()),
                Box::new(*first_seen),
                Box::new(*last_seen),
                Box::new(t.duration_s),
                Box::new(t.best_confidence),
                Box::new(gender.map(|g| g.label.clone())),
                Box::new(gender.map(|g| g.confidence)),
                Box::new(serde_json::to_value(&t.attributes).unwrap_or_default()),
                Box::new(t.bbox.x),
                Box::new(t.bbox.y),
                Box::new(t.bbox.w),
                Box::new(t.bbox.h),
                Box::new(t.frames as i64),
                Box::new(*ended),
            ];
            values
        })
        .collect();
    insert(
        &mut tx,
        &format!(r#""{s}".tracks AS t"#),
        "camera_id, run_id, track_id, class_id, label, first_seen, last_seen, duration_s, best_confidence, \
         gender, gender_confidence, attributes, last_x, last_y, last_w, last_h, frames, ended",
        r#"ON CONFLICT (camera_id, run_id, track_id) DO UPDATE SET
                first_seen = LEAST(t.first_seen, EXCLUDED.first_seen),
                last_seen = GREATEST(t.last_seen, EXCLUDED.last_seen),
                duration_s = GREATEST(t.duration_s, EXCLUDED.duration_s),
                best_confidence = GREATEST(t.best_confidence, EXCLUDED.best_confidence),
                gender = COALESCE(EXCLUDED.gender, t.gender),
                gender_confidence = COALESCE(EXCLUDED.gender_confidence, t.gender_confidence),
                attributes = CASE WHEN EXCLUDED.attributes = '[]' THEN t.attributes ELSE EXCLUDED.attributes END,
                last_x = EXCLUDED.last_x, last_y = EXCLUDED.last_y, last_w = EXCLUDED.last_w, last_h = EXCLUDED.last_h,
                frames = GREATEST(t.frames, EXCLUDED.frames),
                ended = t.ended OR EXCLUDED.ended"#,
        &track_rows,
    )?;

    let event_rows: Vec<Vec<Box<dyn ToSql + Sync>>> = events
        .values()
        .map(|row| {
            let Row::Event {
                track_id,
                kind,
                ts,
                stream_ns,
                label,
            } = row
            else {
                unreachable!()
            };
            let values: Vec<Box<dyn ToSql + Sync>> = vec![
                Box::new(camera.clone()),
                Box::new(*run),
                Box::new(*track_id as i64),
                Box::new(kind.to_string()),
                Box::new(*ts),
                Box::new(*stream_ns as i64),
                Box::new(label.clone()),
            ];
            values
        })
        .collect();
    insert(
        &mut tx,
        &format!(r#""{s}".events"#),
        "camera_id, run_id, track_id, kind, ts, stream_ns, label",
        "ON CONFLICT DO NOTHING",
        &event_rows,
    )?;

    let detection_rows: Vec<Vec<Box<dyn ToSql + Sync>>> = detections
        .values()
        .map(|row| {
            let Row::Detection {
                stream_ns,
                idx,
                ts,
                track_id,
                class_id,
                label,
                confidence,
                bbox,
            } = row
            else {
                unreachable!()
            };
            let values: Vec<Box<dyn ToSql + Sync>> = vec![
                Box::new(camera.clone()),
                Box::new(*run),
                Box::new(*stream_ns as i64),
                Box::new(*idx as i32),
                Box::new(*ts),
                Box::new(track_id.map(|t| t as i64)),
                Box::new(*class_id as i32),
                Box::new(label.clone()),
                Box::new(*confidence),
                Box::new(bbox.x),
                Box::new(bbox.y),
                Box::new(bbox.w),
                Box::new(bbox.h),
            ];
            values
        })
        .collect();
    insert(
        &mut tx,
        &format!(r#""{s}".detections"#),
        "camera_id, run_id, stream_ns, idx, ts, track_id, class_id, label, confidence, x, y, w, h",
        "ON CONFLICT DO NOTHING",
        &detection_rows,
    )?;
    tx.commit()
}

/// One multi-row `INSERT ... VALUES ($1, ...), (...) <conflict>` per chunk,
/// every value a bound parameter.
fn insert(
    tx: &mut postgres::Transaction<'_>,
    table: &str,
    columns: &str,
    conflict: &str,
    rows: &[Vec<Box<dyn ToSql + Sync>>],
) -> Result<(), postgres::Error> {
    let Some(width) = rows.first().map(Vec::len) else {
        return Ok(());
    };
    // PostgreSQL takes at most 65535 parameters per statement.
    for chunk in rows.chunks(65_535 / width) {
        let mut sql = format!("INSERT INTO {table} ({columns}) VALUES ");
        let mut n = 0;
        for (i, _) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(',');
            }
            sql.push('(');
            for j in 0..width {
                if j > 0 {
                    sql.push(',');
                }
                n += 1;
                sql.push_str(&format!("${n}"));
            }
            sql.push(')');
        }
        sql.push(' ');
        sql.push_str(conflict);
        let params: Vec<&(dyn ToSql + Sync)> = chunk.iter().flatten().map(|b| b.as_ref()).collect();
        tx.execute(&sql, &params)?;
    }
    Ok(())
}
