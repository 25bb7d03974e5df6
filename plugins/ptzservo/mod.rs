//! `ptzservo`: keeps a tracked object centred with an ONVIF PTZ camera.
//! The control loops are in `cctv::ptz`; `camera` delivers the commands.

use gst::glib;
use gst::prelude::*;

mod camera;
mod imp;

glib::wrapper! {
    pub struct PtzServo(ObjectSubclass<imp::PtzServo>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

/// Registers the element, and the types of its enum and flags properties
/// as plugin API so that documentation tools describe them.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    imp::PresetKind::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    imp::PolicyKind::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "ptzservo",
        gst::Rank::NONE,
        PtzServo::static_type(),
    )
}
