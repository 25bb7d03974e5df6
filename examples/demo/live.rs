//! `demo --rtsp`: the data path on live cameras. An RTSP server in this
//! process (`support::RtspServer`) serves the clip on one mount per
//! camera, looped as a live stream; one pipeline runs the line of
//! `pipelines/demo-rtsp.txt` for every camera (camsrc -> onnxdetect ->
//! bytetrack -> gendercls -> mqttsink + pgsink) against the demo's servers
//! for `--seconds` or until Ctrl+C, then sends EOS and reports per camera
//! what the servers received, camsrc's stats and the latency from
//! capture to the sinks.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstcctv::camsrc::Status;
use support::RtspServer;
use support::rtsp::{clip_mount, loopable};

use super::{Options, Progress, Servers};

/// A folder removed when dropped, even when the run fails.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

/// Milliseconds from capture to a sink, one per camera frame.
type Latencies = Arc<Mutex<Vec<f64>>>;

/// Records how long after its capture each camera frame reaches `pad`
/// (stand-in frames, which have no capture time, are left out).
fn measure_latency(pad: &gst::Pad) -> Latencies {
    let latencies = Latencies::default();
    let l = latencies.clone();
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(captured) = info
            .buffer()
            .and_then(|b| cctv::meta::Frame::capture_time(b))
        {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            let ms = now.saturating_sub(captured) as f64 / 1e6;
            l.lock().unwrap().push(ms);
        }
        gst::PadProbeReturn::Ok
    });
    latencies
}

/// `P50/P95 ms` of `values` (nearest rank).
fn percentiles(values: &[f64]) -> String {
    if values.is_empty() {
        return "no frames".into();
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank =
        |p: f64| sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
    format!("{:.0}/{:.0} ms", rank(0.50), rank(0.95))
}

/// One camera's branch and what is watched on it.
struct Camera {
    name: String,
    camsrc: gst::Element,
    /// Where the camera's frames leave camsrc.
    detector: gst::Pad,
    progress: Arc<Progress>,
    /// Capture to camsrc's output, to mqttsink and to pgsink.
    latency: [Latencies; 3],
}

pub fn run(o: &Options, servers: &Servers) -> Result<(), String> {
    let names: Vec<String> = (1..=o.cameras).map(|k| format!("cam{k}")).collect();
    let dir = TempDir(support::tempdir("cctv-rtsp-demo"));
    let encoding = Instant::now();
    let (clip, fps) = loopable(&o.video, &dir.0)?;
    let launch = clip_mount(&clip, fps);
    let mounts: Vec<(&str, &str)> = names
        .iter()
        .map(|n| (n.as_str(), launch.as_str()))
        .collect();
    let server = RtspServer::start(&mounts, None);
    println!(
        "RTSP server on 127.0.0.1:{}: {} (the clip as live H.264 at {}/{} fps, looped; re-encoded for looping in {:.1} s)",
        server.port,
        match names.as_slice() {
            [one] => server.url(one, None),
            [first, .., last] => format!("{} .. /{last}", server.url(first, None)),
            [] => unreachable!("at least one camera"),
        },
        fps.numer(),
        fps.denom(),
        encoding.elapsed().as_secs_f64()
    );
    let (counts, subscriber) = super::subscribe(servers, &names)?;

    let template: String = include_str!("../../pipelines/demo-rtsp.txt")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect();
    let branch = |camera: &str| {
        let line = template
            .trim()
            .replace("{uri}", &server.url(camera, None))
            .replace("{camera}", camera)
            .replace("{mqtt_host}", &servers.mqtt_host)
            .replace("{mqtt_port}", &servers.mqtt_port.to_string())
            .replace("{conninfo}", &servers.conninfo);
        if o.view {
            format!(
                "{line} t-{camera}. ! queue ! cctvoverlay camera-id={camera} ! liveview camera-id={camera}"
            )
        } else {
            line
        }
    };
    let branches: Vec<String> = names.iter().map(|n| branch(n)).collect();
    match names.as_slice() {
        [_] => println!("pipeline (GST_PLUGIN_PATH=target/release gst-launch-1.0 ...):"),
        [first, .., last] => println!(
            "pipeline (GST_PLUGIN_PATH=target/release gst-launch-1.0 ...), {first}'s line of {} ({first} .. {last} alike):",
            names.len()
        ),
        [] => unreachable!("at least one camera"),
    }
    println!("  {}\n", branches[0]);
    let pipeline = gst::parse::launch(&branches.join(" "))
        .map_err(|e| format!("pipeline: {e}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline")?;
    let element = |name: String| {
        pipeline
            .by_name(&name)
            .ok_or(format!("no element named {name}"))
    };
    let sink_pad = |name: String| -> Result<gst::Pad, String> {
        Ok(element(name)?.static_pad("sink").expect("a sink pad"))
    };
    let mut cameras = Vec::new();
    for name in &names {
        let detector = sink_pad(format!("detector-{name}"))?;
        cameras.push(Camera {
            camsrc: element(format!("src-{name}"))?,
            progress: Progress::watch(&element(format!("tracker-{name}"))?),
            latency: [
                measure_latency(&detector),
                measure_latency(&sink_pad(format!("mqtt-{name}"))?),
                measure_latency(&sink_pad(format!("pg-{name}"))?),
            ],
            detector,
            name: name.clone(),
        });
    }

    if o.view {
        println!(
            "live view: http://{}/ (metrics: /metrics, health: /health)\n",
            super::view_address()
        );
    }
    let start = Instant::now();
    // Rows of this run only, when the database is yours and holds older ones.
    let started_at = std::time::SystemTime::now() - Duration::from_secs(1);
    let seconds = Duration::from_secs_f64(o.seconds);
    let ended = Mutex::new(None);
    let sum = |f: fn(&Progress) -> u64| cameras.iter().map(|c| f(&c.progress)).sum::<u64>();
    let result = super::play(
        &pipeline,
        || start.elapsed() >= seconds,
        // EOS goes in after camsrc: camsrc's fallbacksrc takes an EOS sent
        // to it for the camera ending its stream and reconnects, so the
        // EOS may never come out of camsrc. All cameras at once: each send
        // waits for its detector's frame in hand, which may be waiting for
        // a session.
        || {
            std::thread::scope(|s| {
                for camera in &cameras {
                    s.spawn(|| camera.detector.send_event(gst::event::Eos::new()));
                }
            });
            *ended.lock().unwrap() = Some(start.elapsed());
        },
        || {
            let frames = sum(|p| p.frames.load(Ordering::Relaxed));
            let connected = cameras
                .iter()
                .filter(|c| c.camsrc.property::<Status>("status") == Status::Connected)
                .count();
            format!(
                "{:.0} s  cameras connected {connected}/{}  frames {frames}  {:.1} fps  people in view {}  tracks so far {}",
                start.elapsed().as_secs_f64(),
                cameras.len(),
                frames as f64 / start.elapsed().as_secs_f64(),
                sum(|p| p.in_view.load(Ordering::Relaxed)),
                sum(|p| p.tracks.load(Ordering::Relaxed))
            )
        },
    );
    let flushed = start.elapsed();
    let elapsed = ended.lock().unwrap().unwrap_or(flushed);
    // Read before the pipeline stops: camsrc's stats end with the run.
    let finals: Vec<(gst::Structure, u64)> = cameras
        .iter()
        .map(|c| {
            (
                c.camsrc.property::<gst::Structure>("stats"),
                super::mqtt_delivered(&pipeline, &format!("mqtt-{}", c.name)),
            )
        })
        .collect();
    pipeline.set_state(gst::State::Null).ok();
    drop(server);
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        println!();
    }
    result?;

    println!(
        "\nran {:.1} s (until every branch had its EOS); the sinks flushed in {:.1} s more",
        elapsed.as_secs_f64(),
        (flushed - elapsed).as_secs_f64()
    );
    let elapsed = elapsed.as_secs_f64();
    let mut db = super::connect_database(&servers.conninfo)?;
    for (camera, (stats, acked)) in cameras.iter().zip(&finals) {
        let frames = camera.progress.frames.load(Ordering::Relaxed);
        let stat = |field: &str| stats.get::<u64>(field).unwrap_or(0);
        println!("\nreport for camera {}", camera.name);
        println!(
            "  frames processed: {frames} in {elapsed:.1} s ({:.1} fps)",
            frames as f64 / elapsed
        );
        println!(
            "  camsrc: frames from the camera {}, reconnects {}, dropped {} (detector behind), stand-in frames {}",
            stat("frames"),
            stat("reconnects"),
            stat("dropped"),
            stat("stand-in-frames")
        );
        let [out, mqtt, pg] = camera.latency.each_ref().map(|l| l.lock().unwrap());
        println!(
            "  latency from capture, p50/p95: camsrc's output {}, mqttsink {}, pgsink {} ({} frames)",
            percentiles(&out),
            percentiles(&mqtt),
            percentiles(&pg),
            mqtt.len()
        );
        super::report_tracks(
            &mut db,
            &camera.name,
            started_at,
            camera.progress.tracks.load(Ordering::Relaxed),
        )?;
        super::report_mqtt(&counts, &camera.name, *acked);
    }
    if cameras.len() > 1 {
        let frames = sum(|p| p.frames.load(Ordering::Relaxed));
        let all: Vec<f64> = cameras
            .iter()
            .flat_map(|c| c.latency[1].lock().unwrap().clone())
            .collect();
        println!(
            "\nall {} cameras: {frames} frames processed in {elapsed:.1} s ({:.1} fps), capture to mqttsink p50/p95 {}",
            cameras.len(),
            frames as f64 / elapsed,
            percentiles(&all)
        );
    }
    subscriber.try_disconnect().ok();
    Ok(())
}
