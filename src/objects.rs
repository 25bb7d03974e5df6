//! What is known about the objects of one video frame: the plain data that
//! [`crate::meta`] carries on buffers and [`crate::message`] serialises,
//! kept apart from both so that readers and writers of other forms
//! (`analytics`) depend on the data and not on each other.

use serde::{Deserialize, Serialize};

use crate::bbox::BBox;
pub use crate::face::Face;

/// A classifier result on an object (e.g. `gender` = `female`, or `age` =
/// `30-39` with the value 33.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    pub name: String,
    pub label: String,
    pub confidence: f32,
    /// Element that produced the attribute.
    #[serde(default)]
    pub source: String,
    /// A number the label stands for, when the classifier reads one (an age).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f32>,
}

/// One detected (and possibly tracked and classified) object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Object {
    pub bbox: BBox,
    pub class_id: u32,
    pub label: String,
    pub confidence: f32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_id: Option<u64>,
    /// The box comes from the tracker's prediction, not from a detection on this frame.
    #[serde(default)]
    pub predicted: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    /// The object's face, when a face classifier looked for one on this
    /// frame and found it; later face classifiers use it instead of
    /// searching again. In-stream only: messages do not carry it.
    #[serde(skip)]
    pub face: Option<Face>,
    /// A face classifier looked for a face on this frame (found or not).
    #[serde(skip)]
    pub face_searched: bool,
}

impl Object {
    pub fn new(bbox: BBox, class_id: u32, label: impl Into<String>, confidence: f32) -> Self {
        Self {
            bbox,
            class_id,
            label: label.into(),
            confidence,
            track_id: None,
            predicted: false,
            attributes: Vec::new(),
            face: None,
            face_searched: false,
        }
    }

    /// Makes this a new untracked object, reusing its memory (a per-frame
    /// object list can then be refilled without allocating).
    pub fn reset(&mut self, bbox: BBox, class_id: u32, label: &str, confidence: f32) {
        self.bbox = bbox;
        self.class_id = class_id;
        self.label.clear();
        self.label.push_str(label);
        self.confidence = confidence;
        self.track_id = None;
        self.predicted = false;
        self.attributes.clear();
        self.face = None;
        self.face_searched = false;
    }

    /// The attribute called `name`, if a classifier set one.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }
}

/// Everything known about the objects of one video frame.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Frame {
    /// Frame size the boxes refer to.
    pub width: u32,
    pub height: u32,
    /// Element that produced the detections.
    pub source: String,
    /// Model file the detections came from.
    pub model: String,
    /// False when the detector skipped this frame (`interval` > 1).
    pub inferred: bool,
    pub objects: Vec<Object>,
}

impl Frame {
    /// Maps the boxes to a frame of another size (the frame was scaled).
    pub fn rescale(&mut self, width: u32, height: u32) {
        if self.width == 0 || self.height == 0 {
            return;
        }
        let sx = width as f32 / self.width as f32;
        let sy = height as f32 / self.height as f32;
        for o in &mut self.objects {
            o.bbox = o.bbox.scale(sx, sy);
            if let Some(face) = &mut o.face {
                face.bbox = face.bbox.scale(sx, sy);
                for (x, y) in &mut face.landmarks {
                    *x *= sx;
                    *y *= sy;
                }
            }
        }
        self.width = width;
        self.height = height;
    }
}
