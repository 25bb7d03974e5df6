//! CenterFace (Xu et al., 2019) output decoding: an anchor-free face
//! detector on a stride-4 grid with four outputs per image: a face-centre
//! heatmap `[N,1,h,w]`, log box sizes `[N,2,h,w]` (height, width), sub-cell
//! centre offsets `[N,2,h,w]` (y, x) and five landmarks `[N,10,h,w]` (y, x
//! pairs relative to the box, in units of its size). Landmarks are the eye
//! on the image's left, the other eye, the nose tip and the two mouth
//! corners, left first.

use crate::bbox::BBox;
use crate::detect::{DecodeError, Output};

/// Grid stride of every output, in input pixels.
const STRIDE: f32 = 4.0;

/// One face, in input-tensor pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Face {
    pub bbox: BBox,
    pub score: f32,
    /// Left eye, right eye (as seen in the image), nose, mouth left, mouth right.
    pub landmarks: [(f32, f32); 5],
}

/// The four outputs of one run, checked against each other.
#[derive(Debug, Clone, Copy)]
pub struct CenterFace<'a> {
    heatmap: &'a [f32],
    scale: &'a [f32],
    offset: &'a [f32],
    landmarks: &'a [f32],
    batch: usize,
    h: usize,
    w: usize,
}

impl<'a> CenterFace<'a> {
    /// Finds the outputs by their channel counts: 1 is the heatmap, 10 the
    /// landmarks, and of the two with 2 channels the first is the size and
    /// the second the offset, as CenterFace exports them.
    pub fn from_outputs(outputs: &[Output<'a>]) -> Result<CenterFace<'a>, DecodeError> {
        let channels = |o: &Output<'_>| match o.shape {
            [_, c, _, _] => Some(*c),
            _ => None,
        };
        let with = |c: i64| outputs.iter().filter(move |o| channels(o) == Some(c));
        let (Some(heatmap), Some(landmarks)) = (with(1).next(), with(10).next()) else {
            return Err(DecodeError(format!(
                "not a CenterFace model: expected outputs [N,1,h,w], [N,2,h,w] x2 and [N,10,h,w], got {:?}",
                outputs.iter().map(|o| o.shape).collect::<Vec<_>>()
            )));
        };
        let mut pairs = with(2);
        let (Some(scale), Some(offset)) = (pairs.next(), pairs.next()) else {
            return Err(DecodeError(
                "not a CenterFace model: it lacks the two [N,2,h,w] size and offset outputs".into(),
            ));
        };
        let [n, _, h, w] = *heatmap.shape else {
            unreachable!("matched a 4-d shape above")
        };
        let (batch, h, w) = (n.max(0) as usize, h.max(0) as usize, w.max(0) as usize);
        for (o, c) in [(heatmap, 1), (scale, 2), (offset, 2), (landmarks, 10)] {
            if o.shape[0] as usize != batch
                || o.shape[2] as usize != h
                || o.shape[3] as usize != w
                || o.data.len() != batch * c * h * w
            {
                return Err(DecodeError(format!(
                    "CenterFace output {} {:?} does not match the heatmap {:?}",
                    o.name, o.shape, heatmap.shape
                )));
            }
        }
        Ok(CenterFace {
            heatmap: heatmap.data,
            scale: scale.data,
            offset: offset.data,
            landmarks: landmarks.data,
            batch,
            h,
            w,
        })
    }

    /// Images in the batch.
    pub fn len(&self) -> usize {
        self.batch
    }

    pub fn is_empty(&self) -> bool {
        self.batch == 0
    }

    /// Appends the faces of image `item` whose heatmap peak reaches
    /// `threshold`, before NMS ([`nms_faces`]), in pixels of an input
    /// `input_w` x `input_h`.
    pub fn decode(
        &self,
        item: usize,
        threshold: f32,
        input_w: u32,
        input_h: u32,
        out: &mut Vec<Face>,
    ) {
        if item >= self.batch {
            return;
        }
        let plane = self.h * self.w;
        let channel = |data: &'a [f32], channels: usize, c: usize| {
            let start = (item * channels + c) * plane;
            &data[start..start + plane]
        };
        let heat = channel(self.heatmap, 1, 0);
        let (fw, fh) = (input_w as f32, input_h as f32);
        for (i, &score) in heat.iter().enumerate() {
            // NaN scores are no faces either.
            if score.partial_cmp(&threshold).is_none_or(|o| o.is_lt()) {
                continue;
            }
            let (row, col) = ((i / self.w) as f32, (i % self.w) as f32);
            let h = channel(self.scale, 2, 0)[i].exp() * STRIDE;
            let w = channel(self.scale, 2, 1)[i].exp() * STRIDE;
            let cy = (row + channel(self.offset, 2, 0)[i] + 0.5) * STRIDE;
            let cx = (col + channel(self.offset, 2, 1)[i] + 0.5) * STRIDE;
            let (x1, y1) = ((cx - w / 2.0).clamp(0.0, fw), (cy - h / 2.0).clamp(0.0, fh));
            let (x2, y2) = ((x1 + w).min(fw), (y1 + h).min(fh));
            if !(x2 > x1 && y2 > y1) {
                continue;
            }
            let landmarks = std::array::from_fn(|j| {
                (
                    channel(self.landmarks, 10, 2 * j + 1)[i] * w + x1,
                    channel(self.landmarks, 10, 2 * j)[i] * h + y1,
                )
            });
            out.push(Face {
                bbox: BBox::from_corners(x1, y1, x2, y2),
                score,
                landmarks,
            });
        }
    }
}

/// Greedy NMS: keeps the best faces, dropping any overlapping a kept one by
/// more than `iou_threshold`; best first.
pub fn nms_faces(faces: &mut Vec<Face>, iou_threshold: f32) {
    faces.sort_unstable_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept = 0;
    for i in 0..faces.len() {
        let candidate = faces[i];
        if !faces[..kept]
            .iter()
            .any(|k| k.bbox.iou(&candidate.bbox) > iou_threshold)
        {
            faces[kept] = candidate;
            kept += 1;
        }
    }
    faces.truncate(kept);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Outputs of a 2-image batch on a 2x3 grid (8x12 input) with one face
    /// peak per image, at known cells.
    struct Synthetic {
        heat: Vec<f32>,
        scale: Vec<f32>,
        offset: Vec<f32>,
        lms: Vec<f32>,
    }

    fn synthetic() -> Synthetic {
        let (n, h, w) = (2, 2, 3);
        let plane = h * w;
        let mut s = Synthetic {
            heat: vec![0.0; n * plane],
            scale: vec![0.0; n * 2 * plane],
            offset: vec![0.0; n * 2 * plane],
            lms: vec![0.0; n * 10 * plane],
        };
        // Image 1, cell (row 1, col 2): a 8 high x 4 wide box centred at
        // ((2 + 0.25 + 0.5) * 4, (1 + 0.5 + 0.5) * 4) = (11, 8).
        let i = plane + 5;
        s.heat[i] = 0.9;
        s.scale[2 * plane + 5] = 2.0f32.ln();
        s.scale[3 * plane + 5] = 0.0;
        s.offset[2 * plane + 5] = 0.5;
        s.offset[3 * plane + 5] = 0.25;
        // Landmark 0 at (0.25, 0.5) of the box: x = 9 + 1, y = 4 + 4.
        s.lms[10 * plane + 5] = 0.5;
        s.lms[11 * plane + 5] = 0.25;
        s
    }

    fn outputs(s: &Synthetic) -> [Output<'_>; 4] {
        [
            Output {
                name: "537",
                shape: &[2, 1, 2, 3],
                data: &s.heat,
            },
            Output {
                name: "538",
                shape: &[2, 2, 2, 3],
                data: &s.scale,
            },
            Output {
                name: "539",
                shape: &[2, 2, 2, 3],
                data: &s.offset,
            },
            Output {
                name: "540",
                shape: &[2, 10, 2, 3],
                data: &s.lms,
            },
        ]
    }

    #[test]
    fn decodes_box_and_landmarks_of_each_batch_item() {
        let s = synthetic();
        let o = outputs(&s);
        let cf = CenterFace::from_outputs(&o).unwrap();
        assert_eq!(cf.len(), 2);
        let mut faces = Vec::new();
        cf.decode(0, 0.5, 12, 8, &mut faces);
        assert!(faces.is_empty());
        cf.decode(1, 0.5, 12, 8, &mut faces);
        assert_eq!(faces.len(), 1);
        let f = faces[0];
        assert_eq!(f.score, 0.9);
        // Centre (11, 8), 4 x 8: x 9..13 clipped to 12, y 4..12 clipped to 8.
        assert!((f.bbox.x - 9.0).abs() < 1e-5, "{f:?}");
        assert!((f.bbox.y - 4.0).abs() < 1e-5, "{f:?}");
        assert!((f.bbox.w - 3.0).abs() < 1e-5, "{f:?}");
        assert!((f.bbox.h - 4.0).abs() < 1e-5, "{f:?}");
        // Landmarks scale by the unclipped size.
        assert!((f.landmarks[0].0 - 10.0).abs() < 1e-5, "{f:?}");
        assert!((f.landmarks[0].1 - 8.0).abs() < 1e-5, "{f:?}");
        // Out-of-range items decode to nothing rather than panicking.
        cf.decode(7, 0.5, 12, 8, &mut faces);
        assert_eq!(faces.len(), 1);
    }

    #[test]
    fn mismatched_or_missing_outputs_are_errors() {
        let s = synthetic();
        let o = outputs(&s);
        assert!(CenterFace::from_outputs(&o[..3]).is_err());
        let mut short = o;
        short[3].data = &s.lms[..10];
        assert!(CenterFace::from_outputs(&short).is_err());
        let classifier = [Output {
            name: "probabilities",
            shape: &[1, 2],
            data: &[0.5, 0.5],
        }];
        assert!(CenterFace::from_outputs(&classifier).is_err());
    }

    #[test]
    fn nms_keeps_the_best_of_overlapping_faces() {
        let face = |x: f32, score: f32| Face {
            bbox: BBox::new(x, 0.0, 10.0, 10.0),
            score,
            landmarks: [(0.0, 0.0); 5],
        };
        let mut faces = vec![face(0.0, 0.6), face(1.0, 0.9), face(30.0, 0.7)];
        nms_faces(&mut faces, 0.3);
        assert_eq!(
            faces.iter().map(|f| f.score).collect::<Vec<_>>(),
            [0.9, 0.7]
        );
    }
}
