//! `/health` follows a camera that stops sending and comes back: an element
//! with no frame for 5 s makes the process `degraded`, naming it, and the
//! next frames make it `ok` again. The exporter is the process's (started
//! once, on the address `CCTV_METRICS` gives): the test runs in a process
//! of its own.

use std::time::{Duration, Instant};

use gst::prelude::*;

/// The answer of `url` once its status is `status` (or the last one after `limit`).
fn until(url: &str, limit: Duration, status: u16) -> Option<(u16, String)> {
    support::http_until(url, limit, |s, _| s == status)
}

/// The detector's frame count from `/metrics`.
fn frames(port: u16) -> f64 {
    let text = support::http_get(&format!("http://127.0.0.1:{port}/metrics"))
        .map_or(String::new(), |(_, t)| t);
    text.lines()
        .find(|l| l.starts_with("cctv_frames_total{") && l.contains("element=\"detector\""))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn a_camera_that_stops_sending_degrades_health_until_it_is_back() {
    let address = format!("127.0.0.1:{}", support::free_port());
    if !support::in_own_process(
        "health::a_camera_that_stops_sending_degrades_health_until_it_is_back",
        &[("CCTV_METRICS", &address)],
    ) {
        return;
    }
    let address = std::env::var("CCTV_METRICS").unwrap();
    let port: u16 = address.rsplit(':').next().unwrap().parse().unwrap();
    support::init();
    let pipeline = gst::parse::launch(
        "videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=10/1 \
         ! valve name=camera ! onnxdetect name=detector ! fakesink",
    )
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let url = format!("http://127.0.0.1:{port}/health");

    // Frames flow: the detector counts them and health is ok.
    let deadline = Instant::now() + Duration::from_secs(20);
    while frames(port) < 5.0 {
        assert!(Instant::now() < deadline, "no frames counted");
        std::thread::sleep(Duration::from_millis(100));
    }
    let ok = until(&url, Duration::from_secs(5), 200);
    assert_eq!(
        ok.as_ref().map(|(s, b)| (*s, b.trim())),
        Some((200, "ok")),
        "{ok:?}"
    );

    let camera = pipeline
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name("camera")
        .unwrap();
    camera.set_property("drop", true);
    let (status, body) = until(&url, Duration::from_secs(12), 503).expect("the exporter answers");
    assert_eq!(status, 503, "{body}");
    assert!(
        body.lines()
            .any(|l| l.starts_with("detector") && l.contains("no frame for")),
        "{body}"
    );

    camera.set_property("drop", false);
    let back = until(&url, Duration::from_secs(10), 200);
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(
        back.as_ref().map(|(s, b)| (*s, b.trim())),
        Some((200, "ok")),
        "{back:?}"
    );
}
