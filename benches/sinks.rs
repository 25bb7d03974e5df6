//! Benchmark of the event sinks against real local servers: mqttsink
//! (messages/s acknowledged by a local mosquitto) and pgsink (rows/s
//! committed to a throwaway PostgreSQL), each with the streaming-thread time
//! per buffer. Run with `./run bench` or `cargo bench --bench sinks`.
//!
//! The stream: `BENCH_FRAMES` frames (default 3,000) at 10 fps with 20 tracked
//! people each; every 100 frames the 20 tracks end and 20 new ones start.

use std::time::{Duration, Instant};

use cctv::bbox::BBox;
use cctv::lifecycle::{Kind, TrackEvent};
use cctv::meta::{Frame, Object};
use gst::prelude::*;
use gst_check::Harness;

const PEOPLE: u64 = 20;
const FRAME_NS: u64 = 100_000_000;
const TRACK_FRAMES: u64 = 100;

fn event(kind: Kind, id: u64, first: u64, last: u64) -> gst::Event {
    TrackEvent {
        kind,
        track_id: id,
        class_id: 0,
        label: "person".into(),
        first_seen: first * FRAME_NS,
        last_seen: last * FRAME_NS,
        bbox: BBox::new(10.0, 10.0, 40.0, 80.0),
        width: 1280,
        height: 720,
    }
    .to_event()
}

fn buffer(frame: u64) -> gst::Buffer {
    let generation = frame / TRACK_FRAMES;
    let objects = (0..PEOPLE)
        .map(|i| {
            let x = (i * 60 + frame % TRACK_FRAMES) as f32;
            let mut o = Object::new(BBox::new(x, 100.0, 40.0, 80.0), 0, "person", 0.8);
            o.track_id = Some(generation * PEOPLE + i + 1);
            o
        })
        .collect();
    let meta = Frame {
        width: 1280,
        height: 720,
        source: "bench".into(),
        model: "none".into(),
        inferred: true,
        objects,
    };
    support::script::meta_buffer(gst::ClockTime::from_nseconds(frame * FRAME_NS), &meta)
}

/// Plays the stream into `h`; returns the time spent inside the sink's
/// streaming-thread calls (buffers and events) and the total time to EOS.
fn play(h: &mut Harness, frames: u64) -> (Duration, Duration) {
    let buffers: Vec<gst::Buffer> = (0..frames).map(buffer).collect();
    let mut streaming = Duration::ZERO;
    let start = Instant::now();
    for (frame, buffer) in (0..frames).zip(buffers) {
        let t = Instant::now();
        if frame % TRACK_FRAMES == 0 {
            let generation = frame / TRACK_FRAMES;
            for i in 0..PEOPLE {
                let id = generation * PEOPLE + i + 1;
                h.push_event(event(Kind::New, id, frame, frame));
            }
        }
        h.push(buffer).expect("the sink accepts the buffer");
        if frame % TRACK_FRAMES == TRACK_FRAMES - 1 || frame == frames - 1 {
            let generation = frame / TRACK_FRAMES;
            for i in 0..PEOPLE {
                let id = generation * PEOPLE + i + 1;
                let first = generation * TRACK_FRAMES;
                h.push_event(event(Kind::Removed, id, first, frame));
            }
        }
        streaming += t.elapsed();
    }
    h.push_event(gst::event::Eos::new());
    (streaming, start.elapsed())
}

fn harness(launch: &str) -> Harness {
    let mut h = Harness::new_parse(launch);
    h.set_src_caps_str("video/x-raw,format=RGB,width=1280,height=720,framerate=10/1");
    h
}

fn stat(h: &mut Harness, element: &str, field: &str) -> u64 {
    h.find_element(element)
        .unwrap()
        .property::<gst::Structure>("stats")
        .get::<u64>(field)
        .unwrap()
}

fn report(sink: &str, done: &str, rate: f64, unit: &str, times: (Duration, Duration, u64)) {
    let (streaming, total, frames) = times;
    println!("  {sink}:");
    println!(
        "    {done} in {:.2} s: {rate:.0} {unit}",
        total.as_secs_f64()
    );
    println!(
        "    streaming thread: {:.1} us per buffer",
        streaming.as_secs_f64() * 1e6 / frames as f64
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let frames: u64 = std::env::var("BENCH_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    support::init();
    println!("sink benchmark: {frames} frames, {PEOPLE} tracked people per frame");

    let broker = support::Mosquitto::start();
    let mut h = harness(&format!(
        "mqttsink sync=false port={} camera-id=bench qos=1 update-interval=500",
        broker.port
    ));
    let (streaming, total) = play(&mut h, frames);
    let acked = stat(&mut h, "mqttsink", "delivered");
    let batches = stat(&mut h, "mqttsink", "batches");
    let dropped = stat(&mut h, "mqttsink", "dropped");
    drop(h);
    report(
        "mqttsink (QoS 1, local mosquitto)",
        &format!("{acked} messages acknowledged ({batches} batches, {dropped} dropped)"),
        acked as f64 / total.as_secs_f64(),
        "messages/s",
        (streaming, total, frames),
    );

    let pg = support::Postgres::start();
    let mut h = harness(&format!(
        "pgsink sync=false conninfo=\"{}\" camera-id=bench detections-interval=1",
        pg.conninfo()
    ));
    let (streaming, total) = play(&mut h, frames);
    let rows = stat(&mut h, "pgsink", "delivered");
    let batches = stat(&mut h, "pgsink", "batches");
    let dropped = stat(&mut h, "pgsink", "dropped");
    drop(h);
    report(
        "pgsink (every frame's detections, local PostgreSQL)",
        &format!("{rows} rows committed ({batches} batches, {dropped} dropped)"),
        rows as f64 / total.as_secs_f64(),
        "rows/s",
        (streaming, total, frames),
    );
    Ok(())
}
