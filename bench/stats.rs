//! The probe statistics of one layer, `stats/<part>`, one thread, throughput
//! in the layer's values (rows·units): the shape of config D's probe (300
//! rows of a 128-unit ReLU layer; W 128×128), whose buffers stay in L2;
//! s and δ normal. Run: `cargo bench --bench stats`.
//!
//! Parts: `layer` is everything [`layer_stats`] and [`layer_histograms`]
//! compute for the layer (what a probe measurement adds per layer to its
//! forward and backward); the others are its pieces on one buffer of
//! rows·units values (`w_*` on W's units² values, counted as such;
//! `moments_a_s_delta_*` on three buffers, counted as one).
//! Baselines: `copy` (memcpy of the values) and `sq_sum` (Σx² in f64
//! lanes, the least arithmetic a statistic accumulated in f64 does).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use depthlab::spec::ActSpec;
use depthlab::stats::{
    HIST_BINS, LayerStats, LayerView, StatsConfig, layer_histograms, layer_stats,
};
use depthlab_kernels::reduce::{
    abs_quantile, histogram, moments, moments_each, nonzero_histogram, sq_sum,
};

mod common;
use common::fill;

const ROWS: usize = 300;
const UNITS: usize = 128;

/// s, a = relu(s), δ (zero where s ≤ 0, as a ReLU's backward leaves it),
/// W and ∂W of one layer.
struct Layer {
    s: Vec<f32>,
    a: Vec<f32>,
    delta: Vec<f32>,
    w: Vec<f32>,
    dw: Vec<f32>,
    b: Vec<f32>,
}

/// Normal values of mean 0 and std `std` (Box–Muller on a xorshift
/// stream): where |a|'s 98th percentile falls matters to its selection.
fn normal(n: usize, seed: u64, std: f32) -> Vec<f32> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ seed;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let (u, v) = (uniform(), uniform());
            let z = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
            (z * std as f64) as f32
        })
        .collect()
}

fn layer() -> Layer {
    let n = ROWS * UNITS;
    let s = normal(n, 1, 1.0);
    let a: Vec<f32> = s.iter().map(|&v| v.max(0.0)).collect();
    let delta = normal(n, 2, 1e-3)
        .iter()
        .zip(&s)
        .map(|(&d, &v)| if v > 0.0 { d } else { 0.0 })
        .collect();
    Layer {
        s,
        a,
        delta,
        w: fill(UNITS * UNITS, 3, -0.2, 0.2),
        dw: fill(UNITS * UNITS, 4, -1e-4, 1e-4),
        b: vec![0.0; UNITS],
    }
}

fn parts(c: &mut Criterion) {
    let l = layer();
    let n = ROWS * UNITS;
    let mut g = c.benchmark_group("stats");
    g.throughput(Throughput::Elements(n as u64));
    let mut out = vec![0.0f32; n];
    g.bench_function("copy", |b| {
        b.iter(|| out.copy_from_slice(black_box(&l.a)));
    });
    g.bench_function("sq_sum", |b| b.iter(|| sq_sum(black_box(&l.delta))));
    g.bench_function("moments_delta", |b| b.iter(|| moments(black_box(&l.delta))));
    g.bench_function("moments_a_s_delta_one_by_one", |b| {
        b.iter(|| [&l.a, &l.s, &l.delta].map(|x| moments(black_box(x))));
    });
    g.bench_function("moments_a_s_delta_together", |b| {
        b.iter(|| moments_each(black_box([&l.a, &l.s, &l.delta])));
    });
    let mut counts = [0u64; HIST_BINS];
    g.bench_function("histogram_delta", |b| {
        b.iter(|| histogram(&mut counts, black_box(&l.delta), -4e-3, 4e-3));
    });
    g.bench_function("histogram_a", |b| {
        b.iter(|| histogram(&mut counts, black_box(&l.a), 0.0, 2.0));
    });
    g.bench_function("nonzero_histogram_a", |b| {
        b.iter(|| nonzero_histogram(&mut counts, black_box(&l.a), 0.0, 2.0));
    });
    g.bench_function("abs_quantile_a", |b| {
        b.iter(|| abs_quantile(&mut out, black_box(&l.a), 0.98));
    });
    let view = LayerView {
        act: ActSpec::Relu,
        rows: ROWS,
        units: UNITS,
        s: &l.s,
        a: &l.a,
        delta: &l.delta,
        w: &l.w,
        dw: &l.dw,
        b: &l.b,
        db: &l.b,
        p: &[],
        dp: &[],
    };
    let mut stats = LayerStats::default();
    let cfg = StatsConfig::default();
    g.bench_function("layer", |b| {
        b.iter(|| {
            layer_stats(&mut stats, black_box(&view), &mut out, &cfg);
            layer_histograms(&mut stats, &l.delta, &l.a, 4e-3, (0.0, 2.0));
        });
    });
    g.throughput(Throughput::Elements((UNITS * UNITS) as u64));
    g.bench_function("w_moments", |b| b.iter(|| moments(black_box(&l.w))));
    g.bench_function("w_histogram", |b| {
        b.iter(|| histogram(&mut counts, black_box(&l.w), -0.2, 0.2));
    });
    g.finish();
}

criterion_group!(benches, parts);
criterion_main!(benches);
