//! A frame's capture time drawn into its picture, so that a viewer can read
//! it back from the pixels it presents and measure latency end to end with
//! its own clock (on the same machine: the same clock).
//!
//! The pattern sits in the top-left corner: two rows of [`BITS`] square
//! cells, each `width / 64` pixels across (so it survives scaling): the
//! first row holds the time in milliseconds since the Unix epoch (modulo
//! 2^48, most significant bit first; white is 1), the second the same bits
//! inverted, so a reader tells the pattern from picture content (every
//! column must differ).

use super::{Canvas, Rgb};

/// Bits in the pattern.
pub const BITS: usize = 48;
/// The picture's width holds this many cells.
const CELLS_ACROSS: usize = 64;

/// Cell `i`'s edges `[from, to)` along a side `width` pixels long.
fn edges(i: usize, width: usize) -> (usize, usize) {
    (i * width / CELLS_ACROSS, (i + 1) * width / CELLS_ACROSS)
}

/// Whether bit `i` (0 the most significant) of `ms` is set.
fn bit(ms: u64, i: usize) -> bool {
    (ms >> (BITS - 1 - i)) & 1 == 1
}

/// Draws `ms` into `canvas`; a picture narrower than 128 pixels (cells
/// under 2 pixels) gets nothing.
pub fn draw(canvas: &mut Canvas, ms: u64) {
    let width = canvas.width() as usize;
    if width < 2 * CELLS_ACROSS {
        return;
    }
    let (white, black) = (canvas.paint(Rgb::WHITE), canvas.paint(Rgb::BLACK));
    let (_, row) = edges(0, width);
    for i in 0..BITS {
        let (x0, x1) = edges(i, width);
        let one = bit(ms, i);
        for (y0, value) in [(0, one), (row, !one)] {
            let paint = if value { white } else { black };
            canvas.fill_rect(x0 as i32, y0 as i32, x1 as i32, (y0 + row) as i32, paint);
        }
    }
}

/// The time in a picture's luma (or any plane where light is high), read
/// at each cell's centre; `None` where no pattern is.
pub fn read(luma: &[u8], stride: usize, width: usize) -> Option<u64> {
    if width < 2 * CELLS_ACROSS {
        return None;
    }
    let (_, row) = edges(0, width);
    let at = |x: usize, y: usize| luma.get(y * stride + x).map(|&v| v >= 128);
    let mut ms = 0u64;
    for i in 0..BITS {
        let (x0, x1) = edges(i, width);
        let x = (x0 + x1) / 2;
        let (top, bottom) = (at(x, row / 2)?, at(x, row + row / 2)?);
        if top == bottom {
            return None;
        }
        ms = (ms << 1) | top as u64;
    }
    Some(ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preprocess::{PixelFormat, YuvMatrix};

    fn i420(width: usize, height: usize, fill: u8) -> Vec<u8> {
        vec![fill; width * height * 3 / 2]
    }

    fn draw_i420(frame: &mut [u8], width: usize, height: usize, ms: u64) {
        let (y, chroma) = frame.split_at_mut(width * height);
        let (u, v) = chroma.split_at_mut(width * height / 4);
        let mut canvas = Canvas::new(
            PixelFormat::I420,
            YuvMatrix::Bt601,
            width as u32,
            height as u32,
            [y, u, v],
            [width, width / 2, width / 2],
        )
        .unwrap();
        draw(&mut canvas, ms);
    }

    #[test]
    fn a_time_reads_back_on_dark_and_light_pictures() {
        let ms = 1_796_000_123_456u64;
        for fill in [0u8, 128, 255] {
            let mut frame = i420(640, 480, fill);
            draw_i420(&mut frame, 640, 480, ms);
            assert_eq!(read(&frame, 640, 640), Some(ms), "fill {fill}");
        }
    }

    #[test]
    fn scaling_the_picture_keeps_it_readable() {
        let ms = (1u64 << 47) | 0x5555_AAAA;
        let mut frame = i420(768, 576, 90);
        draw_i420(&mut frame, 768, 576, ms);
        // Nearest-neighbour down to 640 wide, as a scaler would, roughly.
        let small: Vec<u8> = (0..480)
            .flat_map(|y| (0..640).map(move |x| (x * 768 / 640, y * 576 / 480)))
            .map(|(x, y)| frame[y * 768 + x])
            .collect();
        assert_eq!(read(&small, 640, 640), Some(ms));
    }

    #[test]
    fn a_picture_without_the_pattern_reads_as_none() {
        assert_eq!(read(&i420(640, 480, 200), 640, 640), None);
        let stripes: Vec<u8> = (0..640 * 480)
            .map(|i| ((i % 640) / 10 % 2 * 255) as u8)
            .collect();
        assert_eq!(read(&stripes, 640, 640), None);
    }

    #[test]
    fn too_narrow_a_picture_gets_nothing() {
        let mut frame = i420(100, 80, 7);
        draw_i420(&mut frame, 100, 80, 12345);
        assert!(frame.iter().all(|&v| v == 7));
        assert_eq!(read(&frame, 100, 100), None);
    }
}
