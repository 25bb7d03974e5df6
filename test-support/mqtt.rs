//! An MQTT subscriber, to read what mqttsink delivered to a broker.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An MQTT subscriber collecting every message on `topic` (QoS 1,
/// persistent session, reconnecting by itself).
pub struct Subscriber {
    pub messages: Arc<Mutex<Vec<(String, String)>>>,
    client: rumqttc::Client,
    thread: Option<std::thread::JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl Subscriber {
    pub fn start(port: u16, topic: &str) -> Subscriber {
        Self::start_with(port, topic, None)
    }

    pub fn start_with(port: u16, topic: &str, credentials: Option<(&str, &str)>) -> Subscriber {
        let mut options = rumqttc::MqttOptions::new(format!("test-sub-{port}"), "127.0.0.1", port);
        options.set_clean_session(false);
        options.set_keep_alive(Duration::from_secs(5));
        if let Some((u, p)) = credentials {
            options.set_credentials(u, p);
        }
        let (client, mut connection) = rumqttc::Client::new(options, 100);
        let messages = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (subscribed_tx, subscribed_rx) = std::sync::mpsc::channel();
        let thread = {
            let messages = messages.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match connection.recv_timeout(Duration::from_millis(200)) {
                        Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)))) => {
                            let payload = String::from_utf8_lossy(&p.payload).into_owned();
                            messages.lock().unwrap().push((p.topic.clone(), payload));
                        }
                        Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_)))) => {
                            subscribed_tx.send(()).ok();
                        }
                        Ok(Ok(_)) | Err(rumqttc::RecvTimeoutError::Timeout) => {}
                        Ok(Err(_)) => std::thread::sleep(Duration::from_millis(100)),
                        Err(rumqttc::RecvTimeoutError::Disconnected) => return,
                    }
                }
            })
        };
        client.subscribe(topic, rumqttc::QoS::AtLeastOnce).unwrap();
        subscribed_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("subscribed");
        Subscriber {
            messages,
            client,
            thread: Some(thread),
            stop,
        }
    }

    /// Waits until `pred` holds for the messages received, or `timeout`.
    pub fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&[(String, String)]) -> bool,
    ) -> Vec<(String, String)> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages.lock().unwrap().clone();
            if pred(&messages) || Instant::now() >= deadline {
                return messages;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.client.try_disconnect().ok();
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}
