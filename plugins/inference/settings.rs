//! The properties every element that runs a model has (the model file, its
//! labels, threads, sessions, execution provider and batching), declared
//! once so they read the same in `gst-inspect-1.0`, and how they open the
//! model.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gst::glib;
use gst::prelude::*;

use super::batch::BatchOptions;
use super::error::Error;
use super::model::{self, Model, SessionOptions};
use super::session::ExecutionProvider;
use crate::assets;

const DEFAULT_THREADS: u32 = 0;
const DEFAULT_SESSIONS: u32 = 0;
const DEFAULT_BATCH_SIZE: u32 = 0;
const DEFAULT_BATCH_TIMEOUT_MS: u32 = 10;
/// `batch-size` 0 on a provider other than the CPU.
const AUTO_BATCH: u32 = 16;

#[derive(Debug, Clone, PartialEq)]
pub struct ModelSettings {
    pub model: Option<String>,
    pub labels: Option<String>,
    pub threads: u32,
    pub sessions: u32,
    pub batch_size: u32,
    pub batch_timeout_ms: u32,
    pub provider: ExecutionProvider,
}

impl Default for ModelSettings {
    fn default() -> Self {
        ModelSettings {
            model: None,
            labels: None,
            threads: DEFAULT_THREADS,
            sessions: DEFAULT_SESSIONS,
            batch_size: DEFAULT_BATCH_SIZE,
            batch_timeout_ms: DEFAULT_BATCH_TIMEOUT_MS,
            provider: ExecutionProvider::Cpu,
        }
    }
}

/// What an element says of its model in `gst-inspect-1.0`.
pub struct ModelProperties {
    /// Blurb of `model`: what the file is and the default.
    pub model: &'static str,
    /// Blurb of `labels`.
    pub labels: &'static str,
    /// Whether frames of several instances may run as one batch
    /// (`batch-size`, `batch-timeout`): for models run once per frame.
    pub batches: bool,
}

impl ModelSettings {
    pub fn properties(what: &ModelProperties) -> Vec<glib::ParamSpec> {
        let d = ModelSettings::default();
        let mut props = vec![
            glib::ParamSpecString::builder("model")
                .nick("Model")
                .blurb(what.model)
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("labels")
                .nick("Labels")
                .blurb(what.labels)
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("threads")
                .nick("Threads")
                .blurb("ONNX Runtime intra-op threads per session (0: one per physical core)")
                .maximum(256)
                .default_value(d.threads)
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("sessions")
                .nick("Sessions")
                .blurb(
                    "ONNX Runtime sessions of the model, shared by every instance with the same model and \
                     options: this many instances (cameras) of one process run it at once (0: one session, \
                     and a one-thread session more whenever all are busy, up to one per core)",
                )
                .maximum(64)
                .default_value(d.sessions)
                .mutable_ready()
                .build(),
            glib::ParamSpecEnum::builder_with_default("execution-provider", d.provider)
                .nick("Execution provider")
                .blurb("Where inference runs; non-CPU providers need an ONNX Runtime built with them")
                .mutable_ready()
                .build(),
        ];
        if what.batches {
            props.extend([
                glib::ParamSpecUInt::builder("batch-size")
                    .nick("Batch size")
                    .blurb(
                        "Most frames of several instances (cameras) sharing the model run as one batch, \
                         as many as have sent frames in the last second (1: no batching; 0: none on the CPU, \
                         where parallel sessions are faster, and up to 16 on other providers if the model has \
                         a free batch dimension)",
                    )
                    .maximum(256)
                    .default_value(d.batch_size)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("batch-timeout")
                    .nick("Batch timeout")
                    .blurb("Longest wait (ms) of a batch's first frame for the other cameras' frames")
                    .maximum(1000)
                    .default_value(d.batch_timeout_ms)
                    .mutable_ready()
                    .build(),
            ]);
        }
        props
    }

    /// Sets one of these properties; false when `name` is not one of them.
    pub fn set(&mut self, name: &str, value: &glib::Value) -> bool {
        let string = || {
            value
                .get::<Option<String>>()
                .expect("type checked upstream")
                .filter(|s| !s.is_empty())
        };
        match name {
            "model" => self.model = string(),
            "labels" => self.labels = string(),
            "threads" => self.threads = value.get().expect("type checked upstream"),
            "sessions" => self.sessions = value.get().expect("type checked upstream"),
            "batch-size" => self.batch_size = value.get().expect("type checked upstream"),
            "batch-timeout" => self.batch_timeout_ms = value.get().expect("type checked upstream"),
            "execution-provider" => self.provider = value.get().expect("type checked upstream"),
            _ => return false,
        }
        true
    }

    pub fn get(&self, name: &str) -> Option<glib::Value> {
        Some(match name {
            "model" => self.model.to_value(),
            "labels" => self.labels.to_value(),
            "threads" => self.threads.to_value(),
            "sessions" => self.sessions.to_value(),
            "batch-size" => self.batch_size.to_value(),
            "batch-timeout" => self.batch_timeout_ms.to_value(),
            "execution-provider" => self.provider.to_value(),
            _ => return None,
        })
    }

    /// Opens the `model` file, else `bundled` (a file of the assets folder);
    /// `None` means the element has no bundled model.
    pub fn open(&self, bundled: Option<PathBuf>) -> Result<(PathBuf, Arc<Model>), Error> {
        let path = match (&self.model, bundled) {
            (Some(file), _) => PathBuf::from(file),
            (None, Some(bundled)) if bundled.exists() => bundled,
            (None, Some(bundled)) => {
                return Err(Error::NotFound(format!(
                    "bundled model {} not found: run {}",
                    bundled.display(),
                    assets::FETCH_COMMAND
                )));
            }
            (None, None) => {
                return Err(Error::Unfit(
                    "no model: set the model property to an ONNX file".into(),
                ));
            }
        };
        let model = self.open_file(path.clone())?;
        Ok((path, model))
    }

    /// Opens `path` with these options. Batching by default (`batch-size` 0
    /// on a non-CPU provider) needs a model that takes batches: one that
    /// does not runs frame by frame.
    pub fn open_file(&self, path: PathBuf) -> Result<Arc<Model>, Error> {
        let max = match (self.batch_size, self.provider) {
            (0, ExecutionProvider::Cpu) => 1,
            (0, _) => AUTO_BATCH,
            (n, _) => n,
        };
        let mut options = SessionOptions {
            path,
            threads: self.threads,
            provider: self.provider,
            sessions: self.sessions,
            batch: BatchOptions {
                max,
                wait: Duration::from_millis(self.batch_timeout_ms.into()),
            },
        };
        match model::load(&options) {
            Err(Error::Unfit(why)) if self.batch_size == 0 && max > 1 => {
                gst::info!(gst::CAT_RUST, "no batches: {}", why);
                options.batch.max = 1;
                model::load(&options)
            }
            loaded => loaded,
        }
    }

    /// The names in the `labels` file, else `default()`; a file whose count
    /// differs from the model's `classes` (when known) is an error.
    pub fn labels(
        &self,
        classes: Option<usize>,
        default: impl FnOnce() -> Vec<String>,
    ) -> Result<Vec<String>, Error> {
        let Some(file) = &self.labels else {
            return Ok(default());
        };
        let text = std::fs::read_to_string(file).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                Error::NotFound(format!("labels file {file} not found"))
            }
            _ => Error::Load(format!("cannot read labels file {file}: {e}")),
        })?;
        let labels = cctv::labels::parse_label_file(&text);
        match classes {
            Some(n) if n != labels.len() => Err(Error::Unfit(format!(
                "labels file {file} has {} names but the model has {n} classes",
                labels.len()
            ))),
            _ => Ok(labels),
        }
    }
}
