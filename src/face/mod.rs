//! Faces of people and what a face classifier says about them, without
//! GStreamer types: decoding a face detector's output ([`centerface`]),
//! the aligned face chip a classifier expects ([`align`]) and the
//! per-track vote and classification schedule ([`vote`]).

pub mod align;
pub mod centerface;
pub mod vote;

pub use align::{DLIB_PADDING, face_chip};
pub use centerface::{CenterFace, Face, nms_faces};
pub use vote::{Schedule, TrackVotes, Vote};
