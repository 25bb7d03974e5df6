//! The test servers themselves work: each starts on loopback, answers, and is gone after drop.

use std::io::{Read, Write};
use std::net::TcpStream;

use gst::prelude::*;

#[test]
fn mosquitto_answers_mqtt_connect() {
    let broker = support::Mosquitto::start();
    let mut s = TcpStream::connect(("127.0.0.1", broker.port)).unwrap();
    // CONNECT, protocol "MQTT" level 4, clean session, keep-alive 10 s, client id "t".
    s.write_all(&[
        0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 10, 0, 1, b't',
    ])
    .unwrap();
    let mut connack = [0u8; 4];
    s.read_exact(&mut connack).unwrap();
    assert_eq!(connack, [0x20, 2, 0, 0], "CONNACK accepted");
    let port = broker.port;
    drop(broker);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "broker stopped"
    );
}

#[test]
fn postgres_runs_queries_and_restarts() {
    let mut pg = support::Postgres::start();
    assert_eq!(pg.psql("select 40 + 2"), "42");
    pg.psql("create table t (x int); insert into t values (1)");
    pg.restart();
    assert_eq!(
        pg.psql("select count(*) from t"),
        "1",
        "data survives a restart"
    );
    let port = pg.port;
    drop(pg);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "server stopped"
    );
}

#[test]
fn rtsp_server_streams_to_rtspsrc_and_onnxdetect() {
    support::init();
    let launch = "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=15/1 \
         ! x264enc tune=zerolatency speed-preset=ultrafast ! rtph264pay name=pay0 pt=96 config-interval=1 )";
    let server = support::RtspServer::start(&[("test", launch)], None);
    let (pipeline, sink) = support::with_appsink(&format!(
        "rtspsrc location={} protocols=tcp latency=100 ! rtph264depay ! h264parse ! avdec_h264 \
         ! videoconvert ! onnxdetect ! appsink name=sink max-buffers=5 drop=true sync=false",
        server.url("test", None)
    ));
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut frames = 0;
    for _ in 0..5 {
        let sample = sink
            .try_pull_sample(gst::ClockTime::from_seconds(20))
            .expect("frames arrive over RTSP");
        let frame = cctv::meta::Frame::from_buffer(sample.buffer().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!((frame.width, frame.height), (320, 240));
        frames += 1;
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(frames, 5);
}
