//! The exporter's HTTP side: `/metrics` and `/health` on one `tiny_http`
//! thread for the whole process.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::{CAT, snapshot, view, whep};

pub struct Exporter {
    address: SocketAddr,
}

impl Exporter {
    /// Listens on `address` and serves until the process ends.
    pub fn start(address: &str) -> Result<Exporter, String> {
        let server = tiny_http::Server::http(address)
            .map_err(|e| format!("cannot listen on {address}: {e}"))?;
        let address = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| "not an IP listener".to_string())?;
        std::thread::Builder::new()
            .name("cctv-metrics".into())
            .spawn(move || {
                let previous = Mutex::new(HashMap::new());
                for request in server.incoming_requests() {
                    if let Some(camera) = request.url().strip_prefix("/stream/").map(str::to_owned)
                    {
                        stream(request, &camera);
                        continue;
                    }
                    if request.url().starts_with("/whep/") {
                        let url = request.url().to_owned();
                        whep::handle(request, url.split('?').next().unwrap_or_default());
                        continue;
                    }
                    let (status, body, kind) =
                        match request.url().split('?').next().unwrap_or_default() {
                            "/" => (200, view::page(), "text/html; charset=utf-8"),
                            "/cameras.json" => (200, view::cameras_json(), "application/json"),
                            "/metrics" => match encode() {
                                Ok(text) => (200, text, "text/plain; version=0.0.4; charset=utf-8"),
                                Err(e) => (500, format!("encoding failed: {e}\n"), "text/plain"),
                            },
                            "/health" => {
                                let (ok, text) = health(&mut previous.lock().unwrap());
                                (
                                    if ok { 200 } else { 503 },
                                    text,
                                    "text/plain; charset=utf-8",
                                )
                            }
                            _ => (
                                404,
                                "not found: try /metrics or /health\n".into(),
                                "text/plain",
                            ),
                        };
                    let header =
                        tiny_http::Header::from_bytes(&b"Content-Type"[..], kind.as_bytes())
                            .expect("a valid header");
                    let response = tiny_http::Response::from_string(body)
                        .with_status_code(status)
                        .with_header(header);
                    if let Err(e) = request.respond(response) {
                        gst::debug!(CAT, "metrics client went away: {}", e);
                    }
                }
            })
            .map_err(|e| format!("cannot start the exporter thread: {e}"))?;
        gst::info!(CAT, "metrics and health on http://{}", address);
        Ok(Exporter { address })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

/// Streams `camera` as MJPEG on a thread of its own until the viewer leaves.
fn stream(request: tiny_http::Request, camera: &str) {
    // Camera ids may hold any text.
    let camera = cctv::camera_uri::percent_decode(camera);
    let Some(mjpeg) = view::Mjpeg::open(&camera) else {
        let response = tiny_http::Response::from_string("no such camera, or too many viewers\n")
            .with_status_code(404);
        request.respond(response).ok();
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("cctv-viewer".into())
        .spawn(move || {
            let kind = format!("multipart/x-mixed-replace; boundary={}", view::BOUNDARY);
            let headers = vec![
                tiny_http::Header::from_bytes(&b"Content-Type"[..], kind.as_bytes())
                    .expect("a valid header"),
                tiny_http::Header::from_bytes(&b"Cache-Control"[..], &b"no-cache"[..])
                    .expect("a valid header"),
            ];
            let response =
                tiny_http::Response::new(tiny_http::StatusCode(200), headers, mjpeg, None, None);
            // Ends when the viewer goes away or the camera stops.
            if let Err(e) = request.respond(response) {
                gst::debug!(CAT, "viewer of {} left: {}", camera, e);
            }
        });
    if let Err(e) = spawned {
        gst::warning!(CAT, "cannot serve a viewer: {}", e);
    }
}

/// Every element's figures as Prometheus text.
pub fn encode() -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Elements));
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)?;
    Ok(text)
}

/// `ok`, or `degraded` with a reason per line. Frames dropped since the
/// previous check count as a reason (`previous`: per element, frames and
/// dropped at that check).
fn health(previous: &mut HashMap<String, (u64, u64)>) -> (bool, String) {
    let snap = snapshot();
    let mut reasons = snap.degraded;
    let mut now = HashMap::new();
    for (name, frames, dropped) in snap.flow {
        if let Some(&(_, before)) = previous.get(&name)
            && dropped > before
        {
            reasons.push(format!(
                "{name}: dropped {} since the last check",
                dropped - before
            ));
        }
        now.insert(name, (frames, dropped));
    }
    *previous = now;
    if reasons.is_empty() {
        (true, "ok\n".into())
    } else {
        (false, format!("degraded\n{}\n", reasons.join("\n")))
    }
}

/// Reads every element's figures at scrape time.
#[derive(Debug)]
struct Elements;

impl Collector for Elements {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snap = snapshot();
        for (name, help, samples) in &snap.counters {
            let mut metric = encoder.encode_descriptor(
                name,
                help,
                None,
                prometheus_client::metrics::MetricType::Counter,
            )?;
            for (labels, value) in samples {
                ConstCounter::new(*value).encode(metric.encode_family(labels)?)?;
            }
        }
        for (name, help, samples) in &snap.gauges {
            let mut metric = encoder.encode_descriptor(
                name,
                help,
                None,
                prometheus_client::metrics::MetricType::Gauge,
            )?;
            for (labels, value) in samples {
                ConstGauge::new(*value).encode(metric.encode_family(labels)?)?;
            }
        }
        Ok(())
    }
}
