//! What mqttsink and pgsink share through the network layer (`plugins/net`):
//! errors end the pipeline, an unreachable server is an error after one
//! flush-timeout, a state change interrupts a blocked flush, memory stays
//! bounded during an outage, and the spool survives SIGKILL.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cctv::lifecycle::Kind;
use gst::prelude::*;
use gst_check::Harness;
use support::script::{FRAME_NS, event, frame_buffer};

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    support::free_port()
}

fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn refused_credentials_end_gst_launch_every_time() {
    let pg = support::Postgres::start();
    let broker = support::Mosquitto::start_with_password("cam", "right");
    let sinks = [
        (
            format!(
                "pgsink conninfo=\"host=127.0.0.1 port={} user=postgres password=WRONGPW dbname=postgres\"",
                pg.port
            ),
            "password authentication failed",
        ),
        (
            format!("mqttsink port={} user-id=cam user-pw=WRONGPW", broker.port),
            "wrong credentials",
        ),
        (
            format!(
                "pgsink conninfo=\"host=127.0.0.1 port={} user=postgres dbname=postgres\"",
                pg.port
            ),
            "password missing",
        ),
    ];
    for (sink, says) in &sinks {
        // Short and long streams: the refusal may come before or after EOS.
        for buffers in [3, 30, 300] {
            let line = format!(
                "videotestsrc num-buffers={buffers} ! video/x-raw,width=64,height=48 ! {sink}"
            );
            let out = support::gst_launch_within(&line, Duration::from_secs(30))
                .unwrap_or_else(|| panic!("gst-launch-1.0 hung: {line}"));
            let text = output_text(&out);
            assert!(!out.status.success(), "{line}: exit 0\n{text}");
            assert!(text.contains(says), "{line}: {text}");
            assert!(
                !text.contains("WRONGPW"),
                "the password is never shown: {text}"
            );
        }
    }
}

#[test]
fn an_unreachable_server_is_an_error_after_one_flush_timeout() {
    let port = closed_port();
    for sink in [
        format!("pgsink conninfo=\"host=127.0.0.1 port={port} user=postgres password=pw\""),
        format!("mqttsink port={port}"),
    ] {
        let line = format!("videotestsrc num-buffers=5 ! {sink} flush-timeout=3000");
        let started = Instant::now();
        let out = support::gst_launch_within(&line, Duration::from_secs(30))
            .unwrap_or_else(|| panic!("gst-launch-1.0 hung: {line}"));
        let took = started.elapsed();
        let text = output_text(&out);
        assert!(!out.status.success(), "{line}: exit 0\n{text}");
        assert!(
            text.contains("not reachable within flush-timeout"),
            "{line}: {text}"
        );
        // One wait of 3 s at EOS, not a second one in stop() (6 s or more).
        assert!(took < Duration::from_millis(5500), "{line} took {took:?}");
    }
    // Given up after retry-timeout while the stream still runs.
    let line = format!("videotestsrc is-live=true ! mqttsink port={port} retry-timeout=1500");
    let out = support::gst_launch_within(&line, Duration::from_secs(30))
        .unwrap_or_else(|| panic!("gst-launch-1.0 hung: {line}"));
    let text = output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("retry-timeout"), "{text}");
}

/// appsrc ! <sink>, playing, with one buffer and EOS sent.
fn flushing_pipeline(sink: &str) -> gst::Pipeline {
    support::init();
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src caps=video/x-raw,format=RGB,width=320,height=240,framerate=10/1 format=time ! {sink}"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let src = pipeline
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    src.push_buffer(frame_buffer(0, &[1])).unwrap();
    src.end_of_stream().unwrap();
    pipeline
}

#[test]
fn a_state_change_interrupts_a_blocked_flush() {
    let port = closed_port();
    for sink in [
        format!(
            "pgsink conninfo=\"host=127.0.0.1 port={port} user=postgres password=pw\" flush-timeout=60000"
        ),
        format!("mqttsink port={port} flush-timeout=60000"),
    ] {
        let pipeline = flushing_pipeline(&sink);
        // Let EOS reach the sink and its flush block on the absent server.
        std::thread::sleep(Duration::from_millis(700));
        let bus = pipeline.bus().unwrap();
        assert!(
            bus.pop_filtered(&[gst::MessageType::Eos]).is_none(),
            "{sink}: EOS went through without the server"
        );
        let started = Instant::now();
        pipeline.set_state(gst::State::Null).unwrap();
        let took = started.elapsed();
        assert!(took < Duration::from_secs(1), "{sink}: NULL took {took:?}");
    }
}

/// A sink whose server was never reached and that has nothing to deliver
/// stops at once: nothing waits on the (hour-long) flush-timeout.
#[test]
fn a_sink_with_nothing_to_deliver_stops_without_waiting_for_the_server() {
    support::init();
    let port = closed_port();
    for sink in [
        format!(
            "pgsink conninfo=\"host=127.0.0.1 port={port} user=postgres password=pw\" flush-timeout=3600000 retry-timeout=0"
        ),
        format!("mqttsink port={port} flush-timeout=3600000 retry-timeout=0"),
    ] {
        let element = gst::parse::bin_from_description(&sink, false).unwrap();
        let (done, stopped) = std::sync::mpsc::channel();
        let worker = std::thread::spawn(move || {
            element.set_state(gst::State::Paused).unwrap();
            let result = element.set_state(gst::State::Null);
            done.send(result.is_ok()).unwrap();
        });
        let stopped = stopped
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("{sink}: PAUSED to NULL waited for the server"));
        assert!(stopped, "{sink}: the state change failed");
        worker.join().unwrap();
    }
}

/// A synchronised sink (`sync=true`, the default) keeps real time: it waits
/// for each buffer's running time, not a moment more, then renders it at
/// once whatever the server does (here it is away). A run of
/// `... decodebin ! identity eos-after=N ! ... ! pgsink` can still take
/// seconds longer than its N frames: after its EOS, identity lets through
/// the frame the demuxer had already pushed, seconds later in the stream
/// (decodebin dropped what it had queued), and any synchronised sink,
/// fakesink too, waits for that frame's time.
#[test]
fn a_synchronised_sink_renders_each_buffer_at_its_running_time() {
    support::init();
    let port = closed_port();
    for (name, props) in [
        (
            "pgsink",
            format!(
                "conninfo=\"host=127.0.0.1 port={port} user=postgres password=pw\" detections-interval=1"
            ),
        ),
        ("mqttsink", format!("port={port}")),
    ] {
        let mut h = Harness::new_parse(&format!("{name} {props} retry-timeout=0 flush-timeout=0"));
        // The harness turns sync off in the sinks it holds.
        let element = h.find_element(name).unwrap();
        element.set_property("sync", true);
        h.use_testclock();
        h.set_src_caps_str("video/x-raw,format=RGB,width=320,height=240,framerate=10/1");
        let clock = h.testclock().unwrap();
        let (rendered, returned) = std::sync::mpsc::channel();
        let frames = [10u64, 20, 30];
        let pusher = std::thread::spawn(move || {
            for i in frames {
                rendered.send(h.push(frame_buffer(i, &[1]))).unwrap();
            }
            h
        });
        for i in frames {
            let (waiting, ids) = clock.timed_wait_for_multiple_pending_ids(1, 10_000);
            assert!(waiting, "{name}: no clock wait for frame {i}");
            let wait = &ids[0];
            let running_time = wait.time() - element.base_time().unwrap();
            assert_eq!(
                running_time.nseconds(),
                i * FRAME_NS,
                "{name}: waits for the buffer's running time"
            );
            // Time comes: the clock moves to the wait and releases it.
            assert!(clock.crank());
            let flow = returned
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("{name}: frame {i} not rendered when its time came"));
            assert_eq!(flow, Ok(gst::FlowSuccess::Ok), "{name}");
        }
        drop(pusher.join().unwrap());
    }
}

fn stat(h: &mut Harness, element: &str, name: &str) -> u64 {
    h.find_element(element)
        .unwrap()
        .property::<gst::Structure>("stats")
        .get::<u64>(name)
        .unwrap()
}

#[test]
fn memory_stays_bounded_during_a_long_outage() {
    support::init();
    let port = closed_port();
    // mqttsink: every message kind, a new person every 10 frames.
    let mut h = Harness::new_parse(&format!(
        "mqttsink sync=false port={port} max-queued=100 retry-timeout=0 update-interval=0"
    ));
    h.set_src_caps_str("video/x-raw,format=RGB,width=320,height=240,framerate=10/1");
    let mut most = 0;
    for i in 0..3000u64 {
        if i % 10 == 0 {
            h.push_event(event(Kind::New, i, i * FRAME_NS, i * FRAME_NS));
        }
        let live: Vec<u64> = (i.saturating_sub(29)..=i).filter(|t| t % 10 == 0).collect();
        h.push(frame_buffer(i, &live)).unwrap();
        if i >= 29 && (i - 29) % 10 == 0 {
            let t = i - 29;
            h.push_event(event(Kind::Removed, t, t * FRAME_NS, i * FRAME_NS));
        }
        most = most.max(stat(&mut h, "mqttsink", "queued"));
    }
    assert!(most <= 100, "mqttsink queued {most} > max-queued");
    assert!(stat(&mut h, "mqttsink", "dropped-records") > 0);
    drop(h);

    // pgsink: two people for 3000 frames, their rows refreshed every 10 ms
    // (about 300 times): one queued row each, not one per refresh.
    let mut h = Harness::new_parse(&format!(
        "pgsink sync=false conninfo=\"host=127.0.0.1 port={port} user=postgres password=pw\" \
         flush-interval=10 retry-timeout=0"
    ));
    h.set_src_caps_str("video/x-raw,format=RGB,width=320,height=240,framerate=10/1");
    for id in [1, 2] {
        h.push_event(event(Kind::New, id, 0, 0));
    }
    let mut most = 0;
    let started = Instant::now();
    for i in 0..3000u64 {
        h.push(frame_buffer(i, &[1, 2])).unwrap();
        if i % 100 == 0 {
            std::thread::sleep(Duration::from_millis(10));
        }
        most = most.max(stat(&mut h, "pgsink", "queued"));
    }
    let refreshes = started.elapsed().as_millis() / 10;
    // Two enter events, two track rows (latest state) per track at most.
    assert!(
        most <= 6,
        "pgsink queued {most} rows for 2 live tracks over ~{refreshes} refreshes"
    );
}

fn spooled_lines(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let folder = entry.path();
        let text = std::fs::read_to_string(folder.join("records.jsonl")).unwrap_or_default();
        let consumed: usize = std::fs::read_to_string(folder.join("consumed"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        lines.extend(text[consumed.min(text.len())..].lines().map(String::from));
    }
    lines
}

#[test]
fn a_run_killed_during_an_outage_delivers_its_spool_once_at_the_next_start() {
    let spool = support::tempdir("cctv-spool");
    let port = support::free_port();
    // The broker is down: life-cycle messages of a real detection run go
    // to the spool; the process is killed while EOS waits for the broker.
    let line = format!(
        "gst-launch-1.0 -q {} ! onnxdetect classes=person ! bytetrack ! mqttsink port={port} \
         camera-id=door messages=tracks spool-location={} retry-timeout=0 flush-timeout=600000",
        support::short_clip(120),
        spool.display()
    );
    let log = spool.with_extension("log");
    let mut child = Command::new("sh")
        .args(["-c", &format!("exec {line}")])
        .env("GST_PLUGIN_PATH", support::plugin_dir())
        .env("GST_DEBUG", "cctvnet:4")
        .env("GST_DEBUG_FILE", &log)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until EOS reached the sink (the clip is done, EOS waits for the
    // broker) and the exits of the tracks ended at EOS are on disk too.
    let deadline = Instant::now() + Duration::from_secs(120);
    let ended = |lines: &[String]| {
        let count = |what: &str| lines.iter().filter(|l| l.contains(what)).count();
        count("/enter\\\"") > 0 && count("/enter\\\"") == count("/exit\\\"")
    };
    while !(std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("EOS: waiting")
        && ended(&spooled_lines(&spool)))
    {
        assert!(Instant::now() < deadline, "EOS never reached mqttsink");
        assert!(
            child.try_wait().unwrap().is_none(),
            "gst-launch ended early"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let spooled: Vec<serde_json::Value> = spooled_lines(&spool)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: BTreeSet<String> = spooled
        .iter()
        .map(|m| {
            let payload: serde_json::Value =
                serde_json::from_str(m["payload"].as_str().unwrap()).unwrap();
            payload["id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        ids.len(),
        spooled.len(),
        "every spooled message has its own id"
    );
    let exits = ids.iter().filter(|id| id.ends_with("/exit")).count();
    assert!(
        exits > 0 && exits * 2 == ids.len(),
        "enter and exit of each track: {ids:?}"
    );

    // The broker is back; the next run of the same camera delivers the spool.
    let broker = support::Mosquitto::start_on_port(port);
    let sub = support::Subscriber::start(broker.port, "cctv/#");
    let line = format!(
        "videotestsrc num-buffers=1 ! mqttsink port={port} camera-id=door spool-location={}",
        spool.display()
    );
    let out = support::gst_launch_within(&line, Duration::from_secs(60)).expect("second run ends");
    assert!(out.status.success(), "{}", output_text(&out));
    sub.wait_for(Duration::from_secs(10), |m| m.len() >= ids.len());
    // Time for duplicates to show, if there were any.
    std::thread::sleep(Duration::from_millis(500));
    let received: Vec<String> = sub
        .wait_for(Duration::ZERO, |_| true)
        .iter()
        .map(|(_, payload)| {
            let v: serde_json::Value = serde_json::from_str(payload).unwrap();
            v["id"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(received.len() >= ids.len(), "{received:?}");
    let once: BTreeSet<String> = received.iter().cloned().collect();
    assert_eq!(once, ids, "the spooled messages, with their original ids");
    assert_eq!(received.len(), ids.len(), "each delivered once");
    assert!(
        spooled_lines(&spool).is_empty(),
        "the spool is empty afterwards"
    );
    std::fs::remove_dir_all(&spool).ok();
    std::fs::remove_file(&log).ok();
}
