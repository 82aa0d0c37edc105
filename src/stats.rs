//! Per-layer statistics of activations and gradients over the probe batch,
//! computed from arena slices in f64 and a fixed order. Nothing here
//! allocates: results go into a [`NetworkStats`] sized once by the executor.

use crate::spec::ActSpec;
use depthlab_kernels::activation::{activation_backward, derivative, unit_params};
use depthlab_kernels::reduce::{
    Moments, abs_quantile, histogram, moments, moments_each, nonzero_histogram, sq_sum,
};

/// Bins of the δ and activation histograms (odd, so 0 sits in the middle
/// bin of the δ histograms).
pub const HIST_BINS: usize = 41;
/// The δ histograms span ± this many times the largest std(δ_l) of the
/// hidden layers (the output layer's δ, softmax minus one-hot or the MSE
/// residual, has its own scale and would squeeze the hidden rows into a few
/// bins).
pub const HIST_RANGE_STDS: f64 = 4.0;
/// The activation histograms span the hidden layers' [min a, max a], cut to
/// ± this many times their largest 98th percentile of |a| (so a few large
/// ReLU outputs do not squeeze the rest).
pub const ACT_RANGE_P98S: f64 = 2.0;
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
    /// Units whose pre-activation is ≤ 0 for every probe example, for
    /// rectifiers ([`crate::spec::ActSpec::rectifies`]): dead for a ReLU,
    /// on the leak for the others.
    pub off: Option<usize>,
    pub s: Moments,
    pub delta: Moments,
    /// δ histogram counts over [-range, range] (see
    /// [`NetworkStats::hist_range`]), exact zeros left out.
    pub hist: [u64; HIST_BINS],
    /// δ values beyond that range (counted in an edge bin).
    pub hist_beyond: u64,
    /// δ values exactly 0 (where a ReLU-like f' is 0): a point mass that
    /// would flatten every other bin, so counted apart.
    pub delta_zeros: u64,
    /// Activation histogram counts over [`NetworkStats::act_range`], exact
    /// zeros left out.
    pub act_hist: [u64; HIST_BINS],
    /// Activations beyond that range (counted in an edge bin).
    pub act_beyond: u64,
    /// Activations exactly 0 (inactive ReLU-like units).
    pub act_zeros: u64,
    /// Weight histogram counts over the layer's own [min W, max W].
    pub w_hist: [u64; HIST_BINS],
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
            off: None,
            s: m,
            delta: m,
            hist: [0; HIST_BINS],
            hist_beyond: 0,
            delta_zeros: 0,
            act_hist: [0; HIST_BINS],
            act_beyond: 0,
            act_zeros: 0,
            w_hist: [0; HIST_BINS],
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
    /// The common activation histogram range (lo, hi).
    pub act_range: (f64, f64),
    /// The loss on the probe batch.
    pub loss: f64,
}

impl NetworkStats {
    /// The hidden layers 1..L-1 (all of them for a single-layer net): the
    /// ones whose δ says how the gradient travels through the depth.
    fn hidden(&self) -> &[LayerStats] {
        match self.layers.len() {
            0 | 1 => &self.layers,
            n => &self.layers[..n - 1],
        }
    }

    /// The hidden-layer factor std(δ_1)/std(δ_{L-1}): below 1 the gradient
    /// vanishes on its way down the hidden layers, above 1 it explodes.
    /// `None` with fewer than two hidden layers.
    pub fn hidden_factor(&self) -> Option<f64> {
        match self.layers.len() {
            n if n >= 3 => Some(ratio(
                self.layers[0].delta.std(),
                self.layers[n - 2].delta.std(),
            )),
            _ => None,
        }
    }

    /// The hidden-layer factor as a mean gain per hidden layer, in dB:
    /// 20·log10(factor)/(L-2), L-2 being the steps from layer L-1 down to 1.
    pub fn db_per_layer(&self) -> Option<f64> {
        let steps = self.layers.len().checked_sub(2)?;
        self.hidden_factor().map(|f| db(f) / steps as f64)
    }

    /// The output layer's step std(δ_{L-1})/std(δ_L), reported apart from
    /// the hidden factor: the output δ (softmax minus one-hot, or the MSE
    /// residual) has its own scale. `None` for a single-layer net.
    pub fn output_step(&self) -> Option<f64> {
        let n = self.layers.len();
        (n >= 2).then(|| {
            ratio(
                self.layers[n - 2].delta.std(),
                self.layers[n - 1].delta.std(),
            )
        })
    }
}

/// Mean and sample standard deviation (n − 1; 0 for one value) of
/// repeated measurements, e.g. over seeds.
///
/// ```
/// assert_eq!(depthlab::stats::mean_std(&[1.0, 3.0]), (2.0, 2f64.sqrt()));
/// assert_eq!(depthlab::stats::mean_std(&[5.0]), (5.0, 0.0));
/// ```
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

/// The median of `v` (the mean of the middle two for an even count),
/// sorting it in place.
///
/// ```
/// assert_eq!(depthlab::stats::median(&mut [3.0, 1.0, 2.0]), 2.0);
/// assert_eq!(depthlab::stats::median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
/// ```
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// A ratio of standard deviations in decibels (20·log10).
pub fn db(f: f64) -> f64 {
    20.0 * f.log10()
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
    [out.a, out.s, out.delta] = moments_each([v.a, v.s, v.delta]);
    [out.w, out.dw] = moments_each([v.w, v.dw]);
    out.b = moments(v.b);
    out.db = moments(v.db);
    out.p = moments(v.p);
    out.dp = moments(v.dp);
    out.a_p98 = abs_quantile(scratch, v.a, ACT_PERCENTILE);
    out.saturated = v
        .act
        .saturates()
        .then(|| saturated_fraction(v.act, v.a, cfg.saturation));
    out.dead = v.act.can_die().then(|| dead_units(v.a, v.units, scratch));
    out.off = v.act.rectifies().then(|| off_units(v.s, v.units, scratch));
    out.mean_sq_derivative = mean_sq_derivative(v, scratch);
    out.w_hist = [0; HIST_BINS];
    histogram(&mut out.w_hist, v.w, out.w.min, out.w.max);
    out.gain = None;
    out.gain_predicted = None;
}

/// The common ranges of the δ and activation histograms, from the hidden
/// layers' statistics, into `stats`: the first of the cross-layer
/// statistics, once every layer's are known; then each layer's
/// [`layer_histograms`] (a layer per thread), then the [`gains`].
pub fn histogram_ranges(stats: &mut NetworkStats) {
    let widest = stats
        .hidden()
        .iter()
        .map(|l| l.delta.std())
        .fold(0.0, f64::max);
    stats.hist_range = if widest.is_finite() && widest > 0.0 {
        HIST_RANGE_STDS * widest
    } else {
        1.0
    };
    stats.act_range = act_range(stats.hidden());
}

/// One layer's δ histogram over ±`hist_range` and activation histogram
/// over `act_range` (the ranges [`histogram_ranges`] set).
pub fn layer_histograms(
    l: &mut LayerStats,
    delta: &[f32],
    a: &[f32],
    hist_range: f64,
    (lo, hi): (f64, f64),
) {
    let r = hist_range;
    (l.hist, l.act_hist) = ([0; HIST_BINS], [0; HIST_BINS]);
    (l.hist_beyond, l.delta_zeros) = nonzero_histogram(&mut l.hist, delta, -r, r);
    (l.act_beyond, l.act_zeros) = nonzero_histogram(&mut l.act_hist, a, lo, hi);
}

/// Each layer's measured gain std(δ_l)/std(δ_{l+1}) and its mean-field
/// prediction, from the layers' statistics.
pub fn gains(stats: &mut NetworkStats) {
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

/// The common activation range of `hidden`: [min a, max a], cut to
/// ±[`ACT_RANGE_P98S`]·(largest p98 |a|); (-1, 1) when that is empty.
fn act_range(hidden: &[LayerStats]) -> (f64, f64) {
    let p98 = hidden.iter().map(|l| l.a_p98).fold(0.0, f64::max);
    let cut = ACT_RANGE_P98S * p98;
    let lo = hidden.iter().map(|l| l.a.min).fold(f64::INFINITY, f64::min);
    let hi = hidden
        .iter()
        .map(|l| l.a.max)
        .fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = (lo.max(-cut), hi.min(cut));
    if lo.is_finite() && hi.is_finite() && lo < hi {
        (lo, hi)
    } else {
        (-1.0, 1.0)
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
fn dead_units(a: &[f32], units: usize, scratch: &mut [f32]) -> usize {
    units_where_every_row(a, units, scratch, |y| y == 0.0)
}

/// Units (columns) whose pre-activation is ≤ 0 for every row.
fn off_units(s: &[f32], units: usize, scratch: &mut [f32]) -> usize {
    units_where_every_row(s, units, scratch, |y| y <= 0.0)
}

/// Units (columns) of the row-major `x` for which `holds` is true in every
/// row (every unit when there are no rows). Row by row, so the loop runs
/// along memory; `scratch[..units]` counts each unit's misses.
fn units_where_every_row(
    x: &[f32],
    units: usize,
    scratch: &mut [f32],
    holds: impl Fn(f32) -> bool,
) -> usize {
    if units == 0 {
        return 0;
    }
    let misses = &mut scratch[..units];
    misses.fill(0.0);
    for row in x.chunks_exact(units) {
        for (m, &y) in misses.iter_mut().zip(row) {
            // Stays > 0 once a row misses (adding 1.0 never returns to 0).
            *m += f32::from(u8::from(!holds(y)));
        }
    }
    misses.iter().filter(|&&m| m == 0.0).count()
}

/// E[f'(s)²] over the probe: f' of each unit computed into `scratch`, the
/// squares summed in f64 lanes as every other statistic. f' is the
/// backward kernel's (run on ∂L/∂a = 1, exact), the very derivative the
/// network trains with, in SIMD; one unit at a time only for activations
/// with parameters, whose ∂L/∂params the kernel would also want written.
fn mean_sq_derivative(v: &LayerView, scratch: &mut [f32]) -> f64 {
    if v.s.is_empty() {
        return 0.0;
    }
    let act = v.act.kernel();
    let d = &mut scratch[..v.s.len()];
    if act.params_per_unit() == 0 {
        d.fill(1.0);
        activation_backward(act, d, &mut [], v.s, v.a, &[], v.rows, v.units);
    } else {
        let rows = v.s.chunks_exact(v.units).zip(v.a.chunks_exact(v.units));
        for (d_row, (s_row, a_row)) in d.chunks_exact_mut(v.units).zip(rows) {
            for (j, d) in d_row.iter_mut().enumerate() {
                *d = derivative(act, s_row[j], a_row[j], unit_params(act, v.p, v.units, j));
            }
        }
    }
    sq_sum(d) / v.s.len() as f64
}
