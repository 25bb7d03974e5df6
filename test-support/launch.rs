//! The built plugin in `gst-launch-1.0`, as a user runs it.

use std::io::Read;
use std::process::{Child, Command, Output, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::plugin_dir;

/// Runs `gst-launch-1.0 -q` with the built plugin to its end.
pub fn gst_launch(pipeline: &str) -> Output {
    Command::new("gst-launch-1.0")
        .arg("-q")
        .args(shell_words(pipeline))
        .env("GST_PLUGIN_PATH", plugin_dir())
        .output()
        .expect("gst-launch-1.0 runs")
}

/// Runs `gst-launch-1.0` like [`gst_launch`], killing it after `limit`:
/// `None` when it had not exited by then (it hung).
pub fn gst_launch_within(pipeline: &str, limit: Duration) -> Option<Output> {
    let mut child = Command::new("gst-launch-1.0")
        .args(shell_words(pipeline))
        .env("GST_PLUGIN_PATH", plugin_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gst-launch-1.0 runs");
    let captured = Captured::start(&mut child);
    let status = crate::limits::wait_within(&mut child, limit)?;
    let (stdout, stderr) = captured.join();
    Some(Output {
        status,
        stdout,
        stderr,
    })
}

/// A child's piped stdout and stderr, read while it runs: a full pipe
/// would stall it.
pub struct Captured {
    stdout: JoinHandle<Vec<u8>>,
    stderr: JoinHandle<Vec<u8>>,
}

impl Captured {
    /// Starts reading `child`'s pipes (spawned with both piped).
    pub fn start(child: &mut Child) -> Captured {
        let read = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                pipe.read_to_end(&mut bytes).ok();
                bytes
            })
        };
        Captured {
            stdout: read(Box::new(child.stdout.take().expect("stdout piped"))),
            stderr: read(Box::new(child.stderr.take().expect("stderr piped"))),
        }
    }

    /// What it wrote to stdout and stderr, once it has exited.
    pub fn join(self) -> (Vec<u8>, Vec<u8>) {
        (
            self.stdout.join().unwrap_or_default(),
            self.stderr.join().unwrap_or_default(),
        )
    }
}

/// A `gst-launch-1.0 -q` of the plugin serving its metrics, health and
/// live view on 127.0.0.1:`port`; killed when dropped, however the test
/// ends, or stopped as a user stops it ([`Monitored::stop`]).
pub struct Monitored {
    child: Child,
    output: Option<Captured>,
}

impl Monitored {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops it with Ctrl+C (SIGINT: the pipeline set to NULL) and returns what it
    /// wrote to stderr; panics unless it ends within 30 s.
    pub fn stop(mut self) -> String {
        let sent = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        assert!(
            sent.is_ok_and(|s| s.success()),
            "cannot signal gst-launch-1.0"
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().ok().flatten().is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "gst-launch-1.0 did not end within 30 s of Ctrl+C"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let (_, stderr) = self.output.take().expect("output captured").join();
        String::from_utf8_lossy(&stderr).into_owned()
    }
}

impl Drop for Monitored {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

pub fn gst_launch_monitored(pipeline: &str, port: u16) -> Monitored {
    let mut child = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(shell_words(pipeline))
        .env("GST_PLUGIN_PATH", plugin_dir())
        .env("CCTV_METRICS", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gst-launch-1.0 runs");
    let output = Some(Captured::start(&mut child));
    Monitored { child, output }
}

/// Splits a launch line on spaces, keeping quoted parts (enough for tests).
pub fn shell_words(line: &str) -> Vec<String> {
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
