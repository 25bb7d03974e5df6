//! Anchor-based and anchor-free YOLO heads with decoded boxes.
//!
//! YOLOv5/v7: `[1, N, 5 + C]` rows of (cx, cy, w, h, obj, classes...).
//! YOLOv8/YOLO11: `[1, 4 + C, N]` columns of (cx, cy, w, h, classes...).

use super::{DecodeError, Decoder, Detection, Output, argmax, check_len, output};
use crate::bbox::BBox;

pub struct YoloV5 {
    pub num_classes: usize,
}

impl Decoder for YoloV5 {
    fn decode(
        &self,
        outputs: &[Output<'_>],
        _input_w: u32,
        _input_h: u32,
        threshold: f32,
        out: &mut Vec<Detection>,
    ) -> Result<(), DecodeError> {
        let o = output(outputs, "output")?;
        let cols = 5 + self.num_classes;
        check_len(o, o.data.len() / cols, cols)?;
        for r in o.data.chunks_exact(cols) {
            if r[4] < threshold {
                continue;
            }
            let (class_id, cls) = argmax(&r[5..]);
            let score = r[4] * cls;
            if score >= threshold {
                out.push(Detection {
                    bbox: BBox::from_center(r[0], r[1], r[2], r[3]),
                    score,
                    class_id: class_id as u32,
                });
            }
        }
        Ok(())
    }
}

pub struct YoloV8 {
    pub num_classes: usize,
}

impl Decoder for YoloV8 {
    fn decode(
        &self,
        outputs: &[Output<'_>],
        _input_w: u32,
        _input_h: u32,
        threshold: f32,
        out: &mut Vec<Detection>,
    ) -> Result<(), DecodeError> {
        let o = output(outputs, "output")?;
        let channels = 4 + self.num_classes;
        let n = o.data.len() / channels;
        check_len(o, channels, n)?;
        let plane = |c: usize| &o.data[c * n..(c + 1) * n];
        // Class planes are contiguous: scan them in memory order, keeping the best per anchor.
        let mut best = vec![(0u32, f32::NEG_INFINITY); n];
        for c in 0..self.num_classes {
            for (b, &v) in best.iter_mut().zip(plane(4 + c)) {
                if v > b.1 {
                    *b = (c as u32, v);
                }
            }
        }
        let (cx, cy, w, h) = (plane(0), plane(1), plane(2), plane(3));
        for (i, &(class_id, score)) in best.iter().enumerate() {
            if score >= threshold {
                out.push(Detection {
                    bbox: BBox::from_center(cx[i], cy[i], w[i], h[i]),
                    score,
                    class_id,
                });
            }
        }
        Ok(())
    }
}

/// Number of classes of a `[1, 4 + C, N]` output whose first rows are boxes.
pub fn classes_in_transposed(shape: &[i64]) -> Option<usize> {
    match shape {
        [1, c, n] | [c, n] if *c > 4 && (*n < 0 || n > c) => Some(*c as usize - 4),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yolov5_rows_multiply_objectness_and_class() {
        #[rustfmt::skip]
        let data = [
            10.0, 10.0, 4.0, 4.0, 0.9, 0.5, 1.0,
            20.0, 20.0, 4.0, 4.0, 0.2, 1.0, 0.0,
        ];
        let outputs = [Output {
            name: "output",
            shape: &[1, 2, 7],
            data: &data,
        }];
        let mut dets = Vec::new();
        YoloV5 { num_classes: 2 }
            .decode(&outputs, 64, 64, 0.25, &mut dets)
            .unwrap();
        assert_eq!(dets.len(), 1);
        assert_eq!((dets[0].class_id, dets[0].score), (1, 0.9));
        assert_eq!(dets[0].bbox, BBox::new(8.0, 8.0, 4.0, 4.0));
    }

    #[test]
    fn yolov8_reads_the_transposed_layout() {
        // 3 anchors, 2 classes: planes cx, cy, w, h, c0, c1.
        #[rustfmt::skip]
        let data = [
            10.0, 20.0, 30.0,
            10.0, 20.0, 30.0,
            2.0, 2.0, 2.0,
            4.0, 4.0, 4.0,
            0.1, 0.8, 0.3,
            0.2, 0.1, 0.6,
        ];
        let outputs = [Output {
            name: "output0",
            shape: &[1, 6, 3],
            data: &data,
        }];
        let mut dets = Vec::new();
        YoloV8 { num_classes: 2 }
            .decode(&outputs, 64, 64, 0.25, &mut dets)
            .unwrap();
        let got: Vec<(u32, f32)> = dets.iter().map(|d| (d.class_id, d.score)).collect();
        assert_eq!(got, vec![(0, 0.8), (1, 0.6)]);
        assert_eq!(dets[1].bbox, BBox::new(29.0, 28.0, 2.0, 4.0));
        assert_eq!(classes_in_transposed(&[1, 84, 8400]), Some(80));
        assert_eq!(classes_in_transposed(&[1, 8400, 84]), None);
    }
}
