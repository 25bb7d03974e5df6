//! Secondary classification without GStreamer types, as DL Streamer's
//! `gvaclassify` does it: which objects of a frame to classify (of the
//! chosen classes, due by their track's schedule), what a model's output row
//! means ([`decode`]), the vote per track ([`vote`]), and the attribute each
//! object carries. The element around it only crops, batches and runs.

pub mod decode;
pub mod vote;

pub use decode::{Band, Decoding, Reading, parse_bands, to_probabilities};
pub use vote::{Schedule, TrackVotes, Vote};

use crate::objects::{Attribute, Object};

/// Label of an object not classified yet, or whose vote is too unsure.
pub const UNKNOWN: &str = "unknown";

/// What a classifier did, for its statistics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Objects of the chosen classes seen.
    pub objects: u64,
    /// Objects classified (model rows read).
    pub classifications: u64,
    /// Tracked objects answered from their track's vote without a run.
    pub cache_hits: u64,
}

/// One stream's classifications: per-track votes and this frame's results.
#[derive(Debug)]
pub struct Classifications {
    decoding: Decoding,
    /// Labels the attribute may carry, by class.
    names: Vec<String>,
    /// Model outputs per object.
    outputs: usize,
    votes: TrackVotes,
    frame: u64,
    /// Per object of the frame: this frame's reading, for untracked ones.
    readings: Vec<Option<Reading>>,
    probabilities: Vec<f32>,
    pub counts: Counts,
}

/// Which objects a classifier looks at and how it labels them.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    pub schedule: Schedule,
    /// Votes less confident than this read as [`UNKNOWN`].
    pub min_confidence: f32,
    /// Name of the attribute written.
    pub attribute: &'a str,
    /// Element writing it.
    pub source: &'a str,
}

impl Classifications {
    /// Results of a model with `outputs` outputs per object, read by
    /// `decoding` into `names`, for at most `tracks` tracks at once.
    pub fn new(decoding: Decoding, outputs: usize, names: Vec<String>, tracks: usize) -> Self {
        Classifications {
            votes: TrackVotes::new(outputs, tracks),
            decoding,
            names,
            outputs,
            frame: 0,
            readings: Vec::new(),
            probabilities: Vec::with_capacity(outputs),
            counts: Counts::default(),
        }
    }

    /// Starts a frame of `objects`: the indices of those `wanted` that are
    /// due (untracked ones always; tracked ones detected on this frame, not
    /// predicted, when their schedule says) go into `due`.
    pub fn select(
        &mut self,
        objects: &[Object],
        wanted: impl Fn(&Object) -> bool,
        schedule: Schedule,
        due: &mut Vec<usize>,
    ) {
        self.frame += 1;
        due.clear();
        self.readings.clear();
        self.readings.resize(objects.len(), None);
        for (i, o) in objects.iter().enumerate() {
            if !wanted(o) {
                continue;
            }
            self.counts.objects += 1;
            if let Some(id) = o.track_id {
                if o.predicted {
                    continue;
                }
                if !self.votes.due(id, self.frame, schedule) {
                    self.counts.cache_hits += 1;
                    continue;
                }
            }
            due.push(i);
        }
    }

    /// Records the model's output `row` for object `index` of this frame:
    /// into its track's vote, or as this frame's reading.
    pub fn add(&mut self, object: &Object, index: usize, row: &[f32]) {
        if row.len() != self.outputs {
            return;
        }
        self.counts.classifications += 1;
        to_probabilities(row, &mut self.probabilities);
        match object.track_id {
            Some(id) => self.votes.add(id, self.frame, &self.probabilities),
            None => {
                if let Some(r) = self.readings.get_mut(index) {
                    *r = Some(self.decoding.read(&self.probabilities));
                }
            }
        }
    }

    /// Writes the attribute of every object `wanted`: its track's vote, or
    /// this frame's reading, or [`UNKNOWN`].
    pub fn annotate(
        &mut self,
        objects: &mut [Object],
        wanted: impl Fn(&Object) -> bool,
        policy: &Policy<'_>,
    ) {
        for (i, o) in objects.iter_mut().enumerate() {
            if !wanted(o) {
                continue;
            }
            let reading = match o.track_id {
                Some(id) => self
                    .votes
                    .mean(id, &mut self.probabilities)
                    .map(|_| self.decoding.read(&self.probabilities)),
                None => self.readings.get(i).copied().flatten(),
            }
            .filter(|r| r.confidence >= policy.min_confidence);
            let (label, confidence, value) = match reading {
                Some(r) => {
                    let label = match (r.class, r.value) {
                        (Some(c), _) => self
                            .names
                            .get(c)
                            .map_or(UNKNOWN, String::as_str)
                            .to_string(),
                        (None, Some(v)) => format!("{v:.0}"),
                        (None, None) => UNKNOWN.to_string(),
                    };
                    (label, r.confidence, r.value)
                }
                None => (UNKNOWN.to_string(), 0.0, None),
            };
            let attribute = Attribute {
                name: policy.attribute.to_string(),
                label,
                confidence,
                source: policy.source.to_string(),
                value,
            };
            match o.attributes.iter_mut().find(|a| a.name == policy.attribute) {
                Some(a) => *a = attribute,
                None => o.attributes.push(attribute),
            }
        }
    }

    /// Forgets a track the tracker removed.
    pub fn forget(&mut self, track: u64) {
        self.votes.remove(track);
    }

    /// Forgets every track (a flush, a new stream).
    pub fn clear(&mut self) {
        self.votes.clear();
        self.frame = 0;
    }

    /// Tracks remembered.
    pub fn tracks(&self) -> usize {
        self.votes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bbox::BBox;

    fn person(track: Option<u64>) -> Object {
        let mut o = Object::new(BBox::new(0.0, 0.0, 50.0, 100.0), 0, "person", 0.9);
        o.track_id = track;
        o
    }

    const POLICY: Policy<'static> = Policy {
        schedule: Schedule {
            reclassify_interval: 3,
        },
        min_confidence: 0.6,
        attribute: "gender",
        source: "test",
    };

    fn genders() -> Classifications {
        Classifications::new(
            Decoding::Labels,
            2,
            vec!["female".into(), "male".into()],
            16,
        )
    }

    #[test]
    fn tracks_are_classified_when_due_and_carry_their_vote_in_between() {
        let mut c = genders();
        let mut objects = vec![person(Some(1)), person(None), {
            let mut car = person(Some(2));
            car.label = "car".into();
            car
        }];
        let wanted = |o: &Object| o.label == "person";
        let mut due = Vec::new();
        let mut classified = Vec::new();
        for frame in 0..7 {
            c.select(&objects, wanted, POLICY.schedule, &mut due);
            classified.push(due.clone());
            for &i in &due {
                c.add(&objects[i].clone(), i, &[0.9, 0.1]);
            }
            c.annotate(&mut objects, wanted, &POLICY);
            let a = objects[0].attribute("gender").unwrap();
            assert_eq!(
                (a.label.as_str(), a.source.as_str()),
                ("female", "test"),
                "frame {frame}"
            );
            assert_eq!(objects[1].attribute("gender").unwrap().label, "female");
            assert!(objects[2].attribute("gender").is_none(), "not a person");
        }
        // The track every third frame, the untracked person every frame.
        assert_eq!(classified[0], vec![0, 1]);
        assert_eq!(classified[1], vec![1]);
        assert_eq!(classified[3], vec![0, 1]);
        assert_eq!(c.counts.cache_hits, 4);
        assert_eq!(c.counts.classifications, 3 + 7);
        assert_eq!(c.tracks(), 1);
    }

    #[test]
    fn unsure_votes_logits_and_unclassified_objects_read_unknown() {
        let mut c = genders();
        let mut objects = vec![person(Some(1)), person(Some(2)), person(None)];
        let mut due = Vec::new();
        c.select(&objects, |_| true, POLICY.schedule, &mut due);
        c.add(&objects[0].clone(), 0, &[0.55, 0.45]);
        // Logits: softmax(0, 3) = (0.047, 0.953).
        c.add(&objects[1].clone(), 1, &[0.0, 3.0]);
        // A row of the wrong length is not counted.
        c.add(&objects[2].clone(), 2, &[1.0]);
        c.annotate(&mut objects, |_| true, &POLICY);
        let labels: Vec<&str> = objects
            .iter()
            .map(|o| o.attribute("gender").unwrap().label.as_str())
            .collect();
        assert_eq!(labels, vec![UNKNOWN, "male", UNKNOWN]);
        assert_eq!(objects[0].attribute("gender").unwrap().confidence, 0.0);
        assert_eq!(c.counts.classifications, 2);
        // Forgotten tracks are due again and carry nothing.
        c.forget(2);
        c.select(&objects, |_| true, POLICY.schedule, &mut due);
        assert!(due.contains(&1));
    }

    #[test]
    fn ages_carry_the_expected_value_and_its_band() {
        let decoding = Decoding::Value {
            values: (0..=80).map(|v| v as f32).collect(),
            bands: parse_bands("0-19,20-29,30-39,40+").unwrap(),
        };
        let names = decoding.names(&[]);
        let mut c = Classifications::new(decoding, 81, names, 16);
        let mut objects = vec![person(Some(5))];
        let mut due = Vec::new();
        let policy = Policy {
            min_confidence: 0.0,
            attribute: "age",
            ..POLICY
        };
        c.select(&objects, |_| true, policy.schedule, &mut due);
        let mut row = vec![0.0; 81];
        row[31] = 0.6;
        row[35] = 0.4;
        c.add(&objects[0].clone(), 0, &row);
        c.annotate(&mut objects, |_| true, &policy);
        let age = objects[0].attribute("age").unwrap();
        assert_eq!(age.label, "30-39");
        assert!((age.value.unwrap() - 32.6).abs() < 1e-3, "{age:?}");
        assert!((age.confidence - 1.0).abs() < 1e-6);
    }
}
