//! What the benchmarks share: their settings from the environment, the
//! assets folder, and playing a pipeline to its end (as the tests do).
#![allow(dead_code)]

#[path = "../../tests/support/play.rs"]
mod play;
#[allow(unused_imports)]
pub use play::play_to_end;

/// `name` from the environment as a number, or `default`.
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `$CCTV_ASSETS`, or the repository's `.assets`.
pub fn assets() -> std::path::PathBuf {
    std::env::var_os("CCTV_ASSETS")
        .map(Into::into)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/.assets").into())
}
