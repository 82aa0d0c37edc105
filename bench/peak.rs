//! This machine's single-thread FMA peak, to quote kernels as % of peak.
//! Run: `cargo bench --bench peak` (criterion reports elements/s = FLOP/s).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;

mod common;
use common::{FLOPS_PER_ITER, fma_chains};

const ITERS: u64 = 100_000;

fn peak(c: &mut Criterion) {
    let mut group = c.benchmark_group("peak");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    group.throughput(Throughput::Elements(ITERS * FLOPS_PER_ITER));
    group.bench_function("fma_f32x16", |b| {
        b.iter(|| fma_chains(black_box(ITERS), black_box(1.0)))
    });
    group.finish();
}

criterion_group!(benches, peak);
criterion_main!(benches);
