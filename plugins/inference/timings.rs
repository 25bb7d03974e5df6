//! Time spent per stage by an element that runs a model, for its `stats`
//! property and the benchmarks.

use std::time::{Duration, Instant};

#[derive(Debug, Default, Clone, Copy)]
pub struct Timings {
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

    /// Adds the runs and times of `other` (another lane's).
    pub fn merge(&mut self, other: &Timings) {
        self.runs += other.runs;
        self.preprocess += other.preprocess;
        self.inference += other.inference;
        self.postprocess += other.postprocess;
    }

    /// Mean milliseconds of `d` per run.
    pub fn mean_ms(&self, d: Duration) -> f64 {
        if self.runs == 0 {
            0.0
        } else {
            d.as_secs_f64() * 1000.0 / self.runs as f64
        }
    }

    /// Adds `{prefix}runs` and the mean milliseconds per run of each step
    /// (`{prefix}preprocess-ms`, `{prefix}inference-ms`,
    /// `{prefix}postprocess-ms`) to `stats`.
    pub fn fields(&self, stats: gst::structure::Builder, prefix: &str) -> gst::structure::Builder {
        stats
            .field(format!("{prefix}runs"), self.runs)
            .field(
                format!("{prefix}preprocess-ms"),
                self.mean_ms(self.preprocess),
            )
            .field(
                format!("{prefix}inference-ms"),
                self.mean_ms(self.inference),
            )
            .field(
                format!("{prefix}postprocess-ms"),
                self.mean_ms(self.postprocess),
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn means_are_per_run() {
        gst::init().unwrap();
        let mut t = Timings::default();
        let start = Instant::now();
        let ms = Duration::from_millis;
        t.add_run([start, start + ms(1), start + ms(11), start + ms(12)]);
        t.add_run([start, start + ms(3), start + ms(13), start + ms(16)]);
        let s = t.fields(gst::Structure::builder("stats"), "face-").build();
        assert_eq!(s.get::<u64>("face-runs").unwrap(), 2);
        assert!((s.get::<f64>("face-preprocess-ms").unwrap() - 2.0).abs() < 1e-9);
        assert!((s.get::<f64>("face-inference-ms").unwrap() - 10.0).abs() < 1e-9);
        assert!((s.get::<f64>("face-postprocess-ms").unwrap() - 2.0).abs() < 1e-9);
    }
}
