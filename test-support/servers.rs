//! Throwaway servers on loopback for the tests and the demo: mosquitto and
//! a PostgreSQL cluster, each on a free port in its own temporary directory,
//! stopped when dropped (even when a test fails).

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free loopback port below the kernel's ephemeral range (so outgoing
/// connections of other tests cannot take it meanwhile), never handed out
/// twice in one process; processes start at different offsets.
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

pub fn wait_for_port(port: u16, child: &mut Child, what: &str) {
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

    /// A broker on a given port (e.g. one a sink was already told about).
    pub fn start_on_port(port: u16) -> Mosquitto {
        Self::start_on(port, None)
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
        // Its own process group: a Ctrl+C on the terminal goes to the demo,
        // which still needs the broker to flush. (pg_ctl detaches PostgreSQL
        // the same way.)
        let mut child = Command::new(mosquitto_binary())
            .process_group(0)
            .args(["-c", conf.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto starts (apt-get install mosquitto)");
        wait_for_port(self.port, &mut child, "mosquitto");
        self.child = Some(child);
    }

    /// The broker's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
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

/// A PostgreSQL server tool: Debian keeps them out of PATH, under
/// /usr/lib/postgresql/<version>/bin (the newest installed version wins).
fn pg_bin(tool: &str) -> PathBuf {
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let e = e.ok()?;
            let version: u32 = e.file_name().to_str()?.parse().ok()?;
            let path = e.path().join("bin").join(tool);
            path.exists().then_some((version, path))
        })
        .max_by_key(|(version, _)| *version);
    newest.map_or_else(|| PathBuf::from(tool), |(_, path)| path)
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

/// Makes `path` (and what it holds) the `postgres` user's when we are root:
/// the server, run as that user, must read it.
fn give_to_postgres(path: &std::path::Path) {
    if unsafe { libc_geteuid() } == 0 {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success(), "chown of {}", path.display());
    }
}

impl Postgres {
    /// A cluster whose TCP connections need the password `postgres-test`.
    pub fn start() -> Postgres {
        let dir = tempdir("cctv-postgres");
        give_to_postgres(&dir);
        let password = "postgres-test".to_string();
        let pwfile = dir.join("pwfile");
        std::fs::write(&pwfile, &password).unwrap();
        give_to_postgres(&pwfile);
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

    /// The postmaster's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.dir.join("data/postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// libpq-style connection string for the `postgres` superuser.
    pub fn conninfo(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres password={} dbname=postgres",
            self.port, self.password
        )
    }

    /// Lets `role` into database `db` from 127.0.0.1 without a password,
    /// making both if missing: the server a conninfo naming them and no
    /// password expects.
    pub fn trust(&self, role: &str, db: &str) {
        let exists = |sql: String| self.psql(&sql) != "0";
        if !exists(format!(
            "select count(*) from pg_roles where rolname = '{role}'"
        )) {
            self.psql(&format!("create role \"{role}\" login"));
        }
        if !exists(format!(
            "select count(*) from pg_database where datname = '{db}'"
        )) {
            self.psql(&format!("create database \"{db}\" owner \"{role}\""));
        }
        // The first matching line of pg_hba.conf decides.
        let hba = self.dir.join("data/pg_hba.conf");
        let text = std::fs::read_to_string(&hba).unwrap();
        std::fs::write(&hba, format!("host {db} {role} 127.0.0.1/32 trust\n{text}")).unwrap();
        self.psql("select pg_reload_conf()");
        // The reload is a signal: wait until the server lets the role in.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut psql = Command::new(pg_bin("psql"));
        psql.args([
            "-X",
            "-w",
            "-h",
            "127.0.0.1",
            "-U",
            role,
            "-d",
            db,
            "-c",
            "select 1",
        ])
        .arg("-p")
        .arg(self.port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        while !psql.status().is_ok_and(|s| s.success()) {
            assert!(Instant::now() < deadline, "{role} is not let into {db}");
            std::thread::sleep(Duration::from_millis(50));
        }
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

/// Certificates made for a TLS test: a CA and a server certificate for
/// 127.0.0.1 signed by it, plus a second CA that signed nothing.
pub struct TestCerts {
    pub ca: PathBuf,
    pub other_ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

impl TestCerts {
    /// Makes them with the `openssl` command in `dir`.
    pub fn make(dir: &std::path::Path) -> TestCerts {
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .expect("openssl runs (apt-get install openssl)");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        for ca in ["ca", "other-ca"] {
            run(&[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN=gst-cctv test {ca}"),
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.pem"),
            ]);
        }
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]);
        std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.pem",
        ]);
        TestCerts {
            ca: dir.join("ca.pem"),
            other_ca: dir.join("other-ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
        }
    }
}

impl Postgres {
    /// Restarts the cluster with TLS on (certificates made for the test);
    /// with `tls_only`, TCP connections without TLS are refused.
    pub fn enable_tls(&mut self, tls_only: bool) -> TestCerts {
        let certs_dir = self.dir.join("certs");
        std::fs::create_dir_all(&certs_dir).unwrap();
        let certs = TestCerts::make(&certs_dir);
        give_to_postgres(&certs_dir);
        let data = self.dir.join("data");
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .unwrap();
        use std::io::Write;
        writeln!(
            conf,
            "ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'",
            certs.server_cert.display(),
            certs.server_key.display()
        )
        .unwrap();
        if tls_only {
            let hba = data.join("pg_hba.conf");
            let text = std::fs::read_to_string(&hba).unwrap();
            let text: String = text
                .lines()
                .map(|l| match l.strip_prefix("host ") {
                    Some(rest) => format!("hostssl {rest}\n"),
                    None => format!("{l}\n"),
                })
                .collect();
            std::fs::write(&hba, text).unwrap();
        }
        self.restart();
        certs
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

impl Mosquitto {
    /// Leaves the broker running after this process; returns the shell
    /// command that stops it and, once it has exited, removes its folder.
    pub fn keep(mut self) -> String {
        let pid = self.child.take().map(|c| c.id()).unwrap_or_default();
        let dir = self.dir.clone();
        std::mem::forget(self);
        format!(
            "kill {pid} && tail --pid={pid} -f /dev/null && rm -rf {}",
            dir.display()
        )
    }
}

impl Postgres {
    /// Leaves the cluster running after this process; returns the shell
    /// command that stops it (`pg_ctl stop` waits) and removes its folder.
    pub fn keep(mut self) -> String {
        self.running = false;
        let dir = self.dir.clone();
        std::mem::forget(self);
        let as_postgres = if unsafe { libc_geteuid() } == 0 {
            "runuser -u postgres -- "
        } else {
            ""
        };
        format!(
            "{as_postgres}{} -D {} stop && rm -rf {}",
            pg_bin("pg_ctl").display(),
            dir.join("data").display(),
            dir.display()
        )
    }
}
