//! A classifier's results per track: when a track is due for (another)
//! classification, and the confidence-weighted vote over its results, so
//! the label is stable while a face turns away for a frame or two.
//! Memory is bounded: tracks are forgotten when the tracker removes them,
//! and beyond a capacity the track seen longest ago goes first.

use std::collections::HashMap;

/// When tracks are classified again (DL Streamer `gvaclassify`'s
/// `reclassify-interval`): 0 once only, 1 on every frame, N every N frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub reclassify_interval: u32,
}

/// The result of a track's vote.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Vote {
    /// Index of the winning class.
    pub class: usize,
    /// The winner's confidence-weighted mean probability.
    pub confidence: f32,
    /// Classifications the vote is over.
    pub count: u32,
}

#[derive(Debug, Clone)]
struct Track {
    /// Sum of weight x probability, per class.
    sums: Vec<f32>,
    weight: f32,
    count: u32,
    /// Frame of the last classification.
    classified_at: u64,
    /// Frame the track was last asked about, for eviction.
    seen_at: u64,
}

/// Votes of the live tracks of one stream.
#[derive(Debug)]
pub struct TrackVotes {
    classes: usize,
    capacity: usize,
    tracks: HashMap<u64, Track>,
}

impl TrackVotes {
    /// Votes over `classes` classes, for at most `capacity` tracks.
    pub fn new(classes: usize, capacity: usize) -> TrackVotes {
        TrackVotes {
            classes,
            capacity: capacity.max(1),
            tracks: HashMap::new(),
        }
    }

    /// Whether track `id` should be classified on `frame`. A track with no
    /// classification yet is always due (it has shown no face so far).
    pub fn due(&mut self, id: u64, frame: u64, schedule: Schedule) -> bool {
        let Some(t) = self.tracks.get_mut(&id) else {
            return true;
        };
        t.seen_at = frame;
        if t.count == 0 {
            return true;
        }
        match schedule.reclassify_interval {
            0 => false,
            n => frame.saturating_sub(t.classified_at) >= n as u64,
        }
    }

    /// Adds a classification of track `id` on `frame` (one probability per
    /// class). A result near uniform weighs little: its weight is how far
    /// its top probability is above chance, from 0 to 1.
    pub fn add(&mut self, id: u64, frame: u64, probabilities: &[f32]) {
        if probabilities.len() != self.classes || self.classes == 0 {
            return;
        }
        if !self.tracks.contains_key(&id) && self.tracks.len() >= self.capacity {
            self.evict();
        }
        let classes = self.classes;
        let t = self.tracks.entry(id).or_insert_with(|| Track {
            sums: vec![0.0; classes],
            weight: 0.0,
            count: 0,
            classified_at: frame,
            seen_at: frame,
        });
        let chance = 1.0 / classes as f32;
        let top = probabilities.iter().copied().fold(0.0f32, f32::max);
        let weight = if classes == 1 {
            1.0
        } else {
            ((top - chance) / (1.0 - chance)).clamp(0.0, 1.0)
        };
        for (s, &p) in t.sums.iter_mut().zip(probabilities) {
            if p.is_finite() {
                *s += weight * p;
            }
        }
        t.weight += weight;
        t.count += 1;
        t.classified_at = frame;
        t.seen_at = frame;
    }

    /// The track's current vote; `None` before any classification, or when
    /// every classification was at chance.
    pub fn vote(&self, id: u64) -> Option<Vote> {
        let t = self.tracks.get(&id)?;
        if t.weight <= f32::EPSILON {
            return None;
        }
        let (class, sum) =
            t.sums
                .iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (i, &s)| {
                    if s > best.1 { (i, s) } else { best }
                });
        Some(Vote {
            class,
            confidence: (sum / t.weight).clamp(0.0, 1.0),
            count: t.count,
        })
    }

    /// The track's confidence-weighted mean probabilities into `out` (one
    /// per class) and the classifications they are over; `None` before any
    /// classification, or when every classification was at chance.
    pub fn mean(&self, id: u64, out: &mut Vec<f32>) -> Option<u32> {
        let t = self.tracks.get(&id)?;
        if t.weight <= f32::EPSILON {
            return None;
        }
        out.clear();
        out.extend(t.sums.iter().map(|s| (s / t.weight).clamp(0.0, 1.0)));
        Some(t.count)
    }

    /// Forgets a track (the tracker removed it).
    pub fn remove(&mut self, id: u64) {
        self.tracks.remove(&id);
    }

    pub fn clear(&mut self) {
        self.tracks.clear();
    }

    /// Tracks remembered.
    pub fn len(&self) -> usize {
        self.tracks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }

    fn evict(&mut self) {
        if let Some(oldest) = self
            .tracks
            .iter()
            .min_by_key(|(id, t)| (t.seen_at, **id))
            .map(|(id, _)| *id)
        {
            self.tracks.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONCE: Schedule = Schedule {
        reclassify_interval: 0,
    };

    #[test]
    fn a_confident_majority_outweighs_an_unsure_minority() {
        let mut votes = TrackVotes::new(2, 16);
        assert_eq!(votes.vote(1), None);
        // Two sure "female" views, three unsure "male" ones (a turned head).
        for (f, p) in [0.95, 0.4, 0.45, 0.9, 0.42].iter().enumerate() {
            votes.add(1, f as u64, &[*p, 1.0 - p]);
        }
        let v = votes.vote(1).unwrap();
        assert_eq!((v.class, v.count), (0, 5));
        assert!(v.confidence > 0.8 && v.confidence <= 1.0, "{v:?}");
        // A track seen only at chance has no vote.
        votes.add(2, 0, &[0.5, 0.5]);
        assert_eq!(votes.vote(2), None);
        // Results of the wrong length are ignored, not a panic.
        votes.add(3, 0, &[1.0]);
        assert_eq!(votes.vote(3), None);
    }

    #[test]
    fn reclassify_interval_follows_gvaclassify() {
        let every = |n| Schedule {
            reclassify_interval: n,
        };
        for (schedule, expect) in [
            (ONCE, vec![true, false, false, false, false, false, false]),
            (every(1), vec![true; 7]),
            (every(3), vec![true, false, false, true, false, false, true]),
        ] {
            let mut votes = TrackVotes::new(2, 16);
            let got: Vec<bool> = (0..7u64)
                .map(|f| {
                    let due = votes.due(9, f, schedule);
                    if due {
                        votes.add(9, f, &[0.9, 0.1]);
                    }
                    due
                })
                .collect();
            assert_eq!(got, expect, "{schedule:?}");
        }
        // Until a face is classified, the track stays due.
        let mut votes = TrackVotes::new(2, 16);
        assert!(votes.due(4, 0, ONCE) && votes.due(4, 1, ONCE));
    }

    #[test]
    fn removed_and_oldest_tracks_are_forgotten() {
        let mut votes = TrackVotes::new(2, 3);
        for id in 0..3 {
            votes.add(id, id, &[0.9, 0.1]);
        }
        votes.remove(1);
        assert_eq!(votes.len(), 2);
        assert!(votes.vote(1).is_none());
        votes.add(3, 10, &[0.9, 0.1]);
        // Full: a new track pushes out the one seen longest ago (track 0),
        // unless it was asked about recently.
        votes.due(0, 11, ONCE);
        votes.add(4, 12, &[0.9, 0.1]);
        assert_eq!(votes.len(), 3);
        assert!(votes.vote(0).is_some());
        assert!(votes.vote(2).is_none());
        for id in 100..10_000 {
            votes.add(id, id, &[0.2, 0.8]);
        }
        assert_eq!(votes.len(), 3);
    }
}
