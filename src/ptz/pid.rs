//! One PID loop per camera axis, in normalised units: the measurement is
//! where the target sits in the frame, as a fraction of the frame from the
//! centre (-0.5 at one edge, 0.5 at the other), and the output is an ONVIF
//! generic-space velocity in [-1, 1].
//!
//! The presets suit a camera whose view moves by about half its field of
//! view per second at velocity 1: the derivative term feeds the camera's
//! own (delayed) speed back, and `kd` times that speed must stay below 1.
//!
//! The loop is reverse-acting: moving the camera towards the target moves
//! the target towards the centre, so a positive measurement (target right of
//! the set point) asks for a positive velocity.

/// Proportional, integral and derivative gains.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gains {
    pub kp: f64,
    pub ki: f64,
    pub kd: f64,
}

/// Named gain sets: how eagerly the camera follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Preset {
    Responsive,
    #[default]
    Balanced,
    Smooth,
}

impl Preset {
    pub const ALL: [Preset; 3] = [Preset::Responsive, Preset::Balanced, Preset::Smooth];

    pub fn gains(self) -> Gains {
        match self {
            Preset::Responsive => Gains {
                kp: 3.0,
                ki: 0.2,
                kd: 1.2,
            },
            Preset::Balanced => Gains {
                kp: 2.0,
                ki: 0.15,
                kd: 0.8,
            },
            Preset::Smooth => Gains {
                kp: 1.2,
                ki: 0.1,
                kd: 0.5,
            },
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Preset::Responsive => "responsive",
            Preset::Balanced => "balanced",
            Preset::Smooth => "smooth",
        }
    }

    pub fn from_name(name: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// Gains and limits of one axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PidConfig {
    pub gains: Gains,
    /// Bound of the integral state (anti-windup).
    pub integral_limit: f64,
    /// Errors smaller than this neither move the camera nor integrate, so a
    /// centred target does not make the camera hunt. Once inside, the error
    /// has to grow past twice the band to count again, or the loop would
    /// chatter on the band's edge.
    pub dead_band: f64,
    /// The integral is there for what a moving target keeps lagging
    /// behind, not for the way to a new target, which would only wind it
    /// up into an overshoot: an error the loop closes within this many
    /// seconds at its current rate is not integrated.
    pub closing_time: f64,
    /// Time constant, in seconds, with which the integral fades while the
    /// error stays in the dead band: what was learnt on the way in would
    /// otherwise push a target that stopped back out of the band.
    pub integral_decay: f64,
    /// Time constant of the low-pass on the derivative, in seconds: box
    /// jitter from the detector would otherwise shake the camera.
    pub derivative_filter: f64,
    /// The output is clamped to [-output_limit, output_limit].
    pub output_limit: f64,
}

impl Default for PidConfig {
    fn default() -> Self {
        PidConfig::from(Preset::default())
    }
}

impl From<Preset> for PidConfig {
    fn from(preset: Preset) -> Self {
        PidConfig {
            gains: preset.gains(),
            integral_limit: 1.0,
            dead_band: 0.01,
            closing_time: 8.0,
            integral_decay: 10.0,
            derivative_filter: 0.05,
            output_limit: 1.0,
        }
    }
}

/// The state of one axis' loop.
#[derive(Debug, Clone)]
pub struct Pid {
    config: PidConfig,
    setpoint: f64,
    /// Integral of the error over time, stored across updates.
    integral: f64,
    last_measurement: Option<f64>,
    /// Low-passed rate of change of the measurement.
    rate: f64,
    /// Inside the dead band (with hysteresis).
    settled: bool,
}

impl Pid {
    pub fn new(config: PidConfig) -> Pid {
        Pid {
            config,
            setpoint: 0.0,
            integral: 0.0,
            last_measurement: None,
            rate: 0.0,
            settled: false,
        }
    }

    pub fn config(&self) -> &PidConfig {
        &self.config
    }

    pub fn set_config(&mut self, config: PidConfig) {
        self.config = config;
        self.integral = self
            .integral
            .clamp(-config.integral_limit, config.integral_limit);
    }

    /// Where in the frame the target should sit (0: centred).
    pub fn set_setpoint(&mut self, setpoint: f64) {
        self.setpoint = setpoint;
    }

    pub fn integral(&self) -> f64 {
        self.integral
    }

    /// Forgets the history, e.g. when the target changes: no derivative
    /// kick from the jump, no integral learnt on another target.
    pub fn reset(&mut self) {
        self.integral = 0.0;
        self.last_measurement = None;
        self.rate = 0.0;
        self.settled = false;
    }

    /// One step: `measurement` is the target's position on this axis and
    /// `dt` the seconds since the previous update (0 on the first).
    pub fn update(&mut self, measurement: f64, dt: f64) -> f64 {
        let c = &self.config;
        let raw_error = measurement - self.setpoint;
        let band = if self.settled {
            2.0 * c.dead_band
        } else {
            c.dead_band
        };
        let inside = raw_error.abs() < band;
        self.settled = inside;
        let error = if inside { 0.0 } else { raw_error };

        // Derivative on the measurement, not the error: moving the set
        // point does not kick the camera.
        if let Some(last) = self.last_measurement
            && dt > 0.0
        {
            let alpha = dt / (c.derivative_filter + dt);
            self.rate += alpha * ((measurement - last) / dt - self.rate);
        }
        self.last_measurement = Some(measurement);

        let limit = c.output_limit;
        let pd = c.gains.kp * error + c.gains.kd * self.rate;
        // Conditional integration: while the output is saturated in the
        // error's direction, integrating would only wind up.
        let candidate = (self.integral + error * dt).clamp(-c.integral_limit, c.integral_limit);
        let unclamped = pd + c.gains.ki * candidate;
        let saturated = unclamped.abs() > limit && unclamped.signum() == error.signum();
        let closing = error * self.rate < 0.0 && error.abs() < self.rate.abs() * c.closing_time;
        if !saturated && !closing {
            self.integral = candidate;
        }
        if inside {
            // Keep the velocity the integral learnt (a target moving
            // steadily) for a while, but let neither jitter nor small
            // errors move the camera.
            self.integral *= (-dt / c.integral_decay).exp();
            return (c.gains.ki * self.integral).clamp(-limit, limit);
        }
        (pd + c.gains.ki * self.integral).clamp(-limit, limit)
    }
}

/// Seconds between frames from their timestamps, capped so that a gap in
/// the stream (a stall, a seek) does not turn into one huge integral step.
#[derive(Debug, Clone)]
pub struct TimeStep {
    max: f64,
    last_ns: Option<u64>,
}

impl TimeStep {
    pub fn new(max_seconds: f64) -> TimeStep {
        TimeStep {
            max: max_seconds,
            last_ns: None,
        }
    }

    /// Seconds since the previous timestamp, capped; 0 for the first frame
    /// and for a timestamp going backwards.
    pub fn step(&mut self, timestamp_ns: u64) -> f64 {
        let dt = match self.last_ns {
            Some(last) if timestamp_ns > last => ((timestamp_ns - last) as f64 / 1e9).min(self.max),
            _ => 0.0,
        };
        self.last_ns = Some(timestamp_ns);
        dt
    }

    pub fn reset(&mut self) {
        self.last_ns = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_by_name() {
        for p in Preset::ALL {
            assert_eq!(Preset::from_name(p.name()), Some(p));
        }
        assert_eq!(Preset::from_name("fast"), None);
        assert_eq!(Preset::Balanced.gains().kp, 2.0);
    }

    #[test]
    fn the_integral_is_stored_across_updates_and_clamped() {
        let mut pid = Pid::new(PidConfig::from(Preset::Smooth));
        // Small enough that the output never saturates.
        for _ in 0..10 {
            pid.update(0.1, 0.1);
        }
        assert!((pid.integral() - 0.1).abs() < 1e-9, "{}", pid.integral());
        let before = pid.update(0.1, 0.1);
        let after = pid.update(0.1, 0.1);
        assert!(after > before, "the I term grows the output");
        let mut config = PidConfig::from(Preset::Smooth);
        config.gains.kp = 0.0;
        config.gains.kd = 0.0;
        let mut pid = Pid::new(config);
        for _ in 0..1000 {
            pid.update(0.1, 0.1);
        }
        assert_eq!(pid.integral(), config.integral_limit);
    }

    #[test]
    fn no_integration_while_saturated_in_the_errors_direction() {
        let mut pid = Pid::new(PidConfig::from(Preset::Responsive));
        for _ in 0..50 {
            assert_eq!(pid.update(0.9, 0.04), 1.0);
        }
        assert_eq!(pid.integral(), 0.0);
    }

    #[test]
    fn errors_closing_fast_are_not_integrated() {
        let mut pid = Pid::new(PidConfig::from(Preset::Smooth));
        pid.update(0.3, 0.04);
        let before = pid.integral();
        pid.update(0.29, 0.04);
        assert_eq!(pid.integral(), before);
        // Closing slowly: integrated.
        let mut pid = Pid::new(PidConfig::from(Preset::Smooth));
        pid.update(0.3, 0.04);
        let before = pid.integral();
        pid.update(0.2999, 0.04);
        assert!(pid.integral() > before);
    }

    #[test]
    fn dead_band_neither_moves_nor_integrates() {
        let mut pid = Pid::new(PidConfig::default());
        for _ in 0..20 {
            assert_eq!(pid.update(0.009, 0.04), 0.0);
            assert_eq!(pid.update(-0.009, 0.04), 0.0);
        }
        assert_eq!(pid.integral(), 0.0);
        assert!(pid.update(0.02, 0.04) > 0.0);
    }

    #[test]
    fn derivative_damps_an_approaching_target_and_setpoint_moves_do_not_kick() {
        let mut p_only = PidConfig::default();
        p_only.gains.kd = 0.0;
        p_only.gains.ki = 0.0;
        let mut with_d = p_only;
        with_d.gains.kd = 0.8;
        let (mut a, mut b) = (Pid::new(p_only), Pid::new(with_d));
        let mut m = 0.5;
        for _ in 0..5 {
            a.update(m, 0.04);
            b.update(m, 0.04);
            m -= 0.02;
        }
        assert!(b.update(m, 0.04) < a.update(m, 0.04));

        let mut pid = Pid::new(with_d);
        pid.update(0.3, 0.04);
        pid.update(0.3, 0.04);
        pid.set_setpoint(0.2);
        let out = pid.update(0.3, 0.04);
        assert!((out - with_d.gains.kp * 0.1).abs() < 1e-9, "{out}");
    }

    #[test]
    fn output_is_clamped() {
        let mut pid = Pid::new(PidConfig::from(Preset::Responsive));
        assert_eq!(pid.update(-1.0, 0.04), -1.0);
        assert_eq!(pid.update(1.0, 0.04), 1.0);
    }

    #[test]
    fn time_step_from_timestamps_is_capped() {
        let mut t = TimeStep::new(0.2);
        assert_eq!(t.step(1_000_000_000), 0.0);
        assert!((t.step(1_040_000_000) - 0.04).abs() < 1e-12);
        assert_eq!(t.step(9_000_000_000), 0.2);
        assert_eq!(t.step(8_000_000_000), 0.0);
        t.reset();
        assert_eq!(t.step(9_000_000_000), 0.0);
    }
}
