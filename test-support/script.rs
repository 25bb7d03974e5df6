//! A scripted tracked stream for the sink tests: buffers with objects
//! metadata and the tracker's life-cycle events, without running a model.

use cctv::bbox::BBox;
use cctv::lifecycle::{Kind, TrackEvent};
use cctv::meta::{Attribute, Frame, Object};
use gst_check::Harness;

/// 10 frames per second.
pub const FRAME_NS: u64 = 100_000_000;

/// Track id, first and last frame of each track of the script.
pub const SPANS: [(u64, u64, u64); 3] = [(1, 0, 29), (2, 10, 49), (3, 35, 59)];

pub fn event(kind: Kind, track_id: u64, first: u64, last: u64) -> gst::Event {
    TrackEvent {
        kind,
        track_id,
        class_id: 0,
        label: "person".into(),
        first_seen: first,
        last_seen: last,
        bbox: BBox::new(10.0, 10.0, 20.0, 40.0),
        width: 320,
        height: 240,
    }
    .to_event()
}

/// Frame `index` of the script with the tracks `tracks` (320x240).
pub fn frame_buffer(index: u64, tracks: &[u64]) -> gst::Buffer {
    let objects = tracks
        .iter()
        .map(|&id| {
            let mut o = Object::new(
                BBox::new(id as f32 * 30.0, 50.0, 20.0, 40.0),
                0,
                "person",
                0.8,
            );
            o.track_id = Some(id);
            o
        })
        .collect();
    let frame = Frame {
        width: 320,
        height: 240,
        source: "test".into(),
        model: "m".into(),
        inferred: true,
        objects,
    };
    meta_buffer(gst::ClockTime::from_nseconds(index * FRAME_NS), &frame)
}

/// A small buffer at `pts` carrying `frame` as its metadata, without a
/// picture: what the sinks, the tracker and the servo read.
pub fn meta_buffer(pts: gst::ClockTime, frame: &Frame) -> gst::Buffer {
    let mut buffer = gst::Buffer::with_size(16).unwrap();
    {
        let b = buffer.get_mut().unwrap();
        b.set_pts(pts);
        frame.attach(b);
    }
    buffer
}

/// A scripted stream: track 1 on frames 0-29, track 2 on 10-49, track 3 on 35-59.
/// Returns the life-cycle events pushed.
pub fn play_script(h: &mut Harness, frames: u64, mut between: impl FnMut(u64)) -> usize {
    let spans = SPANS;
    let mut events = 0;
    for i in 0..frames {
        between(i);
        for &(id, first, _) in &spans {
            if i == first {
                assert!(h.push_event(event(Kind::New, id, first * FRAME_NS, first * FRAME_NS)));
                events += 1;
            }
        }
        let live: Vec<u64> = spans
            .iter()
            .filter(|s| (s.1..=s.2).contains(&i))
            .map(|s| s.0)
            .collect();
        h.push(frame_buffer(i, &live)).unwrap();
        for &(id, first, last) in &spans {
            if i == last {
                assert!(h.push_event(event(Kind::Removed, id, first * FRAME_NS, last * FRAME_NS)));
                events += 1;
            }
        }
    }
    events
}

/// Track 1 on frames 0-3 with classifier results of two elements: the
/// gender vote changes over the frames, the last one is the final vote.
pub fn play_attributes(h: &mut Harness) {
    assert!(h.push_event(event(Kind::New, 1, 0, 0)));
    for (i, (gender, confidence)) in [
        ("unknown", 0.0),
        ("male", 0.7),
        ("female", 0.65),
        ("female", 0.8),
    ]
    .into_iter()
    .enumerate()
    {
        let mut buffer = frame_buffer(i as u64, &[1]);
        let b = buffer.get_mut().unwrap();
        let mut frame = Frame::from_buffer(b).unwrap().unwrap();
        let attribute = |name: &str, label: &str, confidence: f32, source: &str| Attribute {
            name: name.into(),
            label: label.into(),
            confidence,
            source: source.into(),
            value: None,
        };
        frame.objects[0].attributes = vec![
            attribute("gender", gender, confidence, "gendercls0"),
            attribute("helmet", "yes", 0.9, "helmetcls0"),
        ];
        frame.attach(b);
        h.push(buffer).unwrap();
    }
    assert!(h.push_event(event(Kind::Removed, 1, 0, 3 * FRAME_NS)));
}
