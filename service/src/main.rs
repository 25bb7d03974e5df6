//! `cctvd`: the site as one service. Reads one config file (checked whole
//! before anything starts), runs one pipeline of the plugin's elements per
//! camera, and serves the API, the page, the video and the metrics on one
//! address (loopback unless a token protects it).
//!
//! ```text
//! cctvd [--config FILE] [--check]
//! ```
//!
//! SIGHUP reloads the config; SIGINT or SIGTERM stops every camera (EOS,
//! the sinks flushed within their timeout) and exits 0; a second one exits
//! at once.

/// A line on stderr (the journal, under systemd). Never given a secret.
macro_rules! say {
    ($($t:tt)*) => { eprintln!("cctvd: {}", format_args!($($t)*)) };
}
pub(crate) use say;

mod api;
mod camera;
mod config;
mod signals;
mod site;

use std::path::PathBuf;
use std::process::ExitCode;

const DEFAULT_CONFIG: &str = "/etc/gst-cctv/cctvd.toml";
const USAGE: &str = "usage: cctvd [--config FILE] [--check]";

fn main() -> ExitCode {
    // Before any thread exists, so that every thread inherits the mask.
    let signals = signals::take();
    let mut path = PathBuf::from(DEFAULT_CONFIG);
    let mut check_only = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" | "-c" => match args.next() {
                Some(p) => path = p.into(),
                None => return usage(),
            },
            "--check" => check_only = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => return usage(),
        }
    }
    let init = gst::init()
        .map_err(|e| e.to_string())
        .and_then(|()| gstcctv::plugin_register_static().map_err(|e| e.to_string()));
    if let Err(e) = init {
        say!("GStreamer: {e}");
        return ExitCode::FAILURE;
    }
    let config = match config::load(&path) {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors {
                say!("{e}");
            }
            say!("{} error(s) in the config: nothing started", errors.len());
            return ExitCode::from(2);
        }
    };
    for w in &config.warnings {
        say!("warning: {w}");
    }
    if check_only {
        say!(
            "{}: {} camera(s), all checked",
            path.display(),
            config.cameras.len()
        );
        return ExitCode::SUCCESS;
    }

    let (listen, token) = (config.listen, config.token.clone());
    // The server first: a camera's liveview would otherwise start the
    // exporter without the API and the token.
    let site = site::Site::new(config);
    let api = std::sync::Arc::new(api::Api(std::sync::Arc::clone(&site)));
    match gstcctv::metrics::serve_app(&listen.to_string(), token.clone(), api) {
        Ok(address) => say!(
            "serving http://{address}/ (API /api/cameras, metrics /metrics){}",
            if token.is_some() {
                ", token required"
            } else {
                ""
            }
        ),
        Err(e) => {
            say!("{e}");
            return ExitCode::FAILURE;
        }
    }
    site.start_enabled();
    for signal in signals {
        match signal {
            signals::Signal::Reload => match site.reload() {
                Ok(r) => r.warnings.iter().for_each(|w| say!("warning: {w}")),
                Err(errors) => {
                    errors.iter().for_each(|e| say!("{e}"));
                    say!("reload refused: the running cameras are unchanged");
                }
            },
            signals::Signal::Stop => break,
        }
    }
    say!("stopping every camera (a second signal exits at once)");
    site.shutdown();
    say!("stopped");
    ExitCode::SUCCESS
}

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}
