//! The site service, `cctvd`, against the same cameras in one
//! `gst-launch-1.0`. An RTSP server in this process serves the bundled clip
//! as live H.264 cameras (one mount each); for 4 and 16 cameras
//! (`BENCH_CAMERAS`), each camera runs `camsrc ! onnxdetect ! bytetrack !
//! tee ! mqttsink + pgsink + cctvoverlay ! liveview` against a throwaway
//! mosquitto and PostgreSQL. Prints, per camera count:
//!
//! - the time from the start call to each camera's first analysed frame:
//!   every camera at once when the service starts, then one camera at a
//!   time through `POST /api/cameras/ID/restart` (the model already loaded);
//! - the API's latency (p50, p95, max) for the list, one camera and a
//!   start that has nothing to do, measured while every camera runs;
//! - CPU (share of one core) and memory (RSS, mean and peak) of the
//!   service and of `gst-launch-1.0` with the same cameras, over
//!   `BENCH_SECONDS` (20) after a warm-up, with the frames each analysed.
//!
//! Needs `cargo build --release --lib -p gst-cctv -p cctvd` (`./run bench`
//! does it): the service and the plugin are taken from beside this bench.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::rtsp::{clip_mount, loopable};
use support::{Mosquitto, Postgres, RtspServer, env_or, free_port, tempdir};

fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build(),
    )
}

fn get(base: &str, path: &str) -> Option<String> {
    let mut r = agent().get(&format!("{base}{path}")).call().ok()?;
    (r.status() == 200).then(|| r.body_mut().read_to_string().ok())?
}

fn get_json(base: &str, path: &str) -> Value {
    get(base, path)
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Frames through the trackers (every camera's analysed frames), from the
/// exporter both processes serve.
fn frames(base: &str) -> f64 {
    get(base, "/metrics")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("cctv_frames_total{") && l.contains("element=\"tracker"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// User and system CPU seconds of a process.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command, which may hold spaces, in brackets.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, r)| r.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat(5), 12 and 13 here.
    (ticks(11) + ticks(12)) / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU and memory of a process over `seconds`, with the frames analysed.
struct Usage {
    cpu_share: f64,
    rss_mean: f64,
    rss_peak: f64,
    fps: f64,
}

fn measure(pid: u32, base: &str, seconds: u64) -> Usage {
    let (cpu0, frames0, t0) = (cpu_seconds(pid), frames(base), Instant::now());
    let mut rss = Vec::new();
    while t0.elapsed() < Duration::from_secs(seconds) {
        rss.push(rss_mb(pid));
        std::thread::sleep(Duration::from_millis(500));
    }
    let elapsed = t0.elapsed().as_secs_f64();
    Usage {
        cpu_share: (cpu_seconds(pid) - cpu0) / elapsed,
        rss_mean: rss.iter().sum::<f64>() / rss.len().max(1) as f64,
        rss_peak: rss.iter().copied().fold(0.0, f64::max),
        fps: (frames(base) - frames0) / elapsed,
    }
}

fn print_usage(what: &str, u: &Usage) {
    println!(
        "    {what:<15} CPU {:>5.0} % of a core, RSS {:>6.1} MB mean, {:>6.1} MB peak; {:.1} frames/s analysed",
        u.cpu_share * 100.0,
        u.rss_mean,
        u.rss_peak,
        u.fps
    );
}

fn percentiles(mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| support::percentile(&ms, p);
    format!(
        "p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        at(0.5),
        at(0.95),
        at(1.0)
    )
}

/// One camera's elements as gst-launch-1.0's arguments (an argument is
/// one value however many spaces it holds); `k` names them apart.
fn elements(k: usize, uri: &str, broker: u16, conninfo: &str) -> Vec<String> {
    let line = format!(
        "camsrc uri={uri} camera-id=cam{k} latency=50 \
         ! onnxdetect classes=person ! bytetrack name=tracker{k} ! tee name=t{k} \
         t{k}. ! queue ! mqttsink port={broker} \
         t{k}. ! queue ! pgsink CONNINFO \
         t{k}. ! queue leaky=downstream max-size-buffers=2 ! cctvoverlay ! liveview camera-id=cam{k}"
    );
    line.split_whitespace()
        .map(|a| match a {
            "CONNINFO" => format!("conninfo={conninfo}"),
            _ => a.to_owned(),
        })
        .collect()
}

struct Stopped(Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        // SIGINT: gst-launch-1.0 -e sends EOS; cctvd flushes its sinks.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(60);
        while matches!(self.0.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

fn wait_until(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !ready() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

fn service(n: usize, server: &RtspServer, broker: u16, conninfo: &str, dir: &Path, seconds: u64) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut config = format!(
        "listen = \"127.0.0.1:{port}\"\n[defaults]\nonnxdetect = {{ classes = \"person\" }}\n\
         camsrc = {{ latency = 50 }}\n[mqtt]\nport = {broker}\n[postgres]\nconninfo = \"{conninfo}\"\n"
    );
    for k in 0..n {
        let uri = server.url(&format!("cam{k}"), None);
        config.push_str(&format!("[[camera]]\nid = \"cam{k}\"\nuri = \"{uri}\"\n"));
    }
    let path = dir.join(format!("site-{n}.toml"));
    std::fs::write(&path, config).unwrap();
    let child = Command::new(support::profile_dir().join("cctvd"))
        .arg("--config")
        .arg(&path)
        .stderr(Stdio::null())
        .spawn()
        .expect("cctvd built: cargo build --release -p cctvd");
    let pid = child.id();
    let _running = Stopped(child);
    let first_frames = || -> Vec<Option<f64>> {
        get_json(&base, "/api/cameras")["cameras"]
            .as_array()
            .map(|a| a.iter().map(|c| c["first_frame_ms"].as_f64()).collect())
            .unwrap_or_default()
    };
    let all_up = wait_until(Duration::from_secs(120), || {
        let f = first_frames();
        f.len() == n && f.iter().all(Option::is_some)
    });
    let cold: Vec<f64> = first_frames().into_iter().flatten().collect();
    println!(
        "  cctvd, {n} cameras started at once: first frame after {} ({} of {n} cameras){}",
        if cold.is_empty() {
            "-".into()
        } else {
            percentiles(cold.clone())
        },
        cold.len(),
        if all_up { "" } else { " within 120 s" }
    );
    std::thread::sleep(Duration::from_secs(5));
    let usage = measure(pid, &base, seconds);

    // The API while every camera runs.
    let timed = |method: &str, path: &str| {
        let t = Instant::now();
        let url = format!("{base}{path}");
        let ok = if method == "POST" {
            agent().post(&url).send_empty().is_ok()
        } else {
            agent().get(&url).call().is_ok()
        };
        assert!(ok, "{method} {path} answered");
        t.elapsed().as_secs_f64() * 1e3
    };
    for (method, path, what) in [
        ("GET", "/api/cameras".to_string(), "list"),
        ("GET", "/api/cameras/cam0".to_string(), "one camera"),
        (
            "POST",
            "/api/cameras/cam0/start".to_string(),
            "start (no-op)",
        ),
    ] {
        let ms: Vec<f64> = (0..200).map(|_| timed(method, &path)).collect();
        println!("    API {what:<14} {}", percentiles(ms));
    }

    // One camera at a time, the others running.
    let mut warm = Vec::new();
    for k in 0..n.min(4) {
        let id = format!("cam{k}");
        let run = get_json(&base, &format!("/api/cameras/{id}"))["run"]
            .as_u64()
            .unwrap_or(0);
        timed("POST", &format!("/api/cameras/{id}/restart"));
        let mut first = None;
        wait_until(Duration::from_secs(60), || {
            let c = get_json(&base, &format!("/api/cameras/{id}"));
            first = c["first_frame_ms"]
                .as_f64()
                .filter(|_| c["run"].as_u64() > Some(run));
            first.is_some()
        });
        warm.extend(first);
    }
    println!(
        "    restart through the API, one camera at a time: first frame after {}",
        if warm.is_empty() {
            "-".into()
        } else {
            percentiles(warm)
        }
    );
    print_usage("cctvd", &usage);
}

fn launch(n: usize, server: &RtspServer, broker: u16, conninfo: &str, seconds: u64) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let args: Vec<String> = (0..n)
        .flat_map(|k| elements(k, &server.url(&format!("cam{k}"), None), broker, conninfo))
        .collect();
    let child = Command::new("gst-launch-1.0")
        .arg("-e")
        .args(&args)
        .env("GST_PLUGIN_PATH", support::plugin_dir())
        .env("CCTV_METRICS", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gst-launch-1.0 runs");
    let pid = child.id();
    let _running = Stopped(child);
    // Warm-up as for the service: every camera analysing, then 5 s.
    let mut per_camera = 0.0;
    wait_until(Duration::from_secs(120), || {
        per_camera = frames(&base) / n as f64;
        per_camera >= 10.0
    });
    std::thread::sleep(Duration::from_secs(5));
    print_usage("gst-launch-1.0", &measure(pid, &base, seconds));
}

fn main() {
    gst::init().unwrap();
    let seconds = env_or("BENCH_SECONDS", 20) as u64;
    let counts: Vec<usize> = std::env::var("BENCH_CAMERAS")
        .unwrap_or_else(|_| "4,16".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let max = counts.iter().copied().max().unwrap_or(0);
    let dir = tempdir("site-bench");
    let (clip, fps) = loopable(&support::video().to_string_lossy(), &dir).unwrap();
    let mount = clip_mount(&clip, fps);
    let names: Vec<String> = (0..max).map(|k| format!("cam{k}")).collect();
    let mounts: Vec<(&str, &str)> = names.iter().map(|m| (m.as_str(), mount.as_str())).collect();
    let server = RtspServer::start(&mounts, None);
    let broker = Mosquitto::start();
    let pg = Postgres::start();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "the clip as live H.264 cameras at {}/{} fps over RTSP; camsrc ! onnxdetect ! bytetrack ! tee ! \
         mqttsink + pgsink + cctvoverlay ! liveview per camera; {seconds} s measured after a warm-up; {cores} cores",
        fps.numer(),
        fps.denom()
    );
    for n in counts {
        println!("{n} cameras:");
        service(n, &server, broker.port, &pg.conninfo(), &dir, seconds);
        launch(n, &server, broker.port, &pg.conninfo(), seconds);
    }
    std::fs::remove_dir_all(&dir).ok();
}
