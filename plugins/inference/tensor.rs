//! A model's image input and its outputs as the runtime exchanges them:
//! float32, float16 or uint8 input storage kept across frames, and outputs
//! read as float slices whatever their element type.

use cctv::detect::{ElementType, InputSpec, Output, TensorInfo};
use cctv::preprocess::{Image, PackError, Packer};
use ort::session::SessionOutputs;
use ort::value::{DynValueRef, TensorRef};

/// The image input of a model, reused across frames.
pub struct InputTensor {
    name: String,
    shape: [usize; 4],
    data: InputData,
}

enum InputData {
    F32(Vec<f32>),
    /// Packed as float32, then converted.
    F16(Vec<f32>, Vec<half::f16>),
    U8(Vec<u8>),
}

impl InputTensor {
    pub fn new(spec: &InputSpec) -> InputTensor {
        let (w, h) = (spec.width as usize, spec.height as usize);
        let len = 3 * w * h;
        InputTensor {
            name: spec.name.clone(),
            shape: if spec.planar {
                [1, 3, h, w]
            } else {
                [1, h, w, 3]
            },
            data: match spec.ty {
                ElementType::U8 => InputData::U8(vec![0; len]),
                ElementType::F16 => InputData::F16(vec![0.0; len], vec![half::f16::ZERO; len]),
                _ => InputData::F32(vec![0.0; len]),
            },
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Packs `image` into the tensor with `packer` (made for this tensor).
    pub fn fill(&mut self, packer: &mut Packer, image: &Image<'_>) -> Result<(), PackError> {
        match &mut self.data {
            InputData::F32(t) => packer.pack_planar(image, t),
            InputData::F16(t, h) => packer.pack_planar(image, t).map(|()| {
                for (o, v) in h.iter_mut().zip(t.iter()) {
                    *o = half::f16::from_f32(*v);
                }
            }),
            InputData::U8(t) => packer.pack_interleaved(image, t),
        }
    }

    /// The packed bytes of a uint8 tensor (`None` for float ones).
    pub fn bytes(&self) -> Option<&[u8]> {
        match &self.data {
            InputData::U8(t) => Some(t),
            _ => None,
        }
    }

    /// A view of the tensor for `Session::run`.
    pub fn value(&self) -> ort::Result<DynValueRef<'_>> {
        let shape = self.shape;
        Ok(match &self.data {
            InputData::F32(t) => TensorRef::from_array_view((shape, &t[..]))?.into_dyn(),
            InputData::F16(_, t) => TensorRef::from_array_view((shape, &t[..]))?.into_dyn(),
            InputData::U8(t) => TensorRef::from_array_view((shape, &t[..]))?.into_dyn(),
        })
    }
}

/// Most outputs listed without allocating; models with more allocate the
/// list on every run.
const LISTED_INLINE: usize = 8;

/// Float16 outputs converted to float32, reused across runs.
#[derive(Default)]
pub struct OutputScratch {
    converted: Vec<Vec<f32>>,
}

impl OutputScratch {
    /// Hands the outputs described by `infos`, in that order, to `read`;
    /// outputs the run did not return or of another element type are left
    /// out.
    pub(super) fn read<R>(
        &mut self,
        infos: &[TensorInfo],
        outputs: &SessionOutputs<'_>,
        read: impl FnOnce(&[Output<'_>]) -> R,
    ) -> R {
        self.converted.resize_with(infos.len(), Vec::new);
        for (info, buf) in infos.iter().zip(&mut self.converted) {
            if info.ty == ElementType::F16
                && let Some(Ok((_, data))) = outputs
                    .get(info.name.as_str())
                    .map(|v| v.try_extract_tensor::<half::f16>())
            {
                buf.clear();
                buf.extend(data.iter().map(|v| v.to_f32()));
            }
        }
        let views = infos
            .iter()
            .zip(&self.converted)
            .filter_map(|(info, converted)| {
                let value = outputs.get(info.name.as_str())?;
                let (shape, data) = match info.ty {
                    ElementType::F16 => (
                        value.try_extract_tensor::<half::f16>().ok()?.0,
                        &converted[..],
                    ),
                    _ => value.try_extract_tensor::<f32>().ok()?,
                };
                Some(Output {
                    name: &info.name,
                    shape,
                    data,
                })
            });
        if infos.len() > LISTED_INLINE {
            return read(&views.collect::<Vec<_>>());
        }
        let empty = Output {
            name: "",
            shape: &[],
            data: &[],
        };
        let mut listed = [empty; LISTED_INLINE];
        let mut n = 0;
        for view in views {
            listed[n] = view;
            n += 1;
        }
        read(&listed[..n])
    }
}
