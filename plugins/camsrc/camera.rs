//! The camera as `camsrc` and the source it restarts both see it while
//! running: its configuration, its status and backoff, and the counters
//! behind `stats`, the bus messages and the metrics.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use cctv::backoff::Backoff;
use cctv::camera_uri::{self, CameraUri};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::{Status, Transport};

pub static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "camsrc",
        gst::DebugColorFlags::empty(),
        Some("Live camera source that survives outages"),
    )
});

/// The settings one run works with.
#[derive(Debug, Clone)]
pub struct Config {
    pub uri: CameraUri,
    pub camera_id: String,
    pub timeout: Duration,
    pub retry_backoff: Duration,
    pub max_backoff: Duration,
    /// Give up after this long without the camera; `None`: never.
    pub retry_timeout: Option<Duration>,
    pub latency_ms: u32,
    pub transport: Transport,
}

impl Config {
    /// User and password, from the URI or the properties.
    pub fn secrets(&self) -> [&str; 2] {
        [
            self.uri.user.as_deref().unwrap_or(""),
            self.uri.password.as_deref().unwrap_or(""),
        ]
    }

    /// `text` with the credentials replaced by `***` (only the password
    /// is secret, but a user name is nobody's business either).
    pub fn redact(&self, text: &str) -> String {
        let [user, password] = self.secrets();
        // The longer first, so a user name inside the password goes too.
        let mut secrets = [password, user];
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        camera_uri::redact(text, &secrets).into_owned()
    }
}

struct Progress {
    status: Status,
    backoff: Backoff,
    /// Connection attempts, the first included.
    attempts: u64,
    /// Attempts that got frames.
    connects: u64,
    last_reason: String,
    down_since: Option<Instant>,
    down_total: Duration,
    gave_up: bool,
    /// The camera refused the credentials: retries wait `max-backoff`, so
    /// a wrong password does not lock the account.
    refused: bool,
}

/// One run's camera. Its lock is taken last and never held while posting.
pub struct Camera {
    pub camsrc: glib::WeakRef<super::CamSrc>,
    pub config: Config,
    progress: Mutex<Progress>,
    /// Frames from the camera.
    pub frames: AtomicU64,
    /// Stand-in frames sent while the camera was away.
    pub stand_ins: AtomicU64,
    /// Frames the leaky queue dropped because the pipeline was behind.
    pub dropped: AtomicU64,
    /// A check found the camera refusing connections since the last attempt
    /// it hurried: when it accepts them again, it is back.
    pub seen_down: AtomicBool,
}

impl Camera {
    pub fn new(camsrc: &super::CamSrc, config: Config) -> Camera {
        Camera {
            camsrc: camsrc.downgrade(),
            progress: Mutex::new(Progress {
                status: Status::Connecting,
                backoff: Backoff::new(config.retry_backoff, config.max_backoff),
                attempts: 0,
                connects: 0,
                last_reason: String::new(),
                down_since: Some(Instant::now()),
                down_total: Duration::ZERO,
                gave_up: false,
                refused: false,
            }),
            config,
            frames: AtomicU64::new(0),
            stand_ins: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            seen_down: AtomicBool::new(false),
        }
    }

    pub fn status(&self) -> Status {
        self.progress.lock().unwrap().status
    }

    /// A new attempt begins; the delay before it (zero for the first).
    pub fn attempt(&self) -> Duration {
        let mut p = self.progress.lock().unwrap();
        p.attempts += 1;
        let attempt = p.attempts;
        if attempt == 1 {
            return Duration::ZERO;
        }
        let mut delay = p.backoff.next_delay();
        if p.refused {
            delay = self.config.max_backoff;
        }
        p.status = Status::Disconnected;
        drop(p);
        gst::info!(
            CAT,
            "{}: attempt {} in {:?}",
            self.config.camera_id,
            attempt,
            delay
        );
        self.post(
            gst::Structure::builder("camsrc/retrying")
                .field("attempt", attempt)
                .field(
                    "delay",
                    gst::ClockTime::from_nseconds(delay.as_nanos() as u64),
                ),
        );
        delay
    }

    /// The camera refused the credentials (its retries wait `max-backoff`
    /// and are not hurried by a reachability check).
    pub fn refused(&self) -> bool {
        self.progress.lock().unwrap().refused
    }

    /// The attempt is being made now.
    pub fn connecting(&self) {
        let mut p = self.progress.lock().unwrap();
        if p.status != Status::Connected {
            p.status = Status::Connecting;
        }
    }

    /// The first frame of an attempt arrived.
    pub fn connected(&self, caps: Option<&gst::Caps>) {
        let mut p = self.progress.lock().unwrap();
        if p.status == Status::Connected {
            return;
        }
        p.status = Status::Connected;
        p.connects += 1;
        p.backoff.reset();
        p.refused = false;
        if let Some(since) = p.down_since.take() {
            p.down_total += since.elapsed();
        }
        let (attempt, reconnects) = (p.attempts, p.connects - 1);
        drop(p);
        gst::info!(
            CAT,
            "{}: connected to {}",
            self.config.camera_id,
            self.config.uri.display()
        );
        let mut s = gst::Structure::builder("camsrc/connected")
            .field("uri", self.config.uri.display())
            .field("attempt", attempt)
            .field("reconnects", reconnects);
        if let Some(caps) = caps {
            s = s.field("caps", caps);
            if let Some(camsrc) = self.camsrc.upgrade() {
                camsrc.imp().camera_caps(caps);
            }
        }
        self.post(s);
    }

    /// The attempt failed or the camera went away: says why, once per
    /// attempt. False when this attempt's loss was already told.
    pub fn disconnected(&self, reason: &str) -> bool {
        let reason = self.config.redact(reason);
        let mut p = self.progress.lock().unwrap();
        if p.status == Status::Disconnected || p.status == Status::Stopped {
            return false;
        }
        p.status = Status::Disconnected;
        p.down_since.get_or_insert_with(Instant::now);
        reason.clone_into(&mut p.last_reason);
        p.refused |= refused_credentials(&reason);
        let down_for = p.down_since.map(|s| s.elapsed()).unwrap_or_default();
        let give_up = match self.config.retry_timeout {
            Some(limit) => !p.gave_up && down_for >= limit,
            None => false,
        };
        p.gave_up |= give_up;
        let attempt = p.attempts;
        drop(p);
        gst::warning!(CAT, "{}: disconnected: {}", self.config.camera_id, reason);
        self.post(
            gst::Structure::builder("camsrc/disconnected")
                .field("reason", &reason)
                .field("attempt", attempt),
        );
        if give_up && let Some(camsrc) = self.camsrc.upgrade() {
            gst::element_error!(
                camsrc,
                gst::ResourceError::NotFound,
                [
                    "Camera {} unavailable for longer than retry-timeout (last reason: {})",
                    self.config.uri.display(),
                    reason
                ]
            );
        }
        true
    }

    pub fn stop(&self) {
        self.progress.lock().unwrap().status = Status::Stopped;
    }

    /// The camera's status, or why it is degraded, for `/health`.
    pub fn degraded(&self) -> Option<String> {
        let p = self.progress.lock().unwrap();
        match p.status {
            Status::Connected | Status::Stopped => None,
            _ if p.attempts <= 1 && p.last_reason.is_empty() => None,
            _ => Some(format!(
                "camera {} disconnected: {}",
                self.config.camera_id,
                if p.last_reason.is_empty() {
                    "connecting"
                } else {
                    &p.last_reason
                }
            )),
        }
    }

    pub fn stats(&self) -> gst::Structure {
        let p = self.progress.lock().unwrap();
        let down = p.down_total + p.down_since.map(|s| s.elapsed()).unwrap_or_default();
        gst::Structure::builder("camsrc/stats")
            .field("camera", &self.config.camera_id)
            .field("status", p.status)
            .field("attempts", p.attempts)
            .field("reconnects", p.connects.saturating_sub(1))
            .field("last-reason", &p.last_reason)
            .field("disconnected-seconds", down.as_secs_f64())
            .field("frames", self.frames.load(Ordering::Relaxed))
            .field("stand-in-frames", self.stand_ins.load(Ordering::Relaxed))
            .field("dropped", self.dropped.load(Ordering::Relaxed))
            .build()
    }

    /// Reconnects so far, for the metrics.
    pub fn reconnects(&self) -> u64 {
        self.progress.lock().unwrap().connects.saturating_sub(1)
    }

    fn post(&self, s: gst::structure::Builder) {
        let Some(camsrc) = self.camsrc.upgrade() else {
            return;
        };
        let s = s.field("camera", &self.config.camera_id).build();
        let _ = camsrc.post_message(gst::message::Element::builder(s).src(&camsrc).build());
    }
}

/// Whether `reason` says the camera refused the credentials.
fn refused_credentials(reason: &str) -> bool {
    let reason = reason.to_ascii_lowercase();
    ["unauthorized", "not authorized", "401", "forbidden"]
        .iter()
        .any(|w| reason.contains(w))
}
