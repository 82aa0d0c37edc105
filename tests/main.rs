//! depthlab's integration tests: one binary, one module per concern.

/// A training step allocates nothing once the executor is built.
mod alloc;
/// `depthlab bench`: the report adds up.
mod bench;
/// `depthlab capacity`: depth, steps and L2 each show their effect.
mod capacity;
/// The command line: bad input gets a positioned message and exit code 2.
mod cli;
/// Data sources: deterministic generators, Shapeset-3×2, CSV and IDX loaders.
mod dataset;
/// `--dump` writes the documented safetensors files.
mod dump;
/// The SVG figures: well-formed, one line per layer.
mod figures;
/// Finite-difference gradient checks against an independent f64 forward.
mod gradcheck;
/// Regressions from issue 13's hostile battery, one per finding.
mod hostile;
/// Imports between modules run one way; `unsafe` stays in two places.
mod layout;
/// The optimizer kernels give torch.optim's bits, step by step.
mod optimizer_bits;
/// PyTorch parity: 5 optimizer steps replayed from committed fixtures.
mod parity;
/// `depthlab poly`: exact fits, the CSV and figures, Adam reaching them.
mod poly;
/// One probe path: `stats`, `stats --steps N` and the trainer agree.
mod probe;
/// Generated specs and flags: exit 0 or 2, never a panic, errors located.
mod properties;
/// docs/reproductions.md's claims at test size, through `depthlab sweep`.
mod reproductions;
/// Mutated specs never panic.
mod robustness;
/// insta snapshots of the `stats` tables and `check` plans of the examples.
mod snapshots;
/// `depthlab sweep` and `report`: shards, workers, resume, the pivots.
mod sweep;
/// TensorBoard event files: valid framing, the run's numbers.
mod tensorboard;
/// Theory where theory gives a number: vanishing, He, SELU, predicted gains.
mod theory;
/// Thread splits do not change a single bit.
mod threads;
/// Training: L2 = weight decay, resume, checkpoints, accuracy, no allocation.
mod train;

use depthlab::commands::load_spec;
use depthlab::compile::Resources;
use depthlab::exec::Executor;
use depthlab::spec::Overrides;
use depthlab::stats::StatsConfig;
use depthlab::train::{Options, measure};

/// A fresh folder under the system's temp dir, per test process.
pub fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("depthlab-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The spec of `--net` text (flags none).
pub fn spec(text: &str) -> depthlab::spec::Spec {
    load_spec(None, Some(text), &Overrides::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// Statistics options with a probe of `probe` rows.
pub fn options(probe: usize) -> Options {
    Options {
        probe: Some(probe),
        config: StatsConfig::default(),
        resources: Resources {
            threads: 2,
            ..Resources::default()
        },
        spare_core: false,
    }
}

/// Runs a spec (file, example name, or `--net` text when it contains `;`)
/// once: forward, backward, statistics.
pub fn run(spec: &str, probe: usize) -> Executor {
    let loaded = if spec.contains(';') {
        load_spec(None, Some(spec), &Overrides::default())
    } else {
        load_spec(Some(spec), None, &Overrides::default())
    };
    let spec = loaded.unwrap_or_else(|e| panic!("{e}"));
    measure(&spec, &options(probe)).unwrap_or_else(|e| panic!("{e}"))
}
