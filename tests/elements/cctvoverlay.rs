//! cctvoverlay on known frames: boxes land on their edges in the box colour
//! (converted to Y/U/V for 4:2:0), nothing else changes but the labels,
//! whose text is drawn, in every supported format; trails, flushes, the
//! status line and caps.

use cctv::bbox::BBox;
use cctv::meta::{Frame, Object};
use cctv::overlay::{Rgb, class_color};
use gst::prelude::*;
use gst_check::Harness;
use gst_video::prelude::*;

const FORMATS: [&str; 12] = [
    "RGBx", "BGRx", "xRGB", "xBGR", "RGBA", "BGRA", "ARGB", "ABGR", "RGB", "BGR", "I420", "NV12",
];
const W: usize = 320;
const H: usize = 240;
/// The frame's colour (videotestsrc solid-color, ARGB).
const GREY: Rgb = Rgb(0x3c, 0x3c, 0x3c);

/// A decoded frame's components at a pixel: R, G, B or Y, U, V.
struct Pixels {
    info: gst_video::VideoInfo,
    buffer: gst::Buffer,
}

impl Pixels {
    fn at(&self, x: usize, y: usize) -> [u8; 3] {
        let frame =
            gst_video::VideoFrameRef::from_buffer_ref_readable(&self.buffer, &self.info).unwrap();
        let f = self.info.format_info();
        std::array::from_fn(|c| {
            let plane = f.plane()[c];
            let data = frame.plane_data(plane).unwrap();
            let stride = frame.plane_stride()[plane as usize] as usize;
            let (xs, ys) = (x >> f.w_sub()[c], y >> f.h_sub()[c]);
            data[ys * stride + xs * f.pixel_stride()[c] as usize + f.poffset()[c] as usize]
        })
    }

    fn is_yuv(&self) -> bool {
        self.info.format_info().is_yuv()
    }
}

/// BT.601 limited range, computed here apart from the element's own conversion.
fn yuv(c: Rgb) -> [f32; 3] {
    let (r, g, b) = (c.0 as f32, c.1 as f32, c.2 as f32);
    [
        16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0,
        128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0,
        128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0,
    ]
}

fn assert_colour(p: &Pixels, x: usize, y: usize, c: Rgb, what: &str) {
    let got = p.at(x, y);
    if p.is_yuv() {
        let want = yuv(c);
        for i in 0..3 {
            assert!(
                (got[i] as f32 - want[i]).abs() <= 1.0,
                "{} {what} at ({x}, {y}): {got:?}, want {want:?}",
                p.info.format().to_str()
            );
        }
    } else {
        assert_eq!(
            got,
            [c.0, c.1, c.2],
            "{} {what} at ({x}, {y})",
            p.info.format().to_str()
        );
    }
}

/// Plays one grey frame of `format` through `cctvoverlay <props>`, with
/// `objects` attached by a probe before the overlay; the frame out.
fn draw(format: &str, props: &str, objects: Vec<Object>) -> Pixels {
    let (pipeline, sink) = support::with_appsink(&format!(
        "videotestsrc num-buffers=1 pattern=solid-color foreground-color=0xff3c3c3c \
         ! video/x-raw,format={format},width={W},height={H},framerate=10/1 \
         ! identity name=tag ! cctvoverlay name=overlay {props} ! appsink name=sink"
    ));
    let frame = Frame {
        width: W as u32,
        height: H as u32,
        objects,
        ..Frame::default()
    };
    let pad = pipeline.by_name("tag").unwrap().static_pad("src").unwrap();
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(gst::PadProbeData::Buffer(b)) = &mut info.data {
            frame.attach(b.make_mut());
        }
        gst::PadProbeReturn::Ok
    });
    pipeline.set_state(gst::State::Playing).unwrap();
    let sample = sink.pull_sample().expect("a frame");
    pipeline.set_state(gst::State::Null).unwrap();
    let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
    assert_eq!(info.format().to_str(), format, "no conversion");
    Pixels {
        info,
        buffer: sample.buffer_owned().unwrap(),
    }
}

fn object(x: f32, y: f32, w: f32, h: f32, class_id: u32) -> Object {
    Object::new(BBox::new(x, y, w, h), class_id, "person", 0.87)
}

#[test]
fn boxes_edges_and_label_text_in_every_format() {
    let props = "color-by=class line-thickness=2 font-scale=1 show-status=false show-trails=false";
    let colour = class_color(1);
    for format in FORMATS {
        let objects = vec![
            object(40.0, 60.0, 100.0, 120.0, 1),
            // Partly and wholly off the frame, and empty: clipped or skipped.
            object(-50.0, 200.0, 100.0, 100.0, 2),
            object(1000.0, 1000.0, 50.0, 50.0, 2),
            object(200.0, 50.0, 0.0, 0.0, 2),
        ];
        let p = draw(format, props, objects);
        for (x, y, what) in [
            (40, 60, "top-left corner"),
            (41, 61, "inner top-left corner"),
            (90, 60, "top edge"),
            (90, 179, "bottom edge"),
            (40, 120, "left edge"),
            (139, 120, "right edge"),
            (139, 179, "bottom-right corner"),
        ] {
            assert_colour(&p, x, y, colour, what);
        }
        for (x, y, what) in [
            (42, 62, "inside"),
            (90, 120, "inside"),
            (137, 177, "inside"),
            (36, 120, "left of the box"),
            (144, 120, "right of the box"),
            (90, 184, "below the box"),
            (200, 50, "the empty box"),
            (300, 20, "elsewhere"),
        ] {
            assert_colour(&p, x, y, GREY, what);
        }
        // The partly visible box's top and right edges.
        assert_colour(&p, 20, 200, class_color(2), "clipped box top edge");
        assert_colour(&p, 48, 220, class_color(2), "clipped box right edge");
        // The label block sits above the box on the box colour; its text
        // differs from both the block and the frame (in luma for 4:2:0).
        let label_rows = 60 - 16 - 2 * 2..60;
        let (mut background, mut text) = (0, 0);
        let box_c = p.at(90, 60);
        let grey = p.at(300, 20);
        for y in label_rows {
            for x in 40..140 {
                let c = p.at(x, y);
                if c == box_c {
                    background += 1;
                } else if c != grey {
                    text += 1;
                }
            }
        }
        assert!(background > 500, "{format}: label background {background}");
        assert!(text > 100, "{format}: label text pixels {text}");
    }
}

#[test]
fn text_switches_off() {
    let props = "color-by=class line-thickness=2 show-status=false show-trails=false \
                 show-labels=false show-attributes=false";
    let p = draw("BGRx", props, vec![object(40.0, 60.0, 100.0, 120.0, 1)]);
    for y in 0..60 {
        for x in 0..W {
            assert_colour(&p, x, y, GREY, "above the box without a label");
        }
    }
}

#[test]
fn status_line_without_metadata() {
    for format in ["BGRx", "I420"] {
        let (pipeline, sink) = support::with_appsink(&format!(
            "videotestsrc num-buffers=1 pattern=solid-color foreground-color=0xff3c3c3c \
             ! video/x-raw,format={format},width={W},height={H} \
             ! cctvoverlay camera-id=gate ! appsink name=sink"
        ));
        pipeline.set_state(gst::State::Playing).unwrap();
        let sample = sink.pull_sample().unwrap();
        pipeline.set_state(gst::State::Null).unwrap();
        let p = Pixels {
            info: gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap(),
            buffer: sample.buffer_owned().unwrap(),
        };
        assert_colour(&p, 0, 0, Rgb::BLACK, "status bar");
        let bright = (0..W)
            .flat_map(|x| (0..12).map(move |y| (x, y)))
            .filter(|&(x, y)| p.at(x, y)[if p.is_yuv() { 0 } else { 1 }] > 150)
            .count();
        assert!(bright > 50, "{format}: status text {bright}");
        assert_colour(&p, 300, 200, GREY, "below the status line");
    }
}

/// A BGRx frame with one tracked object, pushed through a harness.
fn push_tracked(h: &mut Harness, x: f32, pts: u64) -> Pixels {
    let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Bgrx, W as u32, H as u32)
        .build()
        .unwrap();
    let mut buffer = gst::Buffer::from_mut_slice(vec![0x3cu8; info.size()]);
    {
        let b = buffer.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_mseconds(pts * 100));
        let mut o = object(x, 100.0, 20.0, 40.0, 0);
        o.track_id = Some(4);
        Frame {
            width: W as u32,
            height: H as u32,
            objects: vec![o],
            ..Frame::default()
        }
        .attach(b);
    }
    let out = h.push_and_pull(buffer).unwrap();
    Pixels { info, buffer: out }
}

#[test]
fn trails_follow_a_track_and_a_flush_forgets_them() {
    support::init();
    let mut h = Harness::new("cctvoverlay");
    h.element()
        .unwrap()
        .set_property_from_str("show-labels", "false");
    h.element()
        .unwrap()
        .set_property_from_str("show-status", "false");
    h.set_src_caps_str(&format!(
        "video/x-raw,format=BGRx,width={W},height={H},framerate=10/1"
    ));
    let colour = cctv::overlay::track_color(4);
    let mut p = push_tracked(&mut h, 20.0, 0);
    for i in 1..10 {
        p = push_tracked(&mut h, 20.0 + 20.0 * i as f32, i);
    }
    // The first centre (30, 120) is on the trail, far behind the last box.
    assert_colour(&p, 30, 120, colour, "trail start");
    assert_colour(&p, 130, 120, colour, "trail middle");
    h.push_event(gst::event::FlushStart::new());
    h.push_event(gst::event::FlushStop::new(true));
    h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
        gst::ClockTime,
    >::new()));
    let p = push_tracked(&mut h, 200.0, 10);
    assert_colour(&p, 30, 120, GREY, "trail forgotten at the flush");
    assert_colour(&p, 130, 120, GREY, "trail forgotten at the flush");
}

#[test]
fn drawn_in_the_negotiated_format_and_others_refused() {
    support::init();
    for format in FORMATS {
        let pipeline = gst::parse::launch(&format!(
            "videotestsrc num-buffers=2 ! video/x-raw,format={format},width=64,height=48 \
             ! cctvoverlay name=overlay ! fakesink"
        ))
        .unwrap();
        let bin = pipeline.clone().downcast::<gst::Bin>().unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let msg = pipeline
            .bus()
            .unwrap()
            .timed_pop_filtered(
                gst::ClockTime::from_seconds(10),
                &[gst::MessageType::Eos, gst::MessageType::Error],
            )
            .unwrap();
        assert!(
            matches!(msg.view(), gst::MessageView::Eos(_)),
            "{format}: {msg:?}"
        );
        let overlay = bin.by_name("overlay").unwrap();
        let caps = |pad: &str| overlay.static_pad(pad).unwrap().current_caps().unwrap();
        assert_eq!(caps("sink"), caps("src"), "{format}");
        pipeline.set_state(gst::State::Null).unwrap();
    }
    // A format it cannot draw on is refused at linking, not converted.
    let err = gst::parse::launch(
        "videotestsrc num-buffers=1 ! video/x-raw,format=YUY2 ! cctvoverlay ! fakesink",
    )
    .unwrap_err();
    assert!(err.to_string().contains("can't handle caps"), "{err}");
}
