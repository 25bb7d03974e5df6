//! Benchmark of the live view's CPU cost: a live 768x576 10 fps camera
//! into `liveview` (defaults: 640 wide, 5 pictures/s), the process's CPU
//! time over 10 s with nobody watching and with one viewer reading the
//! MJPEG stream. Run with `./run bench` or `cargo bench --bench liveview`.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use gst::prelude::*;

fn main() {
    let port = support::free_port();
    // Before any thread starts: nothing else reads the environment yet.
    unsafe { std::env::set_var("CCTV_METRICS", format!("127.0.0.1:{port}")) };
    support::init();
    let pipeline = gst::parse::launch(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width=768,height=576,framerate=10/1,format=I420 \
         ! liveview name=view camera-id=bench",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let idle = support::cpu_share(10.0);

    let stop = Arc::new(AtomicBool::new(false));
    let reading = Arc::clone(&stop);
    let viewer = std::thread::spawn(move || {
        let mut response = ureq::get(&format!("http://127.0.0.1:{port}/stream/bench"))
            .call()
            .unwrap();
        let mut reader = response.body_mut().as_reader();
        let mut buf = [0u8; 64 * 1024];
        let mut bytes = 0usize;
        while !reading.load(Ordering::Relaxed) {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => bytes += n,
            }
        }
        bytes
    });
    std::thread::sleep(Duration::from_secs(1));
    let before = pipeline
        .by_name("view")
        .unwrap()
        .property::<gst::Structure>("stats");
    let watched = support::cpu_share(10.0);
    let after = pipeline
        .by_name("view")
        .unwrap()
        .property::<gst::Structure>("stats");
    stop.store(true, Ordering::Relaxed);
    pipeline.set_state(gst::State::Null).unwrap();
    let bytes = viewer.join().unwrap();
    let pictures = after.get::<u64>("encoded").unwrap() - before.get::<u64>("encoded").unwrap();
    let extra = (watched - idle).max(0.0);
    println!(
        "liveview, live 768x576 at 10 fps: {:.1} % of a core with nobody watching, {:.1} % with one viewer \
         ({pictures} pictures in 10 s, {:.1} ms of CPU per picture, {} KiB/s to the viewer)",
        idle * 100.0,
        watched * 100.0,
        extra * 10.0 * 1000.0 / pictures.max(1) as f64,
        bytes / 1024 / 11,
    );
}
