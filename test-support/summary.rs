//! The short table `./run bench` prints before the full benchmarks: when
//! `BENCH_SUMMARY` names a file, a benchmark appends its headline figures
//! there as Markdown table rows (what, figure, how it was measured); and
//! the percentiles the benchmarks print.

use std::io::Write;

/// Appends one row to the summary file, if `BENCH_SUMMARY` names one.
pub fn summary_row(what: &str, figure: &str, detail: &str) {
    let Some(path) = std::env::var_os("BENCH_SUMMARY") else {
        return;
    };
    let row = format!("| {what} | {figure} | {detail} |\n");
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(row.as_bytes()))
        .unwrap_or_else(|e| panic!("BENCH_SUMMARY {}: {e}", path.display()));
}

/// The value at fraction `p` of `sorted` (nearest rank, rounded), NaN
/// when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}
