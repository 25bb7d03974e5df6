//! `pgsink`: stores tracks, enter/exit events and sampled detections in PostgreSQL.

use gst::glib;
use gst::prelude::*;

mod imp;
mod schema;
mod tls;
mod writer;

glib::wrapper! {
    pub struct PgSink(ObjectSubclass<imp::PgSink>) @extends crate::net::NetSink, gst_base::BaseSink, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    crate::net::NetSink::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "pgsink",
        gst::Rank::NONE,
        PgSink::static_type(),
    )
}
