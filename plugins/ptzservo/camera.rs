//! The camera end of `ptzservo`: its commands as items of the shared
//! network worker (`crate::net`), delivered over ONVIF PTZ. The worker
//! gives the streaming thread a queue that never blocks, reconnection with
//! capped backoff and the rule that a newer command replaces one not sent
//! yet; this file only says how a command reaches the camera.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cctv::ptz::Stillness;
use serde::{Deserialize, Serialize};

use crate::net::{Class, Failure, Item, Protocol};
use crate::onvif::{Client, Error, Status};

/// One command for the camera.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PtzCommand {
    Move {
        pan: f64,
        tilt: f64,
        zoom: f64,
    },
    Stop,
    /// Go to this preset, or to the home position when `None`.
    Home {
        preset: Option<String>,
    },
}

impl PtzCommand {
    pub fn name(&self) -> &'static str {
        match self {
            PtzCommand::Move { .. } => "move",
            PtzCommand::Stop => "stop",
            PtzCommand::Home { .. } => "home",
        }
    }
}

impl Item for PtzCommand {
    /// Only the newest command matters: each replaces the one before it
    /// while the camera is busy or away.
    fn class(&self) -> Class {
        Class::Latest(0)
    }
}

/// How often the position is read while waiting for the camera to stop.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Position changes below this (generic units) count as standing still.
const STILL_TOLERANCE: f64 = 0.002;
/// How long the position must stay still to count as stopped, seconds.
const STILL_HOLD: f64 = 0.6;
/// Give up waiting for the camera to arrive home after this long.
const HOMING_LIMIT: Duration = Duration::from_secs(30);

/// What the element reads about the camera, written by the worker thread.
#[derive(Default)]
pub struct CameraState {
    /// The camera is on its way home: tracking waits until it stands still.
    pub homing: AtomicBool,
    pub sent: AtomicU64,
    /// Commands the camera answered with a fault (other than credentials).
    pub refused: AtomicU64,
    pub last: Mutex<Option<Status>>,
    pub last_refusal: Mutex<Option<String>>,
}

pub struct Onvif {
    client: Client,
    state: Arc<CameraState>,
    stillness: Stillness,
    homing_since: Option<Instant>,
    last_poll: Option<Instant>,
    started: Instant,
}

impl Onvif {
    pub fn new(client: Client, state: Arc<CameraState>) -> Onvif {
        Onvif {
            client,
            state,
            stillness: Stillness::new(STILL_TOLERANCE, STILL_HOLD),
            homing_since: None,
            last_poll: None,
            started: Instant::now(),
        }
    }

    fn status(&mut self) -> Result<Status, Failure> {
        let status = self.client.status().map_err(|e| failure(&e))?;
        *self.state.last.lock().unwrap() = Some(status.clone());
        self.last_poll = Some(Instant::now());
        Ok(status)
    }

    /// While homing: reads the position now and then and ends the wait
    /// once it held still. MoveStatus is not trusted: some cameras report
    /// MOVING for ever.
    fn watch_homing(&mut self) -> Result<(), Failure> {
        if !self.state.homing.load(Ordering::SeqCst) {
            self.homing_since = None;
            return Ok(());
        }
        let since = *self.homing_since.get_or_insert_with(|| {
            self.stillness.reset();
            Instant::now()
        });
        if self.last_poll.is_some_and(|t| t.elapsed() < POLL_INTERVAL) {
            return Ok(());
        }
        let status = self.status()?;
        let position = [
            status.pan.unwrap_or(0.0),
            status.tilt.unwrap_or(0.0),
            status.zoom.unwrap_or(0.0),
        ];
        let now = self.started.elapsed().as_secs_f64();
        if self.stillness.observe(now, position) || since.elapsed() >= HOMING_LIMIT {
            self.state.homing.store(false, Ordering::SeqCst);
            self.homing_since = None;
        }
        Ok(())
    }
}

/// Retrying helps against a camera that is away or busy, not against one
/// that refuses us.
fn failure(e: &Error) -> Failure {
    match e {
        Error::Transport(_) => Failure::Transient(e.to_string()),
        Error::Http { status, .. } if *status >= 500 => Failure::Transient(e.to_string()),
        _ => Failure::Fatal(e.to_string()),
    }
}

impl Protocol for Onvif {
    type Item = PtzCommand;
    /// Commands sent and answered, not yet reported to the worker.
    type Connection = usize;

    /// Reads the status: the camera is there, speaks ONVIF PTZ, knows the
    /// profile and accepts the credentials.
    fn connect(&mut self, _cancel: &AtomicBool) -> Result<usize, Failure> {
        self.status().map(|_| 0)
    }

    fn send(&mut self, answered: &mut usize, batch: &[PtzCommand]) -> Result<(), Failure> {
        for command in batch {
            let result = match command {
                PtzCommand::Move { pan, tilt, zoom } => {
                    self.client.continuous_move(*pan, *tilt, *zoom)
                }
                PtzCommand::Stop => self.client.stop(),
                PtzCommand::Home { preset: Some(p) } => self.client.goto_preset(p),
                PtzCommand::Home { preset: None } => self.client.goto_home(),
            };
            match result {
                Ok(()) => {
                    self.state.sent.fetch_add(1, Ordering::Relaxed);
                }
                // A command the camera cannot do (an unknown preset, a
                // speed out of its range) must not stop the ones after it.
                Err(e @ Error::Fault { .. }) if !e.is_unauthorized() => {
                    self.state.refused.fetch_add(1, Ordering::Relaxed);
                    *self.state.last_refusal.lock().unwrap() =
                        Some(format!("{}: {e}", command.name()));
                }
                Err(e) => return Err(failure(&e)),
            }
            *answered += 1;
        }
        Ok(())
    }

    fn acknowledged(&mut self, answered: &mut usize, _wait: Duration) -> Result<usize, Failure> {
        self.watch_homing()?;
        Ok(std::mem::take(answered))
    }

    /// Commands go one at a time, each answered before the next.
    fn window(&self) -> usize {
        1
    }
}
