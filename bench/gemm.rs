//! gemm throughput, `gemm_<layout>/<M>x<K>x<N>/{depthlab,matrixmultiply}`,
//! one thread, in FLOP/s (criterion's elem/s with 2·M·K·N elements).
//! matrixmultiply::sgemm is the baseline in the same group, given the
//! strides of the same stored operands.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

mod common;
use common::{Layout, SHAPES, depthlab_gemm, fill, matrixmultiply_gemm};

fn bench_layout(c: &mut Criterion, name: &str, layout: Layout) {
    let mut group = c.benchmark_group(name);
    for &(m, k, n) in &SHAPES {
        let a = fill(m * k, 1, -1.0, 1.0);
        let b = fill(k * n, 2, -1.0, 1.0);
        let mut out = vec![0.0f32; m * n];
        let shape = format!("{m}x{k}x{n}");
        group.throughput(Throughput::Elements(2 * (m * k * n) as u64));
        group.bench_function(format!("{shape}/matrixmultiply"), |bench| {
            bench.iter(|| {
                matrixmultiply_gemm(layout, &mut out, black_box(&a), black_box(&b), (m, k, n));
                black_box(&mut out);
            })
        });
        group.bench_function(format!("{shape}/depthlab"), |bench| {
            bench.iter(|| {
                depthlab_gemm(layout, &mut out, black_box(&a), black_box(&b), (m, k, n));
                black_box(&mut out);
            })
        });
    }
    group.finish();
}

fn gemm(c: &mut Criterion) {
    for layout in Layout::ALL {
        let group = format!("gemm_{}", layout.name().to_lowercase());
        bench_layout(c, &group, layout);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = gemm
}
criterion_main!(benches);
