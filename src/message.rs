//! The JSON messages the sinks publish (schema `cctv/1`, committed as
//! `schemas/cctv-message-v1.schema.json`). Every message has a stable `id`:
//! a re-sent message keeps it, so consumers drop the duplicates that MQTT
//! QoS 1 allows. When each is sent is [`crate::schedule`]'s decision.

use serde::Serialize;

use crate::meta::{Frame, Object};
use crate::summary::TrackSummary;

pub const SCHEMA: &str = "cctv/1";

/// What a stream's messages have in common.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub camera: &'a str,
    /// Identifies one run of the pipeline (and one segment: a seek starts a
    /// new run), so track ids restarting at 1 after a restart, or stream
    /// times repeating after a seek, do not reuse message ids.
    pub run: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TrackPhase {
    Enter,
    Update,
    Exit,
}

impl TrackPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            TrackPhase::Enter => "enter",
            TrackPhase::Update => "update",
            TrackPhase::Exit => "exit",
        }
    }
}

#[derive(Serialize)]
struct Size {
    width: u32,
    height: u32,
}

#[derive(Serialize)]
struct Envelope<'a, B: Serialize> {
    schema: &'static str,
    id: String,
    kind: &'static str,
    camera: &'a str,
    stream_time_ns: u64,
    utc: String,
    /// When the frame was captured (a live camera's frames).
    #[serde(skip_serializing_if = "Option::is_none")]
    captured: Option<String>,
    frame: Size,
    #[serde(flatten)]
    body: B,
}

#[derive(Serialize)]
struct Detections<'a> {
    objects: &'a [Object],
}

#[derive(Serialize)]
struct Track<'a> {
    event: TrackPhase,
    track: &'a TrackSummary,
}

#[derive(Serialize)]
struct Summary<'a> {
    counts: &'a std::collections::BTreeMap<String, u32>,
}

/// A message ready to deliver: its JSON and what a sink names or sorts it by.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// `detections`, `track` or `summary`.
    pub kind: &'static str,
    /// The track's class label, `all` for messages about a whole frame.
    pub label: String,
    pub payload: String,
    /// A life-cycle fact (`enter`, `exit`) that must arrive, rather than
    /// per-frame data a sink may drop when it cannot keep up.
    pub record: bool,
}

/// Builds the message of `kind`; `size` is the frame's width and height.
fn envelope<B: Serialize>(
    ctx: &Context<'_>,
    kind: &'static str,
    id: String,
    pts_ns: u64,
    captured_ms: Option<i64>,
    size: (u32, u32),
    body: B,
) -> String {
    serde_json::to_string(&Envelope {
        schema: SCHEMA,
        id,
        kind,
        camera: ctx.camera,
        stream_time_ns: pts_ns,
        utc: utc_now(),
        captured: captured_ms.map(format_utc),
        frame: Size {
            width: size.0,
            height: size.1,
        },
        body,
    })
    .expect("messages serialise")
}

/// Per-frame detections of a frame captured at `captured_ms` (ms since the
/// Unix epoch), when known.
pub fn detections(
    ctx: &Context<'_>,
    pts_ns: u64,
    captured_ms: Option<i64>,
    frame: &Frame,
) -> Outgoing {
    let id = format!("{}/{}/detections/{pts_ns}", ctx.camera, ctx.run);
    let payload = envelope(
        ctx,
        "detections",
        id,
        pts_ns,
        captured_ms,
        (frame.width, frame.height),
        Detections {
            objects: &frame.objects,
        },
    );
    Outgoing {
        kind: "detections",
        label: "all".into(),
        payload,
        record: false,
    }
}

/// A track entering, updating or leaving, its box in a frame of `size`.
pub fn track(
    ctx: &Context<'_>,
    phase: TrackPhase,
    pts_ns: u64,
    size: (u32, u32),
    track: &TrackSummary,
) -> Outgoing {
    let id = match phase {
        TrackPhase::Update => format!(
            "{}/{}/track/{}/update/{pts_ns}",
            ctx.camera, ctx.run, track.track_id
        ),
        _ => format!(
            "{}/{}/track/{}/{}",
            ctx.camera,
            ctx.run,
            track.track_id,
            phase.as_str()
        ),
    };
    let payload = envelope(
        ctx,
        "track",
        id,
        pts_ns,
        None,
        size,
        Track {
            event: phase,
            track,
        },
    );
    Outgoing {
        kind: "track",
        label: track.label.clone(),
        payload,
        record: phase != TrackPhase::Update,
    }
}

/// Objects in view per class label.
pub fn summary(ctx: &Context<'_>, pts_ns: u64, frame: &Frame) -> Outgoing {
    let mut counts = std::collections::BTreeMap::new();
    for o in &frame.objects {
        *counts.entry(o.label.clone()).or_insert(0u32) += 1;
    }
    let id = format!("{}/{}/summary/{pts_ns}", ctx.camera, ctx.run);
    let payload = envelope(
        ctx,
        "summary",
        id,
        pts_ns,
        None,
        (frame.width, frame.height),
        Summary { counts: &counts },
    );
    Outgoing {
        kind: "summary",
        label: "all".into(),
        payload,
        record: false,
    }
}

/// Current wall-clock time as RFC 3339 UTC with milliseconds.
pub fn utc_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format_utc(now.as_millis() as i64)
}

/// Formats milliseconds since the Unix epoch (civil-from-days, proleptic Gregorian).
pub fn format_utc(ms: i64) -> String {
    let mut out = String::with_capacity(24);
    write_utc(&mut out, ms).expect("a String takes any text");
    out
}

/// [`format_utc`] into `out`, for callers reusing a buffer.
pub fn write_utc(out: &mut impl std::fmt::Write, ms: i64) -> std::fmt::Result {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60,
        ms.rem_euclid(1000)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bbox::BBox;

    #[test]
    fn utc_formatting() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_utc(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(format_utc(1_795_395_308_999), "2026-11-23T00:55:08.999Z");
    }

    #[test]
    fn messages_carry_stable_ids() {
        let mut o = Object::new(BBox::new(1.0, 2.0, 3.0, 4.0), 0, "person", 0.8);
        o.track_id = Some(9);
        let frame = Frame {
            width: 768,
            height: 576,
            objects: vec![o],
            ..Frame::default()
        };
        let ctx = Context {
            camera: "cam1",
            run: 77,
        };
        let d: serde_json::Value =
            serde_json::from_str(&detections(&ctx, 5, None, &frame).payload).unwrap();
        assert_eq!(d["id"], "cam1/77/detections/5");
        assert_eq!(d["objects"][0]["track_id"], 9);
        assert_eq!(d["frame"]["width"], 768);
        assert!(
            d.get("captured").is_none(),
            "only frames from a camera have it"
        );
        let live: serde_json::Value =
            serde_json::from_str(&detections(&ctx, 5, Some(1_700_000_000_123), &frame).payload)
                .unwrap();
        assert_eq!(live["captured"], "2023-11-14T22:13:20.123Z");
        let mut book = crate::summary::TrackBook::default();
        book.observe(&frame, 5);
        let exit = track(&ctx, TrackPhase::Exit, 5, (768, 576), book.get(9).unwrap());
        assert_eq!(
            (exit.kind, exit.label.as_str(), exit.record),
            ("track", "person", true)
        );
        let t: serde_json::Value = serde_json::from_str(&exit.payload).unwrap();
        assert_eq!(t["id"], "cam1/77/track/9/exit");
        assert_eq!(t["event"], "exit");
        assert_eq!(t["track"]["label"], "person");
        let s: serde_json::Value = serde_json::from_str(&summary(&ctx, 5, &frame).payload).unwrap();
        assert_eq!(s["counts"]["person"], 1);
    }
}
