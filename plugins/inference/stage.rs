//! One model as an element runs it on video: its input buffer, the packing
//! of negotiated frames into it, the run and its timings.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use cctv::detect::{InputSpec, Output};
use cctv::letterbox::Fit;
use cctv::preprocess::TensorFormat;

use super::error::Error;
use super::model::Model;
use super::tensor::{InputTensor, OutputScratch};
use super::timings::Timings;
use super::video::VideoInput;

pub struct Stage {
    pub model: Arc<Model>,
    /// The model's file name, for messages.
    pub name: String,
    pub input: InputSpec,
    pub tensor: InputTensor,
    outputs: OutputScratch,
    fit: Fit,
    format: TensorFormat,
    /// Negotiated frames and their packing, from [`Stage::configure`].
    video: Option<VideoInput>,
    pub timings: Timings,
}

impl Stage {
    /// `model` (from `path`) fed `input`, frames placed by `fit` and
    /// normalised as `format` says.
    pub fn new(
        path: &Path,
        model: Arc<Model>,
        input: InputSpec,
        fit: Fit,
        format: TensorFormat,
    ) -> Stage {
        Stage {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            tensor: InputTensor::new(&input),
            model,
            input,
            outputs: OutputScratch::default(),
            fit,
            format,
            video: None,
            timings: Timings::default(),
        }
    }

    /// Sets up packing for frames of `caps`.
    pub fn configure(&mut self, caps: &gst::Caps) -> Result<&VideoInput, Error> {
        let video = VideoInput::new(caps, &self.input, self.fit, self.format)
            .map_err(|why| Error::Caps(format!("cannot take {caps}: {why}")))?;
        Ok(self.video.insert(video))
    }

    /// The packing of negotiated frames; an error before caps.
    pub fn video(&self) -> Result<&VideoInput, Error> {
        self.video
            .as_ref()
            .ok_or_else(|| Error::Caps("received a buffer before caps".into()))
    }

    /// Fills the input with `pack`, runs the model and hands the outputs
    /// to `read`; the time of each step goes into `timings`.
    pub fn run<R>(
        &mut self,
        pack: impl FnOnce(&mut VideoInput, &mut InputTensor) -> Result<(), String>,
        read: impl FnOnce(&[Output<'_>]) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let start = Instant::now();
        let video = self
            .video
            .as_mut()
            .ok_or_else(|| Error::Caps("received a buffer before caps".into()))?;
        pack(video, &mut self.tensor)
            .map_err(|why| Error::Input(format!("cannot read the frame: {why}")))?;
        let packed = Instant::now();
        let mut inferred = packed;
        let result = self
            .model
            .run(&self.tensor, &mut self.outputs, |outputs| {
                inferred = Instant::now();
                read(outputs)
            })
            .map_err(|e| match e {
                Error::Run(why) => Error::Run(format!("{why} on {}", self.name)),
                Error::Output(why) => {
                    Error::Output(format!("cannot decode the output of {}: {why}", self.name))
                }
                other => other,
            })?;
        self.timings
            .add_run([start, packed, inferred, Instant::now()]);
        Ok(result)
    }
}
