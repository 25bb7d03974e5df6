//! Shared test support: plugin registration, paths, and real servers
//! (mosquitto, PostgreSQL, an RTSP server) started on free loopback ports in
//! temporary directories and stopped when dropped, even when a test fails.
#![allow(dead_code)]

#[path = "../support/play.rs"]
mod play;
#[path = "../support/rtsp.rs"]
pub mod rtsp;
pub mod script;
#[path = "../support/servers.rs"]
mod servers;

#[allow(unused_imports)]
pub use play::play_to_end;
#[allow(unused_imports)]
pub use rtsp::RtspServer;
#[allow(unused_imports)]
pub use servers::{Mosquitto, Postgres, TestCerts, free_port, tempdir, wait_for_port};

use gst::prelude::*;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

/// Initialises GStreamer and registers the plugin statically.
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gstcctv::plugin_register_static().expect("plugin registers");
    });
}

/// Plays `launch` to its end (an error or EOS within `within`); the error
/// it stopped with (message and debug text), or `None` at EOS.
pub fn first_error(launch: &str, within: gst::ClockTime) -> Option<String> {
    init();
    let pipeline = gst::parse::launch(launch).unwrap();
    let end = play_to_end(&pipeline, within);
    pipeline.set_state(gst::State::Null).unwrap();
    end.err()
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn assets() -> PathBuf {
    std::env::var_os("CCTV_ASSETS")
        .map(Into::into)
        .unwrap_or_else(|| repo().join(".assets"))
}

pub fn video() -> PathBuf {
    assets().join("media/vtest.avi")
}

/// Parses `launch`, a pipeline with an `appsink name=sink`, with the plugin registered.
pub fn with_appsink(launch: &str) -> (gst::Pipeline, gst_app::AppSink) {
    init();
    let pipeline = gst::parse::launch(launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    (pipeline, sink)
}

/// Frames of the bundled clip that [`short_clip`] can play.
pub const SHORT_CLIP_MAX: usize = 120;

/// The first `frames` frames (at most [`SHORT_CLIP_MAX`]) of the bundled clip
/// as a launch fragment playing raw I420 with exact timestamps. A decoder
/// stopped early (`identity eos-after`) drains a last frame with a guessed
/// timestamp, or not, from run to run; raw frames make short runs exact. The
/// raw file is written once per test binary, in cargo's test temp dir.
pub fn short_clip(frames: usize) -> String {
    const FRAME_BYTES: usize = 768 * 576 * 3 / 2;
    assert!(
        frames <= SHORT_CLIP_MAX,
        "short_clip holds {SHORT_CLIP_MAX} frames"
    );
    static WRITING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vtest-short.i420");
    let _writing = WRITING.lock().unwrap();
    if !path.exists() {
        let (pipeline, sink) = with_appsink(&format!(
            "filesrc location={} ! decodebin ! videoconvert ! video/x-raw,format=I420 \
             ! appsink name=sink sync=false",
            video().display()
        ));
        pipeline.set_state(gst::State::Playing).unwrap();
        let mut bytes = Vec::with_capacity(SHORT_CLIP_MAX * FRAME_BYTES);
        for _ in 0..SHORT_CLIP_MAX {
            let sample = sink.pull_sample().expect("the clip has enough frames");
            bytes.extend_from_slice(&sample.buffer().unwrap().map_readable().unwrap());
        }
        pipeline.set_state(gst::State::Null).unwrap();
        assert_eq!(bytes.len(), SHORT_CLIP_MAX * FRAME_BYTES);
        let partial = path.with_extension(format!("{}.part", std::process::id()));
        std::fs::write(&partial, bytes).unwrap();
        std::fs::rename(&partial, &path).unwrap();
    }
    format!(
        "filesrc location={} blocksize={FRAME_BYTES} num-buffers={frames} \
         ! rawvideoparse format=i420 width=768 height=576 framerate=10/1",
        path.display()
    )
}

/// Directory holding the built `libgstcctv.so`, for `GST_PLUGIN_PATH`.
pub fn plugin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    assert!(
        dir.join("libgstcctv.so").exists(),
        "plugin not built in {}",
        dir.display()
    );
    dir
}

/// Runs `gst-launch-1.0` with the built plugin, as a user would.
pub fn gst_launch(pipeline: &str) -> std::process::Output {
    Command::new("gst-launch-1.0")
        .arg("-q")
        .args(shell_words(pipeline))
        .env("GST_PLUGIN_PATH", plugin_dir())
        .output()
        .expect("gst-launch-1.0 runs")
}

/// Runs `gst-launch-1.0` like [`gst_launch`], killing it after `limit`:
/// `None` when it had not exited by then (it hung).
pub fn gst_launch_within(pipeline: &str, limit: Duration) -> Option<std::process::Output> {
    let mut child = Command::new("gst-launch-1.0")
        .args(shell_words(pipeline))
        .env("GST_PLUGIN_PATH", plugin_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gst-launch-1.0 runs");
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return Some(child.wait_with_output().unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().ok();
    child.wait().ok();
    None
}

/// Splits a launch line on spaces, keeping quoted parts (enough for tests).
pub fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// An MQTT subscriber collecting every message on `topic` (QoS 1,
/// persistent session, reconnecting by itself).
pub struct Subscriber {
    pub messages: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
    client: rumqttc::Client,
    thread: Option<std::thread::JoinHandle<()>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Subscriber {
    pub fn start(port: u16, topic: &str) -> Subscriber {
        Self::start_with(port, topic, None)
    }

    pub fn start_with(port: u16, topic: &str, credentials: Option<(&str, &str)>) -> Subscriber {
        use std::sync::atomic::Ordering;
        let mut options = rumqttc::MqttOptions::new(format!("test-sub-{port}"), "127.0.0.1", port);
        options.set_clean_session(false);
        options.set_keep_alive(Duration::from_secs(5));
        if let Some((u, p)) = credentials {
            options.set_credentials(u, p);
        }
        let (client, mut connection) = rumqttc::Client::new(options, 100);
        let messages = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
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
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}

/// A `gst-launch-1.0 -q` of the plugin serving its metrics, health and
/// live view on 127.0.0.1:`port`; killed when dropped, however the test ends.
pub struct Monitored(Child);

impl Drop for Monitored {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

pub fn gst_launch_monitored(pipeline: &str, port: u16) -> Monitored {
    Monitored(
        Command::new("gst-launch-1.0")
            .arg("-q")
            .args(shell_words(pipeline))
            .env("GST_PLUGIN_PATH", plugin_dir())
            .env("CCTV_METRICS", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gst-launch-1.0 runs"),
    )
}

/// GET `url`: its status and body, `None` when nothing answers within 2 s.
pub fn http_get(url: &str) -> Option<(u16, String)> {
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .http_status_as_error(false)
            .build(),
    );
    let mut response = agent.get(url).call().ok()?;
    let status = response.status().as_u16();
    Some((status, response.body_mut().read_to_string().ok()?))
}

/// Polls `url` until `check` accepts the answer, for up to `limit`; the
/// last answer.
pub fn http_until(
    url: &str,
    limit: Duration,
    check: impl Fn(u16, &str) -> bool,
) -> Option<(u16, String)> {
    let deadline = Instant::now() + limit;
    loop {
        let answer = http_get(url);
        if answer.as_ref().is_some_and(|(s, b)| check(*s, b)) || Instant::now() >= deadline {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
