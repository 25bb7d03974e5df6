//! Optimal assignment of tracks to detections under a cost limit.
//!
//! Same result as `lap.lapjv(cost, extend_cost=True, cost_limit=limit)`,
//! which ByteTrack uses: each row and column may also stay unmatched at
//! half the limit, so a pair is only matched when it costs no more than
//! leaving both alone. The graph of admissible pairs is split into its
//! connected components, each solved by the Hungarian algorithm: tracked
//! people rarely overlap more than a few others, so this stays fast.

/// Matches and what was left unmatched, in ascending order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assignment {
    pub matches: Vec<(usize, usize)>,
    pub unmatched_rows: Vec<usize>,
    pub unmatched_cols: Vec<usize>,
}

/// Assigns rows to columns of the row-major `cost` (`rows` x `cols`),
/// minimising the total; pairs costing more than `limit` are never matched.
pub fn assign(cost: &[f32], rows: usize, cols: usize, limit: f32) -> Assignment {
    assert_eq!(cost.len(), rows * cols, "cost matrix size");
    // Union-find over rows (0..rows) and columns (rows..rows+cols).
    let mut parent: Vec<usize> = (0..rows + cols).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    let mut any = false;
    for r in 0..rows {
        for c in 0..cols {
            if cost[r * cols + c] <= limit {
                any = true;
                let (a, b) = (find(&mut parent, r), find(&mut parent, rows + c));
                parent[a] = b;
            }
        }
    }
    let mut result = Assignment::default();
    if any {
        let mut components: std::collections::BTreeMap<usize, (Vec<usize>, Vec<usize>)> =
            Default::default();
        for r in 0..rows {
            let root = find(&mut parent, r);
            components.entry(root).or_default().0.push(r);
        }
        for c in 0..cols {
            let root = find(&mut parent, rows + c);
            components.entry(root).or_default().1.push(c);
        }
        for (rs, cs) in components.values() {
            if rs.is_empty() || cs.is_empty() {
                continue;
            }
            if rs.len() == 1 && cs.len() == 1 {
                result.matches.push((rs[0], cs[0]));
                continue;
            }
            // lapjv's extension: [C, limit/2 on the diagonal; limit/2 on the diagonal, 0].
            let (nr, nc) = (rs.len(), cs.len());
            let n = nr + nc;
            let big = 1e6f64;
            let half = limit as f64 / 2.0;
            let mut m = vec![0.0f64; n * n];
            for i in 0..n {
                for j in 0..n {
                    m[i * n + j] = match (i < nr, j < nc) {
                        (true, true) => {
                            let v = cost[rs[i] * cols + cs[j]];
                            if v <= limit { v as f64 } else { big }
                        }
                        (true, false) => {
                            if j - nc == i {
                                half
                            } else {
                                big
                            }
                        }
                        (false, true) => {
                            if i - nr == j {
                                half
                            } else {
                                big
                            }
                        }
                        (false, false) => 0.0,
                    };
                }
            }
            let col_of_row = hungarian(&m, n);
            for (i, &j) in col_of_row.iter().enumerate().take(nr) {
                if j < nc && m[i * n + j] < big {
                    result.matches.push((rs[i], cs[j]));
                }
            }
        }
    }
    result.matches.sort_unstable();
    let mut row_used = vec![false; rows];
    let mut col_used = vec![false; cols];
    for &(r, c) in &result.matches {
        row_used[r] = true;
        col_used[c] = true;
    }
    result.unmatched_rows = (0..rows).filter(|&r| !row_used[r]).collect();
    result.unmatched_cols = (0..cols).filter(|&c| !col_used[c]).collect();
    result
}

/// Minimum-cost perfect matching of a square `n` x `n` row-major matrix
/// (Hungarian algorithm with potentials, O(n^3)); returns the column of each row.
pub fn hungarian(cost: &[f64], n: usize) -> Vec<usize> {
    let inf = f64::INFINITY;
    let mut u = vec![0.0; n + 1];
    let mut v = vec![0.0; n + 1];
    let mut p = vec![0usize; n + 1];
    let mut way = vec![0usize; n + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        let mut minv = vec![inf; n + 1];
        let mut used = vec![false; n + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = inf;
            let mut j1 = 0;
            for j in 1..=n {
                if !used[j] {
                    let cur = cost[(i0 - 1) * n + (j - 1)] - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=n {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut col_of_row = vec![0; n];
    for j in 1..=n {
        if p[j] > 0 {
            col_of_row[p[j] - 1] = j - 1;
        }
    }
    col_of_row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn square_optimum_beats_greedy() {
        // Greedy takes (0,0)=0.1 and is left with (1,1)=0.9: total 1.0.
        // The optimum is (0,1)+(1,0) = 0.2+0.3 = 0.5.
        let cost = [0.1, 0.2, 0.3, 0.9];
        let a = assign(&cost, 2, 2, 1.0);
        assert_eq!(a.matches, vec![(0, 1), (1, 0)]);
        assert!(a.unmatched_rows.is_empty() && a.unmatched_cols.is_empty());
    }

    #[test]
    fn rectangular_and_limited() {
        // 2 tracks, 3 detections; detection 2 costs too much for anyone.
        let cost = [0.2, 0.95, 0.99, 0.9, 0.3, 0.97];
        let a = assign(&cost, 2, 3, 0.8);
        assert_eq!(a.matches, vec![(0, 0), (1, 1)]);
        assert_eq!(a.unmatched_cols, vec![2]);
        // Above the limit nothing matches at all.
        let a = assign(&[0.9, 0.95], 1, 2, 0.8);
        assert!(a.matches.is_empty());
        assert_eq!((a.unmatched_rows, a.unmatched_cols), (vec![0], vec![0, 1]));
        let empty = assign(&[], 0, 3, 0.8);
        assert_eq!(empty.unmatched_cols, vec![0, 1, 2]);
    }

    #[test]
    fn an_admissible_pair_beats_leaving_both_alone() {
        // (0,1)+(1,0) = 0.1 + 0.7 = 0.8 is less than (0,1) with row 1 and
        // column 0 unmatched, 0.1 + 0.4 + 0.4 = 0.9: both pairs are made.
        let cost = [0.7, 0.1, 0.7, 0.7];
        let a = assign(&cost, 2, 2, 0.8);
        assert_eq!(a.matches, vec![(0, 1), (1, 0)]);
    }

    #[test]
    fn hungarian_on_a_known_matrix() {
        #[rustfmt::skip]
        let m = [
            4.0, 1.0, 3.0,
            2.0, 0.0, 5.0,
            3.0, 2.0, 2.0,
        ];
        // Optimum 1 + 2 + 2 = 5: rows -> columns 1, 0, 2.
        assert_eq!(hungarian(&m, 3), vec![1, 0, 2]);
    }
}
