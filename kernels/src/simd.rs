//! The floating-point contract of the SIMD kernels: the vector type, the
//! multiply-add, fixed-order horizontal sums, loads and padded tails, a
//! Newton reciprocal/division, and the vectorized elementary functions
//! (exp, expm1, tanh, log1p, Φ) with their measured error bounds.
//!
//! Every function here is lane-wise: the value in lane i depends only on the
//! input in lane i, never on its neighbours, the slice offset or the length of
//! the slice. The kernels run the tail through the same functions on a padded
//! array, so an element's result depends on its value alone.
//!
//! Errors are measured by the tests below against f64 references rounded to
//! f32, over a strided sweep of all f32 bit patterns, and printed. "ulp" is
//! the spacing of f32 at the correctly rounded result. The bounds quoted in
//! the docs are the measured maxima (FMA build / SSE2 build, which has no
//! fused multiply-add: `mul_add` is then a rounded multiply and an add).

use wide::{f32x16, i32x16, u32x16};

/// The vector the kernels compute with: 16 f32 lanes (one AVX-512 register
/// where the build has AVX-512, two AVX or four SSE registers otherwise).
pub type Vf = f32x16;
/// Lanes of [`Vf`].
pub const LANES: usize = 16;

/// `a·b + c`, fused (one rounding) where FMA is compiled in, two roundings
/// otherwise. The only multiply-add the kernels use.
#[inline(always)]
pub fn mul_add(a: Vf, b: Vf, c: Vf) -> Vf {
    a.mul_add(b, c)
}

/// A vector with every lane `x`.
#[inline(always)]
pub fn splat(x: f32) -> Vf {
    Vf::splat(x)
}

/// The first [`LANES`] values of `x` (`x.len() >= LANES`), one unaligned
/// vector load. (Going through a `[f32; 16]` made LLVM store two halves to
/// the stack and reload them whole: a store-forwarding stall per vector.)
#[inline(always)]
pub fn load(x: &[f32]) -> Vf {
    wide::bytemuck::pod_read_unaligned(wide::bytemuck::cast_slice(&x[..LANES]))
}

/// Writes `v` over the first [`LANES`] values of `out`.
#[inline(always)]
pub fn store(out: &mut [f32], v: Vf) {
    wide::bytemuck::cast_slice_mut::<f32, u8>(&mut out[..LANES])
        .copy_from_slice(wide::bytemuck::bytes_of(&v));
}

/// The `x.len() < LANES` values of a tail, padded with `pad` to a full vector.
#[inline(always)]
pub fn load_padded(x: &[f32], pad: f32) -> Vf {
    let mut a = [pad; LANES];
    a[..x.len()].copy_from_slice(x);
    Vf::from(a)
}

/// Writes the first `out.len()` (< [`LANES`]) lanes of `v`.
#[inline(always)]
pub fn store_partial(out: &mut [f32], v: Vf) {
    let n = out.len();
    out.copy_from_slice(&v.to_array()[..n]);
}

/// Sum of the 16 lanes in a fixed tree, the same on every build:
/// lane i + lane i+8, then i + i+4, i + i+2, i + i+1.
#[inline]
pub fn hsum(v: Vf) -> f32 {
    let a = v.to_array();
    let mut w = [0.0f32; 8];
    for i in 0..8 {
        w[i] = a[i] + a[i + 8];
    }
    let b = [w[0] + w[4], w[1] + w[5], w[2] + w[6], w[3] + w[7]];
    (b[0] + b[2]) + (b[1] + b[3])
}

/// Σx in a fixed order: element i accumulates into lane i % 16 in index
/// order, then [`hsum`]. The result depends only on the values and their
/// order, not on the build or the alignment of `x`.
pub fn sum(x: &[f32]) -> f32 {
    let mut acc = splat(0.0);
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        acc += load(c);
    }
    acc += load_padded(chunks.remainder(), 0.0);
    hsum(acc)
}

/// `(p, e)` with `p + e = a·b` exactly (`p` the rounded product), for
/// |a·b| well inside the normal range. With FMA `e = fma(a, b, -p)`;
/// without it Dekker's product on Veltkamp halves (the same exact `e`).
#[inline(always)]
pub fn two_prod(a: Vf, b: Vf) -> (Vf, Vf) {
    let p = a * b;
    if cfg!(target_feature = "fma") {
        (p, mul_add(a, b, -p))
    } else {
        let split = |x: Vf| {
            let c = x * splat(4097.0); // 2^12 + 1
            let hi = c - (c - x);
            (hi, x - hi)
        };
        let (ah, al) = split(a);
        let (bh, bl) = split(b);
        let e = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
        (p, e)
    }
}

// ---------------------------------------------------------------------------
// reciprocal and division

/// Largest divisor [`recip`] and [`div`] take on the Newton path: 1/d stays
/// normal, and no lane reaches rcp14's flush or ∞·0 in the residual.
pub const RECIP_MAX: f32 = 8.507_059e37; // 2^126

/// An estimate of 1/d with relative error < 2^-14 (AVX-512 `vrcp14ps`).
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx512f",
    target_feature = "fma"
))]
#[inline(always)]
fn recip_estimate(d: Vf) -> Vf {
    use std::arch::x86_64::{__m512, _mm512_rcp14_ps};
    // SAFETY: with avx512f, `Vf` (wide::f32x16) is a 64-byte wrapper of one
    // __m512 (both 64 bytes, every bit pattern valid), and the instruction
    // is compiled in (cfg above), so the intrinsic is available.
    unsafe {
        let v: __m512 = std::mem::transmute::<Vf, __m512>(d);
        std::mem::transmute::<__m512, Vf>(_mm512_rcp14_ps(v))
    }
}

/// Asks the cache to fetch `data` into L2 ahead of use: a hint, with no
/// effect on any result (nothing without SSE). For memory written long
/// before and read in runs too short for the hardware prefetcher.
#[inline]
pub fn prefetch(data: &[f32]) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    prefetch_lines::<{ std::arch::x86_64::_MM_HINT_T1 }>(data);
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
    let _ = data;
}

/// Fetches every line of `data` into the cache for writing (`prefetchw`;
/// a hint for reading where the build lacks it): a line that another core
/// holds is taken from it now, not when the store that needs it comes.
#[inline]
pub fn prefetch_write(data: &[f32]) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    prefetch_lines::<{ std::arch::x86_64::_MM_HINT_ET0 }>(data);
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
    let _ = data;
}

/// `_mm_prefetch` with `HINT` on every 64-byte line of `data`.
#[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
#[inline]
fn prefetch_lines<const HINT: i32>(data: &[f32]) {
    for line in data.chunks(16) {
        // SAFETY: a prefetch never faults; the address is inside `data`.
        unsafe { std::arch::x86_64::_mm_prefetch::<HINT>(line.as_ptr().cast()) };
    }
}

/// 1/d for 1 ≤ |d| < [`RECIP_MAX`] (NaN gives NaN; other d are not handled).
///
/// With AVX-512 and FMA: `vrcp14ps` (2^-14) and two Newton steps
/// y ← y + y·(1 − d·y), the residual exact by FMA, so the result is the
/// correctly rounded 1/d except within ~2^-28 relative of a rounding
/// midpoint (`recip_and_div_match_ieee` measures it). `vdivps zmm` has a
/// throughput of one per 16 cycles here, this costs 5 cheap operations.
/// Without AVX-512 (or FMA): the IEEE division.
#[inline(always)]
pub fn recip(d: Vf) -> Vf {
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx512f",
        target_feature = "fma"
    ))]
    {
        let y = recip_estimate(d);
        let y = mul_add(y, mul_add(-d, y, splat(1.0)), y);
        mul_add(y, mul_add(-d, y, splat(1.0)), y)
    }
    #[cfg(not(all(
        target_arch = "x86_64",
        target_feature = "avx512f",
        target_feature = "fma"
    )))]
    {
        splat(1.0) / d
    }
}

/// a/d for 1 ≤ |d| < [`RECIP_MAX`] and finite a (±∞ gives NaN): q = a·(1/d) corrected once
/// with the exact residual a − q·d (Markstein), so correctly rounded except
/// near midpoints, like [`recip`]. The IEEE division without AVX-512/FMA.
#[inline(always)]
pub fn div(a: Vf, d: Vf) -> Vf {
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx512f",
        target_feature = "fma"
    ))]
    {
        let y = recip(d);
        let q = a * y;
        mul_add(mul_add(-q, d, a), y, q)
    }
    #[cfg(not(all(
        target_arch = "x86_64",
        target_feature = "avx512f",
        target_feature = "fma"
    )))]
    {
        a / d
    }
}

// ---------------------------------------------------------------------------
// exp

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 in two parts (Cody–Waite). LN2_HI = 355/512 has 9 significant bits,
/// so n·LN2_HI is exact for |n| < 2^15 and x − n·LN2_HI is exact (Sterbenz
/// near the origin, a common grid of 2^-23 further out).
const LN2_HI: f32 = 0.693_359_4;
/// ln 2 − LN2_HI.
const LN2_LO: f32 = -2.121_944_4e-4;
/// 1.5·2^23: adding it rounds to an integer n (ties to even) and leaves n in
/// the low mantissa bits.
const ROUND: f32 = 12_582_912.0;
/// Below this |x| every lane of exp and expm1 scales by a normal power of two
/// (|n| ≤ 125) with a normal result: the fast path.
const EXP_FAST: f32 = 86.5;

/// Minimax e^r ≈ 1 + r + Σ c_k r^k on |r| ≤ 0.3506 (0.35 ≈ ln2/2 plus
/// the slack of a non-fused rounding of x·log2e), fitted for relative error
/// with the coefficients rounded to f32 one at a time (remaining ones
/// refitted): 0.25 ulp of e^r − 1 before evaluation rounding.
const EXP_C: [f32; 5] = [
    0.499_999_97,
    0.166_665_33,
    0.041_667_7,
    0.008_367_909,
    0.001_384_346_9,
];

/// `(r, t)` with x = n·ln2 + r, |r| ≤ 0.3506, and n held in the low bits of
/// `t` (n = t − ROUND). Valid for |x·log2e| < 2^22.
#[inline(always)]
fn reduce(x: Vf) -> (Vf, Vf) {
    let t = mul_add(x, splat(LOG2E), splat(ROUND));
    let n = t - splat(ROUND);
    let r = mul_add(n, splat(-LN2_HI), x);
    let r = mul_add(n, splat(-LN2_LO), r);
    (r, t)
}

/// e^r on |r| ≤ 0.3506 (Horner, 6 multiply-adds).
#[inline(always)]
fn exp_poly(r: Vf) -> Vf {
    let mut p = splat(EXP_C[4]);
    p = mul_add(p, r, splat(EXP_C[3]));
    p = mul_add(p, r, splat(EXP_C[2]));
    p = mul_add(p, r, splat(EXP_C[1]));
    p = mul_add(p, r, splat(EXP_C[0]));
    p = mul_add(p, r, splat(1.0));
    mul_add(p, r, splat(1.0))
}

/// p·2^n by adding n to the exponent field (n from the rounding word `t`):
/// exact while p·2^n is normal.
#[inline(always)]
fn scale_fast(p: Vf, t: Vf) -> Vf {
    Vf::from_bits(p.to_bits() + (t.to_bits() << 23))
}

/// p·2^n as p·2^(n−⌊n/2⌋)·2^⌊n/2⌋ for −150 ≤ n ≤ 128: both factors are
/// normal powers of two and only the last multiply rounds, so results in
/// the subnormal range are rounded once (gradual underflow) and results
/// beyond f32::MAX become +inf. Equal to [`scale_fast`] wherever that is
/// exact.
#[inline(always)]
fn scale_safe(p: Vf, t: Vf) -> Vf {
    let n: i32x16 = wide::bytemuck::cast(t.to_bits() - u32x16::splat(ROUND.to_bits()));
    let n1 = n >> 1;
    let n2 = n - n1;
    let pow2 = |k: i32x16| -> Vf {
        Vf::from_bits(wide::bytemuck::cast::<i32x16, u32x16>(k + i32x16::splat(127)) << 23)
    };
    p * pow2(n2) * pow2(n1)
}

/// True when every lane satisfies |x| ≤ `bound` (false for NaN lanes).
#[inline(always)]
fn all_within(x: Vf, bound: f32) -> bool {
    x.abs().simd_le(splat(bound)).all()
}

/// e^x, lane-wise, for every f32.
///
/// Cody–Waite reduction x = n·ln2 + r with ln2 split in hi/lo, a degree-6
/// minimax polynomial for e^r and scaling by 2^n in the exponent bits.
/// Measured max error against f64 `exp` (`exp_error_over_all_f32`: all f32
/// strided by 13, plus every float in [−104.5, −87] and [88, 89]):
/// 0.91 ulp with FMA, 1.17 ulp without, against a contract of 4 ulp. The
/// budget: final rounding 0.5, rounding of r (≤ 2^-26 absolute) 0.25,
/// the previous Horner step times |r| ≤ 0.35: 0.17, the fit 0.05.
///
/// Overflow: +inf for x > 88.7228 (and x = +inf). Underflow: gradual, the
/// results in the subnormal range (−103.97 < x < −87.34) are computed with
/// one final rounding (error ≤ 1 subnormal ulp), and 0 below; exp(−inf) = 0.
/// NaN: returns the input NaN unchanged (payload and sign).
///
/// The fast path covers |x| ≤ 86.5 for every lane; a vector with any other
/// lane takes a slower path that gives bit-identical results on the in-range
/// lanes.
#[inline(always)]
pub fn exp(x: Vf) -> Vf {
    if all_within(x, EXP_FAST) {
        exp_in_range(x)
    } else {
        exp_slow(x)
    }
}

/// True when every lane has |x| ≤ 86.5 (no NaN): [`exp_in_range`] is then
/// [`exp`], bit for bit, and e^x lies in [2^-125, 2^125).
#[inline(always)]
pub fn exp_fast_ok(x: Vf) -> bool {
    all_within(x, EXP_FAST)
}

/// [`exp`] for |x| ≤ 86.5 only (no check; other lanes give garbage).
#[inline(always)]
pub fn exp_in_range(x: Vf) -> Vf {
    let (r, t) = reduce(x);
    scale_fast(exp_poly(r), t)
}

#[inline(always)]
fn exp_slow(x: Vf) -> Vf {
    // Clamping keeps |n| in range: e^-104 < 2^-150 rounds to 0, e^89 > MAX.
    let xc = x.fast_max(splat(-104.0)).fast_min(splat(89.0));
    let (r, t) = reduce(xc);
    let y = scale_safe(exp_poly(r), t);
    x.is_nan().select(x, y)
}

/// e^(hi + lo) for hi ≤ 0 (or any hi, |hi| ≤ 86.5) and |lo| ≤ ulp(hi): the
/// exponential of a value carried in two parts, as from [`two_prod`]. The
/// reduction x − n·LN2_HI is exact for these hi, so lo is not lost.
#[inline(always)]
fn exp_hilo(hi: Vf, lo: Vf) -> Vf {
    let reduce_hilo = |hi: Vf, lo: Vf| {
        let t = mul_add(hi, splat(LOG2E), splat(ROUND));
        let n = t - splat(ROUND);
        let r = mul_add(n, splat(-LN2_HI), hi) + lo;
        (mul_add(n, splat(-LN2_LO), r), t)
    };
    if all_within(hi, EXP_FAST) {
        let (r, t) = reduce_hilo(hi, lo);
        scale_fast(exp_poly(r), t)
    } else {
        let hc = hi.fast_max(splat(-104.0)).fast_min(splat(89.0));
        let (r, t) = reduce_hilo(hc, lo);
        scale_safe(exp_poly(r), t)
    }
}

// ---------------------------------------------------------------------------
// expm1

/// Minimax expm1(r) ≈ r + Σ c_k r^k, k = 2..7, on |r| ≤ 0.3506, relative
/// error 0.04 ulp with these f32 coefficients.
const EXPM1_C: [f32; 6] = [
    0.5,
    0.166_666_66,
    0.041_666_348,
    0.008_333_392,
    0.001_394_182_1,
    0.000_198_459_72,
];

/// e^x − 1, lane-wise, accurate near 0 (relative error, no cancellation).
///
/// Same reduction as [`exp`]: expm1(r) from a degree-7 polynomial
/// r + r²·P(r), then e^x − 1 = 2^n·expm1(r) + (2^n − 1) in one multiply-add
/// (exact 2^n − 1 for the |n| ≤ 24 where it matters; n = 0 gives expm1(r)
/// itself, so tiny and subnormal x return x, and the sign of x is or-ed
/// back so expm1(−0) = −0). Measured max error 1.44 ulp with FMA, 1.46
/// without (`expm1_error_over_all_f32`, at x ≈ 17 where 2^n − 1 rounds).
/// −1 below x ≈ −17.3, +inf above 88.7228, NaN unchanged.
#[inline(always)]
pub fn expm1(x: Vf) -> Vf {
    if all_within(x, EXP_FAST) {
        expm1_in_range(x)
    } else {
        expm1_slow(x)
    }
}

#[inline(always)]
fn expm1_in_range(x: Vf) -> Vf {
    let (r, t) = reduce(x);
    let mut p = splat(EXPM1_C[5]);
    p = mul_add(p, r, splat(EXPM1_C[4]));
    p = mul_add(p, r, splat(EXPM1_C[3]));
    p = mul_add(p, r, splat(EXPM1_C[2]));
    p = mul_add(p, r, splat(EXPM1_C[1]));
    p = mul_add(p, r, splat(EXPM1_C[0]));
    let q = mul_add(p, r * r, r);
    // 2^n = ((n + 127) << 23); ROUND's bits carry n in the low bits.
    let s = Vf::from_bits((t.to_bits() << 23) + u32x16::splat(127 << 23));
    // expm1 has the sign of x; or-ing it back keeps expm1(−0) = −0 (the
    // sum q + 0 would round it to +0).
    mul_add(s, q, s - splat(1.0)) | (x & splat(-0.0))
}

#[inline(always)]
fn expm1_slow(x: Vf) -> Vf {
    // Below −87 the result is −1 (e^x < 2^-25); above 86.5 the 1 is below
    // half an ulp of e^x, so expm1 = exp there (including the overflow).
    let low = expm1_in_range(x.fast_max(splat(-87.0)).fast_min(splat(EXP_FAST)));
    let y = x.simd_gt(splat(EXP_FAST)).select(exp_slow(x), low);
    x.is_nan().select(x, y)
}

// ---------------------------------------------------------------------------
// tanh

/// Minimax tanh(x) ≈ x + x·Σ c_k x^(2k), k = 1..7, on |x| ≤ 0.9, relative
/// error 0.02 ulp with these f32 coefficients.
const TANH_C: [f32; 7] = [
    -0.333_333_22,
    0.133_329_81,
    -0.053_929_474,
    0.021_664_092,
    -0.008_265_454,
    0.002_583_423_2,
    -0.000_455_708_1,
];
/// Below this |x| tanh uses the odd polynomial; above, 1 − 2/(e^(2|x|) + 1),
/// whose cancellation (amplification 2/(e^(2|x|) − 1) ≤ 0.4 here) stays
/// below half an ulp.
const TANH_SPLIT: f32 = 0.9;

/// tanh(x), lane-wise, for every f32.
///
/// |x| < 0.9: x + x³·P(x²) (degree-15 odd minimax); |x| ≥ 0.9:
/// sign(x)·(1 − 2/(e^(2|x|) + 1)) with [`exp`]'s fast path (2|x| is clamped
/// to 40, beyond which tanh rounds to ±1). Measured max error 1.02 ulp with
/// FMA, 1.04 without (`tanh_error_over_all_f32`; glibc's tanhf, the scalar
/// twin, has 2.19). Eigen's 13/6 rational (`ptanh_float`), measured the same
/// way, has 4.9 ulp: too close to the 4-ulp contract once both sides err.
/// tanh(±inf) = ±1, tanh(−0) = −0, NaN in, NaN out.
///
/// A vector whose lanes all take one branch computes only that one (the
/// same operations, so the same bits): in a deep tanh net most vectors are
/// all below 0.9 (96 % of them in config A of `bench/peers`), and the
/// exponential branch is the dearer one.
#[inline(always)]
pub fn tanh(x: Vf) -> Vf {
    // The branches on |x| (results ≥ 0), then x's sign bit or-ed in: odd
    // symmetry, and tanh(−0) = −0.
    let ax = x.abs();
    let sign = x & splat(-0.0);
    let small = || {
        let y = ax * ax;
        let mut p = splat(TANH_C[6]);
        for &c in TANH_C[..6].iter().rev() {
            p = mul_add(p, y, splat(c));
        }
        mul_add(p, ax * y, ax)
    };
    let big = || {
        let e = exp_in_range((ax + ax).fast_min(splat(40.0)));
        // 2/(e + 1) = 2·recip(e + 1) exactly (a power-of-two scaling).
        mul_add(splat(-2.0), recip(e + splat(1.0)), splat(1.0))
    };
    // NaN compares false and takes the polynomial, which returns it.
    let big_lanes = ax.simd_ge(splat(TANH_SPLIT));
    if !big_lanes.any() {
        small() | sign
    } else if big_lanes.all() {
        big() | sign
    } else {
        big_lanes.select(big(), small()) | sign
    }
}

// ---------------------------------------------------------------------------
// log1p

/// Minimax log1p(u) ≈ u + Σ c_k u^k, k = 2..10, on [0, 1], relative error
/// 0.09 ulp with these f32 coefficients (rounded one at a time, rest refitted).
const LOG1P_C: [f32; 9] = [
    -0.499_999_3,
    0.333_304_64,
    -0.249_580_19,
    0.196_921_02,
    -0.153_448_8,
    0.106_611_28,
    -0.057_457_23,
    0.020_086_242,
    -0.003_290_468_6,
];

/// ln(1 + u) for u in [0, 1] (the range softplus needs: u = e^−|x|).
///
/// One polynomial u + u²·P(u) of degree 10 over the whole range: 1 + u
/// spans one binade, so no exponent split or table is needed and u enters
/// exactly (no rounding of 1 + u). Measured max error 1.23 ulp with FMA,
/// 1.64 without (`log1p_error_on_unit_interval`, every third float of
/// [0, 1]). Outside [0, 1] the result is not an approximation of ln(1 + u).
#[inline(always)]
pub fn log1p_unit(u: Vf) -> Vf {
    let mut p = splat(LOG1P_C[8]);
    for &c in LOG1P_C[..8].iter().rev() {
        p = mul_add(p, u, splat(c));
    }
    mul_add(p, u * u, u)
}

// ---------------------------------------------------------------------------
// Φ, the standard normal cdf (erfc form)

/// t = 1/(1 + K·|x|) maps |x| ∈ [0, 14.5] to [0.181, 1]. K is exact in f32
/// (the fit assumes the same K the kernel uses) and small, because the
/// rounding of t costs (d ln Φ/d ln t) ≈ 0.8/K + … ulps near 0.
const PHI_K: f32 = 0.3125;
/// |x| is clamped here: Φ(−14.5) ≈ 6e-48 is 0 in f32 and e^(−x²/2) too.
const PHI_XMAX: f32 = 14.5;
/// Minimax Q(t) = Φ(−x)·e^(x²/2)/t (= erfcx(x/√2)/(2t)), degree 9 in t on
/// [0.181, 1], relative error 0.22 ulp with these f32 coefficients.
const PHI_Q: [f32; 10] = [
    0.124_665_35,
    0.124_750_58,
    0.111_881_4,
    0.090_099_156,
    0.055_517_707,
    -0.002_508_336,
    0.074_268_02,
    -0.151_083_99,
    0.091_437_04,
    -0.019_026_926,
];
/// Below this |x|, Φ(x) = ½ + x·S(x²): near 0 the erfc form's rounding
/// (about 5 ulp relative) is larger than the slack the gelu tests have.
const PHI_SMALL: f32 = 0.75;
/// Minimax S(y) = (Φ(√y) − ½)/√y, degree 4 on [0, 0.5625], relative error
/// 0.5 ulp (the rounding of S(0) = 1/√(2π) to f32).
const PHI_S: [f32; 5] = [
    0.398_942_3,
    -0.066_490_956,
    0.009_978_025,
    -0.001_197_072_7,
    0.000_116_752_21,
];
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

/// `(Φ(x), e^(−x²/2))` lane-wise; see [`normal_cdf`]. The second value
/// (for |x| ≤ 14.5; 0 beyond, where it is below 2^-150 anyway) gives the
/// density φ(x) = e^(−x²/2)/√(2π); max error 1.1 ulp.
#[inline(always)]
pub fn normal_cdf_and_gauss(x: Vf) -> (Vf, Vf) {
    // (The constant first: a NaN |x| passes through the min, and from
    // there through every lane operation below.)
    let ax = splat(PHI_XMAX).fast_min(x.abs());
    let t = recip(mul_add(ax, splat(PHI_K), splat(1.0)));
    let mut q = splat(PHI_Q[9]);
    for &c in PHI_Q[..9].iter().rev() {
        q = mul_add(q, t, splat(c));
    }
    // −x²/2 exactly as hi + lo, so e^(−x²/2) keeps its relative accuracy at
    // large |x| (a rounded x² would cost up to x²·2^-24 relative).
    let (h, h_lo) = two_prod(ax, ax * splat(-0.5)); // −x²/2 = h + h_lo
    let gauss = exp_hilo(h, h_lo);
    let lower = gauss * (t * q); // Φ(−|x|)
    let tail = x.simd_lt(splat(0.0)).select(lower, splat(1.0) - lower);
    // S(x²) evaluated in h = −x²/2: coefficients times (−2)^k, exact.
    let mut s = splat(PHI_S[4] * 16.0);
    for (k, &c) in PHI_S[..4].iter().enumerate().rev() {
        s = mul_add(s, h, splat(c * (-2.0f32).powi(k as i32)));
    }
    let near0 = mul_add(x, s, splat(0.5));
    (ax.simd_lt(splat(PHI_SMALL)).select(near0, tail), gauss)
}

/// Φ(x) = ½·erfc(−x/√2), lane-wise, with relative accuracy in the lower
/// tail (no 1 + erf cancellation).
///
/// |x| ≥ 0.75: Φ(−|x|) = e^(−x²/2)·t·Q(t) with t = 1/(1 + 0.3125|x|) and Q
/// a degree-9 minimax polynomial (the erfc form of Numerical Recipes' erfcc,
/// refitted for Φ directly so that x/√2 is never rounded); x²/2 is carried
/// exactly (hi + lo) into [`exp`]'s reduction; Φ(x) = 1 − Φ(−x) for x > 0.
/// |x| < 0.75: ½ + x·S(x²), S a degree-4 minimax polynomial.
///
/// Measured max relative error over normal results: 5.3 ulp with FMA, 6.2
/// without (`normal_cdf_error_over_all_f32`), at x ≈ −1.9, in the lower
/// tail. Most of it is the rounding of t (two roundings, amplified by
/// d ln(tQ)/d ln t ≈ 2.3) and Horner's rounding in Q; a residual correction
/// of t would take it to ~3.5 ulp for 8 more operations. Results below
/// 2^-126 (x < −13.2) are subnormal (gradual underflow, ≤ 2 ulp of 2^-149),
/// 0 below x ≈ −14.1. NaN in, NaN out.
#[inline(always)]
pub fn normal_cdf(x: Vf) -> Vf {
    normal_cdf_and_gauss(x).0
}

/// φ(x) = e^(−x²/2)/√(2π) from the second value of [`normal_cdf_and_gauss`].
#[inline(always)]
pub fn normal_pdf_from_gauss(gauss: Vf) -> Vf {
    gauss * splat(FRAC_1_SQRT_2PI)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The prefetches are hints: over every start and length of a buffer
    /// (its last line included, the empty slice at its end), nothing
    /// faults and no value changes.
    #[test]
    fn prefetches_leave_every_value_as_it_was() {
        let values: Vec<f32> = (0..100).map(|i| i as f32 * 0.5 - 7.0).collect();
        let buf = values.clone();
        for start in 0..=buf.len() {
            for end in start..=buf.len() {
                prefetch(&buf[start..end]);
                prefetch_write(&buf[start..end]);
            }
        }
        assert_eq!(buf, values);
    }

    /// The spacing of f32 in the binade of the exact value `want`
    /// (2^-149 in the subnormal range).
    pub(crate) fn ulp_of(want: f64) -> f64 {
        let a = want.abs();
        if a < f32::MIN_POSITIVE as f64 {
            return f32::from_bits(1) as f64;
        }
        2f64.powi(a.log2().floor() as i32 - 23)
    }

    /// |got − want| in ulps of `want` (exact value). 0 when both are the
    /// same infinity or both NaN; infinite when only one side is inf/NaN.
    pub(crate) fn ulp_err(got: f32, want: f64) -> f64 {
        if got.is_nan() || want.is_nan() {
            return if got.is_nan() && want.is_nan() {
                0.0
            } else {
                f64::INFINITY
            };
        }
        if got as f64 == want || (got.is_infinite() && got == want as f32) {
            return 0.0;
        }
        if got.is_infinite() {
            return f64::INFINITY;
        }
        (got as f64 - want).abs() / ulp_of(want)
    }

    /// Worst errors of a vector function against an f64 reference: relative
    /// (ulps) over normal results, and in units of 2^-149 over subnormal ones.
    #[derive(Default, Debug)]
    pub(crate) struct Worst {
        pub ulp: f64,
        pub at: f32,
        pub sub: f64,
        pub sub_at: f32,
        pub count: u64,
    }

    pub(crate) fn measure(
        name: &str,
        f: impl Fn(Vf) -> Vf,
        xs: impl Iterator<Item = f32>,
        want: impl Fn(f64) -> f64,
    ) -> Worst {
        let mut w = Worst::default();
        let mut buf = [0.0f32; LANES];
        let mut n = 0;
        let flush = |buf: &[f32], w: &mut Worst| {
            let y = f(load_padded(buf, 0.0)).to_array();
            for (&x, &g) in buf.iter().zip(&y) {
                w.count += 1;
                if x.is_nan() {
                    assert!(g.is_nan(), "{name}(NaN) = {g}");
                    continue;
                }
                let r = want(x as f64);
                let e = ulp_err(g, r);
                assert!(e.is_finite(), "{name}({x:e}) = {g:e}, want {r:e}");
                if r.abs() >= f32::MIN_POSITIVE as f64 {
                    if e > w.ulp {
                        (w.ulp, w.at) = (e, x);
                    }
                } else {
                    let d = (g as f64 - r).abs() / f32::from_bits(1) as f64;
                    if d > w.sub {
                        (w.sub, w.sub_at) = (d, x);
                    }
                }
            }
        };
        for x in xs {
            buf[n] = x;
            n += 1;
            if n == LANES {
                flush(&buf, &mut w);
                n = 0;
            }
        }
        flush(&buf[..n], &mut w);
        w
    }

    /// Every `stride`-th f32 bit pattern (both signs, NaNs and infinities
    /// included), then the last pattern and the special values.
    pub(crate) fn sweep(stride: u32) -> impl Iterator<Item = f32> {
        (0..=u32::MAX / stride)
            .map(move |i| f32::from_bits(i * stride))
            .chain([f32::from_bits(u32::MAX)])
            .chain(SPECIALS)
    }

    /// Every float from `a` up to `b` (same sign, a < b in magnitude order).
    pub(crate) fn every(a: f32, b: f32) -> impl Iterator<Item = f32> {
        let (lo, hi) = if a.to_bits() < b.to_bits() {
            (a.to_bits(), b.to_bits())
        } else {
            (b.to_bits(), a.to_bits())
        };
        (lo..=hi).map(f32::from_bits)
    }

    pub(crate) const SPECIALS: [f32; 14] = [
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        1e-45,
        -1e-45,
        f32::MAX,
        f32::MIN,
        f32::EPSILON,
        -f32::EPSILON,
        1.0,
        -1.0,
    ];

    fn eval(f: impl Fn(Vf) -> Vf, xs: &[f32]) -> Vec<f32> {
        xs.chunks(LANES)
            .flat_map(|c| f(load_padded(c, 0.0)).to_array()[..c.len()].to_vec())
            .collect()
    }

    fn fused() -> &'static str {
        match (
            cfg!(target_feature = "avx512f"),
            cfg!(target_feature = "avx2"),
            cfg!(target_feature = "fma"),
        ) {
            (true, _, true) => "AVX-512 + FMA",
            (false, true, true) => "AVX2 + FMA",
            (_, _, false) if cfg!(target_feature = "avx") => "AVX, no FMA",
            _ => "SSE2, no FMA",
        }
    }

    #[test]
    fn exp_error_over_all_f32() {
        // All f32 strided by 13, every float with a subnormal or vanishing
        // result, every float around the overflow threshold.
        let xs = sweep(13)
            .chain(every(-87.0, -104.5))
            .chain(every(88.0, 89.0));
        let w = measure("exp", exp, xs, f64::exp);
        println!(
            "exp ({}): max error {:.3} ulp at x = {:e}; subnormal results {:.3} ulp of 2^-149 at {:e} ({} inputs)",
            fused(),
            w.ulp,
            w.at,
            w.sub,
            w.sub_at,
            w.count
        );
        assert!(w.ulp <= 4.0 && w.sub <= 1.0, "{w:?}");
        let sp = eval(
            exp,
            &[
                0.0,
                -0.0,
                f32::INFINITY,
                f32::NEG_INFINITY,
                88.73,
                89.0,
                1e30,
                -104.0,
                -1e30,
            ],
        );
        assert_eq!(
            sp,
            [
                1.0,
                1.0,
                f32::INFINITY,
                0.0,
                f32::INFINITY,
                f32::INFINITY,
                f32::INFINITY,
                0.0,
                0.0
            ]
        );
        // NaN comes back unchanged (payload and sign).
        for bits in [0x7fc0_0000u32, 0xffc0_0001, 0x7f80_0001, 0x7fab_cdef] {
            assert_eq!(eval(exp, &[f32::from_bits(bits), 1.0])[0].to_bits(), bits);
        }
    }

    #[test]
    fn slow_path_lanes_match_fast_path() {
        // An out-of-range lane must not change the others.
        let xs: Vec<f32> = (0..LANES)
            .map(|i| (-80.0 + 10.7 * i as f32).clamp(-86.0, 86.0))
            .collect();
        type VecFn = fn(Vf) -> Vf;
        let fs: [(&str, VecFn); 3] = [("exp", exp), ("expm1", expm1), ("cdf", normal_cdf)];
        for (name, f) in fs {
            let fast = eval(f, &xs);
            for (k, bad) in [f32::NAN, 100.0, -100.0, f32::INFINITY]
                .into_iter()
                .enumerate()
            {
                let mut ys = xs.clone();
                ys[k * 3] = bad;
                let mixed = eval(f, &ys);
                for i in (0..LANES).filter(|&i| i != k * 3) {
                    assert_eq!(mixed[i].to_bits(), fast[i].to_bits(), "{name} lane {i}");
                }
            }
        }
    }

    #[test]
    fn expm1_error_over_all_f32() {
        let w = measure(
            "expm1",
            expm1,
            sweep(13).chain(every(-1e-3, 1e-3).step_by(7)),
            f64::exp_m1,
        );
        println!(
            "expm1 ({}): max error {:.3} ulp at x = {:e} ({} inputs)",
            fused(),
            w.ulp,
            w.at,
            w.count
        );
        assert!(w.ulp <= 2.0 && w.sub <= 1.0, "{w:?}");
        let sp = eval(
            expm1,
            &[f32::NEG_INFINITY, f32::INFINITY, -0.0, 1e-40, -50.0, 100.0],
        );
        assert_eq!(sp, [-1.0, f32::INFINITY, -0.0, 1e-40, -1.0, f32::INFINITY]);
        assert_eq!(sp[2].to_bits(), (-0.0f32).to_bits());
    }

    #[test]
    fn tanh_error_over_all_f32() {
        let w = measure("tanh", tanh, sweep(13).chain(every(0.85, 0.95)), f64::tanh);
        println!(
            "tanh ({}): max error {:.3} ulp at x = {:e} ({} inputs)",
            fused(),
            w.ulp,
            w.at,
            w.count
        );
        assert!(w.ulp <= 2.0 && w.sub <= 1.0, "{w:?}");
        let sp = eval(tanh, &[f32::INFINITY, f32::NEG_INFINITY, -0.0, 1e-40]);
        assert_eq!(sp, [1.0, -1.0, -0.0, 1e-40]);
        assert_eq!(sp[2].to_bits(), (-0.0f32).to_bits());
    }

    #[test]
    fn tanh_of_a_lane_does_not_depend_on_the_other_lanes() {
        // Vectors all below the split, all above it and mixed take
        // different paths; each lane must get the same bits on all.
        let xs: Vec<f32> = sweep(4099).chain(every(0.89, 0.91)).collect();
        for neighbour in [0.0f32, 0.5, -0.89, 0.9, 3.0, -20.0, f32::NAN] {
            for &x in &xs {
                let mixed =
                    f32x16::from(std::array::from_fn(|i| if i == 0 { x } else { neighbour }));
                let alone = tanh(mixed).to_array()[0];
                let uniform = tanh(splat(x)).to_array()[0];
                assert_eq!(
                    alone.to_bits(),
                    uniform.to_bits(),
                    "x = {x:e} beside {neighbour}"
                );
            }
        }
    }

    #[test]
    fn log1p_error_on_unit_interval() {
        // Every float in [0, 1] (1.07e9 of them, by 3).
        let xs = (0..=1.0f32.to_bits() / 3)
            .map(|i| f32::from_bits(3 * i))
            .chain([1.0]);
        let w = measure("log1p", log1p_unit, xs, f64::ln_1p);
        println!(
            "log1p_unit ({}): max error {:.3} ulp at u = {:e} ({} inputs)",
            fused(),
            w.ulp,
            w.at,
            w.count
        );
        assert!(w.ulp <= 2.0 && w.sub <= 1.0, "{w:?}");
    }

    #[test]
    fn normal_cdf_error_over_all_f32() {
        let phi = |x: f64| 0.5 * libm::erfc(-x / std::f64::consts::SQRT_2);
        let w = measure(
            "normal_cdf",
            normal_cdf,
            sweep(13).chain(every(-13.0, -14.5)),
            phi,
        );
        println!(
            "normal_cdf ({}): max error {:.3} ulp (relative, normal results) at x = {:e}; \
             subnormal results {:.3} ulp of 2^-149 at {:e} ({} inputs)",
            fused(),
            w.ulp,
            w.at,
            w.sub,
            w.sub_at,
            w.count
        );
        assert!(w.ulp <= 7.0 && w.sub <= 2.0, "{w:?}");
        // e^(−x²/2), the density's exponential, on |x| ≤ 14.5.
        let xs = sweep(13).filter(|x| x.abs() <= PHI_XMAX);
        let g = measure(
            "gauss",
            |x| normal_cdf_and_gauss(x).1,
            xs,
            |x| (-0.5 * x * x).exp(),
        );
        println!(
            "e^(-x^2/2) ({}): max error {:.3} ulp at x = {:e}",
            fused(),
            g.ulp,
            g.at
        );
        assert!(g.ulp <= 2.0 && g.sub <= 2.0, "{g:?}");
        let sp = eval(
            normal_cdf,
            &[f32::INFINITY, f32::NEG_INFINITY, 0.0, -40.0, 40.0],
        );
        assert_eq!(sp, [1.0, 0.0, 0.5, 0.0, 1.0]);
    }

    #[test]
    fn recip_and_div_match_ieee() {
        // Every 5th float in [1, 4) and strided over [1, 2^126); quotients
        // with numerators spread over [−8, 8).
        let ds: Vec<f32> = every(1.0, 4.0)
            .step_by(5)
            .chain((0..4_000_000u32).map(|i| f32::from_bits(0x3f80_0000 + i * 264)))
            .filter(|&d| d < RECIP_MAX)
            .collect();
        let (mut miss_r, mut miss_q, mut worst) = (0usize, 0usize, 0.0f64);
        for (k, c) in ds.chunks(LANES).enumerate() {
            let d = load_padded(c, 1.0);
            let a: Vf = Vf::from(std::array::from_fn::<f32, LANES, _>(|i| {
                (((k * LANES + i) as f32) * 0.618_034).fract() * 16.0 - 8.0
            }));
            let (r, q) = (recip(d).to_array(), div(a, d).to_array());
            let (da, aa) = (d.to_array(), a.to_array());
            for i in 0..c.len() {
                let (er, eq) = (1.0 / da[i], aa[i] / da[i]);
                miss_r += (r[i] != er) as usize;
                miss_q += (q[i] != eq) as usize;
                let e = ulp_err(r[i], 1.0 / da[i] as f64)
                    .max(ulp_err(q[i], aa[i] as f64 / da[i] as f64));
                assert!(
                    e.is_finite(),
                    "1/{:e} = {:e}, {:e}/{:e} = {:e}",
                    da[i],
                    r[i],
                    aa[i],
                    da[i],
                    q[i]
                );
                worst = worst.max(e);
            }
        }
        println!(
            "recip/div ({}): {miss_r} and {miss_q} of {} differ from the IEEE result; max error {worst:.3} ulp",
            fused(),
            ds.len()
        );
        assert!(worst <= 0.51, "{worst}");
        let edge = eval(recip, &[1.0, -1.0, RECIP_MAX * 0.999_999_9, f32::NAN]);
        assert_eq!(edge[..2], [1.0, -1.0]);
        assert!(edge[3].is_nan());
    }

    #[test]
    fn sums_are_fixed_order() {
        let v: Vec<f32> = (0..1000)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * 1.1e-3)
            .collect();
        // The documented order, written out in scalar code.
        let mut lanes = [0.0f32; LANES];
        for (i, &x) in v.iter().enumerate() {
            lanes[i % LANES] += x;
        }
        let w: Vec<f32> = (0..8).map(|i| lanes[i] + lanes[i + 8]).collect();
        let b = [w[0] + w[4], w[1] + w[5], w[2] + w[6], w[3] + w[7]];
        let want = (b[0] + b[2]) + (b[1] + b[3]);
        assert_eq!(sum(&v).to_bits(), want.to_bits());
        assert_eq!(sum(&[]), 0.0);
        let exact: f64 = v.iter().map(|&x| x as f64).sum();
        println!("sum: fixed-order {} vs f64 {exact}", sum(&v));
    }

    #[test]
    fn two_prod_is_exact() {
        for &(a, b) in &[
            (1.1f32, 1.3f32),
            (3.0e3, 7.123),
            (14.49, 14.49),
            (1e-3, 3.3),
        ] {
            let (p, e) = two_prod(splat(a), splat(b));
            let exact = a as f64 * b as f64;
            assert_eq!(p.to_array()[0] as f64 + e.to_array()[0] as f64, exact);
        }
    }
}
