//! Fused optimizer updates with torch.optim's exact semantics: one pass per
//! parameter buffer does the weight decay, the moments and the parameter
//! write. Hyperparameters arrive as f32 (as PyTorch casts Python floats
//! for f32 tensors); bias corrections are computed in f64 and rounded once.
//!
//! Each kernel is element-wise, so any split of a buffer gives the same
//! bits. A buffer's tail (its last `len % 16` values) runs through the same
//! vector code on zero-padded vectors, so the scalar twins in
//! `reference.rs` stay an independent check at every size.

use wide::f32x16;

use crate::simd::{LANES, load, mul_add, store};

/// torch.optim.SGD's hyper-parameters as written (f64), with the weight
/// decay of the buffer being updated.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SgdConfig {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    pub maximize: bool,
    /// The gradient of an L2 term ρ Σ θ² on the loss: 2ρ (0: none). Part of
    /// ∇, so before `maximize` and beside `weight_decay`.
    pub l2: f64,
}

/// torch.optim.SGD for one step, in the f32 the kernel computes with.
/// Constants derived from hyperparameters (1 - τ) are computed in f64 and
/// rounded once, as PyTorch does with Python floats.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sgd {
    pub lr: f32,
    pub momentum: f32,
    /// 1 - dampening.
    pub keep: f32,
    pub nesterov: bool,
    pub weight_decay: f32,
    pub maximize: bool,
    /// 2ρ of the loss's L2 term (see [`SgdConfig::l2`]).
    pub l2: f32,
    /// True on the first step: the momentum buffer starts as the gradient.
    pub first_step: bool,
}

impl Sgd {
    /// The step constants of `c`; `first_step` starts the momentum buffer.
    ///
    /// ```
    /// use depthlab_kernels::update::{Sgd, SgdConfig, sgd_update};
    /// let c = SgdConfig { lr: 0.1, weight_decay: 0.5, ..SgdConfig::default() };
    /// let mut theta = [2.0f32];
    /// sgd_update(&mut theta, &mut [], &[1.0], &Sgd::new(&c, true));
    /// assert!((theta[0] - (2.0 - 0.1 * (1.0 + 0.5 * 2.0))).abs() < 1e-6);
    /// ```
    pub fn new(c: &SgdConfig, first_step: bool) -> Sgd {
        Sgd {
            lr: c.lr as f32,
            momentum: c.momentum as f32,
            keep: (1.0 - c.dampening) as f32,
            nesterov: c.nesterov,
            weight_decay: c.weight_decay as f32,
            maximize: c.maximize,
            l2: c.l2 as f32,
            first_step,
        }
    }
}

/// torch.optim.Adam's (or AdamW's) hyper-parameters as written (f64), with
/// the weight decay of the buffer being updated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// AdamW: θ ← θ(1 - lr·λ) first, and no λθ in the gradient.
    pub decoupled: bool,
    pub amsgrad: bool,
    pub maximize: bool,
    /// 2ρ of the loss's L2 term (see [`SgdConfig::l2`]): coupled even for
    /// AdamW, since it is part of the loss.
    pub l2: f64,
}

impl Default for AdamConfig {
    /// torch.optim.Adam's defaults.
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
            amsgrad: false,
            maximize: false,
            l2: 0.0,
        }
    }
}

/// torch.optim.Adam / AdamW for step t (1-based), with the bias
/// corrections precomputed: `step_size` = lr/(1-β1^t) and `bc2_sqrt` =
/// √(1-β2^t), both computed in f64 and rounded once, as PyTorch does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adam {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    /// AdamW: θ ← θ(1 - lr·λ) first, and no λθ in the gradient.
    pub decoupled: bool,
    pub amsgrad: bool,
    pub maximize: bool,
    /// 2ρ of the loss's L2 term.
    pub l2: f32,
    pub step_size: f32,
    pub bc2_sqrt: f32,
    /// 1 - β1, 1 - β2 and AdamW's 1 - lr·λ, each rounded once from f64.
    pub one_m_b1: f32,
    pub one_m_b2: f32,
    pub decay: f32,
}

impl Adam {
    /// The step constants of `c` for 1-based step `t`.
    pub fn at_step(c: &AdamConfig, t: u64) -> Adam {
        let t = t.min(i32::MAX as u64) as i32;
        Adam {
            lr: c.lr as f32,
            beta1: c.beta1 as f32,
            beta2: c.beta2 as f32,
            eps: c.eps as f32,
            weight_decay: c.weight_decay as f32,
            decoupled: c.decoupled,
            amsgrad: c.amsgrad,
            maximize: c.maximize,
            l2: c.l2 as f32,
            step_size: (c.lr / (1.0 - c.beta1.powi(t))) as f32,
            bc2_sqrt: (1.0 - c.beta2.powi(t)).sqrt() as f32,
            one_m_b1: (1.0 - c.beta1) as f32,
            one_m_b2: (1.0 - c.beta2) as f32,
            decay: (1.0 - c.lr * c.weight_decay) as f32,
        }
    }
}

/// x/d, correctly rounded (the bits of IEEE division), for one fixed
/// divisor d ∈ [2^-60, 1] and every x that is ±0, ±∞, NaN or has
/// 2^-75 ≤ |x| ≤ 2^64 (the square roots Adam divides: √v for a finite or
/// infinite f32 v ≥ 0).
///
/// With FMA: q = x·y, r = x − q·d (exact), q + r·y, where y = 1/d rounded
/// to f32 once (from f64, which cannot double-round here). Markstein's
/// theorem makes that the correctly rounded quotient when y is within half
/// an ulp of 1/d and q within an ulp of x/d, with no underflow or overflow
/// on the way, which the ranges above ensure; `exact_division_by_a_constant`
/// checks it against `/` over a strided sweep of every x in range, and
/// `exact_division_by_a_constant_exhaustive` (ignored, release) over all
/// of them for 16 divisors. Two FMAs and a multiply instead of a `vdivps`,
/// whose throughput (one per ~10–16 cycles for 16 lanes) is what bounds
/// the fused Adam step in cache. Without FMA, or for d outside the range,
/// the division itself.
#[derive(Clone, Copy)]
struct DivBy {
    d: f32x16,
    y: f32x16,
    markstein: bool,
}

impl DivBy {
    fn new(d: f32) -> DivBy {
        let in_range = (2f32.powi(-60)..=1.0).contains(&d);
        DivBy {
            d: f32x16::splat(d),
            y: f32x16::splat((1.0 / d as f64) as f32),
            markstein: cfg!(target_feature = "fma") && in_range,
        }
    }

    #[inline(always)]
    fn div(self, x: f32x16) -> f32x16 {
        if !self.markstein {
            return x / self.d;
        }
        let q = x * self.y;
        // (x − q·d of x = −0 is +0: x's sign is or-ed back in, a no-op for
        // every other x since d > 0.)
        let q = mul_add(mul_add(-q, self.d, x), self.y, q) | (x & f32x16::splat(-0.0));
        // ∞·y − ∞·d is NaN, and NaN signs are not kept: lanes with ±∞ or
        // NaN take the division (a branch, so finite vectors skip it).
        let finite = x.is_finite();
        if finite.all() {
            q
        } else {
            finite.select(q, x / self.d)
        }
    }
}

/// One SGD step. `theta`, `grad` and `buf` (the momentum buffer; may be
/// empty when momentum is 0) have the same length; overwrites `theta` and
/// `buf`.
///
/// g ← ±(∇ + l2·θ) + λθ; if μ≠0: b ← g (first step) or μb + (1-τ)g;
/// g ← g + μb (nesterov) or b; θ ← θ - γg.
///
/// Rounded as torch.optim.SGD's single-tensor step is on a CPU with FMA:
/// each `add(x, alpha=a)` of its code (the decay, the momentum's `add_`,
/// nesterov's and the parameter's) is one fused multiply-add in ATen's
/// vector kernels, and `buf.mul_(μ)` a multiply of its own. torch 2.15
/// (AVX-512) gives these bits for every element, tails included (the
/// `optimizer_bits` test replays its steps); with a separate multiply and
/// add, 2–4 % of θ's elements were an ulp away after each step.
pub fn sgd_update(theta: &mut [f32], buf: &mut [f32], grad: &[f32], h: &Sgd) {
    debug_assert_eq!(theta.len(), grad.len());
    debug_assert!(h.momentum == 0.0 || buf.len() == theta.len());
    let n = theta.len();
    let full = n - n % LANES;
    let momentum = h.momentum != 0.0;
    let b_full = if momentum { &mut buf[..full] } else { &mut [] };
    sgd_vectors(&mut theta[..full], b_full, &grad[..full], h);
    if full < n {
        // The tail through the same vector code, zero-padded.
        let ([mut t, mut b, mut g], len) = ([[0.0f32; LANES]; 3], n - full);
        t[..len].copy_from_slice(&theta[full..]);
        g[..len].copy_from_slice(&grad[full..]);
        if momentum {
            b[..len].copy_from_slice(&buf[full..]);
        }
        let b_tail = if momentum { &mut b[..] } else { &mut [] };
        sgd_vectors(&mut t, b_tail, &g, h);
        theta[full..].copy_from_slice(&t[..len]);
        if momentum {
            buf[full..].copy_from_slice(&b[..len]);
        }
    }
}

/// [`sgd_update`] over whole vectors (lengths multiples of [`LANES`]): the
/// scalar twin's arithmetic, lane by lane. The flags are tested once, not
/// per vector, and the vectors come from iterators without bounds checks:
/// with a float compare per flag and index checks per load and store, SGD
/// momentum took 2.3–3.7 ns a vector in L1 on AMD Zen 4, 1.6 ns without.
#[inline(always)]
fn sgd_vectors(theta: &mut [f32], buf: &mut [f32], grad: &[f32], h: &Sgd) {
    let (lr, mu, keep, wd, l2) = (
        f32x16::splat(h.lr),
        f32x16::splat(h.momentum),
        f32x16::splat(h.keep),
        f32x16::splat(h.weight_decay),
        f32x16::splat(h.l2),
    );
    let (with_l2, maximize, with_decay) = (h.l2 != 0.0, h.maximize, h.weight_decay != 0.0);
    // g ← ±(∇ + l2·θ) + λθ. (The L2 term rounds as the decay does, so
    // that `l2=ρ` and a decay of 2ρ give the same bits: no rounding of
    // torch's could be matched here, since ∇ comes from other sums.)
    let gradient = |tv: f32x16, mut gv: f32x16| {
        if with_l2 {
            gv = mul_add(l2, tv, gv);
        }
        if maximize {
            gv = -gv;
        }
        if with_decay {
            gv = mul_add(wd, tv, gv);
        }
        gv
    };
    let thetas = theta.chunks_exact_mut(LANES);
    let grads = grad.chunks_exact(LANES);
    if h.momentum == 0.0 {
        for (t, g) in thetas.zip(grads) {
            let tv = load(t);
            store(t, mul_add(-lr, gradient(tv, load(g)), tv));
        }
        return;
    }
    let (first_step, nesterov) = (h.first_step, h.nesterov);
    for ((t, b), g) in thetas.zip(buf.chunks_exact_mut(LANES)).zip(grads) {
        let tv = load(t);
        let gv = gradient(tv, load(g));
        let bv = if first_step {
            gv
        } else {
            mul_add(keep, gv, mu * load(b))
        };
        store(b, bv);
        let step = if nesterov { mul_add(mu, bv, gv) } else { bv };
        store(t, mul_add(-lr, step, tv));
    }
}

/// One Adam/AdamW step. `theta`, `grad`, `m`, `v` and (with amsgrad) `vmax`
/// have the same length (`vmax` may be empty otherwise); overwrites all but
/// `grad`.
///
/// g ← ±(∇ + l2·θ) (+ λθ for Adam); θ ← θ(1-γλ) for AdamW; m ← m + (1-β1)(g - m)
/// (torch's lerp); v ← β2 v + (1-β2) g²; vmax ← max(vmax, v);
/// θ ← θ + (−step_size · m) / (√(v or vmax)/bc2_sqrt + ε).
///
/// Rounded as torch.optim.Adam's single-tensor step is on a CPU with FMA:
/// the decay's `add(θ, alpha=λ)`, the lerp and `addcmul_` each one fused
/// multiply-add, `addcdiv_` a multiply, a division and an add in that
/// order. torch 2.15 (AVX-512) gives these bits for m and v; its float
/// square root is not IEEE's on that build (an ulp off on ~0.6 % of
/// elements), so θ matches to an ulp where √v differs (`optimizer_bits`).
pub fn adam_update(
    theta: &mut [f32],
    m: &mut [f32],
    v: &mut [f32],
    vmax: &mut [f32],
    grad: &[f32],
    h: &Adam,
) {
    let n = theta.len();
    debug_assert!(grad.len() == n && m.len() == n && v.len() == n);
    debug_assert!(!h.amsgrad || vmax.len() == n);
    let full = n - n % LANES;
    let x_full = if h.amsgrad {
        &mut vmax[..full]
    } else {
        &mut []
    };
    let state = [&mut m[..full], &mut v[..full], x_full];
    adam_vectors(&mut theta[..full], state, &grad[..full], h);
    if full < n {
        // The tail through the same vector code, zero-padded (padded lanes
        // stay finite unless ε = 0, and are never stored).
        let ([mut t, mut mt, mut vt, mut xt, mut g], len) = ([[0.0f32; LANES]; 5], n - full);
        t[..len].copy_from_slice(&theta[full..]);
        mt[..len].copy_from_slice(&m[full..]);
        vt[..len].copy_from_slice(&v[full..]);
        g[..len].copy_from_slice(&grad[full..]);
        if h.amsgrad {
            xt[..len].copy_from_slice(&vmax[full..]);
        }
        let x_tail = if h.amsgrad { &mut xt[..] } else { &mut [] };
        adam_vectors(&mut t, [&mut mt, &mut vt, x_tail], &g, h);
        theta[full..].copy_from_slice(&t[..len]);
        m[full..].copy_from_slice(&mt[..len]);
        v[full..].copy_from_slice(&vt[..len]);
        if h.amsgrad {
            vmax[full..].copy_from_slice(&xt[..len]);
        }
    }
}

/// [`adam_update`] over whole vectors, `state` = [m, v, vmax]: flags
/// tested once and vectors from iterators, as in [`sgd_vectors`].
#[inline(always)]
fn adam_vectors(theta: &mut [f32], state: [&mut [f32]; 3], grad: &[f32], h: &Adam) {
    let [m, v, vmax] = state;
    let (b1c, b2, b2c) = (
        f32x16::splat(h.one_m_b1),
        f32x16::splat(h.beta2),
        f32x16::splat(h.one_m_b2),
    );
    let (wd, dec, neg_ss, bc2, eps) = (
        f32x16::splat(h.weight_decay),
        f32x16::splat(h.decay),
        f32x16::splat(-h.step_size),
        DivBy::new(h.bc2_sqrt),
        f32x16::splat(h.eps),
    );
    // torch's lerp: m + w(g − m) for a weight w < 0.5, else g + (w − 1)(g − m).
    let (small_b1c, b1c_m1) = (h.one_m_b1 < 0.5, f32x16::splat(h.one_m_b1 - 1.0));
    let l2 = f32x16::splat(h.l2);
    let (with_l2, maximize, decoupled) = (h.l2 != 0.0, h.maximize, h.decoupled);
    let coupled = !decoupled && h.weight_decay != 0.0;
    // One vector of θ, ∇, m, v (and vmax with amsgrad), all updated but ∇.
    let step =
        |t: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], vmax: Option<&mut [f32]>| {
            let mut tv = load(t);
            let mut gv = load(g);
            if with_l2 {
                gv = mul_add(l2, tv, gv);
            }
            if maximize {
                gv = -gv;
            }
            if decoupled {
                tv *= dec;
            } else if coupled {
                gv = mul_add(wd, tv, gv);
            }
            let mv = load(m);
            let mv = if small_b1c {
                mul_add(b1c, gv - mv, mv)
            } else {
                mul_add(b1c_m1, gv - mv, gv)
            };
            let vv = mul_add(b2c * gv, gv, b2 * load(v));
            store(m, mv);
            store(v, vv);
            let second = match vmax {
                Some(x) => {
                    let vm = load(x).max(vv);
                    store(x, vm);
                    vm
                }
                None => vv,
            };
            store(t, tv + neg_ss * mv / (bc2.div(second.sqrt()) + eps));
        };
    let vectors = theta
        .chunks_exact_mut(LANES)
        .zip(grad.chunks_exact(LANES))
        .zip(m.chunks_exact_mut(LANES))
        .zip(v.chunks_exact_mut(LANES));
    if h.amsgrad {
        for ((((t, g), m), v), x) in vectors.zip(vmax.chunks_exact_mut(LANES)) {
            step(t, g, m, v, Some(x));
        }
    } else {
        for (((t, g), m), v) in vectors {
            step(t, g, m, v, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;

    fn data(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i as u32).wrapping_mul(2_654_435_761) ^ seed) as f32 / u32::MAX as f32 - 0.5)
            .collect()
    }

    /// Every size up to one vector and a bit (each tail length through the
    /// padded vector path), then tails after several vectors.
    fn sizes() -> impl Iterator<Item = usize> {
        (0..=17).chain([31, 32, 33, 63, 65, 1000])
    }

    fn sgd(lr: f64, momentum: f64, dampening: f64, nesterov: bool, weight_decay: f64) -> SgdConfig {
        SgdConfig {
            lr,
            momentum,
            dampening,
            nesterov,
            weight_decay,
            maximize: false,
            l2: 0.0,
        }
    }

    #[test]
    fn sgd_matches_the_scalar_twin_bit_for_bit() {
        let maximized = SgdConfig {
            maximize: true,
            l2: 0.02,
            ..sgd(0.1, 0.9, 0.3, false, 1e-2)
        };
        let with_l2 = SgdConfig {
            l2: 0.5,
            ..sgd(0.1, 0.0, 0.0, false, 0.0)
        };
        let configs = [
            Sgd::new(&with_l2, true),
            Sgd::new(&sgd(0.1, 0.0, 0.0, false, 0.0), true),
            Sgd::new(&sgd(0.1, 0.9, 0.0, false, 1e-2), true),
            Sgd::new(&maximized, false),
            Sgd::new(&sgd(0.05, 0.8, 0.0, true, 0.0), false),
        ];
        for h in configs {
            for n in sizes() {
                for off in 0..3 {
                    let (t0, b0, g) = (data(n + off, 1), data(n + off, 2), data(n + off, 3));
                    let (mut t1, mut b1) = (t0.clone(), b0.clone());
                    let (mut t2, mut b2) = (t0.clone(), b0.clone());
                    sgd_update(&mut t1[off..], &mut b1[off..], &g[off..], &h);
                    reference::sgd_update(&mut t2[off..], &mut b2[off..], &g[off..], &h);
                    // Same per-lane IEEE operations in the same order: exact.
                    assert_eq!(t1, t2, "{h:?} n={n} off={off}");
                    assert_eq!(b1, b2, "{h:?} n={n} off={off}");
                }
            }
        }
    }

    #[test]
    fn adam_matches_the_scalar_twin() {
        for (decoupled, amsgrad, maximize, wd, l2) in [
            (false, false, false, 0.0, 0.0),
            (false, true, false, 0.1, 0.0),
            (true, false, true, 0.1, 0.02),
            (true, true, false, 0.01, 0.0),
            (false, false, true, 0.0, 0.3),
        ] {
            let c = AdamConfig {
                lr: 1e-2,
                weight_decay: wd,
                decoupled,
                amsgrad,
                maximize,
                l2,
                ..AdamConfig::default()
            };
            let h = Adam::at_step(&c, 3);
            for n in sizes() {
                for off in 0..3 {
                    let init = [
                        data(n + off, 1),
                        data(n + off, 2),
                        data(n + off, 3).iter().map(|x| x.abs()).collect(),
                        data(n + off, 4).iter().map(|x| x.abs()).collect(),
                    ];
                    let g = data(n + off, 5);
                    let [mut t1, mut m1, mut v1, mut x1] = init.clone();
                    let [mut t2, mut m2, mut v2, mut x2] = init.clone();
                    adam_update(
                        &mut t1[off..],
                        &mut m1[off..],
                        &mut v1[off..],
                        &mut x1[off..],
                        &g[off..],
                        &h,
                    );
                    reference::adam_update(
                        &mut t2[off..],
                        &mut m2[off..],
                        &mut v2[off..],
                        &mut x2[off..],
                        &g[off..],
                        &h,
                    );
                    let max_diff = t1
                        .iter()
                        .zip(&t2)
                        .map(|(a, b)| (a - b).abs())
                        .fold(0.0f32, f32::max);
                    // wide's sqrt and division are the IEEE ones, and
                    // `DivBy` gives the division's bits: exact.
                    assert_eq!(
                        (t1, m1, v1, x1),
                        (t2, m2, v2, x2),
                        "decoupled={decoupled} amsgrad={amsgrad} n={n} off={off}, max diff {max_diff}"
                    );
                }
            }
        }
    }

    /// Divisors `DivBy` must handle: Adam's √(1−β2^t) for β2 = 0.999 and
    /// 0.99 at t = 1, 2, 3, 10, 1000, 1 and the ends of its range, and odd
    /// significands (all-ones, just above a power of two).
    fn divisors() -> Vec<f32> {
        let mut d = vec![
            1.0,
            2f32.powi(-60),
            0.999_999_94,
            0.500_000_06,
            0.3,
            std::f32::consts::FRAC_1_SQRT_2,
        ];
        for beta2 in [0.999f64, 0.99] {
            for t in [1, 2, 3, 10, 1000] {
                d.push((1.0 - beta2.powi(t)).sqrt() as f32);
            }
        }
        d
    }

    /// Checks `DivBy::new(d).div` against `/` on the f32 bit patterns
    /// `lo..=hi` stepping by `stride`, both signs, 16 at a time.
    fn check_division(d: f32, lo: u32, hi: u32, stride: usize) {
        let div = DivBy::new(d);
        let mut xs = (lo..=hi).step_by(stride).peekable();
        while xs.peek().is_some() {
            // A last short chunk repeats `hi` in its unused lanes.
            let chunk: [u32; LANES] = std::array::from_fn(|_| xs.next().unwrap_or(hi));
            for sign in [0, 1u32 << 31] {
                let x = chunk.map(|bits| f32::from_bits(bits | sign));
                let q = div.div(f32x16::from(x)).to_array();
                for (&x, q) in x.iter().zip(q) {
                    assert_eq!(q.to_bits(), (x / d).to_bits(), "{x:e} / {d:e}");
                }
            }
        }
    }

    #[test]
    fn exact_division_by_a_constant() {
        // Every x with 2^-75 ≤ |x| ≤ 2^64 (bit patterns 0x1a00_0000 to
        // 0x5f80_0000) at a stride coprime to the significand, their
        // neighbours of 1.0, and the special values.
        let (lo, hi) = (2f32.powi(-75).to_bits(), 2f32.powi(64).to_bits());
        for d in divisors() {
            check_division(d, lo, hi, 9_973);
            check_division(d, 1.0f32.to_bits() - 5_000, 1.0f32.to_bits() + 5_000, 1);
            let special = [0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 1.0];
            let q = DivBy::new(d).div(f32x16::from([special[0]; LANES]));
            assert_eq!(q.to_array()[0].to_bits(), (0.0f32 / d).to_bits());
            for x in special {
                let mut v = [1.5f32; LANES];
                v[3] = x;
                let q = DivBy::new(d).div(f32x16::from(v)).to_array();
                assert_eq!(q[3].to_bits(), (x / d).to_bits(), "{x} / {d}");
                assert_eq!(q[0].to_bits(), (1.5 / d).to_bits());
            }
        }
    }

    /// Every x in range, both signs, for every divisor of `divisors`
    /// (2.3·10⁹ quotients each; 4 min in release, passed 2026-11-27):
    /// `cargo test --release -p depthlab-kernels -- --ignored exact_division`.
    #[test]
    #[ignore]
    fn exact_division_by_a_constant_exhaustive() {
        let (lo, hi) = (2f32.powi(-75).to_bits(), 2f32.powi(64).to_bits());
        for d in divisors() {
            check_division(d, lo, hi, 1);
        }
    }

    #[test]
    fn an_l2_term_is_coupled_weight_decay_of_twice_rho() {
        // ρ Σ θ² on the loss adds 2ρθ to ∇, as torch's weight_decay = 2ρ
        // adds λθ: the same bits for SGD and Adam (for AdamW, whose decay is
        // decoupled, they differ).
        let (t0, g) = (data(100, 1), data(100, 3));
        let rho = 0.05;
        let l2 = SgdConfig {
            lr: 0.1,
            momentum: 0.9,
            l2: 2.0 * rho,
            ..SgdConfig::default()
        };
        let wd = SgdConfig {
            weight_decay: 2.0 * rho,
            l2: 0.0,
            ..l2
        };
        let (mut a, mut b, mut ba, mut bb) =
            (t0.clone(), t0.clone(), vec![0.0; 100], vec![0.0; 100]);
        sgd_update(&mut a, &mut ba, &g, &Sgd::new(&l2, true));
        sgd_update(&mut b, &mut bb, &g, &Sgd::new(&wd, true));
        assert_eq!(a, b);
        for decoupled in [false, true] {
            let l2 = AdamConfig {
                l2: 2.0 * rho,
                decoupled,
                ..AdamConfig::default()
            };
            let wd = AdamConfig {
                weight_decay: 2.0 * rho,
                l2: 0.0,
                ..l2
            };
            let run = |c: &AdamConfig| {
                let (mut t, mut m, mut v) = (t0.clone(), vec![0.0; 100], vec![0.0; 100]);
                adam_update(&mut t, &mut m, &mut v, &mut [], &g, &Adam::at_step(c, 1));
                t
            };
            assert_eq!(run(&l2) == run(&wd), !decoupled, "decoupled={decoupled}");
        }
    }

    #[test]
    fn sgd_without_momentum_coupled_decay_equals_decoupled_shrink() {
        // θ - γ(g + λθ) = θ(1 - γλ) - γg: L2 and weight decay agree for plain SGD.
        let h = Sgd::new(&sgd(0.1, 0.0, 0.0, false, 0.5), true);
        let mut t = vec![2.0f32; 20];
        sgd_update(&mut t, &mut [], &[1.0; 20], &h);
        assert!(t.iter().all(|&x| (x - (2.0 * 0.95 - 0.1)).abs() < 1e-6));
    }
}
