//! Mirror of [`Frame`] into upstream's `GstAnalyticsRelationMeta` (cargo
//! feature `analytics`, GStreamer 1.24 or newer), so upstream analytics
//! elements such as `objectdetectionoverlay` understand our objects.
//!
//! Each object becomes an object-detection mtd (type = label quark,
//! rounded box, confidence); a tracked object also gets a tracking mtd and
//! each attribute a one-class classification mtd, both related to the box
//! (`RELATE_TO`). `meta` rebuilds the mirror at every `Frame::attach`; it holds
//! only what our metadata holds, so relation metas added by other elements
//! are replaced.

use gst::glib;
use gst_analytics::prelude::*;
use gst_analytics::{AnalyticsRelationMeta, RelTypes};

use crate::objects::Frame;

/// Replaces the buffer's relation meta with one describing `frame`.
/// `first_seen` of a tracking mtd is the buffer's PTS where it is unknown.
pub fn mirror(frame: &Frame, buffer: &mut gst::BufferRef) -> Result<(), glib::BoolError> {
    if let Some(old) = buffer.meta_mut::<AnalyticsRelationMeta>() {
        old.remove()?;
    }
    let pts = buffer.pts().unwrap_or(gst::ClockTime::ZERO);
    let mut meta = AnalyticsRelationMeta::add(buffer);
    for o in &frame.objects {
        let od = meta
            .add_od_mtd(
                glib::Quark::from_str(&o.label),
                o.bbox.x.round() as i32,
                o.bbox.y.round() as i32,
                o.bbox.w.round() as i32,
                o.bbox.h.round() as i32,
                o.confidence,
            )?
            .id();
        if let Some(id) = o.track_id {
            let track = meta.add_tracking_mtd(id, pts)?.id();
            meta.set_relation(RelTypes::RELATE_TO, od, track)?;
        }
        for a in &o.attributes {
            let class = meta
                .add_one_cls_mtd(a.confidence, glib::Quark::from_str(&a.label))?
                .id();
            meta.set_relation(RelTypes::RELATE_TO, od, class)?;
        }
    }
    Ok(())
}
