//! Runs the ByteTrack library on MOTChallenge detections and writes
//! MOTChallenge results, to score the tracker with py-motmetrics or TrackEval.
//!
//! ```text
//! cargo run --release --example mot_track -- det.txt result.txt [--frame-rate 30] \
//!     [--high 0.5] [--low 0.1] [--new 0.6] [--match 0.8] [--buffer 30] [--min-area 10]
//! ```
//! Input lines: `frame,id,x,y,w,h,score[,...]` (frame 1-based, id ignored);
//! output lines: `frame,id,x,y,w,h,score,-1,-1,-1`. Every frame from 1 to
//! the last one is processed, including frames without detections.

use std::collections::BTreeMap;
use std::process::ExitCode;

use cctv::bbox::BBox;
use cctv::track::{ByteTrackConfig, ByteTracker, Detection};

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mot_track: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let mut config = ByteTrackConfig::default();
    let mut files = Vec::new();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| -> Result<f64, String> {
            let v = it.next().ok_or(format!("{name} needs a value"))?;
            v.parse().map_err(|_| format!("{name}: not a number: {v}"))
        };
        match arg.as_str() {
            "--frame-rate" => config.frame_rate = value(&arg)?,
            "--high" => config.track_high_thresh = value(&arg)? as f32,
            "--low" => config.track_low_thresh = value(&arg)? as f32,
            "--new" => config.new_track_thresh = value(&arg)? as f32,
            "--match" => config.match_thresh = value(&arg)? as f32,
            "--buffer" => config.track_buffer = value(&arg)? as u32,
            "--min-area" => config.min_box_area = value(&arg)? as f32,
            "-h" | "--help" => {
                return Err(
                    "usage: mot_track DET.txt OUT.txt [options]; see the source header".into(),
                );
            }
            _ if arg.starts_with("--") => return Err(format!("unknown option {arg}")),
            _ => files.push(arg),
        }
    }
    let [input, output] = files.as_slice() else {
        return Err("usage: mot_track DET.txt OUT.txt [options]".into());
    };
    let text = std::fs::read_to_string(input).map_err(|e| format!("cannot read {input}: {e}"))?;
    let frames = parse(&text).map_err(|e| format!("{input}: {e}"))?;
    let last = frames.keys().next_back().copied().unwrap_or(0);
    let mut tracker = ByteTracker::new(config);
    let mut out = String::new();
    for frame in 1..=last {
        let dets = frames.get(&frame).map(Vec::as_slice).unwrap_or(&[]);
        for o in tracker.update(dets, frame).objects {
            let b = o.bbox;
            out.push_str(&format!(
                "{frame},{},{:.2},{:.2},{:.2},{:.2},{:.4},-1,-1,-1\n",
                o.track_id, b.x, b.y, b.w, b.h, o.score
            ));
        }
    }
    std::fs::write(output, out).map_err(|e| format!("cannot write {output}: {e}"))
}

/// Detections per frame; an error names the line.
fn parse(text: &str) -> Result<BTreeMap<u64, Vec<Detection>>, String> {
    let mut frames: BTreeMap<u64, Vec<Detection>> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() < 7 {
            return Err(format!("line {}: expected frame,id,x,y,w,h,score", n + 1));
        }
        let num = |i: usize| {
            f[i].parse::<f64>()
                .map_err(|_| format!("line {}: bad number {:?}", n + 1, f[i]))
        };
        let frame = num(0)?;
        if frame < 1.0 || frame.fract() != 0.0 {
            return Err(format!(
                "line {}: frame must be a whole number from 1",
                n + 1
            ));
        }
        let bbox = BBox::new(
            num(2)? as f32,
            num(3)? as f32,
            num(4)? as f32,
            num(5)? as f32,
        );
        frames.entry(frame as u64).or_default().push(Detection {
            bbox,
            score: num(6)? as f32,
            class_id: 0,
        });
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mot_lines_and_reports_bad_ones() {
        let frames = parse("1,-1,10,20,30,40,0.9,-1,-1,-1\n\n3,-1,1,2,3,4,0.5\n").unwrap();
        assert_eq!(frames[&1][0].bbox, BBox::new(10.0, 20.0, 30.0, 40.0));
        assert_eq!(frames[&3][0].score, 0.5);
        assert!(parse("1,-1,10,20\n").unwrap_err().contains("line 1"));
        assert!(
            parse("1,-1,1,1,1,1,0.5\nx,-1,1,1,1,1,0.5\n")
                .unwrap_err()
                .contains("line 2")
        );
        assert!(parse("0,-1,1,1,1,1,0.5\n").is_err());
    }
}
