//! ByteTrack multi-object tracking (Zhang et al., "ByteTrack: Multi-Object
//! Tracking by Associating Every Detection Box", ECCV 2022), following the
//! authors' implementation: a constant-velocity Kalman filter per track,
//! a first association of high-score detections with all tracks, a second
//! association of low-score detections with the tracks left over, and a
//! buffer in which lost tracks can be found again. No GStreamer types.

mod assign;
mod bytetrack;
mod kalman;

/// The tracker's input is the detectors' output.
pub use crate::detect::Detection;
pub use assign::{Assignment, assign, hungarian};
pub use bytetrack::{ByteTrackConfig, ByteTracker, TrackChange, TrackedObject, TrackerOutput};
pub use kalman::{Covariance, KalmanFilter, Mean};
