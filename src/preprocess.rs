//! Packing a raw video frame into a detector's input tensor in one pass:
//! colour conversion, bilinear resize into the letterbox region, channel
//! order and normalisation. Per output row, the two source rows are blended
//! vertically, sampled horizontally into planar scratch rows and written
//! out with one multiply-add per value; no full-frame intermediate is made.
//! A [`Region`] of a frame ([`Image::crop`]) packs like a whole frame, for
//! models that look at one object at a time.

use crate::letterbox::Letterbox;

/// Raw pixel layouts accepted without a `videoconvert`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    Rgb,
    Bgr,
    Rgbx,
    Bgrx,
    Xrgb,
    Xbgr,
    Rgba,
    Bgra,
    Argb,
    Abgr,
    I420,
    Nv12,
}

impl PixelFormat {
    /// Bytes per pixel and byte offsets of R, G, B for packed formats.
    pub(crate) fn packed(self) -> Option<(usize, [usize; 3])> {
        Some(match self {
            PixelFormat::Rgb => (3, [0, 1, 2]),
            PixelFormat::Bgr => (3, [2, 1, 0]),
            PixelFormat::Rgbx | PixelFormat::Rgba => (4, [0, 1, 2]),
            PixelFormat::Bgrx | PixelFormat::Bgra => (4, [2, 1, 0]),
            PixelFormat::Xrgb | PixelFormat::Argb => (4, [1, 2, 3]),
            PixelFormat::Xbgr | PixelFormat::Abgr => (4, [3, 2, 1]),
            PixelFormat::I420 | PixelFormat::Nv12 => return None,
        })
    }
}

/// YUV to RGB matrix (limited range), from the caps' colorimetry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YuvMatrix {
    Bt601,
    Bt709,
}

/// A borrowed video frame: plane data and strides as the buffer maps them.
#[derive(Debug, Clone, Copy)]
pub struct Image<'a> {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    pub planes: [&'a [u8]; 3],
    pub strides: [usize; 3],
}

/// A rectangle of a frame, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

impl Region {
    /// The region grown to start on a pixel `format` can crop at: 4:2:0
    /// formats share one chroma sample per 2x2 pixels, so their origin is
    /// even. The result covers `self`.
    pub fn aligned(self, format: PixelFormat) -> Region {
        if format.packed().is_some() {
            return self;
        }
        let (x, y) = (self.x & !1, self.y & !1);
        Region {
            x,
            y,
            w: self.w + (self.x - x),
            h: self.h + (self.y - y),
        }
    }
}

impl<'a> Image<'a> {
    /// The part of the frame inside `region`, without copying: the planes
    /// start at the region and keep the frame's strides. 4:2:0 formats
    /// need an even origin ([`Region::aligned`]).
    pub fn crop(&self, region: Region) -> Result<Image<'a>, PackError> {
        let Region { x, y, w, h } = region;
        if w == 0 || h == 0 || x + w > self.width || y + h > self.height {
            return Err(PackError(format!(
                "region {region:?} is not inside the {}x{} frame",
                self.width, self.height
            )));
        }
        let (x, y) = (x as usize, y as usize);
        let offsets = match self.format.packed() {
            Some((bpp, _)) => [y * self.strides[0] + x * bpp, 0, 0],
            None if x % 2 == 1 || y % 2 == 1 => {
                return Err(PackError(format!(
                    "region {region:?} of a {:?} frame must start on an even pixel",
                    self.format
                )));
            }
            None if self.format == PixelFormat::I420 => [
                y * self.strides[0] + x,
                y / 2 * self.strides[1] + x / 2,
                y / 2 * self.strides[2] + x / 2,
            ],
            None => [y * self.strides[0] + x, y / 2 * self.strides[1] + x, 0],
        };
        // A plane too short for the offset becomes empty; `Packer::check` reports it.
        let planes = std::array::from_fn(|p| self.planes[p].get(offsets[p]..).unwrap_or(&[]));
        Ok(Image {
            width: w,
            height: h,
            planes,
            ..*self
        })
    }
}

/// Element type and order of the tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TensorFormat {
    /// `[1, 3, H, W]` float (true) or `[1, H, W, 3]` uint8 (false).
    pub planar: bool,
    /// Channel order B, G, R instead of R, G, B.
    pub bgr: bool,
    /// value = (pixel * scale - mean[c]) / std[c], for float tensors.
    pub scale: f32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// Pixel value of the letterbox padding (114 for YOLO models).
    pub pad: u8,
}

/// Why a frame could not be packed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackError(pub String);

impl std::fmt::Display for PackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PackError {}

/// Source index pair and weight (0..=128) for one output coordinate.
#[derive(Debug, Clone, Copy)]
struct Tap {
    i0: u32,
    i1: u32,
    w: u32,
}

fn taps(src: u32, dst: u32) -> Vec<Tap> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|d| {
            let s = ((d as f64 + 0.5) * scale - 0.5).clamp(0.0, (src - 1) as f64);
            let i0 = s.floor() as u32;
            let i1 = (i0 + 1).min(src - 1);
            let w = ((s - i0 as f64) * 128.0).round() as u32;
            Tap { i0, i1, w }
        })
        .collect()
}

/// Chroma is sampled at the nearest half-resolution site: it carries little
/// detail and this halves the gathers per pixel.
fn nearest(taps: &[Tap]) -> Vec<u32> {
    taps.iter()
        .map(|t| if t.w >= 64 { t.i1 } else { t.i0 })
        .collect()
}

/// A vertically and horizontally interpolated sample is x16384 (128 x 128).
const INTERPOLATED: f32 = 1.0 / 16384.0;

/// Precomputed sampling for one source size, format and tensor, and the
/// per-row working memory reused across frames.
pub struct Packer {
    pub letterbox: Letterbox,
    format: PixelFormat,
    tensor: TensorFormat,
    xs: Vec<Tap>,
    ys: Vec<Tap>,
    /// Nearest sites on the half-size chroma planes of YUV formats.
    cxs: Vec<u32>,
    cys: Vec<u32>,
    /// Per tensor channel: value = byte * k + m.
    coefficients: [(f32, f32); 3],
    /// Source RGB channel (0 = R) feeding each tensor channel.
    channel_source: [usize; 3],
    yuv: YuvCoefficients,
    scratch: Scratch,
}

impl Packer {
    pub fn new(
        letterbox: Letterbox,
        format: PixelFormat,
        matrix: YuvMatrix,
        tensor: TensorFormat,
    ) -> Packer {
        let (sw, sh) = (letterbox.src_w, letterbox.src_h);
        let (channel_source, coefficients) = normalisation(&tensor);
        let bpp = format.packed().map_or(1, |(bpp, _)| bpp);
        let row = || vec![0.0f32; letterbox.w as usize];
        Packer {
            xs: taps(sw, letterbox.w),
            ys: taps(sh, letterbox.h),
            cxs: nearest(&taps(sw.div_ceil(2), letterbox.w)),
            cys: nearest(&taps(sh.div_ceil(2), letterbox.h)),
            letterbox,
            format,
            tensor,
            coefficients,
            channel_source,
            yuv: YuvCoefficients::new(matrix),
            scratch: Scratch {
                vrow: vec![0; sw as usize * bpp],
                yuv: [row(), row(), row()],
                rgb: [row(), row(), row()],
            },
        }
    }

    pub fn format(&self) -> PixelFormat {
        self.format
    }

    /// Number of tensor elements (3 x H x W).
    pub fn len(&self) -> usize {
        3 * (self.letterbox.dst_w * self.letterbox.dst_h) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn check(&self, img: &Image<'_>, out_len: usize) -> Result<(), PackError> {
        if out_len != self.len() {
            return Err(PackError(format!(
                "tensor has {out_len} elements, expected {}",
                self.len()
            )));
        }
        self.check_image(img)
    }

    fn check_image(&self, img: &Image<'_>) -> Result<(), PackError> {
        if img.format != self.format
            || img.width != self.letterbox.src_w
            || img.height != self.letterbox.src_h
        {
            return Err(PackError(format!(
                "frame {:?} {}x{} does not match the packer ({:?} {}x{})",
                img.format,
                img.width,
                img.height,
                self.format,
                self.letterbox.src_w,
                self.letterbox.src_h
            )));
        }
        check_planes(img)
    }

    /// Fills `scratch.rgb` (R, G, B as 0-255 floats, `letterbox.w` each)
    /// for row `y` of the placed region. The vertical blend and the colour
    /// arithmetic run over contiguous rows (vectorised); only the
    /// horizontal taps gather.
    fn sample_row(&mut self, img: &Image<'_>, y: usize) {
        let row = |plane: usize, i: u32| &img.planes[plane][i as usize * img.strides[plane]..];
        let ty = self.ys[y];
        let s = &mut self.scratch;
        let vrow = &mut s.vrow[..];
        blend_rows(
            &row(0, ty.i0)[..vrow.len()],
            &row(0, ty.i1)[..vrow.len()],
            ty.w,
            vrow,
        );
        let v = &*vrow;
        let [r, g, b] = &mut s.rgb;
        match self.format.packed() {
            Some((bpp, [ro, go, bo])) => {
                for (((r, g), b), t) in r
                    .iter_mut()
                    .zip(g.iter_mut())
                    .zip(b.iter_mut())
                    .zip(&self.xs)
                {
                    let (p0, p1) = (&v[t.i0 as usize * bpp..], &v[t.i1 as usize * bpp..]);
                    *r = hlerp(p0[ro], p1[ro], t.w) * INTERPOLATED;
                    *g = hlerp(p0[go], p1[go], t.w) * INTERPOLATED;
                    *b = hlerp(p0[bo], p1[bo], t.w) * INTERPOLATED;
                }
            }
            None => {
                let ci = self.cys[y];
                let (u_row, v_row, step, v_offset) = match self.format {
                    PixelFormat::I420 => (row(1, ci), row(2, ci), 1, 0),
                    _ => (row(1, ci), row(1, ci), 2, 1),
                };
                let [luma, cu, cv] = &mut s.yuv;
                for ((((l, u), w), t), &c) in luma
                    .iter_mut()
                    .zip(cu.iter_mut())
                    .zip(cv.iter_mut())
                    .zip(&self.xs)
                    .zip(&self.cxs)
                {
                    let c = c as usize * step;
                    *l = hlerp(v[t.i0 as usize], v[t.i1 as usize], t.w);
                    *u = u_row[c] as f32;
                    *w = v_row[c + v_offset] as f32;
                }
                self.yuv.convert([luma, cu, cv], [r, g, b]);
            }
        }
    }

    /// Packs into a `[1, 3, H, W]` float tensor.
    pub fn pack_planar(&mut self, img: &Image<'_>, out: &mut [f32]) -> Result<(), PackError> {
        self.check(img, out.len())?;
        let lb = self.letterbox;
        let (dw, dh) = (lb.dst_w as usize, lb.dst_h as usize);
        let plane = dw * dh;
        let (x0, x1) = (lb.x as usize, (lb.x + lb.w) as usize);
        let pads: [f32; 3] = std::array::from_fn(|c| self.affine(c, self.tensor.pad));
        for (c, &pad) in pads.iter().enumerate() {
            let p = &mut out[c * plane..(c + 1) * plane];
            p[..lb.y as usize * dw].fill(pad);
            p[(lb.y + lb.h) as usize * dw..].fill(pad);
        }
        for y in 0..lb.h as usize {
            self.sample_row(img, y);
            let row = (lb.y as usize + y) * dw;
            for (c, &pad) in pads.iter().enumerate() {
                let (k, m) = self.coefficients[c];
                let p = &mut out[c * plane + row..c * plane + row + dw];
                p[..x0].fill(pad);
                p[x1..].fill(pad);
                let src = &self.scratch.rgb[self.channel_source[c]];
                for (o, &v) in p[x0..x1].iter_mut().zip(src) {
                    *o = v * k + m;
                }
            }
        }
        Ok(())
    }

    /// Packs into a `[1, H, W, 3]` uint8 tensor.
    pub fn pack_interleaved(&mut self, img: &Image<'_>, out: &mut [u8]) -> Result<(), PackError> {
        self.check(img, out.len())?;
        self.pack_rows(img, out, self.letterbox.dst_w as usize * 3);
        Ok(())
    }

    /// Packs 8-bit R, G, B (or B, G, R) pixels into rows `stride` bytes
    /// apart, such as the plane of a mapped RGB video frame; the bytes
    /// after each row's pixels are left as they are.
    pub fn pack_interleaved_strided(
        &mut self,
        img: &Image<'_>,
        out: &mut [u8],
        stride: usize,
    ) -> Result<(), PackError> {
        let lb = self.letterbox;
        let (row_bytes, rows) = (lb.dst_w as usize * 3, lb.dst_h as usize);
        let needed = stride * rows.saturating_sub(1) + row_bytes;
        if stride < row_bytes || out.len() < needed {
            return Err(PackError(format!(
                "{} bytes with stride {stride} cannot hold {}x{} RGB rows",
                out.len(),
                lb.dst_w,
                lb.dst_h
            )));
        }
        self.check_image(img)?;
        self.pack_rows(img, out, stride);
        Ok(())
    }

    /// Writes the interleaved rows; sizes checked by the caller.
    fn pack_rows(&mut self, img: &Image<'_>, out: &mut [u8], stride: usize) {
        let lb = self.letterbox;
        let row_bytes = lb.dst_w as usize * 3;
        let pad = self.tensor.pad;
        let placed = lb.y as usize..(lb.y + lb.h) as usize;
        for y in (0..lb.dst_h as usize).filter(|y| !placed.contains(y)) {
            out[y * stride..y * stride + row_bytes].fill(pad);
        }
        let [s0, s1, s2] = self.channel_source;
        for y in 0..lb.h as usize {
            self.sample_row(img, y);
            let start = (lb.y as usize + y) * stride;
            let row = &mut out[start..start + row_bytes];
            row[..lb.x as usize * 3].fill(pad);
            row[(lb.x + lb.w) as usize * 3..].fill(pad);
            let region = &mut row[lb.x as usize * 3..(lb.x + lb.w) as usize * 3];
            let rgb = &self.scratch.rgb;
            for (((o, &a), &b), &c) in region
                .chunks_exact_mut(3)
                .zip(&rgb[s0])
                .zip(&rgb[s1])
                .zip(&rgb[s2])
            {
                o[0] = (a + 0.5) as u8;
                o[1] = (b + 0.5) as u8;
                o[2] = (c + 0.5) as u8;
            }
        }
    }

    /// Normalised value of byte `v` in tensor channel `c`.
    fn affine(&self, c: usize, v: u8) -> f32 {
        let (k, m) = self.coefficients[c];
        v as f32 * k + m
    }
}

/// Channel order and per-channel `value = byte * k + m` of a tensor format.
fn normalisation(tensor: &TensorFormat) -> ([usize; 3], [(f32, f32); 3]) {
    let channel_source = if tensor.bgr { [2, 1, 0] } else { [0, 1, 2] };
    let coefficients = channel_source.map(|c| {
        (
            tensor.scale / tensor.std[c],
            -tensor.mean[c] / tensor.std[c],
        )
    });
    (channel_source, coefficients)
}

/// Checks that the planes of `img` hold its declared size.
fn check_planes(img: &Image<'_>) -> Result<(), PackError> {
    let (w, h) = (img.width as usize, img.height as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let needs: &[(usize, usize)] = match img.format.packed() {
        Some((bpp, _)) => &[(w * bpp, h)],
        None if img.format == PixelFormat::I420 => &[(w, h), (cw, ch), (cw, ch)],
        None => &[(w, h), (cw * 2, ch)],
    };
    for (p, &(row_bytes, rows)) in needs.iter().enumerate() {
        let stride = img.strides[p];
        if stride < row_bytes || img.planes[p].len() < stride * (rows - 1) + row_bytes {
            return Err(PackError(format!(
                "plane {p} is too small for a {w}x{h} {:?} frame (stride {stride}, {} bytes)",
                img.format,
                img.planes[p].len()
            )));
        }
    }
    Ok(())
}

/// A map from output pixels to source pixels, `(x, y) -> (m[0] . (x, y, 1),
/// m[1] . (x, y, 1))`, in continuous coordinates (pixel `i` spans `i..i + 1`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    pub m: [[f32; 3]; 2],
}

impl Affine {
    pub fn apply(&self, x: f32, y: f32) -> (f32, f32) {
        let [a, b] = self.m;
        (a[0] * x + a[1] * y + a[2], b[0] * x + b[1] * y + b[2])
    }

    /// Source pixels per output pixel (the square root of the area ratio).
    pub fn scale(&self) -> f32 {
        let [a, b] = self.m;
        (a[0] * b[1] - a[1] * b[0]).abs().sqrt()
    }
}

/// Packs a warped patch of a frame (a rotated, scaled crop such as an
/// aligned face chip) into a float tensor: the same pixel formats, colour
/// conversion and normalisation as [`Packer`], sampled per output pixel,
/// since a patch is small. Sampling is bilinear, averaged over a grid of
/// samples when the patch shrinks the frame (no aliasing); outside the frame
/// it reads the pad value.
pub struct Warp {
    tensor: TensorFormat,
    coefficients: [(f32, f32); 3],
    channel_source: [usize; 3],
    yuv: YuvCoefficients,
}

/// Most samples per axis and output pixel when shrinking.
const MAX_SUPERSAMPLING: usize = 4;

impl Warp {
    pub fn new(matrix: YuvMatrix, tensor: TensorFormat) -> Warp {
        let (channel_source, coefficients) = normalisation(&tensor);
        Warp {
            tensor,
            coefficients,
            channel_source,
            yuv: YuvCoefficients::new(matrix),
        }
    }

    /// Packs the `w` x `h` patch whose pixels map to `img` through `map`
    /// into a `[3, h, w]` float tensor.
    pub fn pack_planar(
        &self,
        img: &Image<'_>,
        map: &Affine,
        w: u32,
        h: u32,
        out: &mut [f32],
    ) -> Result<(), PackError> {
        let plane = (w * h) as usize;
        if out.len() != 3 * plane {
            return Err(PackError(format!(
                "tensor has {} elements, expected 3 x {w} x {h}",
                out.len()
            )));
        }
        if img.width == 0 || img.height == 0 {
            return Err(PackError("empty frame".into()));
        }
        check_planes(img)?;
        // A bilinear sample already averages 2 x 2 source pixels.
        let n = ((map.scale() / 2.0).ceil() as usize).clamp(1, MAX_SUPERSAMPLING);
        let step = 1.0 / n as f32;
        let pad = self.tensor.pad as f32;
        for y in 0..h as usize {
            for x in 0..w as usize {
                let mut sum = [0.0f32; 3];
                for sy in 0..n {
                    for sx in 0..n {
                        let (u, v) = (
                            x as f32 + (sx as f32 + 0.5) * step,
                            y as f32 + (sy as f32 + 0.5) * step,
                        );
                        let (px, py) = map.apply(u, v);
                        let rgb = self.bilinear(img, px - 0.5, py - 0.5).unwrap_or([pad; 3]);
                        for c in 0..3 {
                            sum[c] += rgb[c];
                        }
                    }
                }
                let norm = 1.0 / (n * n) as f32;
                for c in 0..3 {
                    let (k, m) = self.coefficients[c];
                    out[c * plane + y * w as usize + x] =
                        sum[self.channel_source[c]] * norm * k + m;
                }
            }
        }
        Ok(())
    }

    /// RGB (0-255) at pixel-centre coordinates `(x, y)`; `None` outside the frame.
    fn bilinear(&self, img: &Image<'_>, x: f32, y: f32) -> Option<[f32; 3]> {
        let (maxx, maxy) = ((img.width - 1) as f32, (img.height - 1) as f32);
        if !(x > -0.5 && y > -0.5 && x < maxx + 0.5 && y < maxy + 0.5) {
            return None;
        }
        let (x, y) = (x.clamp(0.0, maxx), y.clamp(0.0, maxy));
        let (x0, y0) = (x.floor() as u32, y.floor() as u32);
        let (x1, y1) = ((x0 + 1).min(img.width - 1), (y0 + 1).min(img.height - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let p = |x, y| self.pixel(img, x, y);
        let (a, b, c, d) = (p(x0, y0), p(x1, y0), p(x0, y1), p(x1, y1));
        Some(std::array::from_fn(|i| {
            (a[i] * (1.0 - fx) + b[i] * fx) * (1.0 - fy) + (c[i] * (1.0 - fx) + d[i] * fx) * fy
        }))
    }

    /// RGB (0-255) of one pixel; the caller keeps `(x, y)` inside the frame.
    fn pixel(&self, img: &Image<'_>, x: u32, y: u32) -> [f32; 3] {
        let (x, y) = (x as usize, y as usize);
        match img.format.packed() {
            Some((bpp, offsets)) => {
                let at = y * img.strides[0] + x * bpp;
                offsets.map(|o| img.planes[0][at + o] as f32)
            }
            None => {
                let l = img.planes[0][y * img.strides[0] + x] as f32;
                let (u, v) = match img.format {
                    PixelFormat::I420 => (
                        img.planes[1][y / 2 * img.strides[1] + x / 2],
                        img.planes[2][y / 2 * img.strides[2] + x / 2],
                    ),
                    _ => {
                        let at = y / 2 * img.strides[1] + x / 2 * 2;
                        (img.planes[1][at], img.planes[1][at + 1])
                    }
                };
                self.yuv.pixel(l, u as f32, v as f32)
            }
        }
    }
}

/// Per-row working memory of the packer.
struct Scratch {
    /// Vertically blended source row, x128.
    vrow: Vec<u16>,
    /// Luma (x16384) and chroma samples of one placed row (YUV formats).
    yuv: [Vec<f32>; 3],
    /// R, G, B of one placed row, 0-255, unrounded.
    rgb: [Vec<f32>; 3],
}

/// `out = a * (128 - w) + b * w` over whole rows: contiguous, so it vectorises.
fn blend_rows(a: &[u8], b: &[u8], w: u32, out: &mut [u16]) {
    let (wa, wb) = ((128 - w) as u16, w as u16);
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = x as u16 * wa + y as u16 * wb;
    }
}

/// Horizontal tap over two vertically blended (x128) samples, x16384.
#[inline(always)]
fn hlerp(a: u16, b: u16, w: u32) -> f32 {
    // At most 255 x 16384: exact in i32 and in f32; i32 converts in one instruction.
    (a as i32 * (128 - w as i32) + b as i32 * w as i32) as f32
}

/// Limited-range YUV to RGB for the frame's matrix.
#[derive(Debug, Clone, Copy)]
struct YuvCoefficients {
    /// R = y * (L - 16) + rv * (V - 128), and so on.
    y: f32,
    rv: f32,
    gu: f32,
    gv: f32,
    bu: f32,
}

impl YuvCoefficients {
    fn new(matrix: YuvMatrix) -> Self {
        let (rv, gu, gv, bu) = match matrix {
            YuvMatrix::Bt601 => (1.596_027, 0.391_762, 0.812_968, 2.017_232),
            YuvMatrix::Bt709 => (1.792_741, 0.213_249, 0.532_909, 2.112_402),
        };
        YuvCoefficients {
            y: 255.0 / 219.0,
            rv,
            gu,
            gv,
            bu,
        }
    }

    /// One pixel's RGB (0-255) from its luma and chroma bytes.
    fn pixel(&self, l: f32, u: f32, v: f32) -> [f32; 3] {
        let (y, u, v) = ((l - 16.0) * self.y, u - 128.0, v - 128.0);
        [
            clamp255(y + self.rv * v),
            clamp255(y - self.gu * u - self.gv * v),
            clamp255(y + self.bu * u),
        ]
    }

    /// Converts rows of interpolated luma (x16384) and chroma samples.
    fn convert(&self, [l, u, v]: [&mut Vec<f32>; 3], [r, g, b]: [&mut Vec<f32>; 3]) {
        let ky = self.y * INTERPOLATED;
        let y0 = -16.0 * self.y;
        for (((((r, g), b), &l), &u), &v) in r
            .iter_mut()
            .zip(g.iter_mut())
            .zip(b.iter_mut())
            .zip(l.iter())
            .zip(u.iter())
            .zip(v.iter())
        {
            let (y, u, v) = (l * ky + y0, u - 128.0, v - 128.0);
            *r = clamp255(y + self.rv * v);
            *g = clamp255(y - self.gu * u - self.gv * v);
            *b = clamp255(y + self.bu * u);
        }
    }
}

/// Clamps to 0..=255 with plain comparisons, which vectorise (no NaN here).
#[inline(always)]
fn clamp255(v: f32) -> f32 {
    let v = if v > 0.0 { v } else { 0.0 };
    if v < 255.0 { v } else { 255.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::letterbox::Fit;

    fn float_rgb() -> TensorFormat {
        TensorFormat {
            planar: true,
            bgr: false,
            scale: 1.0,
            mean: [0.0; 3],
            std: [1.0; 3],
            pad: 114,
        }
    }

    #[test]
    fn same_size_rgb_is_copied_exactly_into_planes() {
        // 2x2 RGB frame with a padded stride of 8 bytes.
        let data = [
            1, 2, 3, 4, 5, 6, 0, 0, //
            7, 8, 9, 10, 11, 12, 0, 0,
        ];
        let img = Image {
            format: PixelFormat::Rgb,
            width: 2,
            height: 2,
            planes: [&data, &[], &[]],
            strides: [8, 0, 0],
        };
        let lb = Letterbox::new(2, 2, 2, 2, Fit::Stretch);
        let mut packer = Packer::new(lb, PixelFormat::Rgb, YuvMatrix::Bt601, float_rgb());
        let mut out = vec![0.0; 12];
        packer.pack_planar(&img, &mut out).unwrap();
        assert_eq!(
            out,
            vec![
                1.0, 4.0, 7.0, 10.0, 2.0, 5.0, 8.0, 11.0, 3.0, 6.0, 9.0, 12.0
            ]
        );
    }

    #[test]
    fn bgrx_to_bgr_tensor_with_letterbox_padding_and_normalisation() {
        // 2x1 BGRx frame into a 2x2 tensor: the image fills row 0 (top-left fit).
        let data = [10, 20, 30, 0, 40, 50, 60, 0];
        let img = Image {
            format: PixelFormat::Bgrx,
            width: 2,
            height: 1,
            planes: [&data, &[], &[]],
            strides: [8, 0, 0],
        };
        let lb = Letterbox::new(2, 1, 2, 2, Fit::LetterboxTopLeft);
        let tensor = TensorFormat {
            bgr: true,
            scale: 1.0 / 255.0,
            ..float_rgb()
        };
        let mut packer = Packer::new(lb, PixelFormat::Bgrx, YuvMatrix::Bt601, tensor);
        let mut out = vec![0.0; 12];
        packer.pack_planar(&img, &mut out).unwrap();
        let pad = 114.0 / 255.0;
        let expect = [
            10.0, 40.0, 0.0, 0.0, 20.0, 50.0, 0.0, 0.0, 30.0, 60.0, 0.0, 0.0,
        ];
        for (i, (o, e)) in out.iter().zip(expect).enumerate() {
            let e = if i % 4 >= 2 { pad } else { e / 255.0 };
            assert!((o - e).abs() < 1e-6, "element {i}: {o} != {e}");
        }
    }

    #[test]
    fn downscale_averages_neighbours() {
        // 4x1 grey ramp to 2x1: half-pixel centres sample at 0.5 and 2.5.
        let data = [0, 0, 0, 100, 100, 100, 200, 200, 200, 250, 250, 250];
        let img = Image {
            format: PixelFormat::Rgb,
            width: 4,
            height: 1,
            planes: [&data, &[], &[]],
            strides: [12, 0, 0],
        };
        let lb = Letterbox::new(4, 1, 2, 1, Fit::Stretch);
        let mut packer = Packer::new(lb, PixelFormat::Rgb, YuvMatrix::Bt601, float_rgb());
        let mut out = vec![0.0; 6];
        packer.pack_planar(&img, &mut out).unwrap();
        assert_eq!(&out[..2], &[50.0, 225.0]);
    }

    #[test]
    fn strided_rows_hold_the_packed_pixels_and_keep_their_padding() {
        // A 4x2 RGB frame in 3x4 rows: 3x2 pixels between padded rows.
        let data: Vec<u8> = (0..24).map(|i| i * 10).collect();
        let img = image(PixelFormat::Rgb, 4, 2, [&data, &[], &[]], [12, 0, 0]);
        let lb = Letterbox::new(4, 2, 3, 4, Fit::LetterboxCenter);
        let tensor = TensorFormat {
            planar: false,
            pad: 7,
            ..float_rgb()
        };
        let mut packer = Packer::new(lb, PixelFormat::Rgb, YuvMatrix::Bt601, tensor);
        let mut tight = vec![0u8; 36];
        packer.pack_interleaved(&img, &mut tight).unwrap();
        // Rows of 9 bytes, 16 apart, among marker bytes.
        let mut strided = vec![0xAAu8; 16 * 3 + 9];
        packer
            .pack_interleaved_strided(&img, &mut strided, 16)
            .unwrap();
        for (y, row) in tight.chunks_exact(9).enumerate() {
            assert_eq!(&strided[y * 16..y * 16 + 9], row, "row {y}");
            if y < 3 {
                assert!(strided[y * 16 + 9..(y + 1) * 16].iter().all(|&b| b == 0xAA));
            }
        }
        assert!(
            tight[..9].iter().chain(&tight[27..]).all(|&b| b == 7),
            "{tight:?}"
        );
        assert!(tight[9..27].iter().any(|&b| b != 7), "{tight:?}");
        // Too short, or rows narrower than the picture: errors.
        assert!(
            packer
                .pack_interleaved_strided(&img, &mut strided[..56], 16)
                .is_err()
        );
        assert!(
            packer
                .pack_interleaved_strided(&img, &mut strided, 8)
                .is_err()
        );
    }

    #[test]
    fn i420_and_nv12_convert_like_bt601() {
        // Uniform 2x2 frame: Y=81, U=90, V=240 is BT.601 limited-range red (255, 0, 0) within rounding.
        let y = [81u8; 4];
        let (u, v) = ([90u8], [240u8]);
        let uv = [90u8, 240];
        let lb = Letterbox::new(2, 2, 2, 2, Fit::Stretch);
        let mut tensor = float_rgb();
        tensor.planar = false;
        for (format, planes, strides) in [
            (PixelFormat::I420, [&y[..], &u[..], &v[..]], [2, 1, 1]),
            (PixelFormat::Nv12, [&y[..], &uv[..], &[][..]], [2, 2, 0]),
        ] {
            let img = Image {
                format,
                width: 2,
                height: 2,
                planes,
                strides,
            };
            let mut packer = Packer::new(lb, format, YuvMatrix::Bt601, tensor);
            let mut out = vec![0u8; 12];
            packer.pack_interleaved(&img, &mut out).unwrap();
            for px in out.chunks_exact(3) {
                assert!(
                    px[0] >= 253 && px[1] <= 2 && px[2] <= 2,
                    "{format:?}: {px:?}"
                );
            }
        }
    }

    fn image<'a>(
        format: PixelFormat,
        width: u32,
        height: u32,
        planes: [&'a [u8]; 3],
        strides: [usize; 3],
    ) -> Image<'a> {
        Image {
            format,
            width,
            height,
            planes,
            strides,
        }
    }

    /// Copies `region` of a tightly packed plane (`bpp` bytes per pixel).
    fn copy_rect(plane: &[u8], stride: usize, bpp: usize, r: Region) -> Vec<u8> {
        (r.y as usize..(r.y + r.h) as usize)
            .flat_map(|row| {
                let start = row * stride + r.x as usize * bpp;
                plane[start..start + r.w as usize * bpp].iter().copied()
            })
            .collect()
    }

    #[test]
    fn a_cropped_region_packs_like_the_same_pixels_cut_out() {
        let region = Region {
            x: 2,
            y: 2,
            w: 5,
            h: 4,
        };
        let (fw, fh) = (10usize, 8usize);
        let lb = Letterbox::new(region.w, region.h, 4, 4, Fit::LetterboxCenter);
        let pattern =
            |n: usize, k: usize| (0..n).map(|i| ((i * k) % 251) as u8).collect::<Vec<_>>();

        // Packed RGB with a padded stride.
        let stride = fw * 3 + 4;
        let rgb = pattern(stride * fh, 7);
        let frame = image(
            PixelFormat::Rgb,
            fw as u32,
            fh as u32,
            [&rgb, &[], &[]],
            [stride, 0, 0],
        );
        let cut = copy_rect(&rgb, stride, 3, region);
        let cut_image = image(
            PixelFormat::Rgb,
            region.w,
            region.h,
            [&cut, &[], &[]],
            [region.w as usize * 3, 0, 0],
        );
        let mut packer = Packer::new(lb, PixelFormat::Rgb, YuvMatrix::Bt601, float_rgb());
        let (mut a, mut b) = (vec![0.0; 48], vec![0.0; 48]);
        packer
            .pack_planar(&frame.crop(region).unwrap(), &mut a)
            .unwrap();
        packer.pack_planar(&cut_image, &mut b).unwrap();
        assert_eq!(a, b);

        // I420: the chroma planes are cut at half the offsets.
        let chroma = Region {
            x: region.x / 2,
            y: region.y / 2,
            w: region.w.div_ceil(2),
            h: region.h.div_ceil(2),
        };
        let (y, u, v) = (
            pattern(fw * fh, 3),
            pattern(fw * fh / 4, 5),
            pattern(fw * fh / 4, 11),
        );
        let frame = image(
            PixelFormat::I420,
            fw as u32,
            fh as u32,
            [&y, &u, &v],
            [fw, fw / 2, fw / 2],
        );
        let (cy, cu, cv) = (
            copy_rect(&y, fw, 1, region),
            copy_rect(&u, fw / 2, 1, chroma),
            copy_rect(&v, fw / 2, 1, chroma),
        );
        let cut_image = image(
            PixelFormat::I420,
            region.w,
            region.h,
            [&cy, &cu, &cv],
            [region.w as usize, chroma.w as usize, chroma.w as usize],
        );
        let mut packer = Packer::new(lb, PixelFormat::I420, YuvMatrix::Bt601, float_rgb());
        packer
            .pack_planar(&frame.crop(region).unwrap(), &mut a)
            .unwrap();
        packer.pack_planar(&cut_image, &mut b).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn crops_outside_the_frame_or_off_the_chroma_grid_are_errors() {
        let data = [0u8; 16];
        let frame = image(PixelFormat::I420, 4, 2, [&data, &data, &data], [4, 2, 2]);
        let odd = Region {
            x: 1,
            y: 0,
            w: 2,
            h: 2,
        };
        assert!(frame.crop(odd).is_err());
        assert_eq!(
            odd.aligned(PixelFormat::I420),
            Region {
                x: 0,
                y: 0,
                w: 3,
                h: 2
            }
        );
        assert!(frame.crop(odd.aligned(PixelFormat::I420)).is_ok());
        assert!(frame.crop(Region { w: 4, ..odd }).is_err());
        assert_eq!(odd.aligned(PixelFormat::Rgb), odd);
    }

    #[test]
    fn short_planes_are_errors_not_panics() {
        let data = [0u8; 5];
        let img = Image {
            format: PixelFormat::Rgb,
            width: 2,
            height: 2,
            planes: [&data, &[], &[]],
            strides: [6, 0, 0],
        };
        let lb = Letterbox::new(2, 2, 2, 2, Fit::Stretch);
        let mut packer = Packer::new(lb, PixelFormat::Rgb, YuvMatrix::Bt601, float_rgb());
        let err = packer.pack_planar(&img, &mut [0.0; 12]).unwrap_err();
        assert!(err.0.contains("too small"), "{err}");
        assert!(packer.pack_planar(&img, &mut [0.0; 3]).is_err());
    }

    #[test]
    fn warp_samples_through_the_map_and_pads_outside() {
        // 4x2 RGB frame, each pixel's red = 10 * x + 100 * y.
        let mut data = vec![0u8; 4 * 2 * 3];
        for y in 0..2 {
            for x in 0..4 {
                data[(y * 4 + x) * 3] = (10 * x + 100 * y) as u8;
                data[(y * 4 + x) * 3 + 1] = 50;
            }
        }
        let img = Image {
            format: PixelFormat::Rgb,
            width: 4,
            height: 2,
            planes: [&data, &[], &[]],
            strides: [12, 0, 0],
        };
        let warp = Warp::new(YuvMatrix::Bt601, float_rgb());
        // Output (x, y) reads source (x + 1, y): a shift by one pixel.
        let shift = Affine {
            m: [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]],
        };
        let mut out = vec![0.0; 3 * 4 * 2];
        warp.pack_planar(&img, &shift, 4, 2, &mut out).unwrap();
        assert_eq!(&out[..4], &[10.0, 20.0, 30.0, 114.0]);
        assert_eq!(&out[4..8], &[110.0, 120.0, 130.0, 114.0]);
        assert_eq!(out[8], 50.0);
        // Halving the size averages 2x2 source pixels per output pixel.
        let half = Affine {
            m: [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]],
        };
        let mut out = vec![0.0; 3 * 2];
        warp.pack_planar(&img, &half, 2, 1, &mut out).unwrap();
        assert!(
            (out[0] - 55.0).abs() < 1e-3 && (out[1] - 75.0).abs() < 1e-3,
            "{out:?}"
        );
        assert!(warp.pack_planar(&img, &half, 3, 1, &mut out).is_err());
    }

    #[test]
    fn warp_reads_yuv_like_rgb() {
        // A flat 4x4 I420 frame of one colour converts like the row packer.
        let (y, u, v) = (120u8, 90u8, 160u8);
        let (luma, cu, cv) = (vec![y; 16], vec![u; 4], vec![v; 4]);
        let img = Image {
            format: PixelFormat::I420,
            width: 4,
            height: 4,
            planes: [&luma, &cu, &cv],
            strides: [4, 2, 2],
        };
        let warp = Warp::new(YuvMatrix::Bt601, float_rgb());
        let identity = Affine {
            m: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
        };
        let mut out = vec![0.0; 3 * 16];
        warp.pack_planar(&img, &identity, 4, 4, &mut out).unwrap();
        let lb = Letterbox::new(4, 4, 4, 4, Fit::Stretch);
        let mut packer = Packer::new(lb, PixelFormat::I420, YuvMatrix::Bt601, float_rgb());
        let mut rows = vec![0.0; 3 * 16];
        packer.pack_planar(&img, &mut rows).unwrap();
        for (a, b) in out.iter().zip(&rows) {
            assert!((a - b).abs() < 0.05, "{a} vs {b}");
        }
    }
}
