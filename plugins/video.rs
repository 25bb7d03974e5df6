//! Raw video as the elements read and draw it: the formats they accept,
//! negotiated caps as a [`Video`] (size, pixel format, YUV matrix), and a
//! mapped frame as the library's [`Image`] (to read) or [`Canvas`] (to draw
//! on). Elements that run no model (camsrc, cctvoverlay, virtualptz) use it
//! as the model elements do.

use cctv::overlay::Canvas;
use cctv::preprocess::{Image, PixelFormat, YuvMatrix};
use gst_video::prelude::*;

/// The raw formats every element reads and draws on, for pad templates.
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

/// Caps of every raw format in [`FORMATS`], any size.
pub fn caps() -> gst::Caps {
    gst_video::VideoCapsBuilder::new()
        .format_list(FORMATS)
        .build()
}

/// The library's name for a GStreamer raw format, if it reads it.
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

/// Frames of one negotiated format.
#[derive(Debug, Clone)]
pub struct Video {
    pub info: gst_video::VideoInfo,
    pub format: PixelFormat,
    /// The YUV to RGB matrix (BT.601 unless the caps say BT.709).
    pub matrix: YuvMatrix,
}

impl Video {
    /// The frames of `caps`; the reason when they are not raw video the
    /// elements read.
    pub fn from_caps(caps: &gst::Caps) -> Result<Video, String> {
        let info = gst_video::VideoInfo::from_caps(caps)
            .map_err(|_| format!("not raw video caps: {caps}"))?;
        Video::from_info(info)
    }

    pub fn from_info(info: gst_video::VideoInfo) -> Result<Video, String> {
        if info.width() == 0 || info.height() == 0 {
            return Err(format!(
                "zero-sized frames ({}x{})",
                info.width(),
                info.height()
            ));
        }
        let format = pixel_format(info.format())
            .ok_or_else(|| format!("unsupported format {:?}", info.format()))?;
        let matrix = match info.colorimetry().matrix() {
            gst_video::VideoColorMatrix::Bt709 => YuvMatrix::Bt709,
            _ => YuvMatrix::Bt601,
        };
        Ok(Video {
            info,
            format,
            matrix,
        })
    }

    pub fn width(&self) -> u32 {
        self.info.width()
    }

    pub fn height(&self) -> u32 {
        self.info.height()
    }

    /// Maps `buf` for reading.
    pub fn map<'a>(
        &self,
        buf: &'a gst::BufferRef,
    ) -> Result<gst_video::VideoFrameRef<&'a gst::BufferRef>, String> {
        gst_video::VideoFrameRef::from_buffer_ref_readable(buf, &self.info)
            .map_err(|_| "cannot map the video frame".to_string())
    }

    /// Maps `buf` for writing.
    pub fn map_mut<'a>(
        &self,
        buf: &'a mut gst::BufferRef,
    ) -> Result<gst_video::VideoFrameRef<&'a mut gst::BufferRef>, String> {
        gst_video::VideoFrameRef::from_buffer_ref_writable(buf, &self.info)
            .map_err(|_| "cannot map the video frame for writing".to_string())
    }

    /// A mapped frame's planes as the library reads them.
    pub fn image<'a>(&self, frame: &'a gst_video::VideoFrameRef<&gst::BufferRef>) -> Image<'a> {
        let mut planes: [&[u8]; 3] = [&[], &[], &[]];
        let mut strides = [0usize; 3];
        for p in 0..(frame.n_planes() as usize).min(3) {
            planes[p] = frame.plane_data(p as u32).unwrap_or(&[]);
            strides[p] = frame.plane_stride()[p].max(0) as usize;
        }
        Image {
            format: self.format,
            width: frame.width(),
            height: frame.height(),
            planes,
            strides,
        }
    }

    /// A frame mapped for writing as a canvas to draw on.
    pub fn canvas<'a>(
        &self,
        frame: &'a mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
    ) -> Result<Canvas<'a>, String> {
        let strides = frame.plane_stride();
        let strides: [usize; 3] =
            std::array::from_fn(|p| strides.get(p).copied().unwrap_or(0).max(0) as usize);
        let (width, height) = (frame.width(), frame.height());
        let [a, b, c, _] = frame.planes_data_mut();
        Canvas::new(self.format, self.matrix, width, height, [a, b, c], strides)
            .map_err(|e| e.to_string())
    }
}

/// `sink` and `src` pads of [`caps`], for in-place video filters.
pub fn pad_templates() -> Vec<gst::PadTemplate> {
    let caps = caps();
    [gst::PadDirection::Src, gst::PadDirection::Sink]
        .into_iter()
        .map(|direction| {
            let name = match direction {
                gst::PadDirection::Src => "src",
                _ => "sink",
            };
            gst::PadTemplate::new(name, direction, gst::PadPresence::Always, &caps)
                .expect("a valid template")
        })
        .collect()
}
