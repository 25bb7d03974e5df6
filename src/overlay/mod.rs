//! Drawing what a frame's metadata holds onto the frame itself: boxes,
//! labels with confidence, track ids and attributes, track trails, the PTZ
//! target and a status line, in the frame's own pixel format
//! ([`Canvas`]), with an embedded font ([`Font`]).
//!
//! An [`Annotator`] keeps what lasts across frames (the font made for the
//! current text size, the trails, a text buffer), so a frame in steady
//! state draws without allocating.

pub mod canvas;
pub mod font;
pub mod timecode;
pub mod trails;

use std::fmt::Write;

pub use canvas::{Canvas, CanvasError, Paint, Rgb, px};
pub use font::Font;
pub use trails::Trails;

use crate::objects::{Frame, Object};

/// What gives a box its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorBy {
    /// Each track its own colour (untracked objects by class).
    #[default]
    Track,
    Class,
}

/// How frames are annotated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Style {
    /// Box line width in pixels; 0 picks one from the frame size.
    pub line_thickness: u32,
    /// Text height in multiples of 16 pixels; 0 picks one from the frame size.
    pub font_scale: f32,
    /// Positions kept per track trail.
    pub trail_length: u32,
    pub show_labels: bool,
    pub show_confidence: bool,
    pub show_attributes: bool,
    pub show_trails: bool,
    pub show_status: bool,
    pub color_by: ColorBy,
}

impl Default for Style {
    fn default() -> Self {
        Style {
            line_thickness: 0,
            font_scale: 0.0,
            trail_length: 30,
            show_labels: true,
            show_confidence: true,
            show_attributes: true,
            show_trails: true,
            show_status: true,
            color_by: ColorBy::Track,
        }
    }
}

/// Box colours, chosen to stay apart from each other and from [`TARGET`].
pub const PALETTE: [Rgb; 12] = [
    Rgb(0, 200, 255),
    Rgb(255, 200, 0),
    Rgb(0, 230, 120),
    Rgb(255, 0, 200),
    Rgb(150, 100, 255),
    Rgb(255, 130, 60),
    Rgb(0, 140, 255),
    Rgb(180, 255, 60),
    Rgb(255, 110, 160),
    Rgb(60, 255, 230),
    Rgb(200, 160, 100),
    Rgb(130, 200, 255),
];

/// The colour of the PTZ target's box and cross-hair.
pub const TARGET: Rgb = Rgb(255, 0, 0);

/// The box colour of objects of class `class_id` (`color-by=class`).
pub fn class_color(class_id: u32) -> Rgb {
    PALETTE[class_id as usize % PALETTE.len()]
}

/// The box colour of track `track_id` (`color-by=track`).
pub fn track_color(track_id: u64) -> Rgb {
    // Neighbouring ids (tracks born together) get distant palette entries.
    PALETTE[(track_id.wrapping_mul(5) % PALETTE.len() as u64) as usize]
}

/// Box line width for a frame: 1 pixel up to 432 lines, 2 at 576, 4 at 1080.
pub fn auto_thickness(width: u32, height: u32) -> u32 {
    ((width.min(height) + 144) / 288).max(1)
}

/// Text height for a frame: 16 pixels at 576 lines, 30 at 1080, at least 10.
pub fn auto_text_height(width: u32, height: u32) -> u32 {
    (width.min(height) / 36).max(10)
}

/// What the status line says besides the people count.
#[derive(Debug, Clone, Copy, Default)]
pub struct Status<'a> {
    /// Empty when unknown.
    pub camera: &'a str,
    pub time: &'a str,
}

/// Annotates frames; keeps trails and the font between them.
#[derive(Debug)]
pub struct Annotator {
    style: Style,
    font: Option<Font>,
    trails: Trails,
    text: String,
}

impl Annotator {
    pub fn new(style: Style) -> Annotator {
        Annotator {
            style,
            font: None,
            trails: Trails::new(style.trail_length as usize),
            text: String::with_capacity(256),
        }
    }

    pub fn style(&self) -> Style {
        self.style
    }

    pub fn set_style(&mut self, style: Style) {
        if style.trail_length != self.style.trail_length {
            self.trails.set_length(style.trail_length as usize);
        }
        self.style = style;
    }

    /// Forgets the trails (a flush, a new stream).
    pub fn clear(&mut self) {
        self.trails.clear();
    }

    /// Tracks whose trails are remembered.
    pub fn trails(&self) -> &Trails {
        &self.trails
    }

    /// Draws `frame`'s objects (boxes scaled from its size to the canvas')
    /// and, with `show_status`, the status line.
    pub fn draw(&mut self, canvas: &mut Canvas<'_>, frame: &Frame, status: Status<'_>) {
        let style = self.style;
        let (w, h) = (canvas.width(), canvas.height());
        let thickness = match style.line_thickness {
            0 => auto_thickness(w, h),
            t => t,
        };
        let text_height = if style.font_scale > 0.0 {
            (16.0 * style.font_scale).round() as u32
        } else {
            auto_text_height(w, h)
        }
        .clamp(font::MIN_HEIGHT, font::MAX_HEIGHT);
        if self.font.as_ref().is_none_or(|f| f.height() != text_height) {
            self.font = Some(Font::new(text_height));
        }
        let font = self.font.as_ref().expect("made just above");
        let (sx, sy) = if frame.width > 0 && frame.height > 0 {
            (
                w as f32 / frame.width as f32,
                h as f32 / frame.height as f32,
            )
        } else {
            (1.0, 1.0)
        };
        let scaled = |o: &Object| {
            let b = o.bbox.scale(sx, sy);
            (px(b.x), px(b.y), px(b.x2()), px(b.y2()))
        };
        let visible = |(x0, y0, x1, y1): (i32, i32, i32, i32)| {
            x1 > x0 && y1 > y0 && x1 > 0 && y1 > 0 && x0 < w as i32 && y0 < h as i32
        };
        let color = |o: &Object| match (style.color_by, o.track_id) {
            (ColorBy::Track, Some(id)) => track_color(id),
            _ => class_color(o.class_id),
        };

        if style.show_trails {
            self.trails.next_frame();
            for o in frame.objects.iter() {
                if let Some(id) = o.track_id {
                    let b = o.bbox.scale(sx, sy);
                    self.trails.push(id, (b.cx(), b.cy()));
                }
            }
            let trail_thickness = thickness.div_ceil(2);
            for o in frame.objects.iter() {
                if let Some(id) = o.track_id {
                    let paint = canvas.paint(color(o));
                    canvas.polyline(self.trails.points(id), trail_thickness, paint);
                }
            }
        }

        for o in frame.objects.iter() {
            let (x0, y0, x1, y1) = scaled(o);
            if crate::ptz::is_target(o) {
                let paint = canvas.paint(TARGET);
                canvas.rect(x0, y0, x1, y1, 2 * thickness, paint);
                let (cx, cy) = ((x0 + x1) / 2, (y0 + y1) / 2);
                let arm = (x1 - x0).min(y1 - y0) / 4;
                let t = thickness as i32;
                canvas.fill_rect(cx - arm, cy - t / 2, cx + arm + 1, cy - t / 2 + t, paint);
                canvas.fill_rect(cx - t / 2, cy - arm, cx - t / 2 + t, cy + arm + 1, paint);
            } else {
                // A prediction (no detection this frame) gets a thinner box.
                let t = if o.predicted {
                    thickness.div_ceil(2)
                } else {
                    thickness
                };
                canvas.rect(x0, y0, x1, y1, t, canvas.paint(color(o)));
            }
        }

        if style.show_labels || style.show_attributes {
            for o in frame.objects.iter() {
                let b = scaled(o);
                if !visible(b) {
                    continue;
                }
                self.text.clear();
                if style.show_labels {
                    self.text.push_str(&o.label);
                    if let Some(id) = o.track_id {
                        write!(self.text, " #{id}").ok();
                    }
                    if style.show_confidence {
                        write!(self.text, " {:.2}", o.confidence).ok();
                    }
                }
                if style.show_attributes {
                    for a in &o.attributes {
                        if !self.text.is_empty() {
                            self.text.push('\n');
                        }
                        write!(self.text, "{}: {}", a.name, a.label).ok();
                        if style.show_confidence {
                            write!(self.text, " {:.2}", a.confidence).ok();
                        }
                    }
                }
                if self.text.is_empty() {
                    continue;
                }
                let background = if crate::ptz::is_target(o) {
                    TARGET
                } else {
                    color(o)
                };
                label(canvas, font, &self.text, b, background);
            }
        }

        if style.show_status {
            let people = frame.objects.iter().filter(|o| o.label == "person").count();
            self.text.clear();
            for part in [status.camera, status.time] {
                if !part.is_empty() {
                    self.text.push_str(part);
                    self.text.push_str("  ");
                }
            }
            write!(self.text, "people in view {people}").ok();
            let pad = (font.height() / 6).max(1) as i32;
            let bar_w = font.width(&self.text) as i32 + 2 * pad;
            let bar_h = font.height() as i32 + 2 * pad;
            canvas.fill_rect(0, 0, bar_w, bar_h, canvas.paint(Rgb::BLACK));
            canvas.text(pad, pad, &self.text, font, canvas.paint(Rgb::WHITE));
        }
    }
}

/// Writes a stream time as `H:MM:SS.mmm` (hours unpadded) into `out`.
pub fn write_clock(out: &mut impl Write, ns: u64) -> std::fmt::Result {
    let ms = ns / 1_000_000;
    write!(
        out,
        "{}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// Draws `text` (lines split by `\n`) on a filled block in `background`,
/// above the box `(x0, y0, x1, y1)` if there is room, else inside its top;
/// kept inside the frame horizontally.
fn label(
    canvas: &mut Canvas<'_>,
    font: &Font,
    text: &str,
    (x0, y0, _, _): (i32, i32, i32, i32),
    background: Rgb,
) {
    let pad = (font.height() / 6).max(1) as i32;
    let lines = text.lines().count() as i32;
    let width = text.lines().map(|l| font.width(l)).max().unwrap_or(0) as i32 + 2 * pad;
    let line_h = font.height() as i32;
    let height = lines * line_h + 2 * pad;
    let x = x0.clamp(0, (canvas.width() as i32 - width).max(0));
    let y = if y0 - height >= 0 {
        y0 - height
    } else {
        y0.max(0)
    };
    canvas.fill_rect(x, y, x + width, y + height, canvas.paint(background));
    let ink = canvas.paint(if background.is_light() {
        Rgb::BLACK
    } else {
        Rgb::WHITE
    });
    for (i, line) in text.lines().enumerate() {
        canvas.text(x + pad, y + pad + i as i32 * line_h, line, font, ink);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bbox::BBox;
    use crate::objects::Attribute;
    use crate::preprocess::{PixelFormat, YuvMatrix};

    const W: usize = 320;
    const H: usize = 240;
    const GREY: u8 = 60;

    fn rgb_frame() -> Vec<u8> {
        vec![GREY; W * H * 3]
    }

    fn draw(annotator: &mut Annotator, pixels: &mut [u8], frame: &Frame, status: Status<'_>) {
        let mut canvas = Canvas::new(
            PixelFormat::Rgb,
            YuvMatrix::Bt601,
            W as u32,
            H as u32,
            [pixels, &mut [], &mut []],
            [W * 3, 0, 0],
        )
        .unwrap();
        annotator.draw(&mut canvas, frame, status);
    }

    fn at(pixels: &[u8], x: usize, y: usize) -> Rgb {
        let p = &pixels[(y * W + x) * 3..];
        Rgb(p[0], p[1], p[2])
    }

    /// Pixels differing from the background in `[x0, x1) x [y0, y1)`.
    fn changed(pixels: &[u8], (x0, y0, x1, y1): (usize, usize, usize, usize)) -> usize {
        (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .filter(|&(x, y)| at(pixels, x, y) != Rgb(GREY, GREY, GREY))
            .count()
    }

    fn person(x: f32, y: f32, track: Option<u64>) -> Object {
        let mut o = Object::new(BBox::new(x, y, 40.0, 80.0), 0, "person", 0.87);
        o.track_id = track;
        o
    }

    fn frame(objects: Vec<Object>) -> Frame {
        Frame {
            width: W as u32,
            height: H as u32,
            objects,
            ..Frame::default()
        }
    }

    #[test]
    fn box_label_and_status_line() {
        let mut a = Annotator::new(Style::default());
        let mut pixels = rgb_frame();
        let status = Status {
            camera: "plaza",
            time: "00:00:01.000",
        };
        draw(
            &mut a,
            &mut pixels,
            &frame(vec![person(100.0, 100.0, Some(3))]),
            status,
        );
        let colour = track_color(3);
        assert_eq!(at(&pixels, 100, 150), colour, "left edge");
        assert_eq!(at(&pixels, 139, 179), colour, "bottom-right corner");
        assert_eq!(at(&pixels, 120, 140), Rgb(GREY, GREY, GREY), "inside");
        // The label sits above the box, on the box colour, with text in it.
        let label = (100, 100 - 30, 200, 100);
        assert!(changed(&pixels, label) > 300, "label background");
        // Text pixels: neither the label background nor the frame.
        let ink = (100..200)
            .flat_map(|x| (75..100).map(move |y| (x, y)))
            .filter(|&(x, y)| ![colour, Rgb(GREY, GREY, GREY)].contains(&at(&pixels, x, y)))
            .count();
        assert!(ink > 20, "text in contrast to the box colour: {ink}");
        // Status line in the top-left corner: white text on black.
        assert_eq!(at(&pixels, 0, 0), Rgb::BLACK);
        let white = (0..W)
            .flat_map(|x| (0..16).map(move |y| (x, y)))
            .filter(|&(x, y)| at(&pixels, x, y).0 > 160)
            .count();
        assert!(white > 50, "status text: {white}");
    }

    #[test]
    fn clock_format() {
        let mut s = String::new();
        write_clock(&mut s, 3_723_004_000_000).unwrap();
        assert_eq!(s, "1:02:03.004");
    }

    #[test]
    fn nothing_but_boxes_when_text_is_off() {
        let style = Style {
            show_labels: false,
            show_attributes: false,
            show_status: false,
            show_trails: false,
            line_thickness: 1,
            ..Style::default()
        };
        let mut a = Annotator::new(style);
        let mut pixels = rgb_frame();
        draw(
            &mut a,
            &mut pixels,
            &frame(vec![person(100.0, 100.0, Some(3))]),
            Status::default(),
        );
        let everything = changed(&pixels, (0, 0, W, H));
        assert_eq!(everything, 2 * 40 + 2 * 78, "a one-pixel outline only");
    }

    #[test]
    fn attributes_make_a_second_label_line() {
        let style = Style {
            show_status: false,
            ..Style::default()
        };
        let mut with = person(100.0, 150.0, None);
        with.attributes.push(Attribute {
            name: "gender".into(),
            label: "female".into(),
            confidence: 0.91,
            source: String::new(),
            value: None,
        });
        let mut a = Annotator::new(style);
        let mut one = rgb_frame();
        draw(
            &mut a,
            &mut one,
            &frame(vec![person(100.0, 150.0, None)]),
            Status::default(),
        );
        let mut two = rgb_frame();
        draw(&mut a, &mut two, &frame(vec![with]), Status::default());
        let label_area = (0, 0, W, 150);
        assert!(changed(&two, label_area) > changed(&one, label_area) * 3 / 2);
    }

    #[test]
    fn ptz_target_is_thick_with_a_cross_hair() {
        let style = Style {
            show_labels: false,
            show_attributes: false,
            show_status: false,
            line_thickness: 2,
            ..Style::default()
        };
        let mut target = person(100.0, 100.0, Some(1));
        target.attributes.push(Attribute {
            name: crate::ptz::TARGET_ATTRIBUTE.into(),
            label: "target".into(),
            confidence: 1.0,
            source: String::new(),
            value: None,
        });
        let mut a = Annotator::new(style);
        let mut pixels = rgb_frame();
        draw(&mut a, &mut pixels, &frame(vec![target]), Status::default());
        assert_eq!(at(&pixels, 103, 150), TARGET, "4 pixels thick");
        assert_eq!(at(&pixels, 104, 150), Rgb(GREY, GREY, GREY));
        assert_eq!(at(&pixels, 120, 140), TARGET, "cross-hair centre");
        assert_eq!(at(&pixels, 128, 140), TARGET, "cross-hair arm");
    }

    #[test]
    fn trails_follow_tracks_and_clear() {
        let style = Style {
            show_labels: false,
            show_attributes: false,
            show_status: false,
            ..Style::default()
        };
        let mut a = Annotator::new(style);
        let mut pixels = rgb_frame();
        for step in 0..10 {
            let x = 20.0 + 20.0 * step as f32;
            pixels.fill(GREY);
            draw(
                &mut a,
                &mut pixels,
                &frame(vec![person(x, 100.0, Some(5))]),
                Status::default(),
            );
        }
        // The centre of the first position (40, 140) is on the trail, far from the last box.
        assert_eq!(at(&pixels, 40, 140), track_color(5));
        assert_eq!(a.trails().len(), 1);
        a.clear();
        assert!(a.trails().is_empty());
    }

    #[test]
    fn boxes_scale_from_the_metadata_frame_size() {
        let style = Style {
            show_labels: false,
            show_attributes: false,
            show_status: false,
            show_trails: false,
            line_thickness: 1,
            color_by: ColorBy::Class,
            ..Style::default()
        };
        let mut a = Annotator::new(style);
        let mut pixels = rgb_frame();
        let mut half = frame(vec![person(50.0, 50.0, Some(1))]);
        half.width = W as u32 / 2;
        half.height = H as u32 / 2;
        draw(&mut a, &mut pixels, &half, Status::default());
        assert_eq!(at(&pixels, 100, 150), class_color(0));
        assert_eq!(at(&pixels, 50, 75), Rgb(GREY, GREY, GREY));
    }

    #[test]
    fn off_frame_and_degenerate_objects_never_panic() {
        let mut a = Annotator::new(Style::default());
        let mut pixels = rgb_frame();
        let mut objects = vec![
            person(-1000.0, -1000.0, Some(1)),
            person(300.0, 200.0, Some(2)),
            person(f32::NAN, 3.0, Some(3)),
            person(f32::INFINITY, f32::NEG_INFINITY, Some(4)),
        ];
        objects.push(Object::new(BBox::new(10.0, 10.0, 0.0, -5.0), 1, "x", 0.5));
        objects.push(Object::new(BBox::new(0.0, 0.0, 1e30, 1e30), 1, "huge", 0.5));
        for _ in 0..3 {
            draw(
                &mut a,
                &mut pixels,
                &frame(objects.clone()),
                Status::default(),
            );
        }
        let mut zero = frame(objects);
        zero.width = 0;
        draw(&mut a, &mut pixels, &zero, Status::default());
    }
}
