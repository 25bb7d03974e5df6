//! The metrics and health exporter, as a user turns it on: `CCTV_METRICS`
//! in the environment of a plain `gst-launch-1.0`. `/metrics` parses as
//! Prometheus text and its counters move as frames flow; `/health` turns
//! `degraded` naming the sink when the broker goes away and `ok` again
//! when it is back.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The gst-launch process, killed when the test ends however it ends.
struct Launch(Child);

impl Drop for Launch {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

fn get(url: &str) -> Option<(u16, String)> {
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .http_status_as_error(false)
            .build(),
    );
    let mut response = agent.get(url).call().ok()?;
    let status = response.status().as_u16();
    Some((status, response.body_mut().read_to_string().ok()?))
}

/// Polls `url` until `check` accepts the answer, for up to `limit`.
fn until(url: &str, limit: Duration, check: impl Fn(u16, &str) -> bool) -> Option<(u16, String)> {
    let deadline = Instant::now() + limit;
    loop {
        let answer = get(url);
        if let Some((status, body)) = &answer
            && check(*status, body)
        {
            return answer;
        }
        if Instant::now() >= deadline {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

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
    let broker = common::Mosquitto::start();
    let broker_port = broker.port;
    let port = common::free_port();
    let pipeline = format!(
        "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=15/1 \
         ! onnxdetect name=detector ! bytetrack name=tracker ! gendercls name=gender \
         ! mqttsink name=events host=127.0.0.1 port={broker_port} camera-id=gate retry-timeout=0"
    );
    let _launch = Launch(
        Command::new("gst-launch-1.0")
            .arg("-q")
            .args(common::shell_words(&pipeline))
            .env("GST_PLUGIN_PATH", common::plugin_dir())
            .env("CCTV_METRICS", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gst-launch-1.0 runs"),
    );
    let metrics = format!("http://127.0.0.1:{port}/metrics");
    let health = format!("http://127.0.0.1:{port}/health");

    let frames = |text: &str| value(text, "cctv_frames_total", "detector").unwrap_or(0.0);
    let (_, first) = until(&metrics, Duration::from_secs(30), |s, t| {
        s == 200 && frames(t) > 0.0
    })
    .expect("the exporter answers");
    let (_, second) = until(&metrics, Duration::from_secs(10), |_, t| {
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

    let ok = until(&health, Duration::from_secs(5), |s, _| s == 200);
    assert_eq!(
        ok.map(|(s, b)| (s, b.trim().to_string())),
        Some((200, "ok".into()))
    );

    drop(broker);
    let (status, body) = until(&health, Duration::from_secs(15), |s, _| s == 503).unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.starts_with("degraded"), "{body}");
    assert!(
        body.lines()
            .any(|l| l.starts_with("events") && l.contains("unreachable")),
        "{body}"
    );
    let (_, text) = get(&metrics).unwrap();
    assert_eq!(value(&text, "cctv_connected", "events"), Some(0.0));

    let _broker = common::Mosquitto::start_on_port(broker_port);
    let (status, body) = until(&health, Duration::from_secs(20), |s, _| s == 200).unwrap();
    assert_eq!((status, body.trim()), (200, "ok"));
    let (_, text) = get(&metrics).unwrap();
    assert!(value(&text, "cctv_reconnects_total", "events").unwrap() >= 1.0);
}
