//! The PostgreSQL protocol of `pgsink` for the shared network worker:
//! connect (with TLS as the conninfo asks), create or check the schema, and
//! write a batch in one transaction as multi-row upserts with bound
//! parameters. Every statement is an idempotent upsert on the rows' natural
//! keys, so a batch written again after a failure never duplicates rows.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

use cctv::bbox::BBox;
use cctv::summary::TrackSummary;
use postgres::Client;
use postgres::types::ToSql;
use serde::{Deserialize, Serialize};

use super::schema;
use super::tls::Tls;
use crate::net::{Class, Failure, Item, Protocol};

/// A row for one of the tables; timestamps are wall-clock.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Row {
    Track {
        summary: TrackSummary,
        first_seen: SystemTime,
        last_seen: SystemTime,
        ended: bool,
    },
    Event {
        track_id: u64,
        /// `enter` or `exit`.
        kind: String,
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

/// A row as queued: with the run it belongs to (a spooled row keeps its
/// run after a restart) and whether it is a live track's latest state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Queued {
    pub run: i64,
    pub row: Row,
    /// A live track's periodic update: only the latest one matters.
    pub live: bool,
}

impl Item for Queued {
    fn class(&self) -> Class {
        match &self.row {
            Row::Detection { .. } => Class::Sample,
            Row::Track { summary, .. } if self.live => Class::Latest(summary.track_id),
            _ => Class::Record,
        }
    }
}

pub struct Config {
    pub pg: postgres::Config,
    pub tls: Tls,
    /// host:port/dbname as user, for messages (no password).
    pub target: String,
    pub schema: String,
    pub create_schema: bool,
    pub camera: String,
}

pub struct Postgres {
    config: Config,
    /// Rows committed by `send` and not reported by `acknowledged` yet.
    committed: usize,
}

impl Postgres {
    pub fn new(config: Config) -> Postgres {
        Postgres {
            config,
            committed: 0,
        }
    }
}

impl Protocol for Postgres {
    type Item = Queued;
    type Connection = Client;

    fn connect(&mut self, _cancel: &AtomicBool) -> Result<Client, Failure> {
        self.committed = 0;
        connect(&self.config)
    }

    /// Writes the batch in one transaction: sent means committed.
    fn send(&mut self, conn: &mut Client, batch: &[Queued]) -> Result<(), Failure> {
        write(&self.config, conn, batch).map_err(|e| failure(&self.config, e))?;
        self.committed += batch.len();
        Ok(())
    }

    fn acknowledged(&mut self, _conn: &mut Client, _wait: Duration) -> Result<usize, Failure> {
        Ok(std::mem::take(&mut self.committed))
    }

    /// One batch at a time: the commit is the acknowledgement.
    fn window(&self) -> usize {
        usize::MAX
    }
}

/// Sorts a client error into fatal and transient, with its whole cause
/// ("invalid configuration: password missing", not only the first part).
fn failure(config: &Config, e: postgres::Error) -> Failure {
    let mut why = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        why = format!("{why}: {s}");
        source = s.source();
    }
    let why = format!("PostgreSQL {}: {why}", config.target);
    match e.as_db_error() {
        // Connection, availability, resources, conflicts, system: retry.
        Some(db) if matches!(&db.code().code()[..2], "08" | "57" | "53" | "40" | "58") => {
            Failure::Transient(why)
        }
        Some(db) => Failure::Fatal(format!("{why} (SQLSTATE {})", db.code().code())),
        // The client's own kinds are only told apart by their text: a bad
        // configuration or a TLS failure repeats on every attempt.
        None if why.contains(": invalid configuration")
            || why.contains(": error performing TLS handshake") =>
        {
            Failure::Fatal(why)
        }
        None => Failure::Transient(why),
    }
}

fn connect(config: &Config) -> Result<Client, Failure> {
    let pg = |e| failure(config, e);
    let mut client = config.tls.connect(&config.pg).map_err(pg)?;
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
                r#"INSERT INTO "{s}".schema_version SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM "{s}".schema_version)"#
            ),
            &[],
        )
        .map_err(pg)?;
        let version: Option<i32> = tx
            .query_one(
                &format!(r#"SELECT max(version) FROM "{s}".schema_version"#),
                &[],
            )
            .map_err(pg)?
            .get(0);
        if version == Some(1) {
            tx.batch_execute(&schema::migrate_v1_to_v2(s)).map_err(pg)?;
        }
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
            "PostgreSQL {}: schema {s} has version {}, this pgsink writes version {}{}",
            config.target,
            version.map_or("none".to_string(), |v| v.to_string()),
            schema::VERSION,
            if version < Some(schema::VERSION) {
                " (a pgsink with create-schema=true migrates it)"
            } else {
                ""
            }
        )));
    }
    Ok(client)
}

fn write(config: &Config, client: &mut Client, batch: &[Queued]) -> Result<(), postgres::Error> {
    let s = &config.schema;
    let camera = &config.camera;
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
    let mut tracks: HashMap<(i64, u64), (i64, &Row)> = HashMap::new();
    let mut events: HashMap<(i64, u64, &str), (i64, &Row)> = HashMap::new();
    let mut detections: HashMap<(i64, u64, u32), (i64, &Row)> = HashMap::new();
    for Queued { run, row, .. } in batch {
        let run = *run;
        match row {
            Row::Track { summary, .. } => {
                tracks.insert((run, summary.track_id), (run, row));
            }
            Row::Event { track_id, kind, .. } => {
                events.insert((run, *track_id, kind), (run, row));
            }
            Row::Detection { stream_ns, idx, .. } => {
                detections.insert((run, *stream_ns, *idx), (run, row));
            }
        }
    }

    let track_rows: Vec<Vec<Box<dyn ToSql + Sync>>> = tracks
        .values()
        .map(|(run, row)| {
            let Row::Track {
                summary: t,
                first_seen,
                last_seen,
                ended,
            } = row
            else {
                unreachable!()
            };
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
         attributes, last_x, last_y, last_w, last_h, frames, ended",
        r#"ON CONFLICT (camera_id, run_id, track_id) DO UPDATE SET
                first_seen = LEAST(t.first_seen, EXCLUDED.first_seen),
                last_seen = GREATEST(t.last_seen, EXCLUDED.last_seen),
                duration_s = GREATEST(t.duration_s, EXCLUDED.duration_s),
                best_confidence = GREATEST(t.best_confidence, EXCLUDED.best_confidence),
                attributes = CASE WHEN EXCLUDED.attributes = '[]' THEN t.attributes ELSE EXCLUDED.attributes END,
                last_x = EXCLUDED.last_x, last_y = EXCLUDED.last_y, last_w = EXCLUDED.last_w, last_h = EXCLUDED.last_h,
                frames = GREATEST(t.frames, EXCLUDED.frames),
                ended = t.ended OR EXCLUDED.ended"#,
        &track_rows,
    )?;

    let event_rows: Vec<Vec<Box<dyn ToSql + Sync>>> = events
        .values()
        .map(|(run, row)| {
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
                Box::new(kind.clone()),
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
        .map(|(run, row)| {
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
