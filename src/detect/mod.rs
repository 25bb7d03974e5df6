//! Decoding of object-detector outputs, one module per output layout.
//!
//! Decoders turn raw output tensors into [`Detection`]s in input-tensor
//! pixels; the caller maps them to the frame ([`crate::letterbox`]) and runs
//! [`crate::nms`] when [`Decoder::needs_nms`] says the graph has none.

mod end2end;
mod layout;
mod tfod;
mod yolo;
mod yolox;

pub use end2end::{End2End6, End2End7};
pub use layout::{ElementType, InputSpec, Layout, LayoutError, LayoutKind, TensorInfo};
pub use tfod::TfObjectDetection;
pub use yolo::{YoloV5, YoloV8};
pub use yolox::Yolox;

use crate::bbox::BBox;

/// A scored, classified box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub bbox: BBox,
    pub score: f32,
    pub class_id: u32,
}

/// A model output as the runtime returned it.
#[derive(Debug, Clone, Copy)]
pub struct Output<'a> {
    pub name: &'a str,
    pub shape: &'a [i64],
    pub data: &'a [f32],
}

/// Why an output could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

/// One detector output layout.
pub trait Decoder: Send + Sync {
    /// Appends the detections scoring at least `threshold`, in input-tensor
    /// pixels of a `input_w` x `input_h` tensor.
    fn decode(
        &self,
        outputs: &[Output<'_>],
        input_w: u32,
        input_h: u32,
        threshold: f32,
        out: &mut Vec<Detection>,
    ) -> Result<(), DecodeError>;

    /// False when the graph already ran NMS.
    fn needs_nms(&self) -> bool {
        true
    }
}

/// The output called `name`, or the only output.
fn output<'a>(outputs: &'a [Output<'a>], name: &str) -> Result<&'a Output<'a>, DecodeError> {
    outputs
        .iter()
        .find(|o| o.name.contains(name))
        .or(if outputs.len() == 1 {
            outputs.first()
        } else {
            None
        })
        .ok_or_else(|| DecodeError(format!("model has no output named {name}")))
}

/// Checks that `data` holds `rows` x `cols` values.
fn check_len(o: &Output<'_>, rows: usize, cols: usize) -> Result<(), DecodeError> {
    if o.data.len() != rows * cols {
        return Err(DecodeError(format!(
            "output {} has {} values, expected {rows} x {cols} for shape {:?}",
            o.name,
            o.data.len(),
            o.shape
        )));
    }
    Ok(())
}

/// Index and value of the largest element.
#[inline]
fn argmax(values: &[f32]) -> (usize, f32) {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, &v) in values.iter().enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best
}
