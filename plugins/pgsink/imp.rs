//! SECTION:element-pgsink
//!
//! Stores what the pipeline saw in PostgreSQL, in the shape an analyst
//! queries: `tracks` (who, from when to when, best confidence, and every
//! attribute a classifier gave, such as gender and age, as jsonb),
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
//! transaction, by the shared network worker (`plugins/net`: queue, spool,
//! reconnection and end-of-stream rules). The upserts are idempotent, so a
//! batch written again after a failure never duplicates rows. TLS follows
//! libpq's `sslmode`, `sslrootcert`, `sslcert` and `sslkey`.
//!
//! Wall-clock times are the time the first buffer arrived plus its stream
//! time offset, so durations follow the video.

use std::net::ToSocketAddrs;
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
use super::tls::Tls;
use super::writer::{Config, Postgres, Queued, Row};
use crate::net::{NetSettings, NetSinkImpl, Out, Plan, Stream};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "pgsink",
        gst::DebugColorFlags::empty(),
        Some("PostgreSQL event sink"),
    )
});

const DEFAULT_CONNINFO: &str = "host=127.0.0.1 user=postgres dbname=postgres";
const DEFAULT_SCHEMA: &str = "cctv";
const DEFAULT_BATCH_SIZE: u32 = 500;
const DEFAULT_FLUSH_INTERVAL: u32 = 1000;
const DEFAULT_MAX_QUEUED: u32 = 100_000;
const DEFAULT_DETECTIONS_INTERVAL: u32 = 0;
const DEFAULT_FLUSH_TIMEOUT: u32 = 30_000;

#[derive(Debug, Clone)]
struct Settings {
    conninfo: String,
    schema: String,
    batch_size: u32,
    flush_interval: u32,
    detections_interval: u32,
    create_schema: bool,
    net: NetSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            conninfo: DEFAULT_CONNINFO.into(),
            schema: DEFAULT_SCHEMA.into(),
            batch_size: DEFAULT_BATCH_SIZE,
            flush_interval: DEFAULT_FLUSH_INTERVAL,
            net: NetSettings::new(DEFAULT_MAX_QUEUED, DEFAULT_FLUSH_TIMEOUT),
            detections_interval: DEFAULT_DETECTIONS_INTERVAL,
            create_schema: true,
        }
    }
}

/// The rows of one run.
pub struct Rows {
    run: i64,
    book: TrackBook,
    frames: u64,
    /// Store the detections of every N-th frame (0: none).
    detections_interval: u64,
    /// How often live tracks' rows follow them.
    live_interval: Duration,
    /// When live tracks were last written.
    live_written: Instant,
    /// Wall clock and stream time of the first buffer.
    origin: Option<(SystemTime, u64)>,
}

impl Rows {
    fn wall(&mut self, stream_ns: u64) -> SystemTime {
        let (wall, pts) = *self.origin.get_or_insert((SystemTime::now(), stream_ns));
        if stream_ns >= pts {
            wall + Duration::from_nanos(stream_ns - pts)
        } else {
            wall - Duration::from_nanos(pts - stream_ns)
        }
    }

    /// The current rows of the tracks not ended yet: as the latest state of
    /// each (`live`, replacing the queued one), or as records to keep when
    /// the sink stops.
    fn live_tracks(&mut self, live: bool, out: &mut Out<Queued>) {
        let tracks: Vec<TrackSummary> = self.book.live().cloned().collect();
        for summary in tracks {
            out.push(self.track_row(summary, false, live));
        }
    }

    fn track_row(&mut self, summary: TrackSummary, ended: bool, live: bool) -> Queued {
        let row = Row::Track {
            first_seen: self.wall(summary.first_seen_ns),
            last_seen: self.wall(summary.last_seen_ns),
            summary,
            ended,
        };
        self.queued(row, live)
    }

    fn queued(&self, row: Row, live: bool) -> Queued {
        Queued {
            run: self.run,
            row,
            live,
        }
    }
}

impl Stream for Rows {
    type Item = Queued;

    fn frame(&mut self, frame: &Frame, pts: u64, captured_ns: Option<u64>, out: &mut Out<Queued>) {
        if self.origin.is_none()
            && let Some(captured) = captured_ns
        {
            // A live camera's frames map to the wall clock of their capture.
            self.origin = Some((SystemTime::UNIX_EPOCH + Duration::from_nanos(captured), pts));
        }
        let ts = self.wall(pts);
        self.book.observe(frame, pts);
        let interval = self.detections_interval;
        if interval > 0 && self.frames.is_multiple_of(interval) {
            for (idx, o) in frame.objects.iter().enumerate() {
                out.push(self.queued(
                    Row::Detection {
                        stream_ns: pts,
                        idx: idx as u32,
                        ts,
                        track_id: o.track_id,
                        class_id: o.class_id,
                        label: o.label.clone(),
                        confidence: o.confidence,
                        bbox: o.bbox,
                    },
                    false,
                ));
            }
        }
        self.frames += 1;
        // Live tracks' rows follow them (last seen, duration, best
        // confidence, attributes) at most every `flush-interval`.
        if self.live_written.elapsed() >= self.live_interval {
            self.live_written = Instant::now();
            self.live_tracks(true, out);
        }
    }

    fn event(&mut self, e: &TrackEvent, out: &mut Out<Queued>) {
        let (kind, summary, ended, stream_ns) = match e.kind {
            Kind::New => ("enter", self.book.begin(e).clone(), false, e.first_seen),
            Kind::Removed => {
                let summary = self
                    .book
                    .remove(e.track_id)
                    .unwrap_or_else(|| TrackSummary::from_event(e));
                let last_seen = summary.last_seen_ns;
                ("exit", summary, true, last_seen)
            }
            Kind::Lost | Kind::Recovered => return,
        };
        let ts = self.wall(stream_ns);
        let event = self.queued(
            Row::Event {
                track_id: e.track_id,
                kind: kind.into(),
                ts,
                stream_ns,
                label: e.label.clone(),
            },
            false,
        );
        out.push(self.track_row(summary, ended, false));
        out.push(event);
    }

    fn flush(&mut self) {
        self.book.clear();
    }

    /// Stopped without EOS (no exit events): live tracks are stored as far
    /// as they got, still open.
    fn stop(&mut self, out: &mut Out<Queued>) {
        self.live_tracks(false, out);
    }
}

#[derive(Default)]
pub struct PgSink {
    settings: Mutex<Settings>,
}

#[glib::object_subclass]
impl ObjectSubclass for PgSink {
    const NAME: &'static str = "GstCctvPgSink";
    type Type = super::PgSink;
    type ParentType = crate::net::NetSink;
}

impl ObjectImpl for PgSink {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut props = vec![
                glib::ParamSpecString::builder("conninfo")
                    .nick("Connection")
                    .blurb("libpq-style \"host=... user=... dbname=...\" or postgresql:// URL (the password is never logged)")
                    .default_value(Some(DEFAULT_CONNINFO))
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
            ];
            props.extend(Settings::default().net.properties("Rows"));
            props
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
            "schema" => s.schema = string(),
            "batch-size" => s.batch_size = value.get().expect("type checked upstream"),
            "flush-interval" => s.flush_interval = value.get().expect("type checked upstream"),
            "detections-interval" => {
                s.detections_interval = value.get().expect("type checked upstream")
            }
            "create-schema" => s.create_schema = value.get().expect("type checked upstream"),
            other => assert!(s.net.set(other, value), "unknown property {other}"),
        }
        drop(s);
        if pspec.name() != "conninfo" {
            gst::debug!(CAT, imp = self, "{} set to {:?}", pspec.name(), value);
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "conninfo" => s.conninfo.to_value(),
            "schema" => s.schema.to_value(),
            "batch-size" => s.batch_size.to_value(),
            "flush-interval" => s.flush_interval.to_value(),
            "detections-interval" => s.detections_interval.to_value(),
            "create-schema" => s.create_schema.to_value(),
            other => s
                .net
                .get(other)
                .unwrap_or_else(|| unreachable!("unknown property {other}")),
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

impl BaseSinkImpl for PgSink {}

impl NetSinkImpl for PgSink {
    const ELEMENT: &'static str = "pgsink";
    type Protocol = Postgres;
    type Stream = Rows;

    fn open(&self, camera: &str) -> Result<Plan<Postgres, Rows>, gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let (mut pg, tls) = Tls::parse(&settings.conninfo).map_err(|e| {
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
        let target = target(&pg);
        let run = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        let protocol = Postgres::new(Config {
            pg,
            tls,
            target: target.clone(),
            schema: settings.schema.clone(),
            create_schema: settings.create_schema,
            camera: camera.to_owned(),
        });
        let live_interval = Duration::from_millis(settings.flush_interval as u64);
        Ok(Plan {
            protocol,
            stream: Rows {
                run,
                book: TrackBook::default(),
                frames: 0,
                detections_interval: settings.detections_interval as u64,
                live_interval,
                live_written: Instant::now(),
                origin: None,
            },
            target: format!("PostgreSQL {target}"),
            batch_size: settings.batch_size as usize,
            linger: live_interval,
        })
    }

    fn net_settings(&self) -> NetSettings {
        self.settings.lock().unwrap().net.clone()
    }
}
