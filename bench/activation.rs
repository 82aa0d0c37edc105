//! Activation kernels, `<act>_forward/<shape>` and `<act>_backward/<shape>`,
//! one thread, throughput in elements, beside `copy/…` baselines that move
//! the same bytes. Run: `cargo bench --bench activation`.
//!
//! Baselines (throughput also counted in kernel elements, so ns/element
//! compare directly):
//! - `copy/<shape>`: memcpy of rows·cols floats, 8 B per element (a forward
//!   reads s and writes a);
//! - `copy/<shape>x1.5`: memcpy of 1.5·rows·cols floats, 12 B per element;
//! - `copy/<shape>_inplace_mul`: δ ⊙= s, the backward's exact access pattern
//!   (read δ and s, write δ in place, 12 B per element) with the least
//!   arithmetic. The backward ratios are quoted against this one.
//!
//! Inputs are uniform on [−6, 6] (saturating every activation, no subnormal
//! or out-of-range lanes). The backward rewrites δ in place, so δ is restored
//! from a pristine copy before each timed call (iter_custom, untimed), as for
//! the in-place baseline.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use depthlab_kernels::Activation;
use depthlab_kernels::activation::{activation_backward, activation_forward};

mod common;
use common::{fill, unit_params};

/// (name, rows, cols): one batch of 1024 rows through a 1024-unit layer
/// (8–12 MB streamed per call, from L3), and a 256×256 one whose buffers
/// stay in L2 (the arithmetic cost without the memory stream).
const SHAPES: [(&str, usize, usize); 2] = [("1M", 1024, 1024), ("64K", 256, 256)];

/// Times `f` on a freshly restored `delta` each call (the restore untimed).
fn timed_in_place(
    iters: u64,
    delta: &mut [f32],
    pristine: &[f32],
    mut f: impl FnMut(&mut [f32]),
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        delta.copy_from_slice(pristine);
        let t = Instant::now();
        f(black_box(&mut *delta));
        total += t.elapsed();
        black_box(&*delta);
    }
    total
}

fn baselines(c: &mut Criterion) {
    let mut group = c.benchmark_group("copy");
    for &(shape, rows, cols) in &SHAPES {
        let n = rows * cols;
        group.throughput(Throughput::Elements(n as u64));
        let src = fill(n + n / 2, 1, -6.0, 6.0);
        let mut dst = vec![0.0f32; n + n / 2];
        group.bench_function(shape, |b| {
            b.iter(|| dst[..n].copy_from_slice(black_box(&src[..n])));
            black_box(&dst);
        });
        group.bench_function(format!("{shape}x1.5"), |b| {
            b.iter(|| dst.copy_from_slice(black_box(&src)));
            black_box(&dst);
        });
        let s = fill(n, 2, -6.0, 6.0);
        let pristine = fill(n, 3, -1.0, 1.0);
        let mut delta = pristine.clone();
        group.bench_function(format!("{shape}_inplace_mul"), |b| {
            b.iter_custom(|iters| {
                timed_in_place(iters, &mut delta, &pristine, |d| {
                    for (d, &x) in d.iter_mut().zip(black_box(&s[..])) {
                        *d *= x;
                    }
                })
            })
        });
    }
    group.finish();
}

fn kernels(c: &mut Criterion) {
    for act in Activation::ALL {
        for &(shape, rows, cols) in &SHAPES {
            let n = rows * cols;
            let s = fill(n, 4, -6.0, 6.0);
            let p = unit_params(act, cols);
            let mut a = vec![0.0f32; n];
            activation_forward(act, &mut a, &s, &p, rows, cols);

            let mut group = c.benchmark_group(format!("{}_forward", act.name()));
            group.throughput(Throughput::Elements(n as u64));
            group.bench_function(shape, |b| {
                b.iter(|| {
                    activation_forward(act, &mut a, black_box(&s), black_box(&p), rows, cols)
                });
                black_box(&a);
            });
            group.finish();

            let pristine = fill(n, 5, -1.0, 1.0);
            let mut delta = pristine.clone();
            let mut dp = vec![0.0f32; p.len()];
            let mut group = c.benchmark_group(format!("{}_backward", act.name()));
            group.throughput(Throughput::Elements(n as u64));
            group.bench_function(shape, |b| {
                b.iter_custom(|iters| {
                    timed_in_place(iters, &mut delta, &pristine, |d| {
                        activation_backward(
                            act,
                            d,
                            &mut dp,
                            black_box(&s),
                            black_box(&a),
                            &p,
                            rows,
                            cols,
                        )
                    })
                })
            });
            black_box(&dp);
            group.finish();
        }
    }
}

criterion_group! {
    name = activation;
    // Short settings: every kernel streams 8–12 MB per call, medians settle fast.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = baselines, kernels
}
criterion_main!(activation);
