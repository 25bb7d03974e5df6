//! One camera: its own pipeline of the plugin's elements, run by a thread of
//! its own through the design notes' state machine (IDLE -> STARTING ->
//! RUNNING -> STOPPING -> IDLE, and ERROR), so one camera's failure or slow
//! flush never touches another. The HTTP thread only asks (`request`) and
//! reads (`snapshot`); the camera's thread does the work.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstcctv::camsrc::Status as Link;
use serde::Serialize;

use crate::config;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum State {
    Idle,
    Starting,
    Running,
    Stopping,
    Error,
}

/// What one run counts on the camera's analysed frames (at the `tee`;
/// camsrc's stand-in frames while the camera is away are not counted).
#[derive(Default)]
struct Counters {
    frames: AtomicU64,
    people: AtomicU64,
    tracks: AtomicU64,
    first_frame: OnceLock<Instant>,
}

struct Status {
    state: State,
    since: Instant,
    /// Runs started so far: a new run is a new pipeline (and video stream).
    run: u64,
    last_error: Option<String>,
    /// When the current run was asked for.
    requested: Option<Instant>,
    counters: Arc<Counters>,
    /// Frames counted at times, for the frame rate.
    samples: VecDeque<(Instant, u64)>,
    camsrc: Option<gst::Element>,
}

impl Status {
    fn set(&mut self, state: State) {
        if self.state != state {
            self.state = state;
            self.since = Instant::now();
        }
    }
}

pub enum Action {
    Start,
    Stop,
    Restart,
}

enum Command {
    Start,
    Stop,
    Restart,
    /// A new spec from a reload: restart if running, start or stop as
    /// `enabled` changed.
    Update(Box<config::Camera>),
    /// Stop and end the thread.
    Remove,
}

/// What a request did.
pub struct Outcome {
    pub changed: bool,
    pub message: &'static str,
}

pub struct Camera {
    pub id: String,
    spec: Mutex<config::Camera>,
    status: Mutex<Status>,
    commands: Sender<Command>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Frame-rate window.
const RATE_WINDOW: Duration = Duration::from_secs(5);
/// Beyond the sinks' flush timeout, what a stop waits for the EOS.
const STOP_MARGIN: Duration = Duration::from_secs(5);

impl Camera {
    /// The camera's thread, the camera IDLE.
    pub fn spawn(spec: config::Camera) -> Arc<Camera> {
        let (tx, rx) = mpsc::channel();
        let camera = Arc::new(Camera {
            id: spec.id.clone(),
            spec: Mutex::new(spec),
            status: Mutex::new(Status {
                state: State::Idle,
                since: Instant::now(),
                run: 0,
                last_error: None,
                requested: None,
                counters: Arc::default(),
                samples: VecDeque::new(),
                camsrc: None,
            }),
            commands: tx,
            thread: Mutex::new(None),
        });
        let worker = Arc::clone(&camera);
        let thread = std::thread::Builder::new()
            .name(format!("camera-{}", camera.id))
            .spawn(move || worker.run(rx))
            .expect("a thread for the camera");
        *camera.thread.lock().unwrap() = Some(thread);
        camera
    }

    pub fn spec(&self) -> config::Camera {
        self.spec.lock().unwrap().clone()
    }

    pub fn state(&self) -> State {
        self.status.lock().unwrap().state
    }

    /// Asks for `action`; says at once whether it changes anything.
    pub fn request(&self, action: Action) -> Outcome {
        let mut s = self.status.lock().unwrap();
        let running = matches!(s.state, State::Starting | State::Running);
        let (command, next, message) = match action {
            Action::Start if running => return unchanged("already running"),
            Action::Start if s.state == State::Stopping => {
                (Command::Start, State::Stopping, "starting once stopped")
            }
            Action::Start => (Command::Start, State::Starting, "starting"),
            Action::Stop if s.state == State::Stopping => return unchanged("already stopping"),
            Action::Stop if !running => return unchanged("not running"),
            Action::Stop => (Command::Stop, State::Stopping, "stopping"),
            Action::Restart if running => (Command::Restart, State::Stopping, "restarting"),
            Action::Restart => (Command::Start, State::Starting, "starting"),
        };
        if next == State::Starting {
            s.requested = Some(Instant::now());
        }
        s.set(next);
        drop(s);
        self.commands.send(command).ok();
        Outcome {
            changed: true,
            message,
        }
    }

    /// A reload changed the camera.
    pub fn update(&self, spec: config::Camera) {
        self.commands.send(Command::Update(Box::new(spec))).ok();
    }

    /// Stops the camera (its sinks flushed) and ends its thread.
    pub fn remove(&self) {
        self.commands.send(Command::Remove).ok();
        let thread = self.thread.lock().unwrap().take();
        if let Some(thread) = thread {
            thread.join().ok();
        }
    }

    /// The camera as the API shows it: never its credentials.
    pub fn snapshot(&self) -> serde_json::Value {
        let spec = self.spec.lock().unwrap();
        let (id, name, uri, enabled) = (
            spec.id.clone(),
            spec.name.clone(),
            spec.uri.display(),
            spec.enabled,
        );
        drop(spec);
        let s = self.status.lock().unwrap();
        let c = &s.counters;
        let first_frame_ms = match (s.requested, c.first_frame.get()) {
            (Some(asked), Some(first)) if *first >= asked => {
                Some((*first - asked).as_secs_f64() * 1000.0)
            }
            _ => None,
        };
        let fps = match (s.samples.front(), s.samples.back()) {
            (Some((t0, f0)), Some((t1, f1))) if t1 > t0 && s.state == State::Running => {
                (f1 - f0) as f64 / (*t1 - *t0).as_secs_f64()
            }
            _ => 0.0,
        };
        let camsrc = s.camsrc.clone();
        let mut v = serde_json::json!({
            "id": id,
            "name": name,
            "uri": uri,
            "enabled": enabled,
            "state": s.state,
            "state_seconds": s.since.elapsed().as_secs_f64(),
            "run": s.run,
            "frames": c.frames.load(Ordering::Relaxed),
            "fps": (fps * 10.0).round() / 10.0,
            "people_in_view": c.people.load(Ordering::Relaxed),
            "tracks": c.tracks.load(Ordering::Relaxed),
            "first_frame_ms": first_frame_ms,
            "last_error": s.last_error,
        });
        drop(s);
        // Read outside the lock: camsrc takes its own.
        if let Some(camsrc) = camsrc {
            let stats = camsrc.property::<gst::Structure>("stats");
            let link = match stats.get::<Link>("status").unwrap_or_default() {
                Link::Connected => "connected",
                Link::Connecting => "connecting",
                Link::Disconnected => "reconnecting",
                Link::Stopped => "stopped",
            };
            let u = |f: &str| stats.get::<u64>(f).unwrap_or(0);
            v["camera"] = serde_json::json!({
                "link": link,
                "last_reason": stats.get::<String>("last-reason").unwrap_or_default(),
                "attempts": u("attempts"),
                "reconnects": u("reconnects"),
                "dropped": u("dropped"),
                "stand_in_frames": u("stand-in-frames"),
            });
            v["reconnects"] = u("reconnects").into();
        } else {
            v["reconnects"] = 0.into();
        }
        v
    }

    fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap()
    }

    fn run(self: Arc<Camera>, commands: Receiver<Command>) {
        let mut running: Option<gst::Pipeline> = None;
        loop {
            let command = match &running {
                Some(pipeline) => {
                    if let Some(msg) = pipeline
                        .bus()
                        .and_then(|b| b.timed_pop(gst::ClockTime::from_mseconds(100)))
                        && !self.on_message(pipeline, &msg)
                    {
                        running = None;
                    }
                    commands
                        .try_recv()
                        .map_err(|e| e == TryRecvError::Disconnected)
                }
                None => commands
                    .recv_timeout(Duration::from_millis(500))
                    .map_err(|e| e == RecvTimeoutError::Disconnected),
            };
            self.sample();
            let command = match command {
                Ok(c) => c,
                Err(false) => continue,
                Err(true) => break,
            };
            match command {
                Command::Start if running.is_none() => running = self.start(),
                Command::Start => {}
                Command::Stop => self.stop(running.take()),
                Command::Restart => {
                    self.stop(running.take());
                    self.status().requested = Some(Instant::now());
                    running = self.start();
                }
                Command::Update(spec) => {
                    let (was_enabled, enabled) = (self.spec().enabled, spec.enabled);
                    let restart = running.is_some() && !self.spec().same_pipeline(&spec);
                    *self.spec.lock().unwrap() = *spec;
                    if running.is_some() && (restart || !enabled) {
                        self.status().set(State::Stopping);
                        self.stop(running.take());
                    }
                    if running.is_none() && enabled && (restart || !was_enabled) {
                        let mut s = self.status();
                        s.requested = Some(Instant::now());
                        s.set(State::Starting);
                        drop(s);
                        running = self.start();
                    }
                }
                Command::Remove => {
                    self.stop(running.take());
                    break;
                }
            }
        }
        if let Some(pipeline) = running {
            pipeline.set_state(gst::State::Null).ok();
        }
    }

    /// Counts frames for the rate, once a second.
    fn sample(&self) {
        let mut s = self.status();
        let now = Instant::now();
        if s.samples
            .back()
            .is_some_and(|(t, _)| now - *t < Duration::from_secs(1))
        {
            return;
        }
        let frames = s.counters.frames.load(Ordering::Relaxed);
        s.samples.push_back((now, frames));
        while s
            .samples
            .front()
            .is_some_and(|(t, _)| now - *t > RATE_WINDOW)
        {
            s.samples.pop_front();
        }
    }

    fn start(&self) -> Option<gst::Pipeline> {
        let spec = self.spec();
        let counters = Arc::new(Counters::default());
        {
            let mut s = self.status();
            s.run += 1;
            s.counters = Arc::clone(&counters);
            s.samples.clear();
            s.set(State::Starting);
        }
        let pipeline = match build(&spec, counters) {
            Ok(p) => p,
            Err(why) => {
                self.fail(why);
                return None;
            }
        };
        self.status().camsrc = pipeline.by_name("src");
        if pipeline.set_state(gst::State::Playing).is_err() {
            let why = pipeline
                .bus()
                .and_then(|b| b.pop_filtered(&[gst::MessageType::Error]))
                .map(|m| error_text(&m))
                .unwrap_or_else(|| "the pipeline did not start".into());
            pipeline.set_state(gst::State::Null).ok();
            self.fail(why);
            return None;
        }
        crate::say!("camera {}: started (run {})", self.id, self.status().run);
        Some(pipeline)
    }

    fn fail(&self, why: String) {
        crate::say!("camera {}: ERROR: {why}", self.id);
        let mut s = self.status();
        s.last_error = Some(why);
        s.camsrc = None;
        s.set(State::Error);
    }

    /// Handles one bus message; false when the pipeline is gone.
    fn on_message(&self, pipeline: &gst::Pipeline, msg: &gst::Message) -> bool {
        match msg.view() {
            gst::MessageView::Error(_) => {
                pipeline.set_state(gst::State::Null).ok();
                self.fail(error_text(msg));
                return false;
            }
            gst::MessageView::Warning(w) => {
                crate::say!("camera {}: warning: {}", self.id, w.error());
            }
            gst::MessageView::StateChanged(c)
                if msg.src() == Some(pipeline.upcast_ref())
                    && c.current() == gst::State::Playing =>
            {
                let mut s = self.status();
                if s.state == State::Starting {
                    s.set(State::Running);
                }
            }
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure() {
                    match s.name().as_str() {
                        "camsrc/connected" => crate::say!("camera {}: connected", self.id),
                        "camsrc/disconnected" => crate::say!(
                            "camera {}: disconnected: {}",
                            self.id,
                            s.get::<String>("reason").unwrap_or_default()
                        ),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        true
    }

    /// EOS after the camera, then waits for it to reach every sink (they
    /// flush within their `flush-timeout`), then tears the pipeline down.
    fn stop(&self, pipeline: Option<gst::Pipeline>) {
        let Some(pipeline) = pipeline else {
            let mut s = self.status();
            if s.state != State::Error {
                s.set(State::Idle);
            }
            return;
        };
        self.status().set(State::Stopping);
        let flush = ["mqtt", "pg"]
            .iter()
            .filter_map(|n| pipeline.by_name(n))
            .map(|e| e.property::<u32>("flush-timeout"))
            .max()
            .unwrap_or(0);
        let deadline = Duration::from_millis(flush as u64) + STOP_MARGIN;
        // camsrc ends its stream itself (fallbacksrc would take an EOS from
        // upstream for the camera's and reconnect).
        if let Some(camsrc) = pipeline.by_name("src") {
            camsrc.send_event(gst::event::Eos::new());
        }
        let end = pipeline.bus().and_then(|b| {
            b.timed_pop_filtered(
                gst::ClockTime::from_nseconds(deadline.as_nanos() as u64),
                &[gst::MessageType::Eos, gst::MessageType::Error],
            )
        });
        let error = match end.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Eos(_)) => None,
            Some(_) => end.as_ref().map(error_text),
            None => Some(format!("no end of stream within {} s", deadline.as_secs())),
        };
        pipeline.set_state(gst::State::Null).ok();
        let mut s = self.status();
        s.camsrc = None;
        s.set(State::Idle);
        if let Some(why) = &error {
            s.last_error = Some(why.clone());
        }
        drop(s);
        match error {
            None => crate::say!("camera {}: stopped, sinks flushed", self.id),
            Some(why) => crate::say!("camera {}: stopped: {why}", self.id),
        }
    }
}

fn unchanged(message: &'static str) -> Outcome {
    Outcome {
        changed: false,
        message,
    }
}

/// An error message as shown: the element and the error (the elements
/// redact credentials from their own errors; debug details are left out).
fn error_text(msg: &gst::Message) -> String {
    match msg.view() {
        gst::MessageView::Error(e) => {
            let from = msg.src().map(|s| s.name().to_string()).unwrap_or_default();
            format!("{from}: {}", e.error())
        }
        _ => "unexpected message".into(),
    }
}

/// `camsrc ! onnxdetect ! bytetrack [! gendercls] ! tee`, then a queue and
/// each branch; the credentials go in typed properties (never a launch
/// line, which GStreamer logs).
fn build(spec: &config::Camera, counters: Arc<Counters>) -> Result<gst::Pipeline, String> {
    let pipeline = gst::Pipeline::with_name(&spec.id);
    let mut chain = Vec::new();
    for el in &spec.chain {
        let e = el.make()?;
        if el.factory == "camsrc" {
            e.set_property("uri", &spec.uri.address);
            e.set_property("camera-id", &spec.id);
            if let Some(user) = &spec.uri.user {
                e.set_property("user-id", user);
            }
            if let Some(password) = &spec.uri.password {
                e.set_property("user-pw", password);
            }
        }
        chain.push(e);
    }
    let tee = gst::ElementFactory::make("tee")
        .name("tee")
        .build()
        .map_err(|_| "no tee element")?;
    chain.push(tee.clone());
    pipeline.add_many(&chain).map_err(|e| e.to_string())?;
    gst::Element::link_many(&chain).map_err(|e| format!("linking the camera's chain: {e}"))?;
    count(
        &tee.static_pad("sink").expect("tee has a sink pad"),
        counters,
    );
    for branch in &spec.branches {
        let queue = gst::ElementFactory::make("queue")
            .build()
            .map_err(|_| "no queue element")?;
        let mut elements = vec![queue.clone()];
        for el in branch {
            let e = el.make()?;
            if matches!(el.factory, "liveview" | "cctvoverlay") {
                e.set_property("camera-id", &spec.id);
                // A slow picture never holds up the analytics.
                queue.set_property_from_str("leaky", "downstream");
                queue.set_property("max-size-buffers", 2u32);
            }
            elements.push(e);
        }
        pipeline.add_many(&elements).map_err(|e| e.to_string())?;
        gst::Element::link_many(&elements).map_err(|e| format!("linking a branch: {e}"))?;
        tee.link(&queue)
            .map_err(|e| format!("linking a branch: {e}"))?;
    }
    Ok(pipeline)
}

/// Counts frames, people in view and new tracks on `pad`.
fn count(pad: &gst::Pad, counters: Arc<Counters>) {
    pad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
        move |_, info| {
            match &info.data {
                Some(gst::PadProbeData::Buffer(b)) => {
                    if cctv::meta::Frame::capture_time(b).is_none() {
                        return gst::PadProbeReturn::Ok;
                    }
                    counters.first_frame.get_or_init(Instant::now);
                    counters.frames.fetch_add(1, Ordering::Relaxed);
                    counters.people.store(people(b), Ordering::Relaxed);
                }
                Some(gst::PadProbeData::Event(e))
                    if cctv::lifecycle::TrackEvent::from_event(e)
                        .is_some_and(|t| t.kind == cctv::lifecycle::Kind::New) =>
                {
                    counters.tracks.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
            gst::PadProbeReturn::Ok
        },
    );
}

/// Objects labelled `person` in the frame's metadata.
fn people(buffer: &gst::BufferRef) -> u64 {
    let Ok(meta) = gst::meta::CustomMeta::from_buffer(buffer, cctv::meta::META_NAME) else {
        return 0;
    };
    let Ok(objects) = meta.structure().get::<gst::ArrayRef>("objects") else {
        return 0;
    };
    objects
        .iter()
        .filter_map(|o| o.get::<&gst::StructureRef>().ok())
        .filter(|o| o.get::<&str>("label").is_ok_and(|l| l == "person"))
        .count() as u64
}
