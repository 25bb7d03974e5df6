//! How an element learns the labels of the model whose objects it gets, so
//! that its `classes` property ([`cctv::labels::ClassFilter`]) is checked
//! against them: a detector answers the custom upstream query
//! [`LABELS_QUERY`] with its labels, and `queue`, `tee` and the like pass
//! the query on.

use gst::prelude::*;

pub const LABELS_QUERY: &str = "cctv/labels";

/// Answers a labels query with `labels`; false for any other query.
pub fn answer(query: &mut gst::QueryRef, labels: &[String]) -> bool {
    let gst::QueryViewMut::Custom(q) = query.view_mut() else {
        return false;
    };
    if q.structure().is_none_or(|s| s.name() != LABELS_QUERY) {
        return false;
    }
    let values = labels.iter().map(|l| l.to_send_value());
    q.structure_mut()
        .set("labels", gst::Array::from_values(values));
    true
}

/// The labels of the model upstream of `pad`; `None` when nothing
/// upstream answers (objects from elsewhere, a test harness).
pub fn ask(pad: &gst::Pad) -> Option<Vec<String>> {
    let mut query = gst::query::Custom::new(gst::Structure::new_empty(LABELS_QUERY));
    if !pad.peer_query(&mut query) {
        return None;
    }
    let labels = query.structure()?.get::<gst::Array>("labels").ok()?;
    Some(
        labels
            .iter()
            .filter_map(|v| v.get::<String>().ok())
            .collect(),
    )
}
