//! The WebRTC side of `liveview`: one H.264 encoder per camera, fed only
//! while someone watches, and one upstream `webrtcbin` per viewer behind a
//! tee, a leaky queue and a payloader of its own (the payload type is the
//! one the viewer's offer chose). Signalled by WHEP on the exporter
//! ([`crate::metrics::whep`]).
//!
//! A viewer is freed when it DELETEs its session, when its connection
//! fails or closes, or when nothing came from it for [`SILENCE`] (browsers
//! send RTCP reports every second while they receive): a tab closed or a
//! network gone is noticed within seconds. GStreamer 1.22's ICE agent
//! does no consent-freshness checks, so the silence is what tells.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::glib::translate::{FromGlibPtrFull, ToGlibPtr, ToGlibPtrMut};
use gst::prelude::*;

use crate::metrics::whep::{Refusal, Whep};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "liveview-webrtc",
        gst::DebugColorFlags::empty(),
        Some("Live view over WebRTC"),
    )
});

/// A viewer from whom nothing came for this long is gone.
pub const SILENCE: Duration = Duration::from_secs(5);
/// How long a new session may take to connect before its silence counts.
const CONNECT_WITHIN: Duration = Duration::from_secs(10);
/// Longest wait for the ICE candidates of an answer.
const GATHER_WITHIN: Duration = Duration::from_secs(5);
/// Most media a slow viewer's queue holds before the oldest is dropped.
const VIEWER_QUEUE: Duration = Duration::from_millis(200);

/// What the element's properties set, copied at READY.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub max_viewers: usize,
    pub stun_server: Option<String>,
    pub turn_server: Option<String>,
    /// Host addresses offered to viewers (empty: every address but loopback).
    pub addresses: Vec<String>,
}

/// The encoder branch, made once with the element: `queue (leaky) !
/// videoscale ! videoconvert ! capsfilter ! x264enc ! capsfilter ! tee`.
pub struct Branch {
    /// Where the element's tee feeds it.
    pub sink: gst::Pad,
    /// The raw size and format going into the encoder.
    pub caps: gst::Element,
    pub encoder: gst::Element,
    tee: gst::Element,
    /// Frames out of the encoder.
    encoded: Arc<AtomicU64>,
}

impl Branch {
    /// Adds the branch to `bin`; `None` (and a warning) where x264enc or
    /// webrtcbin is not installed: the live view is then MJPEG only.
    pub fn build(bin: &gst::Bin) -> Option<Branch> {
        let make = |factory: &str| gst::ElementFactory::make(factory).build().ok();
        if gst::ElementFactory::find("webrtcbin").is_none() {
            gst::warning!(
                CAT,
                obj = bin,
                "no webrtcbin (gstreamer1.0-plugins-bad): MJPEG only"
            );
            return None;
        }
        let (Some(queue), Some(scale), Some(convert), Some(caps), Some(encoder)) = (
            make("queue"),
            make("videoscale"),
            make("videoconvert"),
            make("capsfilter"),
            make("x264enc"),
        ) else {
            gst::warning!(
                CAT,
                obj = bin,
                "no x264enc (gstreamer1.0-plugins-ugly): MJPEG only"
            );
            return None;
        };
        let (Some(profile), Some(tee)) = (make("capsfilter"), make("tee")) else {
            return None;
        };
        // The encoder never holds the camera's thread back: the newest
        // frame waits, older ones are dropped.
        queue.set_property_from_str("leaky", "downstream");
        queue.set_property("max-size-buffers", 1u32);
        queue.set_property("max-size-bytes", 0u32);
        queue.set_property("max-size-time", 0u64);
        encoder.set_property_from_str("tune", "zerolatency");
        encoder.set_property_from_str("speed-preset", "ultrafast");
        // Viewers ask for key frames when they join or lose one.
        encoder.set_property("key-int-max", 300u32);
        profile.set_property(
            "caps",
            gst::Caps::builder("video/x-h264")
                .field("profile", "constrained-baseline")
                .field("stream-format", "byte-stream")
                .build(),
        );
        tee.set_property("allow-not-linked", true);
        let chain = [&queue, &scale, &convert, &caps, &encoder, &profile, &tee];
        bin.add_many(chain).ok()?;
        gst::Element::link_many(chain).ok()?;
        let encoded = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&encoded);
        encoder
            .static_pad("src")?
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                count.fetch_add(1, Ordering::Relaxed);
                gst::PadProbeReturn::Ok
            });
        Some(Branch {
            sink: queue.static_pad("sink")?,
            caps,
            encoder,
            tee,
            encoded,
        })
    }
}

/// One viewer: its elements in the bin and what tells it is gone.
struct Viewer {
    id: String,
    tee_pad: gst::Pad,
    elements: [gst::Element; 3],
    /// When its session started.
    since: Instant,
    /// Milliseconds since `since` when a packet last came from it.
    heard: Arc<AtomicU64>,
    /// Its connection failed or closed.
    gone: Arc<AtomicBool>,
}

impl Viewer {
    fn silent(&self) -> bool {
        let heard = Duration::from_millis(self.heard.load(Ordering::Relaxed));
        let elapsed = self.since.elapsed();
        if heard.is_zero() {
            elapsed > CONNECT_WITHIN
        } else {
            elapsed.saturating_sub(heard) > SILENCE
        }
    }
}

/// A camera's WebRTC viewers, from READY down to NULL.
pub struct Viewers {
    bin: glib::WeakRef<gst::Bin>,
    camera: String,
    tee: gst::Element,
    encoder: gst::Element,
    encoded: Arc<AtomicU64>,
    config: Config,
    viewers: Mutex<Vec<Viewer>>,
    /// Sessions set up or being set up (so the limit holds during set-up).
    sessions: AtomicUsize,
    /// Told when the first session starts (true) and the last ends (false).
    on_watch: Box<dyn Fn(bool) + Send + Sync>,
    /// Stops the janitor.
    stop: Mutex<Option<mpsc::Sender<()>>>,
}

impl Viewers {
    /// Starts the janitor that frees vanished viewers.
    pub fn start(
        bin: &gst::Bin,
        branch: &Branch,
        camera: &str,
        config: Config,
        on_watch: impl Fn(bool) + Send + Sync + 'static,
    ) -> Arc<Viewers> {
        let viewers = Arc::new(Viewers {
            bin: bin.downgrade(),
            camera: camera.to_owned(),
            tee: branch.tee.clone(),
            encoder: branch.encoder.clone(),
            encoded: Arc::clone(&branch.encoded),
            config,
            viewers: Mutex::new(Vec::new()),
            sessions: AtomicUsize::new(0),
            on_watch: Box::new(on_watch),
            stop: Mutex::new(None),
        });
        let (stop, stopped) = mpsc::channel::<()>();
        let weak = Arc::downgrade(&viewers);
        let spawned = std::thread::Builder::new()
            .name("cctv-webrtc".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(Duration::from_millis(250))
                {
                    let Some(viewers) = weak.upgrade() else {
                        return;
                    };
                    viewers.sweep();
                }
            });
        match spawned {
            Ok(_) => *viewers.stop.lock().unwrap() = Some(stop),
            Err(e) => gst::warning!(CAT, obj = bin, "no janitor for WebRTC viewers: {}", e),
        }
        viewers
    }

    /// Frees every viewer and stops the janitor.
    pub fn close(&self) {
        self.stop.lock().unwrap().take();
        let all = std::mem::take(&mut *self.viewers.lock().unwrap());
        for v in all {
            self.free(v);
        }
    }

    /// Frees the viewers that vanished.
    fn sweep(&self) {
        let gone: Vec<Viewer> = {
            let mut viewers = self.viewers.lock().unwrap();
            let (gone, kept) = std::mem::take(&mut *viewers)
                .into_iter()
                .partition(|v| v.gone.load(Ordering::Relaxed) || v.silent());
            *viewers = kept;
            gone
        };
        for v in gone {
            gst::info!(CAT, "WebRTC viewer {} of {} vanished", v.id, self.camera);
            self.free(v);
        }
    }

    /// Takes a viewer's elements out of the bin and gives its slot back.
    fn free(&self, v: Viewer) {
        // Released first: the tee ignores what a released pad returns, so
        // the elements can then stop without failing the stream.
        self.tee.release_request_pad(&v.tee_pad);
        take_out(self.bin.upgrade().as_ref(), &v.elements);
        self.release();
    }

    fn release(&self) {
        if self.sessions.fetch_sub(1, Ordering::SeqCst) == 1 {
            (self.on_watch)(false);
        }
    }

    /// Sets a session up for `offer` whose video uses payload type `pt`.
    fn connect(&self, offer: gst_sdp::SDPMessage, pt: u32) -> Result<Viewer, String> {
        let bin = self.bin.upgrade().ok_or("the live view stopped")?;
        let make = |factory: &str| {
            gst::ElementFactory::make(factory)
                .build()
                .map_err(|_| format!("no {factory}"))
        };
        let (queue, pay, webrtc) = (make("queue")?, make("rtph264pay")?, make("webrtcbin")?);
        queue.set_property_from_str("leaky", "downstream");
        queue.set_property("max-size-buffers", 0u32);
        queue.set_property("max-size-bytes", 0u32);
        queue.set_property("max-size-time", VIEWER_QUEUE.as_nanos() as u64);
        pay.set_property("pt", pt);
        pay.set_property("config-interval", -1i32);
        pay.set_property_from_str("aggregate-mode", "zero-latency");
        webrtc.set_property_from_str("bundle-policy", "max-bundle");
        if let Some(stun) = &self.config.stun_server {
            webrtc.set_property("stun-server", stun);
        }
        if let Some(turn) = &self.config.turn_server {
            webrtc.set_property("turn-server", turn);
        }
        let agent = webrtc.property::<glib::Object>("ice-agent");
        for address in &self.config.addresses {
            if !agent.emit_by_name::<bool>("add-local-ip-address", &[address]) {
                return Err(format!("cannot offer address {address}"));
            }
        }
        let elements = [queue, pay, webrtc];
        let [queue, pay, webrtc] = &elements;
        let id = session_id();
        let viewer = |tee_pad: gst::Pad| Viewer {
            id: id.clone(),
            tee_pad,
            elements: elements.clone(),
            since: Instant::now(),
            heard: Arc::new(AtomicU64::new(0)),
            gone: Arc::new(AtomicBool::new(false)),
        };
        bin.add_many(&elements).map_err(|e| e.to_string())?;
        // From here on a failure frees what was added.
        let tee_pad = self.tee.request_pad_simple("src_%u").ok_or("no tee pad")?;
        let v = viewer(tee_pad);
        match self.negotiate(&v, queue, pay, webrtc, offer, pt) {
            Ok(()) => Ok(v),
            Err(e) => {
                self.tee.release_request_pad(&v.tee_pad);
                take_out(Some(&bin), &v.elements);
                Err(e)
            }
        }
    }

    fn negotiate(
        &self,
        v: &Viewer,
        queue: &gst::Element,
        pay: &gst::Element,
        webrtc: &gst::Element,
        offer: gst_sdp::SDPMessage,
        pt: u32,
    ) -> Result<(), String> {
        queue.link(pay).map_err(|e| e.to_string())?;
        // The caps are the transceiver's codec: the answer takes the
        // offer's payload type and our encoder's profile.
        let caps = gst::Caps::builder("application/x-rtp")
            .field("media", "video")
            .field("encoding-name", "H264")
            .field("clock-rate", 90_000i32)
            .field("payload", pt as i32)
            .field("packetization-mode", "1")
            .field("profile-level-id", "42e01f")
            .field("level-asymmetry-allowed", "1")
            .build();
        let template = webrtc
            .pad_template("sink_%u")
            .ok_or("webrtcbin has no sink pads")?;
        let sink = webrtc
            .request_pad(&template, None, Some(&caps))
            .ok_or("webrtcbin gave no sink pad")?;
        pay.static_pad("src")
            .ok_or("no payloader pad")?
            .link(&sink)
            .map_err(|e| format!("cannot link the payloader: {e:?}"))?;
        let gone = Arc::clone(&v.gone);
        webrtc.connect_notify(Some("connection-state"), move |w, _| {
            let state = enum_nick(&w.property_value("connection-state"));
            if matches!(state.as_deref(), Some("failed" | "closed")) {
                gone.store(true, Ordering::Relaxed);
            }
        });
        for e in [webrtc, pay, queue] {
            e.sync_state_with_parent().map_err(|e| e.to_string())?;
        }

        let offer = description(SDP_OFFER, &offer).ok_or("no WebRTC session descriptions")?;
        call(webrtc, "set-remote-description", &offer)?;
        let reply = promise(|p| {
            webrtc.emit_by_name::<()>("create-answer", &[&None::<gst::Structure>, p]);
        })?;
        let answer = reply
            .value("answer")
            .map_err(|_| format!("no answer: {reply}"))?
            .clone();
        call(webrtc, "set-local-description", &answer)?;

        // Candidates go in the answer: wait until they are all known.
        let deadline = Instant::now() + GATHER_WITHIN;
        while enum_nick(&webrtc.property_value("ice-gathering-state")).as_deref()
            != Some("complete")
        {
            if Instant::now() > deadline {
                gst::warning!(CAT, "ICE gathering took over {:?}", GATHER_WITHIN);
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.listen(v, webrtc);
        self.tee_link(v, queue)
    }

    /// Notes every packet that comes from the viewer.
    fn listen(&self, v: &Viewer, webrtc: &gst::Element) {
        let Some(bin) = webrtc.downcast_ref::<gst::Bin>() else {
            return;
        };
        for src in bin
            .iterate_all_by_element_factory_name("nicesrc")
            .into_iter()
            .flatten()
        {
            let (heard, since) = (Arc::clone(&v.heard), v.since);
            if let Some(pad) = src.static_pad("src") {
                pad.add_probe(
                    gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
                    move |_, _| {
                        heard.store(since.elapsed().as_millis().max(1) as u64, Ordering::Relaxed);
                        gst::PadProbeReturn::Ok
                    },
                );
            }
        }
    }

    /// Feeds the viewer from the encoder, starting with a key frame.
    fn tee_link(&self, v: &Viewer, queue: &gst::Element) -> Result<(), String> {
        let sink = queue.static_pad("sink").ok_or("no queue pad")?;
        v.tee_pad
            .link(&sink)
            .map_err(|e| format!("cannot feed the viewer: {e:?}"))?;
        let key = gst_video::UpstreamForceKeyUnitEvent::builder()
            .all_headers(true)
            .build();
        self.encoder.send_event(key);
        Ok(())
    }
}

impl Whep for Viewers {
    fn offer(&self, offer: &str) -> Result<(String, String), Refusal> {
        let sdp = gst_sdp::SDPMessage::parse_buffer(offer.as_bytes())
            .map_err(|_| Refusal::Offer("not an SDP offer".into()))?;
        let pt = h264_payload(&sdp).ok_or_else(|| {
            Refusal::Offer("no H.264 video (packetization-mode 1, baseline) offered".into())
        })?;
        let most = self.config.max_viewers;
        let reserved = self
            .sessions
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < most).then_some(n + 1)
            });
        match reserved {
            Err(_) => return Err(Refusal::Full(most)),
            Ok(0) => (self.on_watch)(true),
            Ok(_) => {}
        }
        let viewer = match self.connect(sdp, pt) {
            Ok(v) => v,
            Err(e) => {
                self.release();
                return Err(Refusal::Failed(e));
            }
        };
        let webrtc = &viewer.elements[2];
        let Some(answer) = description_text(&webrtc.property_value("local-description")) else {
            self.free(viewer);
            return Err(Refusal::Failed("no local description".into()));
        };
        let id = viewer.id.clone();
        self.viewers.lock().unwrap().push(viewer);
        gst::info!(CAT, "WebRTC viewer {} of {}", id, self.camera);
        Ok((id, answer))
    }

    fn leave(&self, id: &str) -> bool {
        let viewer = {
            let mut viewers = self.viewers.lock().unwrap();
            let at = viewers.iter().position(|v| v.id == id);
            at.map(|i| viewers.remove(i))
        };
        match viewer {
            Some(v) => {
                self.free(v);
                true
            }
            None => false,
        }
    }

    fn viewers(&self) -> usize {
        self.viewers.lock().unwrap().len()
    }

    fn encoded(&self) -> u64 {
        self.encoded.load(Ordering::Relaxed)
    }
}

/// Stops a viewer's `elements` and takes them out of `bin`. Their states
/// are locked first: the pipeline stopping at the same time would
/// otherwise raise them again after they reached NULL, and they would be
/// freed running (GStreamer's "dispose ... in PAUSED" critical, seen when
/// a camera stopped while watched).
fn take_out(bin: Option<&gst::Bin>, elements: &[gst::Element]) {
    for e in elements {
        e.set_locked_state(true);
        e.set_state(gst::State::Null).ok();
    }
    if let Some(bin) = bin {
        bin.remove_many(elements).ok();
    }
}

/// A session id nobody can guess (it is all a DELETE needs).
fn session_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No system randomness: unique, if guessable.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        bytes = now.as_nanos().to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The payload type of H.264 the offer's first video section accepts and
/// our encoder sends: packetization mode 1, constrained baseline (or
/// baseline, which it is a part of).
fn h264_payload(sdp: &gst_sdp::SDPMessageRef) -> Option<u32> {
    let media = sdp.medias().find(|m| m.media() == Some("video"))?;
    let mut best: Option<(u8, u32)> = None;
    for attr in media.attributes() {
        if attr.key() != "fmtp" {
            continue;
        }
        let Some((pt, params)) = attr.value().and_then(|v| v.split_once(' ')) else {
            continue;
        };
        let Ok(pt) = pt.parse::<u32>() else {
            continue;
        };
        let is_h264 = media.attributes().any(|a| {
            a.key() == "rtpmap"
                && a.value().is_some_and(|v| {
                    v.split_once(' ').is_some_and(|(p, codec)| {
                        p == pt.to_string() && codec.to_ascii_uppercase().starts_with("H264/")
                    })
                })
        });
        let param = |name: &str| {
            params
                .split(';')
                .filter_map(|p| p.trim().split_once('='))
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.to_ascii_lowercase())
        };
        if !is_h264 || param("packetization-mode").as_deref() != Some("1") {
            continue;
        }
        let rank = match param("profile-level-id") {
            Some(p) if p.starts_with("42e0") => 2,
            Some(p) if p.starts_with("4200") => 1,
            _ => continue,
        };
        if best.is_none_or(|(r, _)| rank > r) {
            best = Some((rank, pt));
        }
    }
    best.map(|(_, pt)| pt)
}

/// `GstWebRTCSDPType`'s offer.
const SDP_OFFER: i32 = 1;

/// `GstWebRTCSessionDescription`'s layout (stable since 1.14). Its type is
/// reached by name: the bindings crate needs the development files of
/// gst-plugins-bad, which bring most of OpenCV on Debian 12.
#[repr(C)]
struct RawDescription {
    kind: i32,
    sdp: *mut gst_sdp::ffi::GstSDPMessage,
}

/// A session description of `kind` holding a copy of `sdp`.
fn description(kind: i32, sdp: &gst_sdp::SDPMessage) -> Option<glib::Value> {
    let type_ = glib::Type::from_name("GstWebRTCSessionDescription")?;
    let raw = RawDescription {
        kind,
        sdp: ToGlibPtr::<*const gst_sdp::ffi::GstSDPMessage>::to_glib_none(sdp).0 as *mut _,
    };
    let mut value = glib::Value::from_type(type_);
    // SAFETY: `value` holds the boxed type whose C layout `RawDescription`
    // mirrors; set_boxed copies it (and the SDP) with the type's own copy.
    unsafe {
        glib::gobject_ffi::g_value_set_boxed(
            value.to_glib_none_mut().0,
            &raw as *const RawDescription as glib::ffi::gconstpointer,
        );
    }
    Some(value)
}

/// The SDP text of a session description value.
fn description_text(value: &glib::Value) -> Option<String> {
    if value.type_().name() != "GstWebRTCSessionDescription" {
        return None;
    }
    // SAFETY: checked to be the boxed type `RawDescription` mirrors; the
    // text is a new string we own.
    unsafe {
        let raw =
            glib::gobject_ffi::g_value_get_boxed(value.to_glib_none().0) as *const RawDescription;
        if raw.is_null() || (*raw).sdp.is_null() {
            return None;
        }
        let text = gst_sdp::ffi::gst_sdp_message_as_text((*raw).sdp);
        (!text.is_null()).then(|| glib::GString::from_glib_full(text).to_string())
    }
}

/// An enum property's nick (`connected`, `complete`, ...).
fn enum_nick(value: &glib::Value) -> Option<String> {
    glib::EnumValue::from_value(value).map(|(_, v)| v.nick().to_owned())
}

/// Emits `signal(description, promise)` and waits for the promise.
fn call(webrtc: &gst::Element, signal: &str, description: &glib::Value) -> Result<(), String> {
    promise(|p| {
        webrtc.emit_by_name_with_values(signal, &[description.clone(), p.to_value()]);
    })
    .map(|_| ())
    .or_else(|e| {
        if e.is_empty() {
            Ok(())
        } else {
            Err(format!("{signal}: {e}"))
        }
    })
}

/// Runs `emit` with a new promise and waits for its reply (an error reply
/// as `Err`; no reply at all as `Err("")`).
fn promise(emit: impl FnOnce(&gst::Promise)) -> Result<gst::Structure, String> {
    let p = gst::Promise::new();
    emit(&p);
    match p.wait() {
        gst::PromiseResult::Replied => {}
        other => return Err(format!("promise {other:?}")),
    }
    let Some(reply) = p.get_reply() else {
        return Err(String::new());
    };
    if let Ok(error) = reply.get::<glib::Error>("error") {
        return Err(error.to_string());
    }
    Ok(reply.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96 102 108 116\r\nc=IN IP4 0.0.0.0\r\n\
        a=rtpmap:96 VP8/90000\r\n\
        a=rtpmap:102 H264/90000\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n\
        a=rtpmap:108 H264/90000\r\na=fmtp:108 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n\
        a=rtpmap:116 H264/90000\r\na=fmtp:116 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f\r\n";

    #[test]
    fn the_offers_constrained_baseline_is_chosen() {
        gst::init().unwrap();
        let sdp = gst_sdp::SDPMessage::parse_buffer(OFFER.as_bytes()).unwrap();
        assert_eq!(h264_payload(&sdp), Some(108));
        let baseline = OFFER.replace("a=fmtp:108", "a=x-fmtp:108");
        let sdp = gst_sdp::SDPMessage::parse_buffer(baseline.as_bytes()).unwrap();
        assert_eq!(h264_payload(&sdp), Some(102));
        let vp8_only = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n";
        let sdp = gst_sdp::SDPMessage::parse_buffer(vp8_only.as_bytes()).unwrap();
        assert_eq!(h264_payload(&sdp), None);
    }
}
