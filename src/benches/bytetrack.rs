//! Benchmark of the tracker alone: `cargo bench -p cctv --bench bytetrack`.
//! Objects walk on straight lines with jitter, a few detections go missing
//! and some score low, as on a real camera.

use std::time::Instant;

use cctv::bbox::BBox;
use cctv::track::{ByteTrackConfig, ByteTracker, Detection};

/// xorshift64: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 10_000) as f32 / 10_000.0
    }
}

fn main() {
    for objects in [10usize, 50, 200] {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        // Objects spread over a 1920x1080 frame, each with its own velocity.
        let starts: Vec<(f32, f32, f32, f32)> = (0..objects)
            .map(|_| {
                (
                    rng.next() * 1800.0,
                    rng.next() * 950.0,
                    rng.next() * 4.0 - 2.0,
                    rng.next() * 2.0 - 1.0,
                )
            })
            .collect();
        let frames = 3000usize;
        let scenes: Vec<Vec<Detection>> = (0..frames)
            .map(|f| {
                starts
                    .iter()
                    .filter_map(|&(x, y, vx, vy)| {
                        let r = rng.next();
                        if r < 0.05 {
                            return None;
                        }
                        let (x, y) = (
                            (x + vx * f as f32).rem_euclid(1800.0),
                            (y + vy * f as f32).rem_euclid(950.0),
                        );
                        let jitter = rng.next() * 2.0 - 1.0;
                        let score = if r < 0.15 {
                            0.3
                        } else {
                            0.6 + rng.next() * 0.35
                        };
                        Some(Detection {
                            bbox: BBox::new(x + jitter, y, 40.0, 100.0 + jitter),
                            score,
                            class_id: 0,
                        })
                    })
                    .collect()
            })
            .collect();
        let mut tracker = ByteTracker::new(ByteTrackConfig::default());
        let start = Instant::now();
        let mut tracked = 0usize;
        for (f, dets) in scenes.iter().enumerate() {
            tracked += tracker.update(dets, f as u64).objects.len();
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "bytetrack {objects:>3} objects/frame: {:>9.0} frames/s ({:.1} us/frame, {:.1} tracked on average)",
            frames as f64 / secs,
            secs * 1e6 / frames as f64,
            tracked as f64 / frames as f64
        );
    }
}
