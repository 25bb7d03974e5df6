//! Drawing straight into a mapped video frame, in its own pixel format.
//!
//! A colour is converted once per frame into what the format stores (the
//! pixel's bytes for packed RGB, Y/U/V for 4:2:0), then written without
//! further conversion: luma per pixel, chroma per 2x2 block touched.
//! Everything is clipped to the frame; coordinates far outside it, empty or
//! reversed rectangles and NaN never panic and draw nothing off the frame.

use crate::preprocess::{PixelFormat, YuvMatrix};

use super::font::Font;

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    pub const BLACK: Rgb = Rgb(0, 0, 0);
    pub const WHITE: Rgb = Rgb(255, 255, 255);

    /// Limited-range Y, U, V of the colour under `matrix`.
    pub fn to_yuv(self, matrix: YuvMatrix) -> [u8; 3] {
        let (kr, kb) = match matrix {
            YuvMatrix::Bt601 => (0.299, 0.114),
            YuvMatrix::Bt709 => (0.2126, 0.0722),
        };
        let (r, g, b) = (
            self.0 as f32 / 255.0,
            self.1 as f32 / 255.0,
            self.2 as f32 / 255.0,
        );
        let y = kr * r + (1.0 - kr - kb) * g + kb * b;
        let u = (b - y) / (2.0 * (1.0 - kb));
        let v = (r - y) / (2.0 * (1.0 - kr));
        let q = |x: f32| x.round().clamp(0.0, 255.0) as u8;
        [
            q(16.0 + 219.0 * y),
            q(128.0 + 224.0 * u),
            q(128.0 + 224.0 * v),
        ]
    }

    /// Whether black text reads better than white on this colour.
    pub fn is_light(self) -> bool {
        299 * self.0 as u32 + 587 * self.1 as u32 + 114 * self.2 as u32 > 140_000
    }
}

/// A colour as the canvas' format stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paint {
    /// The whole pixel for packed formats (padding and alpha bytes 255).
    pixel: [u8; 4],
    /// Y, U, V for 4:2:0 formats.
    yuv: [u8; 3],
}

/// Why plane data cannot be drawn on as a frame of the given size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanvasError(pub String);

impl std::fmt::Display for CanvasError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CanvasError {}

/// Coordinates are clamped to this far outside any frame, so sums and
/// differences of them never overflow.
const FAR: f32 = 1_000_000.0;

/// Brings a pixel coordinate within [`FAR`] of the frame.
fn near(v: i32) -> i32 {
    v.clamp(-(FAR as i32), FAR as i32)
}

/// Rounds a frame coordinate to a pixel edge; NaN goes to 0.
pub fn px(v: f32) -> i32 {
    if v.is_nan() {
        0
    } else {
        v.round().clamp(-FAR, FAR) as i32
    }
}

/// A video frame being drawn on: mutable planes and their strides.
pub struct Canvas<'a> {
    format: PixelFormat,
    matrix: YuvMatrix,
    width: i32,
    height: i32,
    planes: [&'a mut [u8]; 3],
    strides: [usize; 3],
}

impl<'a> Canvas<'a> {
    /// Checks that the planes hold a `width` x `height` frame of `format`
    /// (so drawing never indexes out of them). `matrix` converts colours
    /// for the 4:2:0 formats.
    pub fn new(
        format: PixelFormat,
        matrix: YuvMatrix,
        width: u32,
        height: u32,
        planes: [&'a mut [u8]; 3],
        strides: [usize; 3],
    ) -> Result<Canvas<'a>, CanvasError> {
        if width == 0 || height == 0 || width > FAR as u32 || height > FAR as u32 {
            return Err(CanvasError(format!(
                "cannot draw on a {width}x{height} frame"
            )));
        }
        let (w, h) = (width as usize, height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let needs: [(usize, usize); 3] = match format.packed() {
            Some((bpp, _)) => [(w * bpp, h), (0, 0), (0, 0)],
            None if format == PixelFormat::I420 => [(w, h), (cw, ch), (cw, ch)],
            None => [(w, h), (2 * cw, ch), (0, 0)],
        };
        for (p, &(row, rows)) in needs.iter().enumerate() {
            if rows == 0 {
                continue;
            }
            let need = strides[p] * (rows - 1) + row;
            if strides[p] < row || planes[p].len() < need {
                return Err(CanvasError(format!(
                    "plane {p} of a {width}x{height} {format:?} frame: {} bytes with stride {}, needs {need} with stride >= {row}",
                    planes[p].len(),
                    strides[p]
                )));
            }
        }
        Ok(Canvas {
            format,
            matrix,
            width: width as i32,
            height: height as i32,
            planes,
            strides,
        })
    }

    pub fn width(&self) -> u32 {
        self.width as u32
    }

    pub fn height(&self) -> u32 {
        self.height as u32
    }

    /// `color` as this canvas stores it.
    pub fn paint(&self, color: Rgb) -> Paint {
        let mut pixel = [255u8; 4];
        if let Some((_, [r, g, b])) = self.format.packed() {
            pixel[r] = color.0;
            pixel[g] = color.1;
            pixel[b] = color.2;
        }
        Paint {
            pixel,
            yuv: color.to_yuv(self.matrix),
        }
    }

    /// Clips the half-open rectangle `[x0, x1) x [y0, y1)` to the frame.
    fn clip(&self, x0: i32, y0: i32, x1: i32, y1: i32) -> Option<(usize, usize, usize, usize)> {
        let (x0, x1) = (x0.max(0), x1.min(self.width));
        let (y0, y1) = (y0.max(0), y1.min(self.height));
        (x0 < x1 && y0 < y1).then_some((x0 as usize, y0 as usize, x1 as usize, y1 as usize))
    }

    /// Fills `[x0, x1) x [y0, y1)`. In 4:2:0 formats every chroma block the
    /// rectangle touches takes the colour's chroma.
    pub fn fill_rect(&mut self, x0: i32, y0: i32, x1: i32, y1: i32, paint: Paint) {
        let Some((x0, y0, x1, y1)) = self.clip(x0, y0, x1, y1) else {
            return;
        };
        if let Some((bpp, _)) = self.format.packed() {
            let stride = self.strides[0];
            for y in y0..y1 {
                let row = &mut self.planes[0][y * stride + x0 * bpp..y * stride + x1 * bpp];
                // Pixel sizes known at compile time: copies inlined, no memcpy call per pixel.
                if bpp == 4 {
                    fill_pixels::<4>(row, paint.pixel);
                } else {
                    fill_pixels::<3>(row, [paint.pixel[0], paint.pixel[1], paint.pixel[2]]);
                }
            }
            return;
        }
        let [luma, u, v] = paint.yuv;
        let stride = self.strides[0];
        for y in y0..y1 {
            self.planes[0][y * stride + x0..y * stride + x1].fill(luma);
        }
        let (cx0, cx1, cy0, cy1) = (x0 / 2, x1.div_ceil(2), y0 / 2, y1.div_ceil(2));
        if self.format == PixelFormat::I420 {
            for (p, value) in [(1, u), (2, v)] {
                let stride = self.strides[p];
                for y in cy0..cy1 {
                    self.planes[p][y * stride + cx0..y * stride + cx1].fill(value);
                }
            }
        } else {
            let stride = self.strides[1];
            for y in cy0..cy1 {
                let row = &mut self.planes[1][y * stride + 2 * cx0..y * stride + 2 * cx1];
                for pair in row.chunks_exact_mut(2) {
                    pair.copy_from_slice(&[u, v]);
                }
            }
        }
    }

    /// The outline of `[x0, x1) x [y0, y1)`, `thickness` pixels wide inside
    /// it; a box thinner than twice that is filled. Empty boxes draw nothing.
    pub fn rect(&mut self, x0: i32, y0: i32, x1: i32, y1: i32, thickness: u32, paint: Paint) {
        let (x0, y0, x1, y1) = (near(x0), near(y0), near(x1), near(y1));
        if x1 <= x0 || y1 <= y0 {
            return;
        }
        let t = thickness.clamp(1, FAR as u32) as i32;
        if x1 - x0 <= 2 * t || y1 - y0 <= 2 * t {
            self.fill_rect(x0, y0, x1, y1, paint);
            return;
        }
        self.fill_rect(x0, y0, x1, y0 + t, paint);
        self.fill_rect(x0, y1 - t, x1, y1, paint);
        self.fill_rect(x0, y0 + t, x0 + t, y1 - t, paint);
        self.fill_rect(x1 - t, y0 + t, x1, y1 - t, paint);
    }

    /// A straight line between two points, `thickness` pixels wide (a
    /// square pen centred on each pixel of the line).
    pub fn line(&mut self, from: (f32, f32), to: (f32, f32), thickness: u32, paint: Paint) {
        let t = thickness.clamp(1, 1024) as i32;
        // Clip to the frame grown by the pen, so a far-off segment costs nothing.
        let margin = t as f32;
        let bounds = (
            -margin,
            -margin,
            self.width as f32 + margin,
            self.height as f32 + margin,
        );
        let Some(((x0, y0), (x1, y1))) = clip_segment(from, to, bounds) else {
            return;
        };
        let (mut x, mut y, x1, y1) = (px(x0), px(y0), px(x1), px(y1));
        let (dx, dy) = ((x1 - x).abs(), -(y1 - y).abs());
        let (sx, sy) = (if x < x1 { 1 } else { -1 }, if y < y1 { 1 } else { -1 });
        let mut err = dx + dy;
        let half = (t - 1) / 2;
        loop {
            self.fill_rect(x - half, y - half, x - half + t, y - half + t, paint);
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// Joined lines through `points`.
    pub fn polyline(
        &mut self,
        points: impl IntoIterator<Item = (f32, f32)>,
        thickness: u32,
        paint: Paint,
    ) {
        let mut points = points.into_iter();
        let Some(mut last) = points.next() else {
            return;
        };
        for p in points {
            self.line(last, p, thickness, paint);
            last = p;
        }
    }

    /// Writes `text` with its top-left corner at `(x, y)`, blending the
    /// font's coverage over the frame. In 4:2:0 formats only luma is
    /// written: glyph strokes are finer than a chroma block, which keeps
    /// the colour of what lies under it (the label background). Returns the
    /// width of the text.
    pub fn text(&mut self, x: i32, y: i32, text: &str, font: &Font, paint: Paint) -> i32 {
        let (gw, gh) = (font.advance() as i32, font.height() as i32);
        let (mut gx, y) = (near(x), near(y));
        for c in text.chars() {
            if gx >= self.width {
                break;
            }
            if let Some((x0, y0, x1, y1)) = self.clip(gx, y, gx + gw, y + gh) {
                self.blend(font.glyph(c), gw as usize, (gx, y), (x0, y0, x1, y1), paint);
            }
            gx += gw;
        }
        text.chars().count() as i32 * gw
    }

    /// Blends a coverage mask (`mask_w` wide, its top-left at `origin`)
    /// over the clipped rectangle of it.
    fn blend(
        &mut self,
        mask: &[u8],
        mask_w: usize,
        origin: (i32, i32),
        (x0, y0, x1, y1): (usize, usize, usize, usize),
        paint: Paint,
    ) {
        let stride = self.strides[0];
        let (ox, oy) = (origin.0 as isize, origin.1 as isize);
        let packed = self.format.packed();
        for y in y0..y1 {
            let my = (y as isize - oy) as usize;
            let start = (x0 as isize - ox) as usize + my * mask_w;
            let coverage = &mask[start..start + (x1 - x0)];
            match packed {
                Some((4, channels)) => {
                    let row = &mut self.planes[0][y * stride + x0 * 4..y * stride + x1 * 4];
                    blend_pixels::<4>(row, coverage, channels, paint.pixel);
                }
                Some((bpp, channels)) => {
                    let row = &mut self.planes[0][y * stride + x0 * bpp..y * stride + x1 * bpp];
                    blend_pixels::<3>(row, coverage, channels, paint.pixel);
                }
                None => {
                    let row = &mut self.planes[0][y * stride + x0..y * stride + x1];
                    for (luma, &a) in row.iter_mut().zip(coverage) {
                        *luma = mix(*luma, paint.yuv[0], a);
                    }
                }
            }
        }
    }
}

/// Sets every `N`-byte pixel of `row` to `pixel`.
fn fill_pixels<const N: usize>(row: &mut [u8], pixel: [u8; N]) {
    for p in row.chunks_exact_mut(N) {
        p.copy_from_slice(&pixel);
    }
}

/// Blends `paint`'s colour channels over the `N`-byte pixels of `row` by `coverage`.
fn blend_pixels<const N: usize>(
    row: &mut [u8],
    coverage: &[u8],
    channels: [usize; 3],
    paint: [u8; 4],
) {
    for (p, &a) in row.chunks_exact_mut(N).zip(coverage) {
        match a {
            0 => {}
            255 => {
                for c in channels {
                    p[c] = paint[c];
                }
            }
            _ => {
                for c in channels {
                    p[c] = mix(p[c], paint[c], a);
                }
            }
        }
    }
}

/// `bg` covered by `fg` to `a`/255, rounded (exact division by 255 with shifts).
#[inline]
fn mix(bg: u8, fg: u8, a: u8) -> u8 {
    let a = a as u32;
    let t = bg as u32 * (255 - a) + fg as u32 * a + 128;
    ((t + (t >> 8)) >> 8) as u8
}

/// The part of the segment inside `(x0, y0, x1, y1)` (Liang-Barsky); `None`
/// when none of it is, or a coordinate is not finite.
fn clip_segment(
    (ax, ay): (f32, f32),
    (bx, by): (f32, f32),
    (x0, y0, x1, y1): (f32, f32, f32, f32),
) -> Option<((f32, f32), (f32, f32))> {
    if ![ax, ay, bx, by].iter().all(|v| v.is_finite()) {
        return None;
    }
    let (dx, dy) = (bx - ax, by - ay);
    let (mut t0, mut t1) = (0.0f32, 1.0f32);
    for (p, q) in [(-dx, ax - x0), (dx, x1 - ax), (-dy, ay - y0), (dy, y1 - ay)] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    (t0 <= t1).then_some(((ax + t0 * dx, ay + t0 * dy), (ax + t1 * dx, ay + t1 * dy)))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const FORMATS: [PixelFormat; 12] = [
        PixelFormat::Rgb,
        PixelFormat::Bgr,
        PixelFormat::Rgbx,
        PixelFormat::Bgrx,
        PixelFormat::Xrgb,
        PixelFormat::Xbgr,
        PixelFormat::Rgba,
        PixelFormat::Bgra,
        PixelFormat::Argb,
        PixelFormat::Abgr,
        PixelFormat::I420,
        PixelFormat::Nv12,
    ];

    /// A uniform frame with padded strides, to check that rows are addressed by stride.
    struct Frame {
        format: PixelFormat,
        width: u32,
        height: u32,
        planes: [Vec<u8>; 3],
        strides: [usize; 3],
    }

    const GREY: Rgb = Rgb(60, 60, 60);

    impl Frame {
        fn new(format: PixelFormat, width: u32, height: u32) -> Frame {
            let (w, h) = (width as usize, height as usize);
            let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
            let [gy, gu, gv] = GREY.to_yuv(YuvMatrix::Bt601);
            let mut planes = [Vec::new(), Vec::new(), Vec::new()];
            let mut strides = [0; 3];
            match format.packed() {
                Some((bpp, _)) => {
                    strides[0] = w * bpp + 8;
                    planes[0] = vec![GREY.0; strides[0] * h];
                }
                None if format == PixelFormat::I420 => {
                    strides = [w + 4, cw + 2, cw + 2];
                    planes[0] = vec![gy; strides[0] * h];
                    planes[1] = vec![gu; strides[1] * ch];
                    planes[2] = vec![gv; strides[2] * ch];
                }
                None => {
                    strides = [w + 4, 2 * cw + 4, 0];
                    planes[0] = vec![gy; strides[0] * h];
                    planes[1] = [gu, gv].repeat(strides[1] / 2 * ch);
                }
            }
            Frame {
                format,
                width,
                height,
                planes,
                strides,
            }
        }

        fn canvas(&mut self) -> Canvas<'_> {
            let [a, b, c] = &mut self.planes;
            Canvas::new(
                self.format,
                YuvMatrix::Bt601,
                self.width,
                self.height,
                [a, b, c],
                self.strides,
            )
            .unwrap()
        }

        /// RGB of a packed pixel, or Y, U, V of a 4:2:0 one.
        fn at(&self, x: usize, y: usize) -> [u8; 3] {
            match self.format.packed() {
                Some((bpp, [r, g, b])) => {
                    let p = &self.planes[0][y * self.strides[0] + x * bpp..];
                    [p[r], p[g], p[b]]
                }
                None => {
                    let luma = self.planes[0][y * self.strides[0] + x];
                    let (cx, cy) = (x / 2, y / 2);
                    if self.format == PixelFormat::I420 {
                        [
                            luma,
                            self.planes[1][cy * self.strides[1] + cx],
                            self.planes[2][cy * self.strides[2] + cx],
                        ]
                    } else {
                        let i = cy * self.strides[1] + 2 * cx;
                        [luma, self.planes[1][i], self.planes[1][i + 1]]
                    }
                }
            }
        }

        fn expect(&self, color: Rgb) -> [u8; 3] {
            match self.format.packed() {
                Some(_) => [color.0, color.1, color.2],
                None => color.to_yuv(YuvMatrix::Bt601),
            }
        }
    }

    #[test]
    fn mix_rounds_like_a_division_by_255() {
        for a in 0..=255u32 {
            for bg in (0..=255u32).step_by(5) {
                for fg in [0u32, 1, 100, 254, 255] {
                    let want = ((bg * (255 - a) + fg * a) as f32 / 255.0).round() as u8;
                    assert_eq!(mix(bg as u8, fg as u8, a as u8), want, "{bg} {fg} {a}");
                }
            }
        }
    }

    #[test]
    fn yuv_of_reference_colours() {
        assert_eq!(Rgb::WHITE.to_yuv(YuvMatrix::Bt601), [235, 128, 128]);
        assert_eq!(Rgb::BLACK.to_yuv(YuvMatrix::Bt709), [16, 128, 128]);
        // BT.601 red: Y 81, U 90, V 240 (the textbook values).
        assert_eq!(Rgb(255, 0, 0).to_yuv(YuvMatrix::Bt601), [81, 90, 240]);
        assert_eq!(Rgb(255, 0, 0).to_yuv(YuvMatrix::Bt709), [63, 102, 240]);
    }

    #[test]
    fn rectangle_edges_in_every_format_and_nothing_else() {
        let red = Rgb(250, 20, 10);
        for format in FORMATS {
            let mut frame = Frame::new(format, 64, 48);
            let mut canvas = frame.canvas();
            let paint = canvas.paint(red);
            // Even edges and thickness: whole chroma blocks in 4:2:0.
            canvas.rect(10, 8, 40, 30, 2, paint);
            let (box_c, grey) = (frame.expect(red), frame.expect(GREY));
            for (x, y) in [
                (10, 8),
                (11, 9),
                (39, 29),
                (25, 8),
                (10, 20),
                (39, 15),
                (25, 29),
            ] {
                assert_eq!(frame.at(x, y), box_c, "{format:?} edge ({x}, {y})");
            }
            for (x, y) in [
                (12, 10),
                (25, 20),
                (37, 27),
                (9, 8),
                (40, 29),
                (25, 7),
                (25, 30),
                (0, 0),
                (63, 47),
            ] {
                assert_eq!(frame.at(x, y), grey, "{format:?} off the edge ({x}, {y})");
            }
        }
    }

    #[test]
    fn odd_lines_in_yuv_colour_luma_exactly_and_the_chroma_blocks_they_touch() {
        for format in [PixelFormat::I420, PixelFormat::Nv12] {
            let mut frame = Frame::new(format, 16, 16);
            let mut canvas = frame.canvas();
            let paint = canvas.paint(Rgb::WHITE);
            canvas.fill_rect(3, 5, 6, 6, paint);
            let [gy, ..] = frame.expect(GREY);
            assert_eq!(frame.at(3, 5), [235, 128, 128], "{format:?}");
            assert_eq!(frame.at(5, 5), [235, 128, 128], "{format:?}");
            // Same chroma block, luma untouched.
            assert_eq!(frame.at(2, 4), [gy, 128, 128], "{format:?}");
            assert_eq!(frame.at(6, 5)[0], gy);
            assert_eq!(frame.at(6, 4), frame.expect(GREY), "{format:?}");
        }
    }

    #[test]
    fn off_frame_huge_and_degenerate_shapes_never_panic() {
        let big = f32::MAX;
        for format in FORMATS {
            for (w, h) in [(1, 1), (3, 5), (64, 48)] {
                let mut frame = Frame::new(format, w, h);
                let mut canvas = frame.canvas();
                let paint = canvas.paint(Rgb::WHITE);
                for (x0, y0, x1, y1) in [
                    (-100, -100, -50, -50),
                    (-100, -100, 1000, 1000),
                    (i32::MIN, i32::MIN, i32::MAX, i32::MAX),
                    (30, 20, 10, 5),
                    (5, 5, 5, 5),
                    (w as i32 - 1, h as i32 - 1, w as i32 + 5, h as i32 + 5),
                ] {
                    canvas.rect(x0, y0, x1, y1, 3, paint);
                    canvas.rect(x0, y0, x1, y1, u32::MAX, paint);
                    canvas.fill_rect(x0, y0, x1, y1, paint);
                }
                for (a, b) in [
                    ((-1e9, -1e9), (1e9, 1e9)),
                    ((big, 0.0), (-big, 0.0)),
                    ((f32::NAN, 1.0), (2.0, 2.0)),
                    ((f32::INFINITY, 1.0), (2.0, 2.0)),
                    ((-50.0, 3.0), (-10.0, 3.0)),
                    ((1.0, 1.0), (1.0, 1.0)),
                ] {
                    canvas.line(a, b, 1, paint);
                    canvas.line(a, b, 7, paint);
                }
                let font = Font::new(16);
                canvas.text(-30, -5, "off frame", &font, paint);
                canvas.text(w as i32 - 3, h as i32 - 3, "corner", &font, paint);
                canvas.text(i32::MAX - 2, 0, "far", &font, paint);
                canvas.text(i32::MIN, i32::MIN, "far", &font, paint);
                assert_eq!(px(f32::NAN), 0);
                assert_eq!(px(-big), -FAR as i32);
            }
        }
    }

    #[test]
    fn lines_join_their_end_points_and_are_clipped() {
        for format in [PixelFormat::Bgrx, PixelFormat::I420] {
            let mut frame = Frame::new(format, 32, 32);
            let mut canvas = frame.canvas();
            let paint = canvas.paint(Rgb::WHITE);
            canvas.line((2.0, 2.0), (20.0, 11.0), 1, paint);
            canvas.line((-100.0, 25.0), (100.0, 25.0), 1, paint);
            let white = frame.expect(Rgb::WHITE);
            assert_eq!(frame.at(2, 2)[0], white[0]);
            assert_eq!(frame.at(20, 11)[0], white[0]);
            assert_eq!(frame.at(10, 6)[0], white[0], "{format:?} midpoint");
            assert_ne!(frame.at(10, 10)[0], white[0]);
            assert_eq!(frame.at(0, 25)[0], white[0]);
            assert_eq!(frame.at(31, 25)[0], white[0]);
            assert_ne!(frame.at(31, 24)[0], white[0]);
        }
    }

    #[test]
    fn text_inks_only_its_own_box() {
        let font = Font::new(16);
        for format in FORMATS {
            let mut frame = Frame::new(format, 80, 40);
            let mut canvas = frame.canvas();
            let paint = canvas.paint(Rgb::WHITE);
            let width = canvas.text(4, 10, "Hi 42", &font, paint);
            assert_eq!(width, 5 * font.advance() as i32);
            let grey = frame.expect(GREY);
            let mut inked = 0;
            for y in 0..40 {
                for x in 0..80 {
                    let inside = (4..4 + width as usize).contains(&x) && (10..26).contains(&y);
                    let p = frame.at(x, y);
                    if p[0] != grey[0] {
                        assert!(inside, "{format:?} ink outside the text at ({x}, {y})");
                        inked += 1;
                    }
                    if format.packed().is_none() {
                        assert_eq!(&p[1..], &grey[1..], "{format:?}: text leaves chroma");
                    }
                }
            }
            assert!(inked > 40, "{format:?}: {inked} pixels inked");
        }
    }

    #[test]
    fn short_planes_are_refused() {
        let mut small = vec![0u8; 10];
        let err = Canvas::new(
            PixelFormat::Rgb,
            YuvMatrix::Bt601,
            4,
            4,
            [&mut small, &mut [], &mut []],
            [12, 0, 0],
        );
        assert!(err.is_err());
        let mut y = vec![0u8; 16];
        let mut uv = vec![0u8; 4];
        let err = Canvas::new(
            PixelFormat::Nv12,
            YuvMatrix::Bt601,
            4,
            4,
            [&mut y, &mut uv, &mut []],
            [4, 4, 0],
        );
        assert!(err.is_err(), "NV12 4x4 needs 2 rows of 4 chroma bytes");
        assert!(
            Canvas::new(
                PixelFormat::Rgb,
                YuvMatrix::Bt601,
                0,
                4,
                [&mut [], &mut [], &mut []],
                [0; 3]
            )
            .is_err()
        );
    }
}
