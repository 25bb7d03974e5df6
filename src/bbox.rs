//! Axis-aligned boxes in frame pixels, shared by the detector, tracker and sinks.

use serde::{Deserialize, Serialize};

/// A box given by its top-left corner and size, in pixels of the frame it refers to.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct BBox {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

impl BBox {
    pub const fn new(x: f32, y: f32, w: f32, h: f32) -> Self {
        Self { x, y, w, h }
    }

    /// Builds a box from its corners; a reversed corner pair gives an empty box.
    pub fn from_corners(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        Self::new(x1, y1, (x2 - x1).max(0.0), (y2 - y1).max(0.0))
    }

    pub fn from_center(cx: f32, cy: f32, w: f32, h: f32) -> Self {
        Self::new(cx - w / 2.0, cy - h / 2.0, w, h)
    }

    pub fn x2(&self) -> f32 {
        self.x + self.w
    }

    pub fn y2(&self) -> f32 {
        self.y + self.h
    }

    pub fn cx(&self) -> f32 {
        self.x + self.w / 2.0
    }

    pub fn cy(&self) -> f32 {
        self.y + self.h / 2.0
    }

    pub fn area(&self) -> f32 {
        self.w.max(0.0) * self.h.max(0.0)
    }

    /// Intersection over union; 0 when either box is empty.
    pub fn iou(&self, other: &BBox) -> f32 {
        let iw = (self.x2().min(other.x2()) - self.x.max(other.x)).max(0.0);
        let ih = (self.y2().min(other.y2()) - self.y.max(other.y)).max(0.0);
        let inter = iw * ih;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }

    /// Clips the box to a `width` x `height` frame.
    pub fn clamp_to(&self, width: f32, height: f32) -> BBox {
        let x1 = self.x.clamp(0.0, width);
        let y1 = self.y.clamp(0.0, height);
        let x2 = self.x2().clamp(0.0, width);
        let y2 = self.y2().clamp(0.0, height);
        BBox::from_corners(x1, y1, x2, y2)
    }

    /// Scales the box by `sx` horizontally and `sy` vertically (a frame resize).
    pub fn scale(&self, sx: f32, sy: f32) -> BBox {
        BBox::new(self.x * sx, self.y * sy, self.w * sx, self.h * sy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_identical_disjoint_and_half_overlapping_boxes() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(a.iou(&BBox::new(20.0, 20.0, 5.0, 5.0)), 0.0);
        // Overlap 5x10 = 50, union 150.
        let b = BBox::new(5.0, 0.0, 10.0, 10.0);
        assert!((a.iou(&b) - 50.0 / 150.0).abs() < 1e-6);
        assert_eq!(a.iou(&BBox::default()), 0.0);
    }

    #[test]
    fn clamp_and_corners() {
        let b = BBox::new(-5.0, 2.0, 20.0, 100.0).clamp_to(10.0, 50.0);
        assert_eq!(b, BBox::new(0.0, 2.0, 10.0, 48.0));
        assert_eq!(BBox::from_corners(4.0, 4.0, 2.0, 2.0).area(), 0.0);
        let c = BBox::from_center(10.0, 20.0, 4.0, 6.0);
        assert_eq!((c.cx(), c.cy()), (10.0, 20.0));
    }
}
