//! WHEP (WebRTC-HTTP Egress Protocol, RFC 9725's sibling for viewers): a
//! viewer POSTs its SDP offer to `/whep/CAMERA` and gets the SDP answer
//! (201, with the session's address in `Location`); a DELETE of that
//! address leaves. Candidates travel inside the offer and answer (no
//! trickle). Requests reach here after the exporter's own checks, so the
//! page's access rules hold for it too; besides, an offer must be sent as
//! `application/sdp`, which a page of another site can only do after a
//! CORS preflight that this server never grants.

use std::io::Read;

use super::{CAT, view};

/// Largest offer read (browsers send 3-8 KiB).
const MAX_OFFER: u64 = 64 * 1024;

/// A camera's WebRTC side, which a `liveview` provides.
pub trait Whep: Send + Sync {
    /// Starts a session for `offer`: its id and the SDP answer.
    fn offer(&self, offer: &str) -> Result<(String, String), Refusal>;
    /// Ends session `id`; false if there is no such session.
    fn leave(&self, id: &str) -> bool;
    /// Sessions now.
    fn viewers(&self) -> usize;
    /// Frames encoded so far (only while someone watches).
    fn encoded(&self) -> u64;
}

impl<T: Whep + ?Sized> Whep for std::sync::Arc<T> {
    fn offer(&self, offer: &str) -> Result<(String, String), Refusal> {
        (**self).offer(offer)
    }
    fn leave(&self, id: &str) -> bool {
        (**self).leave(id)
    }
    fn viewers(&self) -> usize {
        (**self).viewers()
    }
    fn encoded(&self) -> u64 {
        (**self).encoded()
    }
}

/// Why an offer got no session.
#[derive(Debug)]
pub enum Refusal {
    /// The camera has its most viewers already.
    Full(usize),
    /// The offer is not one this camera can answer (no H.264 video, ...).
    Offer(String),
    /// The session could not be set up.
    Failed(String),
}

/// Serves one WHEP request (`path`, without the query, starts with
/// `/whep/`) on a thread of its own: setting a session up waits for ICE
/// candidates, and the exporter's thread serves everyone.
pub fn handle(request: tiny_http::Request, path: &str) {
    let path = path.to_owned();
    let spawned = std::thread::Builder::new()
        .name("cctv-whep".into())
        .spawn(move || serve(request, &path));
    if let Err(e) = spawned {
        gst::warning!(CAT, "cannot serve a WHEP request: {}", e);
    }
}

fn serve(mut request: tiny_http::Request, path: &str) {
    let rest = path.strip_prefix("/whep/").unwrap_or_default();
    let (camera, session) = match rest.split_once('/') {
        Some((camera, id)) => (camera, Some(id)),
        None => (rest, None),
    };
    let camera = cctv::camera_uri::percent_decode(camera);
    let reply = match (request.method(), session) {
        // What a CORS preflight gets: no `Access-Control-Allow-*`, so a
        // page of another site cannot go on.
        (tiny_http::Method::Options, _) => {
            Reply::new(204, "", "text/plain").with("Accept-Post", "application/sdp")
        }
        (tiny_http::Method::Post, None) => post(&mut request, &camera),
        (tiny_http::Method::Delete, Some(id)) => match find(&camera) {
            Some(v) if v.whep.as_ref().is_some_and(|w| w.leave(id)) => {
                Reply::new(200, "", "text/plain")
            }
            _ => Reply::new(404, "no such session\n", "text/plain"),
        },
        _ => Reply::new(
            405,
            "POST an SDP offer (application/sdp) to /whep/CAMERA; DELETE the session's Location to leave\n",
            "text/plain",
        ),
    };
    reply.send(request);
}

fn post(request: &mut tiny_http::Request, camera: &str) -> Reply {
    let sdp = content_type(request).is_some_and(|t| t.starts_with("application/sdp"));
    if !sdp {
        return Reply::new(
            415,
            "the offer must be sent as application/sdp\n",
            "text/plain",
        );
    }
    let Some(view) = find(camera) else {
        return Reply::new(404, "no such camera, or it has no WebRTC\n", "text/plain");
    };
    let Some(offer) = read_offer(request) else {
        return Reply::new(400, "unreadable offer\n", "text/plain");
    };
    let whep = view.whep.as_ref().expect("found by its WebRTC side");
    match whep.offer(&offer) {
        Ok((id, answer)) => {
            gst::debug!(CAT, "WebRTC viewer {} of {}", id, camera);
            let location = format!("/whep/{}/{id}", cctv::camera_uri::percent_encode(camera));
            Reply::new(201, &answer, "application/sdp").with("Location", &location)
        }
        Err(Refusal::Full(most)) => Reply::new(
            503,
            &format!(
                "camera {camera} has its {most} WebRTC viewers already (MJPEG: /stream/CAMERA)\n"
            ),
            "text/plain",
        )
        .with("Retry-After", "10"),
        Err(Refusal::Offer(why)) => Reply::new(
            400,
            &format!("cannot answer this offer: {why}\n"),
            "text/plain",
        ),
        Err(Refusal::Failed(why)) => {
            gst::warning!(CAT, "WebRTC viewer of {} failed: {}", camera, why);
            Reply::new(500, &format!("session failed: {why}\n"), "text/plain")
        }
    }
}

/// A response being put together.
struct Reply {
    status: u16,
    body: String,
    headers: Vec<tiny_http::Header>,
}

impl Reply {
    fn new(status: u16, body: &str, kind: &str) -> Reply {
        Reply {
            status,
            body: body.to_owned(),
            headers: vec![header("Content-Type", kind)],
        }
    }

    fn with(mut self, name: &str, value: &str) -> Reply {
        self.headers.push(header(name, value));
        self
    }

    fn send(self, request: tiny_http::Request) {
        let mut response =
            tiny_http::Response::from_string(self.body).with_status_code(self.status);
        for h in self.headers {
            response.add_header(h);
        }
        if let Err(e) = request.respond(response) {
            gst::debug!(CAT, "WHEP client went away: {}", e);
        }
    }
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid header")
}

fn content_type(request: &tiny_http::Request) -> Option<String> {
    request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Content-Type"))
        .map(|h| h.value.as_str().to_ascii_lowercase())
}

/// The view of `camera`, if it serves WebRTC.
fn find(camera: &str) -> Option<std::sync::Arc<view::View>> {
    view::views()
        .into_iter()
        .find(|v| v.camera == camera && v.whep.is_some())
}

fn read_offer(request: &mut tiny_http::Request) -> Option<String> {
    let mut offer = String::new();
    request
        .as_reader()
        .take(MAX_OFFER)
        .read_to_string(&mut offer)
        .ok()?;
    Some(offer)
}
