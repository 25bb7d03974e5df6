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

/// An application's routes, served by the exporter's thread before its own
/// (answer quickly: one thread serves every request but the video).
pub trait App: Send + Sync {
    /// The answer to `request`, or `None` to leave it to the exporter.
    fn handle(&self, request: &Request) -> Option<Response>;
}

/// What an [`App`] sees of a request.
pub struct Request<'a> {
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    pub body: &'a [u8],
}

pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Response {
    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        Response {
            status,
            content_type: "application/json",
            body: value.to_string(),
        }
    }
}

/// The cookie a browser keeps the access token in, once a page was opened
/// with `?token=`.
const TOKEN_COOKIE: &str = "cctv-token";
/// Largest request body read (the API's are empty or small).
const MAX_BODY: u64 = 64 * 1024;

impl Exporter {
    /// Listens on `address` and serves until the process ends; with
    /// `token`, only requests carrying it; `app`'s routes first.
    pub fn start(
        address: &str,
        token: Option<String>,
        app: Option<std::sync::Arc<dyn App>>,
    ) -> Result<Exporter, String> {
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
                for mut request in server.incoming_requests() {
                    let url = request.url().to_owned();
                    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
                    let mut cookie = None;
                    if let Some(token) = &token {
                        match presented(&request, query) {
                            Some((given, from_query))
                                if same(given.as_bytes(), token.as_bytes()) =>
                            {
                                cookie = from_query.then(|| token.clone());
                            }
                            _ => {
                                respond(request, 401, String::new(), "text/plain", &[]);
                                continue;
                            }
                        }
                    }
                    if request.method() == &tiny_http::Method::Post && !same_origin(&request) {
                        respond(request, 403, String::new(), "text/plain", &[]);
                        continue;
                    }
                    if let Some(camera) = path.strip_prefix("/stream/") {
                        stream(request, camera);
                        continue;
                    }
                    if path.starts_with("/whep/") {
                        whep::handle(request, path);
                        continue;
                    }
                    let answer = app.as_ref().and_then(|app| {
                        let mut body = Vec::new();
                        std::io::Read::read_to_end(
                            &mut std::io::Read::take(request.as_reader(), MAX_BODY),
                            &mut body,
                        )
                        .ok()?;
                        app.handle(&Request {
                            method: request.method().as_str(),
                            path,
                            body: &body,
                        })
                    });
                    let (status, body, kind) = match (answer, path) {
                        (Some(r), _) => (r.status, r.body, r.content_type),
                        (None, "/") => (200, view::page(), "text/html; charset=utf-8"),
                        (None, "/cameras.json") => (200, view::cameras_json(), "application/json"),
                        (None, "/metrics") => match encode() {
                            Ok(text) => (200, text, "text/plain; version=0.0.4; charset=utf-8"),
                            Err(e) => (500, format!("encoding failed: {e}\n"), "text/plain"),
                        },
                        (None, "/health") => {
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
                    // The page keeps the token for its own requests (pictures, counts, buttons).
                    let set_cookie = cookie
                        .map(|t| format!("{TOKEN_COOKIE}={t}; Path=/; HttpOnly; SameSite=Strict"));
                    respond(request, status, body, kind, set_cookie.as_slice());
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

fn respond(request: tiny_http::Request, status: u16, body: String, kind: &str, cookies: &[String]) {
    let header = |name: &str, value: &str| {
        tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid header")
    };
    let mut response = tiny_http::Response::from_string(body)
        .with_status_code(status)
        .with_header(header("Content-Type", kind));
    if status == 401 {
        response.add_header(header("WWW-Authenticate", "Bearer"));
    }
    for cookie in cookies {
        response.add_header(header("Set-Cookie", cookie));
    }
    if let Err(e) = request.respond(response) {
        gst::debug!(CAT, "metrics client went away: {}", e);
    }
}

/// The token a request presents: `Authorization: Bearer`, the page's
/// cookie, or `?token=` (true: from the query, to be kept in the cookie).
fn presented(request: &tiny_http::Request, query: &str) -> Option<(String, bool)> {
    for h in request.headers() {
        let value = h.value.as_str().trim();
        if h.field.equiv("Authorization") {
            if let Some(t) = value.strip_prefix("Bearer ") {
                return Some((t.trim().to_owned(), false));
            }
        } else if h.field.equiv("Cookie") {
            let found = value
                .split(';')
                .filter_map(|c| c.trim().split_once('='))
                .find(|(name, _)| *name == TOKEN_COOKIE);
            if let Some((_, t)) = found {
                return Some((t.to_owned(), false));
            }
        }
    }
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(name, _)| *name == "token")
        .map(|(_, t)| (cctv::camera_uri::percent_decode(t), true))
}

/// `given == expected` in a time that depends only on `expected`'s length.
fn same(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = given.len() ^ expected.len();
    for (i, e) in expected.iter().enumerate() {
        diff |= (given.get(i).copied().unwrap_or(0) ^ e) as usize;
    }
    diff == 0
}

/// A POST from a page of another site (its `Origin` not this server) is
/// refused, so a web page cannot press the buttons of a service on
/// loopback, where no token is needed.
fn same_origin(request: &tiny_http::Request) -> bool {
    let header = |name: &'static str| {
        request
            .headers()
            .iter()
            .find(|h| h.field.equiv(name))
            .map(|h| h.value.as_str().to_owned())
    };
    match (header("Origin"), header("Host")) {
        (None, _) => true,
        (Some(origin), Some(host)) => {
            origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                == Some(host.as_str())
        }
        (Some(_), None) => false,
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
