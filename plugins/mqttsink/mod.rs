//! `mqttsink`: publishes detections, track life-cycle events and summaries
//! as JSON messages to an MQTT broker.

use gst::glib;
use gst::prelude::*;

mod client;
mod imp;

glib::wrapper! {
    pub struct MqttSink(ObjectSubclass<imp::MqttSink>) @extends crate::net::NetSink, gst_base::BaseSink, gst::Element, gst::Object;
}

/// Registers the element, and the types of its enum and flags properties
/// as plugin API so that documentation tools describe them.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    crate::net::NetSink::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    imp::Messages::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "mqttsink",
        gst::Rank::NONE,
        MqttSink::static_type(),
    )
}
