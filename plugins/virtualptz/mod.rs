//! `virtualptz`: a simulated ONVIF PTZ camera that crops a wide scene, for
//! trying and testing `ptzservo` without hardware.

use gst::glib;
use gst::prelude::*;

mod imp;
mod service;

glib::wrapper! {
    pub struct VirtualPtz(ObjectSubclass<imp::VirtualPtz>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "virtualptz",
        gst::Rank::NONE,
        VirtualPtz::static_type(),
    )
}
