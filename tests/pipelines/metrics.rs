//! The metrics and health exporter, as a user turns it on: `CCTV_METRICS`
//! in the environment of a plain `gst-launch-1.0`. `/metrics` parses as
//! Prometheus text and its counters move as frames flow; `/health` turns
//! `degraded` naming the sink when the broker goes away and `ok` again
//! when it is back.

use std::time::Duration;

/// The value of `name` for the series whose `element` label is `element`.
fn value(text: &str, name: &str, element: &str) -> Option<f64> {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && s.labels.get("element") == Some(element))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

#[test]
fn metrics_move_and_health_follows_the_broker() {
    let broker = support::Mosquitto::start();
    let broker_port = broker.port;
    let port = support::free_port();
    let pipeline = format!(
        "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=15/1 \
         ! onnxdetect name=detector ! bytetrack name=tracker ! gendercls name=gender \
         ! mqttsink name=events host=127.0.0.1 port={broker_port} camera-id=gate retry-timeout=0"
    );
    let _launch = support::gst_launch_monitored(&pipeline, port);
    let metrics = format!("http://127.0.0.1:{port}/metrics");
    let health = format!("http://127.0.0.1:{port}/health");

    let frames = |text: &str| value(text, "cctv_frames_total", "detector").unwrap_or(0.0);
    let (_, first) = support::http_until(&metrics, Duration::from_secs(30), |s, t| {
        s == 200 && frames(t) > 0.0
    })
    .expect("the exporter answers");
    let (_, second) = support::http_until(&metrics, Duration::from_secs(10), |_, t| {
        frames(t) >= frames(&first) + 10.0
    })
    .expect("the exporter answers");
    assert!(
        frames(&second) >= frames(&first) + 10.0,
        "frames do not move:\n{second}"
    );
    for element in ["detector", "tracker", "gender", "events"] {
        assert!(
            value(&second, "cctv_frames_total", element).unwrap() > 0.0,
            "{element}"
        );
        assert!(
            value(&second, "cctv_processing_seconds_total", element).unwrap() > 0.0,
            "{element}"
        );
    }
    assert!(value(&second, "cctv_inference_seconds_total", "detector").unwrap() > 0.0);
    assert!(value(&second, "cctv_delivered_total", "events").unwrap() > 0.0);
    // A test picture has no person: nothing classified, and it says so.
    assert_eq!(
        value(&second, "cctv_classifications_total", "gender"),
        Some(0.0)
    );
    assert_eq!(value(&second, "cctv_connected", "events"), Some(1.0));
    assert!(second.contains("camera=\"gate\""), "{second}");

    let ok = support::http_until(&health, Duration::from_secs(5), |s, _| s == 200);
    assert_eq!(
        ok.map(|(s, b)| (s, b.trim().to_string())),
        Some((200, "ok".into()))
    );

    drop(broker);
    let (status, body) =
        support::http_until(&health, Duration::from_secs(15), |s, _| s == 503).unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.starts_with("degraded"), "{body}");
    assert!(
        body.lines()
            .any(|l| l.starts_with("events") && l.contains("unreachable")),
        "{body}"
    );
    let (_, text) = support::http_get(&metrics).unwrap();
    assert_eq!(value(&text, "cctv_connected", "events"), Some(0.0));

    let _broker = support::Mosquitto::start_on_port(broker_port);
    let (status, body) =
        support::http_until(&health, Duration::from_secs(20), |s, _| s == 200).unwrap();
    assert_eq!((status, body.trim()), (200, "ok"));
    let (_, text) = support::http_get(&metrics).unwrap();
    assert!(value(&text, "cctv_reconnects_total", "events").unwrap() >= 1.0);
}

#[test]
fn elements_that_run_no_model_report_frames_and_time_too() {
    let port = support::free_port();
    let pipeline = "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=15/1 \
         ! virtualptz name=ptz width=160 height=120 ! cctvoverlay name=overlay ! fakesink";
    let _launch = support::gst_launch_monitored(pipeline, port);
    let metrics = format!("http://127.0.0.1:{port}/metrics");
    let reported = |text: &str, name: &str| {
        ["ptz", "overlay"]
            .iter()
            .all(|e| value(text, name, e).is_some_and(|v| v > 0.0))
    };
    let (_, text) = support::http_until(&metrics, Duration::from_secs(30), |s, t| {
        s == 200 && reported(t, "cctv_frames_total")
    })
    .expect("the exporter answers");
    assert!(reported(&text, "cctv_frames_total"), "{text}");
    assert!(reported(&text, "cctv_processing_seconds_total"), "{text}");
}
