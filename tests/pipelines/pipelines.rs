//! Every launch line a user is given runs as written: each line of
//! `pipelines/*.txt` and each `gst-launch-1.0` line of README.md and
//! `docs/*.md` is played by `gst-launch-1.0 -e` with the built plugin
//! against what it needs (mosquitto, a PostgreSQL with the role and database
//! its conninfo names, the in-process RTSP server serving the clip, the
//! virtual PTZ camera). Only placeholders (`{video}`), camera URIs, broker
//! and database addresses, the credentials file, the clip's path and paths
//! into the assets folder (`.assets/...`) are filled in.
//! Once every element reporting to `/metrics` has seen a few frames (after
//! its cameras connected), the line gets Ctrl+C, which with `-e` is an EOS:
//! it must end without an error, warning or GLib critical, and what it
//! sends must be in the servers. Lines it cannot run (they need a display,
//! or hang for a reason outside the line) are listed in [`SKIPPED`] with the
//! reason, and only parsed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gst::prelude::*;

/// Frames every element sees, once the cameras are connected, before the EOS.
const FRAMES: f64 = 10.0;

/// A line the test does not run: the file it is in, a part of the line
/// that singles it out (not a line number, which moves with every edit),
/// and why. It must still parse.
struct Skip {
    file: &'static str,
    containing: &'static str,
    why: &'static str,
}

/// Lines the test does not run. A `... ! liveview` line must be paced (as
/// `pipelines/liveview.txt` is, by `identity sync=true`): liveview's sink is
/// not async, and gst-launch-1.0 on GStreamer 1.22 then loses the EOS about
/// every other run when decodebin prerolls late (`filesrc ! decodebin !
/// fakesink async=false` does the same).
const SKIPPED: &[Skip] = &[
    Skip {
        file: "pipelines/annotate.txt",
        containing: "autovideosink",
        why: "autovideosink needs a display; the recording its comment describes runs instead",
    },
    Skip {
        file: "docs/edge.md",
        containing: "/opt/gst-cctv/",
        why: "runs on the arm64 box from the folder copied there; ./run test-arm64 runs its elements under emulation",
    },
];

/// Sinks that open a window.
const DISPLAY_SINKS: &[&str] = &[
    "autovideosink",
    "xvimagesink",
    "ximagesink",
    "glimagesink",
    "waylandsink",
    "kmssink",
    "fpsdisplaysink",
];

/// A launch line as the user is given it.
struct Line {
    /// Where it is written: `pipelines/camera.txt`, `README.md:74`.
    origin: String,
    /// `VAR=value` written before `gst-launch-1.0`.
    env: Vec<(String, String)>,
    /// The pipeline, as `gst-launch-1.0` receives it (quotes removed).
    words: Vec<String>,
}

/// The files of the repository's folder `dir` named `*.ext`, sorted.
fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(support::repo().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    paths.sort();
    paths
}

/// The lines of `pipelines/`, and the variant a file's comment documents
/// as "Replace autovideosink with `...`".
fn pipeline_lines() -> Vec<Line> {
    let mut lines = Vec::new();
    for path in files("pipelines", "txt") {
        let origin = format!("pipelines/{}", path.file_name().unwrap().to_string_lossy());
        let text = std::fs::read_to_string(&path).unwrap();
        let (comments, launch): (Vec<&str>, Vec<&str>) =
            text.lines().partition(|l| l.trim_start().starts_with('#'));
        let launch = launch.join(" ");
        let replacement = comments.iter().find_map(|c| {
            let rest = c.split("Replace autovideosink with `").nth(1)?;
            rest.split('`').next()
        });
        if let Some(replacement) = replacement {
            lines.push(Line {
                origin: format!("{origin} (recording, as its comment says)"),
                env: Vec::new(),
                words: support::shell_words(&launch.replace("autovideosink", replacement)),
            });
        }
        lines.push(Line {
            origin,
            env: Vec::new(),
            words: support::shell_words(&launch),
        });
    }
    lines
}

/// Every command line that runs `gst-launch-1.0` in the code blocks of
/// README.md and `docs/*.md`.
fn documented_lines() -> Vec<Line> {
    let repo = support::repo();
    std::iter::once(repo.join("README.md"))
        .chain(files("docs", "md"))
        .flat_map(|path| {
            let name = path.strip_prefix(&repo).unwrap().display().to_string();
            markdown_lines(&name, &std::fs::read_to_string(path).unwrap())
        })
        .collect()
}

/// The `gst-launch-1.0` command lines of the code blocks of `text`
/// (continuation lines joined; its options dropped, `-e` is the test's).
fn markdown_lines(name: &str, text: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    let (mut fenced, mut command, mut start) = (false, String::new(), 0);
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            continue;
        }
        if command.is_empty() {
            start = n + 1;
        }
        match line.trim_end().strip_suffix('\\') {
            Some(part) => {
                command.push_str(part);
                continue;
            }
            None => command.push_str(line),
        }
        let mut words = support::shell_words(std::mem::take(&mut command).trim()).into_iter();
        let mut env = Vec::new();
        let program = loop {
            match words.next() {
                Some(w) if w == "$" => {}
                Some(w) => match w.split_once('=') {
                    Some((k, v)) if k.chars().all(|c| c.is_ascii_uppercase() || c == '_') => {
                        env.push((k.to_string(), v.to_string()))
                    }
                    _ => break Some(w),
                },
                None => break None,
            }
        };
        if program.as_deref() == Some("gst-launch-1.0") {
            lines.push(Line {
                origin: format!("{name}:{start}"),
                env,
                words: words.skip_while(|w| w.starts_with('-')).collect(),
            });
        }
    }
    lines
}

/// The clip re-encoded as a live MJPEG camera.
fn camera_mount() -> String {
    format!(
        "( filesrc location={} ! decodebin ! videoconvert ! video/x-raw,format=I420 \
         ! identity sync=true ! jpegenc quality=70 ! rtpjpegpay name=pay0 pt=96 )",
        support::video().display()
    )
}

/// `key=value` pairs of a libpq conninfo (unquoted values, as ours are).
fn conninfo_pairs(conninfo: &str) -> Vec<(String, String)> {
    conninfo
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Tracks stored through `conninfo` (0 before pgsink made the table).
fn stored_tracks(conninfo: &str) -> i64 {
    postgres::Client::connect(conninfo, postgres::NoTls)
        .and_then(|mut c| c.query_one("select count(*) from cctv.tracks", &[]))
        .map(|row| row.get(0))
        .unwrap_or(0)
}

/// `cctv_frames_total` per element, and whether every camera is connected.
fn progress(metrics: &str) -> (BTreeMap<String, f64>, bool) {
    let lines = metrics.lines().map(|l| Ok(l.to_string()));
    let Ok(scrape) = prometheus_parse::Scrape::parse(lines) else {
        return (BTreeMap::new(), false);
    };
    let value = |v: &prometheus_parse::Value| match v {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => *v,
        _ => f64::NAN,
    };
    let mut frames = BTreeMap::new();
    let mut connected = true;
    for s in &scrape.samples {
        let element = s.labels.get("element").unwrap_or_default().to_string();
        if s.metric == "cctv_frames_total" {
            frames.insert(element, value(&s.value));
        } else if s.metric.ends_with("camera_connected") {
            connected &= value(&s.value) == 1.0;
        }
    }
    (frames, connected)
}

/// What a line needs, started for it (PostgreSQL is shared by all lines).
struct Fixtures {
    /// The line's working directory: its output files, the credentials file.
    dir: PathBuf,
    broker: Option<(support::Mosquitto, support::Subscriber)>,
    rtsp: Option<support::RtspServer>,
    /// The virtual PTZ camera a `ptzservo` of the line drives.
    ptz: Option<gst::Element>,
    /// conninfos of the line's pgsinks, with the tracks stored before.
    databases: Vec<(String, i64)>,
}

impl Drop for Fixtures {
    fn drop(&mut self) {
        if let Some(ptz) = self.ptz.take() {
            ptz.set_state(gst::State::Null).ok();
        }
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

const CAMERA_CREDENTIALS: (&str, &str) = ("viewer", "camera-secret");

/// `words` with its placeholders filled: the clip, the output folder, the
/// virtual PTZ camera's port (`{servo}` steers it) and the database; the
/// other addresses with stand-ins that [`prepare`] replaces.
fn fill_placeholders(
    words: &[String],
    video: &str,
    out: &str,
    port: u16,
    conninfo: &str,
) -> Vec<String> {
    let filled: Vec<String> = words
        .iter()
        .map(|w| {
            w.replace(
                "{servo}",
                "onvif-url=http://127.0.0.1:{port}/onvif/ptz_service",
            )
            .replace("{port}", &port.to_string())
            .replace("{video}", video)
            .replace("{out}", out)
            .replace("{camera}", "plaza")
            .replace("{uri}", "rtsp://camera/stream")
            .replace("{mqtt_host}", "127.0.0.1")
            .replace("{mqtt_port}", "1883")
            .replace("{conninfo}", conninfo)
        })
        .collect();
    let unknown: Vec<&String> = filled.iter().filter(|w| w.contains('{')).collect();
    assert!(unknown.is_empty(), "unknown placeholder in {unknown:?}");
    filled
}

/// For each word, the index of the element it belongs to, and each
/// element's factory: a word after `!`, or without `=`, starts an element
/// (or a reference such as `t.`, or caps).
fn elements(words: &[String]) -> (Vec<usize>, Vec<String>) {
    let (mut owner, mut factories) = (Vec::new(), Vec::<String>::new());
    let mut after_link = true;
    for w in words {
        if w == "!" {
            after_link = true;
        } else if after_link || !w.contains('=') {
            factories.push(w.split(',').next().unwrap().to_string());
            after_link = false;
        }
        owner.push(factories.len().saturating_sub(1));
    }
    (owner, factories)
}

/// Fills the placeholders of `words` and points its addresses at servers
/// started for it.
fn prepare(words: &[String], pg: &support::Postgres) -> (Vec<String>, Fixtures) {
    let dir = support::tempdir("cctv-pipelines");
    let virtual_port = support::free_port();
    let filled = fill_placeholders(
        words,
        &support::video().to_string_lossy(),
        &dir.to_string_lossy(),
        virtual_port,
        &pg.conninfo(),
    );
    let (owner, factories) = elements(&filled);
    let factory = |i: usize| factories[owner[i]].as_str();
    let has = |f: &str| factories.iter().any(|e| e == f);
    let credentials_file = dir.join("camera.cred");
    std::fs::write(
        &credentials_file,
        format!("{}:{}\n", CAMERA_CREDENTIALS.0, CAMERA_CREDENTIALS.1),
    )
    .unwrap();
    let mut fixtures = Fixtures {
        dir,
        broker: None,
        rtsp: None,
        ptz: None,
        databases: Vec::new(),
    };
    if has("mqttsink") {
        let broker = support::Mosquitto::start();
        let subscriber = support::Subscriber::start(broker.port, "#");
        fixtures.broker = Some((broker, subscriber));
    }
    // The factory word itself, and the property words after it.
    let is_property = |i: usize| i > 0 && owner[i - 1] == owner[i] && filled[i].contains('=');
    let cameras = (0..filled.len())
        .filter(|&i| {
            is_property(i)
                && matches!(
                    (factory(i), filled[i].split('=').next().unwrap()),
                    ("camsrc", "uri") | ("rtspsrc", "location")
                )
        })
        .count();
    if cameras > 0 {
        let mount = camera_mount();
        let names: Vec<String> = (1..=cameras).map(|k| format!("cam{k}")).collect();
        let mounts: Vec<(&str, &str)> =
            names.iter().map(|n| (n.as_str(), mount.as_str())).collect();
        let auth = filled
            .iter()
            .any(|w| w.starts_with("credentials-file="))
            .then_some(CAMERA_CREDENTIALS);
        fixtures.rtsp = Some(support::RtspServer::start(&mounts, auth));
    }
    let broker_port = fixtures.broker.as_ref().map(|(b, _)| b.port.to_string());

    let mut out = Vec::new();
    let mut cameras = 0;
    // The account of a ptzservo driving a camera the line does not hold.
    let mut virtual_camera: Option<BTreeMap<String, String>> = None;
    for (i, w) in filled.iter().enumerate() {
        let (key, value) = w.split_once('=').unwrap_or((w.as_str(), ""));
        if !is_property(i) {
            out.push(w.clone());
            continue;
        }
        out.push(match (factory(i), key) {
            ("filesrc", "location") => format!("location={}", support::video().display()),
            ("camsrc", "uri") | ("rtspsrc", "location") => {
                cameras += 1;
                let rtsp = fixtures.rtsp.as_ref().unwrap();
                format!("{key}={}", rtsp.url(&format!("cam{cameras}"), None))
            }
            ("camsrc", "credentials-file") => {
                format!("credentials-file={}", credentials_file.display())
            }
            ("mqttsink", "host") => "host=127.0.0.1".into(),
            ("mqttsink", "port") => format!("port={}", broker_port.as_ref().unwrap()),
            ("pgsink", "conninfo") => {
                let mut pairs = conninfo_pairs(value);
                pairs.retain(|(k, _)| k != "host" && k != "port");
                let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
                let user = get("user").unwrap_or_else(|| "postgres".into());
                if user != "postgres" {
                    pg.trust(&user, &get("dbname").unwrap_or_else(|| user.clone()));
                }
                let mut conninfo = format!("host=127.0.0.1 port={}", pg.port);
                for (k, v) in pairs {
                    conninfo.push_str(&format!(" {k}={v}"));
                }
                fixtures
                    .databases
                    .push((conninfo.clone(), stored_tracks(&conninfo)));
                format!("conninfo={conninfo}")
            }
            ("ptzservo", "onvif-url") if !has("virtualptz") => {
                let path = value.splitn(4, '/').nth(3).unwrap_or_default();
                virtual_camera.get_or_insert_default();
                format!("onvif-url=http://127.0.0.1:{virtual_port}/{path}")
            }
            _ => match value.strip_prefix(".assets/") {
                Some(path) => format!("{key}={}", support::assets().join(path).display()),
                None => w.clone(),
            },
        });
        let element = owner[i];
        let last = filled
            .get(i + 1)
            .is_none_or(|n| n == "!" || owner[i + 1] != element);
        let has_port =
            (0..filled.len()).any(|j| owner[j] == element && filled[j].starts_with("port="));
        if last && factory(i) == "mqttsink" && !has_port {
            // The line leaves the port at the default: the test's broker's.
            out.push(format!("port={}", broker_port.as_ref().unwrap()));
        }
    }
    if let Some(mut account) = virtual_camera {
        // The camera accepts the account the line logs in with.
        for (i, w) in filled.iter().enumerate() {
            if factory(i) == "ptzservo" && is_property(i) {
                let (key, value) = w.split_once('=').unwrap();
                account.insert(key.to_string(), value.to_string());
            }
        }
        let field = |key: &str| {
            account
                .get(key)
                .map_or(String::new(), |v| format!("{key}=\"{v}\""))
        };
        support::init();
        let ptz = gst::parse::launch(&format!(
            "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=10/1 \
             ! virtualptz port={virtual_port} {} {} ! fakesink",
            field("user-id"),
            field("user-pw")
        ))
        .unwrap();
        ptz.set_state(gst::State::Playing).unwrap();
        fixtures.ptz = Some(ptz);
    }
    (out, fixtures)
}

/// Plays `line` to a Ctrl+C after [`FRAMES`] frames; what went wrong, if anything.
fn run(line: &Line, pg: &support::Postgres) -> Result<(), String> {
    let (words, fixtures) = prepare(&line.words, pg);
    let address = format!("127.0.0.1:{}", support::free_port());
    let mut command = Command::new("gst-launch-1.0");
    command
        .arg("-e")
        .args(&words)
        .envs(line.env.iter().map(|(k, v)| (k, v)))
        .env("GST_PLUGIN_PATH", support::plugin_dir())
        .env("CCTV_METRICS", &address)
        .env("CCTV_ASSETS", support::assets())
        .current_dir(&fixtures.dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("gst-launch-1.0 runs");
    let captured = support::Captured::start(&mut child);

    // Frames flow: every element reporting frames sees FRAMES more once
    // the cameras are connected.
    let metrics = format!("http://{address}/metrics");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut baseline: Option<BTreeMap<String, f64>> = None;
    let mut last = String::new();
    let flowing = loop {
        if child.try_wait().unwrap().is_some() {
            break Err("it ended before the EOS".to_string());
        }
        if Instant::now() > deadline {
            break Err(format!(
                "no {FRAMES} frames within 120 s; /metrics:\n{last}"
            ));
        }
        if let Some((200, text)) = support::http_get(&metrics) {
            let (frames, connected) = progress(&text);
            last = text;
            // Counted from a scrape with every camera connected: frames
            // before that may be stand-ins.
            match &baseline {
                _ if frames.is_empty() || !connected => baseline = None,
                None => baseline = Some(frames),
                Some(before) => {
                    if frames
                        .iter()
                        .all(|(e, n)| n - before.get(e).unwrap_or(&0.0) >= FRAMES)
                    {
                        break Ok(());
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    };

    // Ctrl+C: gst-launch-1.0 -e sends EOS and waits for it.
    unsafe extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    unsafe { kill(child.id() as i32, 2) };
    let status = support::wait_within(&mut child, Duration::from_secs(60));
    let (stdout, stderr) = captured.join();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr)
    );
    let fail = |what: String| Err(format!("{what}\n{text}"));
    flowing.or_else(fail)?;
    match status {
        None => return fail("it did not end within 60 s of the EOS".into()),
        Some(s) if !s.success() => return fail(format!("it ended with {s}")),
        Some(_) => {}
    }
    let loud: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("ERROR") || l.contains("WARNING") || l.contains("CRITICAL"))
        .collect();
    if !loud.is_empty() {
        return fail(format!("it complained:\n{}", loud.join("\n")));
    }
    if let Some((_, subscriber)) = &fixtures.broker {
        let messages = subscriber.wait_for(Duration::from_secs(5), |m| !m.is_empty());
        if messages.is_empty() {
            return fail("the broker got no message".into());
        }
    }
    for (conninfo, before) in &fixtures.databases {
        let after = stored_tracks(conninfo);
        if after <= *before {
            let database = conninfo_pairs(conninfo)
                .into_iter()
                .find(|(k, _)| k == "dbname")
                .map_or(String::new(), |(_, v)| v);
            return fail(format!(
                "no track stored in database {database} ({before} before, {after} after)"
            ));
        }
    }
    Ok(())
}

fn skipped(line: &Line) -> Option<&'static Skip> {
    let file = line.origin.split(':').next().unwrap_or_default();
    let text = line.words.join(" ");
    SKIPPED
        .iter()
        .find(|s| s.file == file && text.contains(s.containing))
}

#[test]
fn every_documented_line_runs() {
    let pipelines = pipeline_lines();
    let documented = documented_lines();
    assert!(
        pipelines.len() >= 6,
        "{} lines in pipelines/",
        pipelines.len()
    );
    assert!(
        documented
            .iter()
            .any(|l| l.origin.starts_with("README.md:")),
        "no gst-launch-1.0 line in README.md"
    );
    let pg = support::Postgres::start();
    let mut failures = Vec::new();
    let mut used = BTreeSet::new();
    for line in pipelines.iter().chain(&documented) {
        let display = line
            .words
            .iter()
            .find(|w| DISPLAY_SINKS.contains(&w.as_str()));
        if let Some(skip) = skipped(line) {
            used.insert(skip.containing);
            println!("skipped {}: {}", line.origin, skip.why);
            continue;
        }
        if let Some(sink) = display {
            failures.push(format!(
                "{} needs a display ({sink}): list it in SKIPPED",
                line.origin
            ));
            continue;
        }
        let started = Instant::now();
        match run(line, &pg) {
            Ok(()) => println!(
                "ran {} in {:.1} s",
                line.origin,
                started.elapsed().as_secs_f64()
            ),
            Err(e) => failures.push(format!(
                "{}: {} fails: {e}",
                line.origin,
                line.words.join(" ")
            )),
        }
    }
    for skip in SKIPPED {
        assert!(
            used.contains(skip.containing),
            "no line of {} contains {:?}, listed in SKIPPED",
            skip.file,
            skip.containing
        );
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

/// The lines that cannot run still name existing elements and properties.
#[test]
fn skipped_lines_parse() {
    support::init();
    for line in pipeline_lines().iter().chain(&documented_lines()) {
        if skipped(line).is_none() {
            continue;
        }
        let words = fill_placeholders(&line.words, "clip.avi", "out", 8080, "host=127.0.0.1");
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        if let Err(e) = gst::parse::launchv(&words) {
            panic!("{} does not parse: {e}\n{}", line.origin, words.join(" "));
        }
    }
}
