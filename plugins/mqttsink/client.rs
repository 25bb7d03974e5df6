//! The MQTT side of `mqttsink`, off the streaming thread: a bounded queue
//! filled by the element, a publisher thread handing messages to rumqttc, and
//! a network thread driving the connection with reconnection and backoff.
//!
//! rumqttc forgets unacknowledged publishes when the broker comes back
//! without the old session; the network thread stashes them when the
//! connection drops and queues them first after the next CONNACK, so QoS 1
//! and 2 lose nothing (at the cost of duplicates, which keep their ids).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cctv::backoff::Backoff;
use rumqttc::{
    Client, ConnectReturnCode, ConnectionError, Event, MqttOptions, Outgoing, Packet, QoS, Request,
    TlsConfiguration, Transport,
};

/// Connection settings, copied from the element's properties.
#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub keep_alive: Duration,
    pub qos: QoS,
    pub retain: bool,
    pub tls: Option<Tls>,
    pub max_queued: usize,
}

/// PEM files for TLS; `cert` and `key` together enable client authentication.
#[derive(Debug, Clone)]
pub struct Tls {
    pub ca: Vec<u8>,
    pub client: Option<(Vec<u8>, Vec<u8>)>,
}

pub struct Message {
    pub topic: String,
    pub payload: String,
    /// Life-cycle events are never dropped when the queue is full.
    pub lifecycle: bool,
}

/// Counters readable as the element's `stats`.
#[derive(Debug, Default)]
pub struct Stats {
    pub published: AtomicU64,
    pub acked: AtomicU64,
    pub dropped: AtomicU64,
    pub reconnects: AtomicU64,
}

#[derive(Default)]
struct Queues {
    /// Per-frame messages (detections, updates, summaries), bounded.
    frames: VecDeque<(u64, Message)>,
    lifecycle: VecDeque<(u64, Message)>,
    next_seq: u64,
    /// Popped by the publisher and not yet counted as published.
    in_hand: usize,
    closed: bool,
}

impl Queues {
    /// The oldest message of either queue.
    fn pop(&mut self) -> Option<Message> {
        let take_frame = match (self.frames.front(), self.lifecycle.front()) {
            (Some((a, _)), Some((b, _))) => a < b,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        let queue = if take_frame {
            &mut self.frames
        } else {
            &mut self.lifecycle
        };
        queue.pop_front().map(|(_, m)| m)
    }

    /// Messages not yet handed to rumqttc, counting the one being handed.
    fn len(&self) -> usize {
        self.frames.len() + self.lifecycle.len() + self.in_hand
    }
}

struct Shared {
    queues: Mutex<Queues>,
    wake: Condvar,
    stats: Stats,
    connected: AtomicBool,
    stop: AtomicBool,
    /// Why the broker refused us, once it did.
    fatal: Mutex<Option<String>>,
}

pub struct Worker {
    shared: Arc<Shared>,
    client: Client,
    threads: Vec<JoinHandle<()>>,
    qos: QoS,
    max_queued: usize,
}

impl Worker {
    /// Starts connecting in the background; `on_fatal` is called once if the
    /// broker refuses us for good (bad credentials, not authorised).
    pub fn start(
        config: Config,
        on_fatal: impl Fn(&str) + Send + 'static,
    ) -> Result<Worker, String> {
        let mut options = MqttOptions::new(&config.client_id, &config.host, config.port);
        options.set_keep_alive(config.keep_alive);
        options.set_clean_session(true);
        options.set_max_packet_size(1 << 20, 1 << 20);
        if let Some(user) = &config.username {
            options.set_credentials(user, config.password.clone().unwrap_or_default());
        }
        if let Some(tls) = &config.tls {
            options.set_transport(Transport::tls_with_config(tls_config(tls)?));
        }
        let (client, mut connection) = Client::new(options, 64);
        connection
            .eventloop
            .network_options
            .set_connection_timeout(3);
        let shared = Arc::new(Shared {
            queues: Mutex::new(Queues::default()),
            wake: Condvar::new(),
            stats: Stats::default(),
            connected: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            fatal: Mutex::new(None),
        });

        let net = {
            let shared = Arc::clone(&shared);
            let qos = config.qos;
            let endpoint = format!("{}:{}", config.host, config.port);
            std::thread::Builder::new()
                .name("mqttsink-net".into())
                .spawn(move || network_loop(&mut connection, &shared, qos, &endpoint, &on_fatal))
                .map_err(|e| format!("cannot start the MQTT thread: {e}"))?
        };
        let publisher = {
            let shared = Arc::clone(&shared);
            let client = client.clone();
            let (qos, retain) = (config.qos, config.retain);
            std::thread::Builder::new()
                .name("mqttsink-pub".into())
                .spawn(move || publish_loop(&client, &shared, qos, retain))
                .map_err(|e| format!("cannot start the MQTT thread: {e}"))?
        };
        Ok(Worker {
            shared,
            client,
            threads: vec![net, publisher],
            qos: config.qos,
            max_queued: config.max_queued,
        })
    }

    /// Queues a message without blocking. When the per-frame queue is full,
    /// its oldest message is dropped; life-cycle messages always fit.
    pub fn push(&self, message: Message) {
        let mut q = self.shared.queues.lock().unwrap();
        let seq = q.next_seq;
        q.next_seq += 1;
        if message.lifecycle {
            q.lifecycle.push_back((seq, message));
        } else {
            if q.frames.len() >= self.max_queued {
                q.frames.pop_front();
                self.shared.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
            q.frames.push_back((seq, message));
        }
        drop(q);
        self.shared.wake.notify_one();
    }

    /// The broker's refusal, once it happened.
    pub fn fatal_error(&self) -> Option<String> {
        self.shared.fatal.lock().unwrap().clone()
    }

    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Relaxed)
    }

    /// Messages queued here or handed to rumqttc and not yet acknowledged.
    pub fn queued(&self) -> u64 {
        let waiting = self.shared.queues.lock().unwrap().len() as u64;
        let s = &self.shared.stats;
        waiting
            + s.published
                .load(Ordering::Relaxed)
                .saturating_sub(s.acked.load(Ordering::Relaxed))
    }

    /// Waits until everything queued was acknowledged (QoS 1/2) or written
    /// (QoS 0), or `timeout` passed; returns whether all was delivered.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let done = self.queued() == 0
                || (self.qos == QoS::AtMostOnce && self.shared.queues.lock().unwrap().len() == 0);
            if done {
                return true;
            }
            if Instant::now() >= deadline || self.fatal_error().is_some() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Disconnects and joins the threads; what is still queued is discarded
    /// (call `flush` first).
    pub fn stop(self) {
        self.client.try_disconnect().ok();
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.queues.lock().unwrap().closed = true;
        self.shared.wake.notify_all();
        drop(self.client);
        for t in self.threads {
            t.join().ok();
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

fn publish_loop(client: &Client, shared: &Shared, qos: QoS, retain: bool) {
    loop {
        let message = {
            let mut q = shared.queues.lock().unwrap();
            loop {
                if q.closed {
                    return;
                }
                // While disconnected, messages stay here where `max-queued` applies.
                if shared.connected.load(Ordering::SeqCst)
                    && let Some(m) = q.pop()
                {
                    q.in_hand += 1;
                    break m;
                }
                q = shared
                    .wake
                    .wait_timeout(q, Duration::from_millis(100))
                    .unwrap()
                    .0;
            }
        };
        // Blocks while rumqttc's request channel is full (e.g. broker down).
        let handed = client
            .publish(message.topic, qos, retain, message.payload)
            .is_ok();
        if handed {
            shared.stats.published.fetch_add(1, Ordering::SeqCst);
        }
        // `queued()` reads `published` after this, under the same lock.
        shared.queues.lock().unwrap().in_hand -= 1;
        if !handed {
            return;
        }
    }
}

fn network_loop(
    connection: &mut rumqttc::Connection,
    shared: &Shared,
    qos: QoS,
    endpoint: &str,
    on_fatal: &dyn Fn(&str),
) {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    let mut stash: VecDeque<Request> = VecDeque::new();
    let mut ever_connected = false;
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        // A timeout only to notice `stop`: the event loop keeps a request
        // sender of its own, so dropping the clients never ends `recv`.
        let event = match connection.recv_timeout(Duration::from_secs(1)) {
            Ok(event) => event,
            Err(rumqttc::RecvTimeoutError::Timeout) => continue,
            Err(rumqttc::RecvTimeoutError::Disconnected) => return,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                shared.connected.store(true, Ordering::SeqCst);
                shared.wake.notify_all();
                if ever_connected {
                    shared.stats.reconnects.fetch_add(1, Ordering::Relaxed);
                }
                ever_connected = true;
                backoff.reset();
                // Unacknowledged publishes of the dropped connection go first.
                let pending = &mut connection.eventloop.pending;
                stash.extend(pending.drain(..));
                *pending = std::mem::take(&mut stash);
            }
            Ok(Event::Incoming(Packet::PubAck(_))) if qos == QoS::AtLeastOnce => {
                shared.stats.acked.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Event::Incoming(Packet::PubComp(_))) if qos == QoS::ExactlyOnce => {
                shared.stats.acked.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Event::Outgoing(Outgoing::Publish(_))) if qos == QoS::AtMostOnce => {
                shared.stats.acked.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(e) => {
                shared.connected.store(false, Ordering::SeqCst);
                if shared.stop.load(Ordering::SeqCst) {
                    return;
                }
                stash.extend(
                    connection
                        .eventloop
                        .pending
                        .drain(..)
                        .filter(|r| matches!(r, Request::Publish(_) | Request::PubRel(_))),
                );
                if let ConnectionError::ConnectionRefused(code) = &e
                    && matches!(
                        code,
                        ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized
                    )
                {
                    let why = format!(
                        "MQTT broker {endpoint} refused the connection: wrong credentials or not authorised ({code:?})"
                    );
                    // The element error goes first: once `fatal` is set,
                    // rendering fails, and that must not be the first error.
                    on_fatal(&why);
                    *shared.fatal.lock().unwrap() = Some(why.clone());
                    return;
                }
                let delay = backoff.next_delay();
                let until = Instant::now() + delay;
                while Instant::now() < until {
                    if shared.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }
}
