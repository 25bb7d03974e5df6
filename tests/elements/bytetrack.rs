//! bytetrack on real detections and on scripted metadata.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use cctv::bbox::BBox;
use cctv::lifecycle::{Kind, TrackEvent};
use cctv::meta::{Frame, Object};
use gst::prelude::*;
use gst_check::Harness;

/// Frames with metadata and the life-cycle events seen on one branch.
#[derive(Default)]
struct Seen {
    frames: Vec<Frame>,
    events: Vec<TrackEvent>,
}

/// Records buffers' metadata and life-cycle events arriving at `pad`, in order.
fn record(pad: &gst::Pad) -> Arc<Mutex<Seen>> {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    pad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
        move |_, info| {
            let mut s = s.lock().unwrap();
            match &info.data {
                Some(gst::PadProbeData::Buffer(b)) => {
                    if let Some(Ok(f)) = Frame::from_buffer(b) {
                        s.frames.push(f);
                    }
                }
                Some(gst::PadProbeData::Event(e)) => {
                    if let Some(t) = TrackEvent::from_event(e) {
                        s.events.push(t);
                    }
                }
                _ => {}
            }
            gst::PadProbeReturn::Ok
        },
    );
    seen
}

fn run(launch: &str, sinks: &[&str]) -> Vec<Arc<Mutex<Seen>>> {
    support::init();
    let pipeline = gst::parse::launch(launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let seen: Vec<_> = sinks
        .iter()
        .map(|name| record(&pipeline.by_name(name).unwrap().static_pad("sink").unwrap()))
        .collect();
    let end = support::play_to_end(&pipeline, gst::ClockTime::from_seconds(120));
    pipeline.set_state(gst::State::Null).unwrap();
    end.unwrap();
    seen
}

#[test]
fn tracks_walkers_with_stable_ids_and_complete_life_cycles() {
    let seen = run(
        &format!(
            "{} ! onnxdetect conf-threshold=0.1 classes=person ! bytetrack ! fakesink name=sink",
            support::short_clip(120)
        ),
        &["sink"],
    );
    let seen = seen[0].lock().unwrap();
    assert_eq!(seen.frames.len(), 120);
    // Every output object is tracked; ids carry over from frame to frame.
    let (mut kept, mut total) = (0, 0);
    for pair in seen.frames.windows(2) {
        let before: BTreeSet<u64> = pair[0].objects.iter().filter_map(|o| o.track_id).collect();
        for o in &pair[1].objects {
            let id = o.track_id.expect("only tracked objects are output");
            total += 1;
            kept += before.contains(&id) as usize;
        }
    }
    assert!(
        kept as f64 / total as f64 > 0.95,
        "{kept}/{total} objects keep their id"
    );
    let people_now = seen.frames[100].objects.len();
    assert!(
        (5..=9).contains(&people_now),
        "{people_now} tracked on frame 100"
    );
    // Each track that started also ended (at EOS at the latest), once.
    let mut life: BTreeMap<u64, Vec<Kind>> = BTreeMap::new();
    for e in &seen.events {
        life.entry(e.track_id).or_default().push(e.kind);
        assert_eq!(e.label, "person");
        assert_eq!((e.width, e.height), (768, 576));
    }
    assert!(life.len() >= 6, "{life:?}");
    for (id, kinds) in &life {
        assert_eq!(kinds.first(), Some(&Kind::New), "track {id}: {kinds:?}");
        assert_eq!(kinds.last(), Some(&Kind::Removed), "track {id}: {kinds:?}");
        assert_eq!(kinds.iter().filter(|k| **k == Kind::Removed).count(), 1);
    }
    let removed = seen
        .events
        .iter()
        .find(|e| e.kind == Kind::Removed)
        .unwrap();
    assert!(removed.last_seen >= removed.first_seen && removed.bbox.area() > 0.0);
}

/// Over the whole clip (crowds crossing, splits and merges of detections):
/// every id output was announced first, and every track ends exactly once.
#[test]
fn every_track_of_the_whole_clip_enters_and_exits_once() {
    let seen = run(
        &format!(
            "filesrc location={} ! decodebin ! queue ! onnxdetect conf-threshold=0.1 classes=person \
             ! bytetrack ! fakesink name=sink sync=false",
            support::video().display()
        ),
        &["sink"],
    );
    let seen = seen[0].lock().unwrap();
    assert_eq!(seen.frames.len(), 795);
    let mut life: BTreeMap<u64, Vec<Kind>> = BTreeMap::new();
    for e in &seen.events {
        life.entry(e.track_id).or_default().push(e.kind);
    }
    assert!(life.len() >= 20, "{} tracks", life.len());
    for (id, kinds) in &life {
        assert_eq!(kinds.first(), Some(&Kind::New), "track {id}: {kinds:?}");
        assert_eq!(kinds.last(), Some(&Kind::Removed), "track {id}: {kinds:?}");
        assert_eq!(kinds.iter().filter(|k| **k == Kind::New).count(), 1);
        assert_eq!(kinds.iter().filter(|k| **k == Kind::Removed).count(), 1);
    }
    for frame in &seen.frames {
        for o in &frame.objects {
            let id = o.track_id.expect("only tracked objects are output");
            assert!(life.contains_key(&id), "track {id} was never announced");
        }
    }
}

#[test]
fn interval_frames_carry_predicted_boxes_of_live_tracks() {
    let seen = run(
        &format!(
            "{} ! onnxdetect interval=3 conf-threshold=0.1 classes=person ! bytetrack ! fakesink name=sink",
            support::short_clip(60)
        ),
        &["sink"],
    );
    let seen = seen[0].lock().unwrap();
    let mut predicted = 0;
    for pair in seen.frames.windows(2) {
        if pair[1].inferred {
            continue;
        }
        let before: BTreeSet<u64> = pair[0].objects.iter().filter_map(|o| o.track_id).collect();
        for o in &pair[1].objects {
            assert!(o.predicted, "non-inferred frames only hold predictions");
            assert!(before.contains(&o.track_id.unwrap()));
            predicted += 1;
        }
    }
    assert!(predicted > 50, "{predicted} predicted boxes");
}

#[test]
fn every_tee_branch_gets_the_events_in_order_with_the_buffers() {
    let seen = run(
        &format!(
            "{} ! onnxdetect conf-threshold=0.1 classes=person ! bytetrack ! tee name=t \
             t. ! queue ! videoconvert ! videoscale ! video/x-raw,width=384,height=288 ! fakesink name=a \
             t. ! queue ! fakesink name=b",
            support::short_clip(60)
        ),
        &["a", "b"],
    );
    let (a, b) = (seen[0].lock().unwrap(), seen[1].lock().unwrap());
    assert_eq!(a.events, b.events);
    assert!(!a.events.is_empty());
    // A track's first frame arrives after its `new` event on both branches.
    assert_eq!(a.frames.len(), b.frames.len());
    assert!(
        a.frames
            .iter()
            .zip(&b.frames)
            .all(|(x, y)| x.objects.len() == y.objects.len())
    );
    assert_eq!(
        (a.frames[0].width, b.frames[0].width),
        (384, 768),
        "scaled branch, boxes scaled too"
    );
}

fn scripted_frame(pts_ms: u64, boxes: &[(f32, f32)]) -> gst::Buffer {
    let objects = boxes
        .iter()
        .map(|&(x, y)| Object::new(BBox::new(x, y, 20.0, 50.0), 0, "person", 0.9))
        .collect();
    let frame = Frame {
        width: 320,
        height: 240,
        inferred: true,
        objects,
        ..Frame::default()
    };
    support::script::meta_buffer(gst::ClockTime::from_mseconds(pts_ms), &frame)
}

#[test]
fn a_flush_resets_the_tracker_without_ending_tracks() {
    support::init();
    let mut h = Harness::new("bytetrack");
    h.set_src_caps_str("video/x-raw,format=RGB,width=320,height=240,framerate=10/1");
    let ids = |h: &mut Harness, f: gst::Buffer| -> Vec<u64> {
        let out = h.push_and_pull(f).unwrap();
        Frame::from_buffer(&out)
            .unwrap()
            .unwrap()
            .objects
            .iter()
            .filter_map(|o| o.track_id)
            .collect()
    };
    for i in 0..5u64 {
        assert_eq!(
            ids(&mut h, scripted_frame(i * 100, &[(10.0 + i as f32, 10.0)])),
            vec![1]
        );
    }
    while let Some(e) = h.try_pull_event() {
        let _ = e;
    }
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
        gst::ClockTime,
    >::new()));
    let mut removed = 0;
    while let Some(e) = h.try_pull_event() {
        removed += TrackEvent::from_event(&e).is_some_and(|t| t.kind == Kind::Removed) as usize;
    }
    assert_eq!(removed, 0, "a seek is not an exit");
    assert_eq!(
        ids(&mut h, scripted_frame(0, &[(100.0, 10.0)])),
        vec![2],
        "new ids after the flush"
    );
}

/// A DISCONT buffer (the stream jumped, e.g. packets lost on a camera link):
/// live tracks end with `removed` before it, and its people get new ids.
#[test]
fn a_discontinuity_ends_every_track() {
    support::init();
    let mut h = Harness::new("bytetrack");
    h.set_src_caps_str("video/x-raw,format=RGB,width=320,height=240,framerate=10/1");
    for i in 0..5u64 {
        h.push(scripted_frame(i * 100, &[(10.0 + i as f32, 10.0)]))
            .unwrap();
    }
    while h.try_pull_event().is_some() {}
    while h.try_pull().is_some() {}
    let mut jump = scripted_frame(5000, &[(15.0, 10.0)]);
    jump.make_mut().set_flags(gst::BufferFlags::DISCONT);
    let out = h.push_and_pull(jump).unwrap();
    let mut removed = Vec::new();
    while let Some(e) = h.try_pull_event() {
        if let Some(t) = TrackEvent::from_event(&e)
            && t.kind == Kind::Removed
        {
            removed.push((t.track_id, t.first_seen, t.last_seen));
        }
    }
    assert_eq!(
        removed,
        vec![(1, 0, 400_000_000)],
        "track 1 ended at its last match"
    );
    let ids: Vec<u64> = Frame::from_buffer(&out)
        .unwrap()
        .unwrap()
        .objects
        .iter()
        .filter_map(|o| o.track_id)
        .collect();
    assert_eq!(ids, vec![2], "a new id after the jump");
}

#[test]
fn untracked_classes_pass_through_and_state_changes_repeat() {
    support::init();
    let mut h = Harness::new_parse("bytetrack classes=person");
    h.set_src_caps_str("video/x-raw,format=RGB,width=320,height=240,framerate=10/1");
    let mut car = Object::new(BBox::new(200.0, 100.0, 60.0, 30.0), 2, "car", 0.9);
    car.attributes.clear();
    let mut frame = Frame::from_buffer(&scripted_frame(0, &[(10.0, 10.0)]))
        .unwrap()
        .unwrap();
    frame.objects.push(car.clone());
    let mut buffer = gst::Buffer::with_size(8).unwrap();
    frame.attach(buffer.get_mut().unwrap());
    let out = h.push_and_pull(buffer).unwrap();
    let out = Frame::from_buffer(&out).unwrap().unwrap();
    assert!(
        out.objects
            .iter()
            .any(|o| o.label == "car" && o.track_id.is_none())
    );
    assert!(
        out.objects
            .iter()
            .any(|o| o.label == "person" && o.track_id.is_some())
    );

    let pipeline =
        gst::parse::launch("videotestsrc num-buffers=5 ! video/x-raw,width=320,height=240 ! onnxdetect ! bytetrack ! fakesink")
            .unwrap();
    for _ in 0..3 {
        let end = support::play_to_end(&pipeline, gst::ClockTime::from_seconds(30));
        pipeline.set_state(gst::State::Null).unwrap();
        end.unwrap();
    }
}

#[test]
fn life_cycle_events_are_also_posted_on_the_bus() {
    support::init();
    let pipeline = gst::parse::launch(&format!(
        "{} ! onnxdetect conf-threshold=0.1 classes=person ! bytetrack ! fakesink",
        support::short_clip(30)
    ))
    .unwrap();
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut news = 0;
    let mut removed = 0;
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
        match msg.view() {
            gst::MessageView::Element(e) => {
                if let Some(t) = e.structure().and_then(TrackEvent::from_structure) {
                    news += (t.kind == Kind::New) as usize;
                    removed += (t.kind == Kind::Removed) as usize;
                }
            }
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{}", e.error()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(
        news >= 5 && news == removed,
        "{news} new, {removed} removed"
    );
}

#[test]
fn classes_are_checked_against_the_detector_upstream() {
    let error = |classes: &str| {
        support::first_error(
            &format!(
                "videotestsrc num-buffers=2 ! video/x-raw,width=64,height=64 ! onnxdetect ! queue \
             ! bytetrack classes={classes} ! fakesink"
            ),
            gst::ClockTime::from_seconds(30),
        )
    };
    let err = error("persn").expect("an unknown class is an error");
    assert!(
        err.contains("unknown class \"persn\"") && err.contains("person, bicycle, car"),
        "{err}"
    );
    assert_eq!(error("person,2"), None);
}
