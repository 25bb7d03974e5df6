//! Benchmark: what `cctvoverlay` costs per frame, element and all (reading
//! the metadata, mapping the frame, drawing boxes, labels with attributes,
//! trails and the status line), at 1, 20 and 100 tracked people, at 768x576
//! and 1920x1080, in BGRx and I420. Also counts the Rust heap allocations
//! per frame once trails are full: the steady state should make none.
//! Run with `./run bench` or `cargo bench --bench overlay`.
//!
//! `BENCH_FRAMES` (frames per measurement, 300) tunes it; each figure is
//! the median of 5 measurements (this VM's speed drifts within seconds).

use support::env_or;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use cctv::bbox::BBox;
use cctv::meta::{Attribute, Frame, Object};
use gst::prelude::*;
use gst_check::Harness;

/// Counts allocations made through Rust's allocator (the element's own).
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// `n` people spread over a `w` x `h` frame, walking right by `step` pixels;
/// every other one has a gender attribute.
fn people(n: usize, w: u32, h: u32, step: usize) -> Frame {
    let (bw, bh) = (w as f32 / 20.0, h as f32 / 6.0);
    let objects = (0..n)
        .map(|i| {
            let x = ((i * 97 + step * 2) % (w as usize - bw as usize)) as f32;
            let y = ((i * 61) % (h as usize - bh as usize)) as f32;
            let mut o = Object::new(BBox::new(x, y, bw, bh), 0, "person", 0.8);
            o.track_id = Some(i as u64 + 1);
            if i % 2 == 0 {
                o.attributes.push(Attribute {
                    name: "gender".into(),
                    label: "female".into(),
                    confidence: 0.91,
                    source: "gendercls0".into(),
                    value: None,
                });
            }
            o
        })
        .collect();
    Frame {
        width: w,
        height: h,
        objects,
        ..Frame::default()
    }
}

/// Milliseconds per frame (median of 5 runs) and allocations per frame.
fn measure(format: &str, w: u32, h: u32, n: usize, frames: usize) -> (f64, f64) {
    let mut harness = Harness::new("cctvoverlay");
    harness
        .element()
        .unwrap()
        .set_property("camera-id", "bench");
    harness.set_src_caps_str(&format!(
        "video/x-raw,format={format},width={w},height={h},framerate=25/1"
    ));
    let info = gst_video::VideoInfo::from_caps(&harness.srcpad().unwrap().current_caps().unwrap())
        .unwrap();
    // Metadata prepared beforehand: one frame per step, cycled.
    let metas: Vec<Frame> = (0..50).map(|s| people(n, w, h, s)).collect();
    let mut buffer = gst::Buffer::with_size(info.size()).unwrap();
    let mut frame = 0usize;
    // Gives the buffer the next step's metadata (outside the measurement).
    let mut next = |buffer: &mut gst::Buffer| {
        let b = buffer.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_mseconds(frame as u64 * 40));
        metas[frame % metas.len()].attach(b);
        frame += 1;
    };
    // Fill the trails (and the element's buffers) first.
    for _ in 0..60 {
        next(&mut buffer);
        buffer = harness.push_and_pull(buffer).unwrap();
    }
    let mut times = Vec::new();
    let mut allocations = 0;
    for _ in 0..5 {
        let mut elapsed = 0.0;
        for _ in 0..frames {
            next(&mut buffer);
            let before = ALLOCATIONS.load(Ordering::Relaxed);
            let t = Instant::now();
            buffer = harness.push_and_pull(buffer).unwrap();
            elapsed += t.elapsed().as_secs_f64();
            allocations += ALLOCATIONS.load(Ordering::Relaxed) - before;
        }
        times.push(elapsed * 1e3 / frames as f64);
    }
    times.sort_by(f64::total_cmp);
    (times[2], allocations as f64 / (5 * frames) as f64)
}

fn main() {
    support::init();
    cctv::meta::register();
    let frames = env_or("BENCH_FRAMES", 300);
    println!(
        "cctvoverlay per frame (median of 5 x {frames} frames; labels, attributes, trails, status on)"
    );
    for (w, h) in [(768, 576), (1920, 1080)] {
        for format in ["BGRx", "I420"] {
            for n in [1, 20, 100] {
                let (ms, allocs) = measure(format, w, h, n, frames);
                println!(
                    "  {w}x{h} {format:4} {n:3} objects: {ms:6.3} ms/frame  ({allocs:.2} Rust heap allocations/frame)"
                );
            }
        }
    }
}
