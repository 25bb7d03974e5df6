//! `cctvoverlay`: draws the objects metadata onto the video.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct CctvOverlay(ObjectSubclass<imp::CctvOverlay>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

/// Registers the element, and the types of its enum and flags properties
/// as plugin API so that documentation tools describe them.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    imp::ColorByProp::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    imp::StatusTime::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "cctvoverlay",
        gst::Rank::NONE,
        CctvOverlay::static_type(),
    )
}
