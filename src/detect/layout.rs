//! Recognising a detector's layout from its inputs and outputs.

use super::yolo::classes_in_transposed;
use super::yolox::rows_for;
use super::{Decoder, End2End6, End2End7, TfObjectDetection, YoloV5, YoloV8, Yolox};
use crate::letterbox::Fit;

/// Element type of a model tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementType {
    F32,
    F16,
    U8,
    Other,
}

/// Name, shape (`-1` for dynamic) and type of a model input or output.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub shape: Vec<i64>,
    pub ty: ElementType,
}

/// A recognised detector layout, with what its input expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Yolox { classes: usize },
    YoloV5 { classes: usize },
    YoloV8 { classes: usize },
    TfObjectDetection,
    End2End6,
    End2End7,
}

/// Why a model is not a detector we can run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutError(pub String);

impl std::fmt::Display for LayoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LayoutError {}

/// The single image input of a detector.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// `[1, 3, H, W]` float (true) or `[1, H, W, 3]` uint8 (false).
    pub planar: bool,
    pub ty: ElementType,
}

/// Size used for inputs with dynamic height/width.
pub const DYNAMIC_INPUT_SIZE: u32 = 640;
/// TF OD API graphs resize internally; their reference feed is 300x300.
pub const TFOD_INPUT_SIZE: u32 = 300;

impl InputSpec {
    pub fn from_model(inputs: &[TensorInfo]) -> Result<InputSpec, LayoutError> {
        let [input] = inputs else {
            return Err(LayoutError(format!(
                "a detector has one image input; this model has {}",
                inputs.len()
            )));
        };
        let dim = |i: usize, dynamic: u32| match input.shape[i] {
            d if d > 0 => d as u32,
            _ => dynamic,
        };
        match (input.ty, input.shape.as_slice()) {
            (ElementType::U8, [_, _, _, 3]) => Ok(InputSpec {
                name: input.name.clone(),
                width: dim(2, TFOD_INPUT_SIZE),
                height: dim(1, TFOD_INPUT_SIZE),
                planar: false,
                ty: input.ty,
            }),
            (ElementType::F32 | ElementType::F16, [_, 3, _, _]) => Ok(InputSpec {
                name: input.name.clone(),
                width: dim(3, DYNAMIC_INPUT_SIZE),
                height: dim(2, DYNAMIC_INPUT_SIZE),
                planar: true,
                ty: input.ty,
            }),
            _ => Err(LayoutError(format!(
                "input {} {:?} of type {:?} is not an image tensor ([1,3,H,W] float or [1,H,W,3] uint8)",
                input.name, input.shape, input.ty
            ))),
        }
    }
}

/// A layout the user forces with `model-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutKind {
    Yolox,
    YoloV5,
    YoloV8,
    TfObjectDetection,
    End2End,
}

impl Layout {
    /// Recognises the layout from the model's outputs, or checks that a
    /// `forced` one fits them.
    pub fn detect(
        input: &InputSpec,
        outputs: &[TensorInfo],
        forced: Option<LayoutKind>,
    ) -> Result<Layout, LayoutError> {
        let has = |n: &str| outputs.iter().any(|o| o.name.contains(n));
        let is_tfod = has("detection_boxes") && has("detection_scores") && has("detection_classes");
        if is_tfod && matches!(forced, None | Some(LayoutKind::TfObjectDetection)) {
            return Ok(Layout::TfObjectDetection);
        }
        let o = outputs
            .iter()
            .find(|o| o.ty == ElementType::F32 || o.ty == ElementType::F16)
            .ok_or_else(|| LayoutError("model has no float output".into()))?;
        let not_detector = || {
            LayoutError(format!(
                "output {} {:?} is not a detector output this element knows \
                 (YOLOX, YOLOv5/v7, YOLOv8/11, TF Object Detection API, end-to-end [N,6]/[N,7]); \
                 set model-type if it is one of those",
                o.name, o.shape
            ))
        };
        // A free batch dimension (a model that takes batches) reads as 1.
        let mut shape = o.shape.clone();
        if shape.len() == 3 && shape[0] < 0 {
            shape[0] = 1;
        }
        let (n, k) = match shape.as_slice() {
            [1, n, k] | [n, k] => (*n, *k),
            _ => return Err(not_detector()),
        };
        let yolox_rows = rows_for(input.width, input.height) as i64;
        let classes = (k - 5).max(0) as usize;
        let layout = match forced {
            Some(LayoutKind::TfObjectDetection) => {
                return Err(LayoutError(
                    "model-type=tf-object-detection needs outputs detection_boxes, detection_scores, detection_classes, num_detections".into(),
                ));
            }
            Some(LayoutKind::Yolox) if k > 5 => Layout::Yolox { classes },
            Some(LayoutKind::YoloV5) if k > 5 => Layout::YoloV5 { classes },
            Some(LayoutKind::YoloV8) => match classes_in_transposed(&shape) {
                Some(classes) => Layout::YoloV8 { classes },
                None => return Err(not_detector()),
            },
            Some(LayoutKind::End2End) if k == 6 => Layout::End2End6,
            Some(LayoutKind::End2End) if k == 7 => Layout::End2End7,
            Some(_) => return Err(not_detector()),
            None => {
                if let Some(classes) = classes_in_transposed(&shape) {
                    Layout::YoloV8 { classes }
                } else if k > 5 && n == yolox_rows {
                    Layout::Yolox { classes }
                } else if k > 5 && n == 3 * yolox_rows {
                    Layout::YoloV5 { classes }
                } else if k == 6 {
                    Layout::End2End6
                } else if k == 7 && shape.len() == 2 {
                    Layout::End2End7
                } else {
                    return Err(not_detector());
                }
            }
        };
        Ok(layout)
    }

    pub fn decoder(&self) -> Box<dyn Decoder> {
        match *self {
            Layout::Yolox { classes } => Box::new(Yolox {
                num_classes: classes,
            }),
            Layout::YoloV5 { classes } => Box::new(YoloV5 {
                num_classes: classes,
            }),
            Layout::YoloV8 { classes } => Box::new(YoloV8 {
                num_classes: classes,
            }),
            Layout::TfObjectDetection => Box::new(TfObjectDetection),
            Layout::End2End6 => Box::new(End2End6),
            Layout::End2End7 => Box::new(End2End7),
        }
    }

    /// Number of classes, when the output tells.
    pub fn classes(&self) -> Option<usize> {
        match *self {
            Layout::Yolox { classes } | Layout::YoloV5 { classes } | Layout::YoloV8 { classes } => {
                Some(classes)
            }
            _ => None,
        }
    }

    /// How the frame is fitted into the input, as the model family was trained.
    pub fn fit(&self) -> Fit {
        match self {
            Layout::Yolox { .. } => Fit::LetterboxTopLeft,
            Layout::TfObjectDetection => Fit::Stretch,
            _ => Fit::LetterboxCenter,
        }
    }

    /// YOLOX was trained on BGR 0-255; the others take RGB 0-1 (float) or 0-255 (uint8).
    pub fn bgr(&self) -> bool {
        matches!(self, Layout::Yolox { .. })
    }

    pub fn pixel_scale(&self) -> f32 {
        match self {
            Layout::Yolox { .. } | Layout::TfObjectDetection => 1.0,
            _ => 1.0 / 255.0,
        }
    }

    /// Uses COCO category numbering (1-based, 90 ids) rather than the 80 contiguous classes.
    pub fn coco91(&self) -> bool {
        matches!(self, Layout::TfObjectDetection)
    }

    pub fn name(&self) -> &'static str {
        match self {
            Layout::Yolox { .. } => "yolox",
            Layout::YoloV5 { .. } => "yolov5",
            Layout::YoloV8 { .. } => "yolov8",
            Layout::TfObjectDetection => "tf-object-detection",
            Layout::End2End6 => "end2end [N,6]",
            Layout::End2End7 => "end2end [N,7]",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, shape: &[i64], ty: ElementType) -> TensorInfo {
        TensorInfo {
            name: name.into(),
            shape: shape.to_vec(),
            ty,
        }
    }

    fn image(w: i64, h: i64) -> InputSpec {
        InputSpec::from_model(&[t("images", &[1, 3, h, w], ElementType::F32)]).unwrap()
    }

    #[test]
    fn recognises_each_layout() {
        let i416 = image(416, 416);
        let detect = |i: &InputSpec, shape: &[i64]| {
            Layout::detect(i, &[t("output", shape, ElementType::F32)], None)
        };
        assert_eq!(
            detect(&i416, &[1, 3549, 85]),
            Ok(Layout::Yolox { classes: 80 })
        );
        // Models that take batches have a free first dimension.
        assert_eq!(
            detect(&i416, &[-1, 3549, 85]),
            Ok(Layout::Yolox { classes: 80 })
        );
        assert_eq!(
            detect(&image(640, 640), &[-1, 84, -1]),
            Ok(Layout::YoloV8 { classes: 80 })
        );
        assert_eq!(
            detect(&i416, &[1, 10647, 85]),
            Ok(Layout::YoloV5 { classes: 80 })
        );
        assert_eq!(
            detect(&image(640, 640), &[1, 6, 8400]),
            Ok(Layout::YoloV8 { classes: 2 })
        );
        assert_eq!(detect(&i416, &[1, 300, 6]), Ok(Layout::End2End6));
        assert_eq!(detect(&i416, &[-1, 7]), Ok(Layout::End2End7));
        assert!(
            detect(&i416, &[1, 1000])
                .unwrap_err()
                .0
                .contains("not a detector")
        );

        let tf_input =
            InputSpec::from_model(&[t("image_tensor:0", &[1, -1, -1, 3], ElementType::U8)])
                .unwrap();
        assert_eq!(
            (tf_input.width, tf_input.height, tf_input.planar),
            (300, 300, false)
        );
        let tf_outputs = [
            t("detection_boxes:0", &[1, 100, 4], ElementType::F32),
            t("detection_classes:0", &[1, 100], ElementType::F32),
            t("detection_scores:0", &[1, 100], ElementType::F32),
            t("num_detections:0", &[1], ElementType::F32),
        ];
        assert_eq!(
            Layout::detect(&tf_input, &tf_outputs, None),
            Ok(Layout::TfObjectDetection)
        );
    }

    #[test]
    fn forced_layouts_are_checked_against_the_outputs() {
        let i = image(416, 416);
        let out = [t("output", &[1, 3549, 85], ElementType::F32)];
        assert_eq!(
            Layout::detect(&i, &out, Some(LayoutKind::YoloV5)),
            Ok(Layout::YoloV5 { classes: 80 })
        );
        assert!(Layout::detect(&i, &out, Some(LayoutKind::End2End)).is_err());
        assert!(Layout::detect(&i, &out, Some(LayoutKind::TfObjectDetection)).is_err());
    }

    #[test]
    fn rejects_non_image_inputs() {
        assert!(InputSpec::from_model(&[]).is_err());
        let err = InputSpec::from_model(&[t("x", &[1, 10], ElementType::F32)]).unwrap_err();
        assert!(err.0.contains("not an image tensor"), "{err}");
    }
}
