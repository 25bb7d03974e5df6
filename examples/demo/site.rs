//! `demo --site`: the site service (`cctvd`) on live cameras. Serves the
//! clip as `--cameras` (4) live H.264 cameras from an RTSP server in this
//! process (as `--rtsp` does), writes a config for them with the demo's
//! broker and database, runs the service and prints the page's address and
//! API calls to try; Ctrl+C stops it (the sinks flush) and the report is
//! read back from the servers.
//!
//! `--soak MINUTES` runs the same site through faults instead: a camera
//! outage every 2 minutes (the RTSP server stopped for 10 s), a broker
//! restart and a database restart every 5 minutes, a config reload every 3
//! minutes and a stop/start call every minute; then prints the service's
//! RSS after warm-up and at the end, the requests answered, and the
//! messages and rows lost (tracks that entered without their exit, or
//! missing from the database).

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use support::RtspServer;
use support::rtsp::{clip_mount, loopable};

use super::{Options, Servers};

/// The service this demo runs, built beside the demo (`cargo build -p cctvd`).
fn cctvd() -> Result<PathBuf, String> {
    let path = support::profile_dir().join("cctvd");
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} not built: cargo build --release -p cctvd",
            path.display()
        ))
    }
}

fn config(
    listen: &str,
    servers: &Servers,
    server: &RtspServer,
    names: &[String],
    spool: &Path,
    interval: u32,
) -> String {
    let mut text = format!(
        "# Written by ./run demo --site: every camera runs camsrc ! onnxdetect ! bytetrack\n\
         # ! gendercls ! tee ! mqttsink + pgsink + cctvoverlay ! liveview.\n\
         listen = \"{listen}\"\n\n\
         [defaults]\n\
         onnxdetect = {{ conf-threshold = 0.1, classes = \"person\", interval = {interval} }}\n\
         camsrc = {{ latency = 50 }}\n\n\
         [mqtt]\nhost = \"{}\"\nport = {}\nspool-location = \"{}\"\nretry-timeout = 0\n\n\
         [postgres]\nconninfo = \"{}\"\ndetections-interval = 10\nspool-location = \"{}\"\nretry-timeout = 0\n",
        servers.mqtt_host,
        servers.mqtt_port,
        spool.display(),
        servers.conninfo,
        spool.display(),
    );
    for name in names {
        text.push_str(&format!(
            "\n[[camera]]\nid = \"{name}\"\nuri = \"{}\"\n",
            server.url(name, None)
        ));
    }
    text
}

fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| e.to_string())
}

/// One API call: status and JSON (status 0 when nothing answered).
fn call(base: &str, method: &str, path: &str) -> (u16, serde_json::Value) {
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .http_status_as_error(false)
            .build(),
    );
    let url = format!("{base}{path}");
    let response = if method == "POST" {
        agent.post(&url).send_empty()
    } else {
        agent.get(&url).call()
    };
    match response {
        Ok(mut r) => (
            r.status().as_u16(),
            r.body_mut()
                .read_to_string()
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default(),
        ),
        Err(_) => (0, serde_json::Value::Null),
    }
}

/// The service's resident memory, MB.
fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        // SIGTERM and wait: the service flushes its sinks before our servers go.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        self.0.wait().ok();
    }
}

pub fn run(o: &Options, servers: &mut Servers, soak_minutes: Option<f64>) -> Result<(), String> {
    let names: Vec<String> = (1..=o.cameras).map(|k| format!("cam{k}")).collect();
    let dir = support::tempdir("cctv-site-demo");
    let (clip, fps) = loopable(&o.video, &dir)?;
    let launch = clip_mount(&clip, fps);
    let mounts: Vec<(&str, &str)> = names
        .iter()
        .map(|n| (n.as_str(), launch.as_str()))
        .collect();
    let mut server = RtspServer::start(&mounts, None);
    let (counts, subscriber) = super::subscribe(servers, &names)?;
    let listen = std::env::var("CCTV_SITE_LISTEN").unwrap_or_else(|_| "127.0.0.1:9464".into());
    let path = dir.join("site.toml");
    let spool = dir.join("spool");
    write_private(&path, &config(&listen, servers, &server, &names, &spool, 1))?;
    let started_at = std::time::SystemTime::now() - Duration::from_secs(1);
    // A process group of its own: Ctrl+C on the terminal reaches the demo,
    // which then stops the service with one SIGTERM (a second signal would
    // make it exit without flushing).
    let child = Command::new(cctvd()?)
        .process_group(0)
        .arg("--config")
        .arg(&path)
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("cctvd: {e}"))?;
    let pid = child.id();
    let service = Running(child);
    let base = format!("http://{listen}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while call(&base, "GET", "/api/cameras").0 != 200 {
        if Instant::now() > deadline {
            return Err("cctvd does not answer".into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    println!(
        "\nthe site: {} cameras from {}, config {}",
        names.len(),
        server.url("camN", None),
        path.display()
    );
    println!("  page:    {base}/   (every camera: picture, state, counts, Start/Stop)");
    println!("  cameras: curl -s {base}/api/cameras");
    println!("  one:     curl -s {base}/api/cameras/cam1");
    println!(
        "  stop:    curl -s -X POST {base}/api/cameras/cam2/stop   (then .../start, .../restart)"
    );
    println!(
        "  reload:  edit {} then curl -s -X POST {base}/api/reload (or kill -HUP {pid})",
        path.display()
    );
    println!("  metrics: curl -s {base}/metrics ; health: curl -s {base}/health");
    let result = match soak_minutes {
        None => {
            println!("Ctrl+C stops the service (the sinks flush) and prints the report\n");
            while super::INTERRUPTS.load(Ordering::SeqCst) == 0 {
                std::thread::sleep(Duration::from_millis(200));
            }
            Ok(())
        }
        Some(minutes) => soak(
            &base,
            pid,
            minutes,
            &path,
            servers,
            &mut server,
            &names,
            &spool,
        ),
    };
    drop(service);
    drop(server);
    result?;
    let mut db = super::connect_database(&servers.conninfo)?;
    let mut lost = 0;
    for name in &names {
        println!("\nreport for camera {name}");
        let row = db
            .query_one(
                "SELECT count(*), count(*) FILTER (WHERE ended) FROM cctv.tracks WHERE camera_id = $1 AND first_seen >= $2",
                &[name, &started_at],
            )
            .map_err(|e| format!("PostgreSQL: {e}"))?;
        let (rows, ended): (i64, i64) = (row.get(0), row.get(1));
        let received = counts
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .unwrap_or_default();
        super::report_mqtt(&counts, name, received.values().sum());
        let enter = received.get("track enter").copied().unwrap_or(0);
        let exit = received.get("track exit").copied().unwrap_or(0);
        println!(
            "  PostgreSQL tracks: {rows} ({ended} ended); MQTT track enter {enter}, exit {exit}"
        );
        lost += enter.abs_diff(exit) + (rows as u64).abs_diff(enter) + (rows - ended) as u64;
    }
    subscriber.try_disconnect().ok();
    if soak_minutes.is_some() {
        println!("\nlost (enters without exit, tracks missing or open in the database): {lost}");
    }
    std::fs::remove_dir_all(&dir).ok();
    if lost > 0 && soak_minutes.is_some() {
        return Err(format!("{lost} messages or rows lost"));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn soak(
    base: &str,
    pid: u32,
    minutes: f64,
    path: &Path,
    servers: &mut Servers,
    server: &mut RtspServer,
    names: &[String],
    spool: &Path,
) -> Result<(), String> {
    let total = Duration::from_secs_f64(minutes * 60.0);
    let start = Instant::now();
    let (mut asked, mut answered) = (0u64, 0u64);
    let mut ask = |method: &str, p: &str| {
        asked += 1;
        let (status, v) = call(base, method, p);
        if status != 0 {
            answered += 1;
        }
        (status, v)
    };
    let warm = Duration::from_secs(60).min(total / 4);
    let mut rss_warm = None;
    let mut interval = 1;
    let mut minute = 0u64;
    println!(
        "soak for {minutes} min: outages every 2 min, broker and database restarts every 5, reload every 3, stop/start every minute"
    );
    while start.elapsed() < total && super::INTERRUPTS.load(Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_secs(1));
        ask("GET", "/api/cameras");
        if rss_warm.is_none() && start.elapsed() >= warm {
            rss_warm = Some(rss_mb(pid));
        }
        let m = start.elapsed().as_secs() / 60;
        if m == minute {
            continue;
        }
        minute = m;
        let cam = &names[(m as usize) % names.len()];
        ask("POST", &format!("/api/cameras/{cam}/stop"));
        std::thread::sleep(Duration::from_secs(3));
        ask("POST", &format!("/api/cameras/{cam}/start"));
        if m.is_multiple_of(2) {
            println!("{m} min: camera outage (RTSP server down 10 s)");
            server.stop();
            std::thread::sleep(Duration::from_secs(10));
            server.resume();
        }
        if m.is_multiple_of(3) {
            interval = 3 - interval;
            let text = config(
                &base.replace("http://", ""),
                servers,
                server,
                names,
                spool,
                interval,
            );
            write_private(path, &text)?;
            let (status, v) = ask("POST", "/api/reload");
            println!("{m} min: reload ({status}): changed {}", v["changed"]);
        }
        if m.is_multiple_of(5) {
            println!("{m} min: broker and database restarts");
            if let Some(b) = servers.mosquitto.as_mut() {
                b.restart();
            }
            if let Some(d) = servers.postgres.as_mut() {
                d.restart();
            }
        }
        let (_, list) = ask("GET", "/api/cameras");
        let states: Vec<String> = list["cameras"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| format!("{} {} {} fps", c["id"], c["state"], c["fps"]))
            .collect();
        println!("{m} min: RSS {:.1} MB; {}", rss_mb(pid), states.join(", "));
        std::io::stdout().flush().ok();
    }
    println!(
        "\nsoak: {:.1} min; RSS after warm-up {:.1} MB, at the end {:.1} MB; requests answered {answered} of {asked}",
        start.elapsed().as_secs_f64() / 60.0,
        rss_warm.unwrap_or(0.0),
        rss_mb(pid)
    );
    Ok(())
}
