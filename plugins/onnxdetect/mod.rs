//! `onnxdetect`: runs an ONNX object detector on video frames and attaches
//! the detections as [`cctv::meta::Frame`] metadata.

use gst::glib;
use gst::prelude::*;

mod imp;

pub use imp::ModelType;

glib::wrapper! {
    pub struct OnnxDetect(ObjectSubclass<imp::OnnxDetect>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

/// Registers the element, and the types of its enum and flags properties
/// as plugin API so that documentation tools describe them.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    imp::ModelType::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    crate::inference::ExecutionProvider::static_type()
        .mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "onnxdetect",
        gst::Rank::NONE,
        OnnxDetect::static_type(),
    )
}
