//! Shared test support: plugin registration, paths, and real servers
//! (mosquitto, PostgreSQL, an RTSP server) started on free loopback ports in
//! temporary directories and stopped when dropped, even when a test fails.
#![allow(dead_code)]

pub mod script;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

/// Initialises GStreamer and registers the plugin statically.
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gstcctv::plugin_register_static().expect("plugin registers");
    });
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn assets() -> PathBuf {
    std::env::var_os("CCTV_ASSETS")
        .map(Into::into)
        .unwrap_or_else(|| repo().join(".assets"))
}

pub fn video() -> PathBuf {
    assets().join("media/vtest.avi")
}

/// Directory holding the built `libgstcctv.so`, for `GST_PLUGIN_PATH`.
pub fn plugin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    assert!(
        dir.join("libgstcctv.so").exists(),
        "plugin not built in {}",
        dir.display()
    );
    dir
}

/// Runs `gst-launch-1.0` with the built plugin, as a user would.
pub fn gst_launch(pipeline: &str) -> std::process::Output {
    Command::new("gst-launch-1.0")
        .arg("-q")
        .args(shell_words(pipeline))
        .env("GST_PLUGIN_PATH", plugin_dir())
        .output()
        .expect("gst-launch-1.0 runs")
}

/// Splits a launch line on spaces, keeping quoted parts (enough for tests).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// A free loopback port below the kernel's ephemeral range (so outgoing
/// connections of other tests cannot take it meanwhile), never handed out
/// twice in one process; test binaries start at different offsets.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = 20_000 + (std::process::id() * 97) % 10_000;
    loop {
        let port = (base + NEXT.fetch_add(1, Ordering::Relaxed) % 10_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited early with {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not listen on port {port}");
}

/// A fresh directory under the system temp dir, unique per process and call.
pub fn tempdir(prefix: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("{prefix}-{}-{n}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A mosquitto broker on a free loopback port.
pub struct Mosquitto {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
    /// `user:password` when the broker requires authentication.
    pub credentials: Option<(String, String)>,
}

impl Mosquitto {
    pub fn start() -> Mosquitto {
        Self::start_on(free_port(), None)
    }

    /// A broker that accepts only `user`/`password`.
    pub fn start_with_password(user: &str, password: &str) -> Mosquitto {
        Self::start_on(free_port(), Some((user.to_string(), password.to_string())))
    }

    /// A broker that is not running yet (start it with `restart`).
    pub fn reserved() -> Mosquitto {
        let dir = tempdir("cctv-mosquitto");
        Mosquitto {
            port: free_port(),
            dir,
            child: None,
            credentials: None,
        }
    }

    fn start_on(port: u16, credentials: Option<(String, String)>) -> Mosquitto {
        let dir = tempdir("cctv-mosquitto");
        let mut m = Mosquitto {
            port,
            dir,
            child: None,
            credentials,
        };
        m.spawn();
        m
    }

    fn spawn(&mut self) {
        let conf = self.dir.join("mosquitto.conf");
        // Persistence keeps subscribers' sessions across a restart, so a test
        // subscriber misses nothing published while it reconnects.
        let mut text = format!(
            "listener {} 127.0.0.1\npersistence true\npersistence_location {}/\nuser {}\n",
            self.port,
            self.dir.display(),
            // Started as root, mosquitto would switch to its own user and could
            // not write the session file into our directory.
            std::env::var("USER").unwrap_or_else(|_| "root".into())
        );
        match &self.credentials {
            None => text.push_str("allow_anonymous true\n"),
            Some((user, password)) => {
                let file = self.dir.join("passwd");
                std::fs::write(&file, "").unwrap();
                let status = Command::new("mosquitto_passwd")
                    .args(["-b", file.to_str().unwrap(), user, password])
                    .stderr(Stdio::null())
                    .status()
                    .expect("mosquitto_passwd runs");
                assert!(status.success());
                text.push_str(&format!(
                    "allow_anonymous false\npassword_file {}\n",
                    file.display()
                ));
            }
        }
        std::fs::write(&conf, text).unwrap();
        let mut child = Command::new(mosquitto_binary())
            .args(["-c", conf.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto starts (apt-get install mosquitto)");
        wait_for_port(self.port, &mut child, "mosquitto");
        self.child = Some(child);
    }

    /// Kills the broker (no clean shutdown), as a crash or network loss would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }

    /// Stops the broker as a service restart would (SIGTERM): clients are
    /// cut off, sessions are saved.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .ok();
            child.wait().ok();
        }
    }

    /// Starts the broker (again) on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

fn mosquitto_binary() -> PathBuf {
    ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("mosquitto"))
}

/// A throwaway PostgreSQL cluster on a free loopback port.
pub struct Postgres {
    pub port: u16,
    dir: PathBuf,
    running: bool,
    /// The `postgres` user's password over TCP (scram-sha-256).
    pub password: String,
}

fn pg_bin(tool: &str) -> PathBuf {
    let debian = Path::new("/usr/lib/postgresql/15/bin").join(tool);
    if debian.exists() {
        debian
    } else {
        PathBuf::from(tool)
    }
}

/// Runs a PostgreSQL tool as the `postgres` user when we are root (initdb refuses root).
fn pg_command(tool: &str) -> Command {
    let is_root = unsafe { libc_geteuid() } == 0;
    if is_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(pg_bin(tool));
        c
    } else {
        Command::new(pg_bin(tool))
    }
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

impl Postgres {
    /// A cluster whose TCP connections need the password `postgres-test`.
    pub fn start() -> Postgres {
        let dir = tempdir("cctv-postgres");
        if unsafe { libc_geteuid() } == 0 {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status()
                .unwrap();
            assert!(status.success(), "chown of the cluster dir");
        }
        let password = "postgres-test".to_string();
        let pwfile = dir.join("pwfile");
        std::fs::write(&pwfile, &password).unwrap();
        if unsafe { libc_geteuid() } == 0 {
            Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&pwfile)
                .status()
                .unwrap();
        }
        let out = pg_command("initdb")
            .arg("-D")
            .arg(dir.join("data"))
            .args([
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-U",
                "postgres",
                "--no-sync",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .expect("initdb runs (apt-get install postgresql)");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut pg = Postgres {
            port: free_port(),
            dir,
            running: false,
            password,
        };
        pg.start_server();
        pg
    }

    fn start_server(&mut self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let out = pg_command("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-o", &opts, "-l"])
            .arg(self.dir.join("log"))
            .args(["-w", "start"])
            .output()
            .expect("pg_ctl runs");
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.running = true;
    }

    pub fn stop(&mut self) {
        if self.running {
            pg_command("pg_ctl")
                .arg("-D")
                .arg(self.dir.join("data"))
                .args(["-m", "immediate", "-w", "stop"])
                .output()
                .ok();
            self.running = false;
        }
    }

    /// Stops the server abruptly and starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.start_server();
    }

    /// libpq-style connection string for the `postgres` superuser.
    pub fn conninfo(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres password={} dbname=postgres",
            self.port, self.password
        )
    }

    /// Runs SQL through `psql` and returns its unaligned output.
    pub fn psql(&self, sql: &str) -> String {
        let out = Command::new(pg_bin("psql"))
            .args([
                "-X",
                "-A",
                "-t",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "postgres",
            ])
            .args(["-p", &self.port.to_string(), "-c", sql])
            .env("PGPASSWORD", &self.password)
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// An RTSP server (gst-rtsp-server via PyGObject) serving a test pattern or a file.
pub struct RtspServer {
    pub port: u16,
    child: Child,
}

impl RtspServer {
    /// Serves `launch` (a bin whose payloader is named pay0) at `rtsp://127.0.0.1:PORT/test`.
    pub fn start(launch: &str) -> RtspServer {
        let port = free_port();
        let mut child = Command::new("/usr/bin/python3")
            .arg(repo().join("tests/support/rtsp_server.py"))
            .args([&port.to_string(), launch])
            .stdout(Stdio::null())
            .spawn()
            .expect("rtsp_server.py starts (python3-gi, gir1.2-gst-rtsp-server-1.0)");
        wait_for_port(port, &mut child, "RTSP server");
        RtspServer { port, child }
    }

    pub fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/test", self.port)
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// An MQTT subscriber collecting every message on `topic` (QoS 1,
/// persistent session, reconnecting by itself).
pub struct Subscriber {
    pub messages: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
    client: rumqttc::Client,
    thread: Option<std::thread::JoinHandle<()>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Subscriber {
    pub fn start(port: u16, topic: &str) -> Subscriber {
        Self::start_with(port, topic, None)
    }

    pub fn start_with(port: u16, topic: &str, credentials: Option<(&str, &str)>) -> Subscriber {
        use std::sync::atomic::Ordering;
        let mut options = rumqttc::MqttOptions::new(format!("test-sub-{port}"), "127.0.0.1", port);
        options.set_clean_session(false);
        options.set_keep_alive(Duration::from_secs(5));
        if let Some((u, p)) = credentials {
            options.set_credentials(u, p);
        }
        let (client, mut connection) = rumqttc::Client::new(options, 100);
        let messages = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (subscribed_tx, subscribed_rx) = std::sync::mpsc::channel();
        let thread = {
            let messages = messages.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match connection.recv_timeout(Duration::from_millis(200)) {
                        Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)))) => {
                            let payload = String::from_utf8_lossy(&p.payload).into_owned();
                            messages.lock().unwrap().push((p.topic.clone(), payload));
                        }
                        Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_)))) => {
                            subscribed_tx.send(()).ok();
                        }
                        Ok(Ok(_)) | Err(rumqttc::RecvTimeoutError::Timeout) => {}
                        Ok(Err(_)) => std::thread::sleep(Duration::from_millis(100)),
                        Err(rumqttc::RecvTimeoutError::Disconnected) => return,
                    }
                }
            })
        };
        client.subscribe(topic, rumqttc::QoS::AtLeastOnce).unwrap();
        subscribed_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("subscribed");
        Subscriber {
            messages,
            client,
            thread: Some(thread),
            stop,
        }
    }

    /// Waits until `pred` holds for the messages received, or `timeout`.
    pub fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&[(String, String)]) -> bool,
    ) -> Vec<(String, String)> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages.lock().unwrap().clone();
            if pred(&messages) || Instant::now() >= deadline {
                return messages;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.client.try_disconnect().ok();
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}
