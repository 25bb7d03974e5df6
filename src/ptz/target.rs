//! Which tracked object the camera follows: a chosen track id or the best
//! one by a policy, held while it is tracked and replaced when it is lost.

use std::collections::HashMap;

use crate::bbox::BBox;
use crate::objects::Object;

/// How a target is chosen among the tracked objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    #[default]
    Largest,
    MostConfident,
    /// The track seen first.
    Oldest,
    ClosestToCenter,
}

impl Policy {
    pub const ALL: [Policy; 4] = [
        Policy::Largest,
        Policy::MostConfident,
        Policy::Oldest,
        Policy::ClosestToCenter,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Policy::Largest => "largest",
            Policy::MostConfident => "most-confident",
            Policy::Oldest => "oldest",
            Policy::ClosestToCenter => "closest-to-center",
        }
    }

    pub fn from_name(name: &str) -> Option<Policy> {
        Policy::ALL.into_iter().find(|p| p.name() == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SelectorConfig {
    pub policy: Policy,
    /// Follow only this track id.
    pub target_id: Option<u64>,
    /// Seconds without any target after which the search ends.
    pub lost_timeout: f64,
}

impl Default for SelectorConfig {
    fn default() -> Self {
        SelectorConfig {
            policy: Policy::default(),
            target_id: None,
            lost_timeout: 5.0,
        }
    }
}

/// What the selector decided for one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Selection {
    /// Follow this object; `switched` when it is not the previous frame's target.
    Track {
        track_id: u64,
        bbox: BBox,
        switched: bool,
    },
    /// The target is gone and nothing can replace it yet.
    Lost,
    /// Nothing to follow for `lost_timeout`: reported once.
    Expired,
    /// Nothing followed, nothing searched for.
    Idle,
}

#[derive(Debug, Clone)]
pub struct Selector {
    config: SelectorConfig,
    current: Option<u64>,
    /// When the last target was lost, while searching.
    lost_since: Option<f64>,
    /// First and last sighting of each track, in seconds.
    seen: HashMap<u64, (f64, f64)>,
}

impl Selector {
    pub fn new(config: SelectorConfig) -> Selector {
        Selector {
            config,
            current: None,
            lost_since: None,
            seen: HashMap::new(),
        }
    }

    pub fn set_config(&mut self, config: SelectorConfig) {
        if config.target_id.is_some() && config.target_id != self.config.target_id {
            self.current = None;
        }
        self.config = config;
    }

    pub fn current(&self) -> Option<u64> {
        self.current
    }

    /// Back to idle, forgetting every track.
    pub fn reset(&mut self) {
        self.current = None;
        self.lost_since = None;
        self.seen.clear();
    }

    /// Chooses the target among the `objects` of a `width` x `height` frame
    /// seen at `now` seconds. Untracked objects are never followed.
    pub fn update(&mut self, now: f64, width: u32, height: u32, objects: &[Object]) -> Selection {
        for o in objects {
            if let Some(id) = o.track_id {
                self.seen.entry(id).or_insert((now, now)).1 = now;
            }
        }
        let keep = self.config.lost_timeout.max(1.0);
        self.seen.retain(|_, (_, last)| now - *last <= keep);

        let candidates = objects.iter().filter_map(|o| {
            let id = o.track_id?;
            match self.config.target_id {
                Some(wanted) if wanted != id => None,
                _ => Some((id, o)),
            }
        });
        if let Some(current) = self.current
            && let Some((id, o)) = candidates.clone().find(|(id, _)| *id == current)
        {
            self.lost_since = None;
            return Selection::Track {
                track_id: id,
                bbox: o.bbox,
                switched: false,
            };
        }
        let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
        let best = candidates.min_by(|(a_id, a), (b_id, b)| {
            let key = |id: &u64, o: &Object| -> f64 {
                match self.config.policy {
                    Policy::Largest => -(o.bbox.area() as f64),
                    Policy::MostConfident => -(o.confidence as f64),
                    Policy::Oldest => self.seen.get(id).map_or(now, |s| s.0),
                    Policy::ClosestToCenter => {
                        ((o.bbox.cx() - cx).powi(2) + (o.bbox.cy() - cy).powi(2)) as f64
                    }
                }
            };
            // Ties go to the lower (older) id, so the choice is stable.
            key(a_id, a).total_cmp(&key(b_id, b)).then(a_id.cmp(b_id))
        });
        if let Some((id, o)) = best {
            self.current = Some(id);
            self.lost_since = None;
            return Selection::Track {
                track_id: id,
                bbox: o.bbox,
                switched: true,
            };
        }
        if self.current.take().is_some() {
            self.lost_since = Some(now);
        }
        match self.lost_since {
            Some(since) if now - since >= self.config.lost_timeout => {
                self.lost_since = None;
                Selection::Expired
            }
            Some(_) => Selection::Lost,
            None => Selection::Idle,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(id: u64, x: f32, w: f32, conf: f32) -> Object {
        let mut o = Object::new(BBox::new(x, 100.0, w, w * 2.0), 0, "person", conf);
        o.track_id = Some(id);
        o
    }

    fn tracked(s: Selection) -> Option<(u64, bool)> {
        match s {
            Selection::Track {
                track_id, switched, ..
            } => Some((track_id, switched)),
            _ => None,
        }
    }

    #[test]
    fn each_policy_picks_its_object() {
        // 1: most confident; 2: largest; 3: seen first; 4: closest to the centre.
        let frame = [
            obj(1, 10.0, 20.0, 0.9),
            obj(2, 100.0, 100.0, 0.6),
            obj(3, 800.0, 40.0, 0.5),
            obj(4, 490.0, 20.0, 0.4),
        ];
        let expect = [
            (Policy::Largest, 2),
            (Policy::MostConfident, 1),
            (Policy::Oldest, 3),
            (Policy::ClosestToCenter, 4),
        ];
        for (policy, id) in expect {
            // Following a track that never comes, while 3 appears first.
            let mut s = Selector::new(SelectorConfig {
                policy,
                target_id: Some(99),
                ..SelectorConfig::default()
            });
            assert_eq!(s.update(0.0, 1000, 1000, &frame[2..3]), Selection::Idle);
            s.set_config(SelectorConfig {
                policy,
                ..SelectorConfig::default()
            });
            let got = tracked(s.update(1.0, 1000, 1000, &frame));
            assert_eq!(got, Some((id, true)), "{policy:?}");
        }
        for p in Policy::ALL {
            assert_eq!(Policy::from_name(p.name()), Some(p));
        }
    }

    #[test]
    fn holds_the_target_while_tracked_even_when_another_is_better() {
        let mut s = Selector::new(SelectorConfig::default());
        assert_eq!(
            tracked(s.update(0.0, 1000, 1000, &[obj(1, 0.0, 50.0, 0.9)])),
            Some((1, true))
        );
        let both = [obj(1, 0.0, 50.0, 0.9), obj(2, 300.0, 200.0, 0.9)];
        assert_eq!(tracked(s.update(0.1, 1000, 1000, &both)), Some((1, false)));
    }

    #[test]
    fn reselects_when_lost_and_expires_after_the_timeout() {
        let mut s = Selector::new(SelectorConfig {
            lost_timeout: 2.0,
            ..SelectorConfig::default()
        });
        s.update(0.0, 1000, 1000, &[obj(1, 0.0, 50.0, 0.9)]);
        assert_eq!(
            tracked(s.update(0.1, 1000, 1000, &[obj(2, 0.0, 30.0, 0.9)])),
            Some((2, true))
        );
        assert_eq!(s.update(0.2, 1000, 1000, &[]), Selection::Lost);
        assert_eq!(s.update(2.1, 1000, 1000, &[]), Selection::Lost);
        assert_eq!(s.update(2.2, 1000, 1000, &[]), Selection::Expired);
        assert_eq!(s.update(2.3, 1000, 1000, &[]), Selection::Idle);
        assert_eq!(
            tracked(s.update(3.0, 1000, 1000, &[obj(2, 0.0, 30.0, 0.9)])),
            Some((2, true))
        );
        // A target back before the timeout cancels the search.
        assert_eq!(s.update(3.1, 1000, 1000, &[]), Selection::Lost);
        assert!(tracked(s.update(4.0, 1000, 1000, &[obj(2, 0.0, 30.0, 0.9)])).is_some());
        assert_eq!(s.update(5.5, 1000, 1000, &[]), Selection::Lost);
    }

    #[test]
    fn a_target_id_is_the_only_one_followed_and_untracked_objects_never_are() {
        let mut s = Selector::new(SelectorConfig {
            target_id: Some(7),
            ..SelectorConfig::default()
        });
        let untracked = Object::new(BBox::new(0.0, 0.0, 500.0, 500.0), 0, "person", 1.0);
        assert_eq!(
            s.update(0.0, 1000, 1000, &[obj(1, 0.0, 300.0, 1.0), untracked]),
            Selection::Idle
        );
        assert_eq!(
            tracked(s.update(
                0.1,
                1000,
                1000,
                &[obj(1, 0.0, 300.0, 1.0), obj(7, 0.0, 10.0, 0.2)]
            )),
            Some((7, true))
        );
        assert_eq!(
            s.update(0.2, 1000, 1000, &[obj(1, 0.0, 300.0, 1.0)]),
            Selection::Lost
        );
    }
}
