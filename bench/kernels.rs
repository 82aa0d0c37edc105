//! Kernel benches, named `<kernel>/<shape>`, shapes from one table,
//! throughput in FLOPs or elements. Run: `cargo bench --bench kernels`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use depthlab_kernels::Activation;
use depthlab_kernels::activation::{activation_backward, activation_forward};
use depthlab_kernels::gemm::{gemm_nn, gemm_nt, gemm_tn};
use std::hint::black_box;

/// M×K×N shapes of MLP layers (batch × fan_in × units and the backward's).
const GEMM_SHAPES: &[(usize, usize, usize)] = &[
    (16, 32, 32),
    (64, 128, 128),
    (128, 256, 256),
    (128, 784, 256),
    (64, 128, 10),
];
const ELEMENTS: usize = 1 << 20;

fn fill(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect()
}

fn gemm(c: &mut Criterion) {
    let mut group = c.benchmark_group("gemm");
    for &(m, k, n) in GEMM_SHAPES {
        group.throughput(Throughput::Elements((2 * m * k * n) as u64));
        let (a, b) = (fill(m * k), fill(k * n));
        let mut out = vec![0.0; m * n];
        let shape = format!("{m}x{k}x{n}");
        group.bench_function(BenchmarkId::new("nn", &shape), |bench| {
            bench.iter(|| {
                gemm_nn(
                    black_box(&mut out),
                    black_box(&a),
                    black_box(&b),
                    m,
                    k,
                    n,
                    0.0,
                )
            })
        });
        group.bench_function(BenchmarkId::new("tn", &shape), |bench| {
            bench.iter(|| {
                gemm_tn(
                    black_box(&mut out),
                    black_box(&a),
                    black_box(&b),
                    m,
                    k,
                    n,
                    0.0,
                )
            })
        });
        group.bench_function(BenchmarkId::new("nt", &shape), |bench| {
            bench.iter(|| {
                gemm_nt(
                    black_box(&mut out),
                    black_box(&a),
                    black_box(&b),
                    m,
                    k,
                    n,
                    0.0,
                )
            })
        });
    }
    group.finish();
}

fn activations(c: &mut Criterion) {
    let mut group = c.benchmark_group("activation");
    group.throughput(Throughput::Elements(ELEMENTS as u64));
    let s = fill(ELEMENTS);
    let mut a = vec![0.0; ELEMENTS];
    let mut d = fill(ELEMENTS);
    for (name, act) in [
        ("relu", Activation::Relu),
        ("tanh", Activation::Tanh),
        ("sigmoid", Activation::Sigmoid),
        ("gelu", Activation::Gelu),
    ] {
        group.bench_function(BenchmarkId::new(format!("{name}_forward"), "1M"), |bench| {
            bench
                .iter(|| activation_forward(act, black_box(&mut a), black_box(&s), &[], 1024, 1024))
        });
        group.bench_function(
            BenchmarkId::new(format!("{name}_backward"), "1M"),
            |bench| {
                bench.iter(|| {
                    activation_backward(
                        act,
                        black_box(&mut d),
                        &mut [],
                        black_box(&s),
                        black_box(&a),
                        &[],
                        1024,
                        1024,
                    )
                })
            },
        );
    }
    group.bench_function(BenchmarkId::new("copy", "1M"), |bench| {
        bench.iter(|| black_box(&mut a).copy_from_slice(black_box(&s)))
    });
    group.finish();
}

criterion_group!(benches, gemm, activations);
criterion_main!(benches);
