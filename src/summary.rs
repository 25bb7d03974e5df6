//! What the sinks report about a track: aggregated from the frames it
//! appears on, closed by its `removed` life-cycle event.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::bbox::BBox;
use crate::lifecycle::TrackEvent;
use crate::meta::{Attribute, Frame};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackSummary {
    pub track_id: u64,
    pub class_id: u32,
    pub label: String,
    /// Stream times (ns) of the first and last frame with a detection of it.
    pub first_seen_ns: u64,
    pub last_seen_ns: u64,
    pub duration_s: f64,
    pub best_confidence: f32,
    pub bbox: BBox,
    /// Latest classifier results (the classifier votes over the track itself).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    /// Frames on which the track had a detection.
    pub frames: u64,
}

impl TrackSummary {
    /// What a life-cycle event alone says about a track.
    pub fn from_event(e: &TrackEvent) -> TrackSummary {
        TrackSummary {
            track_id: e.track_id,
            class_id: e.class_id,
            label: e.label.clone(),
            first_seen_ns: e.first_seen,
            last_seen_ns: e.last_seen,
            duration_s: e.duration_ns() as f64 / 1e9,
            best_confidence: 0.0,
            bbox: e.bbox,
            attributes: Vec::new(),
            frames: 0,
        }
    }
}

/// Live tracks of one stream, keyed by track id.
#[derive(Debug, Default)]
pub struct TrackBook {
    tracks: HashMap<u64, TrackSummary>,
}

impl TrackBook {
    /// Folds in the tracked objects of a frame at stream time `pts_ns`.
    /// Predicted boxes move the track but are not sightings.
    pub fn observe(&mut self, frame: &Frame, pts_ns: u64) {
        for o in &frame.objects {
            let Some(id) = o.track_id else { continue };
            let t = self.tracks.entry(id).or_insert_with(|| TrackSummary {
                track_id: id,
                class_id: o.class_id,
                label: o.label.clone(),
                first_seen_ns: pts_ns,
                last_seen_ns: pts_ns,
                duration_s: 0.0,
                best_confidence: 0.0,
                bbox: o.bbox,
                attributes: Vec::new(),
                frames: 0,
            });
            t.bbox = o.bbox;
            for a in &o.attributes {
                match t.attributes.iter_mut().find(|x| x.name == a.name) {
                    Some(x) => *x = a.clone(),
                    None => t.attributes.push(a.clone()),
                }
            }
            if !o.predicted {
                t.frames += 1;
                t.last_seen_ns = t.last_seen_ns.max(pts_ns);
                t.best_confidence = t.best_confidence.max(o.confidence);
                t.duration_s = (t.last_seen_ns - t.first_seen_ns) as f64 / 1e9;
            }
        }
    }

    /// Starts a track from its `new` event, so that its first sighting is
    /// the tracker's (which may be frames before it was confirmed), whatever
    /// frames the sink sees.
    pub fn begin(&mut self, e: &TrackEvent) -> &TrackSummary {
        self.tracks
            .entry(e.track_id)
            .or_insert_with(|| TrackSummary::from_event(e))
    }

    pub fn get(&self, track_id: u64) -> Option<&TrackSummary> {
        self.tracks.get(&track_id)
    }

    /// Ends a track, returning what is known about it.
    pub fn remove(&mut self, track_id: u64) -> Option<TrackSummary> {
        self.tracks.remove(&track_id)
    }

    /// The tracks not ended yet, in no particular order.
    pub fn live(&self) -> impl Iterator<Item = &TrackSummary> {
        self.tracks.values()
    }

    pub fn len(&self) -> usize {
        self.tracks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }

    pub fn clear(&mut self) {
        self.tracks.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::Object;

    #[test]
    fn aggregates_sightings_and_latest_attributes() {
        let mut book = TrackBook::default();
        let mut o = Object::new(BBox::new(0.0, 0.0, 10.0, 20.0), 0, "person", 0.6);
        o.track_id = Some(3);
        let mut frame = Frame {
            objects: vec![o.clone()],
            ..Frame::default()
        };
        book.observe(&frame, 1_000_000_000);
        frame.objects[0].confidence = 0.9;
        frame.objects[0].attributes.push(Attribute {
            name: "gender".into(),
            label: "female".into(),
            confidence: 0.7,
            source: "g".into(),
            value: None,
        });
        book.observe(&frame, 2_000_000_000);
        frame.objects[0].predicted = true;
        frame.objects[0].confidence = 0.95;
        frame.objects[0].bbox = BBox::new(5.0, 0.0, 10.0, 20.0);
        book.observe(&frame, 3_000_000_000);
        let t = book.remove(3).unwrap();
        assert_eq!(
            (t.first_seen_ns, t.last_seen_ns, t.frames),
            (1_000_000_000, 2_000_000_000, 2)
        );
        assert_eq!(t.duration_s, 1.0);
        assert_eq!(t.best_confidence, 0.9, "predicted boxes are not sightings");
        assert_eq!(t.bbox.x, 5.0, "but they move the track");
        assert_eq!(t.attributes[0].label, "female");
        assert!(book.is_empty());
    }
}
