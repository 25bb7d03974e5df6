//! YOLOX raw head: `[1, N, 5 + C]`, rows per grid cell over strides 8, 16, 32.

use super::{DecodeError, Decoder, Detection, Output, argmax, check_len, output};
use crate::bbox::BBox;

pub const STRIDES: [u32; 3] = [8, 16, 32];

/// Number of rows a YOLOX head has for a `w` x `h` input.
pub fn rows_for(w: u32, h: u32) -> usize {
    STRIDES.iter().map(|s| ((w / s) * (h / s)) as usize).sum()
}

/// Objectness and class scores are already sigmoided in the exported graph;
/// boxes are grid offsets and log sizes that need the grid and stride.
pub struct Yolox {
    pub num_classes: usize,
}

impl Decoder for Yolox {
    fn decode(
        &self,
        outputs: &[Output<'_>],
        input_w: u32,
        input_h: u32,
        threshold: f32,
        out: &mut Vec<Detection>,
    ) -> Result<(), DecodeError> {
        let o = output(outputs, "output")?;
        let cols = 5 + self.num_classes;
        let rows = rows_for(input_w, input_h);
        check_len(o, rows, cols)?;
        let mut row = o.data.chunks_exact(cols);
        for stride in STRIDES {
            let (gw, gh) = (input_w / stride, input_h / stride);
            let s = stride as f32;
            for gy in 0..gh {
                for gx in 0..gw {
                    let r = row.next().expect("length checked above");
                    // score = obj * cls <= obj: most rows stop here.
                    if r[4] < threshold {
                        continue;
                    }
                    let (class_id, cls) = argmax(&r[5..]);
                    let score = r[4] * cls;
                    if score < threshold {
                        continue;
                    }
                    let cx = (r[0] + gx as f32) * s;
                    let cy = (r[1] + gy as f32) * s;
                    let w = r[2].exp() * s;
                    let h = r[3].exp() * s;
                    out.push(Detection {
                        bbox: BBox::from_center(cx, cy, w, h),
                        score,
                        class_id: class_id as u32,
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_grid_offsets_per_stride() {
        // 64x32 input: 8x4 + 4x2 + 2x1 = 42 rows, 2 classes.
        let (w, h) = (64, 32);
        assert_eq!(rows_for(w, h), 42);
        let mut data = vec![0.0f32; 42 * 7];
        // Stride 8, cell (x=3, y=1): row 1*8+3 = 11.
        data[11 * 7..12 * 7].copy_from_slice(&[0.5, 0.5, 0.0, 1.0f32.ln(), 0.9, 0.1, 0.8]);
        // Stride 16, cell (x=1, y=0): row 32 + 1 = 33, low objectness.
        data[33 * 7..34 * 7].copy_from_slice(&[0.0, 0.0, 0.0, 0.0, 0.2, 1.0, 0.0]);
        // Stride 32, cell (x=1, y=0): row 40 + 1 = 41.
        data[41 * 7..42 * 7].copy_from_slice(&[0.0, 0.5, 2.0f32.ln(), 0.0, 1.0, 0.7, 0.0]);
        let shape = [1, 42, 7];
        let outputs = [Output {
            name: "output",
            shape: &shape,
            data: &data,
        }];
        let mut dets = Vec::new();
        Yolox { num_classes: 2 }
            .decode(&outputs, w, h, 0.25, &mut dets)
            .unwrap();
        assert_eq!(dets.len(), 2);
        // (3.5*8, 1.5*8) centre, 8x8 box, score 0.9*0.8, class 1.
        assert_eq!(dets[0].bbox, BBox::from_center(28.0, 12.0, 8.0, 8.0));
        assert!((dets[0].score - 0.72).abs() < 1e-6);
        assert_eq!(dets[0].class_id, 1);
        // (1*32, 0.5*32) centre, 64x32 box.
        assert_eq!(dets[1].bbox, BBox::from_center(32.0, 16.0, 64.0, 32.0));
        assert_eq!(dets[1].class_id, 0);
    }

    #[test]
    fn wrong_size_is_an_error() {
        let data = vec![0.0f32; 10];
        let shape = [1, 2, 5];
        let outputs = [Output {
            name: "output",
            shape: &shape,
            data: &data,
        }];
        let err = Yolox { num_classes: 80 }
            .decode(&outputs, 416, 416, 0.25, &mut Vec::new())
            .unwrap_err();
        assert!(err.0.contains("3549"), "{err}");
    }
}
