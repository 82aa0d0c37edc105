//! A loop that runs at the machine's FMA peak: 12 independent multiply-add
//! chains of the widest vector register the build has (enough to cover the
//! FMA latency on two ports), so benches and `depthlab bench` quote speeds
//! as a percentage of a peak measured in the same run.
//!
//! The chains must be one register each: 12 `f32x16` are 24 AVX registers
//! of 16, and on an AVX2 machine (Zen 3) that loop spilled and measured a
//! "peak" of 24–33 GFLOP/s, against 93–99 for 12 `f32x8` chains.

#[cfg(not(target_feature = "avx"))]
use wide::f32x4 as Register;
#[cfg(all(target_feature = "avx", not(target_feature = "avx512f")))]
use wide::f32x8 as Register;
#[cfg(target_feature = "avx512f")]
use wide::f32x16 as Register;

/// f32 lanes of one chain: one vector register.
const LANES: u64 = std::mem::size_of::<Register>() as u64 / 4;

/// FLOPs of one iteration of [`fma_chains`]: 12 chains × the lanes × 2.
pub const FLOPS_PER_ITER: u64 = 12 * LANES * 2;

/// Runs `iters` rounds of 12 independent FMA chains and returns a value
/// that depends on all of them (so nothing is optimized away).
pub fn fma_chains(iters: u64, x: f32) -> f32 {
    let m = Register::splat(0.999_999);
    let a = Register::splat(x * 1e-7);
    // Separate locals, not an array: LLVM keeps them in registers.
    let (mut c0, mut c1, mut c2, mut c3) = (
        Register::splat(x),
        Register::splat(x + 1.0),
        Register::splat(x + 2.0),
        Register::splat(x + 3.0),
    );
    let (mut c4, mut c5, mut c6, mut c7) = (
        Register::splat(x + 4.0),
        Register::splat(x + 5.0),
        Register::splat(x + 6.0),
        Register::splat(x + 7.0),
    );
    let (mut c8, mut c9, mut c10, mut c11) = (
        Register::splat(x + 8.0),
        Register::splat(x + 9.0),
        Register::splat(x + 10.0),
        Register::splat(x + 11.0),
    );
    for _ in 0..iters {
        c0 = c0.mul_add(m, a);
        c1 = c1.mul_add(m, a);
        c2 = c2.mul_add(m, a);
        c3 = c3.mul_add(m, a);
        c4 = c4.mul_add(m, a);
        c5 = c5.mul_add(m, a);
        c6 = c6.mul_add(m, a);
        c7 = c7.mul_add(m, a);
        c8 = c8.mul_add(m, a);
        c9 = c9.mul_add(m, a);
        c10 = c10.mul_add(m, a);
        c11 = c11.mul_add(m, a);
    }
    (((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11))).reduce_add()
}

/// The peak in FLOP/s on this thread: the best of `rounds` timed runs of
/// `iters` iterations.
pub fn measure_peak(iters: u64, rounds: usize) -> f64 {
    let mut best = 0.0f64;
    for r in 0..rounds {
        let t = std::time::Instant::now();
        let v = fma_chains(
            std::hint::black_box(iters),
            std::hint::black_box(1.0 + r as f32),
        );
        let s = t.elapsed().as_secs_f64();
        std::hint::black_box(v);
        best = best.max((iters * FLOPS_PER_ITER) as f64 / s);
    }
    best
}
