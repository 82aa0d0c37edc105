//! Spec → ready executors, the one way for every command: compile for the
//! probe (statistics) or for training steps, initialize the weights from
//! the spec's seed, and load the probe's rows (the first held-out examples,
//! [`crate::dataset::probe`]).

use crate::compile::{Purpose, Resources, compile};
use crate::dataset::probe::{DEFAULT_ROWS, copy_rows, probe_rows, probe_set};
use crate::dataset::{self, Split};
use crate::error::Error;
use crate::exec::Executor;
use crate::graph::Graph;
use crate::plan::Plan;
use crate::spec::Spec;
use crate::stats::StatsConfig;

/// How `stats` and `train` measure, and what the compiler may use.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Rows of the probe batch (`None`: the default,
    /// [`crate::dataset::probe::DEFAULT_ROWS`] or fewer).
    pub probe: Option<usize>,
    pub config: StatsConfig,
    pub resources: Resources,
    /// A core is free beside the training steps: `train` may measure the
    /// probe there while training goes on ([`crate::train::Trainer`]).
    pub spare_core: bool,
}

/// Compiles `graph` (checked from `spec`) for batches of `batch` rows; a
/// plan error names the spec.
pub fn compile_for(
    spec: &Spec,
    graph: &Graph,
    batch: usize,
    purpose: Purpose,
    resources: Resources,
) -> Result<Plan, Error> {
    compile(graph, batch, purpose, resources).map_err(|error| Error::Plan {
        spec: spec.source.name.clone(),
        error,
    })
}

/// Compiles `spec` for training steps of `batch` rows and initializes its
/// parameters from the spec's seed (the same weights `stats` measures).
pub fn training_executor(
    spec: &Spec,
    graph: &Graph,
    batch: usize,
    resources: Resources,
) -> Result<Executor, Error> {
    let optim = spec.optimizer();
    let plan = compile_for(spec, graph, batch, Purpose::Train(&optim), resources)?;
    let mut exec = Executor::new(plan, StatsConfig::default()).map_err(|error| Error::Plan {
        spec: spec.source.name.clone(),
        error,
    })?;
    exec.init_params(spec.train.seed);
    Ok(exec)
}

/// The probe executor of `spec` on `split`: compiled for statistics on the
/// probe's rows, which it holds. Its parameters are zero: [`measure`]
/// initializes them from the seed, the trainer copies its own in.
pub fn probe_executor(
    spec: &Spec,
    graph: &Graph,
    split: &Split,
    opts: &Options,
) -> Result<Executor, Error> {
    probe_executor_on(spec, graph, split, opts, opts.resources)
}

/// [`probe_executor`] with other resources (one thread, for measuring
/// beside training).
pub(super) fn probe_executor_on(
    spec: &Spec,
    graph: &Graph,
    split: &Split,
    opts: &Options,
    resources: Resources,
) -> Result<Executor, Error> {
    let rows = probe_rows(split, opts.probe, &spec.data_or_default(), &spec.source)?;
    let plan = compile_for(spec, graph, rows, Purpose::Stats, resources)?;
    let mut exec = Executor::new(plan, opts.config).map_err(|error| Error::Plan {
        spec: spec.source.name.clone(),
        error,
    })?;
    let (x, y) = (exec.plan().x, exec.plan().y);
    let [xs, ys] = exec.bufs_mut([x, y]);
    copy_rows(probe_set(split), 0..rows, xs, ys);
    Ok(exec)
}

/// Refuses, before any data is made or read, a network whose probe plan
/// would not fit in memory at the largest probe it can have (the probe's
/// rows are known only once the data is loaded).
/// Returns that plan's arena bytes.
pub fn check_probe_fits(spec: &Spec, graph: &Graph, opts: &Options) -> Result<u64, Error> {
    let rows = opts.probe.unwrap_or(DEFAULT_ROWS);
    compile_for(spec, graph, rows, Purpose::Stats, opts.resources).map(|p| p.arena_bytes())
}

/// What the memory limit leaves for the data once the networks' arenas
/// (`arenas` bytes) are counted: data sets are refused beyond it before
/// anything is drawn or read.
pub fn data_budget(opts: &Options, arenas: u64) -> u64 {
    opts.resources.memory_limit.saturating_sub(arenas)
}

/// `stats` at initialization: the probe executor of `spec` after one
/// forward, backward and statistics pass.
pub fn measure(spec: &Spec, opts: &Options) -> Result<Executor, Error> {
    let graph = Graph::check(spec)?;
    let probe = check_probe_fits(spec, &graph, opts)?;
    let split = dataset::load_probe_for(spec, &graph, data_budget(opts, probe))?;
    let mut exec = probe_executor(spec, &graph, &split, opts)?;
    exec.init_params(spec.train.seed);
    exec.run();
    Ok(exec)
}
