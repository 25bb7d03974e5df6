//! The MQTT protocol of `mqttsink` for the shared network worker: connect
//! with rumqttc, publish batches and count their acknowledgements (PUBACK
//! for QoS 1, PUBCOMP for QoS 2, the write for QoS 0), in order. What was
//! not acknowledged when a connection fails is published again on the next
//! one, so QoS 1 and 2 lose nothing (duplicates keep their message ids).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rumqttc::{
    Client, ConnectReturnCode, ConnectionError, Event, MqttOptions, Outgoing, Packet, QoS,
    TlsConfiguration, Transport,
};
use serde::{Deserialize, Serialize};

use crate::net::{Class, Failure, Item, Protocol};

/// The most a topic, client id, user name or password may hold (a 16-bit length).
pub const MAX_STRING: usize = 65_535;
/// Messages handed to rumqttc at once.
pub const BATCH: usize = 256;
/// Messages published and not acknowledged yet, at most: enough that the
/// broker's acknowledgement delay does not stall the stream.
const WINDOW: usize = 4 * BATCH;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connection settings, copied from the element's properties.
#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    pub user_id: Option<String>,
    pub user_pw: Option<String>,
    pub keep_alive: Duration,
    pub qos: QoS,
    pub retain: bool,
    pub tls: Option<Tls>,
    pub max_packet: usize,
}

/// PEM files for TLS; `client` (certificate, key) enables client authentication.
#[derive(Debug, Clone)]
pub struct Tls {
    pub ca: Vec<u8>,
    pub client: Option<(Vec<u8>, Vec<u8>)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    pub topic: String,
    pub payload: String,
    /// Life-cycle events are records (spooled, never dropped first);
    /// per-frame messages are samples.
    pub lifecycle: bool,
}

impl Item for Message {
    fn class(&self) -> Class {
        if self.lifecycle {
            Class::Record
        } else {
            Class::Sample
        }
    }
}

pub struct Mqtt {
    config: Config,
    tls: Option<TlsConfiguration>,
    endpoint: String,
}

pub struct Connection {
    client: Client,
    connection: rumqttc::Connection,
}

impl Mqtt {
    /// Checks what can be checked before connecting (TLS files, lengths).
    pub fn new(config: Config) -> Result<Mqtt, String> {
        for (what, value) in [
            ("client-id", Some(&config.client_id)),
            ("user-id", config.user_id.as_ref()),
            ("user-pw", config.user_pw.as_ref()),
        ] {
            if value.is_some_and(|v| v.len() > MAX_STRING) {
                return Err(format!(
                    "{what} is longer than MQTT's limit of {MAX_STRING} bytes"
                ));
            }
        }
        if config.client_id.is_empty() {
            return Err("client-id is empty".into());
        }
        let tls = config.tls.as_ref().map(tls_config).transpose()?;
        Ok(Mqtt {
            endpoint: format!("{}:{}", config.host, config.port),
            config,
            tls,
        })
    }
}

impl Protocol for Mqtt {
    type Item = Message;
    type Connection = Connection;

    fn connect(&mut self, cancel: &AtomicBool) -> Result<Connection, Failure> {
        let c = &self.config;
        let mut options = MqttOptions::new(&c.client_id, &c.host, c.port);
        options.set_keep_alive(c.keep_alive);
        options.set_clean_session(true);
        options.set_max_packet_size(c.max_packet, c.max_packet);
        if let Some(user) = &c.user_id {
            options.set_credentials(user, c.user_pw.clone().unwrap_or_default());
        }
        if let Some(tls) = &self.tls {
            options.set_transport(Transport::tls_with_config(tls.clone()));
        }
        options.set_inflight(WINDOW as u16);
        let (client, mut connection) = Client::new(options, WINDOW + 16);
        let network = &mut connection.eventloop.network_options;
        network.set_connection_timeout(CONNECT_TIMEOUT.as_secs());
        // A batch waits for its acknowledgements: Nagle's algorithm would
        // hold its last packets back for the broker's delayed ACK (40 ms).
        network.set_tcp_nodelay(true);
        let deadline = Instant::now() + CONNECT_TIMEOUT + Duration::from_secs(1);
        loop {
            if cancel.load(Ordering::SeqCst) {
                return Err(Failure::Transient("stopping".into()));
            }
            if Instant::now() >= deadline {
                return Err(Failure::Transient(format!(
                    "MQTT broker {}: no CONNACK",
                    self.endpoint
                )));
            }
            match connection.recv_timeout(Duration::from_millis(100)) {
                Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                    return Ok(Connection { client, connection });
                }
                Ok(Ok(_)) | Err(rumqttc::RecvTimeoutError::Timeout) => {}
                Ok(Err(e)) => return Err(self.failure(e)),
                Err(rumqttc::RecvTimeoutError::Disconnected) => {
                    return Err(Failure::Transient("MQTT client closed".into()));
                }
            }
        }
    }

    fn send(&mut self, conn: &mut Connection, batch: &[Message]) -> Result<(), Failure> {
        let (qos, retain) = (self.config.qos, self.config.retain);
        for m in batch {
            conn.client
                .try_publish(m.topic.as_str(), qos, retain, m.payload.as_bytes())
                .map_err(|e| Failure::Transient(format!("MQTT publish: {e}")))?;
        }
        Ok(())
    }

    /// Drives the connection (writes what was sent, answers pings) and
    /// counts PUBACKs (QoS 1), PUBCOMPs (QoS 2) or writes (QoS 0).
    fn acknowledged(&mut self, conn: &mut Connection, wait: Duration) -> Result<usize, Failure> {
        let qos = self.config.qos;
        let deadline = Instant::now() + wait;
        let mut acked = 0;
        loop {
            let event = match conn
                .connection
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(Ok(event)) => event,
                Err(rumqttc::RecvTimeoutError::Timeout) => return Ok(acked),
                Ok(Err(e)) => return Err(self.failure(e)),
                Err(rumqttc::RecvTimeoutError::Disconnected) => {
                    return Err(Failure::Transient("MQTT client closed".into()));
                }
            };
            acked += match event {
                Event::Incoming(Packet::PubAck(_)) => qos == QoS::AtLeastOnce,
                Event::Incoming(Packet::PubComp(_)) => qos == QoS::ExactlyOnce,
                Event::Outgoing(Outgoing::Publish(_)) => qos == QoS::AtMostOnce,
                _ => false,
            } as usize;
        }
    }

    fn window(&self) -> usize {
        WINDOW
    }
}

impl Mqtt {
    fn failure(&self, e: ConnectionError) -> Failure {
        match &e {
            // Refusals other than "server unavailable" repeat on every attempt.
            ConnectionError::ConnectionRefused(code)
                if *code != ConnectReturnCode::ServiceUnavailable =>
            {
                let why = match code {
                    ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized => {
                        "wrong credentials or not authorised"
                    }
                    ConnectReturnCode::BadClientId => "client id refused",
                    _ => "refused",
                };
                Failure::Fatal(format!(
                    "MQTT broker {} refused the connection: {why} ({code:?})",
                    self.endpoint
                ))
            }
            ConnectionError::Tls(_) => {
                Failure::Fatal(format!("MQTT broker {}: TLS failed: {e}", self.endpoint))
            }
            _ => Failure::Transient(format!("MQTT broker {}: {e}", self.endpoint)),
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.client.try_disconnect().ok();
        // Lets the DISCONNECT out before the socket closes.
        for _ in 0..4 {
            match self.connection.try_recv() {
                Ok(Ok(Event::Outgoing(Outgoing::Disconnect))) | Ok(Err(_)) | Err(_) => break,
                Ok(Ok(_)) => {}
            }
        }
    }
}

fn tls_config(tls: &Tls) -> Result<TlsConfiguration, String> {
    let ca = native_tls::Certificate::from_pem(&tls.ca)
        .map_err(|e| format!("invalid CA certificate: {e}"))?;
    let mut builder = native_tls::TlsConnector::builder();
    builder.add_root_certificate(ca);
    if let Some((cert, key)) = &tls.client {
        let identity = native_tls::Identity::from_pkcs8(cert, key)
            .map_err(|e| format!("invalid client certificate or key: {e}"))?;
        builder.identity(identity);
    }
    let connector = builder
        .build()
        .map_err(|e| format!("cannot set up TLS: {e}"))?;
    Ok(TlsConfiguration::NativeConnector(connector))
}
