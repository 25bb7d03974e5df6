//! `cctvd`, the site service, as its users meet it: the built binary run
//! with a config file, driven through its real HTTP API against real
//! servers (an RTSP server in this process, mosquitto, PostgreSQL), and its
//! page in a real headless browser. The binary comes from `cargo build`
//! (`target/debug/cctvd`). The tests take turns: each runs a service with
//! several cameras, which is what the 2 cores are for.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn cctvd() -> PathBuf {
    let path = support::plugin_dir().join("cctvd");
    assert!(
        path.exists(),
        "{} not built: cargo build -p cctvd",
        path.display()
    );
    path
}

/// A file only its owner reads.
fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A running `cctvd`, killed when dropped; its stderr goes to `log`.
struct Service {
    child: Child,
    base: String,
    dir: PathBuf,
    config: PathBuf,
    log: PathBuf,
    token: Option<String>,
}

impl Service {
    /// Writes `config` (with `listen` on a free port put first) and starts
    /// the service on it, once it answers.
    fn start(config: &str, env: &[(&str, &str)]) -> Service {
        let port = support::free_port();
        Self::start_listening(&format!("127.0.0.1:{port}"), config, env, None)
    }

    fn start_listening(
        listen: &str,
        config: &str,
        env: &[(&str, &str)],
        token: Option<&str>,
    ) -> Service {
        let dir = support::tempdir("cctvd-test");
        let path = dir.join("site.toml");
        write_private(&path, &format!("listen = \"{listen}\"\n{config}"));
        let log = dir.join("cctvd.log");
        let port = listen.rsplit_once(':').unwrap().1;
        let child = Command::new(cctvd())
            .arg("--config")
            .arg(&path)
            .envs(env.iter().copied())
            .env("CCTV_ASSETS", support::assets())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("cctvd runs");
        let mut service = Service {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir,
            config: path,
            log,
            token: token.map(str::to_owned),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while service.call("GET", "/api/cameras").0 != 200 {
            if let Ok(Some(status)) = service.child.try_wait() {
                panic!("cctvd exited with {status}: {}", service.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "cctvd does not answer: {}",
                service.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        service
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Status and body of a request carrying the service's token, if any.
    fn call(&self, method: &str, path: &str) -> (u16, String) {
        request(
            method,
            &format!("{}{path}", self.base),
            self.token.as_deref(),
        )
    }

    fn json(&self, method: &str, path: &str) -> (u16, Value) {
        let (status, body) = self.call(method, path);
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    fn camera(&self, id: &str) -> Value {
        let (status, v) = self.json("GET", &format!("/api/cameras/{id}"));
        assert_eq!(status, 200, "{v}");
        v
    }

    /// The camera once `check` accepts it, within `limit`.
    fn wait(&self, id: &str, limit: Duration, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let v = self.camera(id);
            if check(&v) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "camera {id} never got there: {v}\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn running_with_frames(&self, id: &str) -> Value {
        self.wait(id, Duration::from_secs(40), |v| {
            v["state"] == "RUNNING" && v["frames"].as_u64() > Some(0)
        })
    }

    fn rewrite(&self, config: &str) {
        let text = std::fs::read_to_string(&self.config).unwrap();
        let listen = text.lines().next().unwrap();
        write_private(&self.config, &format!("{listen}\n{config}"));
    }

    fn signal(&self, signal: i32) {
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }

    /// Waits for the process to end; its exit code.
    fn exit_code(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// One HTTP request: status and body (0 when nothing answers).
fn request(method: &str, url: &str, token: Option<&str>) -> (u16, String) {
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .http_status_as_error(false)
            .build(),
    );
    let auth = token.map(|t| format!("Bearer {t}"));
    let response = match method {
        "POST" => {
            let mut r = agent.post(url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.send_empty()
        }
        _ => {
            let mut r = agent.get(url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.call()
        }
    };
    match response {
        Ok(mut r) => (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        ),
        Err(_) => (0, String::new()),
    }
}

/// Live test-pattern cameras (MJPEG, 320x240 at 10 fps) on one server.
fn cameras(mounts: &[&str], auth: Option<(&str, &str)>) -> support::RtspServer {
    let launch = support::rtsp::test_pattern(320, 240, 10);
    let mounts: Vec<(&str, &str)> = mounts.iter().map(|m| (*m, launch.as_str())).collect();
    support::RtspServer::start(&mounts, auth)
}

/// A camera entry; `extra` lines are added to it.
fn camera_entry(id: &str, uri: &str, extra: &str) -> String {
    format!("\n[[camera]]\nid = \"{id}\"\nuri = \"{uri}\"\n{extra}\n")
}

/// Cheap analytics for the tests that are not about them.
const LIGHT: &str = "[defaults]\nonnxdetect = { interval = 5 }\ngendercls = false\ncamsrc = { latency = 50, retry-backoff = 1000, max-backoff = 2000 }\n";

#[test]
fn start_stop_restart_through_the_api_and_failing_cameras_stay_apart() {
    let _turn = one_at_a_time();
    let open = cameras(&["good", "spare"], None);
    let locked = cameras(&["door"], Some(("admin", "right-password")));
    let dir = support::tempdir("cctvd-creds");
    let cred = dir.join("door.cred");
    write_private(&cred, "admin:wrong-password\n");
    let config = format!(
        "{LIGHT}{}{}{}{}",
        camera_entry("good", &open.url("good", None), ""),
        camera_entry("spare", &open.url("spare", None), "enabled = false"),
        camera_entry("missing", &open.url("nothing-here", None), ""),
        camera_entry(
            "door",
            &locked.url("door", None),
            &format!("credentials-file = \"{}\"", cred.display())
        ),
    );
    let service = Service::start(&config, &[]);

    let (status, list) = service.json("GET", "/api/cameras");
    assert_eq!(status, 200);
    let ids: Vec<&str> = list["cameras"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["good", "spare", "missing", "door"]);
    assert_eq!(service.camera("spare")["state"], "IDLE");
    let good = service.running_with_frames("good");
    assert!(good["first_frame_ms"].as_f64().unwrap() > 0.0, "{good}");

    // The failing cameras run on, reconnecting, each saying why.
    let missing = service.wait("missing", Duration::from_secs(20), |v| {
        v["camera"]["last_reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    });
    assert_eq!(missing["state"], "RUNNING");
    assert_eq!(missing["camera"]["link"], "reconnecting", "{missing}");
    let door = service.wait("door", Duration::from_secs(20), |v| {
        v["camera"]["last_reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    });
    assert!(
        door["camera"]["last_reason"]
            .as_str()
            .unwrap()
            .contains("Unauthorized"),
        "{door}"
    );
    assert_eq!(door["frames"], 0);
    // ... while the good camera's frames keep coming, none dropped.
    let before = service.camera("good")["frames"].as_u64().unwrap();
    let after = service.wait("good", Duration::from_secs(20), |v| {
        v["frames"].as_u64().unwrap() >= before + 20
    });
    assert_eq!(after["camera"]["link"], "connected");
    assert_eq!(after["camera"]["reconnects"], 0);
    println!(
        "good camera: {} fps, first frame {} ms after the start call",
        after["fps"], after["first_frame_ms"]
    );

    // Start, duplicate start, stop, duplicate stop, restart, unknown camera.
    let (status, v) = service.json("POST", "/api/cameras/spare/start");
    assert_eq!((status, v["changed"].as_bool()), (202, Some(true)), "{v}");
    let spare = service.running_with_frames("spare");
    assert_eq!(spare["run"], 1);
    let (status, v) = service.json("POST", "/api/cameras/spare/start");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["changed"], false);
    assert_eq!(v["message"], "already running");
    let (status, v) = service.json("POST", "/api/cameras/spare/stop");
    assert_eq!(
        (status, v["state"].as_str()),
        (202, Some("STOPPING")),
        "{v}"
    );
    let stopped = service.wait("spare", Duration::from_secs(20), |v| v["state"] == "IDLE");
    assert!(stopped["camera"].is_null(), "{stopped}");
    let (status, v) = service.json("POST", "/api/cameras/spare/stop");
    assert_eq!((status, v["message"].as_str()), (200, Some("not running")));
    let (status, _) = service.json("POST", "/api/cameras/good/restart");
    assert_eq!(status, 202);
    let restarted = service.wait("good", Duration::from_secs(40), |v| {
        v["run"] == 2 && v["state"] == "RUNNING" && v["frames"].as_u64() > Some(0)
    });
    assert!(restarted["first_frame_ms"].as_f64().is_some());
    assert_eq!(service.json("GET", "/api/cameras/nope").0, 404);
    assert_eq!(service.json("POST", "/api/cameras/good/jump").0, 404);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_reload_adds_removes_and_restarts_cameras_and_leaves_the_others_running() {
    let _turn = one_at_a_time();
    let server = cameras(&["a", "b", "c", "d"], None);
    let entry = |id: &str, extra: &str| camera_entry(id, &server.url(id, None), extra);
    let service = Service::start(
        &format!(
            "{LIGHT}{}{}{}",
            entry("a", ""),
            entry("b", ""),
            entry("c", "")
        ),
        &[],
    );
    for id in ["a", "b", "c"] {
        service.running_with_frames(id);
    }
    // a is watched on its own thread through the reload.
    let watching = std::sync::atomic::AtomicBool::new(true);
    let (report, seen) = std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let mut seen = Vec::new();
            while watching.load(std::sync::atomic::Ordering::SeqCst) {
                seen.push(service.camera("a"));
                std::thread::sleep(Duration::from_millis(100));
            }
            seen
        });
        std::thread::sleep(Duration::from_millis(500));
        service.rewrite(&format!(
            "{LIGHT}{}{}{}",
            entry("a", ""),
            entry("c", "onnxdetect = { interval = 3 }"),
            entry("d", "")
        ));
        let (status, report) = service.json("POST", "/api/reload");
        assert_eq!(status, 200, "{report}");
        service.running_with_frames("d");
        service.wait("c", Duration::from_secs(40), |v| {
            v["run"] == 2 && v["state"] == "RUNNING" && v["frames"].as_u64() > Some(0)
        });
        std::thread::sleep(Duration::from_millis(500));
        watching.store(false, std::sync::atomic::Ordering::SeqCst);
        (report, watcher.join().unwrap())
    });
    assert_eq!(report["added"], serde_json::json!(["d"]));
    assert_eq!(report["removed"], serde_json::json!(["b"]));
    assert_eq!(report["changed"], serde_json::json!(["c"]));
    assert_eq!(report["unchanged"], serde_json::json!(["a"]));
    assert_eq!(service.json("GET", "/api/cameras/b").0, 404);
    // The untouched camera: one run, its count never went back or
    // stopped rising, and no stand-in frame (no gap) was sent.
    let frames: Vec<u64> = seen.iter().map(|v| v["frames"].as_u64().unwrap()).collect();
    assert!(
        seen.iter()
            .all(|v| v["run"] == 1 && v["state"] == "RUNNING")
    );
    assert!(frames.windows(2).all(|w| w[0] <= w[1]), "{frames:?}");
    assert!(frames.last() > frames.first(), "{frames:?}");
    let stand_ins: Vec<&Value> = seen
        .iter()
        .map(|v| &v["camera"]["stand_in_frames"])
        .collect();
    assert!(stand_ins.windows(2).all(|w| w[0] == w[1]), "{stand_ins:?}");

    // A broken config changes nothing and says what is wrong, where.
    service.rewrite(&format!(
        "{LIGHT}{}\n[[camera]]\nid = \"e\"\nuri = \"ftp://x/y\"\nspeed = 3\n",
        entry("a", "")
    ));
    let (status, v) = service.json("POST", "/api/reload");
    assert_eq!(status, 400, "{v}");
    assert!(
        v["errors"][0]
            .as_str()
            .unwrap()
            .contains("unknown field `speed`"),
        "{v}"
    );
    assert_eq!(service.json("GET", "/api/cameras/d").0, 200);

    // SIGHUP reloads too.
    service.rewrite(&format!("{LIGHT}{}", entry("a", "")));
    service.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(30);
    while service.json("GET", "/api/cameras/d").0 != 404 {
        assert!(
            Instant::now() < deadline,
            "SIGHUP did not reload: {}",
            service.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(service.camera("a")["run"], 1);
}

#[test]
fn off_loopback_every_endpoint_needs_the_token() {
    let _turn = one_at_a_time();
    let port = support::free_port();
    let listen = format!("0.0.0.0:{port}");
    // Refused without a token file.
    let dir = support::tempdir("cctvd-token");
    let config = dir.join("site.toml");
    write_private(&config, &format!("listen = \"{listen}\"\n"));
    let out = Command::new(cctvd())
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("set token-file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let token = "a-token-nobody-guesses-1234";
    let token_file = dir.join("token");
    write_private(&token_file, &format!("{token}\n"));
    let server = cameras(&["gate"], None);
    let service = Service::start_listening(
        &listen,
        &format!(
            "token-file = \"{}\"\n{LIGHT}{}",
            token_file.display(),
            camera_entry("gate", &server.url("gate", None), "")
        ),
        &[],
        Some(token),
    );
    service.running_with_frames("gate");
    let base = &service.base;
    for path in [
        "/api/cameras",
        "/api/cameras/gate",
        "/metrics",
        "/health",
        "/",
        "/cameras.json",
        "/stream/gate",
    ] {
        for wrong in [None, Some("a-token-nobody-guesses-1235"), Some("short")] {
            let (status, body) = request("GET", &format!("{base}{path}"), wrong);
            assert_eq!((status, body.as_str()), (401, ""), "{path} with {wrong:?}");
        }
    }
    assert_eq!(
        request("POST", &format!("{base}/api/cameras/gate/stop"), None).0,
        401
    );
    assert_eq!(service.camera("gate")["state"], "RUNNING");
    for path in ["/api/cameras", "/metrics", "/", "/cameras.json"] {
        let (status, _) = request("GET", &format!("{base}{path}"), Some(token));
        assert_eq!(status, 200, "{path}");
    }
    // A browser opens the page with ?token= and keeps it in a cookie.
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build(),
    );
    let page = agent.get(&format!("{base}/?token={token}")).call().unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let cookie = page
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let by_cookie = agent
        .get(&format!("{base}/cameras.json"))
        .header("Cookie", cookie.split(';').next().unwrap())
        .call()
        .unwrap();
    assert_eq!(by_cookie.status().as_u16(), 200);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn credentials_never_show_in_answers_the_page_or_the_debug_log() {
    let _turn = one_at_a_time();
    let camera_pw = "cam-Secret-7731";
    let mqtt_pw = "mqtt-Secret-5512";
    let server = cameras(&["gate"], Some(("viewer", camera_pw)));
    let broker = support::Mosquitto::start_with_password("cctv", mqtt_pw);
    let db = support::Postgres::start();
    let dir = support::tempdir("cctvd-secrets");
    let pw_file = dir.join("mqtt.pw");
    write_private(&pw_file, mqtt_pw);
    let config = format!(
        "{LIGHT}\n[mqtt]\nhost = \"127.0.0.1\"\nport = {}\nuser-id = \"cctv\"\npassword-file = \"{}\"\n\
         [postgres]\nconninfo = \"host=127.0.0.1 port={} user=postgres dbname=postgres\"\npassword-env = \"CCTV_TEST_PG_PW\"\n{}",
        broker.port,
        pw_file.display(),
        db.port,
        camera_entry("gate", &server.url("gate", Some(("viewer", camera_pw))), "")
    );
    let service = Service::start(
        &config,
        &[("GST_DEBUG", "*:6"), ("CCTV_TEST_PG_PW", &db.password)],
    );
    let running = service.running_with_frames("gate");
    assert_eq!(running["camera"]["link"], "connected", "{running}");
    assert_eq!(
        running["uri"],
        format!("rtsp://***:***@127.0.0.1:{}/gate", server.port)
    );
    let mut shown = String::new();
    for path in [
        "/api/cameras",
        "/api/cameras/gate",
        "/",
        "/cameras.json",
        "/metrics",
        "/health",
    ] {
        let (status, body) = service.call("GET", path);
        assert!(
            status == 200 || (path == "/health" && status == 503),
            "{path}: {status}"
        );
        shown.push_str(&body);
    }
    let (status, _) = service.json("POST", "/api/cameras/gate/stop");
    assert_eq!(status, 202);
    service.wait("gate", Duration::from_secs(40), |v| v["state"] == "IDLE");
    let mut log = Vec::new();
    std::fs::File::open(&service.log)
        .unwrap()
        .read_to_end(&mut log)
        .unwrap();
    assert!(log.len() > 1_000_000, "a debug log: {} bytes", log.len());
    let log = String::from_utf8_lossy(&log);
    for secret in [camera_pw, mqtt_pw, db.password.as_str()] {
        assert!(!shown.contains(secret), "{secret} in an answer");
        assert!(!log.contains(secret), "{secret} in the GST_DEBUG=*:6 log");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Messages per camera and kind (track messages by event).
fn tally(messages: &[(String, String)], camera: &str) -> std::collections::BTreeMap<String, u64> {
    let mut counts = std::collections::BTreeMap::new();
    for (topic, payload) in messages {
        if topic.split('/').nth(1) != Some(camera) {
            continue;
        }
        let v: Value = serde_json::from_str(payload).unwrap_or_default();
        let kind = match (v["kind"].as_str(), v["event"].as_str()) {
            (Some("track"), Some(e)) => format!("track {e}"),
            (Some(k), _) => k.to_owned(),
            _ => "other".into(),
        };
        *counts.entry(kind).or_insert(0) += 1;
    }
    counts
}

#[test]
fn sigterm_flushes_every_sink_and_exits_0() {
    let _turn = one_at_a_time();
    let broker = support::Mosquitto::start();
    let db = support::Postgres::start();
    let subscriber = support::Subscriber::start(broker.port, "cctv/#");
    let clip = format!("file://{}", support::video().display());
    let config = format!(
        "[defaults]\nonnxdetect = {{ conf-threshold = 0.1, classes = \"person\" }}\ngendercls = false\n\
         [mqtt]\nhost = \"127.0.0.1\"\nport = {}\n\
         [postgres]\nconninfo = \"{}\"\ndetections-interval = 5\n{}{}",
        broker.port,
        db.conninfo(),
        camera_entry("north", &clip, ""),
        camera_entry("south", &clip, "")
    );
    let mut service = Service::start(&config, &[]);
    for id in ["north", "south"] {
        service.wait(id, Duration::from_secs(60), |v| {
            v["tracks"].as_u64() >= Some(5)
        });
    }
    service.signal(libc::SIGTERM);
    assert_eq!(
        service.exit_code(Duration::from_secs(60)),
        Some(0),
        "{}",
        service.log_text()
    );
    let log = service.log_text();
    assert!(
        log.contains("camera north: stopped, sinks flushed"),
        "{log}"
    );
    assert!(
        log.contains("camera south: stopped, sinks flushed"),
        "{log}"
    );
    for id in ["north", "south"] {
        // Every track that entered was closed at the EOS and both sinks
        // have all of it: the exits are the last things sent.
        let messages = subscriber.wait_for(Duration::from_secs(10), |m| {
            let t = tally(m, id);
            t.contains_key("track enter") && t.get("track enter") == t.get("track exit")
        });
        let counts = tally(&messages, id);
        let entered = counts["track enter"];
        assert_eq!(counts.get("track exit"), Some(&entered), "{counts:?}");
        let rows = db.psql(&format!(
            "select count(*), count(*) filter (where ended) from cctv.tracks where camera_id = '{id}'"
        ));
        assert_eq!(rows, format!("{entered}|{entered}"), "{id}: {counts:?}");
        println!("{id}: {entered} tracks, messages {counts:?}");
    }
}

#[test]
fn the_config_is_checked_whole_before_anything_starts() {
    let _turn = one_at_a_time();
    let dir = support::tempdir("cctvd-check");
    let config = dir.join("site.toml");
    write_private(
        &config,
        "[defaults]\nonnxdetect = { conf-threshold = 2.0, colour = 1 }\n\
         [[camera]]\nid = \"gate\"\nuri = \"rtsp://cam/1\"\nmqtt = true\n\
         [[camera]]\nid = \"gate\"\nuri = \"ftp://u:hunter2@cam/2\"\ncamsrc = { user-pw = \"x\" }\n\
         [[camera]]\nid = \"bad id\"\nuri = \"rtsp://cam/3\"\ncredentials-env = \"CCTV_NOT_SET_ANYWHERE\"\n",
    );
    let out = Command::new(cctvd())
        .arg("--config")
        .arg(&config)
        .arg("--check")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    for expected in [
        "camera gate: onnxdetect.conf-threshold: 2 is out of range",
        "camera gate: onnxdetect.colour: onnxdetect has no such property",
        "camera gate: mqtt: there is no [mqtt] section",
        "camera gate: uri: unsupported scheme ftp://",
        "camera bad id: id: use letters",
        "camera bad id: credentials-env: the variable CCTV_NOT_SET_ANYWHERE is not set",
    ] {
        assert!(said.contains(expected), "{expected:?} not in:\n{said}");
    }
    assert!(!said.contains("hunter2"), "{said}");
    // A syntax error points at its line, without quoting it.
    write_private(
        &config,
        "[[camera]]\nid = \"a\"\nuri = \"rtsp://u:hunter2@cam/1\" x\n",
    );
    let out = Command::new(cctvd())
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("site.toml:3:"), "{said}");
    assert!(!said.contains("hunter2"), "{said}");
    // The design notes' NVR JSON on its own, readable by others: a warning.
    let nvr = dir.join("nvr.json");
    std::fs::write(
        &nvr,
        r#"{"server": {"host": "192.0.2.7", "port": 554, "username": "admin", "password": "nvr-pass"},
            "channels": [{"id": 1, "name": "Gate", "path": "/cam/realmonitor?channel=1&subtype=0"},
                         {"id": 2, "name": "Yard", "path": "/cam/realmonitor?channel=2&subtype=0"}]}"#,
    )
    .unwrap();
    std::fs::set_permissions(&nvr, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new(cctvd())
        .arg("--config")
        .arg(&nvr)
        .arg("--check")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("2 camera(s), all checked"), "{said}");
    assert!(
        said.contains("readable by other users (mode 644)"),
        "{said}"
    );
    assert!(!said.contains("nvr-pass"), "{said}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The example installed beside the config checks as it is, once the
/// files it names exist.
#[test]
fn the_installed_example_config_checks() {
    let dir = support::tempdir("cctvd-example");
    let example = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("service/dist/cctvd.example.toml"),
    )
    .unwrap();
    let at = dir.to_string_lossy();
    let text = example
        .replace("/etc/gst-cctv", &at)
        .replace("/var/lib/cctvd", &at);
    for file in ["gate.credentials", "nvr.credentials"] {
        write_private(&dir.join(file), "viewer:example-pass\n");
    }
    let config = dir.join("cctvd.toml");
    write_private(&config, &text);
    let out = Command::new(cctvd())
        .arg("--config")
        .arg(&config)
        .arg("--check")
        .env("CCTV_YARD", "viewer:example-pass")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("4 camera(s), all checked"), "{said}");
    assert!(!said.contains("warning"), "{said}");
    assert!(!said.contains("example-pass"), "{said}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The service's page in Debian's chromium (`support::Browser`), and what
/// this test reads of it.
struct PageView {
    browser: support::Browser,
    page: support::Page,
}

impl PageView {
    fn open(url: &str) -> PageView {
        let mut browser = support::Browser::start();
        let page = browser.open(url);
        PageView { browser, page }
    }

    fn eval(&mut self, js: &str) -> Value {
        self.browser.eval(&self.page, js)
    }

    /// Each camera's picture as a checksum of its pixels, drawn small.
    fn pictures(&mut self) -> std::collections::BTreeMap<String, String> {
        let v = self.eval(
            "JSON.stringify(Object.fromEntries([...document.querySelectorAll('figure')].map(f => {
               const c = document.createElement('canvas'); c.width = 80; c.height = 60;
               const g = c.getContext('2d');
               try { g.drawImage(f.querySelector('img'), 0, 0, 80, 60); } catch (e) { return [f.dataset.camera, 'none']; }
               let h = 0; for (const b of g.getImageData(0, 0, 80, 60).data) h = (h * 31 + b) >>> 0;
               return [f.dataset.camera, String(h)]; })))",
        );
        serde_json::from_str(v.as_str().unwrap()).unwrap()
    }

    fn state(&mut self, camera: &str) -> String {
        self.eval(&format!(
            "(document.querySelector('figure[data-camera=\"{camera}\"] .state') || {{}}).textContent || ''"
        ))
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    fn wait_state(&mut self, camera: &str, state: &str) {
        let deadline = Instant::now() + Duration::from_secs(40);
        while self.state(camera) != state {
            assert!(
                Instant::now() < deadline,
                "{camera} never showed {state} on the page"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn the_page_shows_every_camera_and_its_buttons_work_in_a_real_browser() {
    let _turn = one_at_a_time();
    let ids = ["cam1", "cam2", "cam3", "cam4"];
    let server = cameras(&ids, None);
    let config: String = ids
        .iter()
        .map(|id| camera_entry(id, &server.url(id, None), ""))
        .collect();
    let service = Service::start(&format!("{LIGHT}{config}"), &[]);
    for id in ids {
        service.running_with_frames(id);
    }
    let mut browser = PageView::open(&format!("{}/", service.base));
    for id in ids {
        browser.wait_state(id, "RUNNING");
    }
    assert_eq!(
        browser.eval("document.querySelectorAll('figure').length"),
        4
    );
    // Every picture moves.
    let moving = |browser: &mut PageView| {
        let first = browser.pictures();
        std::thread::sleep(Duration::from_millis(1500));
        let second = browser.pictures();
        ids.iter()
            .map(|id| (*id, first[*id] != second[*id] && second[*id] != "none"))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while moving(&mut browser).values().any(|m| !m) {
        assert!(Instant::now() < deadline, "not every picture moves");
    }

    browser.eval("document.querySelector('figure[data-camera=\"cam2\"] button.stop').click()");
    browser.wait_state("cam2", "IDLE");
    assert_eq!(service.camera("cam2")["state"], "IDLE");
    std::thread::sleep(Duration::from_millis(500));
    let now = moving(&mut browser);
    assert!(!now["cam2"], "the stopped camera's picture still moves");
    assert!(now["cam1"] && now["cam3"] && now["cam4"], "{now:?}");

    browser.eval("document.querySelector('figure[data-camera=\"cam2\"] button.start').click()");
    browser.wait_state("cam2", "RUNNING");
    let cam2 = service.running_with_frames("cam2");
    assert_eq!(cam2["run"], 2);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !moving(&mut browser)["cam2"] {
        assert!(
            Instant::now() < deadline,
            "cam2's picture did not come back"
        );
    }
}
