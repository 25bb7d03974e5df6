//! `bytetrack`: ByteTrack multi-object tracking on the objects metadata.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct ByteTrack(ObjectSubclass<imp::ByteTrack>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "bytetrack",
        gst::Rank::NONE,
        ByteTrack::static_type(),
    )
}
