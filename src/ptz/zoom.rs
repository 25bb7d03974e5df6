//! Zoom velocity from how much of the frame the target covers.

use crate::bbox::BBox;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZoomConfig {
    /// Velocity per unit of relative coverage gap.
    pub gain: f64,
    /// Fraction of the frame area the target should cover.
    pub target_coverage: f64,
    /// Relative gaps smaller than this leave the zoom alone.
    pub dead_zone: f64,
    /// A box closer than this fraction of the frame to an edge is never
    /// zoomed in on: zooming in would push it out of the frame.
    pub edge_margin: f64,
}

impl Default for ZoomConfig {
    fn default() -> Self {
        ZoomConfig {
            gain: 0.5,
            target_coverage: 0.1,
            dead_zone: 0.15,
            edge_margin: 0.1,
        }
    }
}

impl ZoomConfig {
    /// Zoom velocity in [-1, 1] (positive zooms in) for a target `bbox` in
    /// a `width` x `height` frame; 0 when zoom control is off
    /// (`target_coverage` 0) or the frame has no size.
    pub fn velocity(&self, bbox: &BBox, width: f64, height: f64) -> f64 {
        if self.target_coverage <= 0.0 || width <= 0.0 || height <= 0.0 {
            return 0.0;
        }
        let visible = bbox.clamp_to(width as f32, height as f32);
        let coverage = visible.area() as f64 / (width * height);
        // Relative to the target, so that the loop behaves the same for a
        // small and a large target coverage.
        let gap = (self.target_coverage - coverage) / self.target_coverage;
        if gap.abs() < self.dead_zone {
            return 0.0;
        }
        let v = (self.gain * gap).clamp(-1.0, 1.0);
        if v > 0.0 && self.near_edge(bbox, width, height) {
            return 0.0;
        }
        v
    }

    fn near_edge(&self, bbox: &BBox, width: f64, height: f64) -> bool {
        let mx = self.edge_margin * width;
        let my = self.edge_margin * height;
        (bbox.x as f64) < mx
            || (bbox.y as f64) < my
            || (bbox.x2() as f64) > width - mx
            || (bbox.y2() as f64) > height - my
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: f64 = 1000.0;
    const H: f64 = 1000.0;

    #[test]
    fn zooms_in_on_a_small_centred_target_and_out_on_a_large_one() {
        let z = ZoomConfig::default();
        let small = BBox::from_center(500.0, 500.0, 100.0, 200.0); // 2 %
        assert!(z.velocity(&small, W, H) > 0.0);
        let large = BBox::from_center(500.0, 500.0, 400.0, 600.0); // 24 %
        assert!(z.velocity(&large, W, H) < 0.0);
        let right = BBox::from_center(500.0, 500.0, 200.0, 500.0); // 10 %
        assert_eq!(z.velocity(&right, W, H), 0.0);
    }

    #[test]
    fn never_zooms_in_near_an_edge_but_may_zoom_out() {
        let z = ZoomConfig::default();
        let small_at_edge = BBox::new(950.0, 400.0, 40.0, 100.0);
        assert_eq!(z.velocity(&small_at_edge, W, H), 0.0);
        let small_at_top = BBox::new(450.0, 20.0, 40.0, 100.0);
        assert_eq!(z.velocity(&small_at_top, W, H), 0.0);
        let large_at_edge = BBox::new(500.0, 100.0, 500.0, 800.0);
        assert!(z.velocity(&large_at_edge, W, H) < 0.0);
    }

    #[test]
    fn off_when_no_target_coverage() {
        let z = ZoomConfig {
            target_coverage: 0.0,
            ..ZoomConfig::default()
        };
        assert_eq!(z.velocity(&BBox::new(450.0, 450.0, 10.0, 10.0), W, H), 0.0);
    }
}
