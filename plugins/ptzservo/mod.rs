//! `ptzservo`: keeps a tracked object centred with an ONVIF PTZ camera.
//! The control loops are in `cctv::ptz`; `camera` delivers the commands.

use gst::glib;
use gst::prelude::*;

mod camera;
mod imp;

glib::wrapper! {
    pub struct PtzServo(ObjectSubclass<imp::PtzServo>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "ptzservo",
        gst::Rank::NONE,
        PtzServo::static_type(),
    )
}
