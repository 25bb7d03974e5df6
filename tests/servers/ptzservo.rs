//! `ptzservo` against the virtual ONVIF PTZ camera (`virtualptz`):
//! discovery from the camera's address alone (with its clock ten minutes
//! off, and the step named when it fails), what the camera receives, a
//! camera that goes away and comes back, a camera whose MoveStatus never
//! returns to IDLE, and the closed loop through real detection and
//! tracking.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cctv::bbox::BBox;
use cctv::meta::{Frame, Object};
use cctv::ptz::{Following, TARGET_ATTRIBUTE};
use gst::prelude::*;
use gst_video::prelude::*;

/// Element messages of one pipeline, collected as they are posted.
#[derive(Clone, Default)]
struct Messages(Arc<Mutex<Vec<gst::Structure>>>);

impl Messages {
    fn watch(pipeline: &gst::Pipeline) -> Messages {
        let messages = Messages::default();
        let sink = messages.clone();
        pipeline.bus().unwrap().set_sync_handler(move |_, msg| {
            match msg.view() {
                gst::MessageView::Element(e) => sink
                    .0
                    .lock()
                    .unwrap()
                    .push(e.structure().unwrap().to_owned()),
                gst::MessageView::Warning(w) => sink.0.lock().unwrap().push(
                    gst::Structure::builder("warning")
                        .field(
                            "text",
                            format!("{} {}", w.error(), w.debug().unwrap_or_default()),
                        )
                        .build(),
                ),
                gst::MessageView::Error(e) => sink.0.lock().unwrap().push(
                    gst::Structure::builder("error")
                        .field(
                            "text",
                            format!("{} {}", e.error(), e.debug().unwrap_or_default()),
                        )
                        .build(),
                ),
                _ => {}
            }
            gst::BusSyncReply::Pass
        });
        messages
    }

    fn named(&self, name: &str) -> Vec<gst::Structure> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.name() == name)
            .cloned()
            .collect()
    }

    fn requests(&self, operation: &str) -> Vec<gst::Structure> {
        self.named("virtualptz/request")
            .into_iter()
            .filter(|s| s.get::<&str>("operation").ok() == Some(operation))
            .collect()
    }

    /// Waits up to `limit` for `check` to hold.
    fn wait(&self, limit: Duration, check: impl Fn(&Messages) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if check(self) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        check(self)
    }
}

/// A virtual camera fed by a live test picture, started first so that the
/// servo finds it; its address (all a user of a real camera knows) and
/// messages.
fn camera(props: &str) -> (gst::Pipeline, Messages, String) {
    support::init();
    let port = support::free_port();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 \
         ! virtualptz name=cam port={port} profile-token=P2 {props} ! fakesink"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let messages = Messages::watch(&pipeline);
    pipeline.set_state(gst::State::Playing).unwrap();
    (pipeline, messages, format!("127.0.0.1:{port}"))
}

/// A servo pipeline on a live 30 fps picture; `target(frame index)` says
/// where the one tracked person is (its centre, in fractions of the
/// frame), if anywhere. Counts the buffers that reach the sink.
fn servo(
    props: &str,
    target: impl Fn(u64) -> Option<(f32, f32)> + Send + Sync + 'static,
) -> (gst::Pipeline, Messages, Arc<Mutex<u64>>) {
    support::init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 \
         ! identity name=meta ! ptzservo name=servo command-interval=20 {props} \
         ! fakesink name=sink"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let index = std::sync::atomic::AtomicU64::new(0);
    pipeline
        .by_name("meta")
        .unwrap()
        .static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let Some(gst::PadProbeData::Buffer(buf)) = info.data.as_mut() else {
                return gst::PadProbeReturn::Ok;
            };
            let mut objects = Vec::new();
            let i = index.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Some((x, y)) = target(i) {
                let mut o = Object::new(
                    BBox::new(x * 320.0 - 15.0, y * 240.0 - 30.0, 30.0, 60.0),
                    0,
                    "person",
                    0.9,
                );
                o.track_id = Some(7);
                objects.push(o);
            }
            let frame = Frame {
                width: 320,
                height: 240,
                source: "test".into(),
                model: String::new(),
                inferred: true,
                objects,
            };
            frame.attach(buf.make_mut());
            gst::PadProbeReturn::Ok
        });
    let buffers = Arc::new(Mutex::new(0u64));
    let counter = Arc::clone(&buffers);
    pipeline
        .by_name("sink")
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            *counter.lock().unwrap() += 1;
            gst::PadProbeReturn::Ok
        });
    let messages = Messages::watch(&pipeline);
    (pipeline, messages, buffers)
}

fn f(s: &gst::Structure, field: &str) -> f64 {
    s.get::<f64>(field).unwrap()
}

#[test]
fn commands_reach_the_camera_with_profile_velocities_and_digest() {
    let (cam, cam_msgs, url) = camera("user-id=op user-pw=s3cret");
    // The person stands right of and below the centre.
    let (pipeline, msgs, _) = servo(
        &format!("onvif-url={url} user-id=op user-pw=s3cret"),
        |_| Some((0.8, 0.7)),
    );
    pipeline.set_state(gst::State::Playing).unwrap();
    let moved = cam_msgs.wait(Duration::from_secs(10), |m| {
        m.requests("ContinuousMove").len() >= 5
    });
    let sent = msgs.named("ptzservo/command");
    pipeline.send_event(gst::event::Eos::new());
    let eos = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Eos]);
    let stopped = cam_msgs.wait(Duration::from_secs(5), |m| !m.requests("Stop").is_empty());
    pipeline.set_state(gst::State::Null).unwrap();
    cam.set_state(gst::State::Null).unwrap();

    assert!(eos.is_some(), "EOS did not come through");
    assert!(
        moved,
        "the camera got no moves: {:?}",
        cam_msgs.named("virtualptz/request")
    );
    assert!(stopped, "EOS did not stop the camera");
    let moves = cam_msgs.requests("ContinuousMove");
    for m in &moves {
        assert_eq!(m.get::<&str>("profile").unwrap(), "P2");
        assert_eq!(m.get::<&str>("user").unwrap(), "op");
        assert!(m.get::<bool>("authenticated").unwrap(), "{m}");
        assert!(!m.has_field("fault"), "{m}");
        // Right of the centre: pan right; below it: tilt down.
        assert!(f(m, "pan") > 0.0 && f(m, "tilt") < 0.0, "{m}");
        // Each move the camera got is one the element posted (the
        // client writes 4 decimals).
        let posted = sent
            .iter()
            .chain(msgs.named("ptzservo/command").iter())
            .any(|c| {
                c.get::<&str>("command").unwrap() == "move"
                    && ["pan", "tilt", "zoom"]
                        .iter()
                        .all(|k| (f(c, k) - f(m, k)).abs() < 1e-4)
            });
        assert!(posted, "{m} was never posted by ptzservo");
    }
    let command = &sent[0];
    assert_eq!(command.get::<u64>("target-id").unwrap(), 7);
    assert!((f(command, "offset-x") - 0.3).abs() < 0.01, "{command}");
    assert!(
        msgs.named("warning").is_empty(),
        "{:?}",
        msgs.named("warning")
    );
}

#[test]
fn the_target_is_marked_in_the_metadata() {
    let (pipeline, _, _) = servo("", |i| Some((0.5 + 0.001 * i as f32, 0.5)));
    let marked = Arc::new(Mutex::new((0u32, 0u32)));
    let seen = Arc::clone(&marked);
    pipeline
        .by_name("sink")
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(gst::PadProbeData::Buffer(buf)) = info.data.as_ref()
                && let Some(Ok(frame)) = Frame::from_buffer(buf)
            {
                let mut s = seen.lock().unwrap();
                s.0 += 1;
                let target = frame.objects[0].attributes.iter().any(|a| {
                    a.name == TARGET_ATTRIBUTE && a.label == "target" && a.source == "servo"
                });
                s.1 += target as u32;
            }
            gst::PadProbeReturn::Ok
        });
    pipeline.set_state(gst::State::Playing).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    pipeline.set_state(gst::State::Null).unwrap();
    let (frames, targets) = *marked.lock().unwrap();
    assert!(frames >= 5, "{frames} frames");
    assert_eq!(targets, frames, "every frame's person is the marked target");
}

/// The servo's error message, once it failed to start.
fn start_error(servo_props: &str) -> String {
    let (pipeline, msgs, _) = servo(servo_props, |_| Some((0.8, 0.5)));
    assert!(pipeline.set_state(gst::State::Playing).is_err());
    pipeline.set_state(gst::State::Null).unwrap();
    let errors = msgs.named("error");
    assert!(!errors.is_empty(), "no error");
    errors[0].get::<String>("text").unwrap()
}

#[test]
fn the_ptz_service_and_profile_are_found_from_the_address_alone() {
    let (cam, cam_msgs, address) = camera("user-id=\"op&x\" user-pw=s3cret");
    let (pipeline, msgs, _) = servo(
        &format!("onvif-url={address} user-id=\"op&x\" user-pw=s3cret"),
        |_| Some((0.8, 0.5)),
    );
    let servo = pipeline.by_name("servo").unwrap();
    assert_eq!(
        servo.property::<gst::Structure>("discovered").n_fields(),
        0,
        "nothing found before it looked"
    );
    pipeline.set_state(gst::State::Playing).unwrap();
    let moved = cam_msgs.wait(Duration::from_secs(10), |m| {
        !m.requests("ContinuousMove").is_empty()
    });
    let found = servo.property::<gst::Structure>("discovered");
    pipeline.set_state(gst::State::Null).unwrap();
    cam.set_state(gst::State::Null).unwrap();

    assert!(moved, "{:?}", cam_msgs.named("virtualptz/request"));
    let port = address.rsplit(':').next().unwrap();
    let base = format!("http://127.0.0.1:{port}/onvif");
    assert_eq!(
        found.get::<&str>("device-url").unwrap(),
        format!("{base}/device_service")
    );
    assert_eq!(
        found.get::<&str>("ptz-url").unwrap(),
        format!("{base}/ptz_service")
    );
    assert_eq!(
        found.get::<&str>("media-url").unwrap(),
        format!("{base}/media_service")
    );
    // The only profile with PTZ, its configuration and node.
    assert_eq!(found.get::<&str>("profile-token").unwrap(), "P2");
    assert!(!found.get::<&str>("node-token").unwrap().is_empty());
    assert_eq!(found.get::<&str>("model").unwrap(), "virtualptz");
    assert!(found.get::<bool>("clock-known").unwrap());
    assert!(
        found.get::<i64>("clock-offset").unwrap().abs() <= 2,
        "{found}"
    );
    assert!(found.get::<bool>("pan-tilt").unwrap() && found.get::<bool>("zoom").unwrap());
    assert_eq!(f(&found, "pan-velocity-min"), -1.0);
    assert_eq!(f(&found, "pan-velocity-max"), 1.0);
    // Posted as well, the same.
    assert_eq!(msgs.named("ptzservo/discovered"), [found]);
    // In a camera's order: the clock without a login, then the services.
    let ops: Vec<String> = cam_msgs
        .named("virtualptz/request")
        .iter()
        .map(|r| r.get::<String>("operation").unwrap())
        .collect();
    assert_eq!(ops[..2], ["GetSystemDateAndTime", "GetServices"], "{ops:?}");
    assert!(ops.contains(&"GetProfiles".to_string()), "{ops:?}");
    let moves = cam_msgs.requests("ContinuousMove");
    assert_eq!(moves[0].get::<&str>("profile").unwrap(), "P2");
    assert_eq!(moves[0].get::<&str>("user").unwrap(), "op&x");
    assert!(moves[0].get::<bool>("authenticated").unwrap());
}

/// A camera ten minutes ahead (no NTP): its clock is read first and every
/// digest is written in its time, so the freshness window lets them in.
#[test]
fn a_camera_clock_ten_minutes_off_is_driven_all_the_same() {
    let (cam, cam_msgs, address) = camera("user-id=op user-pw=s3cret clock-offset=600");
    let (pipeline, msgs, _) = servo(
        &format!("onvif-url={address} user-id=op user-pw=s3cret"),
        |_| Some((0.8, 0.7)),
    );
    pipeline.set_state(gst::State::Playing).unwrap();
    let moved = cam_msgs.wait(Duration::from_secs(10), |m| {
        m.requests("ContinuousMove").len() >= 3
    });
    let found = pipeline
        .by_name("servo")
        .unwrap()
        .property::<gst::Structure>("discovered");
    pipeline.set_state(gst::State::Null).unwrap();
    cam.set_state(gst::State::Null).unwrap();

    assert!(moved, "{:?}", cam_msgs.named("virtualptz/request"));
    let offset = found.get::<i64>("clock-offset").unwrap();
    assert!((offset - 600).abs() <= 2, "{found}");
    for r in cam_msgs.named("virtualptz/request") {
        assert!(!r.has_field("fault"), "{r}");
    }
    for m in cam_msgs.requests("ContinuousMove") {
        assert!(m.get::<bool>("authenticated").unwrap(), "{m}");
    }
    assert!(msgs.named("error").is_empty(), "{:?}", msgs.named("error"));
}

#[test]
fn a_wrong_password_fails_the_start_naming_the_step_without_showing_it() {
    let (cam, cam_msgs, address) = camera("user-id=op user-pw=s3cret");
    let text = start_error(&format!(
        "onvif-url={address} user-id=op user-pw=not-the-password"
    ));
    cam.set_state(gst::State::Null).unwrap();
    assert!(
        text.contains("failed at finding its services")
            && text.contains("credentials refused for user \"op\"")
            && text.contains("NotAuthorized"),
        "{text}"
    );
    assert!(!text.contains("not-the-password"), "{text}");
    let refused: Vec<gst::Structure> = cam_msgs
        .named("virtualptz/request")
        .into_iter()
        .filter(|r| r.has_field("fault"))
        .collect();
    assert!(!refused.is_empty());
    for r in refused {
        assert_eq!(r.get::<&str>("fault").unwrap(), "ter:NotAuthorized");
        assert!(!r.get::<bool>("authenticated").unwrap());
    }
}

#[test]
fn a_camera_without_ptz_fails_the_start_naming_the_step() {
    let (cam, _, address) = camera("ptz=false");
    let text = start_error(&format!("onvif-url={address}"));
    cam.set_state(gst::State::Null).unwrap();
    assert!(
        text.contains("failed at finding its services") && text.contains("no PTZ"),
        "{text}"
    );
}

#[test]
fn a_profile_the_camera_lacks_fails_the_start_naming_the_step() {
    let (cam, _, address) = camera("");
    let text = start_error(&format!("onvif-url={address} profile-token=P9"));
    cam.set_state(gst::State::Null).unwrap();
    assert!(
        text.contains("failed at choosing the media profile") && text.contains("\"P9\""),
        "{text}"
    );
}

#[test]
fn video_flows_while_the_camera_is_away_and_commands_resume() {
    let (cam, cam_msgs, url) = camera("");
    let (pipeline, msgs, buffers) = servo(&format!("onvif-url={url}"), |i| {
        // Swaying right of the centre, so that there are always moves to send.
        Some((0.7 + 0.1 * ((i as f32) / 10.0).sin(), 0.5))
    });
    pipeline.set_state(gst::State::Playing).unwrap();
    assert!(cam_msgs.wait(Duration::from_secs(10), |m| {
        !m.requests("ContinuousMove").is_empty()
    }));

    let vcam = cam.by_name("cam").unwrap();
    vcam.set_property("online", false);
    let before = *buffers.lock().unwrap();
    let t0 = Instant::now();
    let warned = msgs.wait(Duration::from_secs(10), |m| {
        m.named("warning")
            .iter()
            .any(|w| w.get::<String>("text").unwrap().contains("not reachable"))
    });
    std::thread::sleep(Duration::from_secs(1).saturating_sub(t0.elapsed()));
    let during = *buffers.lock().unwrap() - before;
    let moves_before = cam_msgs.requests("ContinuousMove").len();

    vcam.set_property("online", true);
    // Back within the longest backoff (5 s) and a command interval.
    let resumed = cam_msgs.wait(Duration::from_secs(8), |m| {
        m.requests("ContinuousMove").len() > moves_before
    });
    let reported = msgs.wait(Duration::from_secs(2), |m| {
        m.named("ptzservo/camera")
            .iter()
            .any(|s| s.get::<bool>("connected").unwrap())
    });
    let stats = pipeline
        .by_name("servo")
        .unwrap()
        .property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null).unwrap();
    cam.set_state(gst::State::Null).unwrap();

    assert!(warned, "no warning while the camera was away");
    // 30 fps for at least a second: video did not wait for the camera.
    assert!(
        during >= 20,
        "only {during} buffers while the camera was away"
    );
    assert!(resumed, "commands did not resume");
    assert!(reported, "no message that the camera is back");
    assert!(stats.get::<u64>("reconnects").unwrap() >= 1, "{stats}");
    assert!(stats.get::<bool>("connected").unwrap(), "{stats}");
    assert!(msgs.named("error").is_empty(), "{:?}", msgs.named("error"));
}

#[test]
fn a_camera_stuck_in_moving_does_not_hang_the_return_home() {
    let (cam, cam_msgs, url) = camera("stuck-move-status=true");
    // There for 1 s, gone for 2 s, back.
    let (pipeline, msgs, _) = servo(
        &format!("onvif-url={url} home-on-lost=true lost-timeout=0.3"),
        |i| (!(30..90).contains(&i)).then_some((0.8, 0.5)),
    );
    pipeline.set_state(gst::State::Playing).unwrap();
    let homed = cam_msgs.wait(Duration::from_secs(10), |m| {
        !m.requests("GotoHomePosition").is_empty()
    });
    let homed_at = cam_msgs.named("virtualptz/request").len();
    // Tracking resumes once the position held still, though the camera
    // keeps saying MOVING.
    let resumed = cam_msgs.wait(Duration::from_secs(10), |m| {
        m.named("virtualptz/request")[homed_at..]
            .iter()
            .any(|r| r.get::<&str>("operation").unwrap() == "ContinuousMove")
    });
    let statuses = cam_msgs.requests("GetStatus").len();
    pipeline.set_state(gst::State::Null).unwrap();
    cam.set_state(gst::State::Null).unwrap();

    assert!(
        homed,
        "the camera was never sent home: {:?}",
        msgs.named("ptzservo/command")
    );
    assert!(resumed, "tracking never resumed after going home");
    assert!(statuses >= 3, "position read {statuses} times");
    let stops = cam_msgs.requests("Stop").len();
    assert!(
        stops >= 1,
        "the camera was not stopped when the target was lost"
    );
}

#[test]
fn an_unreachable_camera_is_a_warning_and_video_goes_on() {
    let closed = support::free_port();
    let (pipeline, msgs, buffers) =
        servo(&format!("onvif-url=127.0.0.1:{closed} timeout=0.5"), |_| {
            Some((0.9, 0.5))
        });
    pipeline.set_state(gst::State::Playing).unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let frames = *buffers.lock().unwrap();
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(frames >= 15, "{frames} frames");
    assert!(msgs.named("error").is_empty());
    let warning = msgs.named("warning");
    // It names the first step, which found nobody there.
    let text = warning[0].get::<String>("text").unwrap();
    assert!(
        text.contains("not reachable")
            && text.contains("failed at reading the camera's clock")
            && text.contains("unreachable"),
        "{text}"
    );
    // Commands are still posted for the application.
    assert!(!msgs.named("ptzservo/command").is_empty());
}

/// One closed-loop run: how well the target was kept, where the camera
/// ended, and per frame (by time stamp) the target's centre in pixels.
struct Run {
    summary: cctv::ptz::follow::Summary,
    cam: gst::Structure,
    centres: std::collections::BTreeMap<u64, Option<(f32, f32)>>,
    /// Frames that reached the sink without readable objects, and why.
    unreadable: Vec<(u64, String)>,
}

/// Follows the clip's walkers (raw frames with exact time stamps: a decoder
/// stopped early drains its last frame, or not, from run to run) through
/// the virtual camera, onnxdetect and bytetrack.
fn closed_loop(servo_props: &str, frames: usize) -> Run {
    support::init();
    let port = support::free_port();
    let url = format!("127.0.0.1:{port}");
    let launch = format!(
        "{} ! virtualptz name=cam port={port} width=640 height=480 \
         ! onnxdetect conf-threshold=0.1 classes=person ! bytetrack \
         ! ptzservo name=servo {} ! fakesink name=sink sync=false",
        support::short_clip(frames),
        servo_props.replace("URL", &url),
    );
    let pipeline = gst::parse::launch(&launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    type Seen = (
        Following,
        std::collections::BTreeMap<u64, Option<(f32, f32)>>,
        Vec<(u64, String)>,
    );
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let s = Arc::clone(&seen);
    pipeline
        .by_name("sink")
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(gst::PadProbeData::Buffer(buf)) = info.data.as_ref() {
                let pts = buf.pts().map_or(u64::MAX, |t| t.nseconds());
                let (following, centres, unreadable) = &mut *s.lock().unwrap();
                match Frame::from_buffer(buf) {
                    Some(Ok(frame)) => {
                        following.observe(&frame);
                        let target = frame.objects.iter().find(|o| cctv::ptz::is_target(o));
                        centres.insert(pts, target.map(|o| (o.bbox.cx(), o.bbox.cy())));
                    }
                    Some(Err(e)) => unreadable.push((pts, e.to_string())),
                    None => unreadable.push((pts, "no objects metadata".into())),
                }
            }
            gst::PadProbeReturn::Ok
        });
    let end = support::play_to_end(&pipeline, gst::ClockTime::from_seconds(120));
    let cam = pipeline
        .by_name("cam")
        .unwrap()
        .property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null).unwrap();
    end.unwrap();
    let (following, centres, unreadable) = std::mem::take(&mut *seen.lock().unwrap());
    Run {
        summary: following.summary(),
        cam,
        centres,
        unreadable,
    }
}

/// The clip runs as fast as the machine allows; lockstep and the stream-time
/// pacing make the steered run repeat itself exactly.
#[test]
fn the_loop_closes_through_detection_and_keeps_the_walker_nearer_the_centre() {
    let frames = support::SHORT_CLIP_MAX;
    let steered = "onvif-url=URL lockstep=true zoom-target-coverage=0";
    let free = closed_loop("", frames);
    let held = closed_loop(steered, frames);
    let again = closed_loop(steered, frames);
    let (s_free, s_held, s_again) = (free.summary, held.summary, again.summary);
    eprintln!(
        "without ptzservo: {s_free}\nwith ptzservo:    {s_held}\nonce more:        {s_again}"
    );
    for run in [&free, &held, &again] {
        assert!(run.unreadable.is_empty(), "{:?}", run.unreadable);
    }
    // Without commands the camera never moves; with them it does.
    assert_eq!(f(&free.cam, "pan"), 0.0);
    assert!(
        f(&held.cam, "pan").abs() + f(&held.cam, "tilt").abs() > 0.05,
        "{}",
        held.cam
    );
    assert!(s_held.followed as f64 > 0.5 * frames as f64, "{s_held}");
    assert!(
        s_held.mean_error < s_free.mean_error,
        "with {s_held}\nwithout {s_free}"
    );
    // The same commands at the same frames: the same run, frame by frame.
    let stamps = |r: &Run| r.centres.keys().copied().collect::<Vec<_>>();
    assert_eq!(stamps(&held).len(), frames, "{s_held}");
    assert_eq!(stamps(&held), stamps(&again), "the same frames");
    for (pts, centre) in &held.centres {
        let other = &again.centres[pts];
        let same = match (centre, other) {
            (None, None) => true,
            (Some(a), Some(b)) => (a.0 - b.0).abs() < 0.5 && (a.1 - b.1).abs() < 0.5,
            _ => false,
        };
        assert!(
            same,
            "at {pts} ns the target was at {centre:?}, then at {other:?}"
        );
    }
    for axis in ["pan", "tilt", "zoom"] {
        assert!(
            (f(&held.cam, axis) - f(&again.cam, axis)).abs() < 1e-3,
            "{}\n{}",
            held.cam,
            again.cam
        );
    }
}

#[test]
fn a_synchronous_bus_handler_reading_properties_does_not_deadlock() {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    let (cam, _, url) = camera("");
    let (pipeline, _, _) = servo(&format!("onvif-url={url}"), |i| {
        Some((0.7 + 0.1 * ((i as f32) / 10.0).sin(), 0.5))
    });
    // What an application's synchronous handler may do with any message
    // of the servo (its commands, the warning that the camera is gone):
    // read its properties. Counted per kind: element messages, warnings.
    let servo = pipeline.by_name("servo").unwrap();
    let read = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let reads = Arc::clone(&read);
    let watched = servo.downgrade();
    let bus = pipeline.bus().unwrap();
    bus.unset_sync_handler();
    bus.set_sync_handler(move |_, msg| {
        if let Some(servo) = watched.upgrade()
            && msg.src() == Some(servo.upcast_ref())
        {
            servo.property::<gst::Structure>("stats");
            servo.property::<f64>("kp");
            let kind = (msg.type_() == gst::MessageType::Warning) as usize;
            reads[kind].fetch_add(1, Relaxed);
        }
        gst::BusSyncReply::Pass
    });
    let vcam = cam.by_name("cam").unwrap();
    let counted = Arc::clone(&read);
    let ended = support::within(Duration::from_secs(60), move |_| {
        pipeline.set_state(gst::State::Playing).unwrap();
        let at_least = |kind: usize, n: u64| {
            let deadline = Instant::now() + Duration::from_secs(10);
            while counted[kind].load(Relaxed) < n && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            counted[kind].load(Relaxed)
        };
        let commands = at_least(0, 5);
        // The camera goes away: a warning from the streaming thread.
        vcam.set_property("online", false);
        let warnings = at_least(1, 1);
        pipeline.send_event(gst::event::Eos::new());
        let eos = pipeline
            .bus()
            .unwrap()
            .timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Eos]);
        pipeline.set_state(gst::State::Null).unwrap();
        (commands, warnings, eos.is_some())
    });
    cam.set_state(gst::State::Null).unwrap();
    let (commands, warnings, eos) =
        ended.unwrap_or_else(|why| panic!("playing with a bus handler reading properties: {why}"));
    assert!(commands >= 5, "{commands} messages read");
    assert!(warnings >= 1, "no warning once the camera went away");
    assert!(eos, "EOS did not come through");
}

/// A scene of odd width (its RGB rows padded to 4 bytes) seen whole at its
/// own size: the view is the scene, pixel for pixel, in the padded rows of
/// the output buffer; zoomed in, it is the middle of the scene.
#[test]
fn the_virtual_camera_shows_its_view_of_the_scene() {
    support::init();
    let (w, h) = (322u32, 242u32);
    let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, w, h)
        .fps(gst::Fraction::new(30, 1))
        .build()
        .unwrap();
    assert!(info.stride()[0] as u32 > 3 * w, "rows are padded");
    let pixel = |x: u32, y: u32| {
        [
            (x % 251) as u8,
            (y % 241) as u8,
            ((x * 7 + y * 3) % 256) as u8,
        ]
    };
    let mut scene = gst::Buffer::with_size(info.size()).unwrap();
    {
        let buf = scene.get_mut().unwrap();
        buf.set_pts(gst::ClockTime::ZERO);
        let mut frame = gst_video::VideoFrameRef::from_buffer_ref_writable(buf, &info).unwrap();
        let stride = frame.plane_stride()[0] as usize;
        let data = frame.plane_data_mut(0).unwrap();
        for y in 0..h {
            for x in 0..w {
                let at = y as usize * stride + x as usize * 3;
                data[at..at + 3].copy_from_slice(&pixel(x, y));
            }
        }
    }
    let view = |props: &str| {
        let mut harness =
            gst_check::Harness::new_parse(&format!("virtualptz width={w} height={h} {props}"));
        harness.set_src_caps(info.to_caps().unwrap());
        let out = harness.push_and_pull(scene.clone()).unwrap();
        let out_info =
            gst_video::VideoInfo::from_caps(&harness.sinkpad().unwrap().current_caps().unwrap())
                .unwrap();
        (out, out_info)
    };
    let (out, out_info) = view("wide-fov=1");
    let frame =
        gst_video::VideoFrameRef::from_buffer_ref_readable(out.as_ref(), &out_info).unwrap();
    let stride = frame.plane_stride()[0] as usize;
    let data = frame.plane_data(0).unwrap();
    for y in 0..h {
        for x in 0..w {
            let at = y as usize * stride + x as usize * 3;
            assert_eq!(data[at..at + 3], pixel(x, y), "({x}, {y})");
        }
    }
    // Half the scene's width at zoom 0: its middle, magnified twice.
    let (out, out_info) = view("wide-fov=0.5");
    let frame =
        gst_video::VideoFrameRef::from_buffer_ref_readable(out.as_ref(), &out_info).unwrap();
    let stride = frame.plane_stride()[0] as usize;
    let data = frame.plane_data(0).unwrap();
    let centre = (h / 2) as usize * stride + (w / 2) as usize * 3;
    let expected = pixel(w / 2, h / 2);
    // Red and green follow x and y one step per pixel: near the centre's.
    for c in 0..2 {
        assert!(
            (data[centre + c] as i32 - expected[c] as i32).abs() <= 3,
            "centre {:?} vs {expected:?}",
            &data[centre..centre + 3]
        );
    }
    // Away from the centre, twice as far in the view as in the scene.
    let right = (h / 2) as usize * stride + (w / 2 + 40) as usize * 3;
    assert!(
        (data[right] as i32 - (w / 2 + 20) as i32).abs() <= 3,
        "{} at 40 pixels right of the centre",
        data[right]
    );
}
