//! gemm throughput, `gemm_<layout>/<M>x<K>x<N>/{depthlab,matrixmultiply}`,
//! one thread, in FLOP/s (criterion's elem/s with 2·M·K·N elements).
//! matrixmultiply::sgemm is the baseline in the same group, given the
//! strides of the same stored operands.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use depthlab_kernels::gemm::{gemm_nn, gemm_nt, gemm_tn};

/// (M, K, N): batch-sized layers, the MNIST input layer, a 10-class head,
/// one large square-ish product.
const SHAPES: [(usize, usize, usize); 6] = [
    (16, 32, 32),
    (64, 128, 128),
    (128, 784, 256),
    (128, 256, 256),
    (64, 128, 10),
    (256, 1024, 1024),
];

#[derive(Clone, Copy)]
enum Layout {
    /// A (m, k), B (k, n).
    Nn,
    /// A stored (k, m), B (k, n).
    Tn,
    /// A (m, k), B stored (n, k).
    Nt,
}

fn fill(len: usize, seed: u32) -> Vec<f32> {
    (0..len)
        .map(|i| {
            ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 2001) as f32 / 1000.0 - 1.0
        })
        .collect()
}

fn bench_layout(c: &mut Criterion, name: &str, layout: Layout) {
    let mut group = c.benchmark_group(name);
    for &(m, k, n) in &SHAPES {
        let a = fill(m * k, 1);
        let b = fill(k * n, 2);
        let mut out = vec![0.0f32; m * n];
        // Strides (row, column) of op(A) (m, k) and op(B) (k, n) as stored.
        let (rsa, csa) = match layout {
            Layout::Tn => (1, m as isize),
            _ => (k as isize, 1),
        };
        let (rsb, csb) = match layout {
            Layout::Nt => (1, k as isize),
            _ => (n as isize, 1),
        };
        let shape = format!("{m}x{k}x{n}");
        group.throughput(Throughput::Elements(2 * (m * k * n) as u64));
        group.bench_function(format!("{shape}/matrixmultiply"), |bench| {
            bench.iter(|| {
                let (a, b) = (black_box(&a), black_box(&b));
                // SAFETY: the strides describe op(A) (m, k) inside `a`,
                // op(B) (k, n) inside `b` and C (m, n) row-major in `out`.
                unsafe {
                    matrixmultiply::sgemm(
                        m,
                        k,
                        n,
                        1.0,
                        a.as_ptr(),
                        rsa,
                        csa,
                        b.as_ptr(),
                        rsb,
                        csb,
                        0.0,
                        out.as_mut_ptr(),
                        n as isize,
                        1,
                    );
                }
                black_box(&mut out);
            })
        });
        group.bench_function(format!("{shape}/depthlab"), |bench| {
            bench.iter(|| {
                let (a, b) = (black_box(&a), black_box(&b));
                match layout {
                    Layout::Nn => gemm_nn(&mut out, a, b, m, k, n, 0.0),
                    Layout::Tn => gemm_tn(&mut out, a, b, m, k, n, 0.0),
                    Layout::Nt => gemm_nt(&mut out, a, b, m, k, n, 0.0),
                }
                black_box(&mut out);
            })
        });
    }
    group.finish();
}

fn gemm(c: &mut Criterion) {
    bench_layout(c, "gemm_nn", Layout::Nn);
    bench_layout(c, "gemm_tn", Layout::Tn);
    bench_layout(c, "gemm_nt", Layout::Nt);
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
