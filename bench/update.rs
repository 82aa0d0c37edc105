//! Fused optimizer updates vs the same update as separate passes (as
//! unfused framework ops run it) and vs streaming the same bytes once.
//! Run: `cargo bench --bench update`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use depthlab_kernels::update::{Adam, adam_update, sgd_update};
use std::hint::black_box;
use std::time::Duration;

mod common;
use common::{bench_adam, bench_sgd};

/// Deterministic values in [-0.5, 0.5).
fn fill(n: usize, seed: u32) -> Vec<f32> {
    common::fill(n, seed, -0.5, 0.5)
}

/// Parameter counts: a 256×256 layer (in cache) and a 1024×1024 one.
const SIZES: &[(&str, usize)] = &[("64K", 1 << 16), ("1M", 1 << 20)];

/// Adam as five passes: decay into g, m, v, the denominator, θ.
fn adam_unfused(
    t: &mut [f32],
    m: &mut [f32],
    v: &mut [f32],
    g: &mut [f32],
    d: &mut [f32],
    h: &Adam,
) {
    for (g, &t) in g.iter_mut().zip(t.iter()) {
        *g += h.weight_decay * t;
    }
    for (m, &g) in m.iter_mut().zip(g.iter()) {
        *m += h.one_m_b1 * (g - *m);
    }
    for (v, &g) in v.iter_mut().zip(g.iter()) {
        *v = h.beta2 * *v + h.one_m_b2 * g * g;
    }
    for (d, &v) in d.iter_mut().zip(v.iter()) {
        *d = v.sqrt() / h.bc2_sqrt + h.eps;
    }
    for ((t, &m), &d) in t.iter_mut().zip(m.iter()).zip(d.iter()) {
        *t -= h.step_size * (m / d);
    }
}

/// The bytes of a fused Adam step moved once: read θ, m, v, g; write θ, m, v.
fn adam_stream(t: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]) {
    for (((t, m), v), &g) in t.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
        *t += g;
        *m += g;
        *v += g;
    }
}

fn updates(c: &mut Criterion) {
    let mut group = c.benchmark_group("update");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    let adam = bench_adam();
    let sgd = bench_sgd();
    for &(label, n) in SIZES {
        group.throughput(Throughput::Elements(n as u64));
        let (mut t, mut m, mut v, mut g, mut d) = (
            fill(n, 1),
            fill(n, 2),
            fill(n, 3).iter().map(|x| x.abs()).collect::<Vec<_>>(),
            fill(n, 4),
            vec![0.0; n],
        );
        let mut empty: [f32; 0] = [];
        group.bench_function(BenchmarkId::new("adam_fused", label), |b| {
            b.iter(|| {
                adam_update(
                    black_box(&mut t),
                    &mut m,
                    &mut v,
                    &mut empty,
                    black_box(&g),
                    &adam,
                )
            })
        });
        group.bench_function(BenchmarkId::new("adam_unfused", label), |b| {
            b.iter(|| adam_unfused(black_box(&mut t), &mut m, &mut v, &mut g, &mut d, &adam))
        });
        group.bench_function(BenchmarkId::new("adam_stream", label), |b| {
            b.iter(|| adam_stream(black_box(&mut t), &mut m, &mut v, black_box(&g)))
        });
        group.bench_function(BenchmarkId::new("sgd_momentum_fused", label), |b| {
            b.iter(|| sgd_update(black_box(&mut t), &mut m, black_box(&g), &sgd))
        });
        // SGD with momentum moves θ, b, g in and θ, b out: the same bytes as
        // streaming two arrays updated from a third.
        group.bench_function(BenchmarkId::new("sgd_stream", label), |b| {
            b.iter(|| {
                for ((t, m), &g) in black_box(&mut t)
                    .iter_mut()
                    .zip(m.iter_mut())
                    .zip(black_box(&g))
                {
                    *t += g;
                    *m += g;
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, updates);
criterion_main!(benches);
