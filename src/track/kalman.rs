//! Constant-velocity Kalman filter on (cx, cy, aspect, height), as in
//! ByteTrack/DeepSORT: the noise scales with the box height.

// Small fixed-size matrices read best with explicit indices.
#![allow(clippy::needless_range_loop)]

pub type Mean = [f64; 8];
pub type Covariance = [[f64; 8]; 8];

const STD_POSITION: f64 = 1.0 / 20.0;
const STD_VELOCITY: f64 = 1.0 / 160.0;

/// Measurement (cx, cy, w/h, h).
pub type Measurement = [f64; 4];

#[derive(Debug, Clone, Copy, Default)]
pub struct KalmanFilter;

impl KalmanFilter {
    /// A new track from its first measurement, with zero velocity.
    pub fn initiate(&self, z: &Measurement) -> (Mean, Covariance) {
        let h = z[3];
        let std = [
            2.0 * STD_POSITION * h,
            2.0 * STD_POSITION * h,
            1e-2,
            2.0 * STD_POSITION * h,
            10.0 * STD_VELOCITY * h,
            10.0 * STD_VELOCITY * h,
            1e-5,
            10.0 * STD_VELOCITY * h,
        ];
        let mut mean = [0.0; 8];
        mean[..4].copy_from_slice(z);
        (mean, diagonal(&std.map(|s| s * s)))
    }

    /// One frame ahead: x += v, P = F P F' + Q.
    pub fn predict(&self, mean: &mut Mean, cov: &mut Covariance) {
        let h = mean[3];
        let q = [
            STD_POSITION * h,
            STD_POSITION * h,
            1e-2,
            STD_POSITION * h,
            STD_VELOCITY * h,
            STD_VELOCITY * h,
            1e-5,
            STD_VELOCITY * h,
        ];
        for i in 0..4 {
            mean[i] += mean[i + 4];
        }
        // F P F' with F = [I I; 0 I]: rows then columns i += i+4.
        let mut p = *cov;
        for i in 0..4 {
            for j in 0..8 {
                p[i][j] += p[i + 4][j];
            }
        }
        for row in p.iter_mut() {
            for j in 0..4 {
                row[j] += row[j + 4];
            }
        }
        for (i, qi) in q.iter().enumerate() {
            p[i][i] += qi * qi;
        }
        *cov = p;
    }

    /// The measurement space view: H x and H P H' + R.
    pub fn project(&self, mean: &Mean, cov: &Covariance) -> (Measurement, [[f64; 4]; 4]) {
        let h = mean[3];
        let r = [STD_POSITION * h, STD_POSITION * h, 1e-1, STD_POSITION * h];
        let mut s = [[0.0; 4]; 4];
        for i in 0..4 {
            for j in 0..4 {
                s[i][j] = cov[i][j];
            }
            s[i][i] += r[i] * r[i];
        }
        ([mean[0], mean[1], mean[2], mean[3]], s)
    }

    /// Corrects the state with measurement `z`.
    pub fn update(&self, mean: &mut Mean, cov: &mut Covariance, z: &Measurement) {
        let (projected, s) = self.project(mean, cov);
        let s_inv = invert_spd4(&s);
        // K = P H' S^-1 (8x4); P H' is the first four columns of P.
        let mut k = [[0.0; 4]; 8];
        for i in 0..8 {
            for j in 0..4 {
                k[i][j] = (0..4).map(|l| cov[i][l] * s_inv[l][j]).sum();
            }
        }
        let innovation: [f64; 4] = std::array::from_fn(|i| z[i] - projected[i]);
        for i in 0..8 {
            mean[i] += (0..4).map(|j| k[i][j] * innovation[j]).sum::<f64>();
        }
        // P -= K S K' = K (H P), with H P the first four rows of P.
        let hp: [[f64; 8]; 4] = std::array::from_fn(|i| cov[i]);
        for i in 0..8 {
            for j in 0..8 {
                cov[i][j] -= (0..4).map(|l| k[i][l] * hp[l][j]).sum::<f64>();
            }
        }
    }
}

fn diagonal(d: &[f64; 8]) -> Covariance {
    let mut m = [[0.0; 8]; 8];
    for i in 0..8 {
        m[i][i] = d[i];
    }
    m
}

/// Inverse of a symmetric positive-definite 4x4 matrix through its Cholesky factor.
fn invert_spd4(a: &[[f64; 4]; 4]) -> [[f64; 4]; 4] {
    let mut l = [[0.0; 4]; 4];
    for i in 0..4 {
        for j in 0..=i {
            let sum: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            if i == j {
                l[i][i] = (a[i][i] - sum).max(1e-12).sqrt();
            } else {
                l[i][j] = (a[i][j] - sum) / l[j][j];
            }
        }
    }
    // Solve L Y = I, then L' X = Y, column by column.
    let mut inv = [[0.0; 4]; 4];
    for col in 0..4 {
        let mut y = [0.0; 4];
        for i in 0..4 {
            let e = if i == col { 1.0 } else { 0.0 };
            y[i] = (e - (0..i).map(|k| l[i][k] * y[k]).sum::<f64>()) / l[i][i];
        }
        for i in (0..4).rev() {
            let x = (y[i] - (i + 1..4).map(|k| l[k][i] * inv[k][col]).sum::<f64>()) / l[i][i];
            inv[i][col] = x;
        }
    }
    inv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initiate_and_predict_match_hand_computed_values() {
        let kf = KalmanFilter;
        // Height 100: position std 2 * 100/20 = 10 (var 100), velocity std 10 * 100/160 = 6.25 (var 39.0625).
        let (mut mean, mut cov) = kf.initiate(&[50.0, 60.0, 0.5, 100.0]);
        assert_eq!(cov[0][0], 100.0);
        assert_eq!(cov[4][4], 39.0625);
        assert_eq!(cov[2][2], 1e-4);
        mean[4] = 2.0; // moving right 2 px per frame
        kf.predict(&mut mean, &mut cov);
        assert_eq!(mean[0], 52.0);
        // P00 = 100 + 39.0625 + (100/20)^2 = 164.0625; P04 = 39.0625; P44 = 39.0625 + (100/160)^2.
        assert!((cov[0][0] - 164.0625).abs() < 1e-9);
        assert!((cov[0][4] - 39.0625).abs() < 1e-9);
        assert!((cov[4][4] - 39.453125).abs() < 1e-9);
        assert_eq!(cov[0][1], 0.0);
    }

    #[test]
    fn update_moves_towards_the_measurement_by_the_gain() {
        let kf = KalmanFilter;
        let (mut mean, mut cov) = kf.initiate(&[0.0, 0.0, 0.5, 100.0]);
        // S00 = P00 + R00 = 100 + 25 = 125; K00 = 100/125 = 0.8; K40 = 0 (no cross term yet).
        kf.update(&mut mean, &mut cov, &[10.0, 0.0, 0.5, 100.0]);
        assert!((mean[0] - 8.0).abs() < 1e-9, "{}", mean[0]);
        assert!(mean[4].abs() < 1e-12);
        // P00 = 100 - 0.8 * 100 = 20.
        assert!((cov[0][0] - 20.0).abs() < 1e-9);
    }

    #[test]
    fn cholesky_inverse() {
        let a = [
            [4.0, 2.0, 0.0, 0.0],
            [2.0, 3.0, 0.0, 0.0],
            [0.0, 0.0, 2.0, 0.0],
            [0.0, 0.0, 0.0, 5.0],
        ];
        let inv = invert_spd4(&a);
        for i in 0..4 {
            for j in 0..4 {
                let v: f64 = (0..4).map(|k| a[i][k] * inv[k][j]).sum();
                assert!((v - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
    }
}
