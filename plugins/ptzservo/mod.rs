//! `ptzservo`'s parts: the ONVIF PTZ client that drives the camera.

pub mod onvif;
