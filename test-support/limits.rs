//! Time limits, so that a hang fails a test, saying where, instead of
//! hanging the whole run.

use std::process::{Child, ExitStatus};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

/// Where a piece of work run by [`within`] has got to.
#[derive(Clone)]
pub struct Progress(Arc<Mutex<String>>);

impl Progress {
    /// Says what comes next: the last thing said is where a hang is.
    pub fn step(&self, what: impl Into<String>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = what.into();
    }

    fn last(&self) -> String {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Runs `work` on a thread of its own: what it returned, or why not, with
/// the last step it reported: it hung past `limit` (the thread is left
/// behind) or it panicked.
pub fn within<T: Send + 'static>(
    limit: Duration,
    work: impl FnOnce(&Progress) -> T + Send + 'static,
) -> Result<T, String> {
    let progress = Progress(Arc::new(Mutex::new("starting".into())));
    let (done, result) = mpsc::channel();
    let reporting = progress.clone();
    std::thread::spawn(move || done.send(work(&reporting)).ok());
    result.recv_timeout(limit).map_err(|e| match e {
        mpsc::RecvTimeoutError::Timeout => {
            format!("hung {limit:?} after {}", progress.last())
        }
        mpsc::RecvTimeoutError::Disconnected => format!("panicked after {}", progress.last()),
    })
}

/// Waits for `child` to exit, killing it after `limit`: `None` when it had
/// not exited by then.
pub fn wait_within(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            child.kill().ok();
            child.wait().ok();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
