//! When a sink publishing the `cctv/1` messages ([`crate::message`]) sends
//! each one, decided from the frames and the tracker's life-cycle events
//! alone, so that every such sink (MQTT today, Kafka next) sends the same
//! messages at the same stream times and only renders and delivers them.
//!
//! - `detections`: every frame with objects.
//! - `track` `enter`: with the track's first frame, which has the
//!   confidence and box its `new` event lacks; a track that ends before a
//!   frame shows it still gets its `enter`, just before its `exit`.
//! - `track` `update`: the first frame of a track, then at most every
//!   `update_interval` of stream time.
//! - `track` `exit`: at the track's `removed` event, with all it gathered.
//! - `summary`: the first frame, then every `summary_interval` of stream time.
//!
//! A flush (seek) forgets everything: stream times start again.

use std::collections::HashMap;

use crate::lifecycle::{Kind, TrackEvent};
use crate::message::{self, Context, Outgoing, TrackPhase};
use crate::meta::Frame;
use crate::summary::{TrackBook, TrackSummary};

/// The message kinds a sink publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kinds {
    pub detections: bool,
    pub tracks: bool,
    pub summary: bool,
}

/// A message due now.
#[derive(Debug, Clone, PartialEq)]
pub enum Due {
    /// The frame's objects.
    Detections,
    /// Objects per label in the frame.
    Summary,
    Track(TrackMessage),
}

/// A track's `enter`, `update` or `exit`, with what was known of it then.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackMessage {
    pub phase: TrackPhase,
    /// Stream time the message speaks of: the first sighting for `enter`,
    /// the frame for `update`, the last sighting for `exit`.
    pub pts_ns: u64,
    /// Size of the frame the box is in.
    pub width: u32,
    pub height: u32,
    pub track: TrackSummary,
}

impl TrackMessage {
    fn render(&self, ctx: &Context<'_>) -> Outgoing {
        message::track(
            ctx,
            self.phase,
            self.pts_ns,
            (self.width, self.height),
            &self.track,
        )
    }
}

impl Due {
    /// The message for `frame` at `pts_ns`, captured at `captured_ms` (ms
    /// since the Unix epoch) when known.
    fn render(
        &self,
        ctx: &Context<'_>,
        frame: &Frame,
        pts_ns: u64,
        captured_ms: Option<i64>,
    ) -> Outgoing {
        match self {
            Due::Detections => message::detections(ctx, pts_ns, captured_ms, frame),
            Due::Summary => message::summary(ctx, pts_ns, frame),
            Due::Track(t) => t.render(ctx),
        }
    }
}

#[derive(Debug)]
pub struct Schedule {
    kinds: Kinds,
    update_interval_ns: u64,
    summary_interval_ns: u64,
    book: TrackBook,
    /// Stream time of each live track's last `update`.
    last_update: HashMap<u64, u64>,
    /// New tracks whose `enter` waits for their first frame.
    entering: Vec<u64>,
    next_summary: Option<u64>,
}

impl Schedule {
    pub fn new(kinds: Kinds, update_interval_ns: u64, summary_interval_ns: u64) -> Schedule {
        Schedule {
            kinds,
            update_interval_ns,
            summary_interval_ns,
            book: TrackBook::default(),
            last_update: HashMap::new(),
            entering: Vec::new(),
            next_summary: None,
        }
    }

    /// What is due with `frame`, at stream time `pts_ns`, in the order to send.
    pub fn frame(&mut self, frame: &Frame, pts_ns: u64) -> Vec<Due> {
        let mut due = Vec::new();
        if self.kinds.tracks {
            self.book.observe(frame, pts_ns);
            for id in std::mem::take(&mut self.entering) {
                due.extend(self.enter(id, frame.width, frame.height).map(Due::Track));
            }
        }
        if self.kinds.detections && !frame.objects.is_empty() {
            due.push(Due::Detections);
        }
        if self.kinds.tracks {
            for o in &frame.objects {
                let Some(id) = o.track_id else { continue };
                let last = self.last_update.get(&id);
                if last.is_some_and(|&t| pts_ns < t.saturating_add(self.update_interval_ns)) {
                    continue;
                }
                if let Some(track) = self.book.get(id) {
                    due.push(Due::Track(TrackMessage {
                        phase: TrackPhase::Update,
                        pts_ns,
                        width: frame.width,
                        height: frame.height,
                        track: track.clone(),
                    }));
                    self.last_update.insert(id, pts_ns);
                }
            }
        }
        if self.kinds.summary && self.next_summary.is_none_or(|t| pts_ns >= t) {
            due.push(Due::Summary);
            self.next_summary = Some(pts_ns.saturating_add(self.summary_interval_ns));
        }
        due
    }

    /// What is due with a life-cycle event, in the order to send.
    pub fn event(&mut self, e: &TrackEvent) -> Vec<TrackMessage> {
        if !self.kinds.tracks {
            return Vec::new();
        }
        match e.kind {
            Kind::New => {
                self.book.begin(e);
                self.entering.push(e.track_id);
                Vec::new()
            }
            Kind::Removed => {
                self.last_update.remove(&e.track_id);
                let mut due = Vec::new();
                // Ended before a frame showed it: its enter goes first.
                if let Some(i) = self.entering.iter().position(|&id| id == e.track_id) {
                    self.entering.remove(i);
                    due.extend(self.enter(e.track_id, e.width, e.height));
                }
                let track = self
                    .book
                    .remove(e.track_id)
                    .unwrap_or_else(|| TrackSummary::from_event(e));
                due.push(TrackMessage {
                    phase: TrackPhase::Exit,
                    pts_ns: track.last_seen_ns,
                    width: e.width,
                    height: e.height,
                    track,
                });
                due
            }
            Kind::Lost | Kind::Recovered => Vec::new(),
        }
    }

    /// After a flush: stream times start again and the tracks are gone.
    pub fn reset(&mut self) {
        self.book.clear();
        self.last_update.clear();
        self.entering.clear();
        self.next_summary = None;
    }

    fn enter(&self, id: u64, width: u32, height: u32) -> Option<TrackMessage> {
        let track = self.book.get(id)?;
        Some(TrackMessage {
            phase: TrackPhase::Enter,
            pts_ns: track.first_seen_ns,
            width,
            height,
            track: track.clone(),
        })
    }
}

/// One camera's messages: the schedule, rendered with the camera and run.
#[derive(Debug)]
pub struct MessageStream {
    camera: String,
    run: u64,
    schedule: Schedule,
}

impl MessageStream {
    /// `run` identifies this run of the pipeline (see [`Context::run`]).
    pub fn new(camera: String, run: u64, schedule: Schedule) -> MessageStream {
        MessageStream {
            camera,
            run,
            schedule,
        }
    }

    pub fn camera(&self) -> &str {
        &self.camera
    }

    /// The messages due with `frame` at stream time `pts_ns`, captured at
    /// `captured_ns` (ns since the Unix epoch) when it came from a camera.
    pub fn frame(&mut self, frame: &Frame, pts_ns: u64, captured_ns: Option<u64>) -> Vec<Outgoing> {
        let due = self.schedule.frame(frame, pts_ns);
        let captured_ms = captured_ns.map(|ns| (ns / 1_000_000) as i64);
        let ctx = Context {
            camera: &self.camera,
            run: self.run,
        };
        due.iter()
            .map(|d| d.render(&ctx, frame, pts_ns, captured_ms))
            .collect()
    }

    /// The messages due with a life-cycle event.
    pub fn event(&mut self, e: &TrackEvent) -> Vec<Outgoing> {
        let due = self.schedule.event(e);
        let ctx = Context {
            camera: &self.camera,
            run: self.run,
        };
        due.iter().map(|t| t.render(&ctx)).collect()
    }

    /// After a flush (seek) stream times repeat with other content: a new
    /// run keeps message ids unique.
    pub fn flush(&mut self) {
        self.schedule.reset();
        self.run += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bbox::BBox;
    use crate::meta::Object;

    const S: u64 = 1_000_000_000;
    const ALL: Kinds = Kinds {
        detections: true,
        tracks: true,
        summary: true,
    };

    fn frame(tracks: &[u64]) -> Frame {
        Frame {
            width: 320,
            height: 240,
            objects: tracks
                .iter()
                .map(|&id| {
                    let mut o = Object::new(BBox::new(1.0, 2.0, 3.0, 4.0), 0, "person", 0.9);
                    o.track_id = Some(id);
                    o
                })
                .collect(),
            ..Frame::default()
        }
    }

    fn event(kind: Kind, id: u64, first: u64, last: u64) -> TrackEvent {
        TrackEvent {
            kind,
            track_id: id,
            class_id: 0,
            label: "person".into(),
            first_seen: first,
            last_seen: last,
            bbox: BBox::new(1.0, 2.0, 3.0, 4.0),
            width: 640,
            height: 480,
        }
    }

    /// Short names of what is due: `D`, `S`, `enter 1`, `update 1`, `exit 1`.
    fn names(due: &[Due]) -> Vec<String> {
        due.iter()
            .map(|d| match d {
                Due::Detections => "D".to_string(),
                Due::Summary => "S".to_string(),
                Due::Track(t) => format!("{} {}", t.phase.as_str(), t.track.track_id),
            })
            .collect()
    }

    fn track_names(due: &[TrackMessage]) -> Vec<String> {
        names(&due.iter().cloned().map(Due::Track).collect::<Vec<_>>())
    }

    #[test]
    fn enter_waits_for_the_first_frame_and_carries_what_it_shows() {
        let mut s = Schedule::new(ALL, S, 10 * S);
        assert!(s.event(&event(Kind::New, 1, 0, 0)).is_empty());
        let due = s.frame(&frame(&[1]), 0);
        assert_eq!(names(&due), ["enter 1", "D", "update 1", "S"]);
        let Due::Track(enter) = &due[0] else {
            unreachable!()
        };
        assert_eq!((enter.track.frames, enter.track.best_confidence), (1, 0.9));
        assert_eq!((enter.width, enter.height), (320, 240));
        // Sent once.
        assert_eq!(names(&s.frame(&frame(&[1]), S / 10)), ["D"]);
    }

    #[test]
    fn a_track_ended_before_any_frame_enters_just_before_it_exits() {
        let mut s = Schedule::new(ALL, S, 10 * S);
        s.event(&event(Kind::New, 4, 2 * S, 2 * S));
        let due = s.event(&event(Kind::Removed, 4, 2 * S, 3 * S));
        assert_eq!(track_names(&due), ["enter 4", "exit 4"]);
        assert_eq!(due[0].pts_ns, 2 * S, "its first sighting");
        assert_eq!(due[1].width, 640, "the event's frame size");
        assert_eq!(names(&s.frame(&frame(&[]), 4 * S)), ["S"]);
    }

    #[test]
    fn updates_at_most_every_interval_per_track() {
        let mut s = Schedule::new(ALL, S, 100 * S);
        let mut updates: Vec<(u64, u64)> = Vec::new();
        // Track 1 on frames 0-29, track 2 on 10-39, at 10 frames a second.
        for i in 0..40u64 {
            let live: Vec<u64> = [1, 2]
                .into_iter()
                .filter(|&t| (10 * (t - 1)..10 * (t - 1) + 30).contains(&i))
                .collect();
            for d in s.frame(&frame(&live), i * S / 10) {
                if let Due::Track(t) = d
                    && t.phase == TrackPhase::Update
                {
                    updates.push((t.track.track_id, t.pts_ns * 10 / S));
                }
            }
        }
        assert_eq!(
            updates,
            [(1, 0), (1, 10), (2, 10), (1, 20), (2, 20), (2, 30)]
        );
        // Interval 0: every frame.
        let mut s = Schedule::new(ALL, 0, 100 * S);
        s.frame(&frame(&[1]), 0);
        assert_eq!(names(&s.frame(&frame(&[1]), 1)), ["D", "update 1"]);
    }

    #[test]
    fn exit_has_the_whole_track_and_ends_its_updates() {
        let mut s = Schedule::new(ALL, S, 100 * S);
        s.event(&event(Kind::New, 1, 0, 0));
        for i in 0..5 {
            s.frame(&frame(&[1]), i * S);
        }
        let exit = s.event(&event(Kind::Removed, 1, 0, 4 * S));
        assert_eq!(track_names(&exit), ["exit 1"]);
        assert_eq!(exit[0].pts_ns, 4 * S, "its last sighting");
        assert_eq!((exit[0].track.frames, exit[0].track.duration_s), (5, 4.0));
        // A track id the tracker reuses later starts over: enter, then update.
        s.event(&event(Kind::New, 1, 9 * S, 9 * S));
        assert_eq!(
            names(&s.frame(&frame(&[1]), 9 * S)),
            ["enter 1", "D", "update 1"]
        );
        // Lost and recovered change nothing.
        assert!(s.event(&event(Kind::Lost, 1, 9 * S, 9 * S)).is_empty());
        assert!(s.event(&event(Kind::Recovered, 1, 9 * S, 9 * S)).is_empty());
    }

    #[test]
    fn summary_every_interval_of_stream_time() {
        let mut s = Schedule::new(ALL, S, 2 * S);
        let at: Vec<u64> = (0..60u64)
            .filter(|i| s.frame(&frame(&[]), i * S / 10).contains(&Due::Summary))
            .collect();
        assert_eq!(at, [0, 20, 40]);
    }

    #[test]
    fn only_the_kinds_asked_for() {
        let tracks_only = Kinds {
            detections: false,
            tracks: true,
            summary: false,
        };
        let mut s = Schedule::new(tracks_only, S, S);
        s.event(&event(Kind::New, 1, 0, 0));
        assert_eq!(names(&s.frame(&frame(&[1]), 0)), ["enter 1", "update 1"]);
        let frames_only = Kinds {
            detections: true,
            tracks: false,
            summary: false,
        };
        let mut s = Schedule::new(frames_only, S, S);
        assert!(s.event(&event(Kind::New, 1, 0, 0)).is_empty());
        assert_eq!(names(&s.frame(&frame(&[1]), 0)), ["D"]);
        assert!(s.event(&event(Kind::Removed, 1, 0, 0)).is_empty());
        assert!(s.book.is_empty(), "no tracks kept when none are sent");
        assert_eq!(names(&s.frame(&frame(&[]), S)), Vec::<String>::new());
    }

    #[test]
    fn a_flush_forgets_tracks_and_restarts_the_intervals() {
        let mut s = Schedule::new(ALL, S, 10 * S);
        s.event(&event(Kind::New, 1, 0, 0));
        s.event(&event(Kind::New, 2, 0, 0));
        s.frame(&frame(&[2]), 5 * S);
        s.reset();
        // Stream time starts again: an update and a summary right away, no
        // enter for tracks of before the flush, and their exits know
        // only what the event says.
        assert_eq!(names(&s.frame(&frame(&[1]), 0)), ["D", "update 1", "S"]);
        let exit = s.event(&event(Kind::Removed, 2, 0, S));
        assert_eq!(track_names(&exit), ["exit 2"]);
        assert_eq!(exit[0].track.frames, 0);
    }

    #[test]
    fn messages_name_their_topic_parts_and_a_flush_starts_a_new_run() {
        let mut m = MessageStream::new("gate".into(), 7, Schedule::new(ALL, S, 10 * S));
        m.event(&event(Kind::New, 3, 0, 0));
        let out = m.frame(&frame(&[3]), 0, Some(1_700_000_000_123_000_000));
        let parts: Vec<(&str, &str, bool)> = out
            .iter()
            .map(|o| (o.kind, o.label.as_str(), o.record))
            .collect();
        assert_eq!(
            parts,
            [
                ("track", "person", true),
                ("detections", "all", false),
                ("track", "person", false),
                ("summary", "all", false)
            ]
        );
        let json = |o: &Outgoing| serde_json::from_str::<serde_json::Value>(&o.payload).unwrap();
        assert_eq!(json(&out[0])["id"], "gate/7/track/3/enter");
        assert_eq!(json(&out[1])["captured"], "2023-11-14T22:13:20.123Z");
        let exit = m.event(&event(Kind::Removed, 3, 0, 0));
        assert!(exit[0].record);
        assert_eq!(json(&exit[0])["frame"]["width"], 640);
        m.flush();
        let after = m.frame(&frame(&[]), 0, None);
        assert_eq!(json(&after[0])["id"], "gate/8/summary/0");
    }
}
