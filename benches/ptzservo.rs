//! Benchmark of `ptzservo`'s cost on the streaming thread: microseconds per
//! buffer with 1, 20 and 100 tracked people, posting its commands only, and
//! driving a virtual camera (`virtualptz`) over ONVIF on loopback, and
//! what reading and writing the objects metadata costs any element. The
//! detector's ~6 ms per frame is the yardstick. Run with `./run bench` or
//! `cargo bench --bench ptzservo`.

use std::time::Instant;

use cctv::bbox::BBox;
use cctv::meta::{Frame, Object};
use gst::prelude::*;
use gst_check::Harness;

const FRAMES: u64 = 2_000;
const FRAME_NS: u64 = 40_000_000;

/// Frame `n` with `people` tracked people walking right.
fn buffer(n: u64, people: u64) -> gst::Buffer {
    let objects = (0..people)
        .map(|i| {
            let x = ((i * 37 + n) % 560) as f32;
            let mut o = Object::new(
                BBox::new(x, 50.0 + (i % 5) as f32 * 60.0, 40.0, 80.0),
                0,
                "person",
                0.8,
            );
            o.track_id = Some(i + 1);
            o
        })
        .collect();
    let frame = Frame {
        width: 640,
        height: 480,
        source: "bench".into(),
        model: "none".into(),
        inferred: true,
        objects,
    };
    support::script::meta_buffer(gst::ClockTime::from_nseconds(n * FRAME_NS), &frame)
}

/// Microseconds per buffer through ptzservo with `props`.
fn run(props: &[(&str, &str)], people: u64) -> f64 {
    let mut h = Harness::new("ptzservo");
    let element = h.element().unwrap();
    for (k, v) in props {
        element.set_property_from_str(k, v);
    }
    h.set_src_caps_str("video/x-raw,format=RGB,width=640,height=480,framerate=25/1");
    h.play();
    let buffers: Vec<gst::Buffer> = (0..FRAMES).map(|n| buffer(n, people)).collect();
    let start = Instant::now();
    for b in buffers {
        h.push(b).unwrap();
        drop(h.pull().unwrap());
    }
    start.elapsed().as_secs_f64() * 1e6 / FRAMES as f64
}

fn main() {
    support::init();
    let camera = gst::parse::launch(
        "videotestsrc is-live=true ! video/x-raw,width=320,height=240 ! virtualptz name=cam ! fakesink",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    camera.set_state(gst::State::Ready).unwrap();
    let port = camera.by_name("cam").unwrap().property::<u32>("port");
    let url = format!("http://127.0.0.1:{port}/onvif/ptz_service");
    println!("ptzservo, {FRAMES} buffers each, streaming-thread time per buffer:");
    for people in [1, 20, 100] {
        let messages = run(&[], people);
        let onvif = run(&[("onvif-url", &url)], people);
        println!(
            "  {people:>3} people: {messages:.1} us posting commands only, {onvif:.1} us driving the virtual camera"
        );
    }
    camera.set_state(gst::State::Null).unwrap();
    // What every element pays for the metadata, for comparison.
    println!("CctvObjectsMeta per buffer:");
    for people in [1u64, 20, 100] {
        let mut b = buffer(0, people);
        let t = Instant::now();
        for _ in 0..FRAMES {
            std::hint::black_box(Frame::from_buffer(&b));
        }
        let read = t.elapsed().as_secs_f64() * 1e6 / FRAMES as f64;
        let frame = Frame::from_buffer(&b).unwrap().unwrap();
        let t = Instant::now();
        for _ in 0..FRAMES {
            frame.attach(b.make_mut());
        }
        let write = t.elapsed().as_secs_f64() * 1e6 / FRAMES as f64;
        println!("  {people:>3} objects: read {read:.1} us, write {write:.1} us");
    }
}
