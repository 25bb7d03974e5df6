//! The site: every camera of the config, in the file's order, and what
//! changes them all: a reload (added cameras start, removed ones stop,
//! changed ones restart, the others are not touched) and the shutdown.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::camera::{Action, Camera};
use crate::config::{self, Config};

pub struct Site {
    path: PathBuf,
    cameras: Mutex<Vec<Arc<Camera>>>,
    /// What the running server was started with: a reload cannot change it.
    listen: std::net::SocketAddr,
    token: Option<String>,
    /// One reload at a time (the API and SIGHUP may both ask).
    reloading: Mutex<()>,
}

/// What a reload did, by camera id.
#[derive(Default, Serialize)]
pub struct Reload {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    pub unchanged: Vec<String>,
    pub warnings: Vec<String>,
}

impl Site {
    /// Every camera, IDLE until [`Site::start_enabled`].
    pub fn new(config: Config) -> Arc<Site> {
        let cameras = config.cameras.into_iter().map(Camera::spawn).collect();
        Arc::new(Site {
            path: config.path,
            cameras: Mutex::new(cameras),
            listen: config.listen,
            token: config.token,
            reloading: Mutex::new(()),
        })
    }

    /// Starts the cameras the config enables.
    pub fn start_enabled(&self) {
        for camera in self.cameras() {
            if camera.spec().enabled {
                camera.request(Action::Start);
            }
        }
    }

    pub fn cameras(&self) -> Vec<Arc<Camera>> {
        self.cameras.lock().unwrap().clone()
    }

    pub fn camera(&self, id: &str) -> Option<Arc<Camera>> {
        self.cameras().into_iter().find(|c| c.id == id)
    }

    /// Reads the config again; nothing changes unless the whole file checks.
    pub fn reload(&self) -> Result<Reload, Vec<String>> {
        let _one = self.reloading.lock().unwrap();
        let new = config::load(&self.path)?;
        let mut report = Reload {
            warnings: new.warnings,
            ..Reload::default()
        };
        if new.listen != self.listen || new.token != self.token {
            report
                .warnings
                .push("listen and token-file take effect at the next start of the service".into());
        }
        let old = self.cameras();
        let mut kept = Vec::new();
        for spec in new.cameras {
            match old.iter().find(|c| c.id == spec.id) {
                Some(camera) => {
                    if camera.spec() == spec {
                        report.unchanged.push(spec.id.clone());
                    } else {
                        report.changed.push(spec.id.clone());
                        camera.update(spec);
                    }
                    kept.push(Arc::clone(camera));
                }
                None => {
                    report.added.push(spec.id.clone());
                    let enabled = spec.enabled;
                    let camera = Camera::spawn(spec);
                    if enabled {
                        camera.request(Action::Start);
                    }
                    kept.push(camera);
                }
            }
        }
        let removed: Vec<Arc<Camera>> = old
            .into_iter()
            .filter(|c| !kept.iter().any(|k| k.id == c.id))
            .collect();
        *self.cameras.lock().unwrap() = kept;
        report.removed = removed.iter().map(|c| c.id.clone()).collect();
        // Removed cameras flush their sinks on threads of their own.
        for camera in removed {
            std::thread::spawn(move || camera.remove());
        }
        crate::say!(
            "reloaded {}: added {:?}, removed {:?}, changed {:?}, {} unchanged",
            self.path.display(),
            report.added,
            report.removed,
            report.changed,
            report.unchanged.len()
        );
        Ok(report)
    }

    /// Stops every camera at once (each sends EOS and waits for its sinks
    /// within their flush timeout).
    pub fn shutdown(&self) {
        let cameras = std::mem::take(&mut *self.cameras.lock().unwrap());
        std::thread::scope(|s| {
            for camera in &cameras {
                s.spawn(|| camera.remove());
            }
        });
    }
}
