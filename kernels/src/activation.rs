//! Element-wise activations: forward, backward (with learnable per-unit
//! parameters for PReLU and SReLU) and the derivative used by statistics.
//!
//! Conventions follow PyTorch where PyTorch has the function: relu'(0) = 0,
//! leaky_relu'(0) = a, elu'(0) = α (the `x <= 0` branch), softplus is linear
//! above 20 (PyTorch's `threshold`), gelu is the erf form.
//!
//! The element-wise `apply`/`derivative`/`param_derivative` are the scalar
//! definitions (statistics and `reference` use them); `activation_forward`
//! and `activation_backward` are the SIMD kernels over slices, built on the
//! functions of `crate::simd` whose errors that module measures.

use crate::simd::{self, LANES, Vf, load, load_padded, mul_add, splat, store, store_partial};

/// SELU's scale λ (Klambauer et al. 2017; PyTorch's constant).
pub const SELU_LAMBDA: f32 = 1.050_701;
/// SELU's α (Klambauer et al. 2017; PyTorch's constant).
pub const SELU_ALPHA: f32 = 1.673_263_2;
/// Softplus is linear above this input, as PyTorch's `threshold=20`.
pub const SOFTPLUS_THRESHOLD: f32 = 20.0;

/// An activation function f applied element-wise to a (rows, cols) matrix
/// whose columns are units.
///
/// `Prelu` and `Srelu` carry learnable per-unit parameters, stored as
/// parameter-major blocks of `cols` values: PReLU `[a]`, SReLU
/// `[t_l, a_l, t_r, a_r]` (so SReLU's parameter slice has `4 * cols` values).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    Identity,
    Sigmoid,
    Tanh,
    Softsign,
    Relu,
    LeakyRelu { slope: f32 },
    Prelu,
    Elu { alpha: f32 },
    Selu,
    Srelu,
    Softplus,
    Gelu,
    Silu,
}

impl Activation {
    /// Every activation once, the parametrized ones with PyTorch's default
    /// constants (leaky_relu slope 0.01, elu α = 1).
    pub const ALL: [Activation; 13] = [
        Activation::Identity,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Softsign,
        Activation::Relu,
        Activation::LeakyRelu { slope: 0.01 },
        Activation::Prelu,
        Activation::Elu { alpha: 1.0 },
        Activation::Selu,
        Activation::Srelu,
        Activation::Softplus,
        Activation::Gelu,
        Activation::Silu,
    ];

    /// Number of learnable parameters per unit (0 for fixed activations).
    pub fn params_per_unit(self) -> usize {
        match self {
            Activation::Prelu => 1,
            Activation::Srelu => 4,
            _ => 0,
        }
    }

    /// Whether [`activation_backward`] reads the output `a` (sigmoid, tanh
    /// and relu, as PyTorch) rather than the input `s`.
    pub fn backward_uses_output(self) -> bool {
        matches!(
            self,
            Activation::Sigmoid | Activation::Tanh | Activation::Relu
        )
    }

    /// The spec-language name (`leaky_relu`).
    pub fn name(self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Softsign => "softsign",
            Activation::Relu => "relu",
            Activation::LeakyRelu { .. } => "leaky_relu",
            Activation::Prelu => "prelu",
            Activation::Elu { .. } => "elu",
            Activation::Selu => "selu",
            Activation::Srelu => "srelu",
            Activation::Softplus => "softplus",
            Activation::Gelu => "gelu",
            Activation::Silu => "silu",
        }
    }
}

/// The per-unit parameters of one column, gathered from the parameter-major
/// slice (unused entries are 0).
#[inline]
pub fn unit_params(act: Activation, params: &[f32], cols: usize, j: usize) -> [f32; 4] {
    let mut p = [0.0; 4];
    for (k, v) in p.iter_mut().enumerate().take(act.params_per_unit()) {
        *v = params[k * cols + j];
    }
    p
}

#[inline]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Standard normal cdf Φ(x) through erf, in f32 as PyTorch's CPU kernel.
#[inline]
fn normal_cdf(x: f32) -> f32 {
    0.5 * (1.0 + libm::erff(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// f(x) for one element with the unit's parameters `p`.
#[inline]
pub fn apply(act: Activation, x: f32, p: [f32; 4]) -> f32 {
    match act {
        Activation::Identity => x,
        Activation::Sigmoid => sigmoid(x),
        Activation::Tanh => x.tanh(),
        Activation::Softsign => x / (1.0 + x.abs()),
        Activation::Relu => x.max(0.0),
        Activation::LeakyRelu { slope } => {
            if x > 0.0 {
                x
            } else {
                x * slope
            }
        }
        Activation::Prelu => {
            if x > 0.0 {
                x
            } else {
                x * p[0]
            }
        }
        Activation::Elu { alpha } => {
            if x > 0.0 {
                x
            } else {
                alpha * x.exp_m1()
            }
        }
        Activation::Selu => {
            if x > 0.0 {
                SELU_LAMBDA * x
            } else {
                SELU_LAMBDA * SELU_ALPHA * x.exp_m1()
            }
        }
        Activation::Srelu => {
            let [tl, al, tr, ar] = p;
            if x >= tr {
                tr + ar * (x - tr)
            } else if x <= tl {
                tl + al * (x - tl)
            } else {
                x
            }
        }
        Activation::Softplus => {
            if x > SOFTPLUS_THRESHOLD {
                x
            } else {
                x.exp().ln_1p()
            }
        }
        Activation::Gelu => x * normal_cdf(x),
        Activation::Silu => x * sigmoid(x),
    }
}

/// f'(x) for one element, given x, its output y = f(x) and the unit's
/// parameters (sigmoid, tanh and relu use y, as PyTorch's backward does).
#[inline]
pub fn derivative(act: Activation, x: f32, y: f32, p: [f32; 4]) -> f32 {
    match act {
        Activation::Identity => 1.0,
        // dσ/dx = σ(1 - σ) ≤ 1/4
        Activation::Sigmoid => y * (1.0 - y),
        // dtanh/dx = 1 - tanh²
        Activation::Tanh => 1.0 - y * y,
        // d/dx x/(1+|x|) = 1/(1+|x|)²
        Activation::Softsign => {
            let d = 1.0 + x.abs();
            1.0 / (d * d)
        }
        Activation::Relu => {
            if y > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Activation::LeakyRelu { slope } => {
            if x > 0.0 {
                1.0
            } else {
                slope
            }
        }
        Activation::Prelu => {
            if x > 0.0 {
                1.0
            } else {
                p[0]
            }
        }
        // x <= 0: α e^x
        Activation::Elu { alpha } => {
            if x > 0.0 {
                1.0
            } else {
                alpha * x.exp()
            }
        }
        Activation::Selu => {
            if x > 0.0 {
                SELU_LAMBDA
            } else {
                SELU_LAMBDA * SELU_ALPHA * x.exp()
            }
        }
        Activation::Srelu => {
            let [tl, al, tr, ar] = p;
            if x >= tr {
                ar
            } else if x <= tl {
                al
            } else {
                1.0
            }
        }
        // d/dx ln(1+e^x) = e^x/(1+e^x), written as PyTorch's z/(z+1)
        Activation::Softplus => {
            if x > SOFTPLUS_THRESHOLD {
                1.0
            } else {
                let z = x.exp();
                z / (z + 1.0)
            }
        }
        // d/dx xΦ(x) = Φ(x) + x φ(x)
        Activation::Gelu => {
            let pdf = (-0.5 * x * x).exp()
                * (0.5 * std::f32::consts::FRAC_2_SQRT_PI)
                * std::f32::consts::FRAC_1_SQRT_2;
            normal_cdf(x) + x * pdf
        }
        // d/dx xσ(x) = σ(1 + x(1 - σ))
        Activation::Silu => {
            let s = sigmoid(x);
            s * (1.0 + x * (1.0 - s))
        }
    }
}

/// ∂f/∂p for the unit's learnable parameters at one element, in the order of
/// [`unit_params`] (zeros where f has no parameter there).
#[inline]
pub fn param_derivative(act: Activation, x: f32, p: [f32; 4]) -> [f32; 4] {
    match act {
        // ∂/∂a (x ≤ 0 branch a·x) = x
        Activation::Prelu => [if x > 0.0 { 0.0 } else { x }, 0.0, 0.0, 0.0],
        Activation::Srelu => {
            let [tl, al, tr, ar] = p;
            if x >= tr {
                // f = t_r + a_r (x - t_r): ∂t_r = 1 - a_r, ∂a_r = x - t_r
                [0.0, 0.0, 1.0 - ar, x - tr]
            } else if x <= tl {
                // f = t_l + a_l (x - t_l): ∂t_l = 1 - a_l, ∂a_l = x - t_l
                [1.0 - al, x - tl, 0.0, 0.0]
            } else {
                [0.0; 4]
            }
        }
        _ => [0.0; 4],
    }
}

// ---------------------------------------------------------------------------
// SIMD kernels (scalar twins: `reference::activation_forward/_backward`)

/// λ·α, rounded to f32 once as the scalar `apply` does (Rust folds
/// `SELU_LAMBDA * SELU_ALPHA` with f32 semantics).
const SELU_LAMBDA_ALPHA: f32 = SELU_LAMBDA * SELU_ALPHA;

/// σ(x) = 1/(1 + e^−x), the scalar formula with the vector exp.
#[inline(always)]
fn sigmoid_v(x: Vf) -> Vf {
    quotient_by_1p(Numerator::One, -x)
}

/// The numerator of [`quotient_by_1p`].
#[derive(Clone, Copy)]
enum Numerator {
    One,
    /// e^y itself: e^y/(1 + e^y).
    Exp,
    Given(Vf),
}

/// n/(1 + e^y): the quotient of sigmoid, silu and softplus' derivative, by
/// [`simd::recip`]/[`simd::div`] rather than `vdivps`.
///
/// When every |y| ≤ 86.5, 1 + e^y < 2^126 is within their range. Otherwise
/// each lane with 1 + e^y ≥ 2^126 (a subnormal or zero quotient) or an
/// infinite numerator takes the IEEE division, and the other lanes the same
/// operations as the fast path: a lane's result depends on its values only.
#[inline(always)]
fn quotient_by_1p(n: Numerator, y: Vf) -> Vf {
    let q = |e: Vf, d: Vf| match n {
        Numerator::One => simd::recip(d),
        Numerator::Exp => simd::div(e, d),
        Numerator::Given(n) => simd::div(n, d),
    };
    if simd::exp_fast_ok(y) {
        let e = simd::exp_in_range(y);
        return q(e, splat(1.0) + e);
    }
    let e = simd::exp(y);
    let d = splat(1.0) + e;
    let num = match n {
        Numerator::One => splat(1.0),
        Numerator::Exp => e,
        Numerator::Given(n) => n,
    };
    // (MAX first: a NaN d stays NaN through the min.)
    let fast = q(e, splat(simd::RECIP_MAX).fast_min(d));
    let ieee = d.simd_ge(splat(simd::RECIP_MAX)) | num.abs().simd_eq(splat(f32::INFINITY));
    ieee.select(num / d, fast)
}

/// 1 where x > 0, else `other`: the derivative of a ReLU-family kink with
/// PyTorch's convention f'(0) = the left slope.
#[inline(always)]
fn pos_or(x: Vf, other: Vf) -> Vf {
    x.simd_gt(splat(0.0)).select(splat(1.0), other)
}

/// out = f(out, x) over two slices of equal length, vector by vector: full
/// vectors, then the tail through the same `f` on zero-padded vectors.
/// (Where `f` ignores `out`, its loads are dead and compiled away.)
#[inline(always)]
fn zip_map(out: &mut [f32], x: &[f32], f: impl Fn(Vf, Vf) -> Vf) {
    // Two vectors per iteration: their long dependency chains (an exp is
    // ~15 dependent operations) interleave.
    let mut o2 = out.chunks_exact_mut(2 * LANES);
    let mut i2 = x.chunks_exact(2 * LANES);
    for (oc, ic) in (&mut o2).zip(&mut i2) {
        let y0 = f(load(oc), load(ic));
        let y1 = f(load(&oc[LANES..]), load(&ic[LANES..]));
        store(oc, y0);
        store(&mut oc[LANES..], y1);
    }
    let mut o = o2.into_remainder().chunks_exact_mut(LANES);
    let mut i = i2.remainder().chunks_exact(LANES);
    for (oc, ic) in (&mut o).zip(&mut i) {
        store(oc, f(load(oc), load(ic)));
    }
    let tail = i.remainder();
    if !tail.is_empty() {
        let ot = o.into_remainder();
        store_partial(ot, f(load_padded(ot, 0.0), load_padded(tail, 0.0)));
    }
}

/// out = f(x) over two slices of equal length.
#[inline(always)]
fn map(out: &mut [f32], x: &[f32], f: impl Fn(Vf) -> Vf) {
    zip_map(out, x, |_, v| f(v));
}

/// v = f(v), vector by vector as [`zip_map`] (two per iteration, then one,
/// then the tail zero-padded), so each lane sees what `map` gives it.
#[inline(always)]
fn map_in_place(v: &mut [f32], f: impl Fn(Vf) -> Vf) {
    let mut v2 = v.chunks_exact_mut(2 * LANES);
    for c in &mut v2 {
        let y0 = f(load(c));
        let y1 = f(load(&c[LANES..]));
        store(c, y0);
        store(&mut c[LANES..], y1);
    }
    let mut v1 = v2.into_remainder().chunks_exact_mut(LANES);
    for c in &mut v1 {
        store(c, f(load(c)));
    }
    let tail = v1.into_remainder();
    if !tail.is_empty() {
        store_partial(tail, f(load_padded(tail, 0.0)));
    }
}

/// d = d ⊙ f'(x) in place, `deriv` giving f'(x): the same product the scalar
/// twin forms (so inf/NaN gradients behave the same).
#[inline(always)]
fn scale_by(d: &mut [f32], x: &[f32], deriv: impl Fn(Vf) -> Vf) {
    zip_map(d, x, |g, v| g * deriv(v));
}

/// Calls `f(j, width)` for the column blocks of one row: full vectors at
/// j = 0, 16, …, then one block of the remaining width (< 16).
#[inline(always)]
fn col_blocks(cols: usize, mut f: impl FnMut(usize, usize)) {
    let full = cols - cols % LANES;
    for j in (0..full).step_by(LANES) {
        f(j, LANES);
    }
    if full < cols {
        f(full, cols - full);
    }
}

/// Loads `width` (≤ 16) values at `x[j..]`, zero-padded.
#[inline(always)]
fn load_at(x: &[f32], j: usize, width: usize) -> Vf {
    if width == LANES {
        load(&x[j..])
    } else {
        load_padded(&x[j..j + width], 0.0)
    }
}

#[inline(always)]
fn store_at(out: &mut [f32], j: usize, width: usize, v: Vf) {
    if width == LANES {
        store(&mut out[j..], v);
    } else {
        store_partial(&mut out[j..j + width], v);
    }
}

/// SReLU on one vector with the unit parameters of its lanes.
#[inline(always)]
fn srelu_v(x: Vf, tl: Vf, al: Vf, tr: Vf, ar: Vf) -> Vf {
    let right = tr + ar * (x - tr);
    let left = tl + al * (x - tl);
    let inner = x.simd_le(tl).select(left, x);
    x.simd_ge(tr).select(right, inner)
}

/// a = f(s), element-wise. `a`, `s`: (rows, cols), overwrites `a`.
/// `params`: the per-unit parameters, parameter-major (`params_per_unit ×
/// cols` values: PReLU `[a]`, SReLU `[t_l, a_l, t_r, a_r]`), empty otherwise.
///
/// Each element's result depends only on its value (and its unit's
/// parameters): tails run through the same vector code on padded lanes.
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
    match act {
        Activation::Identity => a.copy_from_slice(s),
        Activation::Prelu => {
            let slope = &params[..cols];
            for (a_row, s_row) in a
                .chunks_exact_mut(cols.max(1))
                .zip(s.chunks_exact(cols.max(1)))
            {
                col_blocks(cols, |j, w| {
                    let x = load_at(s_row, j, w);
                    let y = x.simd_gt(splat(0.0)).select(x, x * load_at(slope, j, w));
                    store_at(a_row, j, w, y);
                });
            }
        }
        Activation::Srelu => {
            let (tl, rest) = params.split_at(cols);
            let (al, rest) = rest.split_at(cols);
            let (tr, ar) = rest.split_at(cols);
            for (a_row, s_row) in a
                .chunks_exact_mut(cols.max(1))
                .zip(s.chunks_exact(cols.max(1)))
            {
                col_blocks(cols, |j, w| {
                    let x = load_at(s_row, j, w);
                    let (p0, p1) = (load_at(tl, j, w), load_at(al, j, w));
                    let (p2, p3) = (load_at(tr, j, w), load_at(ar, j, w));
                    store_at(a_row, j, w, srelu_v(x, p0, p1, p2, p3));
                });
            }
        }
        act => param_free_forward(act, Other { out: a, x: s }),
    }
}

/// v = f(v) in place, for an activation without parameters (the training
/// plan's gemm epilogue when s is not kept: see `compile`). The bits equal
/// those of [`activation_forward`] into another buffer.
///
/// ```
/// use depthlab_kernels::Activation;
/// use depthlab_kernels::activation::activation_forward_in_place;
/// let mut v = [-1.0f32, 2.0];
/// activation_forward_in_place(Activation::Relu, &mut v);
/// assert_eq!(v, [0.0, 2.0]);
/// ```
///
/// # Panics
///
/// If `act` has parameters (PReLU, SReLU).
pub fn activation_forward_in_place(act: Activation, v: &mut [f32]) {
    assert_eq!(act.params_per_unit(), 0, "{} has parameters", act.name());
    if act != Activation::Identity {
        param_free_forward(act, InPlace(v));
    }
}

/// Where an element-wise map reads and writes: another buffer or in place.
trait Target {
    fn map(self, f: impl Fn(Vf) -> Vf);
}

/// out = f(x).
struct Other<'a> {
    out: &'a mut [f32],
    x: &'a [f32],
}

impl Target for Other<'_> {
    #[inline(always)]
    fn map(self, f: impl Fn(Vf) -> Vf) {
        map(self.out, self.x, f);
    }
}

/// v = f(v).
struct InPlace<'a>(&'a mut [f32]);

impl Target for InPlace<'_> {
    #[inline(always)]
    fn map(self, f: impl Fn(Vf) -> Vf) {
        map_in_place(self.0, f);
    }
}

/// The activations without parameters, through `to`.
#[inline(always)]
fn param_free_forward(act: Activation, to: impl Target) {
    match act {
        Activation::Sigmoid => to.map(sigmoid_v),
        Activation::Tanh => to.map(simd::tanh),
        Activation::Softsign => to.map(|x| x / (splat(1.0) + x.abs())),
        // max(x, 0) with f32::max's NaN rule (a NaN input gives 0), as `apply`.
        Activation::Relu => to.map(|x| x.fast_max(splat(0.0))),
        Activation::LeakyRelu { slope } => {
            let k = splat(slope);
            to.map(|x| x.simd_gt(splat(0.0)).select(x, x * k))
        }
        Activation::Elu { alpha } => {
            let k = splat(alpha);
            to.map(|x| x.simd_gt(splat(0.0)).select(x, k * simd::expm1(x)))
        }
        Activation::Selu => to.map(|x| {
            let neg = splat(SELU_LAMBDA_ALPHA) * simd::expm1(x);
            x.simd_gt(splat(0.0)).select(splat(SELU_LAMBDA) * x, neg)
        }),
        // ln(1 + e^x) = max(x, 0) + ln(1 + e^−|x|) (no overflow, no
        // cancellation), linear above the threshold as PyTorch.
        Activation::Softplus => to.map(|x| {
            let sp = x.fast_max(splat(0.0)) + simd::log1p_unit(simd::exp(-x.abs()));
            x.simd_gt(splat(SOFTPLUS_THRESHOLD)).select(x, sp)
        }),
        Activation::Gelu => to.map(|x| x * simd::normal_cdf(x)),
        // x·σ(x) as x/(1 + e^−x): one rounding fewer than x·(1/(1 + e^−x)).
        Activation::Silu => to.map(|x| quotient_by_1p(Numerator::Given(x), -x)),
        Activation::Identity | Activation::Prelu | Activation::Srelu => {
            unreachable!("{} is not a parameter-free map", act.name())
        }
    }
}

/// Backward through f. `delta`: (rows, cols), ∂L/∂a on entry, ∂L/∂s =
/// ∂L/∂a ⊙ f'(s) on exit (overwrites in place). `dparams` accumulates
/// ∂L/∂params (same layout as `params`), summed over rows in increasing row
/// order per unit, so the result depends only on the data. `s`, `a`: the
/// forward's input and output; sigmoid, tanh and relu use `a` (as
/// PyTorch), the others `s`.
// Eight arguments in STYLE.md's order, outputs → inputs → dims: grouping
// the slices would hide which ones the kernel writes.
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
    match act {
        // f' = 1: δ is already ∂L/∂s.
        Activation::Identity => {}
        // dσ/dx = σ(1 − σ)
        Activation::Sigmoid => scale_by(delta, a, |y| y * (splat(1.0) - y)),
        // dtanh/dx = 1 − tanh² (unfused, as the scalar twin)
        Activation::Tanh => scale_by(delta, a, |y| splat(1.0) - y * y),
        // d/dx x/(1+|x|) = 1/(1+|x|)²
        Activation::Softsign => scale_by(delta, s, |x| {
            let d = splat(1.0) + x.abs();
            splat(1.0) / (d * d)
        }),
        // relu(s) > 0 exactly where s > 0 (relu(NaN) is 0); reading the
        // output, as PyTorch's threshold_backward does, finds the buffer the
        // ∂W product just read still in cache.
        Activation::Relu => scale_by(delta, a, |y| pos_or(y, splat(0.0))),
        Activation::LeakyRelu { slope } => scale_by(delta, s, |x| pos_or(x, splat(slope))),
        // x ≤ 0: α e^x
        Activation::Elu { alpha } => scale_by(delta, s, |x| pos_or(x, splat(alpha) * simd::exp(x))),
        Activation::Selu => scale_by(delta, s, |x| {
            let neg = splat(SELU_LAMBDA_ALPHA) * simd::exp(x);
            x.simd_gt(splat(0.0)).select(splat(SELU_LAMBDA), neg)
        }),
        // e^x/(1 + e^x) as z/(z + 1), 1 above the threshold
        Activation::Softplus => scale_by(delta, s, |x| {
            let z = quotient_by_1p(Numerator::Exp, x);
            x.simd_gt(splat(SOFTPLUS_THRESHOLD)).select(splat(1.0), z)
        }),
        // d/dx xΦ(x) = Φ(x) + x φ(x)
        Activation::Gelu => scale_by(delta, s, |x| {
            let (cdf, gauss) = simd::normal_cdf_and_gauss(x);
            mul_add(x, simd::normal_pdf_from_gauss(gauss), cdf)
        }),
        // d/dx xσ(x) = σ(1 + x(1 − σ))
        Activation::Silu => scale_by(delta, s, |x| {
            let sg = sigmoid_v(x);
            sg * (splat(1.0) + x * (splat(1.0) - sg))
        }),
        Activation::Prelu => prelu_backward(delta, dparams, s, params, cols),
        Activation::Srelu => srelu_backward(delta, dparams, s, params, cols),
    }
}

/// PReLU's backward (see [`activation_backward`]): δ ⊙= f'(s), and
/// ∂L/∂a accumulated per unit.
fn prelu_backward(delta: &mut [f32], dparams: &mut [f32], s: &[f32], params: &[f32], cols: usize) {
    let slope = &params[..cols];
    for (d_rows, s_rows) in row_blocks(delta, s, cols) {
        // Column blocks outside, rows inside: the accumulator stays in a
        // register and still adds row after row.
        let mut j = 0;
        while j < cols {
            let w = LANES.min(cols - j);
            let a = load_at(slope, j, w);
            let mut acc = load_at(dparams, j, w);
            for (d_row, s_row) in d_rows.chunks_exact_mut(cols).zip(s_rows.chunks_exact(cols)) {
                let (g, x) = (load_at(d_row, j, w), load_at(s_row, j, w));
                let pos = x.simd_gt(splat(0.0));
                // ∂/∂a (x ≤ 0 branch a·x) = x
                acc += g * pos.select(splat(0.0), x);
                store_at(d_row, j, w, g * pos.select(splat(1.0), a));
            }
            store_at(dparams, j, w, acc);
            j += w;
        }
    }
}

/// SReLU's backward (see [`activation_backward`]): δ ⊙= f'(s), and
/// ∂L/∂(t_l, a_l, t_r, a_r) accumulated per unit.
fn srelu_backward(delta: &mut [f32], dparams: &mut [f32], s: &[f32], params: &[f32], cols: usize) {
    let (tl, rest) = params.split_at(cols);
    let (al, rest) = rest.split_at(cols);
    let (tr, ar) = rest.split_at(cols);
    let (dtl, rest) = dparams.split_at_mut(cols);
    let (dal, rest) = rest.split_at_mut(cols);
    let (dtr, dar) = rest.split_at_mut(cols);
    for (d_rows, s_rows) in row_blocks(delta, s, cols) {
        let mut j = 0;
        while j < cols {
            let w = LANES.min(cols - j);
            let (p_tl, p_al) = (load_at(tl, j, w), load_at(al, j, w));
            let (p_tr, p_ar) = (load_at(tr, j, w), load_at(ar, j, w));
            let (one_m_al, one_m_ar) = (splat(1.0) - p_al, splat(1.0) - p_ar);
            let (mut a_tl, mut a_al) = (load_at(dtl, j, w), load_at(dal, j, w));
            let (mut a_tr, mut a_ar) = (load_at(dtr, j, w), load_at(dar, j, w));
            for (d_row, s_row) in d_rows.chunks_exact_mut(cols).zip(s_rows.chunks_exact(cols)) {
                let (g, x) = (load_at(d_row, j, w), load_at(s_row, j, w));
                // The scalar twin's branch order: x ≥ t_r first, then x ≤ t_l.
                let right = x.simd_ge(p_tr);
                let left = !right & x.simd_le(p_tl);
                let zero = splat(0.0);
                // f = t_l + a_l (x − t_l): ∂t_l = 1 − a_l, ∂a_l = x − t_l;
                // f = t_r + a_r (x − t_r): ∂t_r = 1 − a_r, ∂a_r = x − t_r.
                a_tl += g * left.select(one_m_al, zero);
                a_al += g * left.select(x - p_tl, zero);
                a_tr += g * right.select(one_m_ar, zero);
                a_ar += g * right.select(x - p_tr, zero);
                let d = right.select(p_ar, left.select(p_al, splat(1.0)));
                store_at(d_row, j, w, g * d);
            }
            store_at(dtl, j, w, a_tl);
            store_at(dal, j, w, a_al);
            store_at(dtr, j, w, a_tr);
            store_at(dar, j, w, a_ar);
            j += w;
        }
    }
}

/// Rows per block of [`row_blocks`]: 8 rows of δ and s (64 KB at 1024
/// columns) stay in L1/L2 while their column blocks are visited.
const ROW_BLOCK: usize = 8;

/// (δ rows, s rows) in blocks of up to [`ROW_BLOCK`] whole rows, in order.
/// The parametrized backward kernels visit each block column block by column
/// block, keeping the per-unit ∂L/∂params sums in registers across the rows
/// of the block while still adding row after row (the scalar twin's order).
#[inline(always)]
fn row_blocks<'a>(
    delta: &'a mut [f32],
    s: &'a [f32],
    cols: usize,
) -> impl Iterator<Item = (&'a mut [f32], &'a [f32])> {
    let block = ROW_BLOCK * cols.max(1);
    delta.chunks_mut(block).zip(s.chunks(block))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivative_matches_central_difference_in_f64_scale() {
        // Points away from kinks; h chosen for f32 (error ~ h² f''' + ε/h).
        let p = [-0.5, 0.2, 1.0, 0.7];
        for act in Activation::ALL {
            for &x in &[-3.1f32, -0.7, -0.2, 0.3, 0.6, 1.8, 4.2] {
                let h = 1e-2f32;
                let fd =
                    (apply(act, x + h, p) as f64 - apply(act, x - h, p) as f64) / (2.0 * h as f64);
                let d = derivative(act, x, apply(act, x, p), p) as f64;
                assert!(
                    (fd - d).abs() <= 2e-3 * (1.0 + d.abs()),
                    "{act:?} at {x}: analytic {d}, numeric {fd}"
                );
            }
        }
    }

    #[test]
    fn pytorch_conventions_at_zero_and_constants() {
        let p = [0.0; 4];
        assert_eq!(derivative(Activation::Relu, 0.0, 0.0, p), 0.0);
        assert_eq!(
            derivative(Activation::LeakyRelu { slope: 0.01 }, 0.0, 0.0, p),
            0.01
        );
        assert_eq!(derivative(Activation::Elu { alpha: 1.0 }, 0.0, 0.0, p), 1.0);
        assert_eq!(apply(Activation::Softplus, 30.0, p), 30.0);
        // selu(1) = λ, selu(-∞) → -λα ≈ -1.7581
        assert_eq!(apply(Activation::Selu, 1.0, p), SELU_LAMBDA);
        assert!((apply(Activation::Selu, -50.0, p) + 1.758_099_3).abs() < 1e-6);
        // gelu(1) = Φ(1) = 0.8413447
        assert!((apply(Activation::Gelu, 1.0, p) - 0.841_344_7).abs() < 1e-6);
        // sigmoid' peaks at 1/4
        let y = apply(Activation::Sigmoid, 0.0, p);
        assert_eq!(derivative(Activation::Sigmoid, 0.0, y, p), 0.25);
    }

    // --- SIMD kernels against the scalar twins in `reference` -------------

    use crate::reference;
    use crate::simd::tests::ulp_of;

    /// Every activation, with non-default constants for the parametrized ones.
    const KERNEL_CASES: [Activation; 15] = [
        Activation::Identity,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Softsign,
        Activation::Relu,
        Activation::LeakyRelu { slope: 0.01 },
        Activation::LeakyRelu { slope: -0.3 },
        Activation::Prelu,
        Activation::Elu { alpha: 1.0 },
        Activation::Elu { alpha: 0.37 },
        Activation::Selu,
        Activation::Srelu,
        Activation::Softplus,
        Activation::Gelu,
        Activation::Silu,
    ];
    const SIZES: [usize; 11] = [0, 1, 7, 8, 9, 15, 16, 17, 63, 65, 1000];

    /// Deterministic values in [0, 1).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f32 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 40) as f32 / (1u64 << 24) as f32
        }
    }

    /// Inputs: uniform on [−30, 30], every 5th one a special value.
    fn inputs(n: usize, seed: u64) -> Vec<f32> {
        const SPECIAL: [f32; 28] = [
            0.0,
            -0.0,
            1e-30,
            -1e-30,
            1e-40,
            -1e-40,
            1e-7,
            -1e-7,
            0.5,
            -0.5,
            20.0,
            20.000002,
            -20.0,
            88.0,
            -88.0,
            -87.5,
            100.0,
            -100.0,
            1e30,
            -1e30,
            f32::MAX,
            f32::MIN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            -0.7518,
            -1.2785,
            1.0,
        ];
        let mut r = Lcg(seed);
        (0..n)
            .map(|i| {
                if i % 5 == 4 {
                    SPECIAL[(r.next() * SPECIAL.len() as f32) as usize % SPECIAL.len()]
                } else {
                    60.0 * r.next() - 30.0
                }
            })
            .collect()
    }

    /// Per-unit parameters: PReLU slopes in [−0.5, 1.5]; SReLU t_l ∈ [−2, 0],
    /// a_l ∈ [0, 0.5], t_r ∈ [0, 3], a_r ∈ [0.5, 1.5] (t_l > t_r happens
    /// for some units, which exercises the branch order).
    fn params_for(act: Activation, cols: usize, seed: u64) -> Vec<f32> {
        let mut r = Lcg(seed ^ 0x5eed);
        match act {
            Activation::Prelu => (0..cols).map(|_| 2.0 * r.next() - 0.5).collect(),
            Activation::Srelu => {
                let mut p = vec![0.0; 4 * cols];
                for j in 0..cols {
                    p[j] = -2.0 * r.next();
                    p[cols + j] = 0.5 * r.next();
                    p[2 * cols + j] = 3.0 * r.next() - 0.5;
                    p[3 * cols + j] = 0.5 + r.next();
                }
                p
            }
            _ => Vec::new(),
        }
    }

    fn sigma64(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    /// Absolute slack where the scalar formula itself cancels (0 elsewhere).
    /// `x` the input, `g` the incoming gradient (backward only).
    fn floor(act: Activation, backward: bool, x: f32, g: f32) -> f64 {
        let (x, g) = (x as f64, g.abs() as f64);
        match (act, backward) {
            // The reference forms Φ = ½(1 + erf(x/√2)): for x < 0, erf rounds
            // at |erf| ≥ ½ with ulp 2^-24, leaving Φ an absolute error up to
            // 2^-25 (e.g. Φ = 0 below x ≈ −5.5 where the true Φ is ~1e-8),
            // so x·Φ is off by |x|·2^-25. Twice that.
            (Activation::Gelu, false) if x < 0.0 => x.abs() * 2f64.powi(-24),
            // Φ + xφ: the same 2^-25 in Φ, plus exp(−0.5·x·x) rounding x·x, a
            // relative error ≤ x²·2^-25 in φ, i.e. ≤ |x|³φ(x)·2^-25 ≤ 0.47·2^-25
            // absolute in xφ; and near x ≈ −0.75, where Φ + xφ = 0, both terms
            // (≈ 0.23) carry rounding errors of 2^-26. Sum < 2^-23; floor 2^-22.
            (Activation::Gelu, true) if x < 0.0 => g * 2f64.powi(-22),
            // σ(1 + x(1 − σ)) cancels near x ≈ −1.28: σ's error (≤ 2 ulp,
            // 2^-23 σ) times |x|, plus the rounding of x(1 − σ) ≈ −1 (2^-24),
            // times σ. Floor σ(1 + |x|)·2^-22.
            // Below x ≈ −16.6, 1 + e^−x ≥ 2^24 absorbs the 1 (a rounding tie in
            // [2^24, 2^25)): the twin's σ carries up to 2^-24 relative from
            // that alone and its x·σ another 2^-24 (our x/(1 + e^−x) rounds
            // once); measured up to 5 ulp apart. Floor: 2^-23 relative. Below
            // x ≈ −87.3 the twin's σ is subnormal, rounded to 2^-149 before
            // the product by x: |x|·2^-149 more.
            (Activation::Silu, false) if x < -16.6 => {
                x.abs() * (sigma64(x) * 2f64.powi(-23) + 2f64.powi(-149))
            }
            (Activation::Silu, true) if x < 0.0 => {
                g * sigma64(x) * (1.0 + x.abs()) * 2f64.powi(-22)
            }
            _ => 0.0,
        }
    }

    /// Compares kernel output to the reference: ≤ 4 ulp of the reference
    /// value plus the floor. Returns (max ulp over normal results without a
    /// floor, max fraction of the tolerance used over all elements).
    fn check(what: &str, got: &[f32], want: &[f32], slack: impl Fn(usize) -> f64) -> (f64, f64) {
        let (mut worst_ulp, mut worst_frac) = (0.0f64, 0.0f64);
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            if g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()) || g == w {
                continue;
            }
            assert!(
                g.is_finite() && w.is_finite(),
                "{what}[{i}]: got {g:e}, want {w:e}"
            );
            let diff = (g as f64 - w as f64).abs();
            let ulp = ulp_of(w as f64);
            let fl = slack(i);
            let tol = 4.0 * ulp + fl;
            assert!(
                diff <= tol,
                "{what}[{i}]: got {g:e}, want {w:e} ({:.2} ulp, floor {fl:e})",
                diff / ulp
            );
            // Normal results only: in the subnormal range an ulp is 2^-149
            // absolute and the reference's own rounding there is coarser.
            if fl == 0.0 && w.abs() >= f32::MIN_POSITIVE {
                worst_ulp = worst_ulp.max(diff / ulp);
            }
            worst_frac = worst_frac.max(diff / tol);
        }
        (worst_ulp, worst_frac)
    }

    /// Equal bits, or both NaN (IEEE leaves the payload and sign of a NaN
    /// from two NaN operands to the hardware and the operand order LLVM
    /// picks for a commutative add).
    fn same_bits(x: f32, y: f32) -> bool {
        x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
    }

    /// Activations whose kernels use exactly the scalar operations (no exp):
    /// those must match bit for bit, forward and backward.
    fn bit_exact(act: Activation, backward: bool) -> bool {
        matches!(
            act,
            Activation::Identity
                | Activation::Softsign
                | Activation::Relu
                | Activation::LeakyRelu { .. }
                | Activation::Prelu
                | Activation::Srelu
        ) || (backward && matches!(act, Activation::Sigmoid | Activation::Tanh))
    }

    /// One comparison: `rows`×`cols` values starting `offset` floats into
    /// larger buffers (misaligned slices).
    struct Case {
        act: Activation,
        rows: usize,
        cols: usize,
        offset: usize,
        seed: u64,
    }

    impl Case {
        fn label(&self, what: &str) -> String {
            format!(
                "{:?} {what} {}x{}+{}",
                self.act, self.rows, self.cols, self.offset
            )
        }

        /// The forward against the twin; returns the max (ulp, fraction of
        /// tolerance) and the twin's output.
        fn forward(&self, s: &[f32], params: &[f32]) -> ((f64, f64), Vec<f32>) {
            let (act, n) = (self.act, self.rows * self.cols);
            let mut a_buf = vec![f32::NAN; n + self.offset];
            let a = &mut a_buf[self.offset..];
            let mut a_ref = vec![f32::NAN; n];
            activation_forward(act, a, s, params, self.rows, self.cols);
            reference::activation_forward(act, &mut a_ref, s, params, self.rows, self.cols);
            if bit_exact(act, false) {
                let same = a.iter().zip(&a_ref).all(|(x, y)| same_bits(*x, *y));
                assert!(same, "{act:?} forward bits");
            }
            let r = check(&self.label("forward"), a, &a_ref, |i| {
                floor(act, false, s[i], 0.0)
            });
            (r, a_ref)
        }

        /// The backward from the twin's `a` against the twin, with
        /// gradients in [−2, 2] and a few specials; returns the maxima for
        /// δ and for the parameter gradients.
        fn backward(&self, s: &[f32], params: &[f32], a: &[f32]) -> [(f64, f64); 2] {
            let (act, n, offset) = (self.act, self.rows * self.cols, self.offset);
            let mut rg = Lcg(self.seed ^ 0xd1ff);
            let g: Vec<f32> = (0..n)
                .map(|i| match i % 97 {
                    13 => 0.0,
                    29 => 1e-38,
                    _ => 4.0 * rg.next() - 2.0,
                })
                .collect();
            let mut d_buf = [vec![0.0; offset], g.clone()].concat();
            let d = &mut d_buf[offset..];
            let mut d_ref = g.clone();
            let dp0: Vec<f32> = (0..params.len()).map(|_| rg.next() - 0.5).collect();
            let mut dp_buf = [vec![0.0; offset], dp0.clone()].concat();
            let dp = &mut dp_buf[offset..];
            let mut dp_ref = dp0;
            let (rows, cols) = (self.rows, self.cols);
            activation_backward(act, d, dp, s, a, params, rows, cols);
            reference::activation_backward(act, &mut d_ref, &mut dp_ref, s, a, params, rows, cols);
            if bit_exact(act, true) {
                let same = d.iter().zip(&d_ref).all(|(x, y)| same_bits(*x, *y));
                assert!(same, "{act:?} backward bits");
                for (k, (x, y)) in dp.iter().zip(&dp_ref).enumerate() {
                    let label = self.label("dparams");
                    assert!(same_bits(*x, *y), "{label}[{k}]: {x:e} vs {y:e}");
                }
            }
            [
                check(&self.label("backward"), d, &d_ref, |i| {
                    floor(act, true, s[i], g[i])
                }),
                check(&self.label("dparams"), dp, &dp_ref, |_| 0.0),
            ]
        }
    }

    #[test]
    fn simd_kernels_match_reference() {
        let max = |a: (f64, f64), b: (f64, f64)| (a.0.max(b.0), a.1.max(b.1));
        for act in KERNEL_CASES {
            let (mut fwd, mut bwd, mut dpar) = ((0.0, 0.0), (0.0, 0.0), (0.0, 0.0));
            let mut cases = 0;
            for &cols in &SIZES {
                for rows in 1..=3 {
                    for offset in 0..=3 {
                        let seed = (cols * 31 + rows * 7 + offset) as u64;
                        let case = Case {
                            act,
                            rows,
                            cols,
                            offset,
                            seed,
                        };
                        let s_buf = [vec![0.0; offset], inputs(rows * cols, seed)].concat();
                        let p_buf = [vec![0.0; offset], params_for(act, cols, seed)].concat();
                        let (s, params) = (&s_buf[offset..], &p_buf[offset..]);
                        let (r, a_ref) = case.forward(s, params);
                        fwd = max(fwd, r);
                        let [rb, rp] = case.backward(s, params, &a_ref);
                        (bwd, dpar) = (max(bwd, rb), max(dpar, rp));
                        cases += 1;
                    }
                }
            }
            println!(
                "{:<28} {cases} cases: forward max {:.2} ulp ({:.2} of tolerance), backward max {:.2} ulp ({:.2} of tolerance), dparams max {:.2} ulp",
                format!("{act:?}"),
                fwd.0,
                fwd.1,
                bwd.0,
                bwd.1,
                dpar.0
            );
        }
    }

    #[test]
    fn element_results_do_not_depend_on_position() {
        // The same values at different offsets and in tails give the same bits.
        let x = inputs(40, 99);
        for act in KERNEL_CASES
            .into_iter()
            .filter(|a| a.params_per_unit() == 0)
        {
            let mut full = vec![0.0; 40];
            activation_forward(act, &mut full, &x, &[], 1, 40);
            for off in [1, 5, 17, 33] {
                let mut part = vec![0.0; 40 - off];
                activation_forward(act, &mut part, &x[off..], &[], 1, 40 - off);
                for (i, (p, f)) in part.iter().zip(&full[off..]).enumerate() {
                    assert_eq!(
                        p.to_bits(),
                        f.to_bits(),
                        "{act:?} element {} at offset {off}",
                        i + off
                    );
                }
            }
        }
    }

    #[test]
    fn in_place_forward_gives_the_bits_of_the_forward_into_another_buffer() {
        // Lengths cover the two-vector loop, the one-vector step and tails.
        for n in [0, 1, 15, 16, 17, 31, 32, 33, 47, 48, 70] {
            let mut x = inputs(n, 7);
            for (i, special) in [f32::NAN, f32::INFINITY, -f32::INFINITY, -0.0]
                .iter()
                .enumerate()
            {
                if let Some(v) = x.get_mut(3 * i) {
                    *v = *special;
                }
            }
            for act in Activation::ALL.into_iter().chain(KERNEL_CASES) {
                if act.params_per_unit() > 0 {
                    continue;
                }
                let mut out = vec![0.0; n];
                activation_forward(act, &mut out, &x, &[], 1, n);
                let mut v = x.clone();
                activation_forward_in_place(act, &mut v);
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&v), bits(&out), "{act:?}, {n} values");
            }
        }
    }

    #[test]
    #[should_panic(expected = "prelu has parameters")]
    fn in_place_forward_refuses_an_activation_with_parameters() {
        activation_forward_in_place(Activation::Prelu, &mut [1.0]);
    }

    /// Every f32 in [−90, 90] (2.2e9 of them) through each exp-based forward
    /// kernel and its scalar twin; prints the histogram of ulp differences
    /// over normal results without a floor, and asserts the test tolerance.
    /// About 10 s per activation: `cargo test -p depthlab-kernels --lib
    /// exhaustive -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn exhaustive_forward_against_reference() {
        for act in [
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::Elu { alpha: 0.37 },
            Activation::Selu,
            Activation::Softplus,
            Activation::Gelu,
            Activation::Silu,
        ] {
            let (mut hist, mut worst) = ([0u64; 6], (0.0f64, 0.0f32));
            const N: usize = 1 << 16;
            let (mut xs, mut a, mut r) = (vec![0.0f32; N], vec![0.0f32; N], vec![0.0f32; N]);
            for (lo, hi) in [
                (0u32, 90.0f32.to_bits()),
                (0x8000_0000, (-90.0f32).to_bits()),
            ] {
                let mut b = lo;
                while b < hi {
                    let n = ((hi - b) as usize).min(N);
                    for (i, x) in xs[..n].iter_mut().enumerate() {
                        *x = f32::from_bits(b + i as u32);
                    }
                    activation_forward(act, &mut a[..n], &xs[..n], &[], 1, n);
                    reference::activation_forward(act, &mut r[..n], &xs[..n], &[], 1, n);
                    check(&format!("{act:?}"), &a[..n], &r[..n], |i| {
                        floor(act, false, xs[i], 0.0)
                    });
                    for i in 0..n {
                        if a[i] == r[i]
                            || r[i].abs() < f32::MIN_POSITIVE
                            || floor(act, false, xs[i], 0.0) > 0.0
                        {
                            continue;
                        }
                        let u = (a[i] as f64 - r[i] as f64).abs() / ulp_of(r[i] as f64);
                        hist[(u as usize).min(5)] += 1;
                        if u > worst.0 {
                            worst = (u, xs[i]);
                        }
                    }
                    b += n as u32;
                }
            }
            println!(
                "{act:?}: ulp differences 0..5+: {hist:?}, max {:.0} at x = {:e}",
                worst.0, worst.1
            );
        }
    }
}
