//! Greedy non-maximum suppression.

use crate::detect::Detection;

/// Keeps the best-scored boxes, dropping any box that overlaps a kept box of
/// the same class by more than `iou_threshold` (class-aware NMS). Returns at
/// most `max_detections` boxes, best first.
pub fn nms(detections: &mut Vec<Detection>, iou_threshold: f32, max_detections: usize) {
    detections.sort_unstable_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept = 0;
    for i in 0..detections.len() {
        if kept == max_detections {
            break;
        }
        let candidate = detections[i];
        let suppressed = detections[..kept].iter().any(|k| {
            k.class_id == candidate.class_id && k.bbox.iou(&candidate.bbox) > iou_threshold
        });
        if !suppressed {
            detections[kept] = candidate;
            kept += 1;
        }
    }
    detections.truncate(kept);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bbox::BBox;

    fn det(x: f32, score: f32, class_id: u32) -> Detection {
        Detection {
            bbox: BBox::new(x, 0.0, 10.0, 10.0),
            score,
            class_id,
        }
    }

    #[test]
    fn suppresses_overlaps_of_the_same_class_only() {
        let mut d = vec![
            det(1.0, 0.6, 0), // IoU with the first is 9/11 = 0.82: suppressed
            det(0.0, 0.9, 0),
            det(0.5, 0.7, 1),  // other class: kept
            det(50.0, 0.3, 0), // far away: kept
        ];
        nms(&mut d, 0.45, 100);
        let scores: Vec<f32> = d.iter().map(|d| d.score).collect();
        assert_eq!(scores, vec![0.9, 0.7, 0.3]);
    }

    #[test]
    fn threshold_is_strict_and_cap_applies() {
        // IoU of x=0 and x=5 is 50/150 = 1/3.
        let mut d = vec![det(0.0, 0.9, 0), det(5.0, 0.8, 0)];
        nms(&mut d, 1.0 / 3.0, 100);
        assert_eq!(d.len(), 2, "IoU equal to the threshold is kept");
        let mut d: Vec<Detection> = (0..10).map(|i| det(i as f32 * 20.0, 0.5, 0)).collect();
        nms(&mut d, 0.45, 3);
        assert_eq!(d.len(), 3);
    }
}
