//! `liveview`: one camera's annotated picture in the browser, served by the
//! process's exporter (see `crate::metrics`).

use gst::glib;
use gst::prelude::*;

mod imp;
mod webrtc;

glib::wrapper! {
    pub struct LiveView(ObjectSubclass<imp::LiveView>) @extends gst::Bin, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "liveview",
        gst::Rank::NONE,
        LiveView::static_type(),
    )
}
