//! The camera end of `ptzservo`: its commands as items of the shared
//! network worker (`crate::net`), delivered over ONVIF PTZ. The worker
//! gives the streaming thread a queue that never blocks, reconnection with
//! capped backoff and the rule that a newer command replaces one not sent
//! yet; this file only says how the camera is found (ONVIF discovery from
//! its device service, at each connection) and how a command reaches it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cctv::ptz::Stillness;
use serde::{Deserialize, Serialize};

use crate::net::{Class, Failure, Item, Protocol};
use crate::onvif::discovery::{self, read_clock};
use crate::onvif::{Credentials, Error, Found, Ptz, Status};

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
    /// What discovery found at the last connection.
    pub found: Mutex<Option<Found>>,
    /// Times the camera's clock was read again after a refused login.
    pub clock_resyncs: AtomicU64,
}

/// Where the camera is and who we are to it.
pub struct Account {
    pub device_url: String,
    pub credentials: Option<Credentials>,
    pub timeout: Duration,
    /// The media profile to drive (`None`: the first with PTZ).
    pub profile: Option<String>,
}

pub struct Onvif {
    account: Account,
    /// The PTZ service, once discovery found it.
    ptz: Option<Ptz>,
    state: Arc<CameraState>,
    /// Called (from the worker thread too) when discovery found something new.
    on_found: Box<dyn Fn(&Found) + Send>,
    stillness: Stillness,
    homing_since: Option<Instant>,
    last_poll: Option<Instant>,
    started: Instant,
}

impl Onvif {
    pub fn new(
        account: Account,
        state: Arc<CameraState>,
        on_found: impl Fn(&Found) + Send + 'static,
    ) -> Onvif {
        Onvif {
            account,
            ptz: None,
            state,
            on_found: Box::new(on_found),
            stillness: Stillness::new(STILL_TOLERANCE, STILL_HOLD),
            homing_since: None,
            last_poll: None,
            started: Instant::now(),
        }
    }

    fn ptz(&self) -> Result<&Ptz, Failure> {
        self.ptz
            .as_ref()
            .ok_or_else(|| Failure::Transient("the camera was not found yet".into()))
    }

    fn status(&mut self) -> Result<Status, Failure> {
        let status = self
            .ptz()?
            .status()
            .map_err(|e| failure(&format!("GetStatus: {e}"), &e))?;
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

    /// Reads the camera's clock again after it refused a login that worked
    /// before (its clock was set, or drifted out of the freshness window);
    /// whether the offset changed, so that the command is worth repeating.
    fn resync_clock(&mut self) -> bool {
        let Some(ptz) = self.ptz.as_mut() else {
            return false;
        };
        let Ok(Some(offset)) = read_clock(ptz.soap(), &self.account.device_url) else {
            return false;
        };
        if offset == ptz.soap().clock_offset() {
            return false;
        }
        ptz.soap_mut().set_clock_offset(offset);
        self.state.clock_resyncs.fetch_add(1, Ordering::Relaxed);
        if let Some(found) = self.state.found.lock().unwrap().as_mut() {
            found.clock_offset = Some(offset);
        }
        true
    }

    fn deliver(&self, command: &PtzCommand) -> Result<(), Error> {
        let ptz = self
            .ptz
            .as_ref()
            .ok_or_else(|| Error::Transport("the camera was not found yet".into()))?;
        match command {
            PtzCommand::Move { pan, tilt, zoom } => ptz.continuous_move(*pan, *tilt, *zoom),
            PtzCommand::Stop => ptz.stop(),
            PtzCommand::Home { preset: Some(p) } => ptz.goto_preset(p),
            PtzCommand::Home { preset: None } => ptz.goto_home(),
        }
    }
}

/// Retrying helps against a camera that is away or busy, not against one
/// that refuses us.
fn failure(what: &str, e: &Error) -> Failure {
    if e.is_transient() {
        Failure::Transient(what.to_owned())
    } else {
        Failure::Fatal(what.to_owned())
    }
}

impl Protocol for Onvif {
    type Item = PtzCommand;
    /// Commands sent and answered, not yet reported to the worker.
    type Connection = usize;

    /// Finds the camera's clock, PTZ service, profile and limits from its
    /// device service, then reads the status: the camera is there, drives
    /// the profile and accepts the credentials.
    fn connect(&mut self, _cancel: &AtomicBool) -> Result<usize, Failure> {
        let a = &self.account;
        let (ptz, found) = discovery::discover(
            &a.device_url,
            a.credentials.clone(),
            a.timeout,
            a.profile.as_deref(),
        )
        .map_err(|failed| {
            let why = failed.to_string();
            if failed.is_transient() {
                Failure::Transient(why)
            } else {
                Failure::Fatal(why)
            }
        })?;
        let new = self.state.found.lock().unwrap().as_ref() != Some(&found);
        if new {
            (self.on_found)(&found);
        }
        *self.state.found.lock().unwrap() = Some(found);
        self.ptz = Some(ptz);
        self.status().map(|_| 0)
    }

    fn send(&mut self, answered: &mut usize, batch: &[PtzCommand]) -> Result<(), Failure> {
        for command in batch {
            let result = match self.deliver(command) {
                Err(e) if e.is_unauthorized() && self.resync_clock() => self.deliver(command),
                result => result,
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
                Err(e) => return Err(failure(&format!("{}: {e}", command.name()), &e)),
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
