//! `depthlab stats`: the probe's statistics at initialization or after N
//! training steps, rendered as a table, JSON or CSV.

use crate::error::Error;
use crate::exec::Executor;
use crate::files::write_atomic;
use crate::report::dump::dump;
use crate::report::{Hist, Report};
use crate::spec::Spec;
use crate::train::{Options, Trainer, measure};
use std::path::PathBuf;

/// Output format of `stats`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// What `stats` prints and writes.
#[derive(Clone, Debug)]
pub struct StatsOutput {
    pub format: Format,
    /// Append these histograms.
    pub hist: Option<Hist>,
    /// Write the `--dump` files into this folder.
    pub dump: Option<PathBuf>,
    /// Write the figure (`--svg`) to this file.
    pub svg: Option<PathBuf>,
}

/// `depthlab stats`: measures the probe at initialization, or after
/// `steps` optimizer steps trained as `train` would (same data, batches and
/// optimizer; `Some(0)` measures the same as `None`), and renders it.
pub fn stats(
    spec: &Spec,
    opts: &Options,
    steps: Option<u64>,
    out: &StatsOutput,
) -> Result<String, Error> {
    match steps {
        None => render(spec, &measure(spec, opts)?, 0, out),
        Some(n) => {
            let mut trained = spec.clone();
            trained.train.steps = Some(n as usize);
            let mut trainer = Trainer::new(&trained, opts)?;
            trainer.run(&mut |_| {})?;
            // The spec as given; the report's `steps` says how far it trained.
            render(spec, trainer.probe(), n, out)
        }
    }
}

/// The `stats` output of a measured probe executor, and its `--dump` files.
fn render(spec: &Spec, exec: &Executor, steps: u64, out: &StatsOutput) -> Result<String, Error> {
    if let Some(dir) = &out.dump {
        dump(exec, dir).map_err(Error::writing(dir))?;
    }
    let (label, text) = (spec.label(), spec.to_string());
    let report = Report {
        spec_name: &label,
        spec_text: &text,
        graph: &exec.plan().graph,
        stats: exec.stats(),
        seed: spec.train.seed,
        probe: exec.plan().batch,
        steps,
    };
    if let Some(path) = &out.svg {
        let svg = report
            .svg()
            .map_err(|e| Error::writing(path)(std::io::Error::other(e)))?;
        write_atomic(path, svg.as_bytes()).map_err(Error::writing(path))?;
    }
    let mut text = match out.format {
        Format::Table => report.table(),
        Format::Json => report.json(),
        Format::Csv => report.csv(),
    };
    if let Some(which) = out.hist {
        if out.format == Format::Table {
            text.push('\n');
        }
        text.push_str(&report.histograms(which));
    }
    Ok(text)
}
