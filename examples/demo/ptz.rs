//! `demo --ptz`: the closed loop of `pipelines/ptz.txt`. The virtual PTZ
//! camera (`virtualptz`) looks at part of the bundled clip; onnxdetect and
//! bytetrack find the walkers in its picture and ptzservo steers it over
//! ONVIF to keep one centred. The same run with the camera left alone
//! (ptzservo only picks and marks the target) is the measure of what the
//! servo achieves.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use cctv::ptz::Following;
use cctv::ptz::follow::Summary;
use gst::prelude::*;

/// Runs the loop with the servo steering, then with a fixed camera, and
/// prints both.
pub fn run(video: &str, frames: Option<u64>) -> Result<(), String> {
    let steered = follow(video, frames, true)?;
    let fixed = follow(video, frames, false)?;
    println!(
        "\nreport (target: the walker ptzservo follows; error: its centre's distance from the picture's centre)"
    );
    println!("  ptzservo steering: {}", steered.0);
    println!("                     {}", steered.1);
    println!("  fixed camera:      {}", fixed.0);
    Ok(())
}

fn follow(video: &str, frames: Option<u64>, steer: bool) -> Result<(Summary, String), String> {
    let port = support::free_port();
    let servo = if steer {
        format!("onvif-url=http://127.0.0.1:{port}/onvif/ptz_service")
    } else {
        String::new()
    };
    let launch = include_str!("../../pipelines/ptz.txt")
        .trim()
        .replace("{video}", video)
        .replace("{port}", &port.to_string())
        .replace("{servo}", &servo);
    println!(
        "\n{}:\n  {launch}",
        if steer {
            "steering the virtual PTZ camera"
        } else {
            "the same with a fixed camera"
        }
    );
    let pipeline = gst::parse::launch(&launch)
        .map_err(|e| format!("pipeline: {e}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline")?;
    let following = Arc::new(Mutex::new(Following::default()));
    let seen = Arc::clone(&following);
    let limit = frames.unwrap_or(u64::MAX);
    let sink = pipeline.by_name("sink").ok_or("no element named sink")?;
    sink.static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(gst::PadProbeData::Buffer(buf)) = info.data.as_ref()
                && let Some(Ok(frame)) = cctv::meta::Frame::from_buffer(buf)
            {
                let mut f = seen.lock().unwrap();
                if f.summary().frames < limit {
                    f.observe(&frame);
                }
            }
            gst::PadProbeReturn::Ok
        });
    let start = Instant::now();
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("cannot start the pipeline: {e}"))?;
    let bus = pipeline.bus().unwrap();
    let result = loop {
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else {
            if following.lock().unwrap().summary().frames >= limit {
                break Ok(());
            }
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => break Ok(()),
            gst::MessageView::Error(e) => {
                break Err(format!("{} ({})", e.error(), e.debug().unwrap_or_default()));
            }
            gst::MessageView::Warning(w) => println!(
                "  warning: {} ({})",
                w.error(),
                w.debug().unwrap_or_default()
            ),
            _ => {}
        }
    };
    let camera = pipeline
        .by_name("camera")
        .map(|c| c.property::<gst::Structure>("stats"))
        .ok_or("no element named camera")?;
    let servo = pipeline
        .by_name("servo")
        .map(|c| c.property::<gst::Structure>("stats"))
        .ok_or("no element named servo")?;
    pipeline.set_state(gst::State::Null).ok();
    result?;
    let summary = following.lock().unwrap().summary();
    let get = |s: &gst::Structure, k: &str| s.get::<f64>(k).unwrap_or(0.0);
    let camera_line = format!(
        "{} commands sent in {:.1} s; the camera ended at pan {:.2}, tilt {:.2}, zoom {:.2}",
        servo.get::<u64>("sent").unwrap_or(0),
        start.elapsed().as_secs_f64(),
        get(&camera, "pan"),
        get(&camera, "tilt"),
        get(&camera, "zoom"),
    );
    Ok((summary, camera_line))
}
