//! SECTION:element-mqttsink
//!
//! Turns the `CctvObjectsMeta` of each buffer and the tracker's life-cycle
//! events into JSON messages (schema `cctv/1`, see
//! `schemas/cctv-message-v1.schema.json`) and publishes them with rumqttc.
//!
//! ```text
//! gst-launch-1.0 filesrc location=vtest.avi ! decodebin ! onnxdetect classes=person ! bytetrack \
//!     ! mqttsink host=127.0.0.1 camera-id=lobby topic="cctv/{camera}/{kind}"
//! ```
//!
//! Message kinds (`messages`): `detections` (per frame with objects),
//! `tracks` (`enter` on a new track, `update` at most every
//! `update-interval`, `exit` with duration and attributes when it ends) and
//! `summary` (objects per label every `summary-interval`). Publishing never
//! blocks the streaming thread: messages wait in a bounded queue
//! (`max-queued` per-frame messages, oldest dropped first; life-cycle events
//! are never dropped) while the broker is away, and reconnection uses
//! capped exponential backoff. On EOS the sink waits up to `flush-timeout`
//! for the broker's acknowledgements before posting EOS.

use std::collections::HashMap;
use std::net::ToSocketAddrs;
use std::sync::atomic::Ordering;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

use cctv::lifecycle::{Kind, TrackEvent};
use cctv::message::{self, Context, TrackPhase};
use cctv::meta::Frame;
use cctv::summary::{TrackBook, TrackSummary};

use super::client::{Config, Message, Tls, Worker};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "mqttsink",
        gst::DebugColorFlags::empty(),
        Some("MQTT event sink"),
    )
});

#[glib::flags(name = "GstCctvMqttMessages")]
pub enum Messages {
    #[flags_value(name = "Per-frame detections", nick = "detections")]
    DETECTIONS = 0b001,
    #[flags_value(name = "Track enter/update/exit", nick = "tracks")]
    TRACKS = 0b010,
    #[flags_value(name = "Periodic counts per label", nick = "summary")]
    SUMMARY = 0b100,
}

const DEFAULT_HOST: &str = "127.0.0.1";
const DEFAULT_PORT: u32 = 1883;
const DEFAULT_TOPIC: &str = "cctv/{camera}/{kind}";
const DEFAULT_CAMERA: &str = "camera";
const DEFAULT_QOS: u32 = 1;
const DEFAULT_KEEP_ALIVE: u32 = 30;
const DEFAULT_MAX_QUEUED: u32 = 10_000;
const DEFAULT_FLUSH_TIMEOUT: u32 = 10_000;
const DEFAULT_UPDATE_INTERVAL: u32 = 1_000;
const DEFAULT_SUMMARY_INTERVAL: u32 = 10_000;

#[derive(Debug, Clone)]
struct Settings {
    host: String,
    port: u32,
    client_id: Option<String>,
    topic: String,
    camera_id: String,
    qos: u32,
    retain: bool,
    username: Option<String>,
    password: Option<String>,
    ca_file: Option<String>,
    cert_file: Option<String>,
    key_file: Option<String>,
    keep_alive: u32,
    max_queued: u32,
    flush_timeout: u32,
    messages: Messages,
    update_interval: u32,
    summary_interval: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            host: DEFAULT_HOST.into(),
            port: DEFAULT_PORT,
            client_id: None,
            topic: DEFAULT_TOPIC.into(),
            camera_id: DEFAULT_CAMERA.into(),
            qos: DEFAULT_QOS,
            retain: false,
            username: None,
            password: None,
            ca_file: None,
            cert_file: None,
            key_file: None,
            keep_alive: DEFAULT_KEEP_ALIVE,
            max_queued: DEFAULT_MAX_QUEUED,
            flush_timeout: DEFAULT_FLUSH_TIMEOUT,
            messages: Messages::all(),
            update_interval: DEFAULT_UPDATE_INTERVAL,
            summary_interval: DEFAULT_SUMMARY_INTERVAL,
        }
    }
}

/// What an MQTT topic name cannot hold: the wildcards and NUL.
const NOT_IN_TOPICS: [char; 3] = ['+', '#', '\0'];

/// A parsed topic template: literal text and `{camera}`, `{kind}`, `{label}`.
#[derive(Debug, Clone)]
struct Topic(Vec<TopicPart>);

#[derive(Debug, Clone)]
enum TopicPart {
    Text(String),
    Camera,
    Kind,
    Label,
}

impl Topic {
    fn parse(template: &str) -> Result<Topic, String> {
        if template.is_empty() {
            return Err("topic is empty".into());
        }
        if template.contains(NOT_IN_TOPICS) {
            return Err(format!(
                "topic \"{template}\" contains an MQTT wildcard (+ or #) or NUL"
            ));
        }
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(TopicPart::Text(rest[..open].into()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("topic \"{template}\" has an unclosed {{"))?;
            parts.push(match &rest[open + 1..open + close] {
                "camera" => TopicPart::Camera,
                "kind" => TopicPart::Kind,
                "label" => TopicPart::Label,
                other => {
                    return Err(format!(
                        "topic \"{template}\" has unknown placeholder {{{other}}} (known: {{camera}}, {{kind}}, {{label}})"
                    ));
                }
            });
            rest = &rest[open + close + 1..];
        }
        if rest.contains('}') {
            return Err(format!("topic \"{template}\" has a stray }}"));
        }
        if !rest.is_empty() {
            parts.push(TopicPart::Text(rest.into()));
        }
        Ok(Topic(parts))
    }

    /// The topic for one message. `camera` was checked at start; a label
    /// comes from the model's labels, so wildcards and NUL in it become `_`
    /// (a broker refuses topics holding them).
    fn render(&self, camera: &str, kind: &str, label: &str) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                TopicPart::Text(t) => out.push_str(t),
                TopicPart::Camera => out.push_str(camera),
                TopicPart::Kind => out.push_str(kind),
                TopicPart::Label => out.extend(
                    label
                        .chars()
                        .map(|c| if NOT_IN_TOPICS.contains(&c) { '_' } else { c }),
                ),
            }
        }
        out
    }
}

struct State {
    worker: Worker,
    topic: Topic,
    settings: Settings,
    run: u64,
    book: TrackBook,
    /// Stream time of each track's last `update` message.
    last_update: HashMap<u64, u64>,
    next_summary: Option<u64>,
    /// The last frame's metadata, for the frame size of life-cycle messages.
    last_frame: Frame,
}

impl State {
    fn publish(&self, kind: &str, label: &str, payload: String, lifecycle: bool) {
        let topic = self.topic.render(&self.settings.camera_id, kind, label);
        self.worker.push(Message {
            topic,
            payload,
            lifecycle,
        });
    }

    fn context(&self) -> Context<'_> {
        Context {
            camera: &self.settings.camera_id,
            run: self.run,
        }
    }
}

#[derive(Default)]
pub struct MqttSink {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

#[glib::object_subclass]
impl ObjectSubclass for MqttSink {
    const NAME: &'static str = "GstCctvMqttSink";
    type Type = super::MqttSink;
    type ParentType = gst_base::BaseSink;
}

impl ObjectImpl for MqttSink {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("host")
                    .nick("Host")
                    .blurb("MQTT broker host name or address")
                    .default_value(Some(DEFAULT_HOST))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("port")
                    .nick("Port")
                    .blurb("MQTT broker port")
                    .minimum(1)
                    .maximum(65535)
                    .default_value(DEFAULT_PORT)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("client-id")
                    .nick("Client id")
                    .blurb("MQTT client identifier (default: gst-cctv-<camera-id>-<process id>)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("topic")
                    .nick("Topic")
                    .blurb("Topic template with {camera}, {kind} (detections, track, summary) and {label}")
                    .default_value(Some(DEFAULT_TOPIC))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("camera-id")
                    .nick("Camera id")
                    .blurb("Camera name put into topics and messages")
                    .default_value(Some(DEFAULT_CAMERA))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("qos")
                    .nick("QoS")
                    .blurb("MQTT quality of service: 0 at most once, 1 at least once, 2 exactly once")
                    .maximum(2)
                    .default_value(DEFAULT_QOS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("retain")
                    .nick("Retain")
                    .blurb("Ask the broker to retain the last message of each topic")
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("username")
                    .nick("User name")
                    .blurb("User name for brokers that require authentication")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("password")
                    .nick("Password")
                    .blurb("Password for brokers that require authentication (write-only, never logged)")
                    .write_only()
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("ca-file")
                    .nick("CA file")
                    .blurb("PEM CA certificate: enables TLS and verifies the broker with it")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("cert-file")
                    .nick("Client certificate")
                    .blurb("PEM client certificate for TLS client authentication (with key-file)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("key-file")
                    .nick("Client key")
                    .blurb("PEM PKCS#8 private key of the client certificate")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("keep-alive")
                    .nick("Keep-alive")
                    .blurb("MQTT keep-alive interval in seconds")
                    .minimum(5)
                    .maximum(3600)
                    .default_value(DEFAULT_KEEP_ALIVE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-queued")
                    .nick("Max queued")
                    .blurb("Per-frame messages kept while the broker is unreachable; the oldest are dropped first, life-cycle events never")
                    .minimum(1)
                    .maximum(10_000_000)
                    .default_value(DEFAULT_MAX_QUEUED)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("flush-timeout")
                    .nick("Flush timeout")
                    .blurb("At EOS and stop, wait up to this many ms for the broker to acknowledge everything")
                    .maximum(3_600_000)
                    .default_value(DEFAULT_FLUSH_TIMEOUT)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFlags::builder::<Messages>("messages")
                    .nick("Messages")
                    .blurb("Message kinds to publish")
                    .default_value(Messages::all())
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("update-interval")
                    .nick("Update interval")
                    .blurb("Least stream time between two update messages of a track, in ms (0: every frame)")
                    .maximum(3_600_000)
                    .default_value(DEFAULT_UPDATE_INTERVAL)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("summary-interval")
                    .nick("Summary interval")
                    .blurb("Stream time between summary messages, in ms")
                    .minimum(100)
                    .maximum(86_400_000)
                    .default_value(DEFAULT_SUMMARY_INTERVAL)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("published, acked, dropped, queued, reconnects, connected")
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
        };
        match pspec.name() {
            "host" => s.host = string().unwrap_or_else(|| DEFAULT_HOST.into()),
            "port" => s.port = value.get().expect("type checked upstream"),
            "client-id" => s.client_id = string(),
            "topic" => s.topic = string().unwrap_or_default(),
            "camera-id" => s.camera_id = string().unwrap_or_else(|| DEFAULT_CAMERA.into()),
            "qos" => s.qos = value.get().expect("type checked upstream"),
            "retain" => s.retain = value.get().expect("type checked upstream"),
            "username" => s.username = string(),
            "password" => s.password = string(),
            "ca-file" => s.ca_file = string(),
            "cert-file" => s.cert_file = string(),
            "key-file" => s.key_file = string(),
            "keep-alive" => s.keep_alive = value.get().expect("type checked upstream"),
            "max-queued" => s.max_queued = value.get().expect("type checked upstream"),
            "flush-timeout" => s.flush_timeout = value.get().expect("type checked upstream"),
            "messages" => s.messages = value.get().expect("type checked upstream"),
            "update-interval" => s.update_interval = value.get().expect("type checked upstream"),
            "summary-interval" => s.summary_interval = value.get().expect("type checked upstream"),
            other => unreachable!("unknown property {other}"),
        }
        if pspec.name() != "password" {
            gst::debug!(CAT, imp = self, "{} set to {:?}", pspec.name(), value);
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "host" => s.host.to_value(),
            "port" => s.port.to_value(),
            "client-id" => s.client_id.to_value(),
            "topic" => s.topic.to_value(),
            "camera-id" => s.camera_id.to_value(),
            "qos" => s.qos.to_value(),
            "retain" => s.retain.to_value(),
            "username" => s.username.to_value(),
            "ca-file" => s.ca_file.to_value(),
            "cert-file" => s.cert_file.to_value(),
            "key-file" => s.key_file.to_value(),
            "keep-alive" => s.keep_alive.to_value(),
            "max-queued" => s.max_queued.to_value(),
            "flush-timeout" => s.flush_timeout.to_value(),
            "messages" => s.messages.to_value(),
            "update-interval" => s.update_interval.to_value(),
            "summary-interval" => s.summary_interval.to_value(),
            "stats" => {
                drop(s);
                self.stats().to_value()
            }
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for MqttSink {}

impl ElementImpl for MqttSink {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "MQTT event sink",
                "Sink/Network/Analyzer",
                "Publishes detections, track enter/exit events and summaries from CctvObjectsMeta as JSON to an MQTT broker",
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

impl BaseSinkImpl for MqttSink {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let topic = Topic::parse(&settings.topic)
            .map_err(|e| gst::error_msg!(gst::ResourceError::Settings, ["Invalid topic: {}", e]))?;
        if settings.camera_id.contains(NOT_IN_TOPICS) {
            return Err(gst::error_msg!(
                gst::ResourceError::Settings,
                [
                    "Invalid camera-id \"{}\": it goes into MQTT topics, which cannot hold + # or NUL",
                    settings.camera_id
                ]
            ));
        }
        let port = settings.port as u16;
        (settings.host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| {
                gst::error_msg!(
                    gst::ResourceError::NotFound,
                    ["Cannot resolve MQTT broker host {}: {}", settings.host, e]
                )
            })?;
        let read = |what: &str, path: &str| {
            std::fs::read(path).map_err(|e| {
                gst::error_msg!(
                    gst::ResourceError::OpenRead,
                    ["Cannot read {} {}: {}", what, path, e]
                )
            })
        };
        let tls = match (&settings.ca_file, &settings.cert_file, &settings.key_file) {
            (None, None, None) => None,
            (Some(ca), cert, key) => Some(Tls {
                ca: read("ca-file", ca)?,
                client: match (cert, key) {
                    (Some(c), Some(k)) => Some((read("cert-file", c)?, read("key-file", k)?)),
                    (None, None) => None,
                    _ => {
                        return Err(gst::error_msg!(
                            gst::ResourceError::Settings,
                            ["cert-file and key-file must be set together"]
                        ));
                    }
                },
            }),
            (None, _, _) => {
                return Err(gst::error_msg!(
                    gst::ResourceError::Settings,
                    ["cert-file/key-file need ca-file (TLS)"]
                ));
            }
        };
        let config = Config {
            host: settings.host.clone(),
            port,
            client_id: settings.client_id.clone().unwrap_or_else(|| {
                format!("gst-cctv-{}-{}", settings.camera_id, std::process::id())
            }),
            username: settings.username.clone(),
            password: settings.password.clone(),
            keep_alive: Duration::from_secs(settings.keep_alive as u64),
            qos: match settings.qos {
                0 => rumqttc::QoS::AtMostOnce,
                1 => rumqttc::QoS::AtLeastOnce,
                _ => rumqttc::QoS::ExactlyOnce,
            },
            retain: settings.retain,
            tls,
            max_queued: settings.max_queued as usize,
        };
        let element = self.obj().downgrade();
        let worker = Worker::start(config, move |why| {
            if let Some(element) = element.upgrade() {
                gst::element_error!(element, gst::ResourceError::OpenWrite, ["{}", why]);
            }
        })
        .map_err(|e| gst::error_msg!(gst::ResourceError::Settings, ["{}", e]))?;
        gst::info!(
            CAT,
            imp = self,
            "publishing to {}:{} as camera {}",
            settings.host,
            port,
            settings.camera_id
        );
        let run = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        *self.state.lock().unwrap() = Some(State {
            worker,
            topic,
            settings,
            run,
            book: TrackBook::default(),
            last_update: HashMap::new(),
            next_summary: None,
            last_frame: Frame::default(),
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        let state = self.state.lock().unwrap().take();
        if let Some(state) = state {
            let timeout = Duration::from_millis(state.settings.flush_timeout as u64);
            if !state.worker.flush(timeout) {
                gst::warning!(
                    CAT,
                    imp = self,
                    "stopping with {} messages not acknowledged",
                    state.worker.queued()
                );
            }
            state.worker.stop();
        }
        Ok(())
    }

    fn render(&self, buffer: &gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut guard = self.state.lock().unwrap();
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        if state.worker.fatal_error().is_some() {
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
        state.book.observe(&frame, pts);
        let kinds = state.settings.messages;
        if kinds.contains(Messages::DETECTIONS) && !frame.objects.is_empty() {
            let payload = message::detections(&state.context(), pts, &frame);
            state.publish("detections", "all", payload, false);
        }
        if kinds.contains(Messages::TRACKS) {
            let interval = state.settings.update_interval as u64 * 1_000_000;
            for o in &frame.objects {
                let Some(id) = o.track_id else { continue };
                let due = state
                    .last_update
                    .get(&id)
                    .is_none_or(|&t| pts >= t + interval);
                if due && let Some(track) = state.book.get(id) {
                    let payload =
                        message::track(&state.context(), TrackPhase::Update, pts, &frame, track);
                    state.publish("track", &track.label, payload, false);
                    state.last_update.insert(id, pts);
                }
            }
        }
        if kinds.contains(Messages::SUMMARY) && state.next_summary.is_none_or(|t| pts >= t) {
            let payload = message::summary(&state.context(), pts, &frame);
            state.publish("summary", "all", payload, false);
            state.next_summary = Some(pts + state.settings.summary_interval as u64 * 1_000_000);
        }
        state.last_frame = frame;
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
                    state.last_update.clear();
                    // After a seek, stream times repeat with other content:
                    // a new run keeps message ids unique.
                    state.run += 1;
                }
            }
            _ => {}
        }
        self.parent_event(event)
    }
}

impl MqttSink {
    fn track_event(&self, e: &TrackEvent) {
        let mut guard = self.state.lock().unwrap();
        let Some(state) = guard.as_mut() else { return };
        if !state.settings.messages.contains(Messages::TRACKS) {
            return;
        }
        let (phase, summary) = match e.kind {
            Kind::New => (TrackPhase::Enter, state.book.get(e.track_id).cloned()),
            Kind::Removed => {
                state.last_update.remove(&e.track_id);
                (TrackPhase::Exit, state.book.remove(e.track_id))
            }
            Kind::Lost | Kind::Recovered => return,
        };
        let summary = summary.unwrap_or_else(|| summary_from_event(e));
        let frame = Frame {
            width: e.width,
            height: e.height,
            ..Frame::default()
        };
        let pts = match phase {
            TrackPhase::Enter => e.first_seen,
            _ => e.last_seen,
        };
        let payload = message::track(&state.context(), phase, pts, &frame, &summary);
        state.publish("track", &summary.label, payload, true);
    }

    fn flush_on_eos(&self) {
        let guard = self.state.lock().unwrap();
        let Some(state) = guard.as_ref() else { return };
        let timeout = Duration::from_millis(state.settings.flush_timeout as u64);
        if state.worker.flush(timeout) {
            gst::debug!(CAT, imp = self, "all messages acknowledged before EOS");
        } else {
            gst::element_imp_warning!(
                self,
                gst::ResourceError::Write,
                [
                    "{} MQTT messages not acknowledged within flush-timeout",
                    state.worker.queued()
                ]
            );
        }
    }

    fn stats(&self) -> gst::Structure {
        let guard = self.state.lock().unwrap();
        let mut s = gst::Structure::builder("mqttsink-stats");
        if let Some(state) = guard.as_ref() {
            let stats = state.worker.stats();
            s = s
                .field("published", stats.published.load(Ordering::Relaxed))
                .field("acked", stats.acked.load(Ordering::Relaxed))
                .field("dropped", stats.dropped.load(Ordering::Relaxed))
                .field("queued", state.worker.queued())
                .field("reconnects", stats.reconnects.load(Ordering::Relaxed))
                .field("connected", state.worker.is_connected());
        }
        s.build()
    }
}

/// What a life-cycle event alone says about a track the sink never saw a frame of.
fn summary_from_event(e: &TrackEvent) -> TrackSummary {
    TrackSummary {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_templates() {
        let t = Topic::parse("cctv/{camera}/{kind}/{label}").unwrap();
        assert_eq!(
            t.render("lobby", "track", "person"),
            "cctv/lobby/track/person"
        );
        assert_eq!(
            Topic::parse("plain").unwrap().render("c", "k", "l"),
            "plain"
        );
        for bad in ["", "a/+/b", "a/#", "{cam}", "a/{kind", "a}b"] {
            assert!(Topic::parse(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(
            t.render("lobby", "detections", "a+b#c"),
            "cctv/lobby/detections/a_b_c",
            "labels cannot put wildcards into topics"
        );
    }
}
