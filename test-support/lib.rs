//! What the integration tests, the benchmarks and the demo share: the
//! plugin registered statically, the repository's paths, real servers
//! (mosquitto, PostgreSQL, an RTSP server) on free loopback ports in
//! temporary directories and stopped when dropped (even when a test fails),
//! pipelines played in-process or by `gst-launch-1.0`, scripted tracked
//! streams for the sinks, and time limits.

pub mod browser;
pub mod http;
pub mod launch;
pub mod limits;
pub mod mqtt;
pub mod netns;
pub mod play;
pub mod rtsp;
pub mod scene;
pub mod script;
pub mod servers;
pub mod summary;

pub use browser::{Browser, Page};
pub use http::{http_get, http_until};
pub use launch::{
    Captured, Monitored, gst_launch, gst_launch_monitored, gst_launch_within, shell_words,
};
pub use limits::{Progress, wait_within, within};
pub use mqtt::Subscriber;
pub use netns::{private_network, rerun_in_private_network};
pub use play::{
    SHORT_CLIP_MAX, expect_error, first_error, frames_at, play_to_end, short_clip, with_appsink,
};
pub use rtsp::RtspServer;
pub use servers::{Mosquitto, Postgres, TestCerts, free_port, tempdir, wait_for_port};
pub use summary::{median, percentile, summary_row};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;

/// Initialises GStreamer and registers the plugin statically.
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gstcctv::plugin_register_static().expect("plugin registers");
    });
}

/// Marks the process [`in_own_process`] started, naming the test it runs.
const OWN_PROCESS: &str = "CCTV_TEST_OWN_PROCESS";

/// Runs the test `name` (its path in the test binary, as `--list` shows it)
/// alone in a new process of the same binary, with `env` added there: for a
/// test of what is global to a process (the metrics exporter reads
/// `CCTV_METRICS` once; the threads in `/proc/self`), which the other
/// tests of its binary, running beside it, would disturb. True in that new
/// process, where the test's body runs; false in the test's first run,
/// after the new process passed (it panics otherwise).
pub fn in_own_process(name: &str, env: &[(&str, &str)]) -> bool {
    if std::env::var_os(OWN_PROCESS).is_some_and(|n| n == name) {
        return true;
    }
    run_alone(name, env, &[]);
    false
}

/// Runs the test `name` alone in a new process of this test binary with
/// `env` added, started through `wrapper` (a program and its arguments
/// that end by running the binary) if not empty; panics unless that run
/// passed exactly one test.
pub(crate) fn run_alone(name: &str, env: &[(&str, &str)], wrapper: &[&str]) {
    let exe = std::env::current_exe().expect("the test binary");
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(&exe);
            c
        }
        None => Command::new(&exe),
    };
    let out = command
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(OWN_PROCESS, name)
        .envs(env.iter().copied())
        .output()
        .expect("the test binary runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    // A name that matches no test would pass having run nothing.
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{name} in its own process: {}\n{stdout}{stderr}",
        out.status
    );
    print!("{stdout}");
    eprint!("{stderr}");
}

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("test-support sits in the repository")
        .to_path_buf()
}

/// `$CCTV_ASSETS`, or the repository's `.assets`.
pub fn assets() -> PathBuf {
    std::env::var_os("CCTV_ASSETS")
        .map(Into::into)
        .unwrap_or_else(|| repo().join(".assets"))
}

/// The bundled clip.
pub fn video() -> PathBuf {
    assets().join("media/vtest.avi")
}

/// The profile's build directory (`target/debug`) the running test,
/// benchmark or example was built into: the plugin and examples are there.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/debug/deps/<test>, target/debug/examples/<example>
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// Directory holding the built `libgstcctv.so`, for `GST_PLUGIN_PATH`.
pub fn plugin_dir() -> PathBuf {
    let dir = profile_dir();
    assert!(
        dir.join("libgstcctv.so").exists(),
        "plugin not built in {}",
        dir.display()
    );
    dir
}

/// `target/tmp`: cargo's directory for what tests write and keep between runs.
pub fn target_tmpdir() -> PathBuf {
    let dir = profile_dir()
        .parent()
        .expect("a profile directory sits in target/")
        .join("tmp");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `name` from the environment as a number, or `default` (benchmark settings).
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds this process used so far (user and system).
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat.rsplit(") ").next().unwrap().split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// This process's CPU share of one core over the next `seconds`.
pub fn cpu_share(seconds: f64) -> f64 {
    let (c0, t0) = (cpu_seconds(), std::time::Instant::now());
    std::thread::sleep(std::time::Duration::from_secs_f64(seconds));
    (cpu_seconds() - c0) / t0.elapsed().as_secs_f64()
}
