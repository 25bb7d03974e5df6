//! The README's main command, run as a user would (shortened with --frames).

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn demo() -> Command {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/demo");
    assert!(
        bin.exists(),
        "build the examples first (cargo build --examples)"
    );
    let mut c = Command::new(bin);
    c.env("CCTV_ASSETS", common::assets());
    c
}

/// The number after `label` in the report line starting with `line`.
fn figure(output: &str, line: &str, label: &str) -> f64 {
    let l = output
        .lines()
        .find(|l| l.trim_start().starts_with(line))
        .unwrap_or_else(|| panic!("no {line}: {output}"));
    let rest = &l[l.find(label).unwrap_or_else(|| panic!("no {label} in {l}")) + label.len()..];
    let number: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    number.parse().unwrap_or_else(|_| panic!("{l}"))
}

#[test]
fn report_matches_the_database_and_a_subscriber() {
    let broker = common::Mosquitto::start();
    let pg = common::Postgres::start();
    let sub = common::Subscriber::start(broker.port, "cctv/#");
    let out = demo()
        .args(["--frames", "200", "--camera", "gate"])
        .args([
            "--mqtt",
            &format!("127.0.0.1:{}", broker.port),
            "--pg",
            &pg.conninfo(),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("onnxdetect") && text.contains("pgsink conninfo="),
        "the pipeline is printed: {text}"
    );
    assert_eq!(figure(&text, "frames processed:", "processed:"), 200.0);

    let tracks = figure(&text, "PostgreSQL tracks stored:", "stored:");
    let db = pg.psql("select count(*), round(max(duration_s)::numeric, 1), round(avg(duration_s)::numeric, 1) from cctv.tracks where camera_id = 'gate'");
    let cols: Vec<f64> = db.split('|').map(|v| v.parse().unwrap()).collect();
    assert!(tracks >= 5.0, "{text}");
    assert_eq!(tracks, cols[0]);
    assert_eq!(
        figure(&text, "PostgreSQL tracks stored:", "longest"),
        cols[1]
    );
    assert_eq!(figure(&text, "PostgreSQL tracks stored:", "mean"), cols[2]);

    let received = figure(&text, "MQTT messages received:", "received:");
    let ours = sub
        .wait_for(Duration::from_secs(10), |m| m.len() as f64 >= received)
        .len();
    assert_eq!(received, ours as f64, "{text}");
    assert_eq!(
        figure(&text, "MQTT messages received:", "track enter:"),
        tracks
    );
    assert_eq!(
        figure(&text, "MQTT messages received:", "track exit:"),
        tracks
    );
}

#[test]
fn ctrl_c_flushes_reports_and_leaves_nothing_running() {
    let pg = common::Postgres::start();
    let mut child = demo()
        .args(["--camera", "door", "--pg", &pg.conninfo()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut text = String::new();
    let mut broker_port = None;
    // Wait for the first progress line (plain lines: stdout is not a terminal).
    let deadline = Instant::now() + Duration::from_secs(120);
    for line in lines.by_ref() {
        let line = line.unwrap();
        text.push_str(&line);
        text.push('\n');
        if let Some(p) = line.strip_prefix("mosquitto on 127.0.0.1:") {
            broker_port = Some(p.trim().parse::<u16>().unwrap());
        }
        if line.starts_with("frames ") && figure(&line, "frames", "frames") >= 20.0 {
            break;
        }
        assert!(Instant::now() < deadline, "no progress: {text}");
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    for line in lines {
        text.push_str(&line.unwrap());
        text.push('\n');
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{text}");
    assert!(text.contains("interrupted: sending EOS"), "{text}");
    let frames = figure(&text, "frames processed:", "processed:");
    assert!(frames < 795.0, "stopped early: {text}");
    let tracks = figure(&text, "PostgreSQL tracks stored:", "stored:");
    assert!(tracks >= 1.0);
    // Every track seen up to then reached the database, ended by the EOS.
    assert_eq!(
        pg.psql("select count(*) from cctv.tracks where camera_id = 'door'"),
        format!("{tracks}")
    );
    assert_eq!(
        pg.psql("select count(*) from cctv.tracks where camera_id = 'door' and not ended"),
        "0"
    );
    // The demo's own broker is gone.
    let port = broker_port.expect("the demo started a broker");
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "mosquitto left running"
    );
}
