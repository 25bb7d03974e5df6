//! Negotiated video into a model's input: the caps choose a packer (colour
//! conversion, resize and normalisation in one pass, `cctv::preprocess`)
//! and each buffer is packed through it, whole or one region at a time.

use cctv::detect::InputSpec;
use cctv::letterbox::{Fit, Letterbox};
use cctv::preprocess::{Affine, Image, Packer, PixelFormat, Region, TensorFormat, Warp, YuvMatrix};
use gst_video::prelude::*;

use super::tensor::InputTensor;

/// The raw formats the packer reads, for pad templates.
pub const FORMATS: [gst_video::VideoFormat; 12] = {
    use gst_video::VideoFormat as F;
    [
        F::Rgb,
        F::Bgr,
        F::Rgbx,
        F::Bgrx,
        F::Xrgb,
        F::Xbgr,
        F::Rgba,
        F::Bgra,
        F::Argb,
        F::Abgr,
        F::I420,
        F::Nv12,
    ]
};

/// The packer's name for a GStreamer raw format, if it reads it.
pub fn pixel_format(format: gst_video::VideoFormat) -> Option<PixelFormat> {
    use gst_video::VideoFormat as F;
    Some(match format {
        F::Rgb => PixelFormat::Rgb,
        F::Bgr => PixelFormat::Bgr,
        F::Rgbx => PixelFormat::Rgbx,
        F::Bgrx => PixelFormat::Bgrx,
        F::Xrgb => PixelFormat::Xrgb,
        F::Xbgr => PixelFormat::Xbgr,
        F::Rgba => PixelFormat::Rgba,
        F::Bgra => PixelFormat::Bgra,
        F::Argb => PixelFormat::Argb,
        F::Abgr => PixelFormat::Abgr,
        F::I420 => PixelFormat::I420,
        F::Nv12 => PixelFormat::Nv12,
        _ => return None,
    })
}

/// The YUV to RGB matrix of frames of `info` (BT.601 unless they say BT.709).
pub fn yuv_matrix(info: &gst_video::VideoInfo) -> YuvMatrix {
    match info.colorimetry().matrix() {
        gst_video::VideoColorMatrix::Bt709 => YuvMatrix::Bt709,
        _ => YuvMatrix::Bt601,
    }
}

/// Frames of one negotiated format and how they reach the model input.
pub struct VideoInput {
    info: gst_video::VideoInfo,
    format: PixelFormat,
    matrix: YuvMatrix,
    tensor: TensorFormat,
    fit: Fit,
    /// Model input width and height.
    input: (u32, u32),
    /// Packs whole frames.
    frame: Packer,
    /// Packs regions of the size last asked for; made again when it changes.
    region: Option<Packer>,
    /// Packs rotated and scaled patches (aligned face chips).
    warp: Warp,
}

impl VideoInput {
    /// Packing for frames of `caps` into `input`, placed by `fit`; the
    /// reason when the caps cannot be handled.
    pub fn new(
        caps: &gst::Caps,
        input: &InputSpec,
        fit: Fit,
        tensor: TensorFormat,
    ) -> Result<VideoInput, String> {
        let info =
            gst_video::VideoInfo::from_caps(caps).map_err(|_| "not video caps".to_string())?;
        if info.width() == 0 || info.height() == 0 {
            return Err(format!(
                "zero-sized frames ({}x{})",
                info.width(),
                info.height()
            ));
        }
        let format = pixel_format(info.format())
            .ok_or_else(|| format!("unsupported format {:?}", info.format()))?;
        let matrix = yuv_matrix(&info);
        let input = (input.width, input.height);
        let letterbox = Letterbox::new(info.width(), info.height(), input.0, input.1, fit);
        Ok(VideoInput {
            frame: Packer::new(letterbox, format, matrix, tensor),
            region: None,
            warp: Warp::new(matrix, tensor),
            info,
            format,
            matrix,
            tensor,
            fit,
            input,
        })
    }

    pub fn width(&self) -> u32 {
        self.info.width()
    }

    pub fn height(&self) -> u32 {
        self.info.height()
    }

    pub fn format(&self) -> PixelFormat {
        self.format
    }

    /// Where whole frames land in the input, to map boxes back.
    pub fn letterbox(&self) -> Letterbox {
        self.frame.letterbox
    }

    /// Packs the whole frame in `buf` into `tensor`.
    pub fn pack(&mut self, buf: &gst::BufferRef, tensor: &mut InputTensor) -> Result<(), String> {
        let video = self.map(buf)?;
        let image = image(&video, self.format);
        tensor
            .fill(&mut self.frame, &image)
            .map_err(|e| e.to_string())
    }

    /// Packs `region` of the frame in `buf` into image `item` of `tensor`,
    /// placed by the same fit as whole frames. Returns the region packed:
    /// for 4:2:0 formats it starts on an even pixel ([`Region::aligned`]).
    pub fn pack_region(
        &mut self,
        buf: &gst::BufferRef,
        region: Region,
        tensor: &mut InputTensor,
        item: usize,
    ) -> Result<Region, String> {
        let region = region.aligned(self.format);
        let video = self.map(buf)?;
        let image = image(&video, self.format)
            .crop(region)
            .map_err(|e| e.to_string())?;
        let reusable = self
            .region
            .as_ref()
            .is_some_and(|p| (p.letterbox.src_w, p.letterbox.src_h) == (region.w, region.h));
        if !reusable {
            let letterbox =
                Letterbox::new(region.w, region.h, self.input.0, self.input.1, self.fit);
            self.region = Some(Packer::new(
                letterbox,
                self.format,
                self.matrix,
                self.tensor,
            ));
        }
        let packer = self.region.as_mut().expect("made just above");
        tensor
            .fill_item(item, packer, &image)
            .map_err(|e| e.to_string())?;
        Ok(region)
    }

    /// Packs the patch whose pixels `map` sends into the frame in `buf`
    /// (a rotated, scaled crop) into image `item` of `tensor`, at the
    /// tensor's input size; parts outside the frame read the pad value.
    pub fn pack_warped(
        &mut self,
        buf: &gst::BufferRef,
        map: &Affine,
        tensor: &mut InputTensor,
        item: usize,
    ) -> Result<(), String> {
        let video = self.map(buf)?;
        let image = image(&video, self.format);
        tensor
            .fill_warped(item, &self.warp, &image, map)
            .map_err(|e| e.to_string())
    }

    fn map<'a>(
        &self,
        buf: &'a gst::BufferRef,
    ) -> Result<gst_video::VideoFrameRef<&'a gst::BufferRef>, String> {
        gst_video::VideoFrameRef::from_buffer_ref_readable(buf, &self.info)
            .map_err(|_| "cannot map the video frame".to_string())
    }
}

/// The mapped frame's planes as the packer reads them.
fn image<'a>(
    video: &'a gst_video::VideoFrameRef<&gst::BufferRef>,
    format: PixelFormat,
) -> Image<'a> {
    let mut planes: [&[u8]; 3] = [&[], &[], &[]];
    let mut strides = [0usize; 3];
    for p in 0..(video.n_planes() as usize).min(3) {
        planes[p] = video.plane_data(p as u32).unwrap_or(&[]);
        strides[p] = video.plane_stride()[p].max(0) as usize;
    }
    Image {
        format,
        width: video.width(),
        height: video.height(),
        planes,
        strides,
    }
}
