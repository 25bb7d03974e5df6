//! Benchmark of several cameras in one process: the clip played by N
//! branches `decodebin ! queue ! onnxdetect ! bytetrack ! fakesink`, total
//! frames/s for each way of sharing the model (`sessions`, `threads`), next
//! to inference alone with the same sessions and N threads calling it, in
//! the same run. Run with `./run bench` or `cargo bench --bench cameras`;
//! `BENCH_FRAMES` frames per camera (default 300), `BENCH_CAMERAS` (4).

mod support;

use support::{assets, env_or};

use std::sync::{Arc, Mutex};
use std::time::Instant;

use cctv::detect::{ElementType, InputSpec};
use gst::prelude::*;
use gstcctv::inference::{self, ExecutionProvider, InputTensor, OutputScratch, SessionOptions};

/// Frames/s over all cameras through the pipeline.
fn pipeline(cameras: usize, sessions: u32, threads: u32, frames: usize) -> f64 {
    let video = assets().join("media/vtest.avi");
    let branch = |i: usize| {
        format!(
            "filesrc location={} ! decodebin ! identity eos-after={frames} ! queue \
             ! onnxdetect classes=person sessions={sessions} threads={threads} ! bytetrack \
             ! fakesink name=sink{i} sync=false",
            video.display()
        )
    };
    let launch: Vec<String> = (0..cameras).map(branch).collect();
    let pipeline = gst::parse::launch(&launch.join(" "))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let counted = Arc::new(Mutex::new(0usize));
    for i in 0..cameras {
        let c = Arc::clone(&counted);
        pipeline
            .by_name(&format!("sink{i}"))
            .unwrap()
            .static_pad("sink")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                *c.lock().unwrap() += 1;
                gst::PadProbeReturn::Ok
            });
    }
    let start = Instant::now();
    pipeline.set_state(gst::State::Playing).unwrap();
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(600),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("the run ends");
    let elapsed = start.elapsed().as_secs_f64();
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(msg.type_(), gst::MessageType::Eos, "{msg:?}");
    *counted.lock().unwrap() as f64 / elapsed
}

/// Inferences/s with `callers` threads running the model at once.
fn inference_alone(callers: usize, sessions: u32, threads: u32, runs: usize) -> f64 {
    let model = inference::load(&SessionOptions {
        path: assets().join("models/yolox_nano.onnx"),
        threads,
        provider: ExecutionProvider::Cpu,
        sessions,
    })
    .unwrap();
    let spec = InputSpec {
        name: "images".into(),
        width: 416,
        height: 416,
        planar: true,
        ty: ElementType::F32,
    };
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..callers {
            let model = Arc::clone(&model);
            let spec = spec.clone();
            s.spawn(move || {
                let input = InputTensor::new(&spec);
                let mut scratch = OutputScratch::default();
                for _ in 0..runs {
                    model.run(&input, &mut scratch, |_| ()).unwrap();
                }
            });
        }
    });
    (callers * runs) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    gst::init().unwrap();
    gstcctv::plugin_register_static().unwrap();
    let frames = env_or("BENCH_FRAMES", 300);
    let cameras = env_or("BENCH_CAMERAS", 4);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("{cameras} cameras of the clip in one process, {frames} frames each, {cores} cores");
    // (0, 0) is the default: sessions added on demand.
    let schedules: Vec<(u32, u32)> = vec![(0, 0), (1, 0), (cores as u32, 1), (cameras as u32, 1)];
    let (mut best_alone, mut default_total) = (0.0f64, 0.0);
    for (sessions, threads) in schedules {
        let alone = inference_alone(cameras, sessions, threads, 100);
        let total = pipeline(cameras, sessions, threads, frames);
        best_alone = best_alone.max(alone);
        if (sessions, threads) == (0, 0) {
            default_total = total;
        }
        let one = pipeline(1, sessions, threads, frames);
        println!(
            "  sessions={sessions} threads={threads}: {total:.1} frames/s in total ({:.1} per camera); \
             inference alone {alone:.1}/s (ratio {:.2}); one camera alone {one:.1} frames/s",
            total / cameras as f64,
            total / alone
        );
    }
    println!(
        "  default (sessions=0): {default_total:.1} frames/s in total, {:.2} of the best inference-only schedule of this run ({best_alone:.1}/s)",
        default_total / best_alone
    );
}
