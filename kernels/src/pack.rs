//! Keys of f32 values (their bits without the sign) a vector at a time,
//! and the left-pack that stores only some lanes of a vector: what the
//! statistics' quantile and histograms use to leave values out without a
//! branch or a store per value.
//!
//! With AVX-512, 16 lanes and `vpcompressd`; with AVX2 alone, 8 lanes and
//! a `vpermd` by a table of 256 permutations (one per mask). The callers
//! are compiled only where one of the two is (`target_feature = "avx2"`;
//! every AVX-512 CPU has AVX2), and fall back to one value at a time
//! elsewhere. Each function below has one body per instruction set; every
//! operation but the loads and the store is on registers.
#![cfg(all(target_arch = "x86_64", target_feature = "avx2"))]

#[cfg(not(target_feature = "avx512f"))]
use std::arch::x86_64::{
    __m128i, __m256i, _mm_loadl_epi64, _mm256_and_si256, _mm256_castsi256_ps, _mm256_cmpeq_epi32,
    _mm256_cvtepu8_epi32, _mm256_loadu_si256, _mm256_movemask_ps, _mm256_permutevar8x32_epi32,
    _mm256_set1_epi32, _mm256_setzero_si256, _mm256_srli_epi32, _mm256_storeu_si256,
};
#[cfg(target_feature = "avx512f")]
use std::arch::x86_64::{
    __m512i, _mm512_and_si512, _mm512_cmpeq_epi32_mask, _mm512_loadu_si512,
    _mm512_maskz_compress_epi32, _mm512_set1_epi32, _mm512_srli_epi32, _mm512_storeu_si512,
    _mm512_test_epi32_mask,
};

/// u32 lanes of a [`Keys`] vector.
#[cfg(target_feature = "avx512f")]
pub const LANES: usize = 16;
#[cfg(not(target_feature = "avx512f"))]
pub const LANES: usize = 8;

/// One bit per lane, lane 0 the lowest.
#[cfg(target_feature = "avx512f")]
pub type Mask = u16;
#[cfg(not(target_feature = "avx512f"))]
pub type Mask = u8;

/// A vector of u32 lanes.
#[cfg(target_feature = "avx512f")]
pub type Keys = __m512i;
#[cfg(not(target_feature = "avx512f"))]
pub type Keys = __m256i;

/// AVX2's left-pack: for each mask, the lanes it picks in order (then
/// zeros), the `vpermd` indices that move them to the front.
#[cfg(not(target_feature = "avx512f"))]
static PICKED: [[u8; LANES]; 256] = {
    let mut table = [[0u8; LANES]; 256];
    let mut mask = 0;
    while mask < 256 {
        let (mut lane, mut n) = (0, 0);
        while lane < LANES {
            if mask & (1 << lane) != 0 {
                table[mask][n] = lane as u8;
                n += 1;
            }
            lane += 1;
        }
        mask += 1;
    }
    table
};

/// The keys of `c`'s [`LANES`] values.
///
/// # Safety
///
/// `c` must hold at least [`LANES`] values.
#[inline(always)]
pub unsafe fn abs_keys(c: &[f32]) -> Keys {
    debug_assert!(c.len() >= LANES);
    // SAFETY: the instruction set is compiled in (cfg on the file and the
    // body); the caller guarantees the LANES floats read.
    unsafe {
        #[cfg(target_feature = "avx512f")]
        let keys = {
            let v = _mm512_loadu_si512(c.as_ptr().cast::<__m512i>());
            _mm512_and_si512(v, _mm512_set1_epi32(0x7fff_ffff))
        };
        #[cfg(not(target_feature = "avx512f"))]
        let keys = {
            let v = _mm256_loadu_si256(c.as_ptr().cast::<__m256i>());
            _mm256_and_si256(v, _mm256_set1_epi32(0x7fff_ffff))
        };
        keys
    }
}

/// The top nine bits of each key (its exponent, for a key of
/// [`abs_keys`]).
#[inline(always)]
pub fn exponents(k: Keys) -> Keys {
    // SAFETY: the instruction set is compiled in; registers only.
    unsafe {
        #[cfg(target_feature = "avx512f")]
        let e = _mm512_srli_epi32::<23>(k);
        #[cfg(not(target_feature = "avx512f"))]
        let e = _mm256_srli_epi32::<23>(k);
        e
    }
}

/// The lanes of `k` equal to `e`.
#[inline(always)]
pub fn equal(k: Keys, e: u32) -> Mask {
    // SAFETY: the instruction set is compiled in; registers only.
    unsafe {
        #[cfg(target_feature = "avx512f")]
        let hit = _mm512_cmpeq_epi32_mask(k, _mm512_set1_epi32(e as i32));
        #[cfg(not(target_feature = "avx512f"))]
        let hit = lanes(_mm256_cmpeq_epi32(k, _mm256_set1_epi32(e as i32)));
        hit
    }
}

/// The nonzero lanes of `k`.
#[inline(always)]
pub fn nonzero(k: Keys) -> Mask {
    // SAFETY: the instruction set is compiled in; registers only.
    unsafe {
        #[cfg(target_feature = "avx512f")]
        let nonzero = _mm512_test_epi32_mask(k, k);
        #[cfg(not(target_feature = "avx512f"))]
        let nonzero = !lanes(_mm256_cmpeq_epi32(k, _mm256_setzero_si256()));
        nonzero
    }
}

/// The lanes of an AVX2 comparison's result (all ones or all zeros each).
#[cfg(not(target_feature = "avx512f"))]
#[inline(always)]
fn lanes(all_ones: Keys) -> Mask {
    // SAFETY: avx2 is compiled in (cfg on the file); registers only.
    unsafe { _mm256_movemask_ps(_mm256_castsi256_ps(all_ones)) as Mask }
}

/// Stores the lanes of `v` picked by `keep`, in order, at out[written..],
/// and returns `written` plus how many.
///
/// # Safety
///
/// `written + LANES ≤ out.len()`: a whole vector is stored (the lanes past
/// the picked ones are overwritten by the next store or ignored).
#[inline(always)]
pub unsafe fn pack(out: &mut [u32], written: usize, keep: Mask, v: Keys) -> usize {
    debug_assert!(written + LANES <= out.len());
    // SAFETY: the instruction set is compiled in; the caller guarantees
    // the LANES lanes at out[written..]; AVX2 also loads the 8 bytes of
    // one table row. (Compressed in a register and stored whole: with
    // bytes stored instead, `vpmovdb` to memory, a layer's statistics took
    // 149 µs against 136 on AMD Zen 4.)
    unsafe {
        let at = out.as_mut_ptr().add(written);
        #[cfg(target_feature = "avx512f")]
        _mm512_storeu_si512(at.cast::<__m512i>(), _mm512_maskz_compress_epi32(keep, v));
        #[cfg(not(target_feature = "avx512f"))]
        {
            let row = PICKED[usize::from(keep)].as_ptr().cast::<__m128i>();
            let picked = _mm256_cvtepu8_epi32(_mm_loadl_epi64(row));
            _mm256_storeu_si256(at.cast::<__m256i>(), _mm256_permutevar8x32_epi32(v, picked));
        }
    }
    written + keep.count_ones() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every mask of one vector packs the picked lanes, in order, as one
    /// value at a time would.
    #[test]
    fn pack_keeps_the_picked_lanes_in_order() {
        let values: Vec<f32> = (0..LANES).map(|i| -(i as f32 + 1.5)).collect();
        // SAFETY: `values` holds LANES floats.
        let keys = unsafe { abs_keys(&values) };
        let masks: Vec<u32> = if LANES == 8 {
            (0..256).collect()
        } else {
            (0..1 << 16).step_by(7).chain([0xffff]).collect()
        };
        for mask in masks {
            let mut out = vec![u32::MAX; 2 * LANES];
            out[0] = 7;
            // SAFETY: written + LANES = 1 + LANES ≤ out.len().
            let written = unsafe { pack(&mut out, 1, mask as Mask, keys) };
            let expected: Vec<u32> = (0..LANES)
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| values[i].to_bits() & 0x7fff_ffff)
                .collect();
            assert_eq!(written, 1 + expected.len(), "mask {mask:#x}");
            assert_eq!(&out[1..written], &expected[..], "mask {mask:#x}");
            assert_eq!(out[0], 7, "nothing before `written` is touched");
        }
    }

    #[test]
    fn masks_pick_the_lanes_they_name() {
        let mut values = vec![0.0f32; LANES];
        values[1] = -3.0; // exponent 128
        values[LANES - 1] = 1e-30;
        values[2] = -0.0;
        // SAFETY: `values` holds LANES floats.
        let keys = unsafe { abs_keys(&values) };
        let nz = u32::from(nonzero(keys));
        assert_eq!(nz, (1 << 1) | (1 << (LANES - 1)));
        assert_eq!(u32::from(equal(exponents(keys), 128)), 1 << 1);
        let zero_exp = u32::from(equal(exponents(keys), 0));
        assert_eq!(zero_exp, ((1u32 << LANES) - 1) & !nz);
    }
}
