//! Reductions for the statistics, accumulated in f64 in a fixed (index)
//! order so that results do not depend on how work was split.

use wide::{bytemuck, f64x8};

/// Count, mean, population variance, min, max, Σ|x| and Σx² of a slice.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moments {
    pub count: usize,
    pub mean: f64,
    /// Population variance (divides by `count`, as NumPy's default).
    pub var: f64,
    pub min: f64,
    pub max: f64,
    pub abs_sum: f64,
    pub sq_sum: f64,
}

impl Moments {
    /// Population standard deviation.
    pub fn std(&self) -> f64 {
        self.var.sqrt()
    }
    /// Euclidean norm √Σx².
    pub fn norm(&self) -> f64 {
        self.sq_sum.sqrt()
    }
    /// Mean of |x|.
    pub fn abs_mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.abs_sum / self.count as f64
        }
    }
}

/// f64 lanes the reductions accumulate in: element i goes to lane i % 8,
/// and lanes combine in a fixed tree, so the result is the same for every
/// build (the loop vectorizes, per-lane IEEE operations are identical).
const LANES: usize = 8;

/// Sums lanes in a fixed tree: ((0+1)+(2+3))+((4+5)+(6+7)).
fn tree_sum(l: [f64; LANES]) -> f64 {
    ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]))
}

/// The bits of |v|: without a sign bit they order as the values do (NaN
/// last, as `f32::total_cmp` puts it), their top byte the exponent.
fn abs_key(v: f32) -> u32 {
    v.to_bits() & 0x7fff_ffff
}

/// Eight values widened to f64 lanes.
#[inline(always)]
fn widen(c: &[f32]) -> f64x8 {
    f64x8::from(std::array::from_fn::<f64, LANES, _>(|k| c[k] as f64))
}

/// Moments of `x` in two passes (mean first, then centered squares), so the
/// variance does not cancel when |mean| ≫ std. An empty slice gives zeros.
///
/// Eight values a step in f64 lanes; a NaN makes min and max NaN at the
/// end (see `Sums`). (AMD Zen 4, 38 400 values: 1.3–1.8 → 0.37 ns a
/// value; 0.29 with the NaN test out of the loop.)
pub fn moments(x: &[f32]) -> Moments {
    let [m] = moments_each([x]);
    m
}

/// [`moments`] of each of `N` slices of one length, the same bits, their
/// passes interleaved: each lane's sum is a chain of dependent additions,
/// which `N` slices' chains overlap. (AMD Zen 4, three slices of 38 400
/// values, `cargo bench --bench stats`: 36.7 µs one by one, 34.8 together.)
///
/// # Panics
///
/// When the slices' lengths differ.
pub fn moments_each<const N: usize>(xs: [&[f32]; N]) -> [Moments; N] {
    let len = xs.first().map_or(0, |x| x.len());
    assert!(xs.iter().all(|x| x.len() == len), "slices of one length");
    if N > 1 && !cfg!(target_feature = "avx512f") {
        // A slice's sums fill ten of 16 AVX registers: several spill (Zen
        // 3: three slices 61 µs together, 46 one by one). Same bits.
        return xs.map(|x| moments_each([x])[0]);
    }
    if len == 0 {
        return [Moments::default(); N];
    }
    let whole = len - len % LANES;
    let mut sums = [Sums::new(); N];
    // Bounds checked once here, not per load.
    let xs = xs.map(|x| &x[..len]);
    for i in (0..whole).step_by(LANES) {
        for (s, x) in sums.iter_mut().zip(xs) {
            s.add(widen(&x[i..i + LANES]));
        }
    }
    // By value, so the accumulators stay in registers through the loop.
    let mut tails = xs.iter().map(|x| &x[whole..]);
    let sums = sums.map(|s| s.with_tail(tails.next().expect("one per slice")));
    let n = len as f64;
    let means = sums.each_ref().map(|s| tree_sum(s.sum) / n);
    let mut centered = [f64x8::ZERO; N];
    for i in (0..whole).step_by(LANES) {
        for ((c, x), &mean) in centered.iter_mut().zip(xs).zip(&means) {
            let d = widen(&x[i..i + LANES]) - f64x8::splat(mean);
            *c += d * d;
        }
    }
    std::array::from_fn(|k| {
        let mut centered = centered[k].to_array();
        for (j, &v) in xs[k][whole..].iter().enumerate() {
            let d = v as f64 - means[k];
            centered[j] += d * d;
        }
        let s = &sums[k];
        let (min, max) = if s.sq.iter().any(|q| q.is_nan()) {
            (f64::NAN, f64::NAN)
        } else {
            (
                s.min.into_iter().fold(f64::INFINITY, f64::min),
                s.max.into_iter().fold(f64::NEG_INFINITY, f64::max),
            )
        };
        Moments {
            count: len,
            mean: means[k],
            var: tree_sum(centered) / n,
            min,
            max,
            abs_sum: tree_sum(s.abs),
            sq_sum: tree_sum(s.sq),
        }
    })
}

/// The first pass of [`moments_each`] over one slice, in f64 lanes.
///
/// Seven operations for eight values: no NaN test, as Σx² is NaN exactly
/// when a value is (±∞ squares to +∞, and +∞ sums never give NaN), and
/// min and max may then be anything, as they are reported as NaN. x² of a
/// widened f32 is exact, so the fused multiply-add rounds as the separate
/// multiply and add would.
#[derive(Clone, Copy)]
struct Sums {
    sum: f64x8,
    abs: f64x8,
    sq: f64x8,
    min: f64x8,
    max: f64x8,
}

/// [`Sums`] with the slice's tail added, lane by lane.
struct Totals {
    sum: [f64; LANES],
    abs: [f64; LANES],
    sq: [f64; LANES],
    min: [f64; LANES],
    max: [f64; LANES],
}

impl Sums {
    fn new() -> Sums {
        Sums {
            sum: f64x8::ZERO,
            abs: f64x8::ZERO,
            sq: f64x8::ZERO,
            min: f64x8::splat(f64::INFINITY),
            max: f64x8::splat(f64::NEG_INFINITY),
        }
    }

    #[inline(always)]
    fn add(&mut self, v: f64x8) {
        self.sum += v;
        self.abs += v.abs();
        self.sq = v.mul_add(v, self.sq);
        // The running value first: on a tie of ±0 the result is `v`.
        self.min = self.min.fast_min(v);
        self.max = self.max.fast_max(v);
    }

    fn with_tail(&self, tail: &[f32]) -> Totals {
        let mut t = Totals {
            sum: self.sum.to_array(),
            abs: self.abs.to_array(),
            sq: self.sq.to_array(),
            min: self.min.to_array(),
            max: self.max.to_array(),
        };
        for (j, &v) in tail.iter().enumerate() {
            let v = v as f64;
            t.sum[j] += v;
            t.abs[j] += v.abs();
            t.sq[j] += v * v;
            t.min[j] = t.min[j].min(v);
            t.max[j] = t.max[j].max(v);
        }
        t
    }
}

/// Σx² in f64, element i in lane i % 8 as [`moments`] sums it (so the same
/// bits as its `sq_sum`), for a caller that needs nothing else.
pub fn sq_sum(x: &[f32]) -> f64 {
    let mut sq = f64x8::ZERO;
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        let v = widen(c);
        sq += v * v;
    }
    let mut sq = sq.to_array();
    for (j, &v) in tail.iter().enumerate() {
        sq[j] += v as f64 * v as f64;
    }
    tree_sum(sq)
}

/// Σ(new − old)² of the f32 differences, the same bits as [`sq_sum`] of
/// them written out, while copying `new` over `old`, in one pass: ‖ΔW‖²
/// of a step from a copy of W before it, left a copy of W after it.
///
/// ```
/// use depthlab_kernels::reduce::diff_sq_sum_into;
/// let mut old = [1.0f32, 2.0, 3.0];
/// assert_eq!(diff_sq_sum_into(&mut old, &[1.0, 4.0, 0.0]), 13.0);
/// assert_eq!(old, [1.0, 4.0, 0.0]);
/// ```
///
/// # Panics
///
/// When the lengths differ.
pub fn diff_sq_sum_into(old: &mut [f32], new: &[f32]) -> f64 {
    assert_eq!(old.len(), new.len(), "slices of one length");
    let mut sq = f64x8::ZERO;
    let whole = new.len() - new.len() % LANES;
    let (body, tail) = old.split_at_mut(whole);
    for (o, n) in body.chunks_exact_mut(LANES).zip(new.chunks_exact(LANES)) {
        let d = f64x8::from(std::array::from_fn::<f64, LANES, _>(|k| {
            (n[k] - o[k]) as f64
        }));
        sq = d.mul_add(d, sq);
        o.copy_from_slice(n);
    }
    let mut sq = sq.to_array();
    for (j, (o, &n)) in tail.iter_mut().zip(&new[whole..]).enumerate() {
        let d = (n - *o) as f64;
        sq[j] += d * d;
        *o = n;
    }
    tree_sum(sq)
}

/// The q-quantile (0 ≤ q ≤ 1) of |x|, with NumPy's default linear
/// interpolation between order statistics. `scratch` (at least `x.len()`
/// values) is overwritten; nothing is allocated. Empty input gives 0.
///
/// |x| has no sign bit, so its bits order as its values (NaN last, as
/// `f32::total_cmp` puts it): the selection is on those integer keys, in
/// two passes. The first counts the keys per exponent (the key's top
/// byte); the second copies out only the keys of the exponent that holds
/// the wanted rank, a few percent of them, to select among (narrowed
/// further when they are many). (AMD Zen 4, 38 400 normal values or their
/// ReLU, medians of 31: a selection among all the keys 1.2–1.5 ns a value;
/// copying one exponent's keys one at a time 1.1–1.3; sixteen at a time
/// 0.43–0.6. `cargo bench --bench stats`, a ReLU's output: 0.46–0.54
/// before `exponent_counts` went sixteen at a time, 0.40–0.42 after, and
/// narrowed; 0.42–0.45 not narrowed.)
pub fn abs_quantile(scratch: &mut [f32], x: &[f32], q: f64) -> f64 {
    debug_assert!(scratch.len() >= x.len());
    debug_assert!((0.0..=1.0).contains(&q));
    let n = x.len();
    if n == 0 {
        return 0.0;
    }
    let pos = q * (n - 1) as f64;
    let lo = pos.floor() as usize;
    let frac = pos - lo as f64;
    let counts = exponent_counts(x);
    // The exponent holding rank `lo`, and the ranks below it.
    let (mut below, mut e) = (0, 0);
    while below + counts[e] <= lo {
        below += counts[e];
        e += 1;
    }
    let keys: &mut [u32] = bytemuck::cast_slice_mut(&mut scratch[..n]);
    let kept = keys_of_exponent(keys, x, e as u32);
    let (keys, rank) = narrow(&mut keys[..kept], lo - below);
    let (_, &mut lo_key, right) = keys.select_nth_unstable(rank);
    let lo_val = f32::from_bits(lo_key) as f64;
    if frac == 0.0 || lo + 1 == n {
        return lo_val;
    }
    // The next order statistic: among the keys selected from, else the
    // least greater key (the keys left out are all less or all greater).
    let next = match right.iter().min() {
        Some(&k) => k,
        None => x
            .iter()
            .map(|&v| abs_key(v))
            .filter(|&k| k > lo_key)
            .min()
            .unwrap_or(u32::MAX),
    };
    // NaN keys order last: a NaN next means only NaN is left, read as ∞.
    let hi_val = f32::from_bits(next);
    let hi_val = if hi_val.is_nan() {
        f32::INFINITY
    } else {
        hi_val
    };
    lo_val + frac * (hi_val as f64 - lo_val)
}

/// The keys among `keys` (of one exponent) that share the top eight bits
/// of their significand with the key of rank `rank`, moved to the front,
/// and that key's rank among them: a normal spread of values puts ~15 %
/// of them in the wanted exponent, a few thousand keys to select among for
/// a layer; a count of those eight bits leaves a few dozen. Fewer keys
/// than that are left as they are.
fn narrow(keys: &mut [u32], rank: usize) -> (&mut [u32], usize) {
    const FEW: usize = 512;
    if keys.len() <= FEW {
        return (keys, rank);
    }
    let top = |k: u32| ((k >> 15) & 0xff) as usize;
    let mut counts = [0usize; 256];
    for &k in keys.iter() {
        counts[top(k)] += 1;
    }
    let (mut below, mut b) = (0, 0);
    while below + counts[b] <= rank {
        below += counts[b];
        b += 1;
    }
    let mut kept = 0;
    for i in 0..keys.len() {
        let k = keys[i];
        // Every key is written; only those of bucket `b` are kept.
        keys[kept] = k;
        kept += usize::from(top(k) == b);
    }
    (&mut keys[..kept], rank - below)
}

/// Copies the keys of `x` (see [`abs_quantile`]) whose exponent is `e`, in
/// order, to the front of `keys` (at least `x.len()` long); returns how many.
///
/// With AVX2 or AVX-512, a vector at a time: the matching lanes are packed
/// (`pack`) and the whole vector stored where the kept keys
/// end (the unmatched lanes are overwritten by the next store). One at a
/// time, each store's place depends on every earlier comparison. (AMD Zen
/// 3, AVX2, a ReLU's 38 400 values: `cargo bench --bench stats`'s
/// abs_quantile_a 85–89 µs one at a time, most of it here.)
fn keys_of_exponent(keys: &mut [u32], x: &[f32], e: u32) -> usize {
    assert!(keys.len() >= x.len());
    let mut kept = 0;
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
    let x = {
        use crate::pack::{LANES, abs_keys, equal, exponents, pack};
        let chunks = x.chunks_exact(LANES);
        let tail = chunks.remainder();
        for c in chunks {
            // SAFETY: `c` holds LANES floats. Before chunk i, kept ≤
            // LANES·i, so kept + LANES ≤ LANES·(i + 1) ≤ x.len() ≤
            // keys.len() (asserted above), as `pack` requires.
            unsafe {
                let k = abs_keys(c);
                kept = pack(keys, kept, equal(exponents(k), e), k);
            }
        }
        tail
    };
    for &v in x {
        // Every key is written; only those of exponent `e` are kept.
        let k = abs_key(v);
        keys[kept] = k;
        kept += usize::from(k >> 23 == e);
    }
    kept
}

/// How many of |x|'s keys (see [`abs_quantile`]) fall in each exponent.
///
/// With AVX2 or AVX-512 the exponents of a vector of keys at a time are
/// packed as words, the zeros left out and counted apart (a rectifier's
/// output is half zeros), and the words counted by [`count_in_blocks`];
/// otherwise [`exponent_counts_one_by_one`].
fn exponent_counts(x: &[f32]) -> [usize; 256] {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
    {
        let whole = x.len() - x.len() % crate::pack::LANES;
        let mut counts = [0u64; 256];
        let (_, zeros) = count_in_blocks::<256>(&mut counts, &x[..whole], |values, out| {
            let (written, zeros) = nonzero_exponents(values, out);
            (written, 0, zeros)
        });
        counts[0] += zeros;
        let tail = exponent_counts_one_by_one(&x[whole..]);
        std::array::from_fn(|e| counts[e] as usize + tail[e])
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx2")))]
    exponent_counts_one_by_one(x)
}

/// [`exponent_counts`] one key at a time, in eight copies so that a run of
/// one exponent does not chain its increments through memory.
fn exponent_counts_one_by_one(x: &[f32]) -> [usize; 256] {
    let mut copies = [[0usize; 256]; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for (copy, &v) in copies.iter_mut().zip(c) {
            copy[(abs_key(v) >> 23) as usize] += 1;
        }
    }
    for &v in tail {
        copies[0][(abs_key(v) >> 23) as usize] += 1;
    }
    std::array::from_fn(|e| copies.iter().map(|copy| copy[e]).sum())
}

/// Writes the exponents of the nonzero keys of `x` (a whole number of
/// vectors) in order to the front of `out` (at least `x.len()` long);
/// returns (how many, zeros).
#[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
fn nonzero_exponents(x: &[f32], out: &mut [u32]) -> (usize, u64) {
    use crate::pack::{LANES, abs_keys, exponents, nonzero, pack};
    assert!(x.len().is_multiple_of(LANES) && out.len() >= x.len());
    let (mut written, mut zeros) = (0, 0);
    for c in x.chunks_exact(LANES) {
        // SAFETY: `c` holds LANES floats, and `pack` is given `written` ≤
        // LANES·i before chunk i, as it requires.
        unsafe {
            let k = abs_keys(c);
            let nonzero = nonzero(k);
            zeros += u64::from(LANES as u32 - nonzero.count_ones());
            written = pack(out, written, nonzero, exponents(k));
        }
    }
    (written, zeros)
}

/// Accumulates a histogram of `x` over `counts.len()` equal bins spanning
/// [lo, hi]; values beyond the range land in the edge bins, NaN in none.
/// Returns how many values lay beyond the range (counted in an edge bin).
///
/// A value's bin is ⌊(v − lo)/width⌋ in f64, clamped to the bins
/// (`bin_of`, the definition). Up to [`FAST_BINS`] bins, in blocks of
/// 256 values (`count_in_blocks`): first their bins, several at a time;
/// then the counting, four copies of the histogram taking turns, so that
/// a run of values in one bin does not make each increment wait on the
/// store of the previous one.
///
/// The bins of a block come from `Edges` where the build has AVX2 or
/// AVX-512 and the range allows (a vector of values in f32 lanes, no
/// division), else from the same formula eight at a time in f64 lanes.
/// (AMD Zen 4, 38 400 values, 41 bins: one by one 2.3 ns a value; each
/// lane's bin counted as it was computed 1.0–1.1; in blocks, f64 lanes
/// 0.8–0.9; `Edges` 0.6, and a ReLU's output with its zeros left out
/// 0.41–0.45. AMD Zen 3, AVX2: f64 lanes 1.3–1.5, `Edges` 0.8–1.1, zeros
/// left out 0.6–0.9.)
pub fn histogram(counts: &mut [u64], x: &[f32], lo: f64, hi: f64) -> u64 {
    tally(counts, x, lo, hi, false).0
}

/// [`histogram`] of the nonzero values of `x`; returns (nonzero values
/// beyond the range, exact zeros). The zeros of a rectifier's output and
/// of the δ behind it are a point mass, often half the values: left out
/// before counting, they cost nearly nothing.
pub fn nonzero_histogram(counts: &mut [u64], x: &[f32], lo: f64, hi: f64) -> (u64, u64) {
    tally(counts, x, lo, hi, true)
}

/// [`histogram`] and [`nonzero_histogram`]: (beyond, zeros left out).
fn tally(counts: &mut [u64], x: &[f32], lo: f64, hi: f64, skip_zeros: bool) -> (u64, u64) {
    let bins = counts.len();
    if bins == 0 || hi <= lo {
        let zeros = x.iter().filter(|&&v| v == 0.0).count() as u64;
        return (0, if skip_zeros { zeros } else { 0 });
    }
    let width = (hi - lo) / bins as f64;
    let one_by_one = |counts: &mut [u64], x| tally_one_by_one(counts, x, lo, hi, width, skip_zeros);
    if bins > FAST_BINS {
        return one_by_one(counts, x);
    }
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
    if let Some(edges) = Edges::new(lo, hi, width, bins) {
        let whole = x.len() - x.len() % crate::pack::LANES;
        let mut slots = [0u64; Edges::SLOTS];
        let (_, zeros) = count_in_blocks::<{ Edges::SLOTS }>(&mut slots, &x[..whole], |v, out| {
            edges.slots(v, out, skip_zeros)
        });
        // Slot k + 1 is bin k; slots 0 and bins + 1 lay beyond the range.
        for (count, slot) in counts.iter_mut().zip(&slots[1..]) {
            *count += slot;
        }
        let (below, above) = (slots[0], slots[bins + 1]);
        counts[0] += below;
        counts[bins - 1] += above;
        let (b, z) = one_by_one(counts, &x[whole..]);
        return (below + above + b, zeros + z);
    }
    let whole = x.len() - x.len() % LANES;
    let (beyond, zeros) = count_in_blocks::<{ 2 * FAST_BINS }>(counts, &x[..whole], |v, out| {
        bins_in_f64_lanes(v, out, (lo, hi, width, bins), skip_zeros)
    });
    let (b, z) = one_by_one(counts, &x[whole..]);
    (beyond + b, zeros + z)
}

/// The bins of `x` (a whole number of [`LANES`]) by the formula, eight at
/// a time in f64 lanes, into `out` ([`DROP_SLOT`] for NaN and the zeros
/// left out when `skip_zeros`); returns (bins written, values beyond the
/// range, zeros left out).
fn bins_in_f64_lanes(
    x: &[f32],
    out: &mut [u32],
    (lo, hi, width, bins): (f64, f64, f64, usize),
    skip_zeros: bool,
) -> (usize, u64, u64) {
    let (lo8, hi8, width8) = (f64x8::splat(lo), f64x8::splat(hi), f64x8::splat(width));
    let last = f64x8::splat((bins - 1) as f64);
    let drop_slot = f64x8::splat(DROP_SLOT as f64);
    let (mut beyond, mut zeros) = (0, 0);
    for (c, out) in x.chunks_exact(LANES).zip(out.chunks_exact_mut(LANES)) {
        let v = widen(c);
        // A mask: all ones where v is a zero left out (ZERO: none).
        let zero = match skip_zeros {
            true => v.simd_eq(f64x8::ZERO),
            false => f64x8::ZERO,
        };
        zeros += u64::from(zero.to_bitmask().count_ones());
        let out_of_range = (v.simd_lt(lo8) | v.simd_gt(hi8)) & !zero;
        beyond += u64::from(out_of_range.to_bitmask().count_ones());
        // Clamped into [0, last] first, the quotient's floor is its
        // truncation (`last` is whole): the bins of floor-then-clamp.
        let bin = ((v - lo8) / width8).max(f64x8::ZERO).min(last);
        let bin = (v.is_nan() | zero).select(drop_slot, bin).trunc();
        // A whole 0 ≤ b < 2^31 plus 2^52 is exact, with b in the low bits:
        // a conversion with no f64 → i64 instruction (none before
        // AVX-512DQ; wide's fallback went lane by lane).
        let bin = bin + f64x8::splat(4_503_599_627_370_496.0);
        for (o, b) in out.iter_mut().zip(bin.to_array()) {
            *o = b.to_bits() as u32;
        }
    }
    (x.len(), beyond, zeros)
}

/// Most bins [`histogram`] counts in blocks (a power of two); more go one
/// value at a time.
pub const FAST_BINS: usize = 64;

/// The slot [`count_in_blocks`] is given for a value counted in no bin
/// (NaN, a zero left out) in f64 lanes: past every bin.
const DROP_SLOT: usize = FAST_BINS;

/// Adds to `counts` (at most `SLOTS`, a power of two) the slots of `x`,
/// which `slots_of` writes to the front of a block for a block of values
/// at a time, returning (slots written, values beyond the range, zeros
/// left out); returns the sums of the last two.
fn count_in_blocks<const SLOTS: usize>(
    counts: &mut [u64],
    x: &[f32],
    mut slots_of: impl FnMut(&[f32], &mut [u32]) -> (usize, u64, u64),
) -> (u64, u64) {
    debug_assert!(SLOTS.is_power_of_two() && counts.len() <= SLOTS);
    let (mut beyond, mut zeros) = (0, 0);
    // u32 copies, emptied into `counts` before any can overflow.
    for part in x.chunks(1 << 30) {
        // The index mask below keeps every count in bounds without a check.
        let mut copies = [[0u32; SLOTS]; 4];
        let mut block = [0u32; 256];
        for values in part.chunks(block.len()) {
            let (written, b, z) = slots_of(values, &mut block[..values.len()]);
            (beyond, zeros) = (beyond + b, zeros + z);
            let four = block[..written].chunks_exact(4);
            for (copy, &b) in copies.iter_mut().zip(four.remainder()) {
                copy[b as usize & (SLOTS - 1)] += 1;
            }
            for four in four {
                for (copy, &b) in copies.iter_mut().zip(four) {
                    copy[b as usize & (SLOTS - 1)] += 1;
                }
            }
        }
        for (i, count) in counts.iter_mut().enumerate() {
            *count += copies.iter().map(|copy| u64::from(copy[i])).sum::<u64>();
        }
    }
    (beyond, zeros)
}

/// A value's bin in [`histogram`] (as f64; NaN for NaN): ⌊(v − lo)/width⌋
/// in f64, clamped to [0, last].
fn bin_of(v: f32, lo: f64, width: f64, last: f64) -> f64 {
    ((v as f64 - lo) / width).floor().clamp(0.0, last)
}

/// [`tally`] one value at a time (bins of `width`).
fn tally_one_by_one(
    counts: &mut [u64],
    x: &[f32],
    lo: f64,
    hi: f64,
    width: f64,
    skip_zeros: bool,
) -> (u64, u64) {
    let last = (counts.len() - 1) as f64;
    let (mut beyond, mut zeros) = (0, 0);
    for &v in x {
        if v.is_nan() || (skip_zeros && v == 0.0) {
            zeros += u64::from(v == 0.0);
            continue;
        }
        let v64 = v as f64;
        beyond += u64::from(v64 < lo || v64 > hi);
        counts[bin_of(v, lo, width, last) as usize] += 1;
    }
    (beyond, zeros)
}

/// The bins of [`histogram`] as f32 comparisons, a vector of values at a
/// time (sixteen with AVX-512, eight with AVX2) and no division.
///
/// The bin formula only grows with v (each rounding does), so the values
/// of bin ≥ k are those from one least f32 on, its edge, found once a call
/// from lo + k·width ([`least_with`]). Below bin 0 and past
/// the last, a slot each holds the values beyond the range: slot k + 1 is
/// bin k, and its edge `e[k + 1]`; `e[1]` is the least f32 ≥ lo, and
/// `e[bins + 1]` the least > hi. A value's slot is then the nearest whole
/// number r to its f32 estimate (v − lo)·(1/width) + 1, less one where
/// v < `e[r]`: the same bins as the f64 formula whenever the estimate is
/// within half a slot of where its edges are, which [`Edges::new`] makes
/// sure of (and is `None` otherwise).
#[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
struct Edges {
    /// e[k], 1 ≤ k ≤ bins + 1; NaN elsewhere (no comparison with it holds,
    /// so no value moves below slot 0).
    e: [f32; Edges::SLOTS],
    /// lo − width, where the estimate is 0.
    origin: f32,
    scale: f32,
    /// The last slot, bins + 1.
    last: f32,
    /// Twice the bound on the estimate's error, in slots (under 1/8): an
    /// estimate further than this from a whole number has the slot of
    /// its floor (used without AVX-512, see the AVX2 `slots`).
    #[cfg(not(target_feature = "avx512f"))]
    window: f32,
}

/// The least f32 (not NaN) for which `holds`, a property that once true
/// stays true up to +∞ and holds there but not at −∞, searched from
/// `guess`: by ulps doubling away from it until the answer is bracketed,
/// then halving the bracket. A guess within a few ulps costs a few steps;
/// one far off (near 0, where ulps are tiny) about 60.
#[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
fn least_with(holds: impl Fn(f32) -> bool, guess: f32) -> f32 {
    // f32 in order as integers: −0 and +0 both 0, ±∞ at the ends.
    const INF: i64 = 0x7f80_0000;
    let key = |v: f32| {
        let magnitude = i64::from(v.to_bits() & 0x7fff_ffff);
        if v.is_sign_negative() {
            -magnitude
        } else {
            magnitude
        }
    };
    let value = |k: i64| {
        let v = f32::from_bits(k.unsigned_abs() as u32);
        if k < 0 { -v } else { v }
    };
    let start = key(guess).clamp(-INF, INF);
    // holds(value(high)) and not holds(value(low)).
    let (mut low, mut high) = (start, start);
    let mut step = 1;
    if holds(value(start)) {
        while holds(value(low)) {
            high = low;
            low = (low - step).max(-INF);
            step *= 2;
        }
    } else {
        while !holds(value(high)) {
            low = high;
            high = (high + step).min(INF);
            step *= 2;
        }
    }
    while high - low > 1 {
        let mid = low + (high - low) / 2;
        if holds(value(mid)) {
            high = mid;
        } else {
            low = mid;
        }
    }
    value(high)
}

#[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
impl Edges {
    /// Slots of a table (bins + 2 at most).
    const SLOTS: usize = 64;

    /// The edges of `bins` bins of `width` from `lo` to `hi`, if the f32
    /// estimate is within half a slot of them everywhere: it is off by
    /// less than (|lo|/width + 3·(bins + 2))·2⁻²³ slots where it matters
    /// (beyond, both clamp), kept under 1/8 here, with lo, hi and 1/width
    /// normal f32 numbers.
    fn new(lo: f64, hi: f64, width: f64, bins: usize) -> Option<Edges> {
        const LIMIT: f64 = 1e30;
        let fits = |v: f64| v.abs() < LIMIT;
        let normal = width > 1.0 / LIMIT && fits(width) && fits(lo) && fits(hi);
        if bins + 2 > Self::SLOTS || !normal || lo.abs().max(hi.abs()) / width > (1 << 19) as f64 {
            return None;
        }
        let last = (bins - 1) as f64;
        let bin = |v: f32| bin_of(v, lo, width, last);
        let mut e = [f32::NAN; Self::SLOTS];
        for k in 1..bins {
            let kf = k as f64;
            e[k + 1] = least_with(|v| bin(v) >= kf, (lo + kf * width) as f32);
        }
        // The least f32 ≥ lo, and the least > hi.
        let mut below = lo as f32;
        if (below as f64) < lo {
            below = below.next_up();
        }
        let mut above = hi as f32;
        if (above as f64) <= hi {
            above = above.next_up();
        }
        (e[1], e[bins + 1]) = (below, above);
        Some(Edges {
            e,
            origin: (lo - width) as f32,
            scale: (1.0 / width) as f32,
            last: (bins + 1) as f32,
            #[cfg(not(target_feature = "avx512f"))]
            window: (2.0 * (lo.abs().max(hi.abs()) / width + 3.0 * (bins + 2) as f64)
                / (1 << 23) as f64) as f32,
        })
    }

    /// Writes the slots of the values of `x` (a whole number of vectors,
    /// [`LANES`](crate::pack::LANES)) counted in one, in order, to the front
    /// of `out` (at least `x.len()` long): all but NaN, and the zeros when
    /// `skip_zeros`. Returns (slots written, 0, zeros left out).
    #[cfg(target_feature = "avx512f")]
    fn slots(&self, x: &[f32], out: &mut [u32], skip_zeros: bool) -> (usize, u64, u64) {
        use std::arch::x86_64::{
            __m512, _CMP_EQ_OQ, _CMP_LT_OQ, _CMP_NEQ_OQ, _CMP_ORD_Q, _MM_FROUND_NO_EXC,
            _MM_FROUND_TO_NEAREST_INT, _mm512_cmp_ps_mask, _mm512_cvt_roundps_epi32,
            _mm512_loadu_ps, _mm512_mask_add_epi32, _mm512_mask_blend_ps, _mm512_mask_sub_epi32,
            _mm512_max_ps, _mm512_min_ps, _mm512_mul_ps, _mm512_permutex2var_ps,
            _mm512_reduce_add_epi32, _mm512_set1_epi32, _mm512_set1_ps, _mm512_setzero_si512,
            _mm512_sub_ps, _mm512_test_epi32_mask,
        };
        const NEAREST: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
        let lanes = crate::pack::LANES;
        assert!(x.len().is_multiple_of(lanes) && out.len() >= x.len() && x.len() < 1 << 30);
        let mut written = 0;
        // SAFETY: avx512f is compiled in (cfg on the type). `e` is 64
        // floats, read as four vectors of 16; each load reads the 16
        // floats of a chunk `c` of `x`; `pack` is given written ≤ 16·i
        // before chunk i, as it requires. Every other operation is on
        // registers.
        let zeros = unsafe {
            let e = self.e.as_ptr();
            let table: [__m512; 4] = std::array::from_fn(|i| _mm512_loadu_ps(e.add(16 * i)));
            let edge = |i| {
                let low = _mm512_permutex2var_ps(table[0], i, table[1]);
                let high = _mm512_permutex2var_ps(table[2], i, table[3]);
                let upper = _mm512_test_epi32_mask(i, _mm512_set1_epi32(32));
                _mm512_mask_blend_ps(upper, low, high)
            };
            let (origin, scale) = (_mm512_set1_ps(self.origin), _mm512_set1_ps(self.scale));
            let (zero, last) = (_mm512_set1_ps(0.0), _mm512_set1_ps(self.last));
            let one = _mm512_set1_epi32(1);
            // Counted per lane, summed at the end.
            let mut zeros = _mm512_setzero_si512();
            for c in x.chunks_exact(lanes) {
                let v = _mm512_loadu_ps(c.as_ptr());
                // max(q, 0) is 0 for a NaN q, which is dropped below.
                let q = _mm512_mul_ps(_mm512_sub_ps(v, origin), scale);
                let q = _mm512_min_ps(_mm512_max_ps(q, zero), last);
                // The slot is the nearest whole number r or r − 1: r − 1
                // where v lies below the edge of slot r (NaN at 0: never).
                let r = _mm512_cvt_roundps_epi32::<NEAREST>(q);
                let lower = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(v, edge(r));
                let slot = _mm512_mask_sub_epi32(r, lower, r, one);
                // Not NaN, and not zero when zeros are left out.
                let kept = if skip_zeros {
                    let skipped = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(v, zero);
                    zeros = _mm512_mask_add_epi32(zeros, skipped, zeros, one);
                    _mm512_cmp_ps_mask::<_CMP_NEQ_OQ>(v, zero)
                } else {
                    _mm512_cmp_ps_mask::<_CMP_ORD_Q>(v, v)
                };
                written = crate::pack::pack(out, written, kept, slot);
            }
            _mm512_reduce_add_epi32(zeros)
        };
        // Each lane counts under 2³⁰/16 values (asserted): no overflow.
        (written, 0, zeros as u64)
    }

    /// [`Edges::slots`] eight values at a time with AVX2, which has no
    /// cheap lookup in a table of 64 (a gather took half the time): the
    /// slot of an estimate further than `window` from a whole number is its
    /// floor (the estimate clamped to [½, last + ½], whose floors are the
    /// slots below and above the range); a vector with a lane nearer than
    /// that, rare but for ranges far from zero, looks its edges up.
    #[cfg(not(target_feature = "avx512f"))]
    fn slots(&self, x: &[f32], out: &mut [u32], skip_zeros: bool) -> (usize, u64, u64) {
        use std::arch::x86_64::{
            _CMP_EQ_OQ, _CMP_GT_OQ, _CMP_LT_OQ, _CMP_NEQ_OQ, _CMP_ORD_Q, _mm256_add_epi32,
            _mm256_and_ps, _mm256_blendv_ps, _mm256_castps_si256, _mm256_cmp_ps,
            _mm256_cvtps_epi32, _mm256_cvttps_epi32, _mm256_floor_ps, _mm256_i32gather_ps,
            _mm256_loadu_ps, _mm256_max_ps, _mm256_min_ps, _mm256_movemask_ps, _mm256_mul_ps,
            _mm256_or_ps, _mm256_set1_ps, _mm256_sub_ps,
        };
        assert!(x.len().is_multiple_of(8) && out.len() >= x.len());
        let (mut written, mut zeros) = (0, 0);
        // SAFETY: avx2 is compiled in (cfg on the type and the function).
        // Each load reads the 8 floats of a chunk `c` of `x`; each gather
        // reads e[r] for lanes 0 ≤ r ≤ last < 64 = e.len() (clamped
        // below); `pack` is given written ≤ 8·i before chunk i, as it
        // requires. Every other operation is on registers.
        unsafe {
            let (origin, scale) = (_mm256_set1_ps(self.origin), _mm256_set1_ps(self.scale));
            let (zero, last) = (_mm256_set1_ps(0.0), _mm256_set1_ps(self.last));
            let (half, past_last) = (_mm256_set1_ps(0.5), _mm256_set1_ps(self.last + 0.5));
            let (near_below, near_above) = (
                _mm256_set1_ps(self.window),
                _mm256_set1_ps(1.0 - self.window),
            );
            // The least f32 ≥ lo (slot 1) and the greatest ≤ hi (slot bins).
            let (first, first_slot) = (_mm256_set1_ps(self.e[1]), _mm256_set1_ps(1.5));
            let top = _mm256_set1_ps(self.e[self.last as usize].next_down());
            let top_slot = _mm256_set1_ps(self.last - 0.5);
            for c in x.chunks_exact(8) {
                let v = _mm256_loadu_ps(c.as_ptr());
                // Not NaN, and not zero when zeros are left out.
                let kept = if skip_zeros {
                    let skipped = _mm256_cmp_ps::<_CMP_EQ_OQ>(v, zero);
                    zeros += u64::from(_mm256_movemask_ps(skipped).count_ones());
                    _mm256_cmp_ps::<_CMP_NEQ_OQ>(v, zero)
                } else {
                    _mm256_cmp_ps::<_CMP_ORD_Q>(v, v)
                };
                // max(q, ·) is its second operand for a NaN q, dropped anyway.
                let q = _mm256_mul_ps(_mm256_sub_ps(v, origin), scale);
                let clamped = _mm256_min_ps(_mm256_max_ps(q, half), past_last);
                // lo and hi themselves (a rectifier's zeros, a saturated
                // tanh's ±1) estimate near a whole number: moved to the
                // middle of their slots, 1 and bins (each spans ≥ 16 ulps).
                let at_lo = _mm256_cmp_ps::<_CMP_EQ_OQ>(v, first);
                let clamped = _mm256_blendv_ps(clamped, first_slot, at_lo);
                let at_hi = _mm256_cmp_ps::<_CMP_EQ_OQ>(v, top);
                let clamped = _mm256_blendv_ps(clamped, top_slot, at_hi);
                let floor = _mm256_floor_ps(clamped);
                let frac = _mm256_sub_ps(clamped, floor);
                let near = _mm256_or_ps(
                    _mm256_cmp_ps::<_CMP_LT_OQ>(frac, near_below),
                    _mm256_cmp_ps::<_CMP_GT_OQ>(frac, near_above),
                );
                let slot = if _mm256_movemask_ps(_mm256_and_ps(near, kept)) == 0 {
                    _mm256_cvttps_epi32(floor)
                } else {
                    // The nearest whole number r, less one where v lies
                    // below the edge of slot r (as the AVX-512 `slots`).
                    let q = _mm256_min_ps(_mm256_max_ps(q, zero), last);
                    let r = _mm256_cvtps_epi32(q); // MXCSR's nearest
                    let edge = _mm256_i32gather_ps::<4>(self.e.as_ptr(), r);
                    let lower = _mm256_cmp_ps::<_CMP_LT_OQ>(v, edge);
                    _mm256_add_epi32(r, _mm256_castps_si256(lower))
                };
                written = crate::pack::pack(out, written, _mm256_movemask_ps(kept) as u8, slot);
            }
        }
        (written, 0, zeros)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_of_a_small_set() {
        let m = moments(&[1.0, -2.0, 3.0, 4.0]);
        assert_eq!(m.mean, 1.5);
        assert_eq!(m.var, (0.25 + 12.25 + 2.25 + 6.25) / 4.0);
        assert_eq!((m.min, m.max), (-2.0, 4.0));
        assert_eq!(m.norm(), 30f64.sqrt());
        assert_eq!(m.abs_mean(), 2.5);
    }

    #[test]
    fn lanes_match_the_sequential_twin() {
        for n in [0usize, 1, 7, 8, 9, 15, 16, 17, 63, 65, 1000] {
            for off in 0..3 {
                let x: Vec<f32> = (0..n + off)
                    .map(|i| ((i * 7919) % 1013) as f32 / 101.0 - 4.0)
                    .collect();
                let (a, b) = (moments(&x[off..]), crate::reference::moments(&x[off..]));
                let close = |p: f64, q: f64| (p - q).abs() <= 1e-12 * (1.0 + q.abs());
                assert!(
                    close(a.mean, b.mean)
                        && close(a.var, b.var)
                        && close(a.abs_sum, b.abs_sum)
                        && close(a.sq_sum, b.sq_sum),
                    "n={n}: {a:?} vs {b:?}"
                );
                assert_eq!((a.count, a.min, a.max), (b.count, b.min, b.max));
            }
        }
        for n in [0usize, 1, 7, 8, 9, 1000] {
            let x: Vec<f32> = (0..n)
                .map(|i| ((i * 7919) % 1013) as f32 / 101.0 - 4.0)
                .collect();
            assert_eq!(sq_sum(&x).to_bits(), moments(&x).sq_sum.to_bits(), "n={n}");
        }
        let m = moments(&[1.0, f32::NAN, 3.0]);
        assert!(m.min.is_nan() && m.max.is_nan() && m.mean.is_nan());
    }

    /// Values the fast paths must treat as the slow ones do: NaN, ±∞, ±0,
    /// and bin edges of the histogram tests' ranges.
    const AWKWARD: [f32; 10] = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        0.5,
        1.0,
        -1.0,
        1.5,
        -1.5,
    ];

    /// Min and max as a one-by-one fold that lets a NaN win, with each
    /// awkward value at every position (lanes and tail alike).
    #[test]
    fn min_and_max_see_every_awkward_value() {
        let nan_wins = |f: fn(f64, f64) -> f64| {
            move |a: f64, b: f64| {
                if a.is_nan() || b.is_nan() {
                    f64::NAN
                } else {
                    f(a, b)
                }
            }
        };
        for n in 1..40 {
            for at in 0..n {
                for &odd in &AWKWARD {
                    let mut x: Vec<f32> = (0..n).map(|i| ((i * 37) % 11) as f32 - 5.0).collect();
                    x[at] = odd;
                    let wide = x.iter().map(|&v| v as f64);
                    let min = wide.clone().fold(f64::INFINITY, nan_wins(f64::min));
                    let max = wide.fold(f64::NEG_INFINITY, nan_wins(f64::max));
                    let m = moments(&x);
                    let same = |p: f64, q: f64| p == q || (p.is_nan() && q.is_nan());
                    assert!(
                        same(m.min, min) && same(m.max, max),
                        "{odd} at {at} of {n}: {m:?}"
                    );
                }
            }
        }
    }

    /// The keys of one exponent, in order, against a plain filter: every
    /// exponent present, lengths around the 16-lane blocks.
    #[test]
    fn keys_of_one_exponent_are_all_copied_in_order() {
        for n in (0..70).chain([1000]) {
            let x: Vec<f32> = (0..n)
                .map(|i| match i % 3 {
                    0 => AWKWARD[(i / 3) % AWKWARD.len()],
                    _ => ((i * 7919) % 1013) as f32 / 40.0 - 12.0,
                })
                .collect();
            let key = |v: &f32| v.to_bits() & 0x7fff_ffff;
            for e in 0..256 {
                let want: Vec<u32> = x.iter().map(key).filter(|k| k >> 23 == e).collect();
                let mut keys = vec![0; n];
                let kept = keys_of_exponent(&mut keys, &x, e);
                assert_eq!(keys[..kept], want[..], "n {n}, exponent {e}");
            }
        }
    }

    /// The same order statistics as sorting |x| by `f32::total_cmp`: NaN,
    /// ±∞, ±0 and ties, every position.
    #[test]
    fn quantile_selects_what_a_total_order_sort_does() {
        // Small sets, larger ones (ties, many keys in one exponent, runs
        // of zeros), and one whose keys all share one exponent.
        let cases = (1..60).chain([100, 1000, 4097]).map(|n| {
            (0..n)
                .map(|i| match i % 4 {
                    0 => AWKWARD[(i / 4) % AWKWARD.len()],
                    1 if n > 60 => 0.0,
                    _ => ((i * 7919) % 103) as f32 / 10.0 - 5.0,
                })
                .collect::<Vec<f32>>()
        });
        let one_exponent = (0..999).map(|i| 1.0 + ((i * 7919) % 997) as f32 / 997.0);
        for x in cases.chain([one_exponent.collect()]) {
            let n = x.len();
            let mut sorted: Vec<f32> = x.iter().map(|v| v.abs()).collect();
            sorted.sort_by(f32::total_cmp);
            for q in [0.0, 0.3, 0.5, 0.98, 1.0] {
                let pos = q * (n - 1) as f64;
                let lo = pos.floor() as usize;
                let (a, frac) = (sorted[lo] as f64, pos - lo as f64);
                // The next order statistic skips NaN (∞ when only NaN is left).
                let want = match sorted.get(lo + 1) {
                    Some(&b) if frac != 0.0 => {
                        let b = if b.is_nan() { f32::INFINITY } else { b };
                        a + frac * (b as f64 - a)
                    }
                    _ => a,
                };
                let got = abs_quantile(&mut vec![0.0; n], &x, q);
                assert_eq!(got.to_bits(), want.to_bits(), "n {n}, q {q}");
            }
        }
    }

    #[test]
    fn quantile_interpolates_like_numpy() {
        let mut s = [0.0; 5];
        // np.quantile([1,2,3,4,5], 0.98) = 4.92
        let q = abs_quantile(&mut s, &[5.0, -1.0, 3.0, 2.0, -4.0], 0.98);
        assert!((q - 4.92).abs() < 1e-12);
        assert_eq!(abs_quantile(&mut s, &[-7.0], 0.98), 7.0);
    }

    /// Eight at a time and one by one give the same counts: every tail
    /// length, NaN, ±∞, ±0, values on bin edges and beyond the range.
    #[test]
    fn histogram_lanes_match_one_by_one() {
        // Every tail length, and several blocks of 256 with a part-block.
        for n in (0..40).chain([256, 1000, 2051]) {
            let x: Vec<f32> = (0..n)
                .map(|i| match i % 5 {
                    0 => AWKWARD[(i / 5) % AWKWARD.len()],
                    1 => 0.0,
                    _ => ((i * 7919) % 1013) as f32 / 200.0 - 2.5,
                })
                .collect();
            for (lo, hi, bins) in [
                (-1.0, 1.0, 41),
                (0.0, 2.0, 4),
                (-2.5, 2.5, 64),
                (-3.0, 1.0, 65),
            ] {
                let (mut fast, mut plain) = (vec![0u64; bins], vec![0u64; bins]);
                let width = (hi - lo) / bins as f64;
                let b = histogram(&mut fast, &x, lo, hi);
                let c = tally_one_by_one(&mut plain, &x, lo, hi, width, false).0;
                assert_eq!((fast, b), (plain, c), "n {n}, [{lo}, {hi}] in {bins}");
            }
        }
    }

    #[test]
    fn histogram_clamps_to_edges() {
        let mut c = [0u64; 4];
        let x = [-5.0, -0.9, -0.1, 0.0, 0.6, 9.0, f32::NAN];
        assert_eq!(histogram(&mut c, &x, -1.0, 1.0), 2);
        assert_eq!(c, [2, 1, 1, 2]);
        // An asymmetric range: [0, 2) in bins of 0.5.
        let mut c = [0u64; 4];
        assert_eq!(
            histogram(&mut c, &[0.0, 0.49, 0.5, 1.99, 2.0, -1.0], 0.0, 2.0),
            1
        );
        assert_eq!(c, [3, 1, 0, 2]);
    }

    /// Values a few ulps either side of every bin edge of [lo, hi] in
    /// `bins`, of lo and hi themselves, far beyond them, the awkward ones,
    /// and a spread across the range: what a division-free bin could get
    /// wrong.
    fn near_edges(lo: f64, hi: f64, bins: usize) -> Vec<f32> {
        let width = (hi - lo) / bins as f64;
        let mut x = Vec::new();
        for k in 0..=bins {
            let mut up = (lo + k as f64 * width) as f32;
            let mut down = up;
            x.push(up);
            for _ in 0..6 {
                (up, down) = (up.next_up(), down.next_down());
                x.extend([up, down]);
            }
        }
        let span = (hi - lo) as f32;
        for i in 0..300 {
            let u = ((i * 7919) % 1009) as f32 / 1009.0;
            x.push(lo as f32 + span * (1.4 * u - 0.2));
        }
        x.extend(AWKWARD);
        x.extend([f32::MAX, -f32::MAX, f32::MIN_POSITIVE, 1e-45, -1e-45]);
        x
    }

    /// The histogram, with and without its zeros, against the formula one
    /// value at a time: ranges the division-free bins take (tiny, offset,
    /// one bin, the most bins) and ranges they refuse, which fall back.
    #[test]
    fn histogram_bins_are_the_formulas_on_every_edge() {
        let ranges: [(f64, f64, usize); 13] = [
            (-1.0, 1.0, 41),
            // 0.03125 is edge 15, where (v − lo)·(1/width) is just below
            // 15 and the quotient 15 (a multiply by 1/width would
            // misplace it; tried on Zen 3, and no faster anyway).
            (-1.0, 0.1, 16),
            (-4e-23, 4e-23, 41),
            (0.0, 2.0, 41),
            (0.1, 0.7, 3),
            (-3.0, 1.0, 1),
            (1000.0, 1000.5, 41),
            (-2.5, 2.5, 62),
            (-7.25e-3, 1.5e-2, 17),
            // Refused: an offset of 2²² bins, a width below 1e-30, 63 bins.
            (1e6, 1e6 + 1.0, 4),
            (-1e-31, 1e-31, 41),
            (-2.5, 2.5, 63),
            (-2.5, 2.5, 64),
        ];
        for (lo, hi, bins) in ranges {
            let width = (hi - lo) / bins as f64;
            #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
            assert_eq!(
                Edges::new(lo, hi, width, bins).is_some(),
                bins <= 62 && lo.abs() < 1e5 && width > 1e-30,
                "[{lo}, {hi}] in {bins}"
            );
            let x = near_edges(lo, hi, bins);
            // Every tail length past the blocks of 16.
            for end in (x.len() - 17..=x.len()).chain([5, 0]) {
                let x = &x[..end];
                for skip_zeros in [false, true] {
                    let (mut fast, mut plain) = (vec![0u64; bins], vec![0u64; bins]);
                    let got = tally(&mut fast, x, lo, hi, skip_zeros);
                    let want = tally_one_by_one(&mut plain, x, lo, hi, width, skip_zeros);
                    assert_eq!(
                        (fast, got),
                        (plain, want),
                        "[{lo}, {hi}] in {bins}, {end} values, skip zeros {skip_zeros}"
                    );
                }
            }
        }
    }

    #[test]
    fn nonzero_histogram_leaves_the_zeros_out() {
        let mut c = [0u64; 4];
        let x = [0.0, -0.0, 0.3, -5.0, 0.0, f32::NAN, 0.9];
        // 0 is beyond [0.25, 1]: not counted there either.
        assert_eq!(nonzero_histogram(&mut c, &x, 0.25, 1.0), (1, 3));
        assert_eq!(c, [2, 0, 0, 1]);
    }

    /// Exponent counts against one key at a time: zeros, subnormals,
    /// NaN, ±∞, every tail length.
    #[test]
    fn exponent_counts_count_every_key() {
        for n in (0..40).chain([256, 1000]) {
            let x: Vec<f32> = (0..n)
                .map(|i| match i % 4 {
                    0 => AWKWARD[(i / 4) % AWKWARD.len()],
                    1 => [0.0, 1e-40, -3e-39][i % 3],
                    _ => ((i * 7919) % 1013) as f32 / 7.0 - 50.0,
                })
                .collect();
            let mut want = [0usize; 256];
            for &v in &x {
                want[(abs_key(v) >> 23) as usize] += 1;
            }
            assert_eq!(exponent_counts(&x), want, "n {n}");
        }
    }

    /// Several slices' moments together are each one's own, bit for bit.
    #[test]
    fn moments_together_are_each_ones_own() {
        for n in [0usize, 1, 7, 8, 9, 17, 1000] {
            let x = |seed: usize| -> Vec<f32> {
                (0..n)
                    .map(|i| ((i * 7919 + seed * 104_729) % 1013) as f32 / 101.0 - 4.0)
                    .collect()
            };
            let (mut a, b, c) = (x(1), x(2), x(3));
            if n > 3 {
                a[3] = f32::NAN;
            }
            let together = moments_each([&a[..], &b[..], &c[..]]);
            for (t, one) in together.iter().zip([&a, &b, &c].map(|x| moments(x))) {
                let bits = |m: &Moments| {
                    [m.mean, m.var, m.min, m.max, m.abs_sum, m.sq_sum].map(f64::to_bits)
                };
                assert_eq!((t.count, bits(t)), (one.count, bits(&one)), "n {n}");
            }
        }
    }

    /// Selection among many keys of one exponent (narrowed by their next
    /// eight bits) with ties and zeros, every interpolating neighbour.
    #[test]
    fn quantile_narrows_many_keys_of_one_exponent() {
        let x: Vec<f32> = (0..20_000)
            .map(|i| match i % 7 {
                0 => 0.0,
                1 => 1.5,
                _ => 1.0 + ((i * 7919) % 4999) as f32 / 5000.0,
            })
            .collect();
        let mut sorted: Vec<f32> = x.iter().map(|v| v.abs()).collect();
        sorted.sort_by(f32::total_cmp);
        let n = x.len();
        for q in [0.2, 0.5, 0.7, 0.98, 0.999_97, 1.0] {
            let pos = q * (n - 1) as f64;
            let lo = pos.floor() as usize;
            let (a, frac) = (sorted[lo] as f64, pos - lo as f64);
            let want = match sorted.get(lo + 1) {
                Some(&b) if frac != 0.0 => a + frac * (b as f64 - a),
                _ => a,
            };
            let got = abs_quantile(&mut vec![0.0; n], &x, q);
            assert_eq!(got.to_bits(), want.to_bits(), "q {q}");
        }
    }

    #[test]
    fn diff_sq_sum_into_is_the_sq_sum_of_the_differences_and_a_copy() {
        for n in [0usize, 1, 7, 8, 9, 1000] {
            let a: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1013) as f32 / 3.0).collect();
            let b: Vec<f32> = (0..n).map(|i| ((i * 104_729) % 997) as f32 / 7.0).collect();
            let d: Vec<f32> = a.iter().zip(&b).map(|(a, b)| a - b).collect();
            let mut old = b.clone();
            let got = diff_sq_sum_into(&mut old, &a);
            assert_eq!(got.to_bits(), sq_sum(&d).to_bits(), "n {n}");
            assert_eq!(old, a, "n {n}");
        }
    }
}
