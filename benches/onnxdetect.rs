//! Benchmark: ONNX Runtime inference alone vs the whole
//! `filesrc ! decodebin ! onnxdetect ! fakesink` pipeline on the bundled
//! video and model, plus the element's own pre/post-processing time.
//! Run with `./run bench` or `cargo bench --bench onnxdetect`.
//!
//! This shared VM's speed drifts by up to 2x within a minute, so each round
//! measures inference alone right before and right after one pipeline run and
//! compares the pipeline with their mean; the median round is the result.
//! `BENCH_ROUNDS` (3), `BENCH_FRAMES` (inferences per measurement, 200) and
//! `BENCH_THREADS` (intra-op threads, 0 = ONNX Runtime's choice) tune it.

use std::time::Instant;

use gst::prelude::*;
use ort::value::TensorRef;

fn assets() -> std::path::PathBuf {
    std::env::var_os("CCTV_ASSETS")
        .map(Into::into)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/.assets").into())
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Round {
    /// Seconds per inference alone, before and after the pipeline.
    before: f64,
    after: f64,
    frames: f64,
    pipeline_secs: f64,
    /// Mean per-frame milliseconds inside the element.
    pre: f64,
    inference: f64,
    post: f64,
}

impl Round {
    fn infer_secs(&self) -> f64 {
        (self.before + self.after) / 2.0
    }

    fn ratio(&self) -> f64 {
        self.frames / self.pipeline_secs * self.infer_secs()
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds = env_or("BENCH_ROUNDS", 3).max(1);
    let frames = env_or("BENCH_FRAMES", 200).max(1);
    let threads = env_or("BENCH_THREADS", 0);
    let assets = assets();
    let video = assets.join("media/vtest.avi");

    gst::init()?;
    gstcctv::plugin_register_static()?;

    // The same library, model and session options as the element: the
    // session cache hands the pipeline's element this very session.
    let shared = gstcctv::inference::load(&gstcctv::inference::SessionOptions {
        path: assets.join("models/yolox_nano.onnx"),
        threads: threads as u32,
        provider: gstcctv::inference::ExecutionProvider::Cpu,
    })?;
    let input = vec![114.0f32; 3 * 416 * 416];
    let inference_alone = || -> Result<f64, Box<dyn std::error::Error>> {
        let mut session = shared.session.lock().unwrap();
        let tensor = || TensorRef::from_array_view(([1usize, 3, 416, 416], &input[..]));
        for _ in 0..10 {
            session.run(ort::inputs!["images" => tensor()?])?;
        }
        let start = Instant::now();
        for _ in 0..frames {
            session.run(ort::inputs!["images" => tensor()?])?;
        }
        Ok(start.elapsed().as_secs_f64() / frames as f64)
    };
    let launch = format!(
        "filesrc location={} ! decodebin ! onnxdetect name=d threads={threads} ! fakesink sync=false",
        video.display()
    );

    println!("onnxdetect benchmark (YOLOX-Nano 416x416, vtest.avi 768x576, threads={threads})");
    let mut results = Vec::new();
    for round in 1..=rounds {
        let before = inference_alone()?;
        let pipeline = gst::parse::launch(&launch)?
            .downcast::<gst::Pipeline>()
            .unwrap();
        pipeline.set_state(gst::State::Paused)?;
        let _ = pipeline.state(gst::ClockTime::from_seconds(30));
        let bus = pipeline.bus().unwrap();
        let start = Instant::now();
        pipeline.set_state(gst::State::Playing)?;
        for msg in bus.iter_timed(gst::ClockTime::NONE) {
            match msg.view() {
                gst::MessageView::Eos(_) => break,
                gst::MessageView::Error(e) => {
                    return Err(format!("pipeline: {}", e.error()).into());
                }
                _ => {}
            }
        }
        let pipeline_secs = start.elapsed().as_secs_f64();
        let stats = pipeline
            .by_name("d")
            .unwrap()
            .property::<gst::Structure>("stats");
        pipeline.set_state(gst::State::Null)?;
        let r = Round {
            before,
            after: inference_alone()?,
            frames: stats.get::<u64>("frames")? as f64,
            pipeline_secs,
            pre: stats.get::<f64>("preprocess-ms")?,
            inference: stats.get::<f64>("inference-ms")?,
            post: stats.get::<f64>("postprocess-ms")?,
        };
        println!(
            "  round {round}: inference alone {:.2} ms ({:.2} before, {:.2} after), \
             pipeline {:.1} frames/s, ratio {:.2}",
            r.infer_secs() * 1e3,
            r.before * 1e3,
            r.after * 1e3,
            r.frames / r.pipeline_secs,
            r.ratio()
        );
        results.push(r);
    }
    results.sort_by(|a, b| a.ratio().total_cmp(&b.ratio()));
    let r = &results[results.len() / 2];
    println!("median round:");
    println!(
        "  inference alone:      {:8.1} frames/s ({:.2} ms)",
        1.0 / r.infer_secs(),
        r.infer_secs() * 1e3
    );
    println!(
        "  full pipeline:        {:8.1} frames/s ({} frames in {:.2} s)",
        r.frames / r.pipeline_secs,
        r.frames,
        r.pipeline_secs
    );
    println!("  ratio pipeline/infer: {:8.2}", r.ratio());
    println!(
        "  in the element, per frame: pre {:.3} ms, inference {:.2} ms, post {:.3} ms",
        r.pre, r.inference, r.post
    );
    println!(
        "  pre+post / inference: {:8.1} %",
        (r.pre + r.post) / r.inference * 100.0
    );
    Ok(())
}
