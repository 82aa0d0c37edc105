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
fn widen(c: &[f32]) -> f64x8 {
    f64x8::from(std::array::from_fn::<f64, LANES, _>(|k| c[k] as f64))
}

/// Moments of `x` in two passes (mean first, then centered squares), so the
/// variance does not cancel when |mean| ≫ std. An empty slice gives zeros.
///
/// Eight values a step in f64 lanes; a NaN is noted in its own mask rather
/// than carried through min and max (which then vectorize), and makes both
/// NaN at the end. (AMD Zen 4, 38 400 values: 1.3–1.8 → 0.37 ns a value.)
pub fn moments(x: &[f32]) -> Moments {
    if x.is_empty() {
        return Moments::default();
    }
    let (mut sum, mut abs, mut sq) = (f64x8::ZERO, f64x8::ZERO, f64x8::ZERO);
    let (mut min, mut max) = (f64x8::splat(f64::INFINITY), f64x8::splat(f64::NEG_INFINITY));
    let mut nan = 0u8;
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        let v = widen(c);
        sum += v;
        abs += v.abs();
        sq += v * v;
        min = min.min(v);
        max = max.max(v);
        nan |= v.is_nan().to_bitmask() as u8;
    }
    let (mut sum, mut abs, mut sq) = (sum.to_array(), abs.to_array(), sq.to_array());
    let (mut min, mut max) = (min.to_array(), max.to_array());
    for (j, &v) in tail.iter().enumerate() {
        let v = v as f64;
        sum[j] += v;
        abs[j] += v.abs();
        sq[j] += v * v;
        min[j] = min[j].min(v);
        max[j] = max[j].max(v);
        nan |= u8::from(v.is_nan());
    }
    let n = x.len() as f64;
    let mean = tree_sum(sum) / n;
    let mean8 = f64x8::splat(mean);
    let mut centered = f64x8::ZERO;
    let chunks = x.chunks_exact(LANES);
    for c in chunks {
        let d = widen(c) - mean8;
        centered += d * d;
    }
    let mut centered = centered.to_array();
    for (j, &v) in tail.iter().enumerate() {
        let d = v as f64 - mean;
        centered[j] += d * d;
    }
    let (min, max) = if nan == 0 {
        (
            min.into_iter().fold(f64::INFINITY, f64::min),
            max.into_iter().fold(f64::NEG_INFINITY, f64::max),
        )
    } else {
        (f64::NAN, f64::NAN)
    };
    Moments {
        count: x.len(),
        mean,
        var: tree_sum(centered) / n,
        min,
        max,
        abs_sum: tree_sum(abs),
        sq_sum: tree_sum(sq),
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

/// The q-quantile (0 ≤ q ≤ 1) of |x|, with NumPy's default linear
/// interpolation between order statistics. `scratch` (at least `x.len()`
/// values) is overwritten; nothing is allocated. Empty input gives 0.
///
/// |x| has no sign bit, so its bits order as its values (NaN last, as
/// `f32::total_cmp` puts it): the selection is on those integer keys, in
/// two passes. The first counts the keys per exponent (the key's top
/// byte); the second copies out only the keys of the exponent that holds
/// the wanted rank, a few percent of them, to select among. (AMD Zen 4,
/// 38 400 normal values or their ReLU, medians of 31: a selection among all
/// the keys 1.2–1.5 ns a value; copying one exponent's keys one at a time
/// 1.1–1.3; sixteen at a time 0.43–0.6.)
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
    let (_, &mut lo_key, right) = keys[..kept].select_nth_unstable(lo - below);
    let lo_val = f32::from_bits(lo_key) as f64;
    if frac == 0.0 || lo + 1 == n {
        return lo_val;
    }
    // The next order statistic: in the same exponent, or the least key of a
    // later one.
    let next = match right.iter().min() {
        Some(&k) => k,
        None => x
            .iter()
            .map(|&v| abs_key(v))
            .filter(|&k| (k >> 23) as usize > e)
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

/// Copies the keys of `x` (see [`abs_quantile`]) whose exponent is `e`, in
/// order, to the front of `keys` (at least `x.len()` long); returns how many.
///
/// With AVX-512, sixteen at a time: `vpcompressd` packs the matching lanes
/// and the whole vector is stored where the kept keys end (the unmatched
/// lanes are overwritten by the next store). One at a time, each store's
/// place depends on every earlier comparison.
fn keys_of_exponent(keys: &mut [u32], x: &[f32], e: u32) -> usize {
    assert!(keys.len() >= x.len());
    let mut kept = 0;
    #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
    let x = {
        use std::arch::x86_64::{
            __m512i, _mm512_and_si512, _mm512_cmpeq_epi32_mask, _mm512_loadu_si512,
            _mm512_maskz_compress_epi32, _mm512_set1_epi32, _mm512_srli_epi32, _mm512_storeu_si512,
        };
        let chunks = x.chunks_exact(16);
        let tail = chunks.remainder();
        for c in chunks {
            // SAFETY: avx512f is compiled in (cfg above). The load reads the
            // 16 floats of `c`. The store writes keys[kept..kept + 16]:
            // before chunk i, kept ≤ 16·i, so kept + 16 ≤ 16·(i + 1) ≤
            // x.len() ≤ keys.len() (asserted above).
            unsafe {
                let v = _mm512_loadu_si512(c.as_ptr().cast::<__m512i>());
                let k = _mm512_and_si512(v, _mm512_set1_epi32(0x7fff_ffff));
                let hit = _mm512_cmpeq_epi32_mask(
                    _mm512_srli_epi32::<23>(k),
                    _mm512_set1_epi32(e as i32),
                );
                let packed = _mm512_maskz_compress_epi32(hit, k);
                _mm512_storeu_si512(keys.as_mut_ptr().add(kept).cast::<__m512i>(), packed);
                kept += hit.count_ones() as usize;
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

/// How many of |x|'s keys (see [`abs_quantile`]) fall in each exponent,
/// counted in eight copies so that a run of one exponent (a rectifier's
/// zeros) does not chain its increments through memory.
fn exponent_counts(x: &[f32]) -> [usize; 256] {
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

/// Accumulates a histogram of `x` over `counts.len()` equal bins spanning
/// [lo, hi]; values beyond the range land in the edge bins, NaN in none.
/// Returns how many values lay beyond the range (counted in an edge bin).
///
/// Up to [`FAST_BINS`] bins, in blocks of 256 values: first their bins,
/// eight at a time in f64 lanes (the same subtraction and division as one
/// value at a time, and a clamp whose truncation is the floor, so the same
/// bins), as bytes; then the counting, four copies of the histogram taking
/// turns, so that a run of values in one bin (a rectifier's zeros) does not
/// make each increment wait on the store of the previous one. (AMD Zen 4, 38 400 values, 41 bins,
/// medians of 31: one by one 2.3 ns a value; each lane's bin counted as it
/// was computed 1.0–1.1; in blocks 0.8–0.9.)
pub fn histogram(counts: &mut [u64], x: &[f32], lo: f64, hi: f64) -> u64 {
    let bins = counts.len();
    if bins == 0 || hi <= lo {
        return 0;
    }
    let width = (hi - lo) / bins as f64;
    if bins > FAST_BINS {
        return histogram_one_by_one(counts, x, lo, hi, width);
    }
    let (lo8, hi8, width8) = (f64x8::splat(lo), f64x8::splat(hi), f64x8::splat(width));
    let last = f64x8::splat((bins - 1) as f64);
    // NaN is counted in a slot past the last bin, and dropped.
    let nan_slot = f64x8::splat(FAST_BINS as f64);
    let chunks = x.chunks_exact(8);
    let tail = chunks.remainder();
    let whole = &x[..x.len() - tail.len()];
    let mut beyond = 0;
    // u32 copies, emptied into `counts` before any can overflow.
    for part in whole.chunks(1 << 30) {
        // Room for the NaN slot; a power of two, so the index mask below
        // keeps every count in bounds without a check.
        let mut copies = [[0u32; 2 * FAST_BINS]; 4];
        let mut block = [0u8; 256];
        for values in part.chunks(block.len()) {
            let block = &mut block[..values.len()];
            for (c, out) in values.chunks_exact(8).zip(block.chunks_exact_mut(8)) {
                let v = widen(c);
                beyond += u64::from((v.simd_lt(lo8) | v.simd_gt(hi8)).to_bitmask().count_ones());
                // Clamped into [0, last] first, the quotient's floor is its
                // truncation (`last` is whole): the bins of floor-then-clamp
                // without a floor's instructions.
                let bin = ((v - lo8) / width8).max(f64x8::ZERO).min(last);
                let bin = v.is_nan().select(nan_slot, bin).trunc_int().to_array();
                for (o, b) in out.iter_mut().zip(bin) {
                    *o = b as u8;
                }
            }
            for four in block.chunks_exact(4) {
                for (copy, &b) in copies.iter_mut().zip(four) {
                    copy[usize::from(b) & (2 * FAST_BINS - 1)] += 1;
                }
            }
        }
        for (i, count) in counts.iter_mut().enumerate() {
            *count += copies.iter().map(|copy| u64::from(copy[i])).sum::<u64>();
        }
    }
    beyond + histogram_one_by_one(counts, tail, lo, hi, width)
}

/// Most bins [`histogram`] counts in blocks (a power of two); more go one
/// value at a time.
pub const FAST_BINS: usize = 64;

/// [`histogram`] one value at a time (bins of `width`).
fn histogram_one_by_one(counts: &mut [u64], x: &[f32], lo: f64, hi: f64, width: f64) -> u64 {
    let last = (counts.len() - 1) as f64;
    let mut beyond = 0;
    for &v in x {
        let v = v as f64;
        if v.is_nan() {
            continue;
        }
        beyond += u64::from(v < lo || v > hi);
        let idx = ((v - lo) / width).floor().clamp(0.0, last);
        counts[idx as usize] += 1;
    }
    beyond
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
                let c = histogram_one_by_one(&mut plain, &x, lo, hi, width);
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
}
