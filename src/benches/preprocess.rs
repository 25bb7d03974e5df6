//! Benchmark of frame packing alone: `cargo bench -p cctv --bench preprocess`.

use std::time::Instant;

use cctv::letterbox::{Fit, Letterbox};
use cctv::preprocess::{Image, Packer, PixelFormat, TensorFormat, YuvMatrix};

fn main() {
    let (w, h) = (768u32, 576u32);
    let y: Vec<u8> = (0..w * h).map(|i| (i * 7 % 251) as u8).collect();
    let u: Vec<u8> = (0..w * h / 4).map(|i| (i * 3 % 241) as u8).collect();
    let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 5 % 253) as u8).collect();
    let tensor = TensorFormat {
        planar: true,
        bgr: true,
        scale: 1.0,
        mean: [0.0; 3],
        std: [1.0; 3],
        pad: 114,
    };
    let lb = Letterbox::new(w, h, 416, 416, Fit::LetterboxTopLeft);
    let mut out = vec![0.0f32; 3 * 416 * 416];
    let cases = [
        (
            "I420",
            PixelFormat::I420,
            [&y[..], &u[..], &u[..]],
            [w as usize, w as usize / 2, w as usize / 2],
        ),
        (
            "RGB",
            PixelFormat::Rgb,
            [&rgb[..], &[][..], &[][..]],
            [w as usize * 3, 0, 0],
        ),
    ];
    for (name, format, planes, strides) in cases {
        let mut packer = Packer::new(lb, format, YuvMatrix::Bt601, tensor);
        let img = Image {
            format,
            width: w,
            height: h,
            planes,
            strides,
        };
        let runs: u32 = std::env::var("BENCH_RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(300);
        let start = Instant::now();
        for _ in 0..runs {
            packer.pack_planar(&img, &mut out).unwrap();
        }
        let ms = start.elapsed().as_secs_f64() * 1e3 / runs as f64;
        println!("pack {name} {w}x{h} -> 416x416 float NCHW: {ms:.3} ms per frame");
    }
}
