//! The README's main command, run as a user would (shortened with --frames).

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn demo() -> Command {
    let bin = support::profile_dir().join("examples/demo");
    assert!(
        bin.exists(),
        "build the examples first (cargo build --examples)"
    );
    let mut c = Command::new(bin);
    c.env("CCTV_ASSETS", support::assets());
    c
}

/// Runs the demo with `args` to its end; its standard output, after
/// checking that it succeeded and printed no GLib warning or critical.
fn run_demo(args: &[&str]) -> String {
    let mut demo = demo();
    // A run on the clip writes its video and snapshots into a folder of its
    // own: the tests run at once, and a run clears its folder first.
    if !args.contains(&"--rtsp") {
        demo.arg("--out").arg(support::tempdir("demo-out"));
    }
    run_demo_with(demo.args(args))
}

fn run_demo_with(command: &mut Command) -> String {
    let out = command.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}\n{errors}");
    assert_quiet(&errors);
    text
}

/// A clean run prints no `GStreamer-CRITICAL`, `GLib-WARNING` and the like
/// (GStreamer's own debug log is off unless `GST_DEBUG` is set).
fn assert_quiet(stderr: &str) {
    let loud: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("CRITICAL") || l.contains("WARNING"))
        .collect();
    assert!(loud.is_empty(), "the demo complained:\n{}", loud.join("\n"));
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
    let broker = support::Mosquitto::start();
    let pg = support::Postgres::start();
    let sub = support::Subscriber::start(broker.port, "cctv/#");
    let text = run_demo(&[
        "--frames",
        "200",
        "--camera",
        "gate",
        "--mqtt",
        &format!("127.0.0.1:{}", broker.port),
        "--pg",
        &pg.conninfo(),
    ]);
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

    // Every stored track has its final gender vote (on this clip's small
    // faces mostly unknown).
    let line = text
        .lines()
        .find(|l| l.contains("gender of the stored tracks:"))
        .unwrap_or_else(|| panic!("no gender line: {text}"));
    let voted: f64 = line
        .split(": ")
        .skip(2)
        .map(|v| v.split(',').next().unwrap().trim().parse::<f64>().unwrap())
        .sum();
    assert_eq!(voted, tracks, "{line}");
    assert!(!line.contains("none"), "{line}");
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

/// Ctrl+C as a terminal sends it: to the demo's whole process group.
#[test]
fn ctrl_c_flushes_reports_and_leaves_nothing_running() {
    let mut child = demo()
        .args(["--camera", "door", "--out"])
        .arg(support::tempdir("demo-out"))
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).ok();
        text
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut text = String::new();
    let (mut broker_port, mut pg_port) = (None, None);
    // Wait for the first progress line (plain lines: stdout is not a terminal).
    let deadline = Instant::now() + Duration::from_secs(120);
    for line in lines.by_ref() {
        let line = line.unwrap();
        text.push_str(&line);
        text.push('\n');
        if let Some(p) = line.strip_prefix("mosquitto on 127.0.0.1:") {
            broker_port = Some(p.trim().parse::<u16>().unwrap());
        }
        if let Some(p) = line.strip_prefix("PostgreSQL on 127.0.0.1:") {
            pg_port = Some(p.split_whitespace().next().unwrap().parse::<u16>().unwrap());
        }
        if line.starts_with("frames ") && figure(&line, "frames", "frames") >= 20.0 {
            break;
        }
        assert!(Instant::now() < deadline, "no progress: {text}");
    }
    // kill(2) on the negative pid: the whole group, as a terminal does.
    // (`/usr/bin/kill -INT -PID` took down the calling shell too here.)
    unsafe extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    let group = child.id() as i32;
    assert!(group > 1);
    assert_eq!(unsafe { kill(-group, 2) }, 0, "SIGINT to the demo's group");
    for line in lines {
        text.push_str(&line.unwrap());
        text.push('\n');
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{text}");
    assert_quiet(&errors.join().unwrap());
    assert!(text.contains("interrupted: sending EOS"), "{text}");
    let frames = figure(&text, "frames processed:", "processed:");
    assert!(frames < 795.0, "stopped early: {text}");
    // Every track the tracker started up to then reached the database (read
    // back by the demo before it removed its cluster), ended by the EOS.
    let line = "PostgreSQL tracks stored:";
    let tracks = figure(&text, line, "stored:");
    assert!(tracks >= 1.0, "{text}");
    assert_eq!(tracks, figure(&text, line, "tracker started"), "{text}");
    assert_eq!(figure(&text, line, "not ended"), 0.0, "{text}");
    // The MQTT side flushed too: its broker outlived the Ctrl+C.
    assert_eq!(
        figure(&text, "MQTT messages received:", "track enter:"),
        tracks,
        "{text}"
    );
    // The demo's own servers are gone.
    for (what, port) in [("mosquitto", broker_port), ("PostgreSQL", pg_port)] {
        let port = port.unwrap_or_else(|| panic!("the demo started {what}: {text}"));
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "{what} left running"
        );
    }
}

/// `--keep-servers`: the servers outlive the demo, and the commands it
/// prints stop them and leave nothing behind.
#[test]
fn kept_servers_stop_with_the_printed_commands() {
    let text = run_demo(&["--frames", "5", "--camera", "kept", "--keep-servers"]);
    let commands: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_once("stop it with: ").map(|(_, c)| c))
        .collect();
    assert_eq!(commands.len(), 2, "{text}");
    let mut left = Vec::new();
    for (what, prefix) in [
        ("mosquitto", "mosquitto on 127.0.0.1:"),
        ("PostgreSQL", "PostgreSQL on 127.0.0.1:"),
    ] {
        let line = text
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("the demo started {what}: {text}"));
        let port: u16 = line[prefix.len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_ok(),
            "{what} was not kept"
        );
        left.push((what, port));
    }
    for command in &commands {
        let status = Command::new("sh").args(["-c", command]).status().unwrap();
        assert!(status.success(), "{command}");
        // What the command removes is the server's folder.
        let dir = command.rsplit("rm -rf ").next().unwrap();
        assert!(
            dir.contains("cctv-") && !std::path::Path::new(dir).exists(),
            "{dir} is left behind by {command}"
        );
    }
    for (what, port) in left {
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "{what} still runs"
        );
    }
}

/// `--view`: the clip at its own speed with the live view served beside
/// the run, on an address of the test's.
#[test]
fn live_view_run_is_quiet() {
    let address = format!("127.0.0.1:{}", support::free_port());
    let text = run_demo_with(
        demo()
            .args(["--view", "--frames", "20", "--camera", "porch", "--out"])
            .arg(support::tempdir("demo-out"))
            .env("CCTV_METRICS", &address),
    );
    assert!(
        text.contains(&format!("live view: http://{address}/")),
        "{text}"
    );
    assert_eq!(figure(&text, "frames processed:", "processed:"), 20.0);
}

/// `--rtsp`: the bundled clip from the demo's own RTSP server as two live
/// cameras, through camsrc, each reported on its own.
#[test]
fn live_cameras_are_reported_per_camera() {
    let text = run_demo(&["--rtsp", "--cameras", "2", "--seconds", "8"]);
    assert!(
        text.contains("camsrc name=src-cam1 uri=rtsp://127.0.0.1:"),
        "the pipeline is printed: {text}"
    );
    for camera in ["cam1", "cam2"] {
        let report = text
            .split(&format!("report for camera {camera}\n"))
            .nth(1)
            .and_then(|r| r.split("\n\n").next())
            .unwrap_or_else(|| panic!("no report for {camera}: {text}"));
        // The camera sends 10 fps for 8 s, less the time to connect; how
        // many the detector takes depends on the machine's load (camsrc's
        // leaky queue drops the rest: 35 of 61 under a load of 8).
        assert!(
            figure(report, "frames processed:", "processed:") >= 10.0,
            "{report}"
        );
        assert!(
            figure(report, "camsrc:", "from the camera") >= 40.0,
            "{report}"
        );
        assert_eq!(figure(report, "camsrc:", "reconnects"), 0.0, "{report}");
        let latency = figure(report, "latency from capture", "mqttsink");
        assert!(latency > 0.0 && latency < 5000.0, "{report}");
        let line = "PostgreSQL tracks stored:";
        let tracks = figure(report, line, "stored:");
        assert!(tracks >= 1.0, "{report}");
        assert_eq!(tracks, figure(report, line, "tracker started"), "{report}");
        assert_eq!(figure(report, line, "not ended"), 0.0, "{report}");
        assert_eq!(
            figure(report, "MQTT messages received:", "track enter:"),
            tracks,
            "{report}"
        );
    }
}
