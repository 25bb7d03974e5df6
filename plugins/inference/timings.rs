//! Time spent per stage by an element that runs a model, for its `stats`
//! property and the benchmark.

use std::time::{Duration, Instant};

#[derive(Debug, Default, Clone, Copy)]
pub struct Timings {
    /// Frames seen, with or without a run.
    pub frames: u64,
    /// Model runs.
    pub runs: u64,
    pub preprocess: Duration,
    pub inference: Duration,
    pub postprocess: Duration,
}

impl Timings {
    /// Adds one run from the instants it started, finished packing, finished
    /// inference and finished reading the outputs.
    pub fn add_run(&mut self, [start, packed, inferred, done]: [Instant; 4]) {
        self.runs += 1;
        self.preprocess += packed - start;
        self.inference += inferred - packed;
        self.postprocess += done - inferred;
    }

    /// `name, frames, inferred` and the mean milliseconds per run of each
    /// stage (`preprocess-ms`, `inference-ms`, `postprocess-ms`).
    pub fn to_structure(&self, name: &str) -> gst::Structure {
        let mean_ms = |d: Duration| {
            if self.runs == 0 {
                0.0
            } else {
                d.as_secs_f64() * 1000.0 / self.runs as f64
            }
        };
        gst::Structure::builder(name)
            .field("frames", self.frames)
            .field("inferred", self.runs)
            .field("preprocess-ms", mean_ms(self.preprocess))
            .field("inference-ms", mean_ms(self.inference))
            .field("postprocess-ms", mean_ms(self.postprocess))
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn means_are_per_run() {
        gst::init().unwrap();
        let mut t = Timings {
            frames: 3,
            ..Timings::default()
        };
        let start = Instant::now();
        let ms = Duration::from_millis;
        t.add_run([start, start + ms(1), start + ms(11), start + ms(12)]);
        t.add_run([start, start + ms(3), start + ms(13), start + ms(16)]);
        let s = t.to_structure("stats");
        assert_eq!(s.get::<u64>("inferred").unwrap(), 2);
        assert_eq!(s.get::<u64>("frames").unwrap(), 3);
        assert!((s.get::<f64>("preprocess-ms").unwrap() - 2.0).abs() < 1e-9);
        assert!((s.get::<f64>("inference-ms").unwrap() - 10.0).abs() < 1e-9);
        assert!((s.get::<f64>("postprocess-ms").unwrap() - 2.0).abs() < 1e-9);
    }
}
