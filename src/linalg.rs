//! Small dense linear algebra in f64 for `depthlab poly`'s exact fits:
//! least squares by Householder QR (never the normal equations, whose
//! condition number is the square of the Vandermonde matrix's), and the
//! singular values of a small matrix by one-sided Jacobi (for that
//! condition number). Matrices are row-major `(rows, cols)`.

/// A row-major matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
}

impl Matrix {
    pub fn zeros(rows: usize, cols: usize) -> Matrix {
        Matrix {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    pub fn at(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.cols + j]
    }

    pub fn set(&mut self, i: usize, j: usize, v: f64) {
        self.data[i * self.cols + j] = v;
    }
}

/// The least-squares solution of A x ≈ b (A is (m, n) with m ≥ n and full
/// column rank), by Householder QR: A = QR, x = R⁻¹ Qᵀ b. `None` when R
/// has a zero on its diagonal (A rank-deficient).
///
/// ```
/// use depthlab::linalg::{Matrix, least_squares};
/// // Fit y = 1 + 2x through (0, 1), (1, 3), (2, 5).
/// let a = Matrix { rows: 3, cols: 2, data: vec![1., 0., 1., 1., 1., 2.] };
/// let x = least_squares(&a, &[1., 3., 5.]).unwrap();
/// assert!((x[0] - 1.0).abs() < 1e-12 && (x[1] - 2.0).abs() < 1e-12);
/// ```
pub fn least_squares(a: &Matrix, b: &[f64]) -> Option<Vec<f64>> {
    let (m, n) = (a.rows, a.cols);
    assert!(m >= n && b.len() == m, "least_squares needs m ≥ n rows");
    let (r, qtb) = householder(a, b);
    // Back substitution on the n × n upper triangle.
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let d = r.at(i, i);
        if d == 0.0 || !d.is_finite() {
            return None;
        }
        let s: f64 = (i + 1..n).map(|j| r.at(i, j) * x[j]).sum();
        x[i] = (qtb[i] - s) / d;
    }
    Some(x)
}

/// Householder QR of A applied to b: returns R (overwriting A, its upper
/// triangle meaningful) and Qᵀ b.
fn householder(a: &Matrix, b: &[f64]) -> (Matrix, Vec<f64>) {
    let (m, n) = (a.rows, a.cols);
    let (mut r, mut qtb) = (a.clone(), b.to_vec());
    for k in 0..n {
        // The reflector that zeroes column k below the diagonal.
        let norm = (k..m).map(|i| r.at(i, k).powi(2)).sum::<f64>().sqrt();
        if norm == 0.0 {
            continue;
        }
        let alpha = if r.at(k, k) > 0.0 { -norm } else { norm };
        let mut v: Vec<f64> = (k..m).map(|i| r.at(i, k)).collect();
        v[0] -= alpha;
        let vv: f64 = v.iter().map(|x| x * x).sum();
        if vv == 0.0 {
            continue;
        }
        // Apply I - 2 v vᵀ / (vᵀ v) to the remaining columns and to b.
        for j in k..n {
            let dot: f64 = v
                .iter()
                .enumerate()
                .map(|(t, vi)| vi * r.at(k + t, j))
                .sum();
            let f = 2.0 * dot / vv;
            for (t, vi) in v.iter().enumerate() {
                r.set(k + t, j, r.at(k + t, j) - f * vi);
            }
        }
        let dot: f64 = v.iter().enumerate().map(|(t, vi)| vi * qtb[k + t]).sum();
        let f = 2.0 * dot / vv;
        for (t, vi) in v.iter().enumerate() {
            qtb[k + t] -= f * vi;
        }
    }
    (r, qtb)
}

/// The singular values of A (m, n), largest first, by one-sided Jacobi
/// rotations on A's columns (accurate to about machine precision relative
/// to each value, so the small ones of an ill-conditioned A are right).
pub fn singular_values(a: &Matrix) -> Vec<f64> {
    let (m, n) = (a.rows, a.cols);
    // Columns as vectors, rotated in pairs until all are orthogonal.
    let mut cols: Vec<Vec<f64>> = (0..n)
        .map(|j| (0..m).map(|i| a.at(i, j)).collect())
        .collect();
    for _sweep in 0..60 {
        let mut rotated = false;
        for p in 0..n {
            for q in p + 1..n {
                let dot = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(a, b)| a * b).sum::<f64>();
                let (alpha, beta, gamma) = (
                    dot(&cols[p], &cols[p]),
                    dot(&cols[q], &cols[q]),
                    dot(&cols[p], &cols[q]),
                );
                if gamma.abs() <= 1e-15 * (alpha * beta).sqrt() {
                    continue;
                }
                rotated = true;
                let zeta = (beta - alpha) / (2.0 * gamma);
                let t = zeta.signum() / (zeta.abs() + (1.0 + zeta * zeta).sqrt());
                let t = if zeta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = c * t;
                let (left, right) = cols.split_at_mut(q);
                for (x, y) in left[p].iter_mut().zip(right[0].iter_mut()) {
                    (*x, *y) = (c * *x - s * *y, s * *x + c * *y);
                }
            }
        }
        if !rotated {
            break;
        }
    }
    let mut values: Vec<f64> = cols
        .iter()
        .map(|c| c.iter().map(|x| x * x).sum::<f64>().sqrt())
        .collect();
    values.sort_by(|a, b| b.total_cmp(a));
    values
}

/// The 2-norm condition number σ_max/σ_min of A (infinite when singular).
pub fn condition_number(a: &Matrix) -> f64 {
    let s = singular_values(a);
    match (s.first(), s.last()) {
        (Some(&max), Some(&min)) if min > 0.0 => max / min,
        _ => f64::INFINITY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Normal equations solved by Gaussian elimination with partial
    /// pivoting: an independent (if less stable) solver for well-posed
    /// problems.
    #[allow(clippy::needless_range_loop)] // The textbook index form.
    fn normal_equations(a: &Matrix, b: &[f64]) -> Vec<f64> {
        let n = a.cols;
        let mut m = vec![vec![0.0; n + 1]; n];
        for i in 0..n {
            for j in 0..n {
                m[i][j] = (0..a.rows).map(|r| a.at(r, i) * a.at(r, j)).sum();
            }
            m[i][n] = (0..a.rows).map(|r| a.at(r, i) * b[r]).sum();
        }
        for k in 0..n {
            let p = (k..n)
                .max_by(|&x, &y| m[x][k].abs().total_cmp(&m[y][k].abs()))
                .unwrap();
            m.swap(k, p);
            for i in k + 1..n {
                let f = m[i][k] / m[k][k];
                for j in k..=n {
                    m[i][j] -= f * m[k][j];
                }
            }
        }
        let mut x = vec![0.0; n];
        for i in (0..n).rev() {
            x[i] = (m[i][n] - (i + 1..n).map(|j| m[i][j] * x[j]).sum::<f64>()) / m[i][i];
        }
        x
    }

    fn vandermonde(xs: &[f64], degree: usize) -> Matrix {
        let mut a = Matrix::zeros(xs.len(), degree + 1);
        for (i, &x) in xs.iter().enumerate() {
            for j in 0..=degree {
                a.set(i, j, x.powi(j as i32));
            }
        }
        a
    }

    #[test]
    fn qr_agrees_with_the_normal_equations_where_both_are_well_posed() {
        let xs: Vec<f64> = (0..12).map(|i| i as f64 / 11.0).collect();
        let ts: Vec<f64> = xs.iter().map(|x| (6.3 * x).sin() + 0.1 * x).collect();
        for degree in 0..=3 {
            let a = vandermonde(&xs, degree);
            let (qr, ne) = (least_squares(&a, &ts).unwrap(), normal_equations(&a, &ts));
            for (p, q) in qr.iter().zip(&ne) {
                assert!(
                    (p - q).abs() < 1e-9 * (1.0 + q.abs()),
                    "degree {degree}: {qr:?} vs {ne:?}"
                );
            }
        }
    }

    #[test]
    fn qr_interpolates_exactly_where_the_normal_equations_fail() {
        // 10 points, degree 9: an exact interpolation. κ(A) ≈ 1e7, so the
        // normal equations (κ² ≈ 1e14) lose most digits; QR keeps them.
        let xs: Vec<f64> = (0..10).map(|i| i as f64 / 9.0).collect();
        let ts: Vec<f64> = xs
            .iter()
            .map(|x| (std::f64::consts::TAU * x).sin())
            .collect();
        let a = vandermonde(&xs, 9);
        let w = least_squares(&a, &ts).unwrap();
        let worst = xs
            .iter()
            .zip(&ts)
            .map(|(&x, &t)| {
                (w.iter()
                    .enumerate()
                    .map(|(j, c)| c * x.powi(j as i32))
                    .sum::<f64>()
                    - t)
                    .abs()
            })
            .fold(0.0, f64::max);
        assert!(worst < 1e-9, "residual {worst}");
        let kappa = condition_number(&a);
        assert!((1e6..1e9).contains(&kappa), "κ = {kappa:e}");
    }

    #[test]
    fn singular_values_of_known_matrices() {
        // diag(3, 2) rotated: singular values 3 and 2.
        let (c, s) = (0.6f64, 0.8f64);
        let a = Matrix {
            rows: 2,
            cols: 2,
            data: vec![3.0 * c, -2.0 * s, 3.0 * s, 2.0 * c],
        };
        let v = singular_values(&a);
        assert!(
            (v[0] - 3.0).abs() < 1e-12 && (v[1] - 2.0).abs() < 1e-12,
            "{v:?}"
        );
        // A rank-one matrix has a zero singular value: κ is infinite.
        let a = Matrix {
            rows: 2,
            cols: 2,
            data: vec![1.0, 2.0, 2.0, 4.0],
        };
        assert!(condition_number(&a) > 1e15);
    }
}
