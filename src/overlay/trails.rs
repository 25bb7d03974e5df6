//! The last positions of each track, for drawing where people walked.
//! Memory is bounded: at most `length` points per track, at most
//! [`MAX_TRACKS`] tracks, and tracks not seen for [`FORGET_AFTER`] frames
//! are forgotten. Point buffers of forgotten tracks are reused.

use std::collections::{HashMap, VecDeque};

/// Tracks remembered at once; the longest unseen go first beyond it.
pub const MAX_TRACKS: usize = 1024;
/// Frames a track may go unseen before its trail is forgotten.
pub const FORGET_AFTER: u64 = 50;

#[derive(Debug)]
struct Trail {
    points: VecDeque<(f32, f32)>,
    last_seen: u64,
}

#[derive(Debug, Default)]
pub struct Trails {
    trails: HashMap<u64, Trail>,
    spare: Vec<VecDeque<(f32, f32)>>,
    frame: u64,
    length: usize,
}

impl Trails {
    pub fn new(length: usize) -> Trails {
        Trails {
            length,
            ..Trails::default()
        }
    }

    /// Points kept per track; shorter trails are cut at once.
    pub fn set_length(&mut self, length: usize) {
        self.length = length;
        for t in self.trails.values_mut() {
            while t.points.len() > length {
                t.points.pop_front();
            }
        }
    }

    /// Starts a frame: forgets tracks unseen for too long.
    pub fn next_frame(&mut self) {
        self.frame += 1;
        let frame = self.frame;
        let spare = &mut self.spare;
        self.trails.retain(|_, t| {
            let keep = frame - t.last_seen <= FORGET_AFTER;
            if !keep {
                let mut points = std::mem::take(&mut t.points);
                points.clear();
                spare.push(points);
            }
            keep
        });
    }

    /// Adds the position of `track` on this frame.
    pub fn push(&mut self, track: u64, point: (f32, f32)) {
        if self.length == 0 {
            return;
        }
        if !self.trails.contains_key(&track) && self.trails.len() >= MAX_TRACKS {
            self.forget_oldest();
        }
        let frame = self.frame;
        let spare = &mut self.spare;
        let trail = self.trails.entry(track).or_insert_with(|| Trail {
            points: spare.pop().unwrap_or_default(),
            last_seen: frame,
        });
        trail.last_seen = frame;
        if trail.points.len() >= self.length {
            trail.points.pop_front();
        }
        trail.points.push_back(point);
    }

    /// The positions of `track`, oldest first.
    pub fn points(&self, track: u64) -> impl Iterator<Item = (f32, f32)> + '_ {
        self.trails
            .get(&track)
            .into_iter()
            .flat_map(|t| t.points.iter().copied())
    }

    pub fn len(&self) -> usize {
        self.trails.len()
    }

    pub fn is_empty(&self) -> bool {
        self.trails.is_empty()
    }

    /// Forgets every track (a flush or a new stream).
    pub fn clear(&mut self) {
        for (_, mut t) in self.trails.drain() {
            t.points.clear();
            self.spare.push(t.points);
        }
    }

    fn forget_oldest(&mut self) {
        if let Some(&id) = self
            .trails
            .iter()
            .min_by_key(|(_, t)| t.last_seen)
            .map(|(id, _)| id)
            && let Some(mut t) = self.trails.remove(&id)
        {
            t.points.clear();
            self.spare.push(t.points);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_points_per_track() {
        let mut trails = Trails::new(3);
        for i in 0..5 {
            trails.next_frame();
            trails.push(1, (i as f32, 0.0));
            trails.push(2, (0.0, i as f32));
        }
        let one: Vec<_> = trails.points(1).collect();
        assert_eq!(one, [(2.0, 0.0), (3.0, 0.0), (4.0, 0.0)]);
        assert_eq!(trails.points(2).count(), 3);
        assert_eq!(trails.points(9).count(), 0);
        trails.set_length(1);
        assert_eq!(trails.points(1).collect::<Vec<_>>(), [(4.0, 0.0)]);
    }

    #[test]
    fn forgets_tracks_unseen_for_a_while_and_reuses_their_memory() {
        let mut trails = Trails::new(10);
        trails.next_frame();
        trails.push(1, (0.0, 0.0));
        for _ in 0..FORGET_AFTER {
            trails.next_frame();
            trails.push(2, (0.0, 0.0));
        }
        assert_eq!(trails.len(), 2, "seen {FORGET_AFTER} frames ago: kept");
        trails.next_frame();
        assert_eq!(trails.len(), 1);
        assert_eq!(trails.points(1).count(), 0);
        assert_eq!(trails.spare.len(), 1);
        trails.push(3, (1.0, 1.0));
        assert!(
            trails.spare.is_empty(),
            "the new track took the spare buffer"
        );
    }

    #[test]
    fn bounded_number_of_tracks() {
        let mut trails = Trails::new(2);
        trails.next_frame();
        for id in 0..(MAX_TRACKS as u64 + 10) {
            trails.push(id, (0.0, 0.0));
        }
        assert_eq!(trails.len(), MAX_TRACKS);
        assert_eq!(trails.points(MAX_TRACKS as u64 + 9).count(), 1);
        trails.clear();
        assert!(trails.is_empty());
    }

    #[test]
    fn zero_length_keeps_nothing() {
        let mut trails = Trails::new(0);
        trails.next_frame();
        trails.push(1, (0.0, 0.0));
        assert!(trails.is_empty());
    }
}
