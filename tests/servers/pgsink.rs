//! pgsink against a real throwaway PostgreSQL cluster.

use std::time::Duration;

use gst::prelude::*;
use gst_check::Harness;
use support::script::{FRAME_NS, SPANS, play_attributes, play_script};

fn sink(pg: &support::Postgres, props: &str) -> Harness {
    sink_at(&pg.conninfo(), props)
}

fn sink_at(conninfo: &str, props: &str) -> Harness {
    support::init();
    let mut h = Harness::new_parse(&format!(
        "pgsink sync=false conninfo=\"{conninfo}\" {props}"
    ));
    h.set_src_caps_str("video/x-raw,format=RGB,width=320,height=240,framerate=10/1");
    h
}

fn stats(h: &mut Harness) -> gst::Structure {
    h.find_element("pgsink")
        .unwrap()
        .property::<gst::Structure>("stats")
}

#[test]
fn rows_match_the_stream() {
    let pg = support::Postgres::start();
    // A long flush-interval: no live-track rows (written every interval) on
    // a slow machine, so the row count below is exact.
    let mut h = sink(
        &pg,
        "camera-id=lobby detections-interval=10 batch-size=7 flush-interval=3600000",
    );
    play_script(&mut h, 60, |_| {});
    assert!(
        h.push_event(gst::event::Eos::new()),
        "EOS waits for the commit"
    );
    let s = stats(&mut h);
    assert_eq!(s.name(), "pgsink/stats");
    assert_eq!(s.get::<u64>("queued").unwrap(), 0, "{s}");
    // Everything is in the database as soon as EOS went through.
    assert_eq!(pg.psql("select count(*) from cctv.tracks"), "3");
    let tracks = pg.psql(
        "select track_id, label, frames, duration_s, ended, round(best_confidence::numeric, 2) \
         from cctv.tracks where camera_id = 'lobby' order by track_id",
    );
    assert_eq!(
        tracks,
        "1|person|30|2.9|t|0.80\n2|person|40|3.9|t|0.80\n3|person|25|2.4|t|0.80"
    );
    let events = pg.psql("select kind, count(*) from cctv.events group by kind order by kind");
    assert_eq!(events, "enter|3\nexit|3");
    // Wall-clock times follow the stream: track 2 lasted 3.9 s of video.
    let span = pg.psql(
        "select extract(epoch from last_seen - first_seen) from cctv.tracks where track_id = 2",
    );
    assert_eq!(span.parse::<f64>().unwrap(), 3.9);
    // Detections of frames 0, 10, ..., 50: objects on them per the script.
    let expected: usize = (0..60)
        .step_by(10)
        .map(|f| SPANS.iter().filter(|s| (s.1..=s.2).contains(&f)).count())
        .sum();
    assert_eq!(
        pg.psql("select count(*) from cctv.detections"),
        expected.to_string()
    );
    assert_eq!(
        pg.psql("select count(distinct stream_ns) from cctv.detections"),
        "6"
    );
    assert_eq!(
        pg.psql("select max(stream_ns) from cctv.detections"),
        (50 * FRAME_NS).to_string()
    );
    let s = stats(&mut h);
    assert_eq!(
        s.get::<u64>("delivered").unwrap(),
        12 + expected as u64,
        "{s}"
    );
    assert!(s.get::<u64>("batches").unwrap() >= 2, "{s}");
    assert_eq!(s.get::<u64>("queued").unwrap(), 0);
    // The schema is versioned and creating it again is harmless.
    assert_eq!(pg.psql("select version from cctv.schema_version"), "2");
    drop(h);
    let mut again = sink(&pg, "camera-id=gate");
    play_script(&mut again, 60, |_| {});
    assert!(again.push_event(gst::event::Eos::new()));
    assert_eq!(pg.psql("select count(*) from cctv.tracks"), "6");
    assert_eq!(pg.psql("select count(*) from cctv.cameras"), "2");
}

/// Sinks of several cameras starting together on an empty database: one
/// creates the schema, the others wait for it; none fails.
#[test]
fn cameras_starting_together_create_the_schema_once() {
    let pg = support::Postgres::start();
    let conninfo = pg.conninfo();
    let start = std::sync::Arc::new(std::sync::Barrier::new(4));
    let sinks: Vec<_> = (0..4)
        .map(|camera| {
            let (conninfo, start) = (conninfo.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let mut h = sink_at(&conninfo, &format!("schema=site camera-id=cam{camera}"));
                play_script(&mut h, 60, |_| {});
                h.push_event(gst::event::Eos::new())
            })
        })
        .collect();
    for sink in sinks {
        assert!(sink.join().unwrap(), "EOS went through every sink");
    }
    assert_eq!(pg.psql("select count(*) from site.schema_version"), "1");
    assert_eq!(pg.psql("select count(*) from site.cameras"), "4");
    assert_eq!(pg.psql("select count(*) from site.tracks"), "12");
}

#[test]
fn postgres_restart_mid_stream_writes_everything_exactly_once() {
    let mut pg = support::Postgres::start();
    let mut h = sink(&pg, "detections-interval=1 batch-size=20 flush-interval=50");
    play_script(&mut h, 60, |i| {
        std::thread::sleep(Duration::from_millis(15));
        if i == 20 {
            pg.stop();
        }
        if i == 40 {
            pg.restart();
        }
    });
    assert!(h.push_event(gst::event::Eos::new()));
    let s = stats(&mut h);
    assert!(s.get::<u64>("retries").unwrap() >= 1, "{s}");
    assert_eq!(
        pg.psql("select count(*), count(distinct track_id) from cctv.tracks"),
        "3|3"
    );
    assert_eq!(pg.psql("select count(*) from cctv.events"), "6");
    assert_eq!(pg.psql("select count(*) from cctv.tracks where ended"), "3");
    let objects: usize = (0..60)
        .map(|f| SPANS.iter().filter(|s| (s.1..=s.2).contains(&f)).count())
        .sum();
    assert_eq!(
        pg.psql("select count(*) from cctv.detections"),
        objects.to_string(),
        "every detection once"
    );
}

#[test]
fn database_down_at_start_then_up() {
    let mut pg = support::Postgres::start();
    pg.stop();
    let mut h = sink(&pg, "flush-interval=50");
    let element = h.find_element("pgsink").unwrap();
    play_script(&mut h, 60, |i| {
        if i == 30 {
            let s = element.property::<gst::Structure>("stats");
            assert!(!s.get::<bool>("connected").unwrap(), "{s}");
            pg.restart();
        }
    });
    assert!(h.push_event(gst::event::Eos::new()));
    assert_eq!(
        pg.psql("select count(*) from cctv.events where kind = 'exit'"),
        "3"
    );
}

/// Stopped in PLAYING (no EOS, so no exit events): what is queued is
/// written, and live tracks are stored as far as they got, still open.
#[test]
fn stopping_without_eos_stores_live_tracks_as_far_as_they_got() {
    let pg = support::Postgres::start();
    let mut h = sink(&pg, "camera-id=yard flush-interval=100000 batch-size=1000");
    play_script(&mut h, 20, |_| {});
    drop(h);
    assert_eq!(
        pg.psql("select track_id, frames, duration_s, ended from cctv.tracks order by track_id"),
        "1|20|1.9|f\n2|10|0.9|f"
    );
    assert_eq!(pg.psql("select count(*) from cctv.events"), "2");
}

/// While tracks live, their rows follow them every `flush-interval`.
#[test]
fn live_tracks_are_kept_up_to_date() {
    let pg = support::Postgres::start();
    let mut h = sink(&pg, "flush-interval=50");
    play_script(&mut h, 20, |_| {
        std::thread::sleep(Duration::from_millis(15))
    });
    // Frames 10-19 took over 150 ms: track 1 was written after frame 10.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let frames = loop {
        let frames: u64 = pg
            .psql("select coalesce(max(frames), 0) from cctv.tracks where track_id = 1")
            .parse()
            .unwrap();
        if frames > 10 || std::time::Instant::now() >= deadline {
            break frames;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        frames > 10,
        "track 1 stored with {frames} frames while live"
    );
    assert_eq!(pg.psql("select count(*) from cctv.tracks where ended"), "0");
}

fn start_error(pipeline_props: &str) -> String {
    support::expect_error(
        &format!("videotestsrc num-buffers=3 ! pgsink {pipeline_props}"),
        gst::ClockTime::from_seconds(20),
    )
}

#[test]
fn wrong_credentials_and_bad_settings_are_clear_errors() {
    let pg = support::Postgres::start();
    let err = start_error(&format!(
        "conninfo=\"host=127.0.0.1 port={} user=postgres password=not-the-password dbname=postgres\"",
        pg.port
    ));
    assert!(
        err.contains("password authentication failed for user \"postgres\""),
        "{err}"
    );
    assert!(
        !err.contains("not-the-password"),
        "the password is never shown: {err}"
    );
    let err = start_error("conninfo=\"host=127.0.0.1 port=notaport password=hunter2\"");
    assert!(
        err.contains("Invalid conninfo") && !err.contains("hunter2"),
        "{err}"
    );
    let err = start_error("conninfo=\"host=no-such-host.invalid user=postgres password=hunter2\"");
    assert!(
        err.contains("Cannot resolve PostgreSQL host no-such-host.invalid")
            && !err.contains("hunter2"),
        "{err}"
    );
    let err = start_error(&format!("conninfo=\"{}\" schema=Bad-Name", pg.conninfo()));
    assert!(err.contains("Invalid schema name"), "{err}");
    let err = start_error(&format!(
        "conninfo=\"host=127.0.0.1 port={} user=postgres password={} dbname=nosuchdb\"",
        pg.port, pg.password
    ));
    assert!(
        err.contains("database \"nosuchdb\" does not exist"),
        "{err}"
    );
}

#[test]
fn missing_permissions_and_schema_conflicts_are_clear_errors() {
    let pg = support::Postgres::start();
    pg.psql("create role viewer login password 'viewer-pw'");
    let err = start_error(&format!(
        "conninfo=\"host=127.0.0.1 port={} user=viewer password=viewer-pw dbname=postgres\" schema=cams",
        pg.port
    ));
    assert!(err.contains("permission denied"), "{err}");

    // A table of another layout where ours should be.
    pg.psql("create schema other; create table other.schema_version (version integer); insert into other.schema_version values (7)");
    let err = start_error(&format!("conninfo=\"{}\" schema=other", pg.conninfo()));
    assert!(err.contains("schema other has version 7"), "{err}");
    let err = start_error(&format!(
        "conninfo=\"{}\" schema=absent create-schema=false",
        pg.conninfo()
    ));
    assert!(err.contains("does not exist"), "{err}");
}

/// A track the tracker matched from frame 5 but confirmed (`new`) on frame
/// 8: its row starts at frame 5 however the rows fall into batches, and its
/// duration is its last sighting minus its first.
#[test]
fn stored_times_do_not_depend_on_batching() {
    let pg = support::Postgres::start();
    for (camera, props) in [
        ("one-by-one", "batch-size=1 flush-interval=10"),
        ("all-at-once", "batch-size=1000 flush-interval=100000"),
    ] {
        let mut h = sink(&pg, &format!("camera-id={camera} {props}"));
        for i in 0..=20u64 {
            if i == 8 {
                assert!(h.push_event(support::script::event(
                    cctv::lifecycle::Kind::New,
                    7,
                    5 * FRAME_NS,
                    8 * FRAME_NS
                )));
            }
            let live: &[u64] = if i >= 8 { &[7] } else { &[] };
            h.push(support::script::frame_buffer(i, live)).unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(h.push_event(support::script::event(
            cctv::lifecycle::Kind::Removed,
            7,
            5 * FRAME_NS,
            20 * FRAME_NS
        )));
        assert!(h.push_event(gst::event::Eos::new()));
        let row = pg.psql(&format!(
            "select extract(epoch from t.first_seen - e.ts), duration_s, \
             extract(epoch from t.last_seen - t.first_seen), frames, round(best_confidence::numeric, 2) \
             from cctv.tracks t join cctv.events e using (camera_id, run_id, track_id) \
             where camera_id = '{camera}' and e.kind = 'enter'"
        ));
        assert_eq!(row, "0.000000|1.5|1.500000|13|0.80", "{camera}");
    }
}

#[test]
fn tls_with_the_usual_conninfo_keys() {
    let mut pg = support::Postgres::start();
    let certs = pg.enable_tls(true);
    let base = format!("{} connect_timeout=5", pg.conninfo());
    for mode in [
        format!("sslmode=verify-full sslrootcert={}", certs.ca.display()),
        format!("sslmode=verify-ca sslrootcert={}", certs.ca.display()),
        "sslmode=require".to_string(),
    ] {
        let camera = mode
            .split_whitespace()
            .next()
            .unwrap()
            .replace("sslmode=", "");
        let mut h = sink_at(&format!("{base} {mode}"), &format!("camera-id={camera}"));
        play_script(&mut h, 60, |_| {});
        assert!(h.push_event(gst::event::Eos::new()), "{mode}");
        assert_eq!(
            pg.psql(&format!(
                "select count(*) from cctv.tracks where camera_id = '{camera}' and ended"
            )),
            "3",
            "{mode}"
        );
    }
    let seen = pg.psql(
        "select count(*) from pg_stat_ssl s join pg_stat_activity a using (pid) \
         where a.application_name = 'gst-cctv pgsink' and not s.ssl",
    );
    assert_eq!(seen, "0", "no pgsink connection without TLS");

    // The server refuses plain connections; a certificate that does not
    // verify is refused by us. Both are errors at once, not retries.
    let err = start_error(&format!("conninfo=\"{base} sslmode=disable\""));
    assert!(err.contains("no encryption"), "{err}");
    let started = std::time::Instant::now();
    let err = start_error(&format!(
        "conninfo=\"{base} sslmode=verify-full sslrootcert={}\"",
        certs.other_ca.display()
    ));
    assert!(err.contains("TLS"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let err = start_error(&format!(
        "conninfo=\"{base} sslmode=verify-full sslrootcert=/nonexistent/ca.pem\""
    ));
    assert!(err.contains("cannot read sslrootcert"), "{err}");
}

#[test]
fn tls_required_by_us_but_not_offered_is_an_error_at_once() {
    let pg = support::Postgres::start();
    let started = std::time::Instant::now();
    let err = start_error(&format!("conninfo=\"{} sslmode=require\"", pg.conninfo()));
    assert!(err.contains("server does not support TLS"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Every attribute is stored whatever element wrote it, the track keeps the
/// final vote, and a version 1 schema is migrated with its rows readable
/// through the old gender columns.
#[test]
fn attributes_of_any_classifier_are_stored_and_v1_schemas_migrate() {
    let pg = support::Postgres::start();
    // A version 1 schema with a row its pgsink wrote.
    let mut h = sink(&pg, "camera-id=old");
    play_attributes(&mut h);
    assert!(h.push_event(gst::event::Eos::new()));
    drop(h);
    pg.psql(
        "drop view cctv.track_attributes; \
         alter table cctv.tracks drop column gender, drop column gender_confidence; \
         alter table cctv.tracks add column gender text, add column gender_confidence real; \
         update cctv.tracks set gender = 'female', gender_confidence = 0.8; \
         update cctv.schema_version set version = 1",
    );
    let mut h = sink(&pg, "camera-id=new");
    play_attributes(&mut h);
    assert!(h.push_event(gst::event::Eos::new()));
    assert_eq!(pg.psql("select version from cctv.schema_version"), "2");
    assert_eq!(
        pg.psql("select camera_id, gender, round(gender_confidence::numeric, 2) from cctv.tracks order by camera_id"),
        "new|female|0.80\nold|female|0.80"
    );
    assert_eq!(
        pg.psql(
            "select name, label, source from cctv.track_attributes \
             where camera_id = 'new' order by name"
        ),
        "gender|female|gendercls0\nhelmet|yes|helmetcls0"
    );
    // A sink that may not migrate says what to do.
    pg.psql("update cctv.schema_version set version = 1");
    let err = support::first_error(
        &format!(
            "videotestsrc num-buffers=1 ! pgsink create-schema=false conninfo=\"{}\"",
            pg.conninfo()
        ),
        gst::ClockTime::from_seconds(30),
    )
    .expect("a version 1 schema is refused without create-schema");
    assert!(err.contains("migrates it"), "{err}");
}
