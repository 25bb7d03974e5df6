//! What an element learns from upstream through custom queries that
//! `queue`, `tee` and transforms pass on: a detector answers
//! [`LABELS_QUERY`] with its model's labels (so a `classes` property,
//! [`cctv::labels::ClassFilter`], is checked against them), a camera source
//! answers [`CAMERA_QUERY`] with its camera id (so a sink's own `camera-id`
//! is optional).

use gst::prelude::*;

pub const LABELS_QUERY: &str = "cctv/labels";
pub const CAMERA_QUERY: &str = "cctv/camera";

/// Fills `query` if it is the custom query `name`; false for any other.
fn answer(
    query: &mut gst::QueryRef,
    name: &str,
    fill: impl FnOnce(&mut gst::StructureRef),
) -> bool {
    let gst::QueryViewMut::Custom(q) = query.view_mut() else {
        return false;
    };
    if q.structure().is_none_or(|s| s.name() != name) {
        return false;
    }
    fill(q.structure_mut());
    true
}

/// The answer upstream of `pad` gave to the custom query `name`.
fn ask(pad: &gst::Pad, name: &str) -> Option<gst::Structure> {
    let mut query = gst::query::Custom::new(gst::Structure::new_empty(name));
    if !pad.peer_query(&mut query) {
        return None;
    }
    query.structure().map(|s| s.to_owned())
}

/// Answers a labels query with `labels`; false for any other query.
pub fn answer_labels(query: &mut gst::QueryRef, labels: &[String]) -> bool {
    answer(query, LABELS_QUERY, |s| {
        let values = labels.iter().map(|l| l.to_send_value());
        s.set("labels", gst::Array::from_values(values));
    })
}

/// The labels of the model upstream of `pad`; `None` when nothing
/// upstream answers (objects from elsewhere, a test harness).
pub fn ask_labels(pad: &gst::Pad) -> Option<Vec<String>> {
    let labels = ask(pad, LABELS_QUERY)?.get::<gst::Array>("labels").ok()?;
    Some(
        labels
            .iter()
            .filter_map(|v| v.get::<String>().ok())
            .collect(),
    )
}

/// Answers a camera query with `camera`; false for any other query.
pub fn answer_camera(query: &mut gst::QueryRef, camera: &str) -> bool {
    answer(query, CAMERA_QUERY, |s| s.set("camera", camera))
}

/// The id of the camera upstream of `pad`, if a camera source is there.
pub fn ask_camera(pad: &gst::Pad) -> Option<String> {
    ask(pad, CAMERA_QUERY)?.get::<String>("camera").ok()
}

/// What a sink calls its camera when neither its `camera-id` nor a camera
/// source upstream names it.
pub const DEFAULT_CAMERA: &str = "camera";

/// A sink's camera: its own `camera-id` if set, else the id of the camera
/// source upstream of `pad`, else [`DEFAULT_CAMERA`].
pub fn camera_id(configured: &str, pad: &gst::Pad) -> String {
    if !configured.is_empty() {
        return configured.to_owned();
    }
    ask_camera(pad).unwrap_or_else(|| DEFAULT_CAMERA.to_owned())
}
