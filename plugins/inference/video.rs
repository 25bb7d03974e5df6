//! Negotiated video into a model's input: the caps choose a packer (colour
//! conversion, resize and normalisation in one pass, `cctv::preprocess`)
//! and each buffer is packed through it, whole or one region at a time.

use cctv::detect::InputSpec;
use cctv::letterbox::{Fit, Letterbox};
use cctv::preprocess::{Affine, Packer, PixelFormat, Region, TensorFormat, Warp};

use super::tensor::InputTensor;
use crate::video::Video;

/// Frames of one negotiated format and how they reach the model input.
pub struct VideoInput {
    video: Video,
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
        let video = Video::from_caps(caps)?;
        let input = (input.width, input.height);
        let letterbox = Letterbox::new(video.width(), video.height(), input.0, input.1, fit);
        Ok(VideoInput {
            frame: Packer::new(letterbox, video.format, video.matrix, tensor),
            region: None,
            warp: Warp::new(video.matrix, tensor),
            video,
            tensor,
            fit,
            input,
        })
    }

    pub fn width(&self) -> u32 {
        self.video.width()
    }

    pub fn height(&self) -> u32 {
        self.video.height()
    }

    pub fn format(&self) -> PixelFormat {
        self.video.format
    }

    /// Where whole frames land in the input, to map boxes back.
    pub fn letterbox(&self) -> Letterbox {
        self.frame.letterbox
    }

    /// Hands the frame in `buf`, mapped, to `look` (for what reads a frame
    /// without packing it, such as a motion detector).
    pub fn look<R>(
        &self,
        buf: &gst::BufferRef,
        look: impl FnOnce(&cctv::preprocess::Image<'_>) -> R,
    ) -> Result<R, String> {
        let mapped = self.video.map(buf)?;
        Ok(look(&self.video.image(&mapped)))
    }

    /// Packs the whole frame in `buf` into `tensor`.
    pub fn pack(&mut self, buf: &gst::BufferRef, tensor: &mut InputTensor) -> Result<(), String> {
        let mapped = self.video.map(buf)?;
        let image = self.video.image(&mapped);
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
        let region = region.aligned(self.video.format);
        let mapped = self.video.map(buf)?;
        let image = self
            .video
            .image(&mapped)
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
                self.video.format,
                self.video.matrix,
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
        let mapped = self.video.map(buf)?;
        let image = self.video.image(&mapped);
        tensor
            .fill_warped(item, &self.warp, &image, map)
            .map_err(|e| e.to_string())
    }
}
