//! Track life-cycle events (a track appears, is lost, comes back, ends).
//!
//! `bytetrack` sends each as a custom downstream *serialized* event named
//! [`EVENT_NAME`], so it stays in order with the buffers through `queue`,
//! `tee` and converters and reaches every sink branch, and posts the same
//! structure as an element message on the bus for applications.

use serde::{Deserialize, Serialize};

use crate::bbox::BBox;

pub const EVENT_NAME: &str = "cctv/track-event";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The track was confirmed: an object entered the scene.
    New,
    /// The object was not seen on the last frame; the track waits for it.
    Lost,
    /// A lost track was matched again.
    Recovered,
    /// The track ended: the object left (or the stream ended).
    Removed,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::New => "new",
            Kind::Lost => "lost",
            Kind::Recovered => "recovered",
            Kind::Removed => "removed",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "new" => Kind::New,
            "lost" => Kind::Lost,
            "recovered" => Kind::Recovered,
            "removed" => Kind::Removed,
            _ => return None,
        })
    }
}

/// One life-cycle change of one track. Times are stream running times in
/// nanoseconds (buffer PTS): `first_seen` when the track was first seen,
/// `last_seen` when it was last matched to a detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackEvent {
    pub kind: Kind,
    pub track_id: u64,
    pub class_id: u32,
    pub label: String,
    pub first_seen: u64,
    pub last_seen: u64,
    /// Last box of the track, in pixels of a `width` x `height` frame.
    pub bbox: BBox,
    pub width: u32,
    pub height: u32,
}

impl TrackEvent {
    pub fn duration_ns(&self) -> u64 {
        self.last_seen.saturating_sub(self.first_seen)
    }

    pub fn to_structure(&self) -> gst::Structure {
        gst::Structure::builder(EVENT_NAME)
            .field("kind", self.kind.as_str())
            .field("track-id", self.track_id)
            .field("class-id", self.class_id)
            .field("label", self.label.as_str())
            .field("first-seen", self.first_seen)
            .field("last-seen", self.last_seen)
            .field("x", self.bbox.x as f64)
            .field("y", self.bbox.y as f64)
            .field("w", self.bbox.w as f64)
            .field("h", self.bbox.h as f64)
            .field("width", self.width as i32)
            .field("height", self.height as i32)
            .build()
    }

    /// The serialized downstream event carrying this change.
    pub fn to_event(&self) -> gst::Event {
        gst::event::CustomDownstream::new(self.to_structure())
    }

    /// Reads a life-cycle event; `None` for other events.
    pub fn from_event(event: &gst::EventRef) -> Option<TrackEvent> {
        if event.type_() != gst::EventType::CustomDownstream {
            return None;
        }
        let s = event.structure()?;
        if s.name() != EVENT_NAME {
            return None;
        }
        TrackEvent::from_structure(s)
    }

    pub fn from_structure(s: &gst::StructureRef) -> Option<TrackEvent> {
        Some(TrackEvent {
            kind: Kind::parse(s.get::<&str>("kind").ok()?)?,
            track_id: s.get("track-id").ok()?,
            class_id: s.get("class-id").ok()?,
            label: s.get::<String>("label").unwrap_or_default(),
            first_seen: s.get("first-seen").ok()?,
            last_seen: s.get("last-seen").ok()?,
            bbox: BBox::new(
                s.get::<f64>("x").ok()? as f32,
                s.get::<f64>("y").ok()? as f32,
                s.get::<f64>("w").ok()? as f32,
                s.get::<f64>("h").ok()? as f32,
            ),
            width: s.get::<i32>("width").ok()?.max(0) as u32,
            height: s.get::<i32>("height").ok()?.max(0) as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_round_trip() {
        gst::init().unwrap();
        let e = TrackEvent {
            kind: Kind::Removed,
            track_id: 12,
            class_id: 0,
            label: "person".into(),
            first_seen: 1_000_000_000,
            last_seen: 4_500_000_000,
            bbox: BBox::new(1.0, 2.0, 3.0, 4.0),
            width: 768,
            height: 576,
        };
        let event = e.to_event();
        assert!(event.is_serialized());
        assert_eq!(TrackEvent::from_event(&event), Some(e.clone()));
        assert_eq!(e.duration_ns(), 3_500_000_000);
        let other = gst::event::CustomDownstream::new(gst::Structure::new_empty("other"));
        assert_eq!(TrackEvent::from_event(&other), None);
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["kind"], "removed");
    }
}
