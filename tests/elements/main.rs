//! Element tests: each element in-process on real frames and models or on
//! scripted metadata, through `gst_check::Harness` or a parsed pipeline.
//! One binary for all (one module per element or concern), so CI links it
//! once.

mod bytetrack;
mod cctvoverlay;
mod classify;
mod meta;
mod onnxdetect;
mod properties;
mod state_changes;
