//! Benchmark: ONNX Runtime inference alone vs the whole
//! `filesrc ! decodebin ! onnxdetect ! fakesink` pipeline on the bundled
//! video and model, plus the element's own pre/post-processing time.
//! Run with `./run bench` or `cargo bench --bench onnxdetect`.

use std::time::Instant;

use gst::prelude::*;
use ort::value::TensorRef;

fn assets() -> std::path::PathBuf {
    std::env::var_os("CCTV_ASSETS")
        .map(Into::into)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/.assets").into())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let frames: usize = std::env::var("BENCH_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let threads: usize = std::env::var("BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let assets = assets();
    let model = assets.join("models/yolox_nano.onnx");
    let video = assets.join("media/vtest.avi");

    gst::init()?;
    gstcctv::plugin_register_static()?;

    // The pipeline first: it also initialises ONNX Runtime the way the element does.
    let launch = format!(
        "filesrc location={} ! decodebin ! onnxdetect name=d threads={threads} ! fakesink sync=false",
        video.display()
    );
    let pipeline = gst::parse::launch(&launch)?
        .downcast::<gst::Pipeline>()
        .unwrap();
    pipeline.set_state(gst::State::Paused)?;
    let bus = pipeline.bus().unwrap();
    let _ = pipeline.state(gst::ClockTime::from_seconds(30));
    let start = Instant::now();
    pipeline.set_state(gst::State::Playing)?;
    for msg in bus.iter_timed(gst::ClockTime::NONE) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => return Err(format!("pipeline: {}", e.error()).into()),
            _ => {}
        }
    }
    let pipeline_secs = start.elapsed().as_secs_f64();
    let stats = pipeline
        .by_name("d")
        .unwrap()
        .property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null)?;
    let n = stats.get::<u64>("frames")? as f64;

    // Inference alone, same model, same thread count, on a fixed tensor.
    let shared = gstcctv::inference::load(&gstcctv::inference::SessionOptions {
        path: model,
        threads: threads as u32,
        provider: gstcctv::inference::ExecutionProvider::Cpu,
    })?;
    let mut session = shared.session.lock().unwrap();
    let input = vec![114.0f32; 3 * 416 * 416];
    let tensor = || TensorRef::from_array_view(([1usize, 3, 416, 416], &input[..]));
    for _ in 0..10 {
        session.run(ort::inputs!["images" => tensor()?])?;
    }
    let start = Instant::now();
    for _ in 0..frames {
        session.run(ort::inputs!["images" => tensor()?])?;
    }
    let infer_secs = start.elapsed().as_secs_f64() / frames as f64;

    let pre = stats.get::<f64>("preprocess-ms")?;
    let inf = stats.get::<f64>("inference-ms")?;
    let post = stats.get::<f64>("postprocess-ms")?;
    println!("onnxdetect benchmark (YOLOX-Nano 416x416, vtest.avi 768x576, threads={threads})");
    println!(
        "  inference alone:      {:8.1} frames/s ({:.2} ms)",
        1.0 / infer_secs,
        infer_secs * 1e3
    );
    println!(
        "  full pipeline:        {:8.1} frames/s ({} frames in {:.2} s)",
        n / pipeline_secs,
        n,
        pipeline_secs
    );
    println!(
        "  ratio pipeline/infer: {:8.2}",
        (n / pipeline_secs) * infer_secs
    );
    println!(
        "  in the element, per frame: pre {pre:.3} ms, inference {inf:.2} ms, post {post:.3} ms"
    );
    println!(
        "  pre+post / inference: {:8.1} %",
        (pre + post) / inf * 100.0
    );
    Ok(())
}
