//! A simulated pan/tilt/zoom head for the virtual camera: motors that
//! answer velocity and go-to commands after a delay with a first-order lag,
//! and the part of a wider scene the camera sees at its position.

use std::collections::VecDeque;

/// Pan, tilt and zoom in ONVIF's generic spaces: pan and tilt in [-1, 1]
/// (tilt positive up), zoom in [0, 1] (0 widest).
pub type Position = [f64; 3];

const LIMITS: [(f64, f64); 3] = [(-1.0, 1.0), (-1.0, 1.0), (0.0, 1.0)];

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeadConfig {
    /// Pan and tilt units per second at velocity 1.
    pub pan_tilt_speed: f64,
    /// Zoom units per second at velocity 1.
    pub zoom_speed: f64,
    /// Time constant of the motors' response, seconds.
    pub lag: f64,
    /// Seconds between a command and its effect.
    pub delay: f64,
    /// Report MOVING for ever once moved (cameras with this firmware bug exist).
    pub stuck_move_status: bool,
}

impl Default for HeadConfig {
    fn default() -> Self {
        HeadConfig {
            pan_tilt_speed: 1.0,
            zoom_speed: 0.5,
            lag: 0.1,
            delay: 0.0,
            stuck_move_status: false,
        }
    }
}

/// What a command asks of the motors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Motion {
    /// Velocities in [-1, 1] until the next command.
    Velocity(Position),
    /// Stop the given axes (pan-tilt, zoom).
    Stop { pan_tilt: bool, zoom: bool },
    /// Move to a position at full speed.
    GoTo(Position),
}

#[derive(Debug, Clone)]
pub struct Head {
    config: HeadConfig,
    now: f64,
    position: Position,
    /// The motors' actual velocity, units per second.
    velocity: Position,
    /// What the motors are driven to do now.
    drive: Drive,
    /// Commands not in effect yet: (when, motion).
    pending: VecDeque<(f64, Motion)>,
    ever_moved: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Drive {
    Velocity(Position),
    GoTo(Position),
}

impl Head {
    pub fn new(config: HeadConfig, position: Position) -> Head {
        Head {
            config,
            now: 0.0,
            position: clamp(position),
            velocity: [0.0; 3],
            drive: Drive::Velocity([0.0; 3]),
            pending: VecDeque::new(),
            ever_moved: false,
        }
    }

    pub fn set_config(&mut self, config: HeadConfig) {
        self.config = config;
    }

    pub fn position(&self) -> Position {
        self.position
    }

    /// Time of the last `advance`, seconds.
    pub fn now(&self) -> f64 {
        self.now
    }

    /// A command received now; it takes effect after the configured delay.
    pub fn command(&mut self, motion: Motion) {
        // Bounded: a flood of commands within one delay keeps only the latest few.
        if self.pending.len() >= 64 {
            self.pending.pop_front();
        }
        self.pending
            .push_back((self.now + self.config.delay, motion));
    }

    /// Moves the motors on to time `now` (seconds, never backwards).
    pub fn advance(&mut self, now: f64) {
        const STEP: f64 = 0.005;
        while self.now < now {
            let dt = STEP.min(now - self.now);
            self.now += dt;
            while self.pending.front().is_some_and(|(at, _)| *at <= self.now) {
                let (_, motion) = self.pending.pop_front().expect("checked");
                self.apply(motion);
            }
            self.step(dt);
        }
    }

    fn apply(&mut self, motion: Motion) {
        let current = match self.drive {
            Drive::Velocity(v) => v,
            Drive::GoTo(_) => [0.0; 3],
        };
        self.drive = match motion {
            Motion::Velocity(v) => Drive::Velocity(v.map(|c| c.clamp(-1.0, 1.0))),
            Motion::Stop { pan_tilt, zoom } => Drive::Velocity([
                if pan_tilt { 0.0 } else { current[0] },
                if pan_tilt { 0.0 } else { current[1] },
                if zoom { 0.0 } else { current[2] },
            ]),
            Motion::GoTo(p) => Drive::GoTo(clamp(p)),
        };
    }

    fn step(&mut self, dt: f64) {
        let speeds = [
            self.config.pan_tilt_speed,
            self.config.pan_tilt_speed,
            self.config.zoom_speed,
        ];
        let wanted: Position = std::array::from_fn(|i| match self.drive {
            Drive::Velocity(v) => v[i] * speeds[i],
            // Full speed towards the goal, slowing over the last stretch.
            Drive::GoTo(goal) => {
                let gap = goal[i] - self.position[i];
                (gap / 0.05).clamp(-1.0, 1.0) * speeds[i]
            }
        });
        let alpha = if self.config.lag > 0.0 {
            1.0 - (-dt / self.config.lag).exp()
        } else {
            1.0
        };
        for i in 0..3 {
            self.velocity[i] += (wanted[i] - self.velocity[i]) * alpha;
            // The lag's tail would creep on for ever.
            if (wanted[i] - self.velocity[i]).abs() < 1e-4 {
                self.velocity[i] = wanted[i];
            }
            let (lo, hi) = LIMITS[i];
            let next = (self.position[i] + self.velocity[i] * dt).clamp(lo, hi);
            if next == lo || next == hi {
                self.velocity[i] = 0.0;
            }
            if (next - self.position[i]).abs() > 1e-9 {
                self.ever_moved = true;
            }
            self.position[i] = next;
        }
    }

    /// Whether pan-tilt and zoom report MOVING, as the camera tells it
    /// (wrong for ever after the first move with `stuck_move_status`).
    pub fn moving(&self) -> (bool, bool) {
        if self.config.stuck_move_status && self.ever_moved {
            return (true, true);
        }
        let busy = |i: usize| self.velocity[i].abs() > 1e-3;
        (busy(0) || busy(1), busy(2))
    }
}

fn clamp(p: Position) -> Position {
    std::array::from_fn(|i| p[i].clamp(LIMITS[i].0, LIMITS[i].1))
}

/// How the head's position maps onto the scene.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Optics {
    /// Fraction of the scene's width seen at zoom 0.
    pub wide_fov: f64,
    /// Magnification at zoom 1.
    pub max_zoom: f64,
}

impl Optics {
    /// The scene rectangle `(x, y, w, h)` seen at `position`, for a
    /// `scene_w` x `scene_h` scene and a view of aspect ratio `aspect`
    /// (width / height).
    pub fn view(
        &self,
        position: Position,
        scene_w: f64,
        scene_h: f64,
        aspect: f64,
    ) -> (f64, f64, f64, f64) {
        let [pan, tilt, zoom] = clamp(position);
        let magnification = 1.0 + zoom * (self.max_zoom.max(1.0) - 1.0);
        let mut w = scene_w * self.wide_fov.clamp(0.01, 1.0) / magnification;
        let mut h = w / aspect;
        if h > scene_h {
            h = scene_h;
            w = h * aspect;
        }
        let x = (scene_w - w) / 2.0 * (1.0 + pan);
        // Tilt up shows the upper part of the scene.
        let y = (scene_h - h) / 2.0 * (1.0 - tilt);
        (x, y, w, h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn velocity_moves_at_speed_after_the_lag_and_stops() {
        let config = HeadConfig {
            lag: 0.05,
            ..Default::default()
        };
        let mut head = Head::new(config, [0.0; 3]);
        head.command(Motion::Velocity([0.5, -0.25, 0.0]));
        head.advance(1.0);
        let [pan, tilt, _] = head.position();
        // 0.5 units/s for 1 s, less what the lag cost (about 0.05 s worth).
        assert!((pan - 0.475).abs() < 0.01, "{pan}");
        assert!((tilt + 0.2375).abs() < 0.01, "{tilt}");
        assert_eq!(head.moving(), (true, false));
        head.command(Motion::Stop {
            pan_tilt: true,
            zoom: true,
        });
        head.advance(1.5);
        let stopped = head.position();
        head.advance(3.0);
        assert_eq!(head.position(), stopped, "no creep once stopped");
        assert_eq!(head.moving(), (false, false));
    }

    #[test]
    fn commands_wait_for_the_delay_and_positions_stay_in_range() {
        let config = HeadConfig {
            delay: 0.5,
            lag: 0.0,
            ..Default::default()
        };
        let mut head = Head::new(config, [0.9, 0.0, 0.0]);
        head.command(Motion::Velocity([1.0, 0.0, 1.0]));
        head.advance(0.49);
        assert_eq!(head.position(), [0.9, 0.0, 0.0]);
        head.advance(5.0);
        assert_eq!(head.position(), [1.0, 0.0, 1.0]);
        head.command(Motion::GoTo([-0.5, 0.25, 0.0]));
        head.advance(10.0);
        let p = head.position();
        assert!((p[0] + 0.5).abs() < 1e-3 && (p[1] - 0.25).abs() < 1e-3 && p[2].abs() < 1e-3);
    }

    #[test]
    fn a_stuck_camera_reports_moving_for_ever() {
        let config = HeadConfig {
            stuck_move_status: true,
            ..Default::default()
        };
        let mut head = Head::new(config, [0.0; 3]);
        assert_eq!(head.moving(), (false, false));
        head.command(Motion::Velocity([1.0, 0.0, 0.0]));
        head.advance(0.5);
        head.command(Motion::Stop {
            pan_tilt: true,
            zoom: true,
        });
        head.advance(10.0);
        assert_eq!(head.moving(), (true, true));
    }

    #[test]
    fn the_view_pans_over_the_scene_and_narrows_with_zoom() {
        let optics = Optics {
            wide_fov: 0.5,
            max_zoom: 4.0,
        };
        let aspect = 4.0 / 3.0;
        assert_eq!(
            optics.view([0.0; 3], 800.0, 600.0, aspect),
            (200.0, 150.0, 400.0, 300.0)
        );
        assert_eq!(
            optics.view([1.0, 1.0, 0.0], 800.0, 600.0, aspect),
            (400.0, 0.0, 400.0, 300.0)
        );
        assert_eq!(
            optics.view([-1.0, -1.0, 1.0], 800.0, 600.0, aspect),
            (0.0, 525.0, 100.0, 75.0)
        );
        // A wide view of a narrow scene keeps the aspect ratio inside it.
        let (_, _, w, h) = optics.view([0.0; 3], 800.0, 200.0, aspect);
        assert_eq!((w, h), (200.0 * aspect, 200.0));
    }
}
