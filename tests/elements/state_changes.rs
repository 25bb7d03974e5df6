//! Every element goes NULL -> PLAYING -> NULL again and again, to EOS or
//! stopped mid-stream, and leaves no thread behind.

use gst::prelude::*;

/// The names of this process's threads.
fn threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_string())
        .collect()
}

/// Our elements' own threads (named in `plugins/`).
fn ours(threads: &[String]) -> Vec<&String> {
    threads
        .iter()
        .filter(|t| {
            ["mqttsink-", "pgsink-", "ptzservo-", "virtualptz-"]
                .iter()
                .any(|p| t.starts_with(p))
        })
        .collect()
}

/// Plays `launch` to EOS (or stops it while it plays), then back to NULL.
fn cycle(launch: &str, to_eos: bool) {
    let pipeline = gst::parse::launch(launch).unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    if to_eos && launch.starts_with("camsrc") {
        // A live camera never ends: end it as `gst-launch-1.0 -e` does.
        std::thread::sleep(std::time::Duration::from_secs(2));
        pipeline.send_event(gst::event::Eos::new());
    }
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
    // Alone in its process, so no other test's threads come and go
    // meanwhile; the live view serves on the exporter's address: a free one.
    let address = format!("127.0.0.1:{}", support::free_port());
    if !support::in_own_process(
        "state_changes::repeated_state_changes_leave_no_threads_behind",
        &[("CCTV_METRICS", &address)],
    ) {
        return;
    }
    support::init();
    let broker = support::Mosquitto::start();
    let pg = support::Postgres::start();
    let ptz = support::free_port();
    let camera =
        support::RtspServer::start(&[("cam", &support::rtsp::test_pattern(320, 240, 15))], None);
    let video = format!(
        "{} ! onnxdetect classes=person ! bytetrack ! gendercls",
        support::short_clip(4)
    );
    let pipelines = [
        format!("{video} ! cctvoverlay ! fakesink"),
        format!("{video} ! mqttsink port={} sync=false", broker.port),
        format!(
            "{video} ! pgsink conninfo=\"{}\" detections-interval=1 sync=false",
            pg.conninfo()
        ),
        format!(
            "{} ! onnxdetect classes=person ! bytetrack ! cctvoverlay ! liveview camera-id=cycle",
            support::short_clip(4)
        ),
        // The camera serves from READY to NULL; the servo drives it.
        format!(
            "{} ! virtualptz port={ptz} ! onnxdetect classes=person ! bytetrack \
             ! ptzservo onvif-url=http://127.0.0.1:{ptz}/onvif/ptz_service ! fakesink",
            support::short_clip(4)
        ),
        format!(
            "camsrc uri={} timeout=2000 ! onnxdetect classes=person ! fakesink",
            camera.url("cam", None)
        ),
    ];
    // A first round starts what lives for the whole process (ONNX Runtime,
    // GStreamer's thread pools).
    for launch in &pipelines {
        cycle(launch, true);
    }
    let before = threads().len();
    for round in 0..4 {
        for launch in &pipelines {
            cycle(launch, round % 2 == 0);
        }
    }
    // Joined threads may linger in /proc a moment, and GLib's pool keeps up
    // to two idle workers of its own; a leak per cycle would exceed both.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let after = loop {
        let now = threads();
        if (ours(&now).is_empty() && now.len() <= before + 2)
            || std::time::Instant::now() >= deadline
        {
            break now;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(
        ours(&after).is_empty(),
        "element threads left running after {} cycles: {after:?}",
        4 * pipelines.len()
    );
    assert!(
        after.len() <= before + 2,
        "{} threads before {} cycles, {} after: {after:?}",
        before,
        4 * pipelines.len(),
        after.len()
    );
    // The sinks did their work in those cycles.
    assert!(
        pg.psql("select count(*) from cctv.detections")
            .parse::<u64>()
            .unwrap()
            > 0
    );
}
