//! SIGINT, SIGTERM and SIGHUP taken by one thread with `sigwait`, so no
//! work happens in a signal handler: they are blocked in every thread (the
//! mask is set before any thread exists and inherited) and turned into
//! messages. A second SIGINT or SIGTERM exits at once.

use std::sync::mpsc;

pub enum Signal {
    /// SIGINT or SIGTERM: stop every camera and exit.
    Stop,
    /// SIGHUP: read the config again.
    Reload,
}

/// Blocks the signals and starts the thread that waits for them. Call
/// first thing in `main`.
pub fn take() -> mpsc::IntoIter<Signal> {
    // SAFETY: plain libc calls on a zeroed, then initialised, sigset_t.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut stops = 0;
            loop {
                let mut signal = 0;
                // SAFETY: `set` lives in this closure; sigwait only reads it.
                if unsafe { libc::sigwait(&set, &mut signal) } != 0 {
                    continue;
                }
                let message = if signal == libc::SIGHUP {
                    Signal::Reload
                } else {
                    stops += 1;
                    if stops > 1 {
                        eprintln!("cctvd: second signal: exiting without waiting for the sinks");
                        // SAFETY: ends the process at once, as asked.
                        unsafe { libc::_exit(130) };
                    }
                    Signal::Stop
                };
                if tx.send(message).is_err() {
                    return;
                }
            }
        })
        .expect("a thread for signals");
    rx.into_iter()
}
