//! onnxdetect on real frames and models, interval behaviour, state changes and bad input.

use cctv::meta::Frame;
use gst::prelude::*;
use gst_check::Harness;
use support::scene::{clip_frames, cropped_clip_frames, empty_plaza, with_noise};

const RGB_416: &str = "video/x-raw,format=RGB,width=416,height=312,framerate=10/1";

fn harness(props: &str, caps: &str) -> Harness {
    support::init();
    let mut h = Harness::new_parse(&format!("onnxdetect {props}"));
    h.set_src_caps_str(caps);
    h
}

fn detect(h: &mut Harness, buffer: gst::Buffer) -> Frame {
    let out = h
        .push_and_pull(buffer)
        .expect("onnxdetect outputs the buffer");
    Frame::from_buffer(&out)
        .expect("meta attached")
        .expect("meta readable")
}

#[test]
fn finds_the_walkers_on_a_real_frame() {
    let frames = clip_frames("video/x-raw,format=I420,width=768,height=576", &[100]);
    let mut h = harness(
        "classes=person",
        "video/x-raw,format=I420,width=768,height=576,framerate=10/1",
    );
    let frame = detect(&mut h, frames[0].clone());
    assert!(frame.inferred);
    assert_eq!((frame.width, frame.height), (768, 576));
    assert_eq!(frame.model, "yolox_nano.onnx");
    // Frame 100 shows six to seven clearly visible walkers.
    let people = frame.objects.iter().filter(|o| o.confidence > 0.5).count();
    assert!(
        (6..=8).contains(&people),
        "{people} people: {:?}",
        frame.objects
    );
    for o in &frame.objects {
        assert_eq!(o.label, "person");
        assert!(o.bbox.x >= 0.0 && o.bbox.x2() <= 768.0 && o.bbox.y >= 0.0 && o.bbox.y2() <= 576.0);
        // Walkers seen from above are taller than wide and 20-120 px tall.
        assert!(
            o.bbox.h > o.bbox.w && (20.0..120.0).contains(&o.bbox.h),
            "{:?}",
            o.bbox
        );
    }
}

#[test]
fn every_input_format_gives_the_same_people() {
    let reference = {
        let frames = clip_frames("video/x-raw,format=RGB,width=768,height=576", &[300]);
        let mut h = harness(
            "classes=person",
            "video/x-raw,format=RGB,width=768,height=576,framerate=10/1",
        );
        detect(&mut h, frames[0].clone())
    };
    assert!(!reference.objects.is_empty());
    for format in [
        "BGR", "RGBx", "BGRx", "xRGB", "xBGR", "RGBA", "BGRA", "ARGB", "ABGR", "I420", "NV12",
    ] {
        let caps = format!("video/x-raw,format={format},width=768,height=576");
        let frames = clip_frames(&caps, &[300]);
        let mut h = harness("classes=person", &format!("{caps},framerate=10/1"));
        let frame = detect(&mut h, frames[0].clone());
        // YUV frames go through a colour conversion of their own: allow one marginal box.
        let slack = if format == "I420" || format == "NV12" {
            1
        } else {
            0
        };
        assert!(
            frame.objects.len().abs_diff(reference.objects.len()) <= slack,
            "{format}: {} vs {} objects",
            frame.objects.len(),
            reference.objects.len()
        );
        for r in &reference.objects {
            if r.confidence < 0.4 {
                continue;
            }
            let best = frame
                .objects
                .iter()
                .map(|o| o.bbox.iou(&r.bbox))
                .fold(0.0, f32::max);
            assert!(
                best > 0.9,
                "{format}: person at {:?} matched with IoU {best}",
                r.bbox
            );
        }
    }
}

#[test]
fn portrait_and_odd_sized_frames_map_back_onto_the_same_people() {
    let full = {
        let frames = clip_frames("video/x-raw,format=RGB,width=768,height=576", &[100]);
        let mut h = harness(
            "classes=person",
            "video/x-raw,format=RGB,width=768,height=576,framerate=10/1",
        );
        detect(&mut h, frames[0].clone())
    };
    // Portrait by cropping 200 px off each side (368x576, no distortion),
    // and odd sizes at nearly the clip's aspect ratio.
    let cases = [
        (
            "videocrop left=200 right=200",
            "RGB",
            368u32,
            576u32,
            200.0f32,
        ),
        ("videocrop left=200 right=200", "I420", 183, 287, 200.0),
        ("identity", "I420", 577, 433, 0.0),
        ("identity", "BGRx", 385, 289, 0.0),
    ];
    for (crop, format, w, h, left) in cases {
        let caps = format!("video/x-raw,format={format},width={w},height={h}");
        let frames = cropped_clip_frames(crop, &caps, &[100]);
        let mut harness = harness("classes=person", &format!("{caps},framerate=10/1"));
        let frame = detect(&mut harness, frames[0].clone());
        assert_eq!((frame.width, frame.height), (w, h));
        assert!(
            frame.objects.len() >= 2,
            "{crop} {caps}: {:?}",
            frame.objects
        );
        // Source width before scaling: the crop keeps 368 of 768 columns.
        let src_w = if left > 0.0 { 368.0 } else { 768.0 };
        let (sx, sy) = (w as f32 / src_w, h as f32 / 576.0);
        for o in &frame.objects {
            assert!(
                o.bbox.x >= 0.0 && o.bbox.x2() <= w as f32 + 0.01,
                "{caps}: {:?}",
                o.bbox
            );
            assert!(
                o.bbox.y >= 0.0 && o.bbox.y2() <= h as f32 + 0.01,
                "{caps}: {:?}",
                o.bbox
            );
            if o.confidence < 0.5 {
                continue;
            }
            // The same walker as on the full frame, moved and scaled like the frame was.
            let best = full
                .objects
                .iter()
                .map(|r| {
                    let moved =
                        cctv::bbox::BBox::new(r.bbox.x - left, r.bbox.y, r.bbox.w, r.bbox.h);
                    moved.scale(sx, sy).iou(&o.bbox)
                })
                .fold(0.0, f32::max);
            assert!(
                best > 0.6,
                "{crop} {caps}: {:?} matches no walker (best IoU {best})",
                o.bbox
            );
        }
    }
}

#[test]
fn interval_skips_frames_and_marks_them() {
    let frames = clip_frames(RGB_416, &[100, 101, 102, 103, 104]);
    let mut h = harness("interval=2", RGB_416);
    let inferred: Vec<(bool, usize)> = frames
        .into_iter()
        .map(|b| {
            let f = detect(&mut h, b);
            (f.inferred, f.objects.len())
        })
        .collect();
    assert_eq!(
        inferred.iter().map(|i| i.0).collect::<Vec<_>>(),
        vec![true, false, true, false, true]
    );
    assert!(
        inferred.iter().all(|&(inf, n)| inf == (n > 0)),
        "{inferred:?}"
    );

    // A flush starts counting again: the next frame is inferred.
    let frames = clip_frames(RGB_416, &[100]);
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
        gst::ClockTime,
    >::new()));
    assert!(detect(&mut h, frames[0].clone()).inferred);
}

#[test]
fn thresholds_and_max_detections_apply() {
    let frames = clip_frames(RGB_416, &[100]);
    let mut h = harness("conf-threshold=0.1", RGB_416);
    let loose = detect(&mut h, frames[0].clone());
    let mut h = harness("conf-threshold=0.6 max-detections=3", RGB_416);
    let strict = detect(&mut h, frames[0].clone());
    assert!(loose.objects.len() > strict.objects.len());
    assert!(strict.objects.len() <= 3);
    assert!(strict.objects.iter().all(|o| o.confidence >= 0.6));
    assert!(loose.objects.iter().all(|o| o.confidence >= 0.1));
}

#[test]
fn sessions_are_shared_between_instances() {
    support::init();
    let options = gstcctv::inference::SessionOptions {
        path: support::assets().join("models/yolox_nano.onnx"),
        threads: 1,
        provider: gstcctv::inference::ExecutionProvider::Cpu,
        sessions: 1,
        batch: gstcctv::inference::BatchOptions::default(),
    };
    let a = gstcctv::inference::load(&options).unwrap();
    let b = gstcctv::inference::load(&options).unwrap();
    assert!(
        std::sync::Arc::ptr_eq(&a, &b),
        "one session per model file and options"
    );
    let other = gstcctv::inference::load(&gstcctv::inference::SessionOptions {
        threads: 2,
        ..options
    })
    .unwrap();
    assert!(!std::sync::Arc::ptr_eq(&a, &other));
}

#[test]
fn several_sessions_run_at_once_with_the_same_results() {
    support::init();
    let pool = gstcctv::inference::load(&gstcctv::inference::SessionOptions {
        path: support::assets().join("models/yolox_nano.onnx"),
        threads: 1,
        provider: gstcctv::inference::ExecutionProvider::Cpu,
        sessions: 2,
        batch: gstcctv::inference::BatchOptions::default(),
    })
    .unwrap();
    assert_eq!(pool.session_count(), 2);
    let spec = yolox_input();
    // Two callers at once, one on each session.
    let sums: Vec<f64> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..2)
            .map(|_| {
                let (pool, spec) = (&pool, &spec);
                s.spawn(move || {
                    let input = gstcctv::inference::InputTensor::new(spec);
                    let mut scratch = gstcctv::inference::OutputScratch::default();
                    pool.run(&input, &mut scratch, |outputs| {
                        Ok(outputs[0].data.iter().map(|v| *v as f64).sum::<f64>())
                    })
                    .unwrap()
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert!(sums[0].is_finite() && sums[0] != 0.0);
    assert_eq!(
        sums[0], sums[1],
        "the same input gives the same output on every session"
    );
}

#[test]
fn repeated_state_changes_and_eos() {
    support::init();
    let pipeline = gst::parse::launch(
        "videotestsrc num-buffers=5 ! video/x-raw,width=320,height=240 ! onnxdetect ! onnxdetect interval=2 \
         ! onnxdetect in-flight=2 ! fakesink",
    )
    .unwrap();
    for _ in 0..5 {
        let end = support::play_to_end(&pipeline, gst::ClockTime::from_seconds(30));
        pipeline.set_state(gst::State::Null).unwrap();
        end.unwrap();
    }
    // Stopped while frames are in flight: the lanes' threads (named after
    // the element) end with it.
    let lanes = || {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|name| name.starts_with("flying-"))
            .count()
    };
    let live = gst::parse::launch(
        "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 \
         ! onnxdetect name=flying in-flight=3 ! fakesink",
    )
    .unwrap();
    for _ in 0..3 {
        live.set_state(gst::State::Playing).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));
        assert_eq!(lanes(), 3, "a thread per frame in flight while playing");
        live.set_state(gst::State::Null).unwrap();
        assert_eq!(lanes(), 0, "no lane thread left after NULL");
    }
}

/// Starts a pipeline expected to fail and returns the error message text.
fn start_error(props: &str) -> String {
    support::expect_error(
        &format!(
            "videotestsrc num-buffers=1 ! video/x-raw,width=64,height=64 ! onnxdetect {props} ! fakesink"
        ),
        gst::ClockTime::from_seconds(30),
    )
}

#[test]
fn missing_model_is_a_clear_error() {
    let err = start_error("model=/nonexistent/model.onnx");
    assert!(
        err.contains("/nonexistent/model.onnx") && err.contains("not found"),
        "{err}"
    );
}

#[test]
fn corrupt_model_is_a_clear_error() {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("corrupt.onnx");
    std::fs::write(&path, b"this is not an onnx model").unwrap();
    let err = start_error(&format!("model={}", path.display()));
    assert!(
        err.contains("cannot load model") && err.contains("corrupt.onnx"),
        "{err}"
    );
}

#[test]
fn mismatched_labels_and_unknown_classes_are_clear_errors() {
    let labels = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("three-labels.txt");
    std::fs::write(&labels, "a\nb\nc\n").unwrap();
    let err = start_error(&format!("labels={}", labels.display()));
    assert!(
        err.contains("3 names") && err.contains("80 classes"),
        "{err}"
    );
    let err = start_error("classes=unicorn");
    assert!(err.contains("unknown class \"unicorn\""), "{err}");
    let err = start_error("labels=/nonexistent/labels.txt");
    assert!(
        err.contains("labels file /nonexistent/labels.txt not found"),
        "{err}"
    );
}

#[test]
fn unavailable_execution_provider_is_a_clear_error() {
    let err = start_error("execution-provider=cuda");
    assert!(err.contains("not available"), "{err}");
}

#[test]
fn zero_sized_caps_are_refused() {
    let mut h = harness("", "video/x-raw,format=RGB,width=0,height=0,framerate=10/1");
    let buffer = gst::Buffer::with_size(16).unwrap();
    assert!(h.push(buffer).is_err(), "not negotiated");
}

#[test]
fn missing_runtime_library_names_the_setup_command() {
    let out = std::process::Command::new("gst-launch-1.0")
        .args([
            "videotestsrc",
            "num-buffers=1",
            "!",
            "onnxdetect",
            "!",
            "fakesink",
        ])
        .env("GST_PLUGIN_PATH", support::plugin_dir())
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("/nonexistent/libonnxruntime.so") && text.contains("scripts/setup"),
        "{text}"
    );
}

#[test]
fn gst_launch_runs_the_bundled_model() {
    let out = support::gst_launch(&format!(
        "filesrc location={} ! decodebin ! identity eos-after=20 ! onnxdetect classes=person ! fakesink",
        support::video().display()
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Frames whose pixels the reference tool decoded too: same bytes, or the comparison means nothing.
fn reference_frames(fixture: &serde_json::Value) -> Vec<(gst::Buffer, &serde_json::Value)> {
    use sha2::Digest;
    let (w, h) = (
        fixture["width"].as_u64().unwrap(),
        fixture["height"].as_u64().unwrap(),
    );
    let frames = fixture["frames"].as_array().unwrap();
    let indices: Vec<usize> = frames
        .iter()
        .map(|f| f["index"].as_u64().unwrap() as usize)
        .collect();
    let buffers = clip_frames(
        &format!("video/x-raw,format=RGB,width={w},height={h}"),
        &indices,
    );
    buffers
        .into_iter()
        .zip(frames)
        .map(|(b, f)| {
            let map = b.map_readable().unwrap();
            let digest = format!("{:x}", sha2::Sha256::digest(map.as_slice()));
            assert_eq!(
                digest,
                f["rgb_sha256"].as_str().unwrap(),
                "frame {} decodes to other pixels than the fixture's (GStreamer version?)",
                f["index"]
            );
            drop(map);
            (b, f)
        })
        .collect()
}

/// Our boxes against an independent decode of the same model's raw output
/// (`tools/reference_decode.py`): same count, IoU >= 0.95, scores within 1e-3.
fn compare_with_reference(fixture_file: &str, props: &str) {
    let text =
        std::fs::read_to_string(support::repo().join("tests/fixtures").join(fixture_file)).unwrap();
    let fixture: serde_json::Value = serde_json::from_str(&text).unwrap();
    let (w, h) = (
        fixture["width"].as_u64().unwrap(),
        fixture["height"].as_u64().unwrap(),
    );
    let mut harness = harness(
        &format!("{props} conf-threshold=0.25 iou-threshold=0.45"),
        &format!("video/x-raw,format=RGB,width={w},height={h},framerate=10/1"),
    );
    for (buffer, reference) in reference_frames(&fixture) {
        let ours = detect(&mut harness, buffer).objects;
        let expected = reference["detections"].as_array().unwrap();
        // Scores within 1e-3 of the threshold may fall either side of it.
        let marginal = |s: f64| (s - 0.25).abs() < 1e-3;
        let firm: Vec<_> = expected
            .iter()
            .filter(|d| !marginal(d["score"].as_f64().unwrap()))
            .collect();
        let ours_firm = ours
            .iter()
            .filter(|o| !marginal(o.confidence as f64))
            .count();
        assert_eq!(
            ours_firm,
            firm.len(),
            "frame {}: {ours:?}",
            reference["index"]
        );
        for d in firm {
            let b = cctv::bbox::BBox::new(
                d["x"].as_f64().unwrap() as f32,
                d["y"].as_f64().unwrap() as f32,
                d["w"].as_f64().unwrap() as f32,
                d["h"].as_f64().unwrap() as f32,
            );
            let class = d["class_id"].as_u64().unwrap() as u32;
            let best = ours
                .iter()
                .filter(|o| o.class_id == class)
                .max_by(|a, c| a.bbox.iou(&b).total_cmp(&c.bbox.iou(&b)))
                .unwrap_or_else(|| panic!("frame {}: no class {class} box", reference["index"]));
            assert!(
                best.bbox.iou(&b) >= 0.95,
                "frame {}: {b:?} vs {:?}",
                reference["index"],
                best.bbox
            );
            let score = d["score"].as_f64().unwrap() as f32;
            assert!(
                (best.confidence - score).abs() <= 1e-3,
                "frame {}: score {} vs {score}",
                reference["index"],
                best.confidence
            );
        }
    }
}

#[test]
fn yolox_matches_the_reference_decode() {
    compare_with_reference("reference_yolox_nano.json", "");
}

#[test]
fn yolov8_matches_the_reference_decode() {
    let model = support::assets().join("models/yolov8_fall_fp16.onnx");
    compare_with_reference(
        "reference_yolov8_fall.json",
        &format!("model={}", model.display()),
    );
}

/// The synthetic layout models of `tests/models` on a 64x64 frame, against
/// the detections their generator placed (`tests/models/expected.json`).
#[test]
fn each_output_layout_decodes_as_its_generator_expects() {
    support::init();
    let text = std::fs::read_to_string(support::repo().join("tests/models/expected.json")).unwrap();
    let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
    let caps = "video/x-raw,format=RGB,width=64,height=64,framerate=10/1";
    let frame = gst::Buffer::from_mut_slice(vec![128u8; 64 * 64 * 3]);
    for (file, model) in expected["models"].as_object().unwrap() {
        let Some(detections) = model["detections"].as_array() else {
            continue;
        };
        let path = support::repo().join("tests/models").join(file);
        let mut h = harness(&format!("model={}", path.display()), caps);
        let ours = detect(&mut h, frame.clone()).objects;
        assert_eq!(ours.len(), detections.len(), "{file}: {ours:?}");
        for (o, d) in ours.iter().zip(detections) {
            assert_eq!(o.class_id as u64, d["class_id"].as_u64().unwrap(), "{file}");
            assert!(
                (o.confidence as f64 - d["score"].as_f64().unwrap()).abs() < 1e-5,
                "{file}: {o:?}"
            );
            for (got, key) in [
                (o.bbox.x, "x"),
                (o.bbox.y, "y"),
                (o.bbox.w, "w"),
                (o.bbox.h, "h"),
            ] {
                assert!(
                    (got as f64 - d[key].as_f64().unwrap()).abs() < 1e-3,
                    "{file} {key}: {o:?} vs {d}"
                );
            }
        }
        if let Some(labels) = model["labels_from_metadata"].as_array() {
            let names: Vec<&str> = labels.iter().map(|l| l.as_str().unwrap()).collect();
            assert_eq!(
                ours[0].label, names[ours[0].class_id as usize],
                "{file}: labels from the model's metadata"
            );
        }
    }
}

#[test]
fn a_classifier_is_refused_as_not_a_detector() {
    let model = support::repo().join("tests/models/classifier_synth.onnx");
    let err = start_error(&format!("model={}", model.display()));
    assert!(
        err.contains("is not a usable detector") && err.contains("logits"),
        "{err}"
    );
}

/// The bundled YOLOX-Nano's input.
fn yolox_input() -> cctv::detect::InputSpec {
    cctv::detect::InputSpec {
        name: "images".into(),
        width: 416,
        height: 416,
        planar: true,
        ty: cctv::detect::ElementType::F32,
    }
}

/// Per branch, the detections of every frame of four cameras (the short
/// clip as it is, mirrored, flipped and turned: four different pictures)
/// sharing one model with `props`; and the element's stats.
fn four_cameras(props: &str) -> (Vec<Vec<Vec<cctv::objects::Object>>>, gst::Structure) {
    const METHODS: [&str; 4] = ["none", "horizontal-flip", "vertical-flip", "rotate-180"];
    let launch: Vec<String> = METHODS
        .iter()
        .enumerate()
        .map(|(i, method)| {
            format!(
                "{} ! videoflip method={method} ! onnxdetect name=d{i} {props} ! fakesink name=sink{i} sync=false",
                support::short_clip(30)
            )
        })
        .collect();
    support::init();
    let pipeline = gst::parse::launch(&launch.join(" "))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let frames = std::sync::Arc::new(std::sync::Mutex::new(vec![Vec::new(); METHODS.len()]));
    for i in 0..METHODS.len() {
        let frames = std::sync::Arc::clone(&frames);
        let pad = pipeline
            .by_name(&format!("sink{i}"))
            .unwrap()
            .static_pad("sink")
            .unwrap();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(buffer) = info.buffer() {
                let frame = Frame::from_buffer(buffer).unwrap().unwrap();
                frames.lock().unwrap()[i].push(frame.objects);
            }
            gst::PadProbeReturn::Ok
        });
    }
    let end = support::play_to_end(&pipeline, gst::ClockTime::from_seconds(120));
    let stats = pipeline
        .by_name("d0")
        .unwrap()
        .property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null).unwrap();
    end.unwrap();
    let frames = std::mem::take(&mut *frames.lock().unwrap());
    (frames, stats)
}

#[test]
fn frames_of_several_cameras_run_in_batches_with_the_same_detections() {
    let (alone, stats) = four_cameras("batch-size=1");
    assert!(stats.get::<u64>("batches").is_err(), "no batching: {stats}");
    // A long timeout: every batch waits for the four cameras.
    let (batched, stats) = four_cameras("batch-size=4 batch-timeout=1000");
    let (batches, frames) = (
        stats.get::<u64>("batches").unwrap(),
        stats.get::<u64>("batched-frames").unwrap(),
    );
    assert_eq!(frames, 4 * 30, "{stats}");
    assert!(batches <= frames / 2, "frames ran in batches: {stats}");
    let mut people = 0;
    for (camera, (a, b)) in alone.iter().zip(&batched).enumerate() {
        assert_eq!(a.len(), 30);
        assert_eq!(b.len(), 30);
        for (frame, (a, b)) in a.iter().zip(b).enumerate() {
            // Every clear detection of one run is in the other: same box,
            // class and score within float noise.
            for (ours, theirs) in [(a, b), (b, a)] {
                for o in ours.iter().filter(|o| o.confidence > 0.3) {
                    people += 1;
                    assert!(
                        theirs.iter().any(|t| t.class_id == o.class_id
                            && t.bbox.iou(&o.bbox) > 0.99
                            && (t.confidence - o.confidence).abs() < 0.01),
                        "camera {camera} frame {frame}: {o:?} not in {theirs:?}"
                    );
                }
            }
        }
    }
    assert!(
        people > 100,
        "the clip has people in every picture: {people}"
    );
}

#[test]
fn batches_need_a_model_that_takes_them() {
    let model = support::repo().join("tests/models/yolov5_synth.onnx");
    let err = start_error(&format!("model={} batch-size=4", model.display()));
    assert!(err.contains("free batch dimension"), "{err}");
    // By default the CPU runs frames alone and any model loads.
    assert!(
        support::first_error(
            &format!(
                "videotestsrc num-buffers=2 ! onnxdetect model={} ! fakesink",
                model.display()
            ),
            gst::ClockTime::from_seconds(30)
        )
        .is_none()
    );
}

#[test]
fn the_motion_gate_skips_a_still_scene_and_opens_when_someone_appears() {
    // A camera's picture as it reaches a detector: the empty plaza with
    // sensor noise and JPEG's artefacts for 30 frames, then people. At
    // conf-threshold 0.5: at the default the model takes a post of the
    // plaza for a person (0.4-0.5), and the gate would rightly refresh it
    // every motion-refresh frames (the unit test covers that).
    const STILL: usize = 30;
    let still = empty_plaza(RGB_416);
    let people = clip_frames(RGB_416, &(100..106).collect::<Vec<_>>());
    support::init();
    let mut h = Harness::new_parse(
        "jpegenc quality=60 ! jpegdec ! videoconvert ! video/x-raw,format=RGB \
         ! onnxdetect name=d classes=person conf-threshold=0.5 motion-gate=true ! bytetrack",
    );
    h.set_src_caps_str(RGB_416);
    let mut frames: Vec<gst::Buffer> = (0..STILL as u64).map(|n| with_noise(&still, n)).collect();
    frames.extend(people);
    let mut out = Vec::new();
    for (n, mut frame) in frames.into_iter().enumerate() {
        let ts = gst::ClockTime::from_mseconds(100 * n as u64);
        frame.get_mut().unwrap().set_pts(ts);
        let pulled = h.push_and_pull(frame).expect("a frame out per frame in");
        out.push(Frame::from_buffer(&pulled).unwrap().unwrap());
    }
    let detector = h
        .element()
        .unwrap()
        .downcast::<gst::Bin>()
        .unwrap()
        .by_name("d")
        .unwrap();
    let stats = detector.property::<gst::Structure>("stats");
    // The first frame runs (nothing is known yet); after it, the still
    // scene runs nothing, whatever the noise.
    let inferred: Vec<usize> = (0..STILL).filter(|&i| out[i].inferred).collect();
    assert_eq!(inferred, [0], "{stats}\n{:?}", out[0].objects);
    // Someone appears: the detector runs at once, and the tracker has
    // them within two frames.
    assert!(out[STILL].inferred, "{stats}");
    let first_track = out[STILL..]
        .iter()
        .position(|f| f.objects.iter().any(|o| o.track_id.is_some()))
        .expect("the walkers are tracked");
    assert!(
        first_track <= 2,
        "tracked {first_track} frames after they appear"
    );
    assert!(stats.get::<u64>("gated-frames").unwrap() >= STILL as u64 - 1);
}

/// Per frame of the short clip through `onnxdetect {props}`: its time
/// stamp, whether the detector ran, and the objects.
fn clip_through(props: &str) -> Vec<(u64, bool, Vec<cctv::objects::Object>)> {
    let launch = format!(
        "{} ! onnxdetect {props} ! fakesink name=sink sync=false",
        support::short_clip(30)
    );
    support::frames_at(&launch, "sink", gst::ClockTime::from_seconds(120))
        .into_iter()
        .map(|(pts, frame)| (pts, frame.inferred, frame.objects))
        .collect()
}

#[test]
fn frames_in_flight_come_out_in_order_with_the_same_detections() {
    let one = clip_through("interval=2");
    let three = clip_through("interval=2 in-flight=3");
    assert_eq!(one.len(), 30);
    let stamps = |v: &[(u64, bool, Vec<cctv::objects::Object>)]| -> Vec<u64> {
        v.iter().map(|f| f.0).collect()
    };
    assert_eq!(stamps(&one), stamps(&three), "every frame, in order");
    assert!(stamps(&three).windows(2).all(|w| w[0] < w[1]));
    let mut people = 0;
    for ((pts, inferred, a), (_, inferred3, b)) in one.iter().zip(&three) {
        assert_eq!(inferred, inferred3, "at {pts}");
        assert_eq!(a.len(), b.len(), "at {pts}: {a:?}\n{b:?}");
        for (a, b) in a.iter().zip(b) {
            assert_eq!(a.label, b.label, "at {pts}");
            // Sessions of one thread and of two add up in other orders.
            let d = (a.bbox.x - b.bbox.x).abs() + (a.bbox.y - b.bbox.y).abs();
            assert!(d < 0.5, "at {pts}: {a:?}\n{b:?}");
        }
        people += a.len();
    }
    assert!(people > 30, "{people} objects in 15 runs");
}

#[test]
fn frames_in_flight_are_pushed_at_eos_and_dropped_by_a_flush() {
    let frames = clip_frames(RGB_416, &[100, 101, 102]);
    let mut h = harness("in-flight=2", RGB_416);
    h.play();
    // One frame in flight waits for the next (or its run's end) ...
    h.push(frames[0].clone()).unwrap();
    h.push(frames[1].clone()).unwrap();
    let first = h.pull().unwrap();
    assert_eq!(first.pts(), frames[0].pts());
    // ... and a flush drops what is in flight: the next frame out is the
    // one pushed after it.
    let _ = h.try_pull();
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
        gst::ClockTime,
    >::new()));
    h.push(frames[2].clone()).unwrap();
    // End of stream pushes the frame in flight before the EOS.
    assert!(h.push_event(gst::event::Eos::new()));
    let mut out = Vec::new();
    while let Some(b) = h.try_pull() {
        out.push(b);
    }
    let stamps: Vec<_> = out.iter().map(|b| b.pts()).collect();
    assert_eq!(stamps, vec![frames[2].pts()]);
    let frame = Frame::from_buffer(&out[0]).unwrap().unwrap();
    assert!(frame.inferred && !frame.objects.is_empty(), "{frame:?}");
}
