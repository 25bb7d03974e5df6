//! mqttsink against a real mosquitto on a free loopback port.

use std::collections::BTreeMap;
use std::time::Duration;

use gst::prelude::*;
use gst_check::Harness;
use support::script::{FRAME_NS, play_attributes, play_script};

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(support::repo().join("schemas/cctv-message-v1.schema.json"))
        .unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
}

fn sink(props: &str) -> Harness {
    support::init();
    let mut h = Harness::new_parse(&format!("mqttsink name=sink sync=false {props}"));
    h.set_src_caps_str("video/x-raw,format=RGB,width=320,height=240,framerate=10/1");
    h
}

fn by_kind(messages: &[(String, String)]) -> BTreeMap<String, usize> {
    let mut kinds = BTreeMap::new();
    for (_, payload) in messages {
        let v: serde_json::Value = serde_json::from_str(payload).unwrap();
        let kind = match v["kind"].as_str().unwrap() {
            "track" => format!("track/{}", v["event"].as_str().unwrap()),
            k => k.to_string(),
        };
        *kinds.entry(kind).or_default() += 1;
    }
    kinds
}

/// (event, track id) of the life-cycle messages, in arrival order.
fn lifecycle(messages: &[(String, String)]) -> Vec<(String, u64, String)> {
    messages
        .iter()
        .filter_map(|(_, p)| {
            let v: serde_json::Value = serde_json::from_str(p).unwrap();
            let event = v["event"].as_str()?;
            (event != "update").then(|| {
                (
                    event.to_string(),
                    v["track"]["track_id"].as_u64().unwrap(),
                    v["id"].as_str().unwrap().to_string(),
                )
            })
        })
        .collect()
}

/// The exit message carries every attribute of the track, whatever element
/// wrote it, as of its last frame: a classifier's final vote.
#[test]
fn exit_carries_the_final_attributes_of_any_classifier() {
    let broker = support::Mosquitto::start();
    let sub = support::Subscriber::start(broker.port, "cctv/#");
    let mut h = sink(&format!("port={} camera-id=lobby", broker.port));
    play_attributes(&mut h);
    assert!(h.push_event(gst::event::Eos::new()));
    let messages = sub.wait_for(Duration::from_secs(10), |m| {
        by_kind(m).get("track/exit") == Some(&1)
    });
    let exit = messages
        .iter()
        .map(|(_, p)| serde_json::from_str::<serde_json::Value>(p).unwrap())
        .find(|v| v["event"] == "exit")
        .unwrap();
    let attributes: Vec<(String, String, String)> = exit["track"]["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["label"].as_str().unwrap().to_string(),
                a["source"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        attributes,
        [
            ("gender".into(), "female".into(), "gendercls0".into()),
            ("helmet".into(), "yes".into(), "helmetcls0".into())
        ]
    );
    assert!(
        (exit["track"]["attributes"][0]["confidence"]
            .as_f64()
            .unwrap()
            - 0.8)
            .abs()
            < 1e-6
    );
}

#[test]
fn publishes_schema_valid_messages_on_templated_topics() {
    let broker = support::Mosquitto::start();
    let sub = support::Subscriber::start(broker.port, "cctv/#");
    let mut h = sink(&format!(
        "port={} camera-id=lobby topic=cctv/{{camera}}/{{kind}}/{{label}} update-interval=1000 summary-interval=2000",
        broker.port
    ));
    let lifecycle_events = play_script(&mut h, 60, |_| {});
    assert!(h.push_event(gst::event::Eos::new()));
    let messages = sub.wait_for(Duration::from_secs(10), |m| {
        by_kind(m).get("track/exit") == Some(&3)
    });

    let schema = schema();
    for (topic, payload) in &messages {
        let v: serde_json::Value = serde_json::from_str(payload).unwrap();
        let errors: Vec<String> = schema.iter_errors(&v).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{payload}: {errors:?}");
        assert_eq!(v["camera"], "lobby");
        let kind = v["kind"].as_str().unwrap();
        let label = if kind == "track" { "person" } else { "all" };
        assert_eq!(topic, &format!("cctv/lobby/{kind}/{label}"));
    }
    let kinds = by_kind(&messages);
    assert_eq!(
        kinds["detections"], 60,
        "one per frame with objects: {kinds:?}"
    );
    assert_eq!((kinds["track/enter"], kinds["track/exit"]), (3, 3));
    assert_eq!(lifecycle_events, 6);
    // Updates at most once a second per track: track 1 lives 3 s, 2 lives 4 s, 3 lives 2.5 s.
    assert_eq!(kinds["track/update"], 3 + 4 + 3, "{kinds:?}");
    assert_eq!(kinds["summary"], 3, "every 2 s of a 6 s stream: {kinds:?}");

    // An enter is sent with the track's first frame: it has what the
    // frame says (confidence, box), not zeros.
    for enter in messages
        .iter()
        .map(|(_, p)| serde_json::from_str::<serde_json::Value>(p).unwrap())
        .filter(|v| v["event"] == "enter")
    {
        assert_eq!(enter["track"]["frames"], 1, "{enter}");
        assert!(
            enter["track"]["best_confidence"].as_f64().unwrap() > 0.7,
            "{enter}"
        );
    }
    let exit = messages
        .iter()
        .map(|(_, p)| serde_json::from_str::<serde_json::Value>(p).unwrap())
        .find(|v| v["event"] == "exit" && v["track"]["track_id"] == 2)
        .unwrap();
    assert_eq!(exit["track"]["duration_s"], 3.9);
    assert_eq!(exit["track"]["frames"], 40);
    assert_eq!(exit["stream_time_ns"], 49 * FRAME_NS);

    let stats = h
        .find_element("mqttsink")
        .unwrap()
        .property::<gst::Structure>("stats");
    assert_eq!(
        stats.get::<u64>("delivered").unwrap(),
        messages.len() as u64,
        "EOS waited for every PUBACK"
    );
    assert_eq!(stats.get::<u64>("queued").unwrap(), 0);
    assert_eq!(stats.get::<u64>("dropped").unwrap(), 0);
}

/// The same script with the broker stopped at frame 20 and back at frame 40.
fn run_with_outage(outage: bool) -> Vec<(String, String)> {
    let mut broker = support::Mosquitto::start();
    let sub = support::Subscriber::start(broker.port, "cctv/#");
    let mut h = sink(&format!(
        "port={} messages=tracks update-interval=100000",
        broker.port
    ));
    play_script(&mut h, 60, |i| {
        // Paced like a live camera, so the outage spans real time.
        std::thread::sleep(Duration::from_millis(15));
        if outage && i == 20 {
            broker.stop();
        }
        if outage && i == 40 {
            broker.restart();
        }
    });
    assert!(h.push_event(gst::event::Eos::new()));
    let messages = sub.wait_for(Duration::from_secs(15), |m| {
        by_kind(m).get("track/exit") >= Some(&3)
    });
    let stats = h
        .find_element("mqttsink")
        .unwrap()
        .property::<gst::Structure>("stats");
    if outage {
        assert!(stats.get::<u64>("reconnects").unwrap() >= 1, "{stats}");
    }
    drop(h);
    messages
}

/// A broker that accepts one connection and takes publishes without
/// acknowledging any until `count` life-cycle messages came, then drops the
/// connection: a crash with messages in flight. Returns the (topic, payload)
/// pairs it got.
fn silent_broker(port: u16, count: usize) -> std::thread::JoinHandle<Vec<(String, String)>> {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut messages = Vec::new();
        while lifecycle(&messages).len() < count {
            let mut head = [0u8; 1];
            conn.read_exact(&mut head).unwrap();
            // Remaining length: up to four 7-bit groups, low first.
            let (mut len, mut shift) = (0usize, 0);
            loop {
                let mut b = [0u8; 1];
                conn.read_exact(&mut b).unwrap();
                len |= ((b[0] & 0x7f) as usize) << shift;
                shift += 7;
                if b[0] & 0x80 == 0 {
                    break;
                }
            }
            let mut body = vec![0u8; len];
            conn.read_exact(&mut body).unwrap();
            match head[0] >> 4 {
                1 => conn.write_all(&[0x20, 2, 0, 0]).unwrap(), // CONNECT: CONNACK
                3 => {
                    // PUBLISH: topic, packet id (QoS > 0), payload; no PUBACK.
                    let topic_len = u16::from_be_bytes([body[0], body[1]]) as usize;
                    let id_len = if head[0] & 0x06 != 0 { 2 } else { 0 };
                    let topic = String::from_utf8_lossy(&body[2..2 + topic_len]).into_owned();
                    let payload = &body[2 + topic_len + id_len..];
                    messages.push((topic, String::from_utf8_lossy(payload).into_owned()));
                }
                12 => conn.write_all(&[0xd0, 0]).unwrap(), // PINGREQ: PINGRESP
                _ => {}
            }
        }
        messages
    })
}

/// Messages handed to a broker that never acknowledged them are sent again
/// after reconnecting, with their ids: the subscriber gets every life-cycle
/// event, those in flight included.
#[test]
fn unacknowledged_messages_are_sent_again_with_their_ids() {
    let mut broker = support::Mosquitto::start();
    let sub = support::Subscriber::start(broker.port, "cctv/#");
    broker.stop();
    // Takes the enters of tracks 1 and 2 (frames 0 and 10), acknowledges neither.
    let mut silent = Some(silent_broker(broker.port, 2));
    let mut h = sink(&format!(
        "port={} messages=tracks update-interval=100000",
        broker.port
    ));
    let mut in_flight = Vec::new();
    play_script(&mut h, 60, |i| {
        std::thread::sleep(Duration::from_millis(15));
        if i == 30
            && let Some(silent) = silent.take()
        {
            in_flight = silent.join().unwrap();
            broker.restart();
        }
    });
    assert!(h.push_event(gst::event::Eos::new()));
    let messages = sub.wait_for(Duration::from_secs(15), |m| {
        by_kind(m).get("track/exit") >= Some(&3)
    });
    let got = lifecycle(&messages);
    let lost = lifecycle(&in_flight);
    assert_eq!(lost.len(), 2, "{in_flight:?}");
    for message in &lost {
        assert!(
            got.contains(message),
            "{message:?} was not sent again: {got:?}"
        );
    }
    let mut events: Vec<_> = got.iter().map(|e| (e.0.clone(), e.1)).collect();
    events.sort();
    events.dedup();
    assert_eq!(events.len(), 6, "3 enters and 3 exits: {got:?}");
}

#[test]
fn broker_restart_mid_stream_loses_no_lifecycle_event() {
    let calm = lifecycle(&run_with_outage(false));
    let disturbed = lifecycle(&run_with_outage(true));
    assert_eq!(calm.len(), 6, "{calm:?}");
    let key = |e: &(String, u64, String)| (e.0.clone(), e.1);
    let mut expected: Vec<_> = calm.iter().map(key).collect();
    expected.sort();
    let mut got: Vec<_> = disturbed.iter().map(key).collect();
    got.sort();
    got.dedup();
    assert_eq!(
        got, expected,
        "every life-cycle event arrives despite the outage"
    );
    // Duplicates (QoS 1 re-sends) repeat the message id.
    let mut ids: BTreeMap<(String, u64), std::collections::BTreeSet<String>> = BTreeMap::new();
    for e in &disturbed {
        ids.entry(key(e)).or_default().insert(e.2.clone());
    }
    assert!(ids.values().all(|s| s.len() == 1), "{ids:?}");
}

#[test]
fn broker_down_at_start_queues_and_drops_oldest_frame_messages_first() {
    // The subscriber's persistent session exists before the outage, so it
    // gets whatever the sink delivers the moment the broker is back.
    let mut broker = support::Mosquitto::start();
    let sub = support::Subscriber::start(broker.port, "cctv/#");
    broker.stop();
    let mut h = sink(&format!(
        "port={} max-queued=10 messages=detections+tracks update-interval=100000",
        broker.port
    ));
    play_script(&mut h, 60, |_| {});
    let stats = h
        .find_element("mqttsink")
        .unwrap()
        .property::<gst::Structure>("stats");
    assert!(!stats.get::<bool>("connected").unwrap(), "{stats}");
    assert!(stats.get::<u64>("dropped").unwrap() >= 50, "{stats}");
    broker.restart();
    assert!(h.push_event(gst::event::Eos::new()));
    let messages = sub.wait_for(Duration::from_secs(15), |m| {
        by_kind(m).get("track/exit") == Some(&3)
    });
    let kinds = by_kind(&messages);
    assert_eq!(
        (kinds["track/enter"], kinds["track/exit"]),
        (3, 3),
        "{kinds:?}"
    );
    assert!(
        kinds.get("detections").copied().unwrap_or(0) <= 10 - 6,
        "{kinds:?}"
    );
}

#[test]
fn authentication_accepted_and_refused() {
    let broker = support::Mosquitto::start_with_password("camera", "s3cret");
    let sub = support::Subscriber::start_with(broker.port, "cctv/#", Some(("camera", "s3cret")));
    let mut h = sink(&format!(
        "port={} user-id=camera user-pw=s3cret messages=tracks",
        broker.port
    ));
    play_script(&mut h, 60, |_| {});
    assert!(h.push_event(gst::event::Eos::new()));
    let messages = sub.wait_for(Duration::from_secs(10), |m| {
        by_kind(m).get("track/exit") == Some(&3)
    });
    assert_eq!(by_kind(&messages)["track/enter"], 3);

    // Wrong password: the start fails with a clear error on the bus, and
    // the password is not in it.
    support::init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc is-live=true ! mqttsink port={} user-id=camera user-pw=wrong-pass",
        broker.port
    ))
    .unwrap();
    assert!(pipeline.set_state(gst::State::Playing).is_err());
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Error])
        .expect("an error");
    pipeline.set_state(gst::State::Null).unwrap();
    let gst::MessageView::Error(err) = msg.view() else {
        unreachable!()
    };
    let text = format!("{} {:?}", err.error(), err.debug());
    assert!(
        text.contains("refused the connection") && text.contains("credentials"),
        "{text}"
    );
    assert!(!text.contains("wrong-pass"), "{text}");
}

/// gst-inspect shows the ranges that are accepted; the password cannot be
/// read back; the statistics structure is named after the element.
#[test]
fn properties_say_what_they_accept() {
    support::init();
    let sink = gst::ElementFactory::make("mqttsink").build().unwrap();
    let port = sink
        .find_property("port")
        .unwrap()
        .downcast::<gst::glib::ParamSpecUInt>()
        .unwrap();
    assert_eq!((port.minimum(), port.maximum()), (1, 65535));
    let flags = sink.find_property("user-pw").unwrap().flags();
    assert!(flags.contains(gst::glib::ParamFlags::WRITABLE));
    assert!(!flags.contains(gst::glib::ParamFlags::READABLE));
    assert_eq!(
        sink.property::<gst::Structure>("stats").name(),
        "mqttsink/stats"
    );
}

fn start_error(props: &str) -> String {
    support::expect_error(
        &format!("videotestsrc num-buffers=1 ! mqttsink {props}"),
        gst::ClockTime::from_seconds(10),
    )
}

#[test]
fn bad_settings_are_clear_errors() {
    let err = start_error("host=no-such-host.invalid");
    assert!(
        err.contains("Cannot resolve MQTT broker host no-such-host.invalid"),
        "{err}"
    );
    let err = start_error("topic=cctv/{camera}/{nope}");
    assert!(err.contains("unknown placeholder {nope}"), "{err}");
    let err = start_error("topic=cctv/#");
    assert!(err.contains("wildcard"), "{err}");
    let err = start_error("camera-id=gate+1");
    assert!(err.contains("Invalid camera-id \"gate+1\""), "{err}");
    let err = start_error("ca-file=/nonexistent/ca.pem");
    assert!(
        err.contains("Cannot read ca-file /nonexistent/ca.pem"),
        "{err}"
    );
    let err = start_error("ca-file=/etc/hostname cert-file=/etc/hostname");
    assert!(err.contains("together"), "{err}");
    // MQTT strings hold at most 65,535 bytes.
    let long = "c".repeat(70_000);
    let err = start_error(&format!("camera-id={long}"));
    assert!(
        err.contains("MQTT allows 65535"),
        "{}",
        &err[..200.min(err.len())]
    );
    let err = start_error(&format!("client-id={long}"));
    assert!(
        err.contains("client-id is longer than MQTT's limit"),
        "{}",
        &err[..200.min(err.len())]
    );
    let err = start_error(&format!("user-id=u user-pw={long}"));
    assert!(
        err.contains("user-pw is longer"),
        "{}",
        &err[..200.min(err.len())]
    );
}
