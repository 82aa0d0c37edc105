//! Splitting steps over threads changes nothing: every buffer, statistic
//! and (after a fused SGD update) every weight is bit-identical for 1, 2
//! and 3 threads.

use crate::options;
use depthlab::commands::load_spec;
use depthlab::compile::Resources;
use depthlab::exec::Executor;
use depthlab::spec::Overrides;
use depthlab::train::{Options, measure};
use depthlab_kernels::update::{Sgd, SgdConfig, sgd_update};

fn run_with(spec: &str, threads: usize) -> Executor {
    let spec = load_spec(None, Some(spec), &Overrides::default()).unwrap();
    measure(
        &spec,
        &Options {
            resources: Resources {
                threads,
                ..Resources::default()
            },
            ..options(300)
        },
    )
    .unwrap()
}

/// Every buffer of the arena after forward, backward and one SGD step,
/// but the statistics' scratch (a work area, one block per thread).
fn snapshot(mut exec: Executor) -> Vec<Vec<u32>> {
    let c = SgdConfig {
        lr: 0.1,
        weight_decay: 1e-3,
        ..SgdConfig::default()
    };
    let sgd = Sgd::new(&c, true);
    for l in exec.plan().layers.clone() {
        let dw = exec.buf(l.dw).to_vec();
        sgd_update(exec.buf_mut(l.w), &mut [], &dw, &sgd);
    }
    let plan = exec.plan();
    (0..plan.buffers.len())
        .filter(|&i| i != plan.scratch.0)
        .map(|i| {
            exec.buf(depthlab::plan::Buf(i))
                .iter()
                .map(|v| v.to_bits())
                .collect()
        })
        .collect()
}

#[test]
fn one_two_and_three_threads_agree_bit_for_bit() {
    // Wide enough that the compiler splits the gemms and activations.
    let spec = "input 300; dense 512 tanh; dense 512 relu; dense 256 gelu; dense 10; train seed=5";
    let one = run_with(spec, 1);
    assert!(
        one.plan()
            .steps
            .iter()
            .all(|s| !format!("{s:?}").contains("parts: 2")),
        "one thread never splits"
    );
    let two = run_with(spec, 2);
    assert!(
        two.plan()
            .steps
            .iter()
            .any(|s| format!("{s:?}").contains("parts: 2")),
        "the plan splits at this size"
    );
    // Every statistic (Debug shows each f64 to its last bit), the
    // statistics measured a layer per thread on 2 and 3.
    let stats = |e: &Executor| format!("{:?}", e.stats());
    let three = run_with(spec, 3);
    assert_eq!(stats(&one), stats(&two), "2 threads");
    assert_eq!(stats(&one), stats(&three), "3 threads");
    let reference = snapshot(one);
    assert_eq!(reference, snapshot(two), "2 threads");
    assert_eq!(reference, snapshot(three), "3 threads");
}
