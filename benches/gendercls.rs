//! Benchmark: what `gendercls` costs per frame next to the detector, and
//! what it finds on the bundled clip.
//! Run with `./run bench` or `cargo bench --bench gendercls`.
//!
//! - Frames: a 2x2 mosaic of `t1.jpg` (2560x1772, 24 real faces) with 1, 5
//!   or 20 people boxes, pushed `BENCH_FRAMES` (60) times: tracked (the
//!   per-track cache, `reclassify-interval=10`) and untracked (every person
//!   searched and classified on every frame). Reported: wall ms per frame
//!   through the element, its face-detector and classifier runs, and ms per
//!   face (classifier run time over faces classified, and the face search
//!   per box). In the same run, `onnxdetect` (YOLOX-Nano) on the same frames.
//! - The clip: `onnxdetect ! bytetrack ! gendercls` over all of `vtest.avi`,
//!   with the share of tracks whose final vote is a label, not `unknown`.
//!
//! `BENCH_THREADS` (intra-op threads, 0 = ONNX Runtime's choice) tunes it.

use support::{assets, env_or};

use std::collections::BTreeMap;
use std::time::Instant;

use cctv::bbox::BBox;
use cctv::meta::{Frame, Object};
use gst::prelude::*;
use gst_check::Harness;
use gst_video::prelude::*;

/// The hand-drawn person boxes of `t1.jpg` (see tests/elements/classify.rs).
const T1_PEOPLE: [(f32, f32, f32, f32); 6] = [
    (666.0, 296.0, 255.0, 680.0),
    (378.0, 217.0, 278.0, 735.0),
    (1054.0, 220.0, 252.0, 665.0),
    (813.0, 8.0, 289.0, 730.0),
    (-20.0, 221.0, 268.0, 640.0),
    (192.0, 110.0, 257.0, 565.0),
];

/// `t1.jpg` as RGB, tiled 2x2, and the 24 person boxes on it.
fn mosaic() -> Result<(gst::Buffer, gst::Caps, Vec<BBox>), Box<dyn std::error::Error>> {
    let path = assets().join("media/faces/t1.jpg");
    let (pipeline, sink) = support::with_appsink(&format!(
        "filesrc location={} ! decodebin ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink",
        path.display()
    ));
    pipeline.set_state(gst::State::Playing)?;
    let sample = sink.pull_sample()?;
    pipeline.set_state(gst::State::Null)?;
    let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap())?;
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(sample.buffer().unwrap(), &info)
        .map_err(|_| "map")?;
    let (w, h) = (info.width() as usize, info.height() as usize);
    let (stride, src) = (frame.plane_stride()[0] as usize, frame.plane_data(0)?);
    let (mw, mh) = (2 * w, 2 * h);
    let mut data = vec![0u8; mw * mh * 3];
    for ty in 0..2 {
        for tx in 0..2 {
            for y in 0..h {
                let dst = ((ty * h + y) * mw + tx * w) * 3;
                data[dst..dst + w * 3].copy_from_slice(&src[y * stride..y * stride + w * 3]);
            }
        }
    }
    let caps = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, mw as u32, mh as u32)
        .fps(gst::Fraction::new(10, 1))
        .build()?
        .to_caps()?;
    let boxes = (0..4)
        .flat_map(|tile| {
            let (ox, oy) = ((tile % 2 * w) as f32, (tile / 2 * h) as f32);
            T1_PEOPLE
                .iter()
                .map(move |&(x, y, bw, bh)| BBox::new(x.max(0.0) + ox, y + oy, bw, bh))
        })
        .collect();
    Ok((gst::Buffer::from_mut_slice(data), caps, boxes))
}

fn with_people(
    buffer: &gst::Buffer,
    caps: &gst::Caps,
    boxes: &[BBox],
    tracked: bool,
) -> gst::Buffer {
    let info = gst_video::VideoInfo::from_caps(caps).unwrap();
    let mut buffer = buffer.copy();
    let objects = boxes
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let mut o = Object::new(*b, 0, "person", 0.9);
            o.track_id = tracked.then_some(i as u64 + 1);
            o
        })
        .collect();
    Frame {
        width: info.width(),
        height: info.height(),
        source: "bench".into(),
        model: String::new(),
        inferred: true,
        objects,
    }
    .attach(buffer.get_mut().unwrap());
    buffer
}

fn element(h: &Harness, name: &str) -> gst::Element {
    let e = h.element().unwrap();
    match e.downcast_ref::<gst::Bin>() {
        Some(bin) => bin.by_name(name).unwrap(),
        None => e,
    }
}

/// Mean wall ms per frame of `frames` pushes through `launch`, and its stats.
fn per_frame(
    launch: &str,
    caps: &gst::Caps,
    frames: &[gst::Buffer],
    stats_of: &str,
) -> (f64, gst::Structure) {
    let mut h = Harness::new_parse(launch);
    h.set_src_caps(caps.clone());
    // The first frame loads the models and sizes the buffers.
    h.push_and_pull(frames[0].clone()).unwrap();
    let start = Instant::now();
    for f in &frames[1..] {
        h.push_and_pull(f.clone()).unwrap();
    }
    let ms = start.elapsed().as_secs_f64() * 1e3 / (frames.len() - 1) as f64;
    (
        ms,
        element(&h, stats_of).property::<gst::Structure>("stats"),
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n = env_or("BENCH_FRAMES", 60).max(2);
    let threads = env_or("BENCH_THREADS", 0);
    support::init();
    let (image, caps, boxes) = mosaic()?;

    println!("gendercls benchmark (2560x1772 RGB mosaic of t1.jpg, {n} frames, threads={threads})");
    let plain: Vec<gst::Buffer> = (0..n).map(|_| image.clone()).collect();
    let (detector_ms, _) = per_frame(
        &format!("onnxdetect name=e classes=person threads={threads}"),
        &caps,
        &plain,
        "e",
    );
    println!("  onnxdetect (YOLOX-Nano 416) per frame: {detector_ms:.2} ms");
    for people in [1usize, 5, 20] {
        for (tracked, what) in [(true, "tracked, cached"), (false, "untracked, no cache")] {
            let frames: Vec<gst::Buffer> = (0..n)
                .map(|_| with_people(&image, &caps, &boxes[..people], tracked))
                .collect();
            let (ms, s) = per_frame(
                &format!("gendercls name=e threads={threads} reclassify-interval=10"),
                &caps,
                &frames,
                "e",
            );
            let get = |f: &str| s.get::<u64>(f).unwrap_or(0) as f64;
            let ms_of = |f: &str| s.get::<f64>(f).unwrap_or(0.0);
            // Mean ms per run of every step of a stage (prefix "" or "face-").
            let run_ms = |p: &str| {
                ms_of(&format!("{p}preprocess-ms"))
                    + ms_of(&format!("{p}inference-ms"))
                    + ms_of(&format!("{p}postprocess-ms"))
            };
            let (classify_runs, classify_ms) = (get("runs"), run_ms(""));
            let (face_runs, face_ms) = (get("face-runs"), run_ms("face-"));
            let per_face = classify_runs * classify_ms / get("classifications").max(1.0);
            let per_face_model =
                classify_runs * ms_of("inference-ms") / get("classifications").max(1.0);
            let per_search = face_runs * face_ms / get("face-searches").max(1.0);
            let per_search_model =
                face_runs * ms_of("face-inference-ms") / get("face-searches").max(1.0);
            println!(
                "  {people:2} people, {what:19}: {ms:7.2} ms per frame ({:.2} x the detector); \
                 {} searches, {} classifications over {n} frames; {per_search:.2} ms per box searched \
                 ({per_search_model:.2} in the model), {per_face:.3} ms per face classified \
                 ({per_face_model:.3} in the model)",
                ms / detector_ms,
                get("face-searches"),
                get("classifications"),
            );
        }
    }

    clip(threads)
}

/// The bundled clip: the share of tracks labelled at their end.
fn clip(threads: usize) -> Result<(), Box<dyn std::error::Error>> {
    let video = support::video();
    for min_face in [20u32, 12] {
        let (pipeline, sink) = support::with_appsink(&format!(
            "filesrc location={} ! decodebin ! onnxdetect conf-threshold=0.1 classes=person threads={threads} \
             ! bytetrack ! gendercls name=g threads={threads} min-size={min_face} ! appsink name=sink sync=false",
            video.display()
        ));
        let start = Instant::now();
        pipeline.set_state(gst::State::Playing)?;
        let mut last: BTreeMap<u64, String> = BTreeMap::new();
        let mut frames = 0u64;
        while let Ok(sample) = sink.pull_sample() {
            frames += 1;
            let Some(Ok(frame)) = Frame::from_buffer(sample.buffer().unwrap()) else {
                continue;
            };
            for o in &frame.objects {
                if let (Some(id), Some(a)) = (o.track_id, o.attribute("gender")) {
                    last.insert(id, a.label.clone());
                }
            }
        }
        let secs = start.elapsed().as_secs_f64();
        let stats = pipeline
            .by_name("g")
            .unwrap()
            .property::<gst::Structure>("stats");
        pipeline.set_state(gst::State::Null)?;
        let mut by_label: BTreeMap<&str, usize> = BTreeMap::new();
        for label in last.values() {
            *by_label.entry(label.as_str()).or_default() += 1;
        }
        let labelled = last.values().filter(|l| *l != "unknown").count();
        println!(
            "  vtest.avi, min-size={min_face}: {} tracks, {labelled} labelled ({:.0} %): {by_label:?}; \
             {frames} frames in {secs:.1} s; {stats}",
            last.len(),
            100.0 * labelled as f64 / last.len().max(1) as f64,
        );
    }
    Ok(())
}
