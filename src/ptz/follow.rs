//! How well the camera kept its target: from the frames' metadata, where
//! the followed object (marked with [`TARGET_ATTRIBUTE`]) sat and how much
//! of the frame it covered. The demo and the tests measure with it.

use crate::objects::{Frame, Object};

/// The attribute `ptzservo` gives the object it follows (label `target`).
pub const TARGET_ATTRIBUTE: &str = "ptz";

/// Whether `o` is the object the PTZ camera follows.
pub fn is_target(o: &Object) -> bool {
    o.attributes
        .iter()
        .any(|a| a.name == TARGET_ATTRIBUTE && a.label == "target")
}

#[derive(Debug, Clone, Default)]
pub struct Following {
    frames: u64,
    /// Distance of the target's centre from the frame's centre, in
    /// fractions of the frame (x and y each -0.5..0.5), per frame with a target.
    errors: Vec<f64>,
    coverages: Vec<f64>,
}

/// Figures over a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub frames: u64,
    /// Frames on which a target was followed.
    pub followed: u64,
    pub mean_error: f64,
    pub p95_error: f64,
    /// Mean fraction of the frame's area the target covered.
    pub mean_coverage: f64,
}

impl Following {
    pub fn observe(&mut self, frame: &Frame) {
        self.frames += 1;
        let (w, h) = (frame.width as f64, frame.height as f64);
        if w <= 0.0 || h <= 0.0 {
            return;
        }
        let target = frame.objects.iter().find(|o| is_target(o));
        if let Some(o) = target {
            let dx = o.bbox.cx() as f64 / w - 0.5;
            let dy = o.bbox.cy() as f64 / h - 0.5;
            self.errors.push(dx.hypot(dy));
            let visible = o.bbox.clamp_to(w as f32, h as f32);
            self.coverages.push(visible.area() as f64 / (w * h));
        }
    }

    pub fn summary(&self) -> Summary {
        let n = self.errors.len();
        let mean = |v: &[f64]| {
            if v.is_empty() {
                0.0
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            }
        };
        let mut sorted = self.errors.clone();
        sorted.sort_by(f64::total_cmp);
        let p95 = if n == 0 {
            0.0
        } else {
            sorted[((n - 1) as f64 * 0.95).round() as usize]
        };
        Summary {
            frames: self.frames,
            followed: n as u64,
            mean_error: mean(&self.errors),
            p95_error: p95,
            mean_coverage: mean(&self.coverages),
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "target followed on {} of {} frames; centre error mean {:.3}, p95 {:.3} (fractions of the frame); coverage mean {:.3}",
            self.followed, self.frames, self.mean_error, self.p95_error, self.mean_coverage
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bbox::BBox;
    use crate::objects::{Attribute, Object};

    fn frame(target_x: Option<f32>) -> Frame {
        let mut objects = vec![Object::new(
            BBox::new(0.0, 0.0, 10.0, 10.0),
            0,
            "person",
            0.9,
        )];
        if let Some(x) = target_x {
            let mut o = Object::new(BBox::new(x - 5.0, 45.0, 10.0, 10.0), 0, "person", 0.9);
            o.attributes.push(Attribute {
                name: TARGET_ATTRIBUTE.into(),
                label: "target".into(),
                confidence: 1.0,
                source: "ptzservo0".into(),
                value: None,
            });
            objects.push(o);
        }
        Frame {
            width: 100,
            height: 100,
            source: String::new(),
            model: String::new(),
            inferred: true,
            objects,
        }
    }

    #[test]
    fn errors_and_coverage_of_the_marked_object_only() {
        let mut f = Following::default();
        f.observe(&frame(Some(50.0)));
        f.observe(&frame(Some(70.0)));
        f.observe(&frame(None));
        let s = f.summary();
        assert_eq!((s.frames, s.followed), (3, 2));
        assert!((s.mean_error - 0.1).abs() < 1e-9, "{s:?}");
        assert!((s.p95_error - 0.2).abs() < 1e-9, "{s:?}");
        assert!((s.mean_coverage - 0.01).abs() < 1e-9, "{s:?}");
    }
}
