//! Every element goes NULL -> PLAYING -> NULL again and again, to EOS or
//! stopped mid-stream, and leaves no thread behind. One test in its own
//! binary, so no other test's threads come and go meanwhile.

mod common;

use gst::prelude::*;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// Plays `launch` to EOS (or stops it while it plays), then back to NULL.
fn cycle(launch: &str, to_eos: bool) {
    let pipeline = gst::parse::launch(launch).unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    if to_eos {
        let msg = bus
            .timed_pop_filtered(
                gst::ClockTime::from_seconds(30),
                &[gst::MessageType::Eos, gst::MessageType::Error],
            )
            .expect("the pipeline ends");
        assert!(
            matches!(msg.view(), gst::MessageView::Eos(_)),
            "{launch}: {msg:?}"
        );
    } else {
        let _ = pipeline.state(gst::ClockTime::from_seconds(10));
    }
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn repeated_state_changes_leave_no_threads_behind() {
    common::init();
    let broker = common::Mosquitto::start();
    let pg = common::Postgres::start();
    let video = format!(
        "{} ! onnxdetect classes=person ! bytetrack",
        common::short_clip(4)
    );
    let pipelines = [
        format!("{video} ! fakesink"),
        format!("{video} ! mqttsink port={} sync=false", broker.port),
        format!(
            "{video} ! pgsink conninfo=\"{}\" detections-interval=1 sync=false",
            pg.conninfo()
        ),
    ];
    // A first round starts what lives for the whole process (ONNX Runtime,
    // GStreamer's thread pools).
    for launch in &pipelines {
        cycle(launch, true);
    }
    let before = threads();
    for round in 0..4 {
        for launch in &pipelines {
            cycle(launch, round % 2 == 0);
        }
    }
    assert_eq!(threads(), before, "threads left running after 12 cycles");
    // The sinks did their work in those cycles.
    assert!(
        pg.psql("select count(*) from cctv.detections")
            .parse::<u64>()
            .unwrap()
            > 0
    );
}
