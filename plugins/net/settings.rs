//! The properties every network sink has (camera, queue, flush, retry,
//! spool), declared once so they read the same in `gst-inspect-1.0`.

use std::path::PathBuf;
use std::time::Duration;

use gst::glib;
use gst::prelude::*;

use super::spool::{self, Spool};
use super::worker::Config;

const DEFAULT_RETRY_TIMEOUT: u32 = 60_000;
const DEFAULT_MAX_SPOOL_SIZE: u64 = 1 << 30;

#[derive(Debug, Clone)]
pub struct NetSettings {
    /// Empty: the camera id camsrc answers upstream.
    pub camera_id: String,
    pub max_queued: u32,
    pub flush_timeout: u32,
    pub retry_timeout: u32,
    pub spool_location: Option<String>,
    pub max_spool_size: u64,
}

impl NetSettings {
    /// The sink's own defaults for the queue length and the flush timeout.
    pub fn new(max_queued: u32, flush_timeout: u32) -> NetSettings {
        NetSettings {
            camera_id: String::new(),
            max_queued,
            flush_timeout,
            retry_timeout: DEFAULT_RETRY_TIMEOUT,
            spool_location: None,
            max_spool_size: DEFAULT_MAX_SPOOL_SIZE,
        }
    }

    /// The property specs, with `queued` naming what one item is.
    pub fn properties(&self, queued: &str) -> Vec<glib::ParamSpec> {
        vec![
            glib::ParamSpecString::builder("camera-id")
                .nick("Camera id")
                .blurb("Camera name every message or row carries (empty: the id of the camsrc upstream, else \"camera\")")
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("max-queued")
                .nick("Max queued")
                .blurb(&format!(
                    "{queued} kept in memory while the server is away; per-frame data is dropped oldest first, records go to the spool"
                ))
                .minimum(1)
                .maximum(100_000_000)
                .default_value(self.max_queued)
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("flush-timeout")
                .nick("Flush timeout")
                .blurb("At EOS, wait up to this many ms for the server to acknowledge everything; what is left then is an error, or stays in the spool")
                .maximum(3_600_000)
                .default_value(self.flush_timeout)
                .mutable_playing()
                .build(),
            glib::ParamSpecUInt::builder("retry-timeout")
                .nick("Retry timeout")
                .blurb("Post an error when the server stays unreachable this many ms, at start or later (0: retry forever, e.g. with a spool)")
                .maximum(u32::MAX)
                .default_value(self.retry_timeout)
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("spool-location")
                .nick("Spool location")
                .blurb("Folder where records wait on disk while the server is away; they are delivered, with their ids, when it is back, also after a restart (unset: no spool)")
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt64::builder("max-spool-size")
                .nick("Max spool size")
                .blurb("Bytes the spool may hold; beyond that its oldest records are dropped")
                .minimum(4096)
                .default_value(self.max_spool_size)
                .mutable_ready()
                .build(),
        ]
    }

    /// Sets one of these properties; false when `name` is not one of them.
    pub fn set(&mut self, name: &str, value: &glib::Value) -> bool {
        match name {
            "camera-id" => {
                self.camera_id = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .unwrap_or_default()
            }
            "max-queued" => self.max_queued = value.get().expect("type checked upstream"),
            "flush-timeout" => self.flush_timeout = value.get().expect("type checked upstream"),
            "retry-timeout" => self.retry_timeout = value.get().expect("type checked upstream"),
            "spool-location" => {
                self.spool_location = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .filter(|s| !s.is_empty())
            }
            "max-spool-size" => self.max_spool_size = value.get().expect("type checked upstream"),
            _ => return false,
        }
        true
    }

    pub fn get(&self, name: &str) -> Option<glib::Value> {
        Some(match name {
            "camera-id" => self.camera_id.to_value(),
            "max-queued" => self.max_queued.to_value(),
            "flush-timeout" => self.flush_timeout.to_value(),
            "retry-timeout" => self.retry_timeout.to_value(),
            "spool-location" => self.spool_location.to_value(),
            "max-spool-size" => self.max_spool_size.to_value(),
            _ => return None,
        })
    }

    pub fn flush_timeout(&self) -> Duration {
        Duration::from_millis(self.flush_timeout as u64)
    }

    /// The worker's configuration; opens the spool of `element` for `camera`.
    pub fn config(
        &self,
        element: &str,
        camera: &str,
        batch_size: usize,
        linger: Duration,
    ) -> Result<Config, gst::ErrorMessage> {
        let spool = match &self.spool_location {
            None => None,
            Some(location) => Some(
                Spool::open(
                    &PathBuf::from(location),
                    &spool::folder_name(element, camera),
                    self.max_spool_size,
                )
                .map_err(|e| gst::error_msg!(gst::ResourceError::OpenReadWrite, ["{}", e]))?,
            ),
        };
        Ok(Config {
            max_queued: self.max_queued as usize,
            batch_size,
            linger,
            retry_timeout: (self.retry_timeout > 0)
                .then(|| Duration::from_millis(self.retry_timeout as u64)),
            spool,
            name: format!("{element}-worker"),
        })
    }
}
