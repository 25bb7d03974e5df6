//! Packing a raw video frame into a detector's input tensor in one pass:
//! colour conversion, bilinear resize into the letterbox region, channel
//! order and normalisation. Per output row, the two source rows are blended
//! vertically, sampled horizontally into planar scratch rows and written
//! out with one multiply-add per value; no full-frame intermediate is made.

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
    fn packed(self) -> Option<(usize, [usize; 3])> {
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

/// Precomputed sampling for one source size, format and tensor.
pub struct Packer {
    pub letterbox: Letterbox,
    format: PixelFormat,
    tensor: TensorFormat,
    xs: Vec<Tap>,
    ys: Vec<Tap>,
    /// Taps on the half-size chroma planes of YUV formats.
    cxs: Vec<Tap>,
    cys: Vec<Tap>,
    /// Per tensor channel: value = byte * k + m.
    coefficients: [(f32, f32); 3],
    /// Source RGB channel (0 = R) feeding each tensor channel.
    channel_source: [usize; 3],
    yuv: Box<YuvTables>,
}

impl Packer {
    pub fn new(
        letterbox: Letterbox,
        format: PixelFormat,
        matrix: YuvMatrix,
        tensor: TensorFormat,
    ) -> Packer {
        let (sw, sh) = (letterbox.src_w, letterbox.src_h);
        let channel_source = if tensor.bgr { [2, 1, 0] } else { [0, 1, 2] };
        let coefficients = channel_source.map(|c| {
            (
                tensor.scale / tensor.std[c],
                -tensor.mean[c] / tensor.std[c],
            )
        });
        Packer {
            xs: taps(sw, letterbox.w),
            ys: taps(sh, letterbox.h),
            cxs: taps(sw.div_ceil(2), letterbox.w),
            cys: taps(sh.div_ceil(2), letterbox.h),
            letterbox,
            format,
            tensor,
            coefficients,
            channel_source,
            yuv: YuvTables::new(matrix),
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
        if out_len != self.len() {
            return Err(PackError(format!(
                "tensor has {out_len} elements, expected {}",
                self.len()
            )));
        }
        let (w, h) = (img.width as usize, img.height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let needs: &[(usize, usize)] = match self.format.packed() {
            Some((bpp, _)) => &[(w * bpp, h)],
            None if self.format == PixelFormat::I420 => &[(w, h), (cw, ch), (cw, ch)],
            None => &[(w, h), (cw * 2, ch)],
        };
        for (p, &(row_bytes, rows)) in needs.iter().enumerate() {
            let stride = img.strides[p];
            if stride < row_bytes || img.planes[p].len() < stride * (rows - 1) + row_bytes {
                return Err(PackError(format!(
                    "plane {p} is too small for a {w}x{h} {:?} frame (stride {stride}, {} bytes)",
                    self.format,
                    img.planes[p].len()
                )));
            }
        }
        Ok(())
    }

    /// Fills the planar scratch rows `rgb` (R, G, B, each `w` bytes) for row
    /// `y` of the placed region. The vertical blend runs over contiguous
    /// source bytes (vectorised); only the horizontal taps gather.
    fn sample_row(&self, img: &Image<'_>, y: usize, scratch: &mut Scratch) {
        let ty = self.ys[y];
        let row = |plane: usize, i: u32| &img.planes[plane][i as usize * img.strides[plane]..];
        let row_bytes = match self.format.packed() {
            Some((bpp, _)) => img.width as usize * bpp,
            None => img.width as usize,
        };
        blend_rows(
            &row(0, ty.i0)[..row_bytes],
            &row(0, ty.i1)[..row_bytes],
            ty.w,
            &mut scratch.vrow,
        );
        let v = &scratch.vrow[..];
        let [r, g, b] = &mut scratch.rgb;
        let (r, g, b) = (
            &mut r[..self.xs.len()],
            &mut g[..self.xs.len()],
            &mut b[..self.xs.len()],
        );
        // SAFETY (all `get_unchecked` below): taps index at most the last
        // source pixel (see `taps`), `vrow` holds a whole source row, and
        // `check` verified that every chroma row read holds `cw` samples.
        match self.format.packed() {
            Some((bpp, [ro, go, bo])) => {
                debug_assert!(self.xs.iter().all(|t| (t.i1 as usize + 1) * bpp <= v.len()));
                for (i, &tx) in self.xs.iter().enumerate() {
                    let (a, c) = (tx.i0 as usize * bpp, tx.i1 as usize * bpp);
                    unsafe {
                        r[i] = hlerp(*v.get_unchecked(a + ro), *v.get_unchecked(c + ro), tx.w);
                        g[i] = hlerp(*v.get_unchecked(a + go), *v.get_unchecked(c + go), tx.w);
                        b[i] = hlerp(*v.get_unchecked(a + bo), *v.get_unchecked(c + bo), tx.w);
                    }
                }
            }
            None => {
                // Chroma is sampled at the nearest half-resolution site: it
                // carries little detail and this halves the work per pixel.
                let cy = self.cys[y];
                let ci = if cy.w >= 64 { cy.i1 } else { cy.i0 };
                let (u_row, v_row, step, v_offset) = match self.format {
                    PixelFormat::I420 => (row(1, ci), row(2, ci), 1, 0),
                    _ => (row(1, ci), row(1, ci), 2, 1),
                };
                let chroma_width = img.width.div_ceil(2) as usize;
                assert!(u_row.len() >= (chroma_width - 1) * step + 1 + v_offset);
                assert!(v_row.len() >= (chroma_width - 1) * step + 1 + v_offset);
                debug_assert!(self.xs.iter().all(|t| (t.i1 as usize) < v.len()));
                let t = &self.yuv;
                for (i, (&tx, &cx)) in self.xs.iter().zip(&self.cxs).enumerate() {
                    let c = if cx.w >= 64 { cx.i1 } else { cx.i0 } as usize * step;
                    let (luma, cu, cv) = unsafe {
                        (
                            hlerp(
                                *v.get_unchecked(tx.i0 as usize),
                                *v.get_unchecked(tx.i1 as usize),
                                tx.w,
                            ),
                            *u_row.get_unchecked(c) as usize,
                            *v_row.get_unchecked(c + v_offset) as usize,
                        )
                    };
                    let l = t.y[luma as usize];
                    r[i] = clip(l + t.rv[cv]);
                    g[i] = clip(l - t.gu[cu] - t.gv[cv]);
                    b[i] = clip(l + t.bu[cu]);
                }
            }
        }
    }

    fn scratch(&self, img: &Image<'_>) -> Scratch {
        let bpp = self.format.packed().map_or(1, |(bpp, _)| bpp);
        let w = self.letterbox.w as usize;
        Scratch {
            vrow: vec![0; img.width as usize * bpp],
            rgb: [vec![0; w], vec![0; w], vec![0; w]],
        }
    }

    /// Packs into a `[1, 3, H, W]` float tensor.
    pub fn pack_planar(&self, img: &Image<'_>, out: &mut [f32]) -> Result<(), PackError> {
        self.check(img, out.len())?;
        let lb = &self.letterbox;
        let (dw, dh) = (lb.dst_w as usize, lb.dst_h as usize);
        let plane = dw * dh;
        let (x0, x1) = (lb.x as usize, (lb.x + lb.w) as usize);
        let mut scratch = self.scratch(img);
        for c in 0..3 {
            let pad = self.affine(c, self.tensor.pad);
            let p = &mut out[c * plane..(c + 1) * plane];
            p[..lb.y as usize * dw].fill(pad);
            p[(lb.y + lb.h) as usize * dw..].fill(pad);
        }
        for y in 0..lb.h as usize {
            self.sample_row(img, y, &mut scratch);
            let row = (lb.y as usize + y) * dw;
            for c in 0..3 {
                let (k, m) = self.coefficients[c];
                let p = &mut out[c * plane + row..c * plane + row + dw];
                let pad = self.affine(c, self.tensor.pad);
                p[..x0].fill(pad);
                p[x1..].fill(pad);
                let src = &scratch.rgb[self.channel_source[c]];
                for (o, &v) in p[x0..x1].iter_mut().zip(src) {
                    *o = v as f32 * k + m;
                }
            }
        }
        Ok(())
    }

    /// Packs into a `[1, H, W, 3]` uint8 tensor.
    pub fn pack_interleaved(&self, img: &Image<'_>, out: &mut [u8]) -> Result<(), PackError> {
        self.check(img, out.len())?;
        let lb = &self.letterbox;
        let dw = lb.dst_w as usize;
        let pad = self.tensor.pad;
        let mut scratch = self.scratch(img);
        out[..lb.y as usize * dw * 3].fill(pad);
        out[(lb.y + lb.h) as usize * dw * 3..].fill(pad);
        let [s0, s1, s2] = self.channel_source;
        for y in 0..lb.h as usize {
            self.sample_row(img, y, &mut scratch);
            let row = &mut out[(lb.y as usize + y) * dw * 3..(lb.y as usize + y + 1) * dw * 3];
            row[..lb.x as usize * 3].fill(pad);
            row[(lb.x + lb.w) as usize * 3..].fill(pad);
            let region = &mut row[lb.x as usize * 3..(lb.x + lb.w) as usize * 3];
            let rgb = &scratch.rgb;
            for (i, o) in region.chunks_exact_mut(3).enumerate() {
                o[0] = rgb[s0][i];
                o[1] = rgb[s1][i];
                o[2] = rgb[s2][i];
            }
        }
        Ok(())
    }

    /// Normalised value of byte `v` in tensor channel `c`.
    fn affine(&self, c: usize, v: u8) -> f32 {
        let (k, m) = self.coefficients[c];
        v as f32 * k + m
    }
}

/// Per-row working memory of the packer.
struct Scratch {
    /// Vertically blended source row, x128.
    vrow: Vec<u16>,
    /// Planar R, G, B bytes of one placed row.
    rgb: [Vec<u8>; 3],
}

/// `out = a * (128 - w) + b * w` over whole rows: contiguous, so it vectorises.
fn blend_rows(a: &[u8], b: &[u8], w: u32, out: &mut [u16]) {
    let (wa, wb) = ((128 - w) as u16, w as u16);
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = x as u16 * wa + y as u16 * wb;
    }
}

/// YUV to RGB terms x 1024, per byte value, for the frame's matrix.
struct YuvTables {
    y: [i32; 256],
    rv: [i32; 256],
    gu: [i32; 256],
    gv: [i32; 256],
    bu: [i32; 256],
}

impl YuvTables {
    fn new(matrix: YuvMatrix) -> Box<YuvTables> {
        // Limited range: 1.164 (Y-16) and the matrix's chroma coefficients.
        let (ry, rv, gu, gv, bu) = match matrix {
            YuvMatrix::Bt601 => (1192, 1634, 401, 832, 2066),
            YuvMatrix::Bt709 => (1192, 1836, 218, 546, 2163),
        };
        let table = |k: i32, offset: i32, bias: i32| {
            std::array::from_fn(|v| k * (v as i32 - offset) + bias)
        };
        Box::new(YuvTables {
            y: table(ry, 16, 512),
            rv: table(rv, 128, 0),
            gu: table(gu, 128, 0),
            gv: table(gv, 128, 0),
            bu: table(bu, 128, 0),
        })
    }
}

#[inline(always)]
fn clip(v: i32) -> u8 {
    (v >> 10).clamp(0, 255) as u8
}

/// Horizontal tap over two vertically blended (x128) samples.
#[inline(always)]
fn hlerp(a: u16, b: u16, w: u32) -> u8 {
    ((a as u32 * (128 - w) + b as u32 * w + (1 << 13)) >> 14) as u8
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
        let packer = Packer::new(lb, PixelFormat::Rgb, YuvMatrix::Bt601, float_rgb());
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
        let packer = Packer::new(lb, PixelFormat::Bgrx, YuvMatrix::Bt601, tensor);
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
        let packer = Packer::new(lb, PixelFormat::Rgb, YuvMatrix::Bt601, float_rgb());
        let mut out = vec![0.0; 6];
        packer.pack_planar(&img, &mut out).unwrap();
        assert_eq!(&out[..2], &[50.0, 225.0]);
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
            let packer = Packer::new(lb, format, YuvMatrix::Bt601, tensor);
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
        let packer = Packer::new(lb, PixelFormat::Rgb, YuvMatrix::Bt601, float_rgb());
        let err = packer.pack_planar(&img, &mut [0.0; 12]).unwrap_err();
        assert!(err.0.contains("too small"), "{err}");
        assert!(packer.pack_planar(&img, &mut [0.0; 3]).is_err());
    }
}
