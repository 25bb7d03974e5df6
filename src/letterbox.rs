//! Where a frame lands inside a model's input tensor, and the way back.

use crate::bbox::BBox;

/// How a frame is fitted into the model input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Keep the aspect ratio, pad equally on both sides (Ultralytics YOLO).
    LetterboxCenter,
    /// Keep the aspect ratio, image at the top-left, pad right and bottom (YOLOX).
    LetterboxTopLeft,
    /// Scale each axis to the input size, distorting the aspect ratio (SSD).
    Stretch,
}

/// Placement of a `src_w` x `src_h` frame inside a `dst_w` x `dst_h` tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    pub src_w: u32,
    pub src_h: u32,
    pub dst_w: u32,
    pub dst_h: u32,
    /// The placed image region in the tensor, in whole pixels.
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

impl Letterbox {
    /// Places the frame; sizes must be non-zero.
    pub fn new(src_w: u32, src_h: u32, dst_w: u32, dst_h: u32, fit: Fit) -> Self {
        let (w, h) = match fit {
            Fit::Stretch => (dst_w, dst_h),
            Fit::LetterboxCenter | Fit::LetterboxTopLeft => {
                let scale = f64::min(dst_w as f64 / src_w as f64, dst_h as f64 / src_h as f64);
                let w = ((src_w as f64 * scale).round() as u32).clamp(1, dst_w);
                let h = ((src_h as f64 * scale).round() as u32).clamp(1, dst_h);
                (w, h)
            }
        };
        let (x, y) = match fit {
            Fit::LetterboxCenter => ((dst_w - w) / 2, (dst_h - h) / 2),
            Fit::LetterboxTopLeft | Fit::Stretch => (0, 0),
        };
        Self {
            src_w,
            src_h,
            dst_w,
            dst_h,
            x,
            y,
            w,
            h,
        }
    }

    /// Maps a box in tensor pixels back to frame pixels, clipped to the frame.
    pub fn to_frame(&self, b: &BBox) -> BBox {
        let sx = self.src_w as f32 / self.w as f32;
        let sy = self.src_h as f32 / self.h as f32;
        BBox::new(
            (b.x - self.x as f32) * sx,
            (b.y - self.y as f32) * sy,
            b.w * sx,
            b.h * sy,
        )
        .clamp_to(self.src_w as f32, self.src_h as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn landscape_frame_centred_in_square() {
        // 768x576 into 416: scale 416/768, region 416x312, 52 px of padding above and below.
        let lb = Letterbox::new(768, 576, 416, 416, Fit::LetterboxCenter);
        assert_eq!((lb.x, lb.y, lb.w, lb.h), (0, 52, 416, 312));
        let back = lb.to_frame(&BBox::new(0.0, 52.0, 208.0, 156.0));
        assert_eq!(back, BBox::new(0.0, 0.0, 384.0, 288.0));
    }

    #[test]
    fn portrait_frame_top_left() {
        // 480x640 into 416: region 312x416 at the left, padding on the right.
        let lb = Letterbox::new(480, 640, 416, 416, Fit::LetterboxTopLeft);
        assert_eq!((lb.x, lb.y, lb.w, lb.h), (0, 0, 312, 416));
        let b = lb.to_frame(&BBox::new(31.2, 41.6, 62.4, 104.0));
        assert!((b.x - 48.0).abs() < 1e-3 && (b.y - 64.0).abs() < 1e-3);
        assert!((b.w - 96.0).abs() < 1e-3 && (b.h - 160.0).abs() < 1e-3);
    }

    #[test]
    fn odd_sizes_map_back_exactly_to_the_frame_edges() {
        let lb = Letterbox::new(333, 111, 64, 64, Fit::LetterboxCenter);
        // 333x111 scaled by 64/333 = 64x21.33 -> 64x21, centred at y = 21.
        assert_eq!((lb.x, lb.y, lb.w, lb.h), (0, 21, 64, 21));
        let full = lb.to_frame(&BBox::new(0.0, 21.0, 64.0, 21.0));
        assert!((full.w - 333.0).abs() < 1e-3 && (full.h - 111.0).abs() < 1e-3);
        // Boxes reaching into the padding are clipped to the frame.
        let clipped = lb.to_frame(&BBox::new(-5.0, 0.0, 80.0, 64.0));
        assert_eq!(clipped, BBox::new(0.0, 0.0, 333.0, 111.0));
    }

    #[test]
    fn stretch_scales_each_axis() {
        let lb = Letterbox::new(1920, 1080, 300, 300, Fit::Stretch);
        assert_eq!((lb.w, lb.h), (300, 300));
        let b = lb.to_frame(&BBox::new(150.0, 150.0, 30.0, 30.0));
        assert_eq!(b, BBox::new(960.0, 540.0, 192.0, 108.0));
    }
}
