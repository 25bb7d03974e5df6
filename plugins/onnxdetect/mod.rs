//! `onnxdetect`: runs an ONNX object detector on video frames and attaches
//! the detections as [`cctv::meta::Frame`] metadata.

use gst::glib;
use gst::prelude::*;

mod imp;

pub use imp::ModelType;

glib::wrapper! {
    pub struct OnnxDetect(ObjectSubclass<imp::OnnxDetect>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "onnxdetect",
        gst::Rank::NONE,
        OnnxDetect::static_type(),
    )
}
