//! Once the executor is built, running its steps allocates nothing.

use crate::run;

#[test]
fn forward_backward_and_statistics_allocate_nothing() {
    for spec in [
        "input 16; dense 32 prelu x2; dense 32 srelu; dense 8 tanh; dense 4; loss cross_entropy",
        "input 16; dense 32 sigmoid; dense 32 gelu; dense 4 softplus; loss mse",
        "input 16; dense 32 relu; dense 4; loss bce",
    ] {
        let mut exec = run(spec, 50);
        let info = allocation_counter::measure(|| {
            for _ in 0..5 {
                exec.run();
            }
        });
        assert_eq!(
            info.count_total, 0,
            "{spec}: {} allocations ({} bytes) in 5 steps",
            info.count_total, info.bytes_total
        );
        assert!(exec.loss().is_finite());
    }
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the test above against a counter that never counts.
    let info = allocation_counter::measure(|| {
        std::hint::black_box(vec![1u8; 10]);
    });
    assert_eq!(info.count_total, 1);
}
