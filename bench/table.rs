//! The speed tables of the README, from interleaved samples:
//!
//! ```sh
//! taskset -c 1 cargo bench --bench table            # gemm, activations, updates
//! taskset -c 1 cargo bench --bench table -- gemm    # one part: gemm | act | update
//! ```
//!
//! Why beside criterion: this machine is shared, and its speed drifts by up
//! to ±30 % over seconds (a busy neighbour on the other hyperthread).
//! criterion times a kernel and its baseline minutes apart; here every
//! sample of a kernel is taken right after a sample of its baseline (the
//! FMA peak loop, matrixmultiply, a copy of the same bytes), and the tables
//! give medians of the per-pair ratios, in which the drift cancels.
//! One thread, no allocation inside the timed calls.

use std::hint::black_box;
use std::time::Instant;

use depthlab_kernels::Activation;
use depthlab_kernels::activation::{activation_backward, activation_forward};
use depthlab_kernels::update::{adam_update, sgd_update};

mod common;
use common::{
    FLOPS_PER_ITER, Layout, SHAPES, bench_adam, bench_sgd, depthlab_gemm, fill, fma_chains,
    matrixmultiply_gemm, unit_params,
};

/// Sample pairs per table cell.
const PAIRS: usize = 61;

/// The median of an odd count of samples ([`PAIRS`]).
fn median(mut v: Vec<f64>) -> f64 {
    depthlab::stats::median(&mut v)
}

/// Seconds per call of `f`, over enough calls to last about `target`
/// seconds (`reps` found once, on the first sample).
struct Timer {
    reps: usize,
}

impl Timer {
    fn new(target: f64, f: &mut impl FnMut()) -> Timer {
        f();
        let t = Instant::now();
        f();
        let one = t.elapsed().as_secs_f64().max(1e-8);
        Timer {
            reps: ((target / one) as usize).max(1),
        }
    }

    fn sample(&self, f: &mut impl FnMut()) -> f64 {
        let t = Instant::now();
        for _ in 0..self.reps {
            f();
        }
        t.elapsed().as_secs_f64() / self.reps as f64
    }
}

/// Interleaved samples of `kernel` and `baseline`: (median seconds per
/// kernel call, median of kernel time / baseline time).
fn paired(mut kernel: impl FnMut(), mut baseline: impl FnMut(), target: f64) -> (f64, f64) {
    let (tk, tb) = (
        Timer::new(target, &mut kernel),
        Timer::new(target, &mut baseline),
    );
    let (mut times, mut ratios) = (Vec::new(), Vec::new());
    for _ in 0..PAIRS {
        let b = tb.sample(&mut baseline);
        let k = tk.sample(&mut kernel);
        times.push(k);
        ratios.push(k / b);
    }
    (median(times), median(ratios))
}

// ---------------------------------------------------------------------------
// gemm

/// The FMA peak loop, one call = `PEAK_ITERS · FLOPS_PER_ITER` FLOPs.
const PEAK_ITERS: u64 = 2_000;

fn peak_call() {
    black_box(fma_chains(black_box(PEAK_ITERS), 1.0));
}

fn gemm_table() {
    let peak_flops = (PEAK_ITERS * FLOPS_PER_ITER) as f64;
    let (peak_s, _) = paired(peak_call, peak_call, 2e-4);
    println!(
        "FMA peak (12 FMA chains of the widest register): {:.1} GFLOP/s\n",
        peak_flops / peak_s / 1e9
    );
    println!("| gemm M×K×N | layout | GFLOP/s | % of peak | × matrixmultiply |");
    println!("|---|---|---|---|---|");
    for layout in Layout::ALL {
        for &(m, k, n) in &SHAPES {
            let a = fill(m * k, 1, -1.0, 1.0);
            let b = fill(k * n, 2, -1.0, 1.0);
            let (mut c1, mut c2) = (vec![0.0f32; m * n], vec![0.0f32; m * n]);
            let mut ours = || {
                depthlab_gemm(layout, &mut c1, black_box(&a), black_box(&b), (m, k, n));
                black_box(&mut c1);
            };
            let mut mm = || {
                matrixmultiply_gemm(layout, &mut c2, black_box(&a), black_box(&b), (m, k, n));
                black_box(&mut c2);
            };
            let flops = 2.0 * (m * k * n) as f64;
            // Three-way interleaving: peak, ours, matrixmultiply.
            let tp = Timer::new(2e-4, &mut peak_call);
            let to = Timer::new(2e-4, &mut ours);
            let tm = Timer::new(2e-4, &mut mm);
            let (mut rate, mut of_peak, mut vs_mm) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..PAIRS {
                let p = tp.sample(&mut peak_call);
                let o = to.sample(&mut ours);
                let x = tm.sample(&mut mm);
                rate.push(flops / o / 1e9);
                of_peak.push((flops / o) / (peak_flops / p));
                vs_mm.push(x / o);
            }
            println!(
                "| {m}×{k}×{n} | {} | {:.0} | {:.0} % | {:.2}× |",
                layout.name(),
                median(rate),
                100.0 * median(of_peak),
                median(vs_mm)
            );
        }
    }
    println!();
}

// ---------------------------------------------------------------------------
// activations

/// Runs `f` on δ restored from `pristine` first; only `f` is timed.
fn in_place(delta: &mut [f32], pristine: &[f32], mut f: impl FnMut(&mut [f32])) -> f64 {
    delta.copy_from_slice(pristine);
    let t = Instant::now();
    f(black_box(&mut *delta));
    t.elapsed().as_secs_f64()
}

fn activation_table() {
    let (rows, cols) = (1024, 1024);
    let n = rows * cols;
    // Inputs on [-6, 6): every activation saturates somewhere, no subnormals.
    let s = fill(n, 4, -6.0, 6.0);
    let pristine = fill(n, 5, -1.0, 1.0);
    let mut a = vec![0.0f32; n];
    let mut copy_out = vec![0.0f32; n];
    let (mut delta, mut delta_base) = (pristine.clone(), pristine.clone());
    println!(
        "Activations over {rows}×{cols} = 1M elements. Forward vs a copy of the same \
         bytes (read s, write a); backward vs δ ⊙= s in place (read δ and s, write δ)."
    );
    println!();
    println!("| activation | forward ns/elem | × copy | backward ns/elem | × in-place multiply |");
    println!("|---|---|---|---|---|");
    for act in Activation::ALL {
        let p = unit_params(act, cols);
        let (fwd, fwd_ratio) = paired(
            || {
                activation_forward(act, &mut a, black_box(&s), &p, rows, cols);
                black_box(&mut a);
            },
            || {
                copy_out.copy_from_slice(black_box(&s));
                black_box(&mut copy_out);
            },
            3e-3,
        );
        let mut dp = vec![0.0f32; p.len()];
        let (mut bwd, mut ratios) = (Vec::new(), Vec::new());
        for _ in 0..PAIRS {
            let base = in_place(&mut delta_base, &pristine, |d| {
                for (d, &x) in d.iter_mut().zip(black_box(&s)) {
                    *d *= x;
                }
            });
            let t = in_place(&mut delta, &pristine, |d| {
                activation_backward(act, d, &mut dp, black_box(&s), &a, &p, rows, cols)
            });
            bwd.push(t);
            ratios.push(t / base);
        }
        let backward = if act == Activation::Identity {
            // f' = 1: the backward leaves δ as it is.
            "no-op | –".to_string()
        } else {
            format!(
                "{:.3} | {:.2}×",
                median(bwd) / n as f64 * 1e9,
                median(ratios)
            )
        };
        println!(
            "| {} | {:.3} | {fwd_ratio:.2}× | {backward} |",
            act.name(),
            fwd / n as f64 * 1e9,
        );
    }
    println!();
}

// ---------------------------------------------------------------------------
// updates

fn update_table() {
    println!("| update | n | ns/elem | × streaming its bytes once |");
    println!("|---|---|---|---|");
    for n in [1 << 16, 1 << 20] {
        let g = fill(n, 4, -1.0, 1.0);
        let (mut t, mut m, mut v) = (
            fill(n, 1, -1.0, 1.0),
            fill(n, 2, -1.0, 1.0),
            fill(n, 3, 0.0, 1.0),
        );
        let (mut t2, mut m2, mut v2) = (t.clone(), m.clone(), v.clone());
        let adam = bench_adam();
        let (s, r) = paired(
            || adam_update(&mut t, &mut m, &mut v, &mut [], black_box(&g), &adam),
            // Adam's bytes: read θ, m, v, g; write θ, m, v.
            || {
                for (((t, m), v), &g) in t2.iter_mut().zip(&mut m2).zip(&mut v2).zip(&g) {
                    *t += g;
                    *m += g;
                    *v += g;
                }
                black_box(&t2);
            },
            2e-3,
        );
        println!("| Adam | {n} | {:.3} | {r:.2}× |", s / n as f64 * 1e9);
        let sgd = bench_sgd();
        let (s, r) = paired(
            || sgd_update(&mut t, &mut m, black_box(&g), &sgd),
            // SGD with momentum: read θ, b, g; write θ, b.
            || {
                for ((t, m), &g) in t2.iter_mut().zip(&mut m2).zip(&g) {
                    *t += g;
                    *m += g;
                }
                black_box(&t2);
            },
            2e-3,
        );
        println!(
            "| SGD momentum | {n} | {:.3} | {r:.2}× |",
            s / n as f64 * 1e9
        );
    }
    println!();
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument picks a part.
    let parts: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |p: &str| parts.is_empty() || parts.iter().any(|a| a == p);
    if want("gemm") {
        gemm_table();
    }
    if want("act") {
        activation_table();
    }
    if want("update") {
        update_table();
    }
}
