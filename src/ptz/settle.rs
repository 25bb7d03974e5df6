//! Whether the camera has stopped, from its reported position: some
//! cameras never report their MoveStatus back as IDLE, so the status alone
//! cannot be trusted.

/// Decides "stopped" once every axis stayed within `tolerance` of where it
/// was for `hold` seconds.
#[derive(Debug, Clone)]
pub struct Stillness {
    tolerance: f64,
    hold: f64,
    /// Position and time where the current still period began.
    anchor: Option<([f64; 3], f64)>,
}

impl Stillness {
    pub fn new(tolerance: f64, hold: f64) -> Stillness {
        Stillness {
            tolerance,
            hold,
            anchor: None,
        }
    }

    /// Feeds the pan, tilt and zoom position read at `now` seconds; true when
    /// the camera counts as stopped.
    pub fn observe(&mut self, now: f64, position: [f64; 3]) -> bool {
        match self.anchor {
            Some((at, since))
                if at
                    .iter()
                    .zip(position)
                    .all(|(a, p)| (a - p).abs() <= self.tolerance) =>
            {
                now - since >= self.hold
            }
            _ => {
                self.anchor = Some((position, now));
                self.hold <= 0.0
            }
        }
    }

    pub fn reset(&mut self) {
        self.anchor = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopped_only_after_the_position_held_still() {
        let mut s = Stillness::new(0.002, 0.5);
        assert!(!s.observe(0.0, [0.1, 0.2, 0.0]));
        assert!(!s.observe(0.2, [0.15, 0.2, 0.0]));
        assert!(!s.observe(0.4, [0.151, 0.2, 0.0]));
        assert!(!s.observe(0.6, [0.151, 0.2, 0.001]));
        assert!(s.observe(0.8, [0.15, 0.201, 0.0]));
        // Slow drift is movement, even if each step is small.
        let mut s = Stillness::new(0.002, 0.5);
        let moving = (0..20).any(|i| s.observe(i as f64 * 0.1, [i as f64 * 0.0015, 0.0, 0.0]));
        assert!(!moving);
        s.reset();
        assert!(!s.observe(5.0, [0.0; 3]));
    }
}
