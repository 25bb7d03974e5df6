//! TensorFlow Object Detection API exports: NMS in the graph, four outputs
//! `num_detections [1]`, `detection_boxes [1, K, 4]` (ymin, xmin, ymax, xmax,
//! normalised), `detection_scores [1, K]`, `detection_classes [1, K]`
//! (1-based COCO category ids, reported 0-based here).

use super::{DecodeError, Decoder, Detection, Output, output};
use crate::bbox::BBox;

pub struct TfObjectDetection;

impl Decoder for TfObjectDetection {
    fn decode(
        &self,
        outputs: &[Output<'_>],
        input_w: u32,
        input_h: u32,
        threshold: f32,
        out: &mut Vec<Detection>,
    ) -> Result<(), DecodeError> {
        let num = output(outputs, "num_detections")?
            .data
            .first()
            .copied()
            .unwrap_or(0.0);
        let boxes = output(outputs, "detection_boxes")?.data;
        let scores = output(outputs, "detection_scores")?.data;
        let classes = output(outputs, "detection_classes")?.data;
        let k = scores.len().min(classes.len()).min(boxes.len() / 4);
        let n = (num.max(0.0) as usize).min(k);
        let (w, h) = (input_w as f32, input_h as f32);
        for i in 0..n {
            if scores[i] < threshold || classes[i] < 1.0 {
                continue;
            }
            let b = &boxes[i * 4..i * 4 + 4];
            out.push(Detection {
                bbox: BBox::from_corners(b[1] * w, b[0] * h, b[3] * w, b[2] * h),
                score: scores[i],
                class_id: classes[i] as u32 - 1,
            });
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
    fn reads_num_detections_rows_only() {
        let boxes = [0.1, 0.2, 0.5, 0.6, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0];
        let scores = [0.9, 0.1, 0.99];
        let classes = [1.0, 3.0, 1.0];
        let outputs = [
            Output {
                name: "num_detections:0",
                shape: &[1],
                data: &[2.0],
            },
            Output {
                name: "detection_boxes:0",
                shape: &[1, 3, 4],
                data: &boxes,
            },
            Output {
                name: "detection_scores:0",
                shape: &[1, 3],
                data: &scores,
            },
            Output {
                name: "detection_classes:0",
                shape: &[1, 3],
                data: &classes,
            },
        ];
        let mut dets = Vec::new();
        TfObjectDetection
            .decode(&outputs, 100, 200, 0.25, &mut dets)
            .unwrap();
        // Row 2 (score 0.99) is beyond num_detections; row 1 is below threshold.
        assert_eq!(dets.len(), 1);
        assert_eq!(dets[0].class_id, 0);
        let b = dets[0].bbox;
        assert!((b.x - 20.0).abs() < 1e-4 && (b.y - 20.0).abs() < 1e-4);
        assert!((b.w - 40.0).abs() < 1e-4 && (b.h - 80.0).abs() < 1e-4);
    }
}
