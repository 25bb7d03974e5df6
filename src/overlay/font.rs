//! Text at any size from an embedded font: Noto Sans Mono Bold, rasterised
//! with anti-aliasing at 16, 20, 24 and 32 pixels by the
//! `noto-sans-mono-bitmap` crate, resampled once to the wanted height.
//! Printable ASCII only; other characters show as `?`.

use noto_sans_mono_bitmap::{FontWeight, RasterHeight, get_raster, get_raster_width};

const FIRST: char = ' ';
const LAST: char = '~';
const GLYPHS: usize = LAST as usize - FIRST as usize + 1;

/// Smallest and largest text heights made, in pixels.
pub const MIN_HEIGHT: u32 = 8;
pub const MAX_HEIGHT: u32 = 256;

/// Glyph coverage maps of one text height, made once and reused per frame.
#[derive(Debug, Clone)]
pub struct Font {
    height: u32,
    advance: u32,
    /// `GLYPHS` maps of `advance` x `height` coverage bytes, back to back.
    glyphs: Vec<u8>,
}

impl Font {
    /// The font with lines `height` pixels high (clamped to
    /// [`MIN_HEIGHT`]..=[`MAX_HEIGHT`]), resampled from the smallest
    /// raster at least that high (or the largest) with an area filter.
    pub fn new(height: u32) -> Font {
        let height = height.clamp(MIN_HEIGHT, MAX_HEIGHT);
        let raster = [
            RasterHeight::Size16,
            RasterHeight::Size20,
            RasterHeight::Size24,
            RasterHeight::Size32,
        ]
        .into_iter()
        .find(|r| r.val() as u32 >= height)
        .unwrap_or(RasterHeight::Size32);
        let (src_w, src_h) = (get_raster_width(FontWeight::Bold, raster), raster.val());
        let scale = src_h as f32 / height as f32;
        let advance = ((src_w as f32 / scale).round() as u32).max(1);
        let (dw, dh) = (advance as usize, height as usize);
        let xs = taps(dw, src_w, scale);
        let ys = taps(dh, src_h, scale);
        let mut glyphs = vec![0u8; GLYPHS * dw * dh];
        for (i, glyph) in glyphs.chunks_exact_mut(dw * dh).enumerate() {
            let c = char::from(FIRST as u8 + i as u8);
            let Some(src) = get_raster(c, FontWeight::Bold, raster) else {
                continue;
            };
            let src = src.pixels();
            for (ty, (y_taps, out)) in ys.iter().zip(glyph.chunks_exact_mut(dw)).enumerate() {
                debug_assert!(ty < dh);
                for (x_taps, out) in xs.iter().zip(out.iter_mut()) {
                    let mut sum = 0.0;
                    for &(sy, wy) in y_taps {
                        for &(sx, wx) in x_taps {
                            sum += wy * wx * src[sy * src_w + sx] as f32;
                        }
                    }
                    *out = sum.round().clamp(0.0, 255.0) as u8;
                }
            }
        }
        Font {
            height,
            advance,
            glyphs,
        }
    }

    /// Line height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Width of every character in pixels, spacing included.
    pub fn advance(&self) -> u32 {
        self.advance
    }

    /// Width of `text` in pixels.
    pub fn width(&self, text: &str) -> u32 {
        text.chars().count() as u32 * self.advance
    }

    /// Coverage of `c`: `advance` x `height` bytes, row by row.
    pub fn glyph(&self, c: char) -> &[u8] {
        let c = if (FIRST..=LAST).contains(&c) { c } else { '?' };
        let size = (self.advance * self.height) as usize;
        let i = c as usize - FIRST as usize;
        &self.glyphs[i * size..(i + 1) * size]
    }
}

/// For each of `dst` output pixels, the source pixels (of `src`) it covers
/// and their weights (summing to 1): an area filter when shrinking, linear
/// interpolation when enlarging.
fn taps(dst: usize, src: usize, scale: f32) -> Vec<Vec<(usize, f32)>> {
    (0..dst)
        .map(|i| {
            if scale <= 1.0 {
                let centre = ((i as f32 + 0.5) * scale - 0.5).clamp(0.0, (src - 1) as f32);
                let left = centre.floor() as usize;
                let right = (left + 1).min(src - 1);
                let f = centre - left as f32;
                return vec![(left, 1.0 - f), (right, f)];
            }
            let (start, end) = (i as f32 * scale, ((i + 1) as f32 * scale).min(src as f32));
            let mut taps = Vec::new();
            let mut s = start.floor() as usize;
            while (s as f32) < end && s < src {
                let overlap = (end.min(s as f32 + 1.0) - start.max(s as f32)).max(0.0);
                if overlap > 0.0 {
                    taps.push((s, overlap / (end - start)));
                }
                s += 1;
            }
            taps
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_height_has_inked_glyphs_and_blank_spaces() {
        for height in [1, 8, 12, 16, 18, 30, 32, 48, 100, 1000] {
            let font = Font::new(height);
            let h = height.clamp(MIN_HEIGHT, MAX_HEIGHT);
            assert_eq!(font.height(), h);
            assert!(
                font.advance() >= h / 3 && font.advance() <= h,
                "{h}: {}",
                font.advance()
            );
            assert_eq!(font.glyph('A').len(), (font.advance() * h) as usize);
            assert!(font.glyph(' ').iter().all(|&a| a == 0), "{h}");
            let ink = |c| font.glyph(c).iter().filter(|&&a| a > 64).count();
            assert!(ink('W') > 0 && ink('8') > 0 && ink('.') > 0, "{h}");
            assert!(ink('W') > ink('.'), "{h}");
        }
    }

    #[test]
    fn unknown_characters_show_as_question_marks() {
        let font = Font::new(16);
        assert_eq!(font.glyph('é'), font.glyph('?'));
        assert_eq!(font.glyph('\n'), font.glyph('?'));
        assert_ne!(font.glyph('a'), font.glyph('?'));
        assert_eq!(font.width("héllo"), 5 * font.advance());
    }

    #[test]
    fn resampling_keeps_glyphs_recognisable() {
        // Downscaled 'I' and '-' keep their orientation: a tall stroke and a wide one.
        let font = Font::new(12);
        let (w, h) = (font.advance() as usize, font.height() as usize);
        let extent = |c| {
            let g = font.glyph(c);
            let cols = (0..w)
                .filter(|&x| (0..h).any(|y| g[y * w + x] > 100))
                .count();
            let rows = (0..h)
                .filter(|&y| (0..w).any(|x| g[y * w + x] > 100))
                .count();
            (cols, rows)
        };
        let (ic, ir) = extent('I');
        let (dc, dr) = extent('-');
        assert!(ir > ic, "I: {ic} cols {ir} rows");
        assert!(dc > dr, "-: {dc} cols {dr} rows");
    }
}
