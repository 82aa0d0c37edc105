//! The subcommands as library functions: load a spec, compile it, run it,
//! and render what `main` prints. `main.rs` only parses flags.

use crate::data::fill_probe;
use crate::dump::dump;
use crate::error::Error;
use crate::examples;
use crate::exec::Executor;
use crate::graph::Graph;
use crate::plan::Plan;
use crate::report::Report;
use crate::spec::{Overrides, Source, Spec, parse};
use crate::stats::StatsConfig;
use std::path::{Path, PathBuf};

/// Reads a spec from a file, a built-in example name, or `--net` text, and
/// applies the command-line overrides. Returns the spec and the name to
/// show for it.
pub fn load_spec(
    path: Option<&str>,
    net: Option<&str>,
    overrides: &Overrides,
) -> Result<Spec, Error> {
    let source = match (path, net) {
        (_, Some(text)) => Source::new("--net", text),
        (Some(p), None) => match std::fs::read_to_string(p) {
            Ok(text) => Source::new(p, text),
            Err(error) => match examples::find(p) {
                Some(text) => Source::new(p, text),
                None => {
                    return Err(Error::Read {
                        path: PathBuf::from(p),
                        error,
                    });
                }
            },
        },
        (None, None) => {
            let (name, text) = examples::EXAMPLES[0];
            Source::new(name, text)
        }
    };
    let mut spec = parse(source)?;
    overrides.apply(&mut spec)?;
    Ok(spec)
}

/// What `stats` measures on and prints.
#[derive(Clone, Debug)]
pub struct StatsOptions {
    /// Rows of the probe batch.
    pub probe: usize,
    pub config: StatsConfig,
    pub memory_limit: u64,
    /// Threads to split large steps over.
    pub threads: usize,
}

/// Compiles `spec` for a probe batch, initializes it from the spec's seed,
/// fills the probe and runs forward, backward and statistics once.
pub fn measure(spec: &Spec, opts: &StatsOptions) -> Result<Executor, Error> {
    let graph = Graph::check(spec)?;
    let plan =
        Plan::compile(&graph, opts.probe, opts.memory_limit, opts.threads).map_err(|error| {
            Error::Plan {
                spec: spec.source.name.clone(),
                error,
            }
        })?;
    let mut exec = Executor::new(plan, opts.config);
    exec.init_params(spec.train.seed);
    let (x, y) = (exec.plan().x, exec.plan().y);
    let (loss, outputs) = (graph.loss, graph.outputs());
    let [xs, ys] = exec.bufs_mut([x, y]);
    fill_probe(
        xs,
        ys,
        loss,
        outputs,
        spec.data.as_ref(),
        &spec.source,
        spec.train.seed,
    )?;
    exec.run();
    Ok(exec)
}

/// Output format of `stats`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// `depthlab stats`: measures and renders; writes the `--dump` files if
/// asked.
pub fn stats(
    spec: &Spec,
    opts: &StatsOptions,
    format: Format,
    hist: bool,
    dump_dir: Option<&Path>,
) -> Result<String, Error> {
    let exec = measure(spec, opts)?;
    if let Some(dir) = dump_dir {
        dump(&exec, dir).map_err(|error| Error::Write {
            path: dir.to_path_buf(),
            error,
        })?;
    }
    let report = Report {
        spec_name: &spec.source.name,
        graph: &exec.plan().graph,
        stats: exec.stats(),
        seed: spec.train.seed,
        probe: opts.probe,
    };
    let mut out = match format {
        Format::Table => report.table(),
        Format::Json => report.json(),
        Format::Csv => report.csv(),
    };
    if hist {
        if format == Format::Table {
            out.push('\n');
        }
        out.push_str(&report.histograms());
    }
    Ok(out)
}

/// `depthlab check`: the compiled plan for a batch of `batch` rows.
pub fn check(
    spec: &Spec,
    batch: usize,
    memory_limit: u64,
    threads: usize,
) -> Result<String, Error> {
    let graph = Graph::check(spec)?;
    let plan =
        Plan::compile(&graph, batch, memory_limit, threads).map_err(|error| Error::Plan {
            spec: spec.source.name.clone(),
            error,
        })?;
    Ok(format!("spec: {}\n{plan}", spec.source.name))
}

/// `depthlab examples`: the built-in specs and what each shows.
pub fn list_examples() -> String {
    let width = examples::EXAMPLES
        .iter()
        .map(|(n, _)| n.len())
        .max()
        .unwrap_or(0);
    examples::EXAMPLES
        .iter()
        .map(|(name, text)| format!("{name:<width$}  {}\n", examples::summary(text)))
        .collect()
}
