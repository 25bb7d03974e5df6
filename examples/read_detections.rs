//! A Rust app reading gst-cctv detections from a pad probe.
//!
//! The plugin is loaded from `GST_PLUGIN_PATH` like any GStreamer plugin; the
//! app links only the `cctv` crate for the typed view of the metadata.
//!
//! ```text
//! GST_PLUGIN_PATH=target/release cargo run --release --example read_detections -- \
//!     "filesrc location=.assets/media/vtest.avi ! decodebin ! videoconvert ! onnxdetect classes=person ! fakesink name=sink"
//! ```
//! The pipeline must have an element named `sink`; each frame's objects are printed.

use std::process::ExitCode;

use gst::prelude::*;

fn main() -> ExitCode {
    let launch = std::env::args().nth(1).unwrap_or_else(|| {
        "videotestsrc num-buffers=30 ! onnxdetect ! fakesink name=sink".to_string()
    });
    match run(&launch) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("read_detections: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(launch: &str) -> Result<(), Box<dyn std::error::Error>> {
    gst::init()?;
    cctv::meta::register();
    let pipeline = gst::parse::launch(launch)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "the launch line is not a pipeline")?;
    let sink = pipeline.by_name("sink").ok_or("no element named sink")?;
    let pad = sink.static_pad("sink").ok_or("sink has no sink pad")?;
    pad.add_probe(gst::PadProbeType::BUFFER, |_, info| {
        if let Some(buffer) = info.buffer() {
            match cctv::meta::Frame::from_buffer(buffer) {
                Some(Ok(frame)) => {
                    let pts = buffer.pts().display();
                    println!(
                        "{pts} {} objects (inferred: {})",
                        frame.objects.len(),
                        frame.inferred
                    );
                    for o in &frame.objects {
                        let b = o.bbox;
                        let track = o
                            .track_id
                            .map(|t| format!(" track {t}"))
                            .unwrap_or_default();
                        println!(
                            "  {} {:.2} at ({:.0}, {:.0}) {:.0}x{:.0}{track}",
                            o.label, o.confidence, b.x, b.y, b.w, b.h
                        );
                    }
                }
                Some(Err(e)) => eprintln!("bad metadata: {e}"),
                None => println!("{} no metadata", buffer.pts().display()),
            }
        }
        gst::PadProbeReturn::Ok
    });
    pipeline.set_state(gst::State::Playing)?;
    let bus = pipeline.bus().ok_or("pipeline without bus")?;
    let result = loop {
        let Some(msg) = bus.timed_pop(gst::ClockTime::NONE) else {
            break Ok(());
        };
        match msg.view() {
            gst::MessageView::Eos(_) => break Ok(()),
            gst::MessageView::Error(err) => {
                break Err(format!("{}: {}", err.error(), err.debug().unwrap_or_default()).into());
            }
            _ => {}
        }
    };
    pipeline.set_state(gst::State::Null)?;
    result
}
