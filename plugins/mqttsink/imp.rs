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
//! `tracks` (`enter` on the first frame of a new track, `update` at most
//! every `update-interval`, `exit` with duration and attributes when it
//! ends) and `summary` (objects per label every `summary-interval`); when
//! each is sent is `cctv::schedule`'s decision. Brokers that require
//! authentication take `user-id` and `user-pw` (write-only, never logged).
//! Publishing never blocks the streaming thread: the network sink base
//! class (`plugins/net`) queues, delivers in batches, waits for
//! acknowledgements and reconnects; see there for the queue, spool and
//! end-of-stream rules.

use std::net::ToSocketAddrs;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

use cctv::lifecycle::TrackEvent;
use cctv::message::Outgoing;
use cctv::meta::Frame;
use cctv::schedule::{Kinds, MessageStream, Schedule};

use super::client::{self, Config, MAX_STRING, Message, Mqtt, Tls};
use crate::net::{NetSettings, NetSinkImpl, Out, Plan, Stream};

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
const DEFAULT_QOS: u32 = 1;
const DEFAULT_KEEP_ALIVE: u32 = 30;
const DEFAULT_MAX_QUEUED: u32 = 10_000;
const DEFAULT_FLUSH_TIMEOUT: u32 = 10_000;
/// Largest MQTT packet sent; larger messages are dropped with a warning.
const MAX_PACKET: usize = 16 << 20;
/// Room left in topics for a label; longer labels are cut.
const MAX_LABEL: usize = 1024;
const DEFAULT_UPDATE_INTERVAL: u32 = 1_000;
const DEFAULT_SUMMARY_INTERVAL: u32 = 10_000;

#[derive(Debug, Clone)]
struct Settings {
    host: String,
    port: u32,
    client_id: Option<String>,
    topic: String,
    qos: u32,
    retain: bool,
    user_id: Option<String>,
    user_pw: Option<String>,
    ca_file: Option<String>,
    cert_file: Option<String>,
    key_file: Option<String>,
    keep_alive: u32,
    net: NetSettings,
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
            qos: DEFAULT_QOS,
            retain: false,
            user_id: None,
            user_pw: None,
            ca_file: None,
            cert_file: None,
            key_file: None,
            keep_alive: DEFAULT_KEEP_ALIVE,
            net: NetSettings::new(DEFAULT_MAX_QUEUED, DEFAULT_FLUSH_TIMEOUT),
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
                TopicPart::Label => {
                    let mut end = label.len().min(MAX_LABEL);
                    while !label.is_char_boundary(end) {
                        end -= 1;
                    }
                    out.extend(
                        label[..end]
                            .chars()
                            .map(|c| if NOT_IN_TOPICS.contains(&c) { '_' } else { c }),
                    )
                }
            }
        }
        out
    }
}

/// The messages of one run, published on their topics.
pub struct Publisher {
    messages: MessageStream,
    topic: Topic,
}

impl Publisher {
    fn publish(&self, out: &mut Out<Message>, messages: Vec<Outgoing>) {
        for m in messages {
            let topic = self.topic.render(self.messages.camera(), m.kind, &m.label);
            if topic.len() + m.payload.len() + 16 > MAX_PACKET {
                out.refuse(format!(
                    "dropping a {} message of {} bytes: over the {MAX_PACKET}-byte packet limit",
                    m.kind,
                    m.payload.len()
                ));
                continue;
            }
            out.push(Message {
                topic,
                payload: m.payload,
                lifecycle: m.record,
            });
        }
    }
}

impl Stream for Publisher {
    type Item = Message;

    fn frame(
        &mut self,
        frame: &Frame,
        pts_ns: u64,
        captured_ns: Option<u64>,
        out: &mut Out<Message>,
    ) {
        let messages = self.messages.frame(frame, pts_ns, captured_ns);
        self.publish(out, messages);
    }

    fn event(&mut self, event: &TrackEvent, out: &mut Out<Message>) {
        let messages = self.messages.event(event);
        self.publish(out, messages);
    }

    fn flush(&mut self) {
        self.messages.flush();
    }
}

#[derive(Default)]
pub struct MqttSink {
    settings: Mutex<Settings>,
}

#[glib::object_subclass]
impl ObjectSubclass for MqttSink {
    const NAME: &'static str = "GstCctvMqttSink";
    type Type = super::MqttSink;
    type ParentType = crate::net::NetSink;
}

impl ObjectImpl for MqttSink {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut props = vec![
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
                    .maximum(u16::MAX as u32)
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
                glib::ParamSpecString::builder("user-id")
                    .nick("User")
                    .blurb("User name for brokers that require authentication")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("user-pw")
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
            ];
            props.extend(Settings::default().net.properties("Messages"));
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
        };
        match pspec.name() {
            "host" => s.host = string().unwrap_or_else(|| DEFAULT_HOST.into()),
            "port" => s.port = value.get().expect("type checked upstream"),
            "client-id" => s.client_id = string(),
            "topic" => s.topic = string().unwrap_or_default(),
            "qos" => s.qos = value.get().expect("type checked upstream"),
            "retain" => s.retain = value.get().expect("type checked upstream"),
            "user-id" => s.user_id = string(),
            "user-pw" => s.user_pw = string(),
            "ca-file" => s.ca_file = string(),
            "cert-file" => s.cert_file = string(),
            "key-file" => s.key_file = string(),
            "keep-alive" => s.keep_alive = value.get().expect("type checked upstream"),
            "messages" => s.messages = value.get().expect("type checked upstream"),
            "update-interval" => s.update_interval = value.get().expect("type checked upstream"),
            "summary-interval" => s.summary_interval = value.get().expect("type checked upstream"),
            other => assert!(s.net.set(other, value), "unknown property {other}"),
        }
        drop(s);
        if pspec.name() != "user-pw" {
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
            "qos" => s.qos.to_value(),
            "retain" => s.retain.to_value(),
            "user-id" => s.user_id.to_value(),
            "ca-file" => s.ca_file.to_value(),
            "cert-file" => s.cert_file.to_value(),
            "key-file" => s.key_file.to_value(),
            "keep-alive" => s.keep_alive.to_value(),
            "messages" => s.messages.to_value(),
            "update-interval" => s.update_interval.to_value(),
            "summary-interval" => s.summary_interval.to_value(),
            other => s
                .net
                .get(other)
                .unwrap_or_else(|| unreachable!("unknown property {other}")),
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
}

impl BaseSinkImpl for MqttSink {}

impl NetSinkImpl for MqttSink {
    const ELEMENT: &'static str = "mqttsink";
    type Protocol = Mqtt;
    type Stream = Publisher;

    fn open(&self, camera: &str) -> Result<Plan<Mqtt, Publisher>, gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let topic = Topic::parse(&settings.topic)
            .map_err(|e| gst::error_msg!(gst::ResourceError::Settings, ["Invalid topic: {}", e]))?;
        if camera.contains(NOT_IN_TOPICS) {
            return Err(gst::error_msg!(
                gst::ResourceError::Settings,
                [
                    "Invalid camera-id \"{}\": it goes into MQTT topics, which cannot hold + # or NUL",
                    camera
                ]
            ));
        }
        let longest = topic.render(camera, "detections", "").len() + MAX_LABEL;
        if longest > MAX_STRING {
            return Err(gst::error_msg!(
                gst::ResourceError::Settings,
                [
                    "camera-id and topic make topics of up to {} bytes; MQTT allows {}",
                    longest,
                    MAX_STRING
                ]
            ));
        }
        // The ParamSpec holds it to 1-65535.
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
        let mqtt = Mqtt::new(Config {
            host: settings.host.clone(),
            port,
            client_id: settings.client_id.clone().unwrap_or_else(|| {
                let camera = &camera[..camera.floor_char_boundary(256)];
                format!("gst-cctv-{camera}-{}", std::process::id())
            }),
            user_id: settings.user_id.clone(),
            user_pw: settings.user_pw.clone(),
            keep_alive: Duration::from_secs(settings.keep_alive as u64),
            qos: match settings.qos {
                0 => rumqttc::QoS::AtMostOnce,
                1 => rumqttc::QoS::AtLeastOnce,
                _ => rumqttc::QoS::ExactlyOnce,
            },
            retain: settings.retain,
            tls,
            max_packet: MAX_PACKET,
        })
        .map_err(|e| gst::error_msg!(gst::ResourceError::Settings, ["{}", e]))?;
        let run = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        let kinds = Kinds {
            detections: settings.messages.contains(Messages::DETECTIONS),
            tracks: settings.messages.contains(Messages::TRACKS),
            summary: settings.messages.contains(Messages::SUMMARY),
        };
        let schedule = Schedule::new(
            kinds,
            settings.update_interval as u64 * 1_000_000,
            settings.summary_interval as u64 * 1_000_000,
        );
        Ok(Plan {
            protocol: mqtt,
            stream: Publisher {
                messages: MessageStream::new(camera.to_owned(), run, schedule),
                topic,
            },
            target: format!("MQTT broker {}:{}", settings.host, port),
            batch_size: client::BATCH,
            linger: Duration::ZERO,
        })
    }

    fn net_settings(&self) -> NetSettings {
        self.settings.lock().unwrap().net.clone()
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
