//! `cctv`: the in-stream metadata shared by the gst-cctv elements and the
//! algorithms behind them, usable from applications without the plugin.
//!
//! The algorithm modules (`bbox`, `track`, `ptz`, ...) use no GStreamer types.

#[cfg(feature = "analytics")]
pub mod analytics;
pub mod backoff;
pub mod bbox;
pub mod camera_uri;
pub mod classify;
pub mod detect;
pub mod face;
pub mod labels;
pub mod letterbox;
pub mod lifecycle;
pub mod message;
pub mod meta;
pub mod motion;
pub mod nms;
pub mod objects;
pub mod overlay;
pub mod preprocess;
pub mod ptz;
pub mod schedule;
pub mod summary;
pub mod track;
