//! The set-up installs everything the build, the tests and the demo use: the
//! library behind every `-sys` crate in Cargo.lock, every program the tests
//! run and every GStreamer element and Python binding they load must belong
//! to a package in `scripts/packages` or a dependency of one (or to the base
//! system). A machine that happens to have more installed (as CI had
//! `libssl-dev`) cannot hide an omission from this test.

use std::collections::{BTreeSet, VecDeque};
use std::process::Command;

/// The pkg-config module each `-sys` crate links, or `None` where it links
/// nothing here (other platforms, an optional feature, no system library).
const SYS_CRATES: &[(&str, Option<&str>)] = &[
    ("glib-sys", Some("glib-2.0")),
    ("gobject-sys", Some("gobject-2.0")),
    ("gio-sys", Some("gio-2.0")),
    ("gstreamer-sys", Some("gstreamer-1.0")),
    ("gstreamer-base-sys", Some("gstreamer-base-1.0")),
    ("gstreamer-video-sys", Some("gstreamer-video-1.0")),
    ("gstreamer-app-sys", Some("gstreamer-app-1.0")),
    ("gstreamer-check-sys", Some("gstreamer-check-1.0")),
    // fallbacksrc (camsrc) and the in-process RTSP server of the tests.
    ("gstreamer-audio-sys", Some("gstreamer-audio-1.0")),
    ("gstreamer-net-sys", Some("gstreamer-net-1.0")),
    ("gstreamer-rtsp-sys", Some("gstreamer-rtsp-1.0")),
    ("gstreamer-sdp-sys", Some("gstreamer-sdp-1.0")),
    (
        "gstreamer-rtsp-server-sys",
        Some("gstreamer-rtsp-server-1.0"),
    ),
    ("openssl-sys", Some("openssl")),
    // The `analytics` feature (GStreamer >= 1.24), only type-checked here.
    ("gstreamer-analytics-sys", None),
    // ONNX Runtime is loaded at run time from the pinned wheel (fetch-assets).
    ("ort-sys", None),
    ("linux-raw-sys", None),
    ("core-foundation-sys", None),
    ("security-framework-sys", None),
    ("js-sys", None),
    ("web-sys", None),
    ("windows-sys", None),
];

/// Programs the tests, the demo and the set-up run.
const PROGRAMS: &[&str] = &[
    "gst-launch-1.0",
    "gst-inspect-1.0",
    "mosquitto",
    "mosquitto_passwd",
    "openssl",
    "unzip",
    "pkg-config",
    "meson",
    "ninja",
    "/usr/bin/python3",
    "/usr/lib/postgresql/15/bin/initdb",
    "/usr/lib/postgresql/15/bin/pg_ctl",
    "/usr/lib/postgresql/15/bin/psql",
    "chromium",
];

/// GStreamer elements the tests, the demo and `pipelines/` use.
const ELEMENTS: &[&str] = &[
    "videotestsrc",
    "rawvideoparse",
    "decodebin",
    "avdec_msmpeg4",
    "pngdec",
    "jpegdec",
    "videoconvert",
    "videoscale",
    "x264enc",
    "h264parse",
    "qtdemux",
    "mp4mux",
    "videorate",
    "jpegenc",
    "pngenc",
    "multifilesink",
    "autovideosink",
    "rtspsrc",
    "rtph264pay",
    "rtph264depay",
    "avdec_h264",
    "appsrc",
    "appsink",
    "tee",
    "queue",
    // camsrc, inside and around fallbacksrc, and the RTSP test server.
    "uridecodebin",
    "videoconvertscale",
    "capsfilter",
    "clocksync",
    "valve",
    "rtpjpegpay",
    "rtpjpegdepay",
    "identity",
    "fakesink",
];

/// Files of the Python bindings the reader example and the camsrc
/// debug-log test load.
const PYTHON_CHECK: &str = "import gi; gi.require_version('Gst', '1.0'); \
    from gi.repository import Gst; \
    Gst.init(None); import gi.overrides.Gst as o; \
    print(gi.__file__); print(o.__file__); \
    print(gi.Repository.get_default().get_typelib_path('Gst'))";

fn run(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The package that installed `path`.
fn owner(path: &str) -> Option<String> {
    let real = std::fs::canonicalize(path).ok()?;
    for candidate in [path.to_string(), real.display().to_string()] {
        // usrmerge: dpkg may know the file under /lib rather than /usr/lib.
        let alt = candidate.strip_prefix("/usr").map(String::from);
        for p in std::iter::once(candidate.clone()).chain(alt) {
            if let Some(out) = run("dpkg-query", &["-S", &p]) {
                let line = out.lines().next()?;
                let (package, _) = line.split_once(": ")?;
                return Some(package.split(':').next()?.to_string());
            }
        }
    }
    None
}

/// The listed packages, everything they depend on, and the base system.
fn installed_by_setup() -> BTreeSet<String> {
    let text = std::fs::read_to_string(support::repo().join("scripts/packages")).unwrap();
    let mut queue: VecDeque<String> = text
        .lines()
        .map(|l| l.split('#').next().unwrap())
        .flat_map(|l| l.split_whitespace().map(String::from).collect::<Vec<_>>())
        .collect();
    let base = run(
        "dpkg-query",
        &["-W", "-f", "${Package} ${Essential} ${Priority}\n"],
    )
    .unwrap();
    queue.extend(base.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        (f.get(1) == Some(&"yes") || f.get(2) == Some(&"required")).then(|| f[0].to_string())
    }));
    let mut seen = BTreeSet::new();
    while let Some(package) = queue.pop_front() {
        if !seen.insert(package.clone()) {
            continue;
        }
        let Some(deps) = run(
            "dpkg-query",
            &["-W", "-f", "${Depends}, ${Pre-Depends}", &package],
        ) else {
            continue;
        };
        for alternative in deps.split([',', '|']) {
            let name = alternative.split_whitespace().next().unwrap_or("");
            let name = name.split(':').next().unwrap_or("");
            if !name.is_empty() && !seen.contains(name) {
                queue.push_back(name.to_string());
            }
        }
    }
    seen
}

#[test]
fn every_system_package_used_is_installed_by_the_setup() {
    let installed = installed_by_setup();
    let mut used: Vec<(String, String)> = Vec::new();
    let mut problems = Vec::new();

    let lock = std::fs::read_to_string(support::repo().join("Cargo.lock")).unwrap();
    let sys: BTreeSet<&str> = lock
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| n.ends_with("-sys"))
        .collect();
    for name in sys {
        match SYS_CRATES.iter().find(|(c, _)| *c == name) {
            None => problems.push(format!(
                "{name} is new in Cargo.lock: add the system library it links to SYS_CRATES here and its package to scripts/packages"
            )),
            Some((_, None)) => {}
            Some((_, Some(module))) => {
                match run("pkg-config", &["--variable=pcfiledir", module]) {
                    Some(dir) => {
                        let pc = format!("{}/{module}.pc", dir.trim());
                        used.push((format!("{name} ({pc})"), pc));
                    }
                    None => problems.push(format!("{name}: pkg-config finds no {module}")),
                }
            }
        }
    }
    for program in PROGRAMS {
        match run("sh", &["-c", &format!("command -v {program}")]) {
            Some(path) => used.push((program.to_string(), path.trim().to_string())),
            None => problems.push(format!("{program} is not installed")),
        }
    }
    for element in ELEMENTS {
        let text = run("gst-inspect-1.0", &[element]).unwrap_or_default();
        match text
            .lines()
            .find_map(|l| l.trim().strip_prefix("Filename"))
            .map(str::trim)
        {
            Some(file) => used.push((format!("GStreamer element {element}"), file.to_string())),
            None => problems.push(format!("GStreamer element {element} is not installed")),
        }
    }
    match run("/usr/bin/python3", &["-c", PYTHON_CHECK]) {
        Some(out) => used.extend(out.lines().map(|f| (format!("Python: {f}"), f.to_string()))),
        None => problems.push("the Python GStreamer bindings do not load".into()),
    }

    for (what, path) in &used {
        match owner(path) {
            Some(package) if installed.contains(&package) => {}
            Some(package) => problems.push(format!(
                "{what}: {path} comes from {package}, which scripts/setup does not install"
            )),
            None => problems.push(format!("{what}: {path} belongs to no Debian package")),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(used.len() > 30, "checked {used:?}");
}
