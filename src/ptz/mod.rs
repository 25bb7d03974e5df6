//! Keeping a tracked object centred at a chosen size with a PTZ camera:
//! target selection, one PID loop per axis and zoom from coverage. No
//! GStreamer and no network here; `ptzservo` sends what [`Servo`] decides.

#[cfg(test)]
mod closed_loop;
pub mod follow;
pub mod head;
pub mod pid;
pub mod settle;
pub mod target;
pub mod zoom;

pub use follow::{Following, TARGET_ATTRIBUTE, is_target};
pub use pid::{Gains, Pid, PidConfig, Preset, TimeStep};
pub use settle::Stillness;
pub use target::{Policy, Selection, Selector, SelectorConfig};
pub use zoom::ZoomConfig;

use crate::objects::Frame;

/// Velocities in ONVIF's generic space, each in [-1, 1]: pan positive to
/// the right, tilt positive up, zoom positive in.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Velocity {
    pub pan: f64,
    pub tilt: f64,
    pub zoom: f64,
}

/// What the camera should do after a frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Command {
    Move(Velocity),
    Stop,
    /// Nothing followed for the lost timeout: stop and go to the home position.
    Home,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServoConfig {
    pub pan: PidConfig,
    pub tilt: PidConfig,
    pub zoom: ZoomConfig,
    pub selector: SelectorConfig,
    /// Longest time step fed to the loops, in seconds.
    pub max_dt: f64,
    /// Go home (rather than only stop) when the search expires.
    pub home_on_lost: bool,
}

impl Default for ServoConfig {
    fn default() -> Self {
        ServoConfig::from(Preset::default())
    }
}

impl From<Preset> for ServoConfig {
    fn from(preset: Preset) -> Self {
        ServoConfig {
            pan: PidConfig::from(preset),
            tilt: PidConfig::from(preset),
            zoom: ZoomConfig::default(),
            selector: SelectorConfig::default(),
            max_dt: 0.2,
            home_on_lost: false,
        }
    }
}

/// The decision for one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// `None` when the camera should keep doing what it does.
    pub command: Option<Command>,
    pub target: Option<u64>,
    /// Where the target sits from the centre, in fractions of the frame
    /// (-0.5..0.5, x right, y down).
    pub offset: Option<(f64, f64)>,
}

#[derive(Debug, Clone)]
pub struct Servo {
    config: ServoConfig,
    pan: Pid,
    tilt: Pid,
    selector: Selector,
    clock: TimeStep,
    moving: bool,
}

impl Servo {
    pub fn new(config: ServoConfig) -> Servo {
        Servo {
            config,
            pan: Pid::new(config.pan),
            tilt: Pid::new(config.tilt),
            selector: Selector::new(config.selector),
            clock: TimeStep::new(config.max_dt),
            moving: false,
        }
    }

    pub fn config(&self) -> &ServoConfig {
        &self.config
    }

    /// Applies new settings without forgetting the target or the integrals.
    pub fn set_config(&mut self, config: ServoConfig) {
        self.config = config;
        self.pan.set_config(config.pan);
        self.tilt.set_config(config.tilt);
        self.selector.set_config(config.selector);
        self.clock = TimeStep::new(config.max_dt);
    }

    /// Forgets everything, e.g. after a flush.
    pub fn reset(&mut self) {
        self.pan.reset();
        self.tilt.reset();
        self.selector.reset();
        self.clock.reset();
        self.moving = false;
    }

    /// The track followed now.
    pub fn target(&self) -> Option<u64> {
        self.selector.current()
    }

    /// The integrals of the pan and tilt loops.
    pub fn integrals(&self) -> (f64, f64) {
        (self.pan.integral(), self.tilt.integral())
    }

    /// Decides from the objects of a frame with timestamp `timestamp_ns`.
    pub fn update(&mut self, timestamp_ns: u64, frame: &Frame) -> Step {
        let dt = self.clock.step(timestamp_ns);
        let now = timestamp_ns as f64 / 1e9;
        let selection = self
            .selector
            .update(now, frame.width, frame.height, &frame.objects);
        let still = Step {
            command: None,
            target: None,
            offset: None,
        };
        match selection {
            Selection::Track {
                track_id,
                bbox,
                switched,
            } => {
                let (w, h) = (frame.width as f64, frame.height as f64);
                if w <= 0.0 || h <= 0.0 {
                    return still;
                }
                if switched {
                    self.pan.reset();
                    self.tilt.reset();
                }
                let x = bbox.cx() as f64 / w - 0.5;
                let y = bbox.cy() as f64 / h - 0.5;
                let velocity = Velocity {
                    pan: self.pan.update(x, dt),
                    // Image y grows downwards, ONVIF tilt upwards.
                    tilt: -self.tilt.update(y, dt),
                    zoom: self.config.zoom.velocity(&bbox, w, h),
                };
                self.moving = true;
                Step {
                    command: Some(Command::Move(velocity)),
                    target: Some(track_id),
                    offset: Some((x, y)),
                }
            }
            Selection::Lost => {
                self.pan.reset();
                self.tilt.reset();
                Step {
                    command: self.stop(),
                    ..still
                }
            }
            Selection::Expired if self.config.home_on_lost => {
                self.moving = false;
                Step {
                    command: Some(Command::Home),
                    ..still
                }
            }
            Selection::Expired | Selection::Idle => Step {
                command: self.stop(),
                ..still
            },
        }
    }

    /// Stop once after moving, then leave the camera alone.
    fn stop(&mut self) -> Option<Command> {
        std::mem::replace(&mut self.moving, false).then_some(Command::Stop)
    }
}
