//! `gendercls`: finds the face of each (tracked) person, classifies it with
//! an ONNX gender model and attaches the per-track vote as the `gender`
//! attribute of the object in [`cctv::meta::Frame`] metadata.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct GenderCls(ObjectSubclass<imp::GenderCls>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

/// Registers the element, and the types of its enum and flags properties
/// as plugin API so that documentation tools describe them.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    crate::inference::ExecutionProvider::static_type()
        .mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "gendercls",
        gst::Rank::NONE,
        GenderCls::static_type(),
    )
}
