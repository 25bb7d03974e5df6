//! SECTION:element-pgsink
//!
//! Stores what the pipeline saw in PostgreSQL, in the shape an analyst
//! queries: `tracks` (who, from when to when, best confidence, gender),
//! `events` (enter/exit), `detections` (every `detections-interval`-th
//! frame, optional) and `cameras`, in schema `schema` (created and
//! versioned by the element unless `create-schema=false`).
//!
//! ```text
//! gst-launch-1.0 filesrc location=vtest.avi ! decodebin ! onnxdetect classes=person ! bytetrack \
//!     ! pgsink conninfo="host=127.0.0.1 user=cctv dbname=cctv" camera-id=lobby
//! ```
//!
//! Rows are written off the streaming thread in batches (`batch-size` rows
//! or `flush-interval`), as multi-row upserts with bound parameters in one
//! transaction. When the server is down or restarts, the batch is kept and
//! written again after reconnecting with capped exponential backoff; the
//! upserts are idempotent, so a retry never duplicates rows. EOS waits for
//! the last commit (up to `flush-timeout`) before it is posted.
//!
//! Wall-clock times are the time the first buffer arrived plus its stream
//! time offset, so durations follow the video.

use std::net::ToSocketAddrs;
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant, SystemTime};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

use cctv::lifecycle::{Kind, TrackEvent};
use cctv::meta::Frame;
use cctv::summary::{TrackBook, TrackSummary};

use super::schema;
use super::writer::{Config, Row, Writer};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "pgsink",
        gst::DebugColorFlags::empty(),
        Some("PostgreSQL event sink"),
    )
});

const DEFAULT_CONNINFO: &str = "host=127.0.0.1 user=postgres dbname=postgres";
const DEFAULT_CAMERA: &str = "camera";
const DEFAULT_SCHEMA: &str = "cctv";
const DEFAULT_BATCH_SIZE: u32 = 500;
const DEFAULT_FLUSH_INTERVAL: u32 = 1000;
const DEFAULT_MAX_QUEUED: u32 = 100_000;
const DEFAULT_DETECTIONS_INTERVAL: u32 = 0;
const DEFAULT_FLUSH_TIMEOUT: u32 = 30_000;

#[derive(Debug, Clone)]
struct Settings {
    conninfo: String,
    camera_id: String,
    schema: String,
    batch_size: u32,
    flush_interval: u32,
    max_queued: u32,
    detections_interval: u32,
    create_schema: bool,
    flush_timeout: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            conninfo: DEFAULT_CONNINFO.into(),
            camera_id: DEFAULT_CAMERA.into(),
            schema: DEFAULT_SCHEMA.into(),
            batch_size: DEFAULT_BATCH_SIZE,
            flush_interval: DEFAULT_FLUSH_INTERVAL,
            max_queued: DEFAULT_MAX_QUEUED,
            detections_interval: DEFAULT_DETECTIONS_INTERVAL,
            create_schema: true,
            flush_timeout: DEFAULT_FLUSH_TIMEOUT,
        }
    }
}

struct State {
    writer: Writer,
    settings: Settings,
    book: TrackBook,
    frames: u64,
    /// When live tracks were last written (every `flush-interval`).
    live_written: Instant,
    /// Wall clock and stream time of the first buffer.
    origin: Option<(SystemTime, u64)>,
}

impl State {
    fn wall(&mut self, stream_ns: u64) -> SystemTime {
        let (wall, pts) = *self.origin.get_or_insert((SystemTime::now(), stream_ns));
        if stream_ns >= pts {
            wall + Duration::from_nanos(stream_ns - pts)
        } else {
            wall - Duration::from_nanos(pts - stream_ns)
        }
    }

    /// Queues the current rows of the tracks not ended yet.
    fn write_live_tracks(&mut self) {
        let live: Vec<TrackSummary> = self.book.live().cloned().collect();
        let rows: Vec<Row> = live
            .into_iter()
            .map(|summary| self.track_row(summary, false))
            .collect();
        self.writer.push(rows);
    }

    fn track_row(&mut self, summary: TrackSummary, ended: bool) -> Row {
        Row::Track {
            first_seen: self.wall(summary.first_seen_ns),
            last_seen: self.wall(summary.last_seen_ns),
            summary,
            ended,
        }
    }
}

#[derive(Default)]
pub struct PgSink {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

#[glib::object_subclass]
impl ObjectSubclass for PgSink {
    const NAME: &'static str = "GstCctvPgSink";
    type Type = super::PgSink;
    type ParentType = gst_base::BaseSink;
}

impl ObjectImpl for PgSink {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("conninfo")
                    .nick("Connection")
                    .blurb("libpq-style \"host=... user=... dbname=...\" or postgresql:// URL (the password is never logged)")
                    .default_value(Some(DEFAULT_CONNINFO))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("camera-id")
                    .nick("Camera id")
                    .blurb("Camera name stored with every row")
                    .default_value(Some(DEFAULT_CAMERA))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("schema")
                    .nick("Schema")
                    .blurb("PostgreSQL schema holding the tables (lower-case letters, digits, _)")
                    .default_value(Some(DEFAULT_SCHEMA))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("batch-size")
                    .nick("Batch size")
                    .blurb("Rows written per transaction at most")
                    .minimum(1)
                    .maximum(100_000)
                    .default_value(DEFAULT_BATCH_SIZE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("flush-interval")
                    .nick("Flush interval")
                    .blurb("Write a partial batch after this many ms")
                    .minimum(10)
                    .maximum(3_600_000)
                    .default_value(DEFAULT_FLUSH_INTERVAL)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-queued")
                    .nick("Max queued")
                    .blurb("Rows kept while the database is unreachable; beyond it the oldest detection rows are dropped, tracks and events never")
                    .minimum(1)
                    .maximum(100_000_000)
                    .default_value(DEFAULT_MAX_QUEUED)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("detections-interval")
                    .nick("Detections interval")
                    .blurb("Store the detections of every N-th frame (0: none)")
                    .maximum(1_000_000)
                    .default_value(DEFAULT_DETECTIONS_INTERVAL)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("create-schema")
                    .nick("Create schema")
                    .blurb("Create the schema and tables if missing (otherwise they must exist at the current version)")
                    .default_value(true)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("flush-timeout")
                    .nick("Flush timeout")
                    .blurb("At EOS and stop, wait up to this many ms for queued rows to be committed")
                    .maximum(3_600_000)
                    .default_value(DEFAULT_FLUSH_TIMEOUT)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("rows written, batches, retries, queued, dropped, connected, last-error")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        let string = || {
            value
                .get::<Option<String>>()
                .expect("type checked upstream")
                .unwrap_or_default()
        };
        match pspec.name() {
            "conninfo" => s.conninfo = string(),
            "camera-id" => s.camera_id = string(),
            "schema" => s.schema = string(),
            "batch-size" => s.batch_size = value.get().expect("type checked upstream"),
            "flush-interval" => s.flush_interval = value.get().expect("type checked upstream"),
            "max-queued" => s.max_queued = value.get().expect("type checked upstream"),
            "detections-interval" => {
                s.detections_interval = value.get().expect("type checked upstream")
            }
            "create-schema" => s.create_schema = value.get().expect("type checked upstream"),
            "flush-timeout" => s.flush_timeout = value.get().expect("type checked upstream"),
            other => unreachable!("unknown property {other}"),
        }
        if pspec.name() != "conninfo" {
            gst::debug!(CAT, imp = self, "{} set to {:?}", pspec.name(), value);
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "conninfo" => s.conninfo.to_value(),
            "camera-id" => s.camera_id.to_value(),
            "schema" => s.schema.to_value(),
            "batch-size" => s.batch_size.to_value(),
            "flush-interval" => s.flush_interval.to_value(),
            "max-queued" => s.max_queued.to_value(),
            "detections-interval" => s.detections_interval.to_value(),
            "create-schema" => s.create_schema.to_value(),
            "flush-timeout" => s.flush_timeout.to_value(),
            "stats" => {
                drop(s);
                self.stats().to_value()
            }
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for PgSink {}

impl ElementImpl for PgSink {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "PostgreSQL event sink",
                "Sink/Database/Analyzer",
                "Stores tracks, enter/exit events and sampled detections from CctvObjectsMeta in PostgreSQL",
                "gst-cctv developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            vec![
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &gst::Caps::new_any(),
                )
                .unwrap(),
            ]
        });
        TEMPLATES.as_ref()
    }
}

/// `user@host:port/dbname` of a parsed conninfo, without the password.
fn target(pg: &postgres::Config) -> String {
    let host = pg
        .get_hosts()
        .first()
        .map(|h| match h {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = pg.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{}@{host}:{port}/{}",
        pg.get_user().unwrap_or("?"),
        pg.get_dbname().unwrap_or(pg.get_user().unwrap_or("?"))
    )
}

impl BaseSinkImpl for PgSink {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        // The parser's messages never echo the input, so the password stays out of them.
        let mut pg = postgres::Config::from_str(&settings.conninfo).map_err(|e| {
            gst::error_msg!(gst::ResourceError::Settings, ["Invalid conninfo: {}", e])
        })?;
        // A host name that cannot be resolved is a setting error, not an
        // outage to wait out.
        let ports = pg.get_ports().to_vec();
        for (i, host) in pg.get_hosts().iter().enumerate() {
            if let postgres::config::Host::Tcp(name) = host {
                let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
                (name.as_str(), port).to_socket_addrs().map_err(|e| {
                    gst::error_msg!(
                        gst::ResourceError::NotFound,
                        ["Cannot resolve PostgreSQL host {}: {}", name, e]
                    )
                })?;
            }
        }
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(Duration::from_secs(5));
        }
        pg.application_name("gst-cctv pgsink");
        if !schema::valid_identifier(&settings.schema) {
            return Err(gst::error_msg!(
                gst::ResourceError::Settings,
                [
                    "Invalid schema name \"{}\": use lower-case letters, digits and _",
                    settings.schema
                ]
            ));
        }
        if settings.camera_id.is_empty() {
            return Err(gst::error_msg!(
                gst::ResourceError::Settings,
                ["camera-id is empty"]
            ));
        }
        let target = target(&pg);
        let run = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        let config = Config {
            pg,
            target: target.clone(),
            schema: settings.schema.clone(),
            create_schema: settings.create_schema,
            camera: settings.camera_id.clone(),
            run,
            batch_size: settings.batch_size as usize,
            flush_interval: Duration::from_millis(settings.flush_interval as u64),
            max_queued: settings.max_queued as usize,
        };
        let element = self.obj().downgrade();
        let writer = Writer::start(config, move |why| {
            if let Some(element) = element.upgrade() {
                gst::element_error!(element, gst::ResourceError::Write, ["{}", why]);
            }
        })
        .map_err(|e| gst::error_msg!(gst::ResourceError::Failed, ["{}", e]))?;
        gst::info!(
            CAT,
            imp = self,
            "writing to {} schema {} as camera {}",
            target,
            settings.schema,
            settings.camera_id
        );
        *self.state.lock().unwrap() = Some(State {
            writer,
            settings,
            book: TrackBook::default(),
            frames: 0,
            live_written: Instant::now(),
            origin: None,
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        let state = self.state.lock().unwrap().take();
        if let Some(mut state) = state {
            // Stopped without EOS (no exit events): live tracks are stored as
            // far as they got, still open.
            state.write_live_tracks();
            let timeout = Duration::from_millis(state.settings.flush_timeout as u64);
            if !state.writer.flush(timeout) && state.writer.fatal_error().is_none() {
                gst::element_imp_warning!(
                    self,
                    gst::ResourceError::Write,
                    [
                        "Stopped with {} rows not written to the database",
                        state.writer.queued()
                    ]
                );
            }
            state.writer.stop();
        }
        Ok(())
    }

    fn render(&self, buffer: &gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut guard = self.state.lock().unwrap();
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        if state.writer.fatal_error().is_some() {
            return Err(gst::FlowError::Error);
        }
        let frame = match Frame::from_buffer(buffer) {
            None => return Ok(gst::FlowSuccess::Ok),
            Some(Ok(frame)) => frame,
            Some(Err(e)) => {
                gst::warning!(CAT, imp = self, "skipping buffer: {}", e);
                return Ok(gst::FlowSuccess::Ok);
            }
        };
        let pts = buffer.pts().map_or(0, |t| t.nseconds());
        let ts = state.wall(pts);
        state.book.observe(&frame, pts);
        let interval = state.settings.detections_interval as u64;
        if interval > 0 && state.frames % interval == 0 {
            let rows = frame
                .objects
                .iter()
                .enumerate()
                .map(|(idx, o)| Row::Detection {
                    stream_ns: pts,
                    idx: idx as u32,
                    ts,
                    track_id: o.track_id,
                    class_id: o.class_id,
                    label: o.label.clone(),
                    confidence: o.confidence,
                    bbox: o.bbox,
                });
            state.writer.push(rows);
        }
        state.frames += 1;
        // Live tracks' rows follow them (last seen, duration, best
        // confidence, attributes) at most every `flush-interval`.
        let interval = Duration::from_millis(state.settings.flush_interval as u64);
        if state.live_written.elapsed() >= interval {
            state.live_written = Instant::now();
            state.write_live_tracks();
        }
        Ok(gst::FlowSuccess::Ok)
    }

    fn event(&self, event: gst::Event) -> bool {
        if let Some(track_event) = TrackEvent::from_event(&event) {
            self.track_event(&track_event);
        }
        match event.view() {
            gst::EventView::Eos(_) => self.flush_on_eos(),
            gst::EventView::FlushStop(_) => {
                if let Some(state) = self.state.lock().unwrap().as_mut() {
                    state.book.clear();
                }
            }
            _ => {}
        }
        self.parent_event(event)
    }
}

impl PgSink {
    fn track_event(&self, e: &TrackEvent) {
        let mut guard = self.state.lock().unwrap();
        let Some(state) = guard.as_mut() else { return };
        let (kind, summary, ended, stream_ns) = match e.kind {
            Kind::New => (
                "enter",
                state.book.get(e.track_id).cloned(),
                false,
                e.first_seen,
            ),
            Kind::Removed => ("exit", state.book.remove(e.track_id), true, e.last_seen),
            Kind::Lost | Kind::Recovered => return,
        };
        let summary = summary.unwrap_or_else(|| TrackSummary {
            track_id: e.track_id,
            class_id: e.class_id,
            label: e.label.clone(),
            first_seen_ns: e.first_seen,
            last_seen_ns: e.last_seen,
            duration_s: e.duration_ns() as f64 / 1e9,
            best_confidence: 0.0,
            bbox: e.bbox,
            attributes: Vec::new(),
            frames: 0,
        });
        let ts = state.wall(stream_ns);
        let event = Row::Event {
            track_id: e.track_id,
            kind,
            ts,
            stream_ns,
            label: e.label.clone(),
        };
        let track = state.track_row(summary, ended);
        state.writer.push([track, event]);
    }

    fn flush_on_eos(&self) {
        let guard = self.state.lock().unwrap();
        let Some(state) = guard.as_ref() else { return };
        let timeout = Duration::from_millis(state.settings.flush_timeout as u64);
        if !state.writer.flush(timeout) && state.writer.fatal_error().is_none() {
            gst::element_imp_warning!(
                self,
                gst::ResourceError::Write,
                [
                    "{} rows not committed within flush-timeout",
                    state.writer.queued()
                ]
            );
        }
    }

    fn stats(&self) -> gst::Structure {
        let guard = self.state.lock().unwrap();
        let mut s = gst::Structure::builder("pgsink-stats");
        if let Some(state) = guard.as_ref() {
            let stats = state.writer.stats();
            s = s
                .field("rows", stats.rows.load(Ordering::Relaxed))
                .field("batches", stats.batches.load(Ordering::Relaxed))
                .field("retries", stats.retries.load(Ordering::Relaxed))
                .field("queued", state.writer.queued() as u64)
                .field("dropped", stats.dropped.load(Ordering::Relaxed))
                .field("connected", state.writer.is_connected())
                .field("last-error", state.writer.last_error().unwrap_or_default());
        }
        s.build()
    }
}
