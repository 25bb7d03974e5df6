//! Pipelines played in this process: to their end, to their first error,
//! into an appsink; and the short raw clip that makes short runs exact.

use std::path::PathBuf;

use gst::prelude::*;

/// Plays `pipeline` until EOS or an error: `Ok` at EOS, else the error's
/// message and debug text. Panics if neither comes within `within`. The
/// pipeline is left as it ended, for the caller to read and set to NULL.
pub fn play_to_end(
    pipeline: &impl IsA<gst::Element>,
    within: gst::ClockTime,
) -> Result<(), String> {
    // A state change that fails posts its error on the bus.
    let _ = pipeline.set_state(gst::State::Playing);
    let msg = pipeline
        .bus()
        .expect("a pipeline has a bus")
        .timed_pop_filtered(within, &[gst::MessageType::Eos, gst::MessageType::Error])
        .unwrap_or_else(|| panic!("neither EOS nor an error within {within}"));
    match msg.view() {
        gst::MessageView::Error(e) => {
            Err(format!("{} {}", e.error(), e.debug().unwrap_or_default()))
        }
        _ => Ok(()),
    }
}

/// Plays `launch` to its end (EOS within `within`) and returns each buffer
/// that reached the element named `sink`: its time stamp in nanoseconds
/// and its objects. Panics on an error or a buffer without readable objects.
pub fn frames_at(
    launch: &str,
    sink: &str,
    within: gst::ClockTime,
) -> Vec<(u64, cctv::meta::Frame)> {
    crate::init();
    let pipeline = gst::parse::launch(launch).unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = std::sync::Arc::clone(&seen);
    let pad = pipeline
        .downcast_ref::<gst::Bin>()
        .expect("a launch line makes a pipeline")
        .by_name(sink)
        .unwrap_or_else(|| panic!("no element {sink}"))
        .static_pad("sink")
        .unwrap();
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(buffer) = info.buffer() {
            let frame = cctv::meta::Frame::from_buffer(buffer)
                .expect("objects metadata")
                .expect("readable objects metadata");
            let pts = buffer.pts().expect("a time stamp").nseconds();
            s.lock().unwrap().push((pts, frame));
        }
        gst::PadProbeReturn::Ok
    });
    let end = play_to_end(&pipeline, within);
    pipeline.set_state(gst::State::Null).unwrap();
    end.unwrap();
    std::mem::take(&mut *seen.lock().unwrap())
}

/// Plays `launch` to its end (an error or EOS within `within`); the error
/// it stopped with (message and debug text), or `None` at EOS.
pub fn first_error(launch: &str, within: gst::ClockTime) -> Option<String> {
    crate::init();
    let pipeline = gst::parse::launch(launch).unwrap();
    let end = play_to_end(&pipeline, within);
    pipeline.set_state(gst::State::Null).unwrap();
    end.err()
}

/// The error `launch` stops with within `within`; panics if it ends well.
pub fn expect_error(launch: &str, within: gst::ClockTime) -> String {
    first_error(launch, within).unwrap_or_else(|| panic!("{launch}: expected an error"))
}

/// Parses `launch`, a pipeline with an `appsink name=sink`, with the plugin registered.
pub fn with_appsink(launch: &str) -> (gst::Pipeline, gst_app::AppSink) {
    crate::init();
    let pipeline = gst::parse::launch(launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    (pipeline, sink)
}

/// Frames of the bundled clip that [`short_clip`] can play.
pub const SHORT_CLIP_MAX: usize = 120;

/// The first `frames` frames (at most [`SHORT_CLIP_MAX`]) of the bundled clip
/// as a launch fragment playing raw I420 with exact timestamps. A decoder
/// stopped early (`identity eos-after`) drains a last frame with a guessed
/// timestamp, or not, from run to run; raw frames make short runs exact. The
/// raw file is written once, in cargo's `target/tmp`.
pub fn short_clip(frames: usize) -> String {
    const FRAME_BYTES: usize = 768 * 576 * 3 / 2;
    assert!(
        frames <= SHORT_CLIP_MAX,
        "short_clip holds {SHORT_CLIP_MAX} frames"
    );
    static WRITING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let path: PathBuf = crate::target_tmpdir().join("vtest-short.i420");
    let _writing = WRITING.lock().unwrap();
    if !path.exists() {
        let (pipeline, sink) = with_appsink(&format!(
            "filesrc location={} ! decodebin ! videoconvert ! video/x-raw,format=I420 \
             ! appsink name=sink sync=false",
            crate::video().display()
        ));
        pipeline.set_state(gst::State::Playing).unwrap();
        let mut bytes = Vec::with_capacity(SHORT_CLIP_MAX * FRAME_BYTES);
        for _ in 0..SHORT_CLIP_MAX {
            let sample = sink.pull_sample().expect("the clip has enough frames");
            bytes.extend_from_slice(&sample.buffer().unwrap().map_readable().unwrap());
        }
        pipeline.set_state(gst::State::Null).unwrap();
        assert_eq!(bytes.len(), SHORT_CLIP_MAX * FRAME_BYTES);
        // Another process may write it meanwhile: each writes a part of
        // its own and renames it into place.
        let partial = path.with_extension(format!("{}.part", std::process::id()));
        std::fs::write(&partial, bytes).unwrap();
        std::fs::rename(&partial, &path).unwrap();
    }
    format!(
        "filesrc location={} blocksize={FRAME_BYTES} num-buffers={frames} \
         ! rawvideoparse format=i420 width=768 height=576 framerate=10/1",
        path.display()
    )
}
