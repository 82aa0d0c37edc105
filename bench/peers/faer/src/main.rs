//! depthlab's gemm against faer's on the products of the four `bench/peers`
//! configs, one thread, samples interleaved (one of depthlab, one of faer,
//! then the FMA peak loop), medians of 31 rounds. Run by hand from the
//! repository root:
//!
//! ```sh
//! taskset -c 1 cargo run --release --manifest-path bench/peers/faer/Cargo.toml
//! ```
//!
//! Each shape is M×K×N in the three layouts a training step uses: NN
//! (δ·W), TN (δᵀ·x) and NT (x·Wᵀ). faer runs with `Par::Seq`, overwriting
//! C as depthlab does (β = 0).

use std::hint::black_box;
use std::time::Instant;

use depthlab_kernels::gemm::{gemm_nn, gemm_nt, gemm_tn};
use depthlab_kernels::peak::measure_peak;
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

/// The products of configs A–D (batch × fan-in × units), and C's at a
/// batch of 1024.
const SHAPES: [(usize, usize, usize); 6] = [
    (16, 32, 32),
    (64, 128, 128),
    (128, 256, 256),
    (128, 784, 256),
    (256, 1024, 1024),
    (1024, 1024, 1024),
];

const ROUNDS: usize = 31;

#[derive(Clone, Copy, Debug)]
enum Layout {
    NN,
    TN,
    NT,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Seconds per call of `f`: calls repeated for about 2 ms.
fn sample(reps: usize, f: &mut impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..reps {
        f();
    }
    t.elapsed().as_secs_f64() / reps as f64
}

fn reps_for(f: &mut impl FnMut()) -> usize {
    f();
    let t = Instant::now();
    f();
    ((2e-3 / t.elapsed().as_secs_f64().max(1e-8)) as usize).max(1)
}

/// C (m, n) ← op(A)·op(B) through faer, with A stored (m, k) or, TN,
/// (k, m), and B stored (k, n) or, NT, (n, k): the storage depthlab reads.
fn faer_gemm(
    layout: Layout,
    c: &mut [f32],
    a: &[f32],
    b: &[f32],
    (m, k, n): (usize, usize, usize),
) {
    let c = MatMut::from_row_major_slice_mut(c, m, n);
    let a = match layout {
        Layout::TN => MatRef::from_row_major_slice(a, k, m).transpose(),
        _ => MatRef::from_row_major_slice(a, m, k),
    };
    let b = match layout {
        Layout::NT => MatRef::from_row_major_slice(b, n, k).transpose(),
        _ => MatRef::from_row_major_slice(b, k, n),
    };
    matmul(c, Accum::Replace, a, b, 1.0f32, Par::Seq);
}

fn depthlab_gemm(
    layout: Layout,
    c: &mut [f32],
    a: &[f32],
    b: &[f32],
    (m, k, n): (usize, usize, usize),
) {
    match layout {
        Layout::NN => gemm_nn(c, a, b, m, k, n, 0.0),
        Layout::TN => gemm_tn(c, a, b, m, k, n, 0.0),
        Layout::NT => gemm_nt(c, a, b, m, k, n, 0.0),
    }
}

fn main() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    println!("{cpu}; one thread; medians of {ROUNDS} interleaved rounds\n");
    println!(
        "| M×K×N | layout | depthlab GFLOP/s | faer GFLOP/s | depthlab % of peak | faer % of peak | depthlab ÷ faer time |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    let mut peaks = Vec::new();
    for (m, k, n) in SHAPES {
        let fill = |len: usize, seed: usize| -> Vec<f32> {
            (0..len)
                .map(|i| ((i * 7 + seed) % 13) as f32 * 0.01 - 0.06)
                .collect()
        };
        let (a, b) = (fill(m * k, 1), fill(k * n, 2));
        let (mut c1, mut c2) = (vec![0f32; m * n], vec![0f32; m * n]);
        for layout in [Layout::NN, Layout::TN, Layout::NT] {
            let shape = (m, k, n);
            let mut ours = || depthlab_gemm(layout, &mut c1, black_box(&a), black_box(&b), shape);
            let mut theirs = || faer_gemm(layout, &mut c2, black_box(&a), black_box(&b), shape);
            let (r1, r2) = (reps_for(&mut ours), reps_for(&mut theirs));
            let (mut t1, mut t2, mut ratio, mut peak) = (vec![], vec![], vec![], vec![]);
            for _ in 0..ROUNDS {
                let a = sample(r1, &mut ours);
                let b = sample(r2, &mut theirs);
                peak.push(measure_peak(1_000_000, 3));
                t1.push(a);
                t2.push(b);
                ratio.push(a / b);
            }
            let same = c1
                .iter()
                .zip(&c2)
                .all(|(x, y)| (x - y).abs() <= 1e-4 * (1.0 + y.abs()));
            assert!(same, "{m}×{k}×{n} {layout:?}: depthlab and faer disagree");
            let flops = 2.0 * (m * k * n) as f64;
            let (g1, g2, p) = (
                flops / median(t1) / 1e9,
                flops / median(t2) / 1e9,
                median(peak) / 1e9,
            );
            peaks.push(p);
            println!(
                "| {m}×{k}×{n} | {layout:?} | {g1:.0} | {g2:.0} | {:.0} % | {:.0} % | {:.2} |",
                100.0 * g1 / p,
                100.0 * g2 / p,
                median(ratio)
            );
        }
    }
    let (lo, hi) = peaks
        .iter()
        .fold((f64::MAX, 0.0f64), |(l, h), &p| (l.min(p), h.max(p)));
    println!(
        "\nFMA peak of this thread (12 FMA chains, sampled each round): {lo:.0}–{hi:.0} GFLOP/s"
    );
}
