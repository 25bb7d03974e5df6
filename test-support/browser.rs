//! Debian's chromium, headless, driven over the DevTools protocol on a
//! pipe (`--remote-debugging-pipe`: JSON messages ended by a NUL byte, to
//! the browser on its fd 3 and back on its fd 4), so a test runs script in
//! a real page and reads what it returns. Stopped when dropped.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::tempdir;

/// Longest wait for one DevTools answer (a script's promise included).
const ANSWER_WITHIN: Duration = Duration::from_secs(90);

/// How every test runs chromium: headless, quiet, without first-run pages.
pub const HEADLESS: [&str; 6] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
];

pub struct Browser {
    child: Child,
    to: ChildStdin,
    from: mpsc::Receiver<Value>,
    next: u64,
    profile: PathBuf,
}

/// A page (tab) of the browser.
pub struct Page {
    target: String,
    session: String,
}

impl Browser {
    /// Starts chromium with WebRTC allowed on loopback and host candidates
    /// as plain addresses (not mDNS names, which the server cannot resolve).
    pub fn start() -> Browser {
        let profile = tempdir("chromium-profile");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("exec chromium \"$@\" 3<&0 4>&1 </dev/null >/dev/null")
            .arg("chromium")
            .args(HEADLESS)
            .args([
                "--disable-background-timer-throttling",
                "--disable-renderer-backgrounding",
                "--disable-backgrounding-occluded-windows",
                "--autoplay-policy=no-user-gesture-required",
                "--allow-loopback-in-peer-connection",
                "--disable-features=WebRtcHideLocalIpsWithMdns",
                // Room for four cameras' pictures side by side.
                "--window-size=1400,1100",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromium runs (scripts/packages installs it)");
        let to = child.stdin.take().unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let (send, from) = mpsc::channel();
        std::thread::spawn(move || {
            let mut message = Vec::new();
            while matches!(reader.read_until(0, &mut message), Ok(n) if n > 0) {
                message.pop_if(|b| *b == 0);
                if let Ok(value) = serde_json::from_slice::<Value>(&message)
                    && send.send(value).is_err()
                {
                    return;
                }
                message.clear();
            }
        });
        Browser {
            child,
            to,
            from,
            next: 0,
            profile,
        }
    }

    /// Calls DevTools `method` (in `session`, or on the browser) and
    /// returns its result; panics on an error answer.
    pub fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            message["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.to.write_all(&bytes).expect("chromium reads its pipe");
        loop {
            let answer = self
                .from
                .recv_timeout(ANSWER_WITHIN)
                .unwrap_or_else(|_| panic!("no answer from chromium to {method}"));
            if answer["id"] == json!(id) {
                if let Some(e) = answer.get("error") {
                    panic!("{method}: {e}");
                }
                return answer["result"].clone();
            }
        }
    }

    /// Opens `url` in a new page.
    pub fn open(&mut self, url: &str) -> Page {
        let target = self.call(None, "Target.createTarget", json!({"url": url}))["targetId"]
            .as_str()
            .unwrap()
            .to_owned();
        let session = self.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target, "flatten": true}),
        )["sessionId"]
            .as_str()
            .unwrap()
            .to_owned();
        let page = Page { target, session };
        // Loaded: its scripts ran.
        let deadline = std::time::Instant::now() + ANSWER_WITHIN;
        let loaded = "location.href !== 'about:blank' && document.readyState === 'complete'";
        while self.eval(&page, loaded) != json!(true) {
            assert!(std::time::Instant::now() < deadline, "{url} did not load");
            std::thread::sleep(Duration::from_millis(50));
        }
        page
    }

    /// Runs `script` (an expression; a promise is awaited) in `page`: its
    /// value as JSON; panics with the message when it throws.
    pub fn eval(&mut self, page: &Page, script: &str) -> Value {
        let r = self.call(
            Some(&page.session),
            "Runtime.evaluate",
            json!({"expression": script, "awaitPromise": true, "returnByValue": true}),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!(
                "script failed: {}",
                e["exception"]["description"]
                    .as_str()
                    .unwrap_or(&e.to_string())
            );
        }
        r["result"]["value"].clone()
    }

    /// Closes `page` as a user closing its tab would.
    pub fn close(&mut self, page: Page) {
        self.call(None, "Target.closeTarget", json!({"targetId": page.target}));
    }

    /// The browser's process, to kill it without a goodbye.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
        std::fs::remove_dir_all(&self.profile).ok();
    }
}
