//! Losses with PyTorch's mean reduction, each returning the batch loss (f64)
//! and writing the gradient ∂L/∂prediction in the same pass.

/// `loss mse|cross_entropy|bce`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossKind {
    Mse,
    CrossEntropy,
    Bce,
}

impl LossKind {
    /// The name a spec writes.
    pub fn name(self) -> &'static str {
        match self {
            LossKind::Mse => "mse",
            LossKind::CrossEntropy => "cross_entropy",
            LossKind::Bce => "bce",
        }
    }
}

/// The batch-mean loss `kind` of `pred` (rows, cols) against `target`
/// (class indices (rows) for cross_entropy, (rows, cols) otherwise);
/// overwrites `grad` (rows, cols) with ∂L/∂pred.
pub fn loss_forward_backward(
    kind: LossKind,
    grad: &mut [f32],
    pred: &[f32],
    target: &[f32],
    rows: usize,
    cols: usize,
) -> f64 {
    match kind {
        LossKind::Mse => mse_forward_backward(grad, pred, target, rows, cols),
        LossKind::CrossEntropy => cross_entropy_forward_backward(grad, pred, target, rows, cols),
        LossKind::Bce => bce_forward_backward(grad, pred, target, rows, cols),
    }
}

/// Mean squared error, mean over all elements: L = mean((ŷ - y)²).
/// `grad`, `pred`, `target`: (rows, cols); overwrites `grad` with
/// 2(ŷ - y)/(rows·cols).
pub fn mse_forward_backward(
    grad: &mut [f32],
    pred: &[f32],
    target: &[f32],
    rows: usize,
    cols: usize,
) -> f64 {
    debug_assert_eq!(grad.len(), rows * cols);
    debug_assert_eq!(pred.len(), rows * cols);
    debug_assert_eq!(target.len(), rows * cols);
    let count = (rows * cols) as f32;
    let mut sum = 0.0f64;
    for ((g, &p), &t) in grad.iter_mut().zip(pred).zip(target) {
        let d = p - t;
        sum += d as f64 * d as f64;
        *g = 2.0 * d / count;
    }
    sum / (rows * cols).max(1) as f64
}

/// Softmax cross-entropy on logits (rows, cols) with class indices `labels`
/// (rows, stored as f32, exact below 2²⁴): L = mean_r(logsumexp(z_r) - z_r\[y_r\]),
/// computed with the max subtracted. Overwrites `grad` with
/// (softmax(z) - onehot(y))/rows.
pub fn cross_entropy_forward_backward(
    grad: &mut [f32],
    logits: &[f32],
    labels: &[f32],
    rows: usize,
    cols: usize,
) -> f64 {
    debug_assert_eq!(grad.len(), rows * cols);
    debug_assert_eq!(logits.len(), rows * cols);
    debug_assert_eq!(labels.len(), rows);
    let inv_rows = 1.0 / rows.max(1) as f32;
    let mut sum = 0.0f64;
    for ((g_row, z_row), &label) in grad
        .chunks_exact_mut(cols)
        .zip(logits.chunks_exact(cols))
        .zip(labels)
    {
        let y = label as usize;
        debug_assert!(y < cols);
        let max = z_row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut total = 0.0f32;
        for (g, &z) in g_row.iter_mut().zip(z_row) {
            let e = (z - max).exp();
            *g = e;
            total += e;
        }
        sum += (total.ln() + max - z_row[y]) as f64;
        let scale = inv_rows / total;
        for g in g_row.iter_mut() {
            *g *= scale;
        }
        g_row[y] -= inv_rows;
    }
    sum / rows.max(1) as f64
}

/// Binary cross-entropy on logits (PyTorch's BCEWithLogitsLoss), mean over
/// all elements: ℓ = max(z, 0) - z·y + ln(1 + e^-|z|). Overwrites `grad`
/// with (σ(z) - y)/(rows·cols).
pub fn bce_forward_backward(
    grad: &mut [f32],
    logits: &[f32],
    target: &[f32],
    rows: usize,
    cols: usize,
) -> f64 {
    debug_assert_eq!(grad.len(), rows * cols);
    debug_assert_eq!(logits.len(), rows * cols);
    debug_assert_eq!(target.len(), rows * cols);
    let count = (rows * cols) as f32;
    let mut sum = 0.0f64;
    for ((g, &z), &y) in grad.iter_mut().zip(logits).zip(target) {
        sum += (z.max(0.0) - z * y + (-z.abs()).exp().ln_1p()) as f64;
        let sig = 1.0 / (1.0 + (-z).exp());
        *g = (sig - y) / count;
    }
    sum / (rows * cols).max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_logits_give_ln_classes() {
        let mut g = [0.0; 8];
        let l = cross_entropy_forward_backward(&mut g, &[0.0; 8], &[1.0, 3.0], 2, 4);
        assert!((l - 4f64.ln()).abs() < 1e-6);
        // each row of the gradient sums to zero
        assert!((g[..4].iter().sum::<f32>()).abs() < 1e-7);
        assert!((g[1] - (0.25 - 1.0) / 2.0).abs() < 1e-7);
    }

    #[test]
    fn large_logits_are_stable() {
        let mut g = [0.0; 2];
        let l = cross_entropy_forward_backward(&mut g, &[1000.0, -1000.0], &[1.0], 1, 2);
        assert!((l - 2000.0).abs() < 1e-3);
        let l = bce_forward_backward(&mut g, &[1000.0, -1000.0], &[0.0, 1.0], 1, 2);
        assert!((l - 1000.0).abs() < 1e-3);
        assert!(g.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn mse_is_the_mean_over_elements() {
        let mut g = [0.0; 4];
        let l = mse_forward_backward(&mut g, &[1.0, 2.0, 3.0, 4.0], &[0.0, 0.0, 0.0, 0.0], 2, 2);
        assert_eq!(l, 30.0 / 4.0);
        assert_eq!(g, [0.5, 1.0, 1.5, 2.0]);
    }
}
