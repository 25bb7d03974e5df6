//! Where something moves in a camera's picture, cheaply enough to run on
//! every frame so that a detector need not: the frame's brightness averaged
//! over a grid of cells (a few thousand numbers), compared with a slowly
//! adapting background. Averaging a cell over dozens of pixels removes
//! sensor noise and compression artefacts; a changed cell counts only with a
//! changed neighbour, which removes what is left of single-cell flicker;
//! slow changes of light go into the background.

use crate::preprocess::{Image, Region};

/// How motion is found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotionConfig {
    /// Side of a cell in frame pixels: a cell averages about a quarter of
    /// its pixels, so larger cells see through more noise.
    pub cell: u32,
    /// Change of a cell's mean brightness (0-255) that is motion.
    pub threshold: f32,
    /// Changed cells (each with a changed neighbour) that make a frame move.
    pub min_cells: usize,
    /// Share of the difference the background takes in per frame; a cell
    /// that changed takes a tenth of it, so that something passing leaves
    /// no trail, while something that stays (a parked car) joins the
    /// background within a few hundred frames.
    pub learning_rate: f32,
}

impl Default for MotionConfig {
    fn default() -> Self {
        MotionConfig {
            cell: 16,
            threshold: 12.0,
            min_cells: 2,
            learning_rate: 0.05,
        }
    }
}

/// What one frame shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Motion {
    pub moving: bool,
    /// Changed cells counted.
    pub cells: usize,
    /// Boxes around each group of changed cells, in frame pixels.
    pub regions: Vec<Region>,
}

/// One camera's background and its working memory.
#[derive(Debug, Clone)]
pub struct MotionDetector {
    config: MotionConfig,
    width: u32,
    height: u32,
    columns: usize,
    rows: usize,
    background: Vec<f32>,
    current: Vec<f32>,
    changed: Vec<bool>,
    /// Samples per cell, and the cell column of each pixel column.
    counts: Vec<u32>,
    column_of: Vec<usize>,
    /// Group label per cell (0: none), for the regions.
    labels: Vec<u32>,
    stack: Vec<usize>,
    started: bool,
}

impl MotionDetector {
    /// A detector for frames of `width` x `height`.
    pub fn new(width: u32, height: u32, config: MotionConfig) -> MotionDetector {
        let cell = config.cell.max(2);
        let columns = width.div_ceil(cell).max(1) as usize;
        let rows = height.div_ceil(cell).max(1) as usize;
        let cells = columns * rows;
        MotionDetector {
            config,
            width,
            height,
            columns,
            rows,
            background: vec![0.0; cells],
            current: vec![0.0; cells],
            changed: vec![false; cells],
            counts: vec![0; cells],
            column_of: (0..width)
                .map(|x| ((x / cell) as usize).min(columns - 1))
                .collect(),
            labels: vec![0; cells],
            stack: Vec::new(),
            started: false,
        }
    }

    pub fn set_config(&mut self, config: MotionConfig) {
        if config.cell != self.config.cell {
            *self = MotionDetector::new(self.width, self.height, config);
        } else {
            self.config = config;
        }
    }

    /// Forgets the background (a new scene: a seek, a camera's return).
    pub fn reset(&mut self) {
        self.started = false;
    }

    /// Compares `image` (of the size given at creation) with the background
    /// and takes it into the background. The first frame after a reset only
    /// sets the background: it shows no motion.
    pub fn update(&mut self, image: &Image<'_>) -> Motion {
        if image.width != self.width || image.height != self.height {
            return Motion::default();
        }
        self.cell_means(image);
        if !self.started {
            self.background.copy_from_slice(&self.current);
            self.started = true;
            return Motion::default();
        }
        let threshold = self.config.threshold;
        for ((changed, &now), &before) in self
            .changed
            .iter_mut()
            .zip(&self.current)
            .zip(&self.background)
        {
            *changed = (now - before).abs() > threshold;
        }
        let rate = self.config.learning_rate.clamp(0.0, 1.0);
        for ((bg, &now), &changed) in self
            .background
            .iter_mut()
            .zip(&self.current)
            .zip(&self.changed)
        {
            *bg += if changed { rate * 0.1 } else { rate } * (now - *bg);
        }
        let regions = self.group();
        let cells = self.labels.iter().filter(|&&l| l > 0).count();
        Motion {
            moving: cells >= self.config.min_cells.max(1),
            cells,
            regions,
        }
    }

    /// Mean brightness of every cell into `current`, from every other pixel
    /// of every other row.
    fn cell_means(&mut self, image: &Image<'_>) {
        let (w, h) = (self.width as usize, self.height as usize);
        let (columns, rows) = (self.columns, self.rows);
        self.current.fill(0.0);
        self.counts.fill(0);
        let (counts, column_of) = (&mut self.counts, &self.column_of);
        let luma_of = |row: &[u8], x: usize| -> f32 {
            match image.format.packed() {
                Some((bpp, [r, g, b])) => {
                    let p = &row[x * bpp..];
                    (77 * p[r] as u32 + 150 * p[g] as u32 + 29 * p[b] as u32) as f32 / 256.0
                }
                // I420 and NV12: the first plane is the luma.
                None => row[x] as f32,
            }
        };
        for y in (0..h).step_by(2) {
            let start = y * image.strides[0];
            let Some(row) = image.planes[0].get(start..) else {
                break;
            };
            let cell_row = (y / self.config.cell.max(2) as usize).min(rows - 1) * columns;
            for x in (0..w).step_by(2) {
                let bytes = match image.format.packed() {
                    Some((bpp, _)) => (x + 1) * bpp,
                    None => x + 1,
                };
                if row.len() < bytes {
                    break;
                }
                let c = cell_row + column_of[x];
                self.current[c] += luma_of(row, x);
                counts[c] += 1;
            }
        }
        for (v, &n) in self.current.iter_mut().zip(counts.iter()) {
            *v /= n.max(1) as f32;
        }
    }

    /// Labels the groups of changed cells that have a changed neighbour and
    /// returns their boxes in frame pixels.
    fn group(&mut self) -> Vec<Region> {
        let (columns, rows) = (self.columns, self.rows);
        let neighbours = |i: usize| {
            let (x, y) = ((i % columns) as isize, (i / columns) as isize);
            (-1..=1)
                .flat_map(move |dy| (-1..=1).map(move |dx| (x + dx, y + dy)))
                .filter_map(move |(nx, ny)| {
                    (nx >= 0 && ny >= 0 && (nx as usize) < columns && (ny as usize) < rows)
                        .then(|| ny as usize * columns + nx as usize)
                        .filter(|&n| n != i)
                })
        };
        let changed = &self.changed;
        let counted: Vec<bool> = (0..changed.len())
            .map(|i| changed[i] && neighbours(i).any(|n| changed[n]))
            .collect();
        self.labels.fill(0);
        let mut regions = Vec::new();
        for start in 0..counted.len() {
            if !counted[start] || self.labels[start] != 0 {
                continue;
            }
            let label = regions.len() as u32 + 1;
            let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
            self.stack.clear();
            self.stack.push(start);
            self.labels[start] = label;
            while let Some(i) = self.stack.pop() {
                let (x, y) = (i % columns, i / columns);
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
                for n in neighbours(i) {
                    if counted[n] && self.labels[n] == 0 {
                        self.labels[n] = label;
                        self.stack.push(n);
                    }
                }
            }
            let px = |cx: usize, cells: usize, size: u32| {
                (cx as u64 * size as u64 / cells as u64) as u32
            };
            let (left, top) = (px(x0, columns, self.width), px(y0, rows, self.height));
            let (right, bottom) = (
                px(x1 + 1, columns, self.width),
                px(y1 + 1, rows, self.height),
            );
            regions.push(Region {
                x: left,
                y: top,
                w: right - left,
                h: bottom - top,
            });
        }
        regions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preprocess::PixelFormat;

    /// A deterministic noise source (xorshift).
    struct Noise(u64);

    impl Noise {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        /// Roughly normal, mean 0, standard deviation `sigma` (sum of four
        /// uniforms).
        fn gauss(&mut self, sigma: f32) -> f32 {
            let u: f32 = (0..4).map(|_| (self.next() % 1000) as f32 / 1000.0).sum();
            (u - 2.0) * sigma * 1.732
        }
    }

    const W: u32 = 320;
    const H: u32 = 240;

    /// A textured still scene: gradients and blocks, as grey levels.
    fn scene() -> Vec<f32> {
        (0..W * H)
            .map(|i| {
                let (x, y) = (i % W, i / W);
                60.0 + (x as f32 * 0.3)
                    + (y as f32 * 0.2)
                    + if (x / 40 + y / 30) % 2 == 0 {
                        40.0
                    } else {
                        0.0
                    }
            })
            .collect()
    }

    /// `grey` with sensor noise and blocky compression artefacts (each 8x8
    /// block shifted by its own small offset, new every frame), as RGB.
    fn camera_frame(grey: &[f32], noise: &mut Noise) -> Vec<u8> {
        let blocks: Vec<f32> = (0..(W / 8) * (H / 8)).map(|_| noise.gauss(2.0)).collect();
        let mut rgb = Vec::with_capacity((W * H * 3) as usize);
        for (i, &g) in grey.iter().enumerate() {
            let (x, y) = (i as u32 % W, i as u32 / W);
            let v = g + noise.gauss(6.0) + blocks[((y / 8) * (W / 8) + x / 8) as usize];
            let v = v.round().clamp(0.0, 255.0) as u8;
            rgb.extend([v, v, v]);
        }
        rgb
    }

    fn image(rgb: &[u8]) -> Image<'_> {
        Image {
            format: PixelFormat::Rgb,
            width: W,
            height: H,
            planes: [rgb, &[], &[]],
            strides: [(W * 3) as usize, 0, 0],
        }
    }

    #[test]
    fn a_still_noisy_compressed_picture_does_not_move() {
        let mut d = MotionDetector::new(W, H, MotionConfig::default());
        let (still, mut noise) = (scene(), Noise(7));
        for frame in 0..200 {
            let rgb = camera_frame(&still, &mut noise);
            let m = d.update(&image(&rgb));
            assert!(!m.moving, "frame {frame}: {m:?}");
        }
    }

    #[test]
    fn light_that_changes_slowly_is_not_motion() {
        let mut d = MotionDetector::new(W, H, MotionConfig::default());
        let (still, mut noise) = (scene(), Noise(11));
        for frame in 0..200 {
            // Dusk: a tenth of a grey level darker every frame, 20 in all.
            let dimmed: Vec<f32> = still.iter().map(|v| v - frame as f32 * 0.1).collect();
            let rgb = camera_frame(&dimmed, &mut noise);
            assert!(!d.update(&image(&rgb)).moving, "frame {frame}");
        }
    }

    #[test]
    fn a_walker_moves_where_it_walks() {
        let mut d = MotionDetector::new(W, H, MotionConfig::default());
        let (still, mut noise) = (scene(), Noise(3));
        for _ in 0..10 {
            d.update(&image(&camera_frame(&still, &mut noise)));
        }
        for step in 0..20u32 {
            // A dark figure 16 x 48 walking right, 6 pixels a frame.
            let (fx, fy) = (60 + step * 6, 120);
            let mut grey = still.clone();
            for y in fy..fy + 48 {
                for x in fx..fx + 16 {
                    grey[(y * W + x) as usize] = 20.0;
                }
            }
            let m = d.update(&image(&camera_frame(&grey, &mut noise)));
            assert!(m.moving, "step {step}: {m:?}");
            let covers = m.regions.iter().any(|r| {
                r.x <= fx + 8 && fx + 8 < r.x + r.w && r.y <= fy + 24 && fy + 24 < r.y + r.h
            });
            assert!(
                covers,
                "step {step}: figure at {fx},{fy} not in {:?}",
                m.regions
            );
            // Nothing far from the figure moves.
            assert!(
                m.regions
                    .iter()
                    .all(|r| r.x + r.w + 40 > fx && r.x < fx + 16 + 60),
                "step {step}: {:?}",
                m.regions
            );
        }
    }

    #[test]
    fn luma_planes_read_like_rgb() {
        let mut rgb_detector = MotionDetector::new(W, H, MotionConfig::default());
        let mut yuv_detector = MotionDetector::new(W, H, MotionConfig::default());
        let still = scene();
        let mut moved = still.clone();
        for y in 100..160 {
            for x in 100..140 {
                moved[(y * W + x) as usize] = 250.0;
            }
        }
        for grey in [&still, &moved] {
            let luma: Vec<u8> = grey.iter().map(|v| *v as u8).collect();
            let rgb: Vec<u8> = luma.iter().flat_map(|&v| [v, v, v]).collect();
            let chroma = vec![128u8; (W * H / 2) as usize];
            let yuv = Image {
                format: PixelFormat::Nv12,
                width: W,
                height: H,
                planes: [&luma, &chroma, &[]],
                strides: [W as usize, W as usize, 0],
            };
            let a = rgb_detector.update(&image(&rgb));
            let b = yuv_detector.update(&yuv);
            assert_eq!(a.moving, b.moving);
            assert_eq!(a.regions, b.regions);
        }
    }

    #[test]
    fn frames_of_another_size_are_ignored() {
        let mut d = MotionDetector::new(W, H, MotionConfig::default());
        let rgb = vec![0u8; 16 * 16 * 3];
        let small = Image {
            format: PixelFormat::Rgb,
            width: 16,
            height: 16,
            planes: [&rgb, &[], &[]],
            strides: [48, 0, 0],
        };
        assert_eq!(d.update(&small), Motion::default());
    }
}
