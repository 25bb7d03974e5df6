//! The plugin as a user meets it, mostly in other processes: documented
//! launch lines by `gst-launch-1.0`, `gst-inspect-1.0`, the demo, the reader
//! examples, the metrics exporter and live view, and the set-up's package
//! list. One binary for all.

mod demo;
mod health;
mod liveview;
mod metrics;
mod pipelines;
mod plugin;
mod readers;
mod setup;
