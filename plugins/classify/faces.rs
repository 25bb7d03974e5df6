//! Faces for the classifiers that read them: the upper part of each person
//! box searched with CenterFace in one batch per frame, the best face of each
//! written into the metadata (so a later face classifier reuses it), and the
//! aligned chip each classifier crops from its eyes.

use std::path::Path;
use std::sync::Arc;

use cctv::bbox::BBox;
use cctv::detect::{InputSpec, Output};
use cctv::face::{self, CenterFace, Face};
use cctv::letterbox::Fit;
use cctv::meta::Object;
use cctv::preprocess::{Affine, Region, TensorFormat};

use crate::inference::{Error, Model, Stage};

/// Side of the square the upper part of a person box is scaled to for the
/// face detector: a multiple of CenterFace's stride of 32, large enough
/// that a face a third of the box wide spans 32 input pixels.
const FACE_INPUT: u32 = 96;
/// CenterFace heatmap peak for a face, and overlap of duplicate faces.
const FACE_THRESHOLD: f32 = 0.5;
const FACE_NMS_IOU: f32 = 0.3;
/// A person box narrower than this many face widths cannot show a face of
/// the smallest size classified (a face is about a third to a half of
/// shoulder width), so it is not searched.
const BOX_WIDTH_IN_FACES: f32 = 2.0;

/// What the face search did, for the statistics.
#[derive(Debug, Default, Clone, Copy)]
pub struct FaceCounts {
    /// Person boxes searched for a face.
    pub searches: u64,
    pub found: u64,
    /// Faces found (or reused) but narrower than the smallest classified.
    pub too_small: u64,
    /// Objects whose face an element upstream had looked for already.
    pub reused: u64,
}

pub struct FaceFinder {
    pub stage: Stage,
    pub counts: FaceCounts,
    /// This frame's searches: object and the region searched.
    searches: Vec<(usize, Region)>,
    candidates: Vec<Face>,
}

impl FaceFinder {
    /// The CenterFace model of `path`: four outputs and an input whose
    /// height and width are free (or already `FACE_INPUT`).
    pub fn new(path: &Path, model: Arc<Model>) -> Result<FaceFinder, Error> {
        let not_centerface = |why: String| {
            Error::Unfit(format!(
                "{} is not a usable CenterFace face detector: {why}",
                path.display()
            ))
        };
        let mut channels: Vec<i64> = model
            .outputs
            .iter()
            .map(|o| match o.shape.as_slice() {
                [_, c, _, _] => *c,
                _ => 0,
            })
            .collect();
        channels.sort_unstable();
        if channels != [1, 2, 2, 10] {
            return Err(not_centerface(format!(
                "outputs {:?}, expected [N,1,h,w], [N,2,h,w] x2 and [N,10,h,w]",
                model.outputs.iter().map(|o| &o.shape).collect::<Vec<_>>()
            )));
        }
        let mut input =
            InputSpec::from_model(&model.inputs).map_err(|e| not_centerface(e.to_string()))?;
        let shape = &model.inputs[0].shape;
        let fixed = |d: i64| d > 0 && d != FACE_INPUT as i64;
        if !input.planar
            || shape.len() != 4
            || fixed(shape[0]) && shape[0] != 1
            || fixed(shape[2])
            || fixed(shape[3])
        {
            return Err(not_centerface(format!(
                "its input is declared {shape:?}; it needs a free batch and size \
                 (scripts/onnx-set-dims frees them, as scripts/fetch-assets does)"
            )));
        }
        input.width = FACE_INPUT;
        input.height = FACE_INPUT;
        // CenterFace takes raw RGB bytes.
        let format = TensorFormat {
            planar: true,
            bgr: false,
            scale: 1.0,
            mean: [0.0; 3],
            std: [1.0; 3],
            pad: 0,
        };
        Ok(FaceFinder {
            stage: Stage::new(path, model, input, Fit::Stretch, format),
            counts: FaceCounts::default(),
            searches: Vec::new(),
            candidates: Vec::new(),
        })
    }

    /// Gives each object of `due` its face: the one found upstream, else the
    /// best face in the upper part of its box, searched in one run for all.
    /// Boxes too narrow for a face of `min_face` pixels are not searched.
    pub fn find(
        &mut self,
        objects: &mut [Object],
        due: &[usize],
        buf: &gst::BufferRef,
        (width, height): (u32, u32),
        min_face: u32,
    ) -> Result<(), Error> {
        self.searches.clear();
        for &i in due {
            let o = &objects[i];
            if o.face_searched {
                self.counts.reused += 1;
            } else if let Some(region) = search_region(&o.bbox, width, height, min_face) {
                self.searches.push((i, region));
            }
        }
        if self.searches.is_empty() {
            return Ok(());
        }
        // Where the regions start once aligned to the chroma planes.
        let format = self.stage.video()?.format();
        for (_, region) in &mut self.searches {
            *region = region.aligned(format);
        }
        let (searches, candidates) = (&self.searches, &mut self.candidates);
        self.stage.tensor.set_batch(searches.len());
        let found = self.stage.run(
            |video, tensor| {
                for (item, &(_, region)) in searches.iter().enumerate() {
                    video.pack_region(buf, region, tensor, item)?;
                }
                Ok(())
            },
            |outputs: &[Output<'_>]| {
                let heads = CenterFace::from_outputs(outputs)?;
                let mut found = 0;
                for (item, &(i, region)) in searches.iter().enumerate() {
                    candidates.clear();
                    heads.decode(item, FACE_THRESHOLD, FACE_INPUT, FACE_INPUT, candidates);
                    face::nms_faces(candidates, FACE_NMS_IOU);
                    let o = &mut objects[i];
                    o.face_searched = true;
                    o.face = candidates.first().map(|best| to_frame(best, region));
                    found += o.face.is_some() as u64;
                }
                Ok(found)
            },
        )?;
        self.counts.searches += self.searches.len() as u64;
        self.counts.found += found;
        Ok(())
    }

    /// Hands `chip` the aligned chip (`size` pixels square) of each face of
    /// `due` at least `min_face` pixels wide, with its object.
    pub fn chips(
        &mut self,
        objects: &[Object],
        due: &[usize],
        size: u32,
        min_face: u32,
        mut chip: impl FnMut(usize, Affine),
    ) {
        for &i in due {
            let Some(face) = &objects[i].face else {
                continue;
            };
            if face.bbox.w < min_face as f32 {
                self.counts.too_small += 1;
                continue;
            }
            // Eyes that coincide (a degenerate face) give no chip.
            if let Some(map) = face::face_chip(
                face.landmarks[0],
                face.landmarks[1],
                size,
                face::DLIB_PADDING,
            ) {
                chip(i, map);
            }
        }
    }
}

/// A face found in the `FACE_INPUT` square that `region` was scaled to, in
/// frame pixels.
fn to_frame(face: &Face, region: Region) -> Face {
    let (sx, sy) = (
        region.w as f32 / FACE_INPUT as f32,
        region.h as f32 / FACE_INPUT as f32,
    );
    let point = |(x, y): (f32, f32)| (region.x as f32 + x * sx, region.y as f32 + y * sy);
    let (x, y) = point((face.bbox.x, face.bbox.y));
    Face {
        bbox: BBox::new(x, y, face.bbox.w * sx, face.bbox.h * sy),
        score: face.score,
        landmarks: face.landmarks.map(point),
    }
}

/// The upper part of a person box where the face is searched: a square as
/// wide as the box from its top (shorter if the box is), inside the frame;
/// `None` when the box cannot show a face of `min_face` pixels.
fn search_region(bbox: &BBox, width: u32, height: u32, min_face: u32) -> Option<Region> {
    let b = bbox.clamp_to(width as f32, height as f32);
    if !(b.w >= min_face as f32 * BOX_WIDTH_IN_FACES && b.w >= 4.0 && b.h >= 4.0) {
        return None;
    }
    let x = b.x.floor().max(0.0) as u32;
    let y = b.y.floor().max(0.0) as u32;
    let x2 = (b.x2().ceil() as u32).min(width);
    let w = x2.saturating_sub(x);
    let h = w.min((b.y2().ceil() as u32).min(height).saturating_sub(y));
    (w >= 4 && h >= 4).then_some(Region { x, y, w, h })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_regions_are_the_top_square_inside_the_frame() {
        let r = search_region(&BBox::new(100.0, 50.0, 60.0, 150.0), 640, 480, 20).unwrap();
        assert_eq!(
            r,
            Region {
                x: 100,
                y: 50,
                w: 60,
                h: 60
            }
        );
        // Partly off the frame: clipped.
        let r = search_region(&BBox::new(-20.0, -10.0, 80.0, 30.0), 640, 480, 20).unwrap();
        assert_eq!(
            r,
            Region {
                x: 0,
                y: 0,
                w: 60,
                h: 20
            }
        );
        // Too narrow for a 20 px face, wholly outside, or degenerate: no search.
        assert!(search_region(&BBox::new(10.0, 10.0, 30.0, 90.0), 640, 480, 20).is_none());
        assert!(search_region(&BBox::new(700.0, 10.0, 80.0, 90.0), 640, 480, 20).is_none());
        assert!(search_region(&BBox::new(10.0, 10.0, f32::NAN, 90.0), 640, 480, 1).is_none());
    }

    #[test]
    fn faces_map_back_to_the_frame() {
        let face = Face {
            bbox: BBox::new(48.0, 24.0, 24.0, 48.0),
            score: 0.9,
            landmarks: [(54.0, 36.0); 5],
        };
        // A 192x96 region at (100, 10): twice as wide, as high as the input.
        let region = Region {
            x: 100,
            y: 10,
            w: 192,
            h: 96,
        };
        let f = to_frame(&face, region);
        assert_eq!(f.bbox, BBox::new(196.0, 34.0, 48.0, 48.0));
        assert_eq!(f.landmarks[3], (208.0, 46.0));
    }
}
