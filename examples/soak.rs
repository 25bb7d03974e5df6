//! `./run soak`: camsrc through many camera outages, measured. An RTSP
//! server in this process (`support::RtspServer`) serves a live test
//! pattern; `camsrc ! fakesink` plays it while the server is stopped for
//! `--outage` seconds and started again, `--cycles` times (a camera
//! rebooting). Per cycle it prints how long after the server came back
//! camsrc posted `connected` and its first new frame reached the sink (the
//! time to recover); then the worst and the 95th percentile of those, the
//! reconnects camsrc counted (they must equal the cycles) and the resident
//! memory of the process (camsrc and the server) before the first cycle
//! and after the last.
//!
//! ```text
//! soak [--cycles N] [--outage SECONDS]
//! ```
//!
//! With `BENCH_SUMMARY` set it adds the recovery figures to the summary
//! table `./run bench` prints (`support::summary_row`).
//!
//! Exits non-zero when a cycle is not back within timeout + max-backoff +
//! 10 s, camsrc's reconnects do not match the cycles, or the pipeline
//! posts an error.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use gst::prelude::*;

/// A camera that sends nothing for 2 s is lost.
const TIMEOUT: Duration = Duration::from_secs(2);

struct Options {
    cycles: u32,
    outage: Duration,
}

fn usage() -> String {
    "usage: soak [--cycles N] [--outage SECONDS]".into()
}

fn parse_options() -> Result<Options, String> {
    let mut o = Options {
        cycles: 100,
        outage: Duration::from_secs(30),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{arg} needs a value\n{}", usage()))
        };
        match arg.as_str() {
            "--cycles" => {
                o.cycles = value()?
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or("--cycles: a positive number")?
            }
            "--outage" => {
                o.outage = value()?
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s > 0.0 && s.is_finite())
                    .map(Duration::from_secs_f64)
                    .ok_or("--outage: a positive number of seconds")?
            }
            "-h" | "--help" => return Err(usage()),
            _ => return Err(format!("unknown option {arg}\n{}", usage())),
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    match parse_options().and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("soak: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What the pipeline tells the soak loop, with when it happened.
enum Event {
    /// An element message of camsrc (`connected`, `disconnected`, `retrying`).
    Camera(Instant, gst::Structure),
    /// The first camera frame at the sink after the soak asked for one.
    Frame(Instant),
    /// An error or EOS on the bus.
    Trouble(String),
}

/// The process's resident memory (VmRSS), in MB.
fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

struct Soak {
    events: mpsc::Receiver<Event>,
    /// Set to have the next camera frame at the sink reported.
    want_frame: Arc<AtomicBool>,
}

impl Soak {
    /// Waits until `deadline` for what `wanted` picks, counting the
    /// `retrying` messages on the way.
    fn wait<T>(
        &self,
        deadline: Instant,
        retries: &mut u32,
        mut wanted: impl FnMut(&Event) -> Option<T>,
    ) -> Result<Option<T>, String> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let event = match self.events.recv_timeout(left) {
                Ok(event) => event,
                Err(_) => return Ok(None),
            };
            if let Event::Trouble(t) = &event {
                return Err(t.clone());
            }
            if let Event::Camera(_, s) = &event
                && s.name() == "camsrc/retrying"
            {
                *retries += 1;
            }
            if let Some(found) = wanted(&event) {
                return Ok(Some(found));
            }
        }
    }
}

fn message(name: &'static str) -> impl Fn(&Event) -> Option<(Instant, gst::Structure)> {
    move |e| match e {
        Event::Camera(at, s) if s.name() == name => Some((*at, s.clone())),
        _ => None,
    }
}

/// `max X s, p95 Y s` of `values` (nearest rank).
fn worst_and_p95(values: &[Duration]) -> String {
    let mut sorted = values.to_vec();
    sorted.sort();
    let p95 = sorted[((0.95 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
    format!(
        "max {:.2} s, p95 {:.2} s",
        sorted[sorted.len() - 1].as_secs_f64(),
        p95.as_secs_f64()
    )
}

fn run(o: Options) -> Result<(), String> {
    gst::init().map_err(|e| e.to_string())?;
    gstcctv::plugin_register_static().map_err(|e| e.to_string())?;
    let mut server =
        support::RtspServer::start(&[("cam", &support::rtsp::test_pattern(640, 480, 15))], None);
    // camsrc's own backoff (5 s doubling to 60 s): its check that the
    // camera is back, not a short backoff, is what brings it back fast.
    let launch = format!(
        "camsrc name=cam uri={} camera-id=soak timeout={} ! fakesink name=sink sync=false",
        server.url("cam", None),
        TIMEOUT.as_millis(),
    );
    let pipeline = gst::parse::launch(&launch)
        .map_err(|e| format!("pipeline: {e}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline")?;
    let camsrc = pipeline.by_name("cam").ok_or("no camsrc")?;
    let ms = |name: &str| Duration::from_millis(camsrc.property::<u32>(name).into());
    let limit = TIMEOUT + ms("max-backoff") + Duration::from_secs(10);
    println!(
        "RTSP server on 127.0.0.1:{} (live test pattern, MJPEG 640x480 at 15 fps)\npipeline: {launch}\n\
         backoff {:.0} s doubling to {:.0} s; {} cycles of {:.1} s outages; a cycle must be back within {:.0} s \
         (timeout + max-backoff + 10 s)\n",
        server.port,
        ms("retry-backoff").as_secs_f64(),
        ms("max-backoff").as_secs_f64(),
        o.cycles,
        o.outage.as_secs_f64(),
        limit.as_secs_f64()
    );
    let (tx, events) = mpsc::channel();
    let want_frame = Arc::new(AtomicBool::new(false));
    {
        let (tx, want) = (tx.clone(), want_frame.clone());
        pipeline
            .by_name("sink")
            .and_then(|s| s.static_pad("sink"))
            .ok_or("no sink pad")?
            .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                let camera_frame = info
                    .buffer()
                    .and_then(|b| cctv::meta::Frame::capture_time(b))
                    .is_some();
                if camera_frame && want.swap(false, Ordering::SeqCst) {
                    tx.send(Event::Frame(Instant::now())).ok();
                }
                gst::PadProbeReturn::Ok
            });
    }
    let src = camsrc.clone();
    pipeline.bus().unwrap().set_sync_handler(move |_, msg| {
        let event = match msg.view() {
            gst::MessageView::Element(e) if msg.src() == Some(src.upcast_ref()) => e
                .structure()
                .map(|s| Event::Camera(Instant::now(), s.to_owned())),
            gst::MessageView::Error(e) => Some(Event::Trouble(format!(
                "error: {} ({})",
                e.error(),
                e.debug().unwrap_or_default()
            ))),
            gst::MessageView::Eos(_) => Some(Event::Trouble("unexpected end of stream".into())),
            _ => None,
        };
        if let Some(event) = event {
            tx.send(event).ok();
        }
        gst::BusSyncReply::Drop
    });
    let soak = Soak { events, want_frame };
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("cannot start the pipeline: {e}"))?;
    let mut outcome = Outcome::default();
    let result = cycles(&o, &soak, &mut server, limit, &mut outcome);
    let stats = camsrc.property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null).ok();
    if outcome.recovered.is_empty() {
        return result;
    }

    let reconnects = stats.get::<u64>("reconnects").unwrap_or(0);
    let connected: Vec<Duration> = outcome.recovered.iter().map(|r| r.0).collect();
    let frames: Vec<Duration> = outcome.recovered.iter().map(|r| r.1).collect();
    let (before, first, after) = (outcome.rss_before, outcome.rss_first, outcome.rss_after);
    let growth = after - before;
    println!(
        "\ntime to recover, server back -> connected: {}\n\
         time to recover, server back -> first frame: {}\n\
         reconnects counted by camsrc: {reconnects} in {} cycles\n\
         camsrc stats: {stats}\n\
         RSS before the first cycle {before:.1} MB, after the last {after:.1} MB: growth {growth:+.1} MB ({} the 5 MB goal); \
         after the first cycle {first:.1} MB, so {:+.1} MB over the later ones",
        worst_and_p95(&connected),
        worst_and_p95(&frames),
        outcome.recovered.len(),
        if growth < 5.0 { "within" } else { "over" },
        after - first
    );
    support::summary_row(
        &format!("camera back after {:.0} s outages", o.outage.as_secs_f64()),
        &worst_and_p95(&frames),
        &format!(
            "{}{} cycle{}: seconds from the RTSP server's return to camsrc's first real frame at the sink \
             (backoff {:.0} s doubling to {:.0} s)",
            match &result {
                Err(e) => format!("failed ({e}) after "),
                Ok(()) => String::new(),
            },
            frames.len(),
            if frames.len() == 1 { "" } else { "s" },
            ms("retry-backoff").as_secs_f64(),
            ms("max-backoff").as_secs_f64()
        ),
    );
    result?;
    if reconnects != o.cycles as u64 {
        return Err(format!(
            "camsrc counted {reconnects} reconnects in {} cycles",
            o.cycles
        ));
    }
    Ok(())
}

/// What the cycles measured, kept when one fails.
#[derive(Default)]
struct Outcome {
    /// Per cycle, the time from the server's restart to `connected` and
    /// to the first frame.
    recovered: Vec<(Duration, Duration)>,
    rss_before: f64,
    /// After the first cycle, which makes what the first loss needs
    /// (the stand-in source, the allocator's arenas for new threads).
    rss_first: f64,
    rss_after: f64,
}

/// Plays the pipeline through the cycles.
fn cycles(
    o: &Options,
    soak: &Soak,
    server: &mut support::RtspServer,
    limit: Duration,
    outcome: &mut Outcome,
) -> Result<(), String> {
    let mut retries = 0;
    soak.wait(
        Instant::now() + Duration::from_secs(15),
        &mut retries,
        message("camsrc/connected"),
    )?
    .ok_or("camsrc did not connect within 15 s")?;
    // A second of frames first, as after each cycle.
    std::thread::sleep(Duration::from_secs(1));
    outcome.rss_before = rss_mb();
    for cycle in 1..=o.cycles {
        let mut retries = 0;
        let down = Instant::now();
        server.stop();
        let (lost_at, lost) = soak
            .wait(
                down + TIMEOUT + Duration::from_secs(5),
                &mut retries,
                message("camsrc/disconnected"),
            )?
            .ok_or(format!("cycle {cycle}: camsrc did not see the server go"))?;
        std::thread::sleep((down + o.outage).saturating_duration_since(Instant::now()));
        soak.want_frame.store(true, Ordering::SeqCst);
        server.resume();
        let back = Instant::now();
        let (mut connected, mut frame) = (None, None);
        while connected.is_none() || frame.is_none() {
            let event = soak.wait(back + limit, &mut retries, |e| match e {
                Event::Camera(at, s) if s.name() == "camsrc/connected" => Some((true, *at)),
                Event::Frame(at) => Some((false, *at)),
                _ => None,
            })?;
            match event {
                Some((true, at)) => connected = Some(at - back),
                Some((false, at)) => frame = Some(at - back),
                None => {
                    return Err(format!(
                        "cycle {cycle}: not back within {:.0} s of the server's restart",
                        limit.as_secs_f64()
                    ));
                }
            }
        }
        let (connected, frame) = (connected.unwrap(), frame.unwrap());
        std::thread::sleep(Duration::from_secs(1));
        outcome.rss_after = rss_mb();
        if cycle == 1 {
            outcome.rss_first = outcome.rss_after;
        }
        println!(
            "cycle {cycle:>3}/{}: lost after {:.2} s ({}), down {:.1} s, {retries} retries; \
             back: connected after {:.2} s, first frame after {:.2} s; RSS {:.1} MB",
            o.cycles,
            (lost_at - down).as_secs_f64(),
            lost.get::<String>("reason").unwrap_or_default(),
            (back - down).as_secs_f64(),
            connected.as_secs_f64(),
            frame.as_secs_f64(),
            outcome.rss_after
        );
        outcome.recovered.push((connected, frame));
    }
    Ok(())
}
