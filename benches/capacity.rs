//! Capacity benchmark: how many live cameras at 10 fps this machine keeps
//! up with through detection, tracking and both sinks. An RTSP server in
//! this process serves the bundled clip (re-encoded once to H.264 at
//! 10 fps, then only payloaded, RTCP off: see `RtspServer::start_without_rtcp`)
//! on one mount per camera, restarted before each step; one pipeline runs
//! `camsrc ! onnxdetect ! bytetrack ! tee ! mqttsink + pgsink` per camera
//! against a throwaway mosquitto and PostgreSQL. For 1, 2, 4, ... cameras
//! it prints frames delivered and dropped (camsrc's leaky queue), the
//! end-to-end latency from capture to the sinks (p50/p95), CPU per frame,
//! and where the streaming time goes; a camera count keeps up when under
//! 1 % of its frames are dropped and the p95 latency is under 150 ms. With
//! `interval` 1 and 2 (`BENCH_INTERVALS`). Run with `./run bench` or
//! `cargo bench --bench capacity`; `BENCH_SECONDS` per step (default 15),
//! `BENCH_MAX_CAMERAS` (16).
//!
//! `BENCH_SCENES`
//! (`clip,quiet`) also runs quiet cameras (`support::scene`: people 25 %
//! of the time, the empty plaza with sensor noise the rest, four phases so
//! cameras are not busy at once) without and with `motion-gate`, and
//! compares the tracks the gated detector finds on one quiet camera with
//! detection on every frame: tracks lost and frames from a person's
//! appearance to their track.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use support::{Mosquitto, Postgres, RtspServer, cpu_seconds, env_or, percentile, tempdir};

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

struct Step {
    delivered: u64,
    dropped: u64,
    expected: f64,
    p50_ms: f64,
    p95_ms: f64,
    cpu_ms_per_frame: f64,
    busy_ms_per_frame: BTreeMap<String, f64>,
    /// camsrc's messages, errors and warnings, with seconds from the start.
    said: Vec<String>,
}

fn run(
    server: &RtspServer,
    mount: &dyn Fn(usize) -> String,
    cameras: usize,
    detector: &str,
    seconds: u64,
    broker: u16,
    conninfo: &str,
) -> Step {
    let branch = |i: usize| {
        format!(
            "camsrc name=cam{i} uri={} camera-id=cam{i} latency=50 transport=tcp \
             ! onnxdetect classes=person {detector} ! bytetrack ! tee name=t{i} \
             t{i}. ! queue ! mqttsink name=mqtt{i} port={broker} \
             t{i}. ! queue ! pgsink name=pg{i} conninfo=\"{conninfo}\"",
            server.url(&mount(i), None)
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
    // What the cameras and the pipeline said, to show when frames stop.
    let said = Arc::new(Mutex::new(Vec::<String>::new()));
    let (log, t0) = (said.clone(), Instant::now());
    pipeline.bus().unwrap().set_sync_handler(move |_, msg| {
        let line = match msg.view() {
            gst::MessageView::Element(e) => e
                .structure()
                .filter(|s| s.name().starts_with("camsrc/"))
                .map(|s| s.to_string()),
            gst::MessageView::Error(e) => Some(format!("error: {} ({:?})", e.error(), e.debug())),
            gst::MessageView::Warning(w) => Some(format!("warning: {}", w.error())),
            _ => None,
        };
        if let Some(line) = line {
            let from = msg.src().map(|s| s.name()).unwrap_or_default();
            log.lock().unwrap().push(format!(
                "{:.1} s {from}: {line}",
                t0.elapsed().as_secs_f64()
            ));
        }
        gst::BusSyncReply::Drop
    });
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
    let said = std::mem::take(&mut *said.lock().unwrap());
    Step {
        said,
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

/// The camera counts a row tries, until one falls behind: the most
/// cameras kept up with.
fn sweep(
    title: &str,
    detector: &str,
    mount: &dyn Fn(usize) -> String,
    max_cameras: usize,
    seconds: u64,
    servers: &mut Servers,
) -> usize {
    println!("{title} (onnxdetect {detector}):");
    let mut kept_up = 0;
    let mut cameras = 1;
    while cameras <= max_cameras {
        // A fresh server each step: no media or session left from the last.
        servers.rtsp.restart();
        let s = run(
            &servers.rtsp,
            mount,
            cameras,
            detector,
            seconds,
            servers.broker.port,
            &servers.pg.conninfo(),
        );
        let drop_share = s.dropped as f64 / (s.delivered + s.dropped).max(1) as f64;
        let ok = drop_share < 0.01 && s.delivered as f64 >= 0.95 * s.expected && s.p95_ms < 150.0;
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
            // Frames that did not come, rather than too many to keep up with.
            if (s.delivered as f64) < 0.95 * s.expected {
                println!("    what the pipeline said:");
                for line in s.said.iter().rev().take(20).rev() {
                    println!("      {line}");
                }
            }
            break;
        }
        kept_up = cameras;
        cameras = if cameras < 4 {
            cameras * 2
        } else {
            cameras + 2
        };
    }
    println!("  => keeps up with {kept_up} cameras at 10 fps");
    kept_up
}

struct Servers {
    rtsp: RtspServer,
    broker: Mosquitto,
    pg: Postgres,
}

/// Per track of one run: the frame it began and its box on every frame.
type Tracks = BTreeMap<u64, BTreeMap<usize, cctv::bbox::BBox>>;

/// The person tracks `onnxdetect {detector} ! bytetrack` finds in `file`,
/// played as fast as it decodes, and the detector's runs.
fn tracks(file: &std::path::Path, detector: &str) -> (Tracks, u64) {
    let launch = format!(
        "filesrc location={} ! decodebin ! videoconvert ! onnxdetect name=d classes=person {detector} \
         ! bytetrack ! fakesink name=sink sync=false",
        file.display()
    );
    let pipeline = gst::parse::launch(&launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let found = Arc::new(Mutex::new((Tracks::new(), 0usize)));
    let f = found.clone();
    pipeline
        .by_name("sink")
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let mut f = f.lock().unwrap();
            let n = f.1;
            f.1 += 1;
            if let Some(Ok(frame)) = info
                .buffer()
                .and_then(|b| cctv::meta::Frame::from_buffer(b))
            {
                for o in &frame.objects {
                    if let Some(id) = o.track_id {
                        f.0.entry(id).or_default().insert(n, o.bbox);
                    }
                }
            }
            gst::PadProbeReturn::Ok
        });
    let end = support::play_to_end(&pipeline, gst::ClockTime::from_seconds(900));
    let runs = pipeline
        .by_name("d")
        .unwrap()
        .property::<gst::Structure>("stats")
        .get::<u64>("runs")
        .unwrap_or(0);
    pipeline.set_state(gst::State::Null).unwrap();
    end.unwrap();
    let found = std::mem::take(&mut found.lock().unwrap().0);
    (found, runs)
}

/// For each track of `every` (detection on every frame) lasting at least
/// ten frames: how many frames after its first the gated run had a track on
/// the same person (box IoU over 0.5), or `None` if never while it lasted.
fn delays(every: &Tracks, gated: &Tracks) -> Vec<Option<usize>> {
    every
        .values()
        .filter(|boxes| boxes.len() >= 10)
        .map(|boxes| {
            let first = *boxes.keys().next().unwrap();
            boxes.iter().find_map(|(n, b)| {
                gated
                    .values()
                    .any(|g| g.get(n).is_some_and(|o| o.iou(b) > 0.5))
                    .then(|| n - first)
            })
        })
        .collect()
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
    let scenes = std::env::var("BENCH_SCENES").unwrap_or_else(|_| "clip,quiet".into());
    let dir = tempdir("capacity");
    let clip = encode_clip(&dir);
    let quiet: Vec<std::path::PathBuf> = (0..4)
        .filter(|_| scenes.contains("quiet"))
        .map(|phase| {
            let out = dir.join(format!("quiet-{phase}.mp4"));
            support::scene::encode_quiet_camera(&out, phase, 4);
            out
        })
        .collect();
    let play = |file: &std::path::Path| {
        format!(
            "( filesrc location={} ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )",
            file.display()
        )
    };
    let mut mounts: Vec<(String, String)> = (0..max_cameras)
        .map(|i| (format!("cam{i}"), play(&clip)))
        .collect();
    mounts.extend(
        quiet
            .iter()
            .enumerate()
            .map(|(phase, f)| (format!("quiet{phase}"), play(f))),
    );
    let refs: Vec<(&str, &str)> = mounts
        .iter()
        .map(|(m, l)| (m.as_str(), l.as_str()))
        .collect();
    let mut servers = Servers {
        rtsp: RtspServer::start_without_rtcp(&refs),
        broker: Mosquitto::start(),
        pg: Postgres::start(),
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "live cameras at 10 fps (768x576 H.264 over RTSP), detection + tracking + mqttsink + pgsink, \
         {seconds} s per step, {cores} cores; a count keeps up with < 1 % dropped and p95 < 150 ms"
    );
    if scenes.contains("clip") {
        for interval in intervals {
            sweep(
                "the clip (people in every frame)",
                &format!("interval={interval}"),
                &|i| format!("cam{i}"),
                max_cameras,
                seconds,
                &mut servers,
            );
        }
    }
    if !quiet.is_empty() {
        let mount = |i: usize| format!("quiet{}", i % 4);
        let title = "quiet cameras (people 25 % of the time, four phases)";
        let every = sweep(
            title,
            "motion-gate=false",
            &mount,
            max_cameras,
            seconds,
            &mut servers,
        );
        let gated = sweep(
            title,
            "motion-gate=true",
            &mount,
            max_cameras,
            seconds,
            &mut servers,
        );
        println!("  => with the motion gate {gated} cameras, without {every}");
        support::summary_row(
            "quiet cameras per box, without / with the motion gate",
            &format!("{every} / {gated}"),
            &format!(
                "live RTSP cameras at 10 fps, people 25 % of the time, `camsrc ! onnxdetect ! bytetrack ! \
                 mqttsink + pgsink`; the most kept up with (< 1 % dropped, p95 capture to sink < 150 ms, \
                 {seconds} s per count)"
            ),
        );
        let (all, all_runs) = tracks(&quiet[0], "motion-gate=false");
        let (gate, gate_runs) = tracks(&quiet[0], "motion-gate=true");
        let d = delays(&all, &gate);
        let found: Vec<usize> = d.iter().flatten().copied().collect();
        println!(
            "one quiet camera ({} frames), tracks of 10+ frames with detection on every frame: {}; \
             detector runs {all_runs} without the gate, {gate_runs} with it",
            4 * support::scene::QUIET_PERIOD,
            d.len()
        );
        println!(
            "  with the gate: {} lost, found after 0 frames: {}, 1: {}, 2: {}, more: {} (max {})",
            d.len() - found.len(),
            found.iter().filter(|&&n| n == 0).count(),
            found.iter().filter(|&&n| n == 1).count(),
            found.iter().filter(|&&n| n == 2).count(),
            found.iter().filter(|&&n| n > 2).count(),
            found.iter().max().copied().unwrap_or(0)
        );
        support::summary_row(
            "what the gate costs",
            &format!(
                "{} of {} tracks lost, enter at most {} frames later",
                d.len() - found.len(),
                d.len(),
                found.iter().max().copied().unwrap_or(0)
            ),
            &format!(
                "one quiet camera, {} frames: tracks of 10+ frames with detection on every frame, against the \
                 gated run; detector runs {gate_runs} instead of {all_runs}",
                4 * support::scene::QUIET_PERIOD
            ),
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
