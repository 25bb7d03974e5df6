//! End-to-end exports with NMS in the graph.
//!
//! `[N, 6]` / `[1, N, 6]`: x1, y1, x2, y2, score, class (YOLOv10, Ultralytics `nms=True`).
//! `[N, 7]`: batch, x1, y1, x2, y2, class, score (YOLOv7 `--end2end`, EfficientNMS).

use super::{DecodeError, Decoder, Detection, Output, check_len, output};
use crate::bbox::BBox;

pub struct End2End6;

impl Decoder for End2End6 {
    fn decode(
        &self,
        outputs: &[Output<'_>],
        _input_w: u32,
        _input_h: u32,
        threshold: f32,
        out: &mut Vec<Detection>,
    ) -> Result<(), DecodeError> {
        let o = output(outputs, "output")?;
        check_len(o, o.data.len() / 6, 6)?;
        for r in o.data.chunks_exact(6) {
            if r[4] >= threshold && r[5] >= 0.0 {
                out.push(Detection {
                    bbox: BBox::from_corners(r[0], r[1], r[2], r[3]),
                    score: r[4],
                    class_id: r[5] as u32,
                });
            }
        }
        Ok(())
    }

    fn needs_nms(&self) -> bool {
        false
    }
}

pub struct End2End7;

impl Decoder for End2End7 {
    fn decode(
        &self,
        outputs: &[Output<'_>],
        _input_w: u32,
        _input_h: u32,
        threshold: f32,
        out: &mut Vec<Detection>,
    ) -> Result<(), DecodeError> {
        let o = output(outputs, "output")?;
        check_len(o, o.data.len() / 7, 7)?;
        for r in o.data.chunks_exact(7) {
            if r[0] == 0.0 && r[6] >= threshold && r[5] >= 0.0 {
                out.push(Detection {
                    bbox: BBox::from_corners(r[1], r[2], r[3], r[4]),
                    score: r[6],
                    class_id: r[5] as u32,
                });
            }
        }
        Ok(())
    }

    fn needs_nms(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_and_seven_column_rows() {
        let six = [1.0, 2.0, 11.0, 22.0, 0.8, 2.0, 0.0, 0.0, 5.0, 5.0, 0.1, 0.0];
        let mut dets = Vec::new();
        let outputs = [Output {
            name: "output",
            shape: &[1, 2, 6],
            data: &six,
        }];
        End2End6.decode(&outputs, 64, 64, 0.25, &mut dets).unwrap();
        assert_eq!(dets.len(), 1);
        assert_eq!(dets[0].bbox, BBox::new(1.0, 2.0, 10.0, 20.0));
        assert_eq!(dets[0].class_id, 2);

        let seven = [
            0.0, 1.0, 2.0, 11.0, 22.0, 1.0, 0.7, 1.0, 1.0, 2.0, 11.0, 22.0, 1.0, 0.9,
        ];
        let outputs = [Output {
            name: "output",
            shape: &[2, 7],
            data: &seven,
        }];
        let mut dets = Vec::new();
        End2End7.decode(&outputs, 64, 64, 0.25, &mut dets).unwrap();
        assert_eq!(dets.len(), 1, "rows of other batch entries are ignored");
        assert_eq!((dets[0].class_id, dets[0].score), (1, 0.7));
    }
}
