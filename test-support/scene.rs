//! Scenes made from the bundled clip: chosen frames, the plaza with nobody
//! in it, sensor noise, and a quiet camera (people some of the time, the
//! empty plaza the rest) encoded as a file a test RTSP server can serve.

use std::path::Path;

use gst::prelude::*;

/// Frames `indices` (ascending) of the clip, decoded to `caps`.
pub fn clip_frames(caps: &str, indices: &[usize]) -> Vec<gst::Buffer> {
    cropped_clip_frames("identity", caps, indices)
}

/// Like [`clip_frames`], with `crop` (an element) applied before scaling.
pub fn cropped_clip_frames(crop: &str, caps: &str, indices: &[usize]) -> Vec<gst::Buffer> {
    let (pipeline, sink) = crate::with_appsink(&format!(
        "filesrc location={} ! decodebin ! {crop} ! videoconvert ! videoscale ! {caps} ! appsink name=sink sync=false",
        crate::video().display()
    ));
    pipeline.set_state(gst::State::Playing).unwrap();
    let last = *indices.iter().max().unwrap();
    let mut frames = Vec::new();
    for i in 0..=last {
        let sample = sink.pull_sample().expect("the clip has enough frames");
        if indices.contains(&i) {
            frames.push(sample.buffer_owned().unwrap());
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    frames
}

/// The plaza of the clip with nobody in it, in `caps`: each byte's median
/// over five frames far apart (each walker stands in one or two of them).
pub fn empty_plaza(caps: &str) -> Vec<u8> {
    let frames = clip_frames(caps, &[0, 200, 400, 600, 790]);
    let maps: Vec<_> = frames.iter().map(|f| f.map_readable().unwrap()).collect();
    (0..maps[0].len())
        .map(|i| {
            let mut v: Vec<u8> = maps.iter().map(|m| m[i]).collect();
            v.sort_unstable();
            v[2]
        })
        .collect()
}

/// `still` with sensor noise of +-6 levels (a new draw every frame, seeded
/// by `n`).
pub fn with_noise(still: &[u8], n: u64) -> gst::Buffer {
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ n.wrapping_mul(0x2545_f491_4f6c_dd1d);
    let noisy: Vec<u8> = still
        .iter()
        .map(|&v| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (v as i32 + (state % 13) as i32 - 6).clamp(0, 255) as u8
        })
        .collect();
    gst::Buffer::from_mut_slice(noisy)
}

/// A camera that sees people a quarter of the time: periods of
/// [`QUIET_PERIOD`] frames at 10 fps, each [`QUIET_ACTIVE`] frames of the
/// clip (the next stretch of it each period) and the rest the empty plaza
/// with sensor noise; H.264 in MP4, as a camera would compress it.
/// `phase` (0-3) shifts where in the period the people are, so cameras
/// given different phases are not busy at the same time.
pub const QUIET_PERIOD: usize = 400;
/// Frames of people per period (a 25 % duty cycle).
pub const QUIET_ACTIVE: usize = 100;

/// Writes [`periods`](QUIET_PERIOD) of the quiet camera of `phase` to
/// `out`; returns the frames where people appear.
pub fn encode_quiet_camera(out: &Path, phase: usize, periods: usize) -> Vec<usize> {
    const CAPS: &str = "video/x-raw,format=I420,width=768,height=576,framerate=10/1";
    let still = empty_plaza(CAPS);
    let (decode, clip) = crate::with_appsink(&format!(
        "filesrc location={} ! decodebin ! videoconvert ! videorate ! {CAPS} ! appsink name=sink sync=false",
        crate::video().display()
    ));
    decode.set_state(gst::State::Playing).unwrap();
    let encode = gst::parse::launch(&format!(
        "appsrc name=src format=time block=true max-bytes=4000000 caps={CAPS} \
         ! x264enc tune=zerolatency speed-preset=veryfast key-int-max=10 bitrate=2000 ! h264parse \
         ! mp4mux ! filesink location={}",
        out.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let src = encode
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    encode.set_state(gst::State::Playing).unwrap();
    let start = (phase % 4) * QUIET_ACTIVE;
    let mut appearances = Vec::new();
    for n in 0..periods * QUIET_PERIOD {
        let at = n % QUIET_PERIOD;
        let active = (start..start + QUIET_ACTIVE).contains(&at);
        if active && at == start {
            appearances.push(n);
        }
        let mut frame = match active.then(|| clip.pull_sample().ok()).flatten() {
            Some(sample) => sample.buffer_owned().unwrap().copy(),
            // The empty plaza (and once the clip has ended, too).
            None => with_noise(&still, n as u64),
        };
        let buffer = frame.get_mut().unwrap();
        buffer.set_pts(gst::ClockTime::from_mseconds(100 * n as u64));
        buffer.set_duration(gst::ClockTime::from_mseconds(100));
        src.push_buffer(frame).expect("the encoder takes the frame");
    }
    src.end_of_stream().unwrap();
    let end = crate::play_to_end(&encode, gst::ClockTime::from_seconds(600));
    encode.set_state(gst::State::Null).unwrap();
    decode.set_state(gst::State::Null).unwrap();
    end.unwrap_or_else(|e| panic!("the quiet camera encodes: {e}"));
    appearances
}
