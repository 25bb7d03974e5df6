//! Apps that load the plugin through `GST_PLUGIN_PATH` read the metadata our
//! elements attach: the Python (PyGObject) and Rust reader examples, run as
//! separate processes, see exactly what the elements wrote in-process.

use std::process::Command;

use cctv::meta::Frame;

const FRAMES: usize = 12;

fn launch() -> String {
    format!(
        "{} ! onnxdetect classes=person conf-threshold=0.3 ! bytetrack ! fakesink name=sink sync=false",
        support::short_clip(FRAMES)
    )
}

/// The frames as the elements attached them, read in this process.
fn frames_in_process() -> Vec<(u64, Frame)> {
    let frames = support::frames_at(&launch(), "sink", gst::ClockTime::from_seconds(60));
    assert_eq!(frames.len(), FRAMES);
    assert!(
        frames
            .iter()
            .any(|(_, f)| f.objects.iter().any(|o| o.track_id.is_some())),
        "the clip has tracked people"
    );
    frames
}

fn run_app(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .env("GST_PLUGIN_PATH", support::plugin_dir())
        .env("CCTV_ASSETS", support::assets())
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    assert!(
        out.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn python_app_reads_every_object_field() {
    let expected = frames_in_process();
    let script = support::repo().join("examples/read_detections.py");
    let stdout = run_app("/usr/bin/python3", &[script.to_str().unwrap(), &launch()]);
    let got: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON frame per line"))
        .collect();
    assert_eq!(got.len(), expected.len(), "{stdout}");
    for (g, (pts, e)) in got.iter().zip(&expected) {
        assert_eq!(g["pts"], *pts);
        assert_eq!(g["width"], e.width);
        assert_eq!(g["height"], e.height);
        assert_eq!(g["inferred"], e.inferred);
        let objects = g["objects"].as_array().unwrap();
        assert_eq!(objects.len(), e.objects.len(), "frame at {pts}");
        for (go, eo) in objects.iter().zip(&e.objects) {
            assert_eq!(go["label"], eo.label.as_str());
            assert_eq!(go["class_id"], eo.class_id);
            assert_eq!(go.get("track_id").and_then(|t| t.as_u64()), eo.track_id);
            assert!((go["confidence"].as_f64().unwrap() - eo.confidence as f64).abs() < 1e-3);
            let b = eo.bbox;
            for (v, want) in go["bbox"]
                .as_array()
                .unwrap()
                .iter()
                .zip([b.x, b.y, b.w, b.h])
            {
                assert!(
                    (v.as_f64().unwrap() - want as f64).abs() <= 0.051,
                    "{go} vs {b:?}"
                );
            }
        }
    }
}

#[test]
fn rust_app_reads_the_same_objects() {
    let expected = frames_in_process();
    let app = support::plugin_dir().join("examples/read_detections");
    let stdout = run_app(app.to_str().unwrap(), &[&launch()]);
    let counts: Vec<usize> = stdout
        .lines()
        .filter(|l| !l.starts_with(' '))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(words[2], "objects", "{l}");
            words[1].parse().unwrap()
        })
        .collect();
    let want: Vec<usize> = expected.iter().map(|(_, f)| f.objects.len()).collect();
    assert_eq!(counts, want, "{stdout}");
    let tracked = stdout.lines().filter(|l| l.contains(" track ")).count();
    let want_tracked = expected
        .iter()
        .flat_map(|(_, f)| &f.objects)
        .filter(|o| o.track_id.is_some())
        .count();
    assert_eq!(tracked, want_tracked, "{stdout}");
}
