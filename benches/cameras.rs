//! Benchmark of several cameras in one process: the clip played by N
//! branches `decodebin ! queue ! onnxdetect ! bytetrack ! fakesink`, total
//! frames/s in the steady state for each way of sharing the model
//! (`sessions`, `threads`, `batch-size`) with its CPU time per frame, next
//! to inference alone with the same sessions and N threads calling it, in
//! the same run, right before and right after the pipeline (their mean:
//! the machine's speed drifts), and to the most inferences the cores run
//! (one caller per core, each on a one-thread session). Run with `./run
//! bench` or `cargo bench --bench cameras`; `BENCH_FRAMES` frames per
//! camera (default 300), `BENCH_CAMERAS` (4), `BENCH_SCHEDULES=default`
//! for the default only.

use support::{assets, cpu_seconds, env_or, play_to_end};

use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use cctv::detect::{ElementType, InputSpec};
use gst::prelude::*;
use gstcctv::inference::{
    self, BatchOptions, ExecutionProvider, InputTensor, OutputScratch, SessionOptions,
};

/// Frames counted at the sinks, to time the steady state.
struct Count {
    per_sink: Vec<usize>,
    total: usize,
    /// (when, process CPU seconds, total) once every sink is warm, and when
    /// the first sink reached its last frame.
    warm: Option<(Instant, f64, usize)>,
    end: Option<(Instant, f64, usize)>,
}

/// Frames/s over all cameras through the pipeline, in the steady state:
/// from when every camera has passed its first `WARM_UP` frames (models
/// loaded, sessions added) to when the first camera ends (after that fewer
/// cameras share the cores).
fn pipeline(cameras: usize, schedule: &Schedule, frames: usize) -> Measured {
    const WARM_UP: usize = 20;
    let video = support::video();
    let branch = |i: usize| {
        format!(
            "filesrc location={} ! decodebin ! identity eos-after={frames} ! queue \
             ! onnxdetect classes=person sessions={} threads={} batch-size={} ! bytetrack \
             ! fakesink name=sink{i} sync=false",
            video.display(),
            schedule.sessions,
            schedule.threads,
            schedule.batch
        )
    };
    let launch: Vec<String> = (0..cameras).map(branch).collect();
    let pipeline = gst::parse::launch(&launch.join(" "))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let count = Arc::new(Mutex::new(Count {
        per_sink: vec![0; cameras],
        total: 0,
        warm: None,
        end: None,
    }));
    for i in 0..cameras {
        let count = Arc::clone(&count);
        pipeline
            .by_name(&format!("sink{i}"))
            .unwrap()
            .static_pad("sink")
            .unwrap()
            .add_probe(
                gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
                move |_, info| {
                    let c = &mut *count.lock().unwrap();
                    if let Some(gst::PadProbeData::Event(_)) = &info.data {
                        // The first camera to end (its EOS) ends the window.
                        if c.end.is_none()
                            && info
                                .event()
                                .is_some_and(|e| e.type_() == gst::EventType::Eos)
                        {
                            c.end = Some((Instant::now(), cpu_seconds(), c.total));
                        }
                        return gst::PadProbeReturn::Ok;
                    }
                    c.per_sink[i] += 1;
                    c.total += 1;
                    if c.warm.is_none() && c.per_sink.iter().all(|&n| n >= WARM_UP) {
                        c.warm = Some((Instant::now(), cpu_seconds(), c.total));
                    }
                    gst::PadProbeReturn::Ok
                },
            );
    }
    let end = play_to_end(&pipeline, gst::ClockTime::from_seconds(600));
    pipeline.set_state(gst::State::Null).unwrap();
    end.unwrap();
    let c = count.lock().unwrap();
    let ((t0, cpu0, n0), (t1, cpu1, n1)) = (c.warm.unwrap(), c.end.unwrap());
    let n = (n1 - n0) as f64;
    Measured {
        rate: n / (t1 - t0).as_secs_f64(),
        cpu_ms: (cpu1 - cpu0) * 1000.0 / n,
    }
}

/// How a run shared the model.
struct Schedule {
    sessions: u32,
    threads: u32,
    /// onnxdetect's batch-size (1: none).
    batch: u32,
}

/// Frames (or inferences) per second, and process CPU time per frame.
struct Measured {
    rate: f64,
    cpu_ms: f64,
}

/// Inferences/s with `callers` threads running the model at once.
fn inference_alone(callers: usize, schedule: &Schedule, runs: usize) -> Measured {
    let model = inference::load(&SessionOptions {
        path: assets().join("models/yolox_nano.onnx"),
        threads: schedule.threads,
        provider: ExecutionProvider::Cpu,
        sessions: schedule.sessions,
        // As onnxdetect's default batch-timeout.
        batch: BatchOptions {
            max: schedule.batch,
            wait: Duration::from_millis(10),
        },
    })
    .unwrap();
    let spec = InputSpec {
        name: "images".into(),
        width: 416,
        height: 416,
        planar: true,
        ty: ElementType::F32,
    };
    // Timed once every caller has run a few times (sessions added, warm).
    let warm = Barrier::new(callers + 1);
    let start = std::thread::scope(|s| {
        for _ in 0..callers {
            let (model, spec, warm) = (Arc::clone(&model), spec.clone(), &warm);
            s.spawn(move || {
                let input = InputTensor::new(&spec);
                let mut scratch = OutputScratch::default();
                for i in 0..runs + 5 {
                    if i == 5 {
                        warm.wait();
                    }
                    model.run(&input, &mut scratch, |_| Ok(())).unwrap();
                }
            });
        }
        warm.wait();
        (Instant::now(), cpu_seconds())
    });
    // The scope has joined the callers.
    let n = (callers * runs) as f64;
    Measured {
        rate: n / start.0.elapsed().as_secs_f64(),
        cpu_ms: (cpu_seconds() - start.1) * 1000.0 / n,
    }
}

fn main() {
    support::init();
    let frames = env_or("BENCH_FRAMES", 300);
    let cameras = env_or("BENCH_CAMERAS", 4);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("{cameras} cameras of the clip in one process, {frames} frames each, {cores} cores");
    let schedule = |sessions, threads, batch| Schedule {
        sessions,
        threads,
        batch,
    };
    // The first is the default: sessions added on demand, no batches.
    let schedules = [
        schedule(0, 0, 1),
        schedule(1, 0, 1),
        schedule(cores as u32, 1, 1),
        schedule(cameras as u32, 1, 1),
        schedule(1, 0, cameras as u32),
    ];
    let only_default = std::env::var("BENCH_SCHEDULES").is_ok_and(|v| v == "default");
    let schedules = if only_default {
        &schedules[..1]
    } else {
        &schedules[..]
    };
    // One caller per core, each on its own one-thread session: the most
    // inferences these cores have run, measured around the default's run.
    let per_core = schedule(cores as u32, 1, 1);
    let (mut best_alone, mut default_total) = (0.0f64, 0.0);
    for (i, s) in schedules.iter().enumerate() {
        let machine_before = (i == 0).then(|| inference_alone(cores, &per_core, 100));
        let before = inference_alone(cameras, s, 100);
        let total = pipeline(cameras, s, frames);
        let after = inference_alone(cameras, s, 100);
        if let Some(b) = machine_before {
            let a = inference_alone(cores, &per_core, 100);
            best_alone = best_alone.max((a.rate + b.rate) / 2.0);
            println!(
                "  inference alone, one caller per core on one-thread sessions: {:.1}/s ({:.1} before, {:.1} after)",
                (a.rate + b.rate) / 2.0,
                b.rate,
                a.rate
            );
        }
        let alone = Measured {
            rate: (before.rate + after.rate) / 2.0,
            cpu_ms: (before.cpu_ms + after.cpu_ms) / 2.0,
        };
        best_alone = best_alone.max(alone.rate);
        if i == 0 {
            default_total = total.rate;
        }
        let one = pipeline(1, s, frames);
        println!(
            "  sessions={} threads={} batch-size={}: {:.1} frames/s in total ({:.1} per camera), CPU {:.1} ms per frame; \
             inference alone {:.1}/s ({:.1} before, {:.1} after), CPU {:.1} ms each (ratio {:.2}); \
             one camera alone {:.1} frames/s",
            s.sessions,
            s.threads,
            s.batch,
            total.rate,
            total.rate / cameras as f64,
            total.cpu_ms,
            alone.rate,
            before.rate,
            after.rate,
            alone.cpu_ms,
            total.rate / alone.rate,
            one.rate,
        );
    }
    let ratio = default_total / best_alone;
    println!(
        "  default (sessions=0): {default_total:.1} frames/s in total, {ratio:.2} of the best inference-only schedule of this run ({best_alone:.1}/s)"
    );
    support::summary_row(
        &format!("{cameras} cameras vs inference alone"),
        &format!("{ratio:.2}"),
        &format!(
            "{default_total:.1} frames/s in total through `decodebin ! queue ! onnxdetect ! bytetrack` \
             against the best inference-only schedule, {best_alone:.1} inferences/s ({})",
            if only_default {
                "the faster of the default's sessions with the cameras' callers and one caller per core on one-thread \
                 sessions, each measured right before and after"
            } else {
                "the fastest of the five ways of sharing the model and one caller per core on one-thread \
                 sessions, each measured right before and after"
            }
        ),
    );
}
