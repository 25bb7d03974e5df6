//! Capacity benchmark: how many live cameras at 10 fps this machine keeps
//! up with through detection, tracking and both sinks. An RTSP server in
//! this process serves the bundled clip (re-encoded once to H.264 at
//! 10 fps, then only payloaded) on one mount per camera; one pipeline runs
//! `camsrc ! onnxdetect ! bytetrack ! tee ! mqttsink + pgsink` per camera
//! against a throwaway mosquitto and PostgreSQL. For 1, 2, 4, ... cameras
//! it prints frames delivered and dropped (camsrc's leaky queue), the
//! end-to-end latency from capture to the sinks (p50/p95), CPU per frame,
//! and where the streaming time goes; a camera count keeps up when under
//! 1 % of its frames are dropped. With `interval` 1 and 2 (`BENCH_INTERVALS`).
//! Run with `./run bench` or `cargo bench --bench capacity`;
//! `BENCH_SECONDS` per step (default 15), `BENCH_MAX_CAMERAS` (16).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use support::{Mosquitto, Postgres, RtspServer, env_or, tempdir};

/// The clip as 10 fps H.264 in MP4, made once per run.
fn encode_clip(dir: &std::path::Path) -> std::path::PathBuf {
    let out = dir.join("clip-10fps.mp4");
    let launch = format!(
        "filesrc location={} ! decodebin ! videoconvert ! videorate ! video/x-raw,format=I420,framerate=10/1 \
         ! x264enc tune=zerolatency speed-preset=veryfast key-int-max=10 bitrate=2000 ! h264parse \
         ! mp4mux ! filesink location={}",
        support::video().display(),
        out.display()
    );
    let pipeline = gst::parse::launch(&launch).unwrap();
    let end = support::play_to_end(&pipeline, gst::ClockTime::from_seconds(120));
    pipeline.set_state(gst::State::Null).unwrap();
    end.unwrap_or_else(|e| panic!("the clip encodes: {e}"));
    out
}

fn cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<Rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    unsafe { getrusage(0, usage.as_mut_ptr()) };
    let u = unsafe { usage.assume_init() };
    (u.utime_s + u.stime_s) as f64 + (u.utime_us + u.stime_us) as f64 / 1e6
}

/// `struct rusage`'s first two fields (user and system time), then room
/// for the rest.
#[repr(C)]
struct Rusage {
    utime_s: i64,
    utime_us: i64,
    stime_s: i64,
    stime_us: i64,
    rest: [i64; 14],
}

unsafe extern "C" {
    fn getrusage(who: i32, usage: *mut Rusage) -> i32;
}

/// Streaming-thread seconds per element kind (the exporter's counters).
fn busy_by_kind() -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in gstcctv::metrics::scrape().lines() {
        let Some(rest) = line.strip_prefix("cctv_processing_seconds_total{") else {
            continue;
        };
        let element = rest
            .split("element=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("?");
        let kind = element
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .to_string();
        let value: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        *out.entry(kind).or_insert(0.0) += value;
    }
    out
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct Step {
    delivered: u64,
    dropped: u64,
    expected: f64,
    p50_ms: f64,
    p95_ms: f64,
    cpu_ms_per_frame: f64,
    busy_ms_per_frame: BTreeMap<String, f64>,
}

fn run(
    server: &RtspServer,
    cameras: usize,
    interval: u32,
    seconds: u64,
    broker: u16,
    conninfo: &str,
) -> Step {
    let branch = |i: usize| {
        format!(
            "camsrc name=cam{i} uri={} camera-id=cam{i} latency=50 transport=tcp \
             ! onnxdetect classes=person interval={interval} ! bytetrack ! tee name=t{i} \
             t{i}. ! queue ! mqttsink name=mqtt{i} port={broker} \
             t{i}. ! queue ! pgsink name=pg{i} conninfo=\"{conninfo}\"",
            server.url(&format!("cam{i}"), None)
        )
    };
    let launch: Vec<String> = (0..cameras).map(branch).collect();
    let pipeline = gst::parse::launch(&launch.join(" "))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let latencies = Arc::new(Mutex::new(Vec::<f64>::new()));
    let measuring = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for i in 0..cameras {
        let (l, m) = (latencies.clone(), measuring.clone());
        let pad = pipeline
            .by_name(&format!("pg{i}"))
            .unwrap()
            .static_pad("sink")
            .unwrap();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if m.load(std::sync::atomic::Ordering::Relaxed)
                && let Some(t) = info
                    .buffer()
                    .and_then(|b| cctv::meta::Frame::capture_time(b))
            {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64;
                l.lock().unwrap().push(now.saturating_sub(t) as f64 / 1e6);
            }
            gst::PadProbeReturn::Ok
        });
    }
    let stats = |field: &str| -> u64 {
        (0..cameras)
            .map(|i| {
                pipeline
                    .by_name(&format!("cam{i}"))
                    .unwrap()
                    .property::<gst::Structure>("stats")
                    .get::<u64>(field)
                    .unwrap_or(0)
            })
            .sum()
    };
    pipeline.set_state(gst::State::Playing).unwrap();
    // Warm up: every camera connected and the sessions made.
    let deadline = Instant::now() + Duration::from_secs(30);
    while stats("frames") < 20 * cameras as u64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    let (frames0, dropped0, cpu0, busy0) = (
        stats("frames"),
        stats("dropped"),
        cpu_seconds(),
        busy_by_kind(),
    );
    measuring.store(true, std::sync::atomic::Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs(seconds));
    measuring.store(false, std::sync::atomic::Ordering::Relaxed);
    let (frames1, dropped1, cpu1, busy1) = (
        stats("frames"),
        stats("dropped"),
        cpu_seconds(),
        busy_by_kind(),
    );
    pipeline.set_state(gst::State::Null).unwrap();
    let frames = frames1 - frames0;
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort_by(f64::total_cmp);
    let per_frame = |v: f64| v * 1e3 / frames.max(1) as f64;
    Step {
        delivered: frames,
        dropped: dropped1 - dropped0,
        expected: 10.0 * cameras as f64 * seconds as f64,
        p50_ms: percentile(&lat, 0.5),
        p95_ms: percentile(&lat, 0.95),
        cpu_ms_per_frame: per_frame(cpu1 - cpu0),
        busy_ms_per_frame: busy1
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    per_frame(v - busy0.get(k).copied().unwrap_or(0.0)),
                )
            })
            .filter(|(_, v)| *v > 0.001)
            .collect(),
    }
}

fn main() {
    support::init();
    let seconds = env_or("BENCH_SECONDS", 15) as u64;
    let max_cameras = env_or("BENCH_MAX_CAMERAS", 16);
    let intervals: Vec<u32> = std::env::var("BENCH_INTERVALS")
        .unwrap_or_else(|_| "1,2".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let dir = tempdir("capacity");
    let clip = encode_clip(&dir);
    let mounts: Vec<(String, String)> = (0..max_cameras)
        .map(|i| {
            (
                format!("cam{i}"),
                format!(
                    "( filesrc location={} ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )",
                    clip.display()
                ),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = mounts
        .iter()
        .map(|(m, l)| (m.as_str(), l.as_str()))
        .collect();
    let server = RtspServer::start(&refs, None);
    let broker = Mosquitto::start();
    let pg = Postgres::start();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "live cameras at 10 fps (the clip, 768x576 H.264 over RTSP), detection + tracking + mqttsink + pgsink, \
         {seconds} s per step, {cores} cores"
    );
    for interval in intervals {
        println!("interval={interval}:");
        let mut kept_up = 0;
        let mut cameras = 1;
        while cameras <= max_cameras {
            let s = run(
                &server,
                cameras,
                interval,
                seconds,
                broker.port,
                &pg.conninfo(),
            );
            let drop_share = s.dropped as f64 / (s.delivered + s.dropped).max(1) as f64;
            let ok = drop_share < 0.01 && s.delivered as f64 >= 0.95 * s.expected;
            let busy: Vec<String> = s
                .busy_ms_per_frame
                .iter()
                .map(|(k, v)| format!("{k} {v:.2}"))
                .collect();
            println!(
                "  {cameras:>2} cameras: {:.1} frames/s delivered of {:.0}, {:.2} % dropped, latency p50 {:.0} ms p95 {:.0} ms, \
                 CPU {:.2} ms/frame (streaming ms/frame: {}) {}",
                s.delivered as f64 / seconds as f64,
                s.expected / seconds as f64,
                drop_share * 100.0,
                s.p50_ms,
                s.p95_ms,
                s.cpu_ms_per_frame,
                busy.join(", "),
                if ok { "keeps up" } else { "falls behind" }
            );
            if !ok {
                break;
            }
            kept_up = cameras;
            cameras = if cameras < 4 {
                cameras * 2
            } else {
                cameras + 2
            };
        }
        println!("  => keeps up with {kept_up} cameras at 10 fps (interval={interval})");
    }
    std::fs::remove_dir_all(&dir).ok();
}
