//! The plain scalar twins of the SIMD kernels: the algorithmic reference
//! every fast kernel is tested against (same signatures, same contracts).

use crate::activation::{Activation, apply, derivative, param_derivative, unit_params};
use crate::reduce::Moments;
use crate::update::{Adam, Sgd};

/// C (m, n) ← A (m, k) · B (k, n) + β·C.
pub fn gemm_nn(c: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize, beta: f32) {
    debug_assert_eq!(c.len(), m * n);
    debug_assert_eq!(a.len(), m * k);
    debug_assert_eq!(b.len(), k * n);
    for (c_row, a_row) in c
        .chunks_exact_mut(n.max(1))
        .zip(a.chunks_exact(k.max(1)))
        .take(m)
    {
        scale(c_row, beta);
        // i-p-j order: the inner loop streams a row of B and a row of C.
        for (p, &aip) in a_row.iter().enumerate() {
            let b_row = &b[p * n..(p + 1) * n];
            for (cij, &bpj) in c_row.iter_mut().zip(b_row) {
                *cij += aip * bpj;
            }
        }
    }
    if k == 0 {
        for c_row in c.chunks_exact_mut(n.max(1)) {
            scale(c_row, beta);
        }
    }
}

/// C (m, n) ← Aᵀ · B + β·C, with A stored (k, m) and B (k, n).
pub fn gemm_tn(c: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize, beta: f32) {
    debug_assert_eq!(c.len(), m * n);
    debug_assert_eq!(a.len(), k * m);
    debug_assert_eq!(b.len(), k * n);
    scale(c, beta);
    // p-i-j order: each step of the reduction is a rank-1 update, in
    // increasing p, so every C element sums its terms in the same order.
    for p in 0..k {
        let a_row = &a[p * m..(p + 1) * m];
        let b_row = &b[p * n..(p + 1) * n];
        for (c_row, &api) in c.chunks_exact_mut(n.max(1)).zip(a_row) {
            for (cij, &bpj) in c_row.iter_mut().zip(b_row) {
                *cij += api * bpj;
            }
        }
    }
}

/// C (m, n) ← A · Bᵀ + β·C, with A stored (m, k) and B (n, k).
pub fn gemm_nt(c: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize, beta: f32) {
    debug_assert_eq!(c.len(), m * n);
    debug_assert_eq!(a.len(), m * k);
    debug_assert_eq!(b.len(), n * k);
    for (i, c_row) in c.chunks_exact_mut(n.max(1)).enumerate().take(m) {
        let a_row = &a[i * k..(i + 1) * k];
        for (j, cij) in c_row.iter_mut().enumerate() {
            let b_row = &b[j * k..(j + 1) * k];
            let mut acc = 0.0f32;
            for (&x, &y) in a_row.iter().zip(b_row) {
                acc += x * y;
            }
            *cij = if beta == 0.0 { acc } else { beta * *cij + acc };
        }
    }
}

/// x ← β·x, writing zeros (not reading x) when β is 0.
fn scale(x: &mut [f32], beta: f32) {
    if beta == 0.0 {
        x.fill(0.0);
    } else if beta != 1.0 {
        for v in x {
            *v *= beta;
        }
    }
}

/// s (rows, cols) += b (cols), the bias broadcast over rows.
pub fn bias_add(s: &mut [f32], b: &[f32], rows: usize, cols: usize) {
    debug_assert_eq!(s.len(), rows * cols);
    debug_assert_eq!(b.len(), cols);
    for row in s.chunks_exact_mut(cols.max(1)) {
        for (v, &bj) in row.iter_mut().zip(b) {
            *v += bj;
        }
    }
}

/// db (cols) ← Σ_rows x (rows, cols) + β·db: the bias gradient.
pub fn column_sum(db: &mut [f32], x: &[f32], rows: usize, cols: usize, beta: f32) {
    debug_assert_eq!(db.len(), cols);
    debug_assert_eq!(x.len(), rows * cols);
    scale(db, beta);
    for row in x.chunks_exact(cols.max(1)) {
        for (d, &v) in db.iter_mut().zip(row) {
            *d += v;
        }
    }
}

/// a = f(s). `s`, `a`: (rows, cols), overwrites `a`; `params`: the
/// parameter-major per-unit parameters (`params_per_unit * cols` values).
pub fn activation_forward(
    act: Activation,
    a: &mut [f32],
    s: &[f32],
    params: &[f32],
    rows: usize,
    cols: usize,
) {
    debug_assert_eq!(a.len(), rows * cols);
    debug_assert_eq!(s.len(), rows * cols);
    debug_assert_eq!(params.len(), act.params_per_unit() * cols);
    if act.params_per_unit() == 0 {
        let p = [0.0; 4];
        for (y, &x) in a.iter_mut().zip(s) {
            *y = apply(act, x, p);
        }
        return;
    }
    for (a_row, s_row) in a
        .chunks_exact_mut(cols.max(1))
        .zip(s.chunks_exact(cols.max(1)))
    {
        for (j, (y, &x)) in a_row.iter_mut().zip(s_row).enumerate() {
            *y = apply(act, x, unit_params(act, params, cols, j));
        }
    }
}

/// Backward through f. `delta`: (rows, cols), on entry ∂L/∂a, on exit
/// ∂L/∂s = ∂L/∂a ⊙ f'(s) (overwrites in place). `dparams` accumulates
/// ∂L/∂params (same layout as `params`). `s` and `a` are the forward's input
/// and output.
// The SIMD kernel's signature (see `activation::activation_backward`).
#[allow(clippy::too_many_arguments)]
pub fn activation_backward(
    act: Activation,
    delta: &mut [f32],
    dparams: &mut [f32],
    s: &[f32],
    a: &[f32],
    params: &[f32],
    rows: usize,
    cols: usize,
) {
    debug_assert_eq!(delta.len(), rows * cols);
    debug_assert_eq!(s.len(), rows * cols);
    debug_assert_eq!(a.len(), rows * cols);
    debug_assert_eq!(params.len(), act.params_per_unit() * cols);
    debug_assert_eq!(dparams.len(), params.len());
    let k = act.params_per_unit();
    if k == 0 {
        let p = [0.0; 4];
        for ((d, &x), &y) in delta.iter_mut().zip(s).zip(a) {
            *d *= derivative(act, x, y, p);
        }
        return;
    }
    // Parameter gradients sum over the batch in row order (fixed order, so
    // the result does not depend on how the work is split).
    for ((d_row, s_row), a_row) in delta
        .chunks_exact_mut(cols.max(1))
        .zip(s.chunks_exact(cols.max(1)))
        .zip(a.chunks_exact(cols.max(1)))
    {
        for j in 0..cols {
            let p = unit_params(act, params, cols, j);
            let (x, y, g) = (s_row[j], a_row[j], d_row[j]);
            let dp = param_derivative(act, x, p);
            for (i, dpi) in dp.iter().enumerate().take(k) {
                dparams[i * cols + j] += g * dpi;
            }
            d_row[j] = g * derivative(act, x, y, p);
        }
    }
}

/// a·b + c as the vector kernels' `simd::mul_add` rounds it: once where
/// the build has FMA, twice otherwise.
fn mul_add(a: f32, b: f32, c: f32) -> f32 {
    if cfg!(target_feature = "fma") {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// One torch.optim.SGD step, element by element (see `update::sgd_update`).
pub fn sgd_update(theta: &mut [f32], buf: &mut [f32], grad: &[f32], h: &Sgd) {
    for (i, (t, &g)) in theta.iter_mut().zip(grad).enumerate() {
        let g = if h.l2 != 0.0 { mul_add(h.l2, *t, g) } else { g };
        let mut g = if h.maximize { -g } else { g };
        if h.weight_decay != 0.0 {
            g = mul_add(h.weight_decay, *t, g);
        }
        if h.momentum != 0.0 {
            let b = &mut buf[i];
            *b = if h.first_step {
                g
            } else {
                mul_add(h.keep, g, h.momentum * *b)
            };
            g = if h.nesterov {
                mul_add(h.momentum, *b, g)
            } else {
                *b
            };
        }
        *t = mul_add(-h.lr, g, *t);
    }
}

/// One torch.optim.Adam/AdamW step, element by element (see
/// `update::adam_update`).
pub fn adam_update(
    theta: &mut [f32],
    m: &mut [f32],
    v: &mut [f32],
    vmax: &mut [f32],
    grad: &[f32],
    h: &Adam,
) {
    for i in 0..theta.len() {
        let g = if h.l2 != 0.0 {
            mul_add(h.l2, theta[i], grad[i])
        } else {
            grad[i]
        };
        let mut g = if h.maximize { -g } else { g };
        if h.decoupled {
            theta[i] *= h.decay;
        } else if h.weight_decay != 0.0 {
            g = mul_add(h.weight_decay, theta[i], g);
        }
        m[i] = if h.one_m_b1 < 0.5 {
            mul_add(h.one_m_b1, g - m[i], m[i])
        } else {
            mul_add(h.one_m_b1 - 1.0, g - m[i], g)
        };
        v[i] = mul_add(h.one_m_b2 * g, g, h.beta2 * v[i]);
        let second = if h.amsgrad {
            vmax[i] = vmax[i].max(v[i]);
            vmax[i]
        } else {
            v[i]
        };
        theta[i] += -h.step_size * m[i] / (second.sqrt() / h.bc2_sqrt + h.eps);
    }
}

/// Moments in one sequential f64 pass per statistic (see
/// `reduce::moments`).
pub fn moments(x: &[f32]) -> Moments {
    if x.is_empty() {
        return Moments::default();
    }
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    Moments {
        count: x.len(),
        mean,
        var: x
            .iter()
            .map(|&v| (v as f64 - mean) * (v as f64 - mean))
            .sum::<f64>()
            / n,
        min: x.iter().map(|&v| v as f64).fold(f64::INFINITY, f64::min),
        max: x
            .iter()
            .map(|&v| v as f64)
            .fold(f64::NEG_INFINITY, f64::max),
        abs_sum: x.iter().map(|&v| (v as f64).abs()).sum(),
        sq_sum: x.iter().map(|&v| v as f64 * v as f64).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Index-based definition, in f64: the oracle for all three layouts.
    fn naive(
        a: impl Fn(usize, usize) -> f32,
        b: impl Fn(usize, usize) -> f32,
        m: usize,
        k: usize,
        n: usize,
    ) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a(i, p) as f64 * b(p, j) as f64).sum();
            }
        }
        c
    }

    fn fill(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| {
                ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 2001) as f32 / 1000.0
                    - 1.0
            })
            .collect()
    }

    #[test]
    fn three_layouts_match_the_definition_with_beta() {
        for &(m, k, n) in &[(0, 3, 2), (1, 1, 1), (3, 0, 4), (7, 9, 5), (17, 16, 15)] {
            let a = fill(m * k, 1);
            let b = fill(k * n, 2);
            let c0 = fill(m * n, 3);
            let want = naive(|i, p| a[i * k + p], |p, j| b[p * n + j], m, k, n);
            let at: Vec<f32> = (0..k * m).map(|idx| a[(idx % m) * k + idx / m]).collect();
            let bt: Vec<f32> = (0..n * k).map(|idx| b[(idx % k) * n + idx / k]).collect();
            for beta in [0.0f32, 1.0, 0.5] {
                let mut c = [c0.clone(), c0.clone(), c0.clone()];
                gemm_nn(&mut c[0], &a, &b, m, k, n, beta);
                gemm_tn(&mut c[1], &at, &b, m, k, n, beta);
                gemm_nt(&mut c[2], &a, &bt, m, k, n, beta);
                for got in &c {
                    for idx in 0..m * n {
                        let w = want[idx] + beta as f64 * c0[idx] as f64;
                        assert!(
                            (got[idx] as f64 - w).abs() < 1e-4,
                            "({m},{k},{n}) beta {beta}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn beta_zero_does_not_read_c() {
        let mut c = vec![f32::NAN; 4];
        gemm_nn(&mut c, &[1.0, 2.0], &[3.0, 4.0], 2, 1, 2, 0.0);
        assert_eq!(c, [3.0, 4.0, 6.0, 8.0]);
        let mut c = vec![f32::NAN; 4];
        gemm_nt(&mut c, &[1.0, 2.0], &[3.0, 4.0], 2, 1, 2, 0.0);
        assert_eq!(c, [3.0, 4.0, 6.0, 8.0]);
    }
}
