//! The objects meta survives the elements a pipeline puts between our
//! elements and the sinks, and scaling elements rescale its boxes.

use cctv::bbox::BBox;
use cctv::meta::{Attribute, Frame, Object};
use gst::prelude::*;

fn sample(width: u32, height: u32) -> Frame {
    let mut person = Object::new(BBox::new(32.0, 48.0, 64.0, 96.0), 0, "person", 0.75);
    person.track_id = Some(5);
    person.attributes.push(Attribute {
        name: "gender".into(),
        label: "male".into(),
        confidence: 0.6,
        source: "test".into(),
        value: None,
    });
    Frame {
        width,
        height,
        source: "test".into(),
        model: "none".into(),
        inferred: true,
        objects: vec![person],
    }
}

/// Runs `videotestsrc ! caps ! <middle> ! appsink`, attaching `sample()` to
/// every buffer leaving the source, and returns the meta of the buffers that
/// reach the sink.
fn run_through(middle: &str) -> Vec<Option<Frame>> {
    let (pipeline, sink) = support::with_appsink(&format!(
        "videotestsrc num-buffers=3 ! video/x-raw,format=RGB,width=320,height=240 ! identity name=tag \
         ! {middle} ! appsink name=sink sync=false"
    ));
    let tag = pipeline.by_name("tag").unwrap();
    tag.static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, |_, info| {
            if let Some(gst::PadProbeData::Buffer(buffer)) = info.data.as_mut() {
                sample(320, 240).attach(buffer.make_mut());
            }
            gst::PadProbeReturn::Ok
        });
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut frames = Vec::new();
    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(10)) {
        frames.push(Frame::from_buffer(sample.buffer().unwrap()).map(|r| r.unwrap()));
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(
        frames.len(),
        3,
        "all buffers reach the sink through {middle}"
    );
    frames
}

#[test]
fn survives_queue_and_tee() {
    for frame in run_through("queue ! tee name=t t. ! queue") {
        assert_eq!(frame, Some(sample(320, 240)));
    }
}

#[test]
fn survives_videoconvert_unchanged() {
    for frame in run_through("videoconvert ! video/x-raw,format=I420") {
        assert_eq!(frame, Some(sample(320, 240)));
    }
}

#[test]
fn videoscale_rescales_boxes() {
    for frame in run_through("videoscale ! video/x-raw,width=160,height=480") {
        let frame = frame.expect("meta kept by videoscale");
        assert_eq!((frame.width, frame.height), (160, 480));
        let o = &frame.objects[0];
        assert_eq!(o.bbox, BBox::new(16.0, 96.0, 32.0, 192.0));
        assert_eq!(o.track_id, Some(5));
        assert_eq!(o.attributes, sample(1, 1).objects[0].attributes);
    }
}

#[test]
fn videoconvertscale_converts_and_rescales() {
    for frame in run_through("videoconvertscale ! video/x-raw,format=NV12,width=640,height=480") {
        let frame = frame.expect("meta kept by videoconvertscale");
        assert_eq!((frame.width, frame.height), (640, 480));
        assert_eq!(frame.objects[0].bbox, BBox::new(64.0, 96.0, 128.0, 192.0));
    }
}

#[test]
fn buffer_copies_keep_it() {
    support::init();
    let mut buffer = gst::Buffer::with_size(320 * 240 * 3).unwrap();
    sample(320, 240).attach(buffer.get_mut().unwrap());
    let shallow = buffer.copy();
    let deep = buffer.copy_deep().unwrap();
    let region = buffer
        .copy_region(
            gst::BufferCopyFlags::META | gst::BufferCopyFlags::MEMORY,
            ..,
        )
        .unwrap();
    for copy in [shallow, deep, region] {
        assert_eq!(
            Frame::from_buffer(&copy).unwrap().unwrap(),
            sample(320, 240)
        );
    }
}
