//! The README's main command (`./run demo`): the core data path on the
//! bundled video with real servers, then a report read back from them.
//!
//! Starts a throwaway mosquitto and PostgreSQL on free loopback ports (or
//! uses yours), prints and runs the pipeline of `pipelines/demo.txt`
//! (video -> onnxdetect -> bytetrack -> gendercls -> tee -> mqttsink + pgsink +
//! cctvoverlay), shows progress, and on EOS or Ctrl+C (which sends EOS so
//! the sinks flush) prints what the database and an MQTT subscriber
//! received. The annotated video is written to `<out>/annotated.mp4` and a
//! snapshot every 20 s of video to `<out>/snapshot-NN.png`.
//!
//! ```text
//! demo [--frames N] [--video FILE] [--camera NAME] [--mqtt HOST:PORT]
//!      [--pg CONNINFO] [--keep-servers] [--out DIR] [--view]
//! demo --rtsp [--cameras N] [--seconds S] [--video FILE] [--mqtt HOST:PORT]
//!      [--pg CONNINFO] [--keep-servers] [--view]
//! demo --ptz [--frames N] [--video FILE]
//! demo --site [--cameras N] [--soak MINUTES] [--video FILE] [--mqtt HOST:PORT] [--pg CONNINFO]
//! ```
//!
//! `--rtsp` serves the clip as live cameras from an RTSP server in this
//! process and runs the data path on each through `camsrc` (`live.rs`);
//! `--ptz` runs the PTZ closed loop instead (`ptz.rs`); `--view` also
//! serves the live view and plays the clip at its own speed; `--site` runs
//! the same live cameras through the site service, `cctvd` (`site.rs`),
//! with `--soak` through faults.

mod live;
mod ptz;
mod site;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;

struct Options {
    frames: Option<u64>,
    video: String,
    camera: String,
    mqtt: Option<(String, u16)>,
    pg: Option<String>,
    keep_servers: bool,
    ptz: bool,
    /// Serve the live view and play the clip at its own speed.
    view: bool,
    /// Where the annotated video and snapshots go.
    out: String,
    /// Live cameras from an RTSP server in this process.
    rtsp: bool,
    cameras: u32,
    /// How long the live cameras run.
    seconds: f64,
    /// The live cameras through the site service.
    site: bool,
    /// Minutes of the site's soak.
    soak: Option<f64>,
}

fn usage() -> String {
    "usage: demo [--frames N] [--video FILE] [--camera NAME] [--mqtt HOST:PORT] [--pg CONNINFO] [--keep-servers] [--out DIR] [--view]\n       demo --rtsp [--cameras N] [--seconds S] [--video FILE] [--mqtt HOST:PORT] [--pg CONNINFO] [--keep-servers] [--view]\n       demo --ptz [--frames N] [--video FILE]\n       demo --site [--cameras N] [--soak MINUTES] [--video FILE] [--mqtt HOST:PORT] [--pg CONNINFO]".into()
}

fn parse_options() -> Result<Options, String> {
    let mut o = Options {
        frames: None,
        video: support::video().display().to_string(),
        camera: "plaza".into(),
        mqtt: None,
        pg: None,
        keep_servers: false,
        ptz: false,
        view: false,
        out: concat!(env!("CARGO_MANIFEST_DIR"), "/target/demo").into(),
        rtsp: false,
        cameras: 1,
        seconds: 30.0,
        site: false,
        soak: None,
    };
    // Options that only one kind of run takes.
    let (mut file_only, mut live_only) = (Vec::new(), Vec::new());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--frames" | "--camera" | "--out" | "--ptz" => file_only.push(arg.clone()),
            "--cameras" | "--seconds" | "--soak" => live_only.push(arg.clone()),
            _ => {}
        }
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{arg} needs a value\n{}", usage()))
        };
        match arg.as_str() {
            "--frames" => {
                o.frames = Some(
                    value()?
                        .parse()
                        .map_err(|_| "--frames: not a number".to_string())?,
                )
            }
            "--video" => o.video = value()?,
            "--camera" => o.camera = value()?,
            "--mqtt" => {
                let v = value()?;
                let (host, port) = v.rsplit_once(':').ok_or("--mqtt wants HOST:PORT")?;
                o.mqtt = Some((
                    host.to_string(),
                    port.parse().map_err(|_| "--mqtt: bad port".to_string())?,
                ));
            }
            "--pg" => o.pg = Some(value()?),
            "--keep-servers" => o.keep_servers = true,
            "--ptz" => o.ptz = true,
            "--out" => o.out = value()?,
            "--view" => o.view = true,
            "--rtsp" => o.rtsp = true,
            "--site" => o.site = true,
            "--soak" => {
                o.soak = Some(
                    value()?
                        .parse()
                        .ok()
                        .filter(|m: &f64| *m > 0.0 && m.is_finite())
                        .ok_or("--soak: minutes, a positive number")?,
                )
            }
            "--cameras" => {
                o.cameras = value()?
                    .parse()
                    .ok()
                    .filter(|n| (1..=16).contains(n))
                    .ok_or("--cameras: a number from 1 to 16")?
            }
            "--seconds" => {
                o.seconds = value()?
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s > 0.0 && s.is_finite())
                    .ok_or("--seconds: a positive number")?
            }
            "-h" | "--help" => return Err(usage()),
            _ => return Err(format!("unknown option {arg}\n{}", usage())),
        }
    }
    if o.site {
        if o.rtsp {
            return Err(format!("--site and --rtsp: choose one\n{}", usage()));
        }
        // The site runs four live cameras unless told otherwise.
        o.rtsp = true;
        if !live_only.iter().any(|a| a == "--cameras") {
            o.cameras = 4;
        }
    } else if o.soak.is_some() {
        return Err(format!("--soak goes with --site\n{}", usage()));
    }
    if o.rtsp && !file_only.is_empty() {
        return Err(format!(
            "{} does not go with --rtsp\n{}",
            file_only.join(", "),
            usage()
        ));
    }
    if !o.rtsp && !live_only.is_empty() {
        return Err(format!(
            "{} goes with --rtsp\n{}",
            live_only.join(", "),
            usage()
        ));
    }
    if !std::path::Path::new(&o.video).exists() {
        return Err(format!("video {} not found: run ./run setup", o.video));
    }
    Ok(o)
}

fn main() -> ExitCode {
    match parse_options().and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// MQTT messages received per camera, by kind (track messages by event).
type Counts = Arc<Mutex<BTreeMap<String, BTreeMap<String, u64>>>>;

/// Subscribes to everything the demo publishes about `cameras`.
fn subscribe(servers: &Servers, cameras: &[String]) -> Result<(Counts, rumqttc::Client), String> {
    let (host, port) = (servers.mqtt_host.as_str(), servers.mqtt_port);
    let mut options =
        rumqttc::MqttOptions::new(format!("cctv-demo-{}", std::process::id()), host, port);
    options.set_keep_alive(Duration::from_secs(10));
    options.set_max_packet_size(1 << 20, 1 << 20);
    // On the throwaway broker (which persists to disk) a persistent
    // session: the broker keeps the subscriptions and queues what is
    // published while this subscriber reconnects, across its own restart
    // too. Not on yours (`--mqtt`), where the session would outlive the run.
    options.set_clean_session(servers.mosquitto.is_none());
    let (client, mut connection) = rumqttc::Client::new(options, 100);
    for camera in cameras {
        client
            .subscribe(format!("cctv/{camera}/#"), rumqttc::QoS::AtLeastOnce)
            .map_err(|e| format!("MQTT subscribe: {e}"))?;
    }
    let counts: Counts = Arc::default();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let c = counts.clone();
    let (resubscriber, topics) = (client.clone(), cameras.to_vec());
    std::thread::spawn(move || {
        let mut connected_before = false;
        for event in connection.iter() {
            match event {
                // A broker without persistence (--mqtt) forgot the subscriptions.
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_))) => {
                    if connected_before {
                        for camera in &topics {
                            resubscriber
                                .try_subscribe(
                                    format!("cctv/{camera}/#"),
                                    rumqttc::QoS::AtLeastOnce,
                                )
                                .ok();
                        }
                    }
                    connected_before = true;
                }
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                    ready_tx.send(Ok(())).ok();
                }
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                    let v: serde_json::Value =
                        serde_json::from_slice(&p.payload).unwrap_or_default();
                    let kind = match (v["kind"].as_str(), v["event"].as_str()) {
                        (Some("track"), Some(e)) => format!("track {e}"),
                        (Some(k), _) => k.to_string(),
                        _ => "other".into(),
                    };
                    // The topic is the subscription's: cctv/<camera>/...
                    let camera = p.topic.split('/').nth(1).unwrap_or_default();
                    let mut counts = c.lock().unwrap();
                    let camera = counts.entry(camera.to_string()).or_default();
                    *camera.entry(kind).or_insert(0) += 1;
                }
                Ok(_) => {}
                Err(e) => {
                    ready_tx.send(Err(e.to_string())).ok();
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    });
    for _ in cameras {
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return Err(format!(
                    "cannot subscribe to MQTT broker {host}:{port}: {e}"
                ));
            }
            Err(_) => return Err(format!("MQTT broker {host}:{port} did not answer")),
        }
    }
    Ok((counts, client))
}

const SIGINT: i32 = 2;
const SIGQUIT: i32 = 3;
const SIGTERM: i32 = 15;
/// Ctrl+C presses so far.
static INTERRUPTS: AtomicU32 = AtomicU32::new(0);
/// Our throwaway servers, for a third Ctrl+C.
static MOSQUITTO_PID: AtomicI32 = AtomicI32::new(0);
static POSTGRES_PID: AtomicI32 = AtomicI32::new(0);

unsafe extern "C" {
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
    fn kill(pid: i32, sig: i32) -> i32;
    fn _exit(status: i32) -> !;
}

/// Only async-signal-safe work here. The first Ctrl+C asks the main loop for
/// EOS, the second makes it stop without waiting for the sinks (servers are
/// still stopped and removed), the third stops our servers and exits at once.
extern "C" fn on_sigint(_: i32) {
    if INTERRUPTS.fetch_add(1, Ordering::SeqCst) >= 2 {
        unsafe {
            for (pid, sig) in [(&MOSQUITTO_PID, SIGTERM), (&POSTGRES_PID, SIGQUIT)] {
                let pid = pid.load(Ordering::SeqCst);
                if pid > 0 {
                    kill(pid, sig);
                }
            }
            _exit(130)
        };
    }
}

/// Progress figures updated by a pad probe.
#[derive(Default)]
struct Progress {
    frames: AtomicU64,
    in_view: AtomicU64,
    tracks: AtomicU64,
}

impl Progress {
    /// Counts the frames, the people in view and the tracks started
    /// behind `tracker`.
    fn watch(tracker: &gst::Element) -> Arc<Progress> {
        let progress = Arc::new(Progress::default());
        let p = progress.clone();
        tracker.static_pad("src").unwrap().add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
            move |_, info| {
                match &info.data {
                    Some(gst::PadProbeData::Buffer(b)) => {
                        p.frames.fetch_add(1, Ordering::Relaxed);
                        if let Some(Ok(f)) = cctv::meta::Frame::from_buffer(b) {
                            p.in_view.store(f.objects.len() as u64, Ordering::Relaxed);
                        }
                    }
                    Some(gst::PadProbeData::Event(e))
                        if cctv::lifecycle::TrackEvent::from_event(e)
                            .is_some_and(|t| t.kind == cctv::lifecycle::Kind::New) =>
                    {
                        p.tracks.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
                gst::PadProbeReturn::Ok
            },
        );
        progress
    }
}

/// The broker and the database the run reports from: yours (`--mqtt`,
/// `--pg`), or throwaway ones on free loopback ports.
struct Servers {
    mosquitto: Option<support::Mosquitto>,
    postgres: Option<support::Postgres>,
    mqtt_host: String,
    mqtt_port: u16,
    conninfo: String,
}

impl Servers {
    /// Starts the servers the options do not name and says where they are.
    fn start(o: &Options) -> Servers {
        let mosquitto = if o.mqtt.is_none() {
            Some(support::Mosquitto::start())
        } else {
            None
        };
        let postgres = if o.pg.is_none() {
            Some(support::Postgres::start())
        } else {
            None
        };
        let (mqtt_host, mqtt_port) = o
            .mqtt
            .clone()
            .unwrap_or_else(|| ("127.0.0.1".into(), mosquitto.as_ref().unwrap().port));
        let conninfo =
            o.pg.clone()
                .unwrap_or_else(|| postgres.as_ref().unwrap().conninfo());
        for (server, pid) in [
            (mosquitto.as_ref().and_then(|m| m.pid()), &MOSQUITTO_PID),
            (postgres.as_ref().and_then(|p| p.pid()), &POSTGRES_PID),
        ] {
            pid.store(server.unwrap_or(0) as i32, Ordering::SeqCst);
        }
        if let Some(m) = &mosquitto {
            println!("mosquitto on 127.0.0.1:{}", m.port);
        }
        if let Some(p) = &postgres {
            println!(
                "PostgreSQL on 127.0.0.1:{} (conninfo: {})",
                p.port,
                p.conninfo()
            );
        }
        Servers {
            mosquitto,
            postgres,
            mqtt_host,
            mqtt_port,
            conninfo,
        }
    }

    /// With `keep`, leaves the throwaway servers running and says how to
    /// stop them; otherwise they stop here.
    fn finish(self, keep: bool) {
        if !keep {
            return;
        }
        let conninfo = self.conninfo;
        if let Some(m) = self.mosquitto {
            println!("  mosquitto keeps running; stop it with: {}", m.keep());
        }
        if let Some(p) = self.postgres {
            println!(
                "  PostgreSQL keeps running ({conninfo}); stop it with: {}",
                p.keep()
            );
        }
    }
}

/// Where `--view` serves the live view.
fn view_address() -> String {
    std::env::var("CCTV_METRICS")
        .ok()
        .filter(|a| !a.is_empty() && a != "1")
        .unwrap_or_else(|| "127.0.0.1:9464".into())
}

/// Plays `pipeline` to its end: EOS, an error, or a second Ctrl+C. The
/// first Ctrl+C, or `done()` turning true, calls `end()`, which sends EOS
/// so the sinks flush; `line()` is the progress, updated in place on a
/// terminal and printed every 2 s otherwise.
fn play(
    pipeline: &gst::Pipeline,
    done: impl Fn() -> bool,
    end: impl Fn(),
    line: impl Fn() -> String,
) -> Result<(), String> {
    let terminal = std::io::stdout().is_terminal();
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("cannot start the pipeline: {e}"))?;
    let bus = pipeline.bus().unwrap();
    let mut eos_sent = false;
    let mut last_line = Instant::now();
    loop {
        let interrupts = INTERRUPTS.load(Ordering::SeqCst);
        if interrupts >= 2 {
            return Err("interrupted twice: stopped without waiting for the sinks".to_string());
        }
        if !eos_sent && (interrupts == 1 || done()) {
            eos_sent = true;
            if interrupts == 1 {
                println!("\ninterrupted: sending EOS so the sinks flush what they have");
            }
            end();
        }
        if let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(200)) {
            match msg.view() {
                gst::MessageView::Eos(_) => return Ok(()),
                gst::MessageView::Error(e) => {
                    return Err(format!("{} ({})", e.error(), e.debug().unwrap_or_default()));
                }
                _ => {}
            }
        }
        let line = line();
        if terminal {
            print!("\r\x1b[2K{line}");
            std::io::stdout().flush().ok();
        } else if last_line.elapsed() >= Duration::from_secs(2) {
            println!("{line}");
            last_line = Instant::now();
        }
    }
}

/// What the broker acknowledged to the mqttsink named `name` (all of it
/// once EOS has been waited for).
fn mqtt_delivered(pipeline: &gst::Pipeline, name: &str) -> u64 {
    pipeline
        .by_name(name)
        .map(|m| m.property::<gst::Structure>("stats"))
        .and_then(|s| s.get::<u64>("delivered").ok())
        .unwrap_or(0)
}

fn connect_database(conninfo: &str) -> Result<postgres::Client, String> {
    postgres::Config::from_str_checked(conninfo)?
        .connect(postgres::NoTls)
        .map_err(|e| format!("PostgreSQL: {e}"))
}

/// Prints the tracks `camera` stored from `since` on (this run's, when the
/// database is yours and holds older ones) and their final gender vote;
/// `started` is how many the tracker started.
fn report_tracks(
    db: &mut postgres::Client,
    camera: &str,
    since: std::time::SystemTime,
    started: u64,
) -> Result<(), String> {
    let row = db
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE NOT ended), \
             coalesce(max(duration_s), 0), coalesce(avg(duration_s), 0) \
             FROM cctv.tracks WHERE camera_id = $1 AND first_seen >= $2",
            &[&camera, &since],
        )
        .map_err(|e| format!("PostgreSQL: {e}"))?;
    let (tracks, open, longest, mean): (i64, i64, f64, f64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    println!(
        "  PostgreSQL tracks stored: {tracks} (tracker started {started}, not ended {open}, \
         longest {longest:.1} s, mean {mean:.1} s)"
    );
    // The final gender vote of each stored track, whatever the label set.
    let genders = db
        .query(
            "SELECT coalesce(a.label, 'none'), count(*) FROM cctv.tracks t \
             LEFT JOIN cctv.track_attributes a ON a.camera_id = t.camera_id \
             AND a.run_id = t.run_id AND a.track_id = t.track_id AND a.name = 'gender' \
             WHERE t.camera_id = $1 AND t.first_seen >= $2 GROUP BY 1 ORDER BY 1",
            &[&camera, &since],
        )
        .map_err(|e| format!("PostgreSQL: {e}"))?;
    let genders: Vec<String> = genders
        .iter()
        .map(|r| format!("{}: {}", r.get::<_, String>(0), r.get::<_, i64>(1)))
        .collect();
    println!("  gender of the stored tracks: {}", genders.join(", "));
    Ok(())
}

/// Prints what the subscriber received about `camera`, once it has the
/// `acked` messages the broker acknowledged to the camera's sink (it may
/// still be reading them) and its counts stopped moving.
fn report_mqtt(counts: &Counts, camera: &str, acked: u64) {
    let of_camera = || {
        counts
            .lock()
            .unwrap()
            .get(camera)
            .cloned()
            .unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while of_camera().values().sum::<u64>() < acked && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut settled = of_camera();
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(100));
        let now = of_camera();
        if now == settled {
            break;
        }
        settled = now;
    }
    let listed: Vec<String> = settled.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    println!(
        "  MQTT messages received: {} ({})",
        settled.values().sum::<u64>(),
        listed.join(", ")
    );
}

fn run(o: Options) -> Result<(), String> {
    // Ctrl+C from here on ends the run cleanly (see `on_sigint`).
    unsafe { signal(SIGINT, on_sigint) };
    gst::init().map_err(|e| e.to_string())?;
    gstcctv::plugin_register_static().map_err(|e| e.to_string())?;
    if o.ptz {
        return ptz::run(&o.video, o.frames);
    }

    let mut servers = Servers::start(&o);
    if o.site {
        site::run(&o, &mut servers, o.soak)?;
        servers.finish(o.keep_servers);
        return Ok(());
    }
    if o.rtsp {
        live::run(&o, &servers)?;
        servers.finish(o.keep_servers);
        return Ok(());
    }
    let (counts, subscriber) = subscribe(&servers, std::slice::from_ref(&o.camera))?;

    std::fs::create_dir_all(&o.out).map_err(|e| format!("--out {}: {e}", o.out))?;
    for entry in std::fs::read_dir(&o.out).map_err(|e| format!("--out {}: {e}", o.out))? {
        // Snapshots of an earlier, longer run would pass for this run's.
        let path = entry.map_err(|e| e.to_string())?.path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("snapshot-"))
        {
            std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    let template = include_str!("../../pipelines/demo.txt").trim();
    let launch = template
        .replace("{video}", &o.video)
        .replace("{mqtt_host}", &servers.mqtt_host)
        .replace("{mqtt_port}", &servers.mqtt_port.to_string())
        .replace("{camera}", &o.camera)
        .replace("{conninfo}", &servers.conninfo)
        .replace("{out}", &o.out);
    // `--view`: the annotated picture also goes to a live view, and the
    // clip plays at its own frame rate so that there is something to watch.
    let launch = if o.view {
        format!("{launch} v. ! queue ! liveview camera-id={}", o.camera).replacen(
            "decodebin ! ",
            "decodebin ! identity sync=true ! ",
            1,
        )
    } else {
        launch
    };
    println!("pipeline (GST_PLUGIN_PATH=target/release gst-launch-1.0 ...):\n  {launch}\n");
    let pipeline = gst::parse::launch(&launch)
        .map_err(|e| format!("pipeline: {e}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline")?;

    let tracker = pipeline
        .by_name("tracker")
        .ok_or("no element named tracker")?;
    let progress = Progress::watch(&tracker);

    // `--frames N`: the detector sees exactly N frames; the first one past
    // the limit asks the main loop for EOS, as Ctrl+C does, and later ones
    // are dropped. (`identity eos-after` after a decoder lets through one
    // frame more or less from run to run.) The probe consumes what it drops
    // (`Handled`): on `Drop`, GStreamer 1.22 unreferences the buffer that
    // gstreamer-rs already released, one CRITICAL per frame.
    let limit_reached = Arc::new(AtomicBool::new(false));
    if let Some(limit) = o.frames {
        let detector = pipeline
            .by_name("detector")
            .ok_or("no element named detector")?;
        let seen = AtomicU64::new(0);
        let reached = limit_reached.clone();
        detector
            .static_pad("sink")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                if seen.fetch_add(1, Ordering::Relaxed) < limit {
                    gst::PadProbeReturn::Ok
                } else {
                    reached.store(true, Ordering::SeqCst);
                    gst::PadProbeReturn::Handled
                }
            });
    }

    if o.view {
        println!(
            "live view: http://{}/ (metrics: /metrics, health: /health)\n",
            view_address()
        );
    }
    let start = Instant::now();
    // Rows of this run only, when the database is yours and holds older ones.
    let started_at = std::time::SystemTime::now() - Duration::from_secs(1);
    let result = play(
        &pipeline,
        || limit_reached.load(Ordering::SeqCst),
        || {
            pipeline.send_event(gst::event::Eos::new());
        },
        || {
            let frames = progress.frames.load(Ordering::Relaxed);
            format!(
                "frames {frames}  {:.1} fps  people in view {}  tracks so far {}",
                frames as f64 / start.elapsed().as_secs_f64(),
                progress.in_view.load(Ordering::Relaxed),
                progress.tracks.load(Ordering::Relaxed)
            )
        },
    );
    let elapsed = start.elapsed().as_secs_f64();
    let acked = mqtt_delivered(&pipeline, "mqtt");
    pipeline.set_state(gst::State::Null).ok();
    if std::io::stdout().is_terminal() {
        println!();
    }
    result?;

    // The report, read back from the servers.
    let frames = progress.frames.load(Ordering::Relaxed);
    println!("\nreport for camera {}", o.camera);
    println!(
        "  frames processed: {frames} in {elapsed:.1} s ({:.1} fps)",
        frames as f64 / elapsed
    );
    let mut db = connect_database(&servers.conninfo)?;
    report_tracks(
        &mut db,
        &o.camera,
        started_at,
        progress.tracks.load(Ordering::Relaxed),
    )?;
    report_mqtt(&counts, &o.camera, acked);
    subscriber.try_disconnect().ok();
    let snapshots = std::fs::read_dir(&o.out)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("snapshot-"))
                .count()
        })
        .unwrap_or(0);
    println!(
        "  annotated video: {}/annotated.mp4, snapshots: {snapshots} ({}/snapshot-NN.png)",
        o.out, o.out
    );

    servers.finish(o.keep_servers);
    Ok(())
}

/// `FromStr` with the error as a message that never echoes the conninfo.
trait ConninfoExt: Sized {
    fn from_str_checked(conninfo: &str) -> Result<Self, String>;
}

impl ConninfoExt for postgres::Config {
    fn from_str_checked(conninfo: &str) -> Result<Self, String> {
        conninfo
            .parse()
            .map_err(|e| format!("invalid conninfo: {e}"))
    }
}
