//! Per-layer statistics of activations and gradients over the probe batch,
//! computed from arena slices in f64 and a fixed order. Nothing here
//! allocates: results go into a [`NetworkStats`] sized once by the executor.

use crate::spec::ActSpec;
use depthlab_kernels::activation::{derivative, unit_params};
use depthlab_kernels::reduce::{Moments, abs_quantile, histogram, moments};

/// Bins of the δ histograms (odd, so 0 sits in the middle bin).
pub const HIST_BINS: usize = 41;
/// The histogram spans ± this many times the largest std(δ_l) of the net.
pub const HIST_RANGE_STDS: f64 = 4.0;
/// The |a| percentile reported.
pub const ACT_PERCENTILE: f64 = 0.98;

/// Settings of the statistics.
#[derive(Clone, Copy, Debug)]
pub struct StatsConfig {
    /// tanh/softsign count as saturated when |a| > t; sigmoid when
    /// a < 1 - t or a > t.
    pub saturation: f64,
}

impl Default for StatsConfig {
    fn default() -> Self {
        StatsConfig { saturation: 0.99 }
    }
}

/// Statistics of one layer l (pre-activation s, activation a, δ = ∂L/∂s).
#[derive(Clone, Debug)]
pub struct LayerStats {
    pub a: Moments,
    /// 98th percentile of |a| (NumPy's linear interpolation).
    pub a_p98: f64,
    /// Fraction of saturated activations, for saturating activations.
    pub saturated: Option<f64>,
    /// Units whose activation is exactly 0 for every probe example, for
    /// activations whose units can die.
    pub dead: Option<usize>,
    pub s: Moments,
    pub delta: Moments,
    /// δ histogram counts over [-range, range] (see [`NetworkStats::hist_range`]).
    pub hist: [u64; HIST_BINS],
    pub w: Moments,
    pub dw: Moments,
    pub b: Moments,
    pub db: Moments,
    /// Learnable activation parameters and their gradient (empty otherwise).
    pub p: Moments,
    pub dp: Moments,
    /// E[f'(s)²] over the probe.
    pub mean_sq_derivative: f64,
    /// Measured std(δ_l)/std(δ_{l+1}); `None` for the output layer.
    pub gain: Option<f64>,
    /// Mean-field prediction √(n_{l+1}·Var(W_{l+1})·E[f'(s_l)²]).
    pub gain_predicted: Option<f64>,
}

impl Default for LayerStats {
    fn default() -> Self {
        let m = Moments::default();
        LayerStats {
            a: m,
            a_p98: 0.0,
            saturated: None,
            dead: None,
            s: m,
            delta: m,
            hist: [0; HIST_BINS],
            w: m,
            dw: m,
            b: m,
            db: m,
            p: m,
            dp: m,
            mean_sq_derivative: 0.0,
            gain: None,
            gain_predicted: None,
        }
    }
}

impl LayerStats {
    /// ‖∇W‖/‖W‖ (infinite when W is zero and its gradient is not).
    pub fn grad_ratio(&self) -> f64 {
        ratio(self.dw.norm(), self.w.norm())
    }

    /// Whether any statistic saw a NaN or an infinity.
    pub fn non_finite(&self) -> bool {
        [self.a, self.s, self.delta, self.w, self.dw]
            .iter()
            .any(|m| !(m.sq_sum.is_finite() && m.min.is_finite() && m.max.is_finite()))
    }
}

/// Statistics of the whole network on the probe batch.
#[derive(Clone, Debug, Default)]
pub struct NetworkStats {
    pub layers: Vec<LayerStats>,
    /// Half-width of the common δ histogram range.
    pub hist_range: f64,
    /// The loss on the probe batch.
    pub loss: f64,
}

impl NetworkStats {
    /// std(δ_1)/std(δ_L): below 1 the gradient vanishes toward the input.
    pub fn vanishing_factor(&self) -> f64 {
        match (self.layers.first(), self.layers.last()) {
            (Some(first), Some(last)) => ratio(first.delta.std(), last.delta.std()),
            _ => 1.0,
        }
    }
}

fn ratio(num: f64, den: f64) -> f64 {
    if den == 0.0 {
        if num == 0.0 { 0.0 } else { f64::INFINITY }
    } else {
        num / den
    }
}

/// Borrowed views of one layer's buffers.
pub struct LayerView<'a> {
    pub act: ActSpec,
    pub rows: usize,
    pub units: usize,
    pub s: &'a [f32],
    pub a: &'a [f32],
    pub delta: &'a [f32],
    pub w: &'a [f32],
    pub dw: &'a [f32],
    pub b: &'a [f32],
    pub db: &'a [f32],
    pub p: &'a [f32],
    pub dp: &'a [f32],
}

/// Fills `out` with the statistics of one layer. `scratch` holds at least
/// rows·units values and is overwritten.
pub fn layer_stats(out: &mut LayerStats, v: &LayerView, scratch: &mut [f32], cfg: &StatsConfig) {
    out.a = moments(v.a);
    out.s = moments(v.s);
    out.delta = moments(v.delta);
    out.w = moments(v.w);
    out.dw = moments(v.dw);
    out.b = moments(v.b);
    out.db = moments(v.db);
    out.p = moments(v.p);
    out.dp = moments(v.dp);
    out.a_p98 = abs_quantile(scratch, v.a, ACT_PERCENTILE);
    out.saturated = v
        .act
        .saturates()
        .then(|| saturated_fraction(v.act, v.a, cfg.saturation));
    out.dead = v.act.can_die().then(|| dead_units(v.a, v.units));
    out.mean_sq_derivative = mean_sq_derivative(v);
    out.hist = [0; HIST_BINS];
    out.gain = None;
    out.gain_predicted = None;
}

/// Fills the cross-layer statistics once every layer's are known: the common
/// histogram range, the histograms, and the measured and predicted gains.
pub fn network_stats<'a>(stats: &mut NetworkStats, deltas: impl Iterator<Item = &'a [f32]>) {
    let widest = stats
        .layers
        .iter()
        .map(|l| l.delta.std())
        .fold(0.0, f64::max);
    stats.hist_range = if widest.is_finite() && widest > 0.0 {
        HIST_RANGE_STDS * widest
    } else {
        1.0
    };
    for (l, delta) in stats.layers.iter_mut().zip(deltas) {
        histogram(&mut l.hist, delta, stats.hist_range);
    }
    let n = stats.layers.len();
    for i in 0..n.saturating_sub(1) {
        let (lower, upper) = stats.layers.split_at_mut(i + 1);
        let (l, next) = (&mut lower[i], &upper[0]);
        l.gain = Some(ratio(l.delta.std(), next.delta.std()));
        // n_{l+1} is the units of layer l+1: one bias entry per unit.
        let n_next = next.b.count as f64;
        l.gain_predicted = Some((n_next * next.w.var * l.mean_sq_derivative).sqrt());
    }
}

fn saturated_fraction(act: ActSpec, a: &[f32], t: f64) -> f64 {
    if a.is_empty() {
        return 0.0;
    }
    let t = t as f32;
    let count = match act {
        ActSpec::Sigmoid => a.iter().filter(|&&y| y < 1.0 - t || y > t).count(),
        _ => a.iter().filter(|&&y| y.abs() > t).count(),
    };
    count as f64 / a.len() as f64
}

/// Units (columns) whose activation is 0 for every row.
fn dead_units(a: &[f32], units: usize) -> usize {
    (0..units)
        .filter(|&j| a.iter().skip(j).step_by(units.max(1)).all(|&y| y == 0.0))
        .count()
}

fn mean_sq_derivative(v: &LayerView) -> f64 {
    if v.s.is_empty() {
        return 0.0;
    }
    let act = v.act.kernel();
    let mut sum = 0.0f64;
    for (s_row, a_row) in v.s.chunks_exact(v.units).zip(v.a.chunks_exact(v.units)) {
        for j in 0..v.units {
            let d = derivative(act, s_row[j], a_row[j], unit_params(act, v.p, v.units, j)) as f64;
            sum += d * d;
        }
    }
    sum / v.s.len() as f64
}
