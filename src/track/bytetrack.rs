//! The ByteTrack association loop over Kalman-filtered tracks.

use super::assign::assign;
use super::kalman::{Covariance, KalmanFilter, Mean};
use crate::bbox::BBox;
use crate::detect::Detection;
use crate::lifecycle::Kind;

/// Tracker thresholds; the defaults are those of the authors' code.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ByteTrackConfig {
    /// Detections at or above this score enter the first association.
    pub track_high_thresh: f32,
    /// Detections from this score up to the high threshold enter the second one.
    pub track_low_thresh: f32,
    /// An unmatched detection starts a track from this score.
    pub new_track_thresh: f32,
    /// Largest cost (1 - IoU x score) accepted in the first association.
    pub match_thresh: f32,
    /// Frames (at 30 fps) a lost track is kept.
    pub track_buffer: u32,
    pub frame_rate: f64,
    /// Tracks with smaller boxes are not output.
    pub min_box_area: f32,
}

impl Default for ByteTrackConfig {
    fn default() -> Self {
        ByteTrackConfig {
            track_high_thresh: 0.5,
            track_low_thresh: 0.1,
            new_track_thresh: 0.6,
            match_thresh: 0.8,
            track_buffer: 30,
            frame_rate: 30.0,
            min_box_area: 10.0,
        }
    }
}

impl ByteTrackConfig {
    fn max_time_lost(&self) -> u64 {
        (self.frame_rate / 30.0 * self.track_buffer as f64)
            .round()
            .max(1.0) as u64
    }
}

/// A confirmed track on the current frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackedObject {
    pub track_id: u64,
    /// The filtered box.
    pub bbox: BBox,
    pub score: f32,
    pub class_id: u32,
    /// Index of the matched detection in the frame's input.
    pub detection: Option<usize>,
    /// No detection on this frame: the box is the filter's prediction.
    pub predicted: bool,
}

/// A track's life-cycle change (the element adds the label and box to make
/// a [`crate::lifecycle::TrackEvent`]). Times are the timestamps given to
/// `update`: the track's first detection and its last match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackChange {
    pub kind: Kind,
    pub track_id: u64,
    pub class_id: u32,
    pub first_seen: u64,
    pub last_seen: u64,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct TrackerOutput {
    pub objects: Vec<TrackedObject>,
    pub events: Vec<TrackChange>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Tracked,
    Lost,
}

#[derive(Debug, Clone)]
struct Track {
    id: u64,
    class_id: u32,
    mean: Mean,
    cov: Covariance,
    score: f32,
    state: State,
    activated: bool,
    /// Frame the track was created on.
    start_frame: u64,
    /// Frame of the last match.
    end_frame: u64,
    first_seen: u64,
    last_seen: u64,
    /// Matched detection on the current frame.
    detection: Option<usize>,
}

impl Track {
    fn bbox(&self) -> BBox {
        let h = self.mean[3] as f32;
        let w = self.mean[2] as f32 * h;
        BBox::from_center(self.mean[0] as f32, self.mean[1] as f32, w, h)
    }

    fn change(&self, kind: Kind) -> TrackChange {
        TrackChange {
            kind,
            track_id: self.id,
            class_id: self.class_id,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
        }
    }
}

fn measurement(b: &BBox) -> [f64; 4] {
    let h = b.h.max(1e-3) as f64;
    [b.cx() as f64, b.cy() as f64, b.w as f64 / h, h]
}

/// ByteTrack over one stream.
#[derive(Debug)]
pub struct ByteTracker {
    config: ByteTrackConfig,
    kf: KalmanFilter,
    /// Tracked (confirmed or not) and lost tracks.
    tracks: Vec<Track>,
    frame: u64,
    next_id: u64,
    /// Reused per-frame buffers.
    cost: Vec<f32>,
}

impl ByteTracker {
    pub fn new(config: ByteTrackConfig) -> ByteTracker {
        ByteTracker {
            config,
            kf: KalmanFilter,
            tracks: Vec::new(),
            frame: 0,
            next_id: 1,
            cost: Vec::new(),
        }
    }

    pub fn config(&self) -> &ByteTrackConfig {
        &self.config
    }

    /// New thresholds, applied from the next frame.
    pub fn set_config(&mut self, config: ByteTrackConfig) {
        self.config = config;
    }

    /// Forgets every track (after a seek). Ids keep increasing, so a
    /// downstream consumer never sees an id reused within the process.
    pub fn reset(&mut self) {
        self.tracks.clear();
        self.frame = 0;
    }

    /// Ends every confirmed track with a `Removed` event, then resets.
    pub fn drain(&mut self, _timestamp: u64) -> Vec<TrackChange> {
        let events = self
            .tracks
            .iter()
            .filter(|t| t.activated)
            .map(|t| t.change(Kind::Removed))
            .collect();
        self.reset();
        events
    }

    /// A frame where the detector did not run: tracks move on their
    /// predicted course and are output as predicted; nobody is marked lost.
    pub fn predict(&mut self, timestamp: u64) -> TrackerOutput {
        let _ = timestamp;
        self.frame += 1;
        for t in &mut self.tracks {
            if t.state != State::Tracked {
                t.mean[7] = 0.0;
            }
            self.kf.predict(&mut t.mean, &mut t.cov);
            t.detection = None;
        }
        let mut events = Vec::new();
        self.expire_lost(&mut events);
        TrackerOutput {
            objects: self.output(true),
            events,
        }
    }

    /// A frame with the detector's output.
    pub fn update(&mut self, detections: &[Detection], timestamp: u64) -> TrackerOutput {
        self.frame += 1;
        let cfg = self.config;
        let mut events = Vec::new();
        for t in &mut self.tracks {
            t.detection = None;
            if t.state != State::Tracked {
                t.mean[7] = 0.0;
            }
            self.kf.predict(&mut t.mean, &mut t.cov);
        }

        let high: Vec<usize> = (0..detections.len())
            .filter(|&i| detections[i].score >= cfg.track_high_thresh)
            .collect();
        let low: Vec<usize> = (0..detections.len())
            .filter(|&i| {
                let s = detections[i].score;
                s >= cfg.track_low_thresh && s < cfg.track_high_thresh
            })
            .collect();

        // First association: high-score detections with confirmed tracked and lost tracks.
        let pool: Vec<usize> = (0..self.tracks.len())
            .filter(|&i| self.tracks[i].activated)
            .collect();
        let a = self.associate(&pool, detections, &high, cfg.match_thresh, true);
        for &(ti, di) in &a.matches {
            self.match_track(pool[ti], high[di], detections, timestamp, &mut events);
        }
        let remaining_high: Vec<usize> = a.unmatched_cols.iter().map(|&c| high[c]).collect();

        // Second association: low-score detections with the tracked tracks left over.
        let leftover: Vec<usize> = a
            .unmatched_rows
            .iter()
            .map(|&r| pool[r])
            .filter(|&t| self.tracks[t].state == State::Tracked)
            .collect();
        let b = self.associate(&leftover, detections, &low, 0.5, false);
        for &(ti, di) in &b.matches {
            self.match_track(leftover[ti], low[di], detections, timestamp, &mut events);
        }
        for &r in &b.unmatched_rows {
            let t = &mut self.tracks[leftover[r]];
            if t.state != State::Lost {
                t.state = State::Lost;
                events.push(t.change(Kind::Lost));
            }
        }

        // Unconfirmed tracks (seen once) with the remaining high-score detections.
        let unconfirmed: Vec<usize> = (0..self.tracks.len())
            .filter(|&i| !self.tracks[i].activated)
            .collect();
        let c = self.associate(&unconfirmed, detections, &remaining_high, 0.7, true);
        for &(ti, di) in &c.matches {
            self.match_track(
                unconfirmed[ti],
                remaining_high[di],
                detections,
                timestamp,
                &mut events,
            );
        }
        let mut dead: Vec<usize> = c.unmatched_rows.iter().map(|&r| unconfirmed[r]).collect();

        // New tracks from confident detections nobody claimed.
        for &col in &c.unmatched_cols {
            let di = remaining_high[col];
            let d = &detections[di];
            if d.score < cfg.new_track_thresh {
                continue;
            }
            let (mean, cov) = self.kf.initiate(&measurement(&d.bbox));
            let activated = self.frame == 1;
            let id = self.next_id;
            self.next_id += 1;
            let track = Track {
                id,
                class_id: d.class_id,
                mean,
                cov,
                score: d.score,
                state: State::Tracked,
                activated,
                start_frame: self.frame,
                end_frame: self.frame,
                first_seen: timestamp,
                last_seen: timestamp,
                detection: Some(di),
            };
            if activated {
                events.push(track.change(Kind::New));
            }
            self.tracks.push(track);
        }
        dead.sort_unstable();
        for i in dead.into_iter().rev() {
            self.tracks.swap_remove(i);
        }
        self.expire_lost(&mut events);
        self.remove_duplicates(&mut events);
        TrackerOutput {
            objects: self.output(false),
            events,
        }
    }

    /// Cost matrix (1 - IoU, optionally x score) between `tracks` and
    /// `dets`, infinite across classes, solved under `limit`.
    fn associate(
        &mut self,
        tracks: &[usize],
        detections: &[Detection],
        dets: &[usize],
        limit: f32,
        fuse_score: bool,
    ) -> super::assign::Assignment {
        self.cost.clear();
        for &t in tracks {
            let track = &self.tracks[t];
            let tb = track.bbox();
            for &d in dets {
                let det = &detections[d];
                let iou = if det.class_id == track.class_id {
                    tb.iou(&det.bbox)
                } else {
                    0.0
                };
                let sim = if fuse_score { iou * det.score } else { iou };
                self.cost.push(1.0 - sim);
            }
        }
        assign(&self.cost, tracks.len(), dets.len(), limit)
    }

    fn match_track(
        &mut self,
        t: usize,
        d: usize,
        detections: &[Detection],
        timestamp: u64,
        events: &mut Vec<TrackChange>,
    ) {
        let det = &detections[d];
        let frame = self.frame;
        let track = &mut self.tracks[t];
        self.kf
            .update(&mut track.mean, &mut track.cov, &measurement(&det.bbox));
        track.score = det.score;
        track.end_frame = frame;
        track.last_seen = timestamp;
        track.detection = Some(d);
        if track.state == State::Lost {
            events.push(track.change(Kind::Recovered));
        }
        track.state = State::Tracked;
        if !track.activated {
            track.activated = true;
            events.push(track.change(Kind::New));
        }
    }

    fn expire_lost(&mut self, events: &mut Vec<TrackChange>) {
        let max = self.config.max_time_lost();
        let frame = self.frame;
        self.tracks.retain(|t| {
            let expired = t.state == State::Lost && frame - t.end_frame > max;
            if expired {
                events.push(t.change(Kind::Removed));
            }
            !expired
        });
    }

    /// A tracked and a lost track on the same object (IoU > 0.85): keep the
    /// one tracked longer, as the authors' code does. A dropped confirmed
    /// track ends with `Removed`, unless it was confirmed on this very frame:
    /// then its `New` is withdrawn and, for consumers, it never existed.
    fn remove_duplicates(&mut self, events: &mut Vec<TrackChange>) {
        let mut drop = vec![false; self.tracks.len()];
        for i in 0..self.tracks.len() {
            for j in 0..self.tracks.len() {
                let (a, b) = (&self.tracks[i], &self.tracks[j]);
                if a.state != State::Tracked || b.state != State::Lost || a.class_id != b.class_id {
                    continue;
                }
                if 1.0 - a.bbox().iou(&b.bbox()) < 0.15 {
                    let age = |t: &Track| t.end_frame - t.start_frame;
                    if age(a) > age(b) {
                        drop[j] = true
                    } else {
                        drop[i] = true
                    }
                }
            }
        }
        for (t, _) in self
            .tracks
            .iter()
            .zip(&drop)
            .filter(|(t, d)| **d && t.activated)
        {
            let new_now = events
                .iter()
                .position(|e| e.kind == Kind::New && e.track_id == t.id);
            match new_now {
                Some(pos) => {
                    events.remove(pos);
                }
                None => events.push(t.change(Kind::Removed)),
            }
        }
        let mut k = 0;
        self.tracks.retain(|_| {
            k += 1;
            !drop[k - 1]
        });
    }

    fn output(&self, predicted: bool) -> Vec<TrackedObject> {
        self.tracks
            .iter()
            .filter(|t| t.activated && t.state == State::Tracked)
            .filter_map(|t| {
                let bbox = t.bbox();
                (bbox.area() > self.config.min_box_area).then_some(TrackedObject {
                    track_id: t.id,
                    bbox,
                    score: t.score,
                    class_id: t.class_id,
                    detection: if predicted { None } else { t.detection },
                    predicted: predicted || t.detection.is_none(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, y: f32, score: f32, class_id: u32) -> Detection {
        Detection {
            bbox: BBox::new(x, y, 20.0, 50.0),
            score,
            class_id,
        }
    }

    fn ids(out: &TrackerOutput) -> Vec<u64> {
        let mut v: Vec<u64> = out.objects.iter().map(|o| o.track_id).collect();
        v.sort_unstable();
        v
    }

    fn walk(t: &mut ByteTracker, frames: std::ops::Range<u64>, score: f32) -> Vec<TrackerOutput> {
        frames
            .map(|f| t.update(&[det(10.0 + 3.0 * f as f32, 100.0, score, 0)], f))
            .collect()
    }

    /// Puts a confirmed lost track (seen on frames 0-9) and a confirmed tracked
    /// one (seen on frames 8-10) on the same spot, as happens when a person's
    /// detections split and merge again; returns the tracker on frame 10.
    fn duplicates() -> ByteTracker {
        let mut t = ByteTracker::new(ByteTrackConfig::default());
        t.update(&[det(10.0, 10.0, 0.9, 0), det(200.0, 10.0, 0.9, 0)], 0);
        t.frame = 10;
        t.tracks[0].state = State::Lost;
        // Track 1: frames 1-9, now lost; track 2: frames 8-10 on the same spot.
        t.tracks[0].end_frame = 9;
        t.tracks[1].mean = t.tracks[0].mean;
        t.tracks[1].start_frame = 8;
        t.tracks[1].end_frame = 10;
        t
    }

    #[test]
    fn a_dropped_duplicate_ends_with_removed() {
        let mut t = duplicates();
        let mut events = vec![];
        t.remove_duplicates(&mut events);
        assert_eq!(t.tracks.len(), 1);
        assert_eq!(t.tracks[0].id, 1, "the older track stays");
        assert!(
            matches!(
                events[..],
                [TrackChange {
                    kind: Kind::Removed,
                    track_id: 2,
                    ..
                }]
            ),
            "{events:?}"
        );
    }

    #[test]
    fn a_duplicate_confirmed_on_this_frame_never_existed() {
        let mut t = duplicates();
        let mut events = vec![t.tracks[1].change(Kind::New)];
        t.remove_duplicates(&mut events);
        assert_eq!(t.tracks.len(), 1);
        assert!(events.is_empty(), "{events:?}");
    }

    #[test]
    fn first_frame_tracks_are_confirmed_and_ids_persist() {
        let mut t = ByteTracker::new(ByteTrackConfig::default());
        let out = t.update(&[det(10.0, 10.0, 0.9, 0), det(200.0, 10.0, 0.8, 0)], 0);
        assert_eq!(ids(&out), vec![1, 2]);
        assert_eq!(out.events.len(), 2);
        for f in 1..20u64 {
            let dx = 2.0 * f as f32;
            let out = t.update(
                &[det(200.0 + dx, 10.0, 0.8, 0), det(10.0 + dx, 10.0, 0.9, 0)],
                f,
            );
            assert_eq!(ids(&out), vec![1, 2]);
            let first = out.objects.iter().find(|o| o.track_id == 1).unwrap();
            assert_eq!(
                first.detection,
                Some(1),
                "track 1 follows the detection moving from x=10"
            );
        }
    }

    #[test]
    fn a_track_starting_later_needs_a_second_detection() {
        let mut t = ByteTracker::new(ByteTrackConfig::default());
        t.update(&[], 0);
        let out = t.update(&[det(50.0, 50.0, 0.9, 0)], 1);
        assert!(
            out.objects.is_empty() && out.events.is_empty(),
            "unconfirmed"
        );
        let out = t.update(&[det(52.0, 50.0, 0.9, 0)], 2);
        assert_eq!(ids(&out), vec![1]);
        assert_eq!(
            out.events,
            vec![TrackChange {
                kind: Kind::New,
                track_id: 1,
                class_id: 0,
                first_seen: 1,
                last_seen: 2,
            }]
        );
    }

    #[test]
    fn id_survives_a_short_occlusion() {
        let mut t = ByteTracker::new(ByteTrackConfig::default());
        walk(&mut t, 0..10, 0.9);
        for f in 10..15 {
            let out = t.update(&[], f);
            assert!(out.objects.is_empty());
        }
        let out = t.update(&[det(10.0 + 3.0 * 15.0, 100.0, 0.9, 0)], 15);
        assert_eq!(ids(&out), vec![1], "same id after 5 frames unseen");
        assert!(
            out.events.contains(&TrackChange {
                kind: Kind::Recovered,
                track_id: 1,
                class_id: 0,
                first_seen: 0,
                last_seen: 15,
            }),
            "first and last match: {:?}",
            out.events
        );
    }

    #[test]
    fn low_score_detections_keep_the_track_alive() {
        // The ByteTrack point: a person half hidden scores 0.3 for a while.
        let run = |low_thresh: f32| {
            let mut t = ByteTracker::new(ByteTrackConfig {
                track_low_thresh: low_thresh,
                ..Default::default()
            });
            walk(&mut t, 0..10, 0.9);
            let dim = walk(&mut t, 10..20, 0.3);
            let back = walk(&mut t, 20..25, 0.9);
            (dim, back)
        };
        let (dim, back) = run(0.1);
        assert!(
            dim.iter().all(|o| ids(o) == vec![1]),
            "tracked through the low scores"
        );
        assert!(back.iter().all(|o| ids(o) == vec![1]));
        // Without the second association the same track is lost during the dip.
        let (dim, _) = run(0.5);
        assert!(dim.iter().all(|o| o.objects.is_empty()));
        assert!(dim[0].events.contains(&TrackChange {
            kind: Kind::Lost,
            track_id: 1,
            class_id: 0,
            first_seen: 0,
            last_seen: 9,
        }));
    }

    #[test]
    fn lost_tracks_are_removed_after_the_buffer() {
        let mut t = ByteTracker::new(ByteTrackConfig {
            track_buffer: 5,
            ..Default::default()
        });
        walk(&mut t, 0..3, 0.9);
        let mut removed_at = None;
        for f in 3..20 {
            let out = t.update(&[], f);
            if out.events.iter().any(|e| e.kind == Kind::Removed) {
                removed_at = Some(f);
                assert_eq!(
                    out.events,
                    vec![TrackChange {
                        kind: Kind::Removed,
                        track_id: 1,
                        class_id: 0,
                        first_seen: 0,
                        last_seen: 2,
                    }]
                );
            }
        }
        // Last matched on the 3rd frame (timestamp 2); removed on the first
        // frame more than 5 frames later: the 9th (timestamp 8).
        assert_eq!(removed_at, Some(8));
    }

    #[test]
    fn classes_never_share_a_track() {
        let mut t = ByteTracker::new(ByteTrackConfig::default());
        // A person and a bicycle overlapping almost exactly, for 10 frames.
        for f in 0..10u64 {
            let x = 10.0 + 2.0 * f as f32;
            let out = t.update(&[det(x, 10.0, 0.9, 0), det(x + 1.0, 11.0, 0.8, 1)], f);
            let mut got: Vec<(u64, u32)> = out
                .objects
                .iter()
                .map(|o| (o.track_id, o.class_id))
                .collect();
            got.sort_unstable();
            assert_eq!(got, vec![(1, 0), (2, 1)], "frame {f}");
        }
    }

    #[test]
    fn predicted_frames_keep_ids_and_drain_ends_everyone() {
        let mut t = ByteTracker::new(ByteTrackConfig::default());
        walk(&mut t, 0..5, 0.9);
        let p = t.predict(5);
        assert_eq!(ids(&p), vec![1]);
        assert!(p.objects[0].predicted && p.objects[0].detection.is_none());
        // Moving 3 px per frame: the prediction continues the motion.
        assert!(
            (p.objects[0].bbox.x - (10.0 + 3.0 * 5.0)).abs() < 1.5,
            "{:?}",
            p.objects[0].bbox
        );
        let out = t.update(&[det(10.0 + 3.0 * 6.0, 100.0, 0.9, 0)], 6);
        assert_eq!(ids(&out), vec![1]);
        assert!(!out.objects[0].predicted);
        let drained = t.drain(7);
        assert!(matches!(
            drained[..],
            [TrackChange {
                kind: Kind::Removed,
                track_id: 1,
                first_seen: 0,
                last_seen: 6,
                ..
            }]
        ));
        assert!(t.update(&[], 8).objects.is_empty());
    }
}
