//! A model's image input and its outputs as the runtime exchanges them:
//! float32, float16 or uint8 input storage kept across frames, holding one
//! image or a batch (one crop per object), and outputs read as float slices
//! whatever their element type.

use cctv::detect::{ElementType, InputSpec, Output, TensorInfo};
use cctv::preprocess::{Affine, Image, PackError, Packer, Warp};
use ort::session::SessionOutputs;
use ort::value::{DynValueRef, TensorRef};

/// The image input of a model, reused across frames.
pub struct InputTensor {
    name: String,
    /// Batch first; the batch size is set per run ([`InputTensor::set_batch`]).
    shape: [usize; 4],
    /// Elements of one image.
    item: usize,
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
            item: len,
            data: match spec.ty {
                ElementType::U8 => InputData::U8(vec![0; len]),
                ElementType::F16 => InputData::F16(vec![0.0; len], vec![half::f16::ZERO; len]),
                _ => InputData::F32(vec![0.0; len]),
            },
        }
    }

    /// Makes room for `n` images (a model with a dynamic batch dimension);
    /// memory is kept when the batch shrinks.
    pub fn set_batch(&mut self, n: usize) {
        self.shape[0] = n;
        let len = n * self.item;
        match &mut self.data {
            InputData::F32(t) => t.resize(len, 0.0),
            InputData::F16(t, h) => {
                t.resize(len, 0.0);
                h.resize(len, half::f16::ZERO);
            }
            InputData::U8(t) => t.resize(len, 0),
        }
    }

    /// A tensor of the same image size and type, for one image.
    pub fn empty_like(&self) -> InputTensor {
        let mut shape = self.shape;
        shape[0] = 1;
        InputTensor {
            name: self.name.clone(),
            shape,
            item: self.item,
            data: match &self.data {
                InputData::F32(_) => InputData::F32(vec![0.0; self.item]),
                InputData::F16(..) => {
                    InputData::F16(vec![0.0; self.item], vec![half::f16::ZERO; self.item])
                }
                InputData::U8(_) => InputData::U8(vec![0; self.item]),
            },
        }
    }

    /// Whether images of `other` can go into this tensor's batch.
    pub fn same_image(&self, other: &InputTensor) -> bool {
        self.item == other.item
            && std::mem::discriminant(&self.data) == std::mem::discriminant(&other.data)
    }

    /// Copies the first image of `other` (same image size and type) into
    /// image `item` of this batch.
    pub fn copy_item(&mut self, item: usize, other: &InputTensor) -> Result<(), String> {
        if other.item != self.item {
            return Err("frames of another input size in one batch".into());
        }
        let range = self.range(item).map_err(|e| e.0)?;
        let from = 0..self.item;
        match (&mut self.data, &other.data) {
            (InputData::F32(t), InputData::F32(o)) if o.len() >= self.item => {
                t[range].copy_from_slice(&o[from])
            }
            (InputData::F16(_, t), InputData::F16(_, o)) if o.len() >= self.item => {
                t[range].copy_from_slice(&o[from])
            }
            (InputData::U8(t), InputData::U8(o)) if o.len() >= self.item => {
                t[range].copy_from_slice(&o[from])
            }
            _ => return Err("frames of another input size or type in one batch".into()),
        }
        Ok(())
    }

    /// Images in the tensor.
    pub fn batch(&self) -> usize {
        self.shape[0]
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Packs `image` into the tensor with `packer` (made for this tensor).
    pub fn fill(&mut self, packer: &mut Packer, image: &Image<'_>) -> Result<(), PackError> {
        self.fill_item(0, packer, image)
    }

    /// Packs `image` into image `item` of the batch.
    pub fn fill_item(
        &mut self,
        item: usize,
        packer: &mut Packer,
        image: &Image<'_>,
    ) -> Result<(), PackError> {
        let range = self.range(item)?;
        match &mut self.data {
            InputData::F32(t) => packer.pack_planar(image, &mut t[range]),
            InputData::F16(t, h) => packer.pack_planar(image, &mut t[range.clone()]).map(|()| {
                for (o, v) in h[range.clone()].iter_mut().zip(&t[range]) {
                    *o = half::f16::from_f32(*v);
                }
            }),
            InputData::U8(t) => packer.pack_interleaved(image, &mut t[range]),
        }
    }

    /// Packs the patch of `image` that `map` selects (see [`Warp`]) into
    /// image `item` of the batch; float tensors only.
    pub fn fill_warped(
        &mut self,
        item: usize,
        warp: &Warp,
        image: &Image<'_>,
        map: &Affine,
    ) -> Result<(), PackError> {
        let range = self.range(item)?;
        let [_, c, h, w] = self.shape;
        if c != 3 {
            return Err(PackError("warped patches need a [N,3,H,W] input".into()));
        }
        let (w, h) = (w as u32, h as u32);
        match &mut self.data {
            InputData::F32(t) => warp.pack_planar(image, map, w, h, &mut t[range]),
            InputData::F16(t, f) => warp
                .pack_planar(image, map, w, h, &mut t[range.clone()])
                .map(|()| {
                    for (o, v) in f[range.clone()].iter_mut().zip(&t[range]) {
                        *o = half::f16::from_f32(*v);
                    }
                }),
            InputData::U8(_) => Err(PackError(
                "warped patches need a float input, the model takes uint8".into(),
            )),
        }
    }

    fn range(&self, item: usize) -> Result<std::ops::Range<usize>, PackError> {
        if item >= self.shape[0] {
            return Err(PackError(format!(
                "image {item} of a batch of {}",
                self.shape[0]
            )));
        }
        Ok(item * self.item..(item + 1) * self.item)
    }

    #[cfg(test)]
    pub(super) fn bytes(&self) -> Option<&[u8]> {
        match &self.data {
            InputData::U8(t) => Some(t),
            _ => None,
        }
    }

    #[cfg(test)]
    pub(super) fn bytes_mut(&mut self) -> Option<&mut [u8]> {
        match &mut self.data {
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

/// Output `info` of a run as float32 (float16 converted into `converted`):
/// its shape and data; `None` if the run did not return it.
pub(super) fn output_f32<'a>(
    outputs: &'a SessionOutputs<'_>,
    info: &TensorInfo,
    converted: &'a mut Vec<f32>,
) -> Option<ort::Result<(&'a [i64], &'a [f32])>> {
    let value = outputs.get(info.name.as_str())?;
    Some(match info.ty {
        ElementType::F16 => value
            .try_extract_tensor::<half::f16>()
            .map(|(shape, data)| {
                converted.clear();
                converted.extend(data.iter().map(|v| v.to_f32()));
                let converted: &'a Vec<f32> = converted;
                (&shape[..], &converted[..])
            }),
        _ => value
            .try_extract_tensor::<f32>()
            .map(|(shape, data)| (&shape[..], data)),
    })
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
        let views = infos
            .iter()
            .zip(self.converted.iter_mut())
            .filter_map(|(info, converted)| {
                let (shape, data) = output_f32(outputs, info, converted)?.ok()?;
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
