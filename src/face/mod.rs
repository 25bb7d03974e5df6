//! Faces of people, without GStreamer types: decoding a face detector's
//! output ([`centerface`]) and the aligned face chip a classifier expects
//! ([`align`]).

pub mod align;
pub mod centerface;

pub use align::{DLIB_PADDING, face_chip};
pub use centerface::{CenterFace, Face, nms_faces};
