//! One probe path: `stats`, `stats --steps N` and the trainer measure on the
//! same rows, the first held-out examples of the spec's data.

use crate::{options, run};
use depthlab::commands::load_spec;
use depthlab::dataset::{self, probe};
use depthlab::graph::{DEFAULT_MEMORY_LIMIT, Graph};
use depthlab::spec::Overrides;
use depthlab::stats::StatsConfig;
use depthlab::train::{Options, Trainer};
use std::process::Command;

const SPECS: &[&str] = &[
    // The default data (no `data` line) and gaussian with its sizes given:
    // the held-out rows `stats` once drew apart from the data layer.
    "input 12; dense 16 tanh x2; dense 4",
    "input 12; dense 16 tanh x2; dense 4; data gaussian n=50 test=40 seed=9",
    "input 12; dense 16 relu x2; dense 3; loss mse; data gaussian n=60 test=70",
    "input 12; dense 16 relu; dense 5; loss bce; data gaussian n=60 test=70",
    // No held-out set: the probe comes from the training rows.
    "input 12; dense 16 tanh; dense 4; data gaussian n=64 test=0",
    "input 2; dense 16 tanh; dense 3; data spirals n=200 test=90",
];

fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn stats_and_the_trainer_measure_the_same_probe_rows() {
    for &text in SPECS {
        let spec = load_spec(None, Some(text), &Overrides::default()).unwrap();
        let graph = Graph::check(&spec).unwrap();
        let split = dataset::load_for(&spec, &graph, DEFAULT_MEMORY_LIMIT).unwrap();
        let set = probe::probe_set(&split);
        let rows = probe::DEFAULT_ROWS.min(set.n);
        let stats = run(text, rows);
        let trainer = Trainer::new(
            &spec,
            &Options {
                probe: None,
                config: StatsConfig::default(),
                resources: options(1).resources,
                spare_core: false,
            },
        )
        .unwrap();
        let probe = trainer.probe();
        for (name, a, b) in [
            ("x", stats.plan().x, probe.plan().x),
            ("y", stats.plan().y, probe.plan().y),
        ] {
            assert_eq!(stats.buf(a).len(), probe.buf(b).len(), "{text}: {name}");
            assert_eq!(bits(stats.buf(a)), bits(probe.buf(b)), "{text}: {name}");
        }
        // ... and they are the first rows of the probe set.
        let (wx, wy) = (set.inputs, set.target.width());
        assert_eq!(bits(stats.buf(stats.plan().x)), bits(&set.x[..rows * wx]));
        assert_eq!(bits(stats.buf(stats.plan().y)), bits(&set.y[..rows * wy]));
    }
}

#[test]
fn stats_after_zero_steps_is_stats() {
    for &text in SPECS {
        let out = |extra: &[&str]| {
            let o = Command::new(env!("CARGO_BIN_EXE_depthlab"))
                .args(["stats", "--net", text, "--format", "json"])
                .args(extra)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            o.stdout
        };
        assert_eq!(out(&[]), out(&["--steps", "0"]), "{text}");
    }
}

#[test]
fn an_explicit_probe_larger_than_the_data_is_refused_the_default_shrinks() {
    let spec = load_spec(
        None,
        Some("input 2; dense 8 tanh; dense 3; data spirals n=100 test=50"),
        &Overrides::default(),
    )
    .unwrap();
    let graph = Graph::check(&spec).unwrap();
    let split = dataset::load_for(&spec, &graph, DEFAULT_MEMORY_LIMIT).unwrap();
    let data = spec.data.as_ref().unwrap();
    assert_eq!(
        probe::probe_rows(&split, None, data, &spec.source).unwrap(),
        50
    );
    assert_eq!(
        probe::probe_rows(&split, Some(20), data, &spec.source).unwrap(),
        20
    );
    let e = probe::probe_rows(&split, Some(51), data, &spec.source).unwrap_err();
    assert!(
        e.to_string()
            .contains("the probe needs 51 examples but `data spirals` has 50 held-out ones"),
        "{e}"
    );
}
