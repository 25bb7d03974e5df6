//! `cctvoverlay`: draws the objects metadata onto the video.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct CctvOverlay(ObjectSubclass<imp::CctvOverlay>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "cctvoverlay",
        gst::Rank::NONE,
        CctvOverlay::static_type(),
    )
}
