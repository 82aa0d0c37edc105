//! Sweeps: a grid of points over spec keys and overrides (`grid`), one
//! run per point ([`run_point`]) giving one JSON line (`record`),
//! appended to a results file that shards share and re-runs resume from
//! (`results`).

mod grid;
mod record;
mod results;
mod table;

pub use grid::{Axis, Key, Point, points, spec_at};
pub use record::{Best, EpochSummary, LayerSummary, Record, SCHEMA, StatsSummary, TrainSummary};
pub use results::{Results, append_line, parse, read, read_text};
pub use table::{ABSENT, Curve, Merged, Metric, Pivot, Reach, key_value, keys, merge, pivot};

use crate::error::Error;
use crate::report::Report;
use crate::spec::Spec;
use crate::train::{Event, Options, Trainer, measure};
use std::time::Instant;

/// Runs one point: `spec` is the sweep's spec at `point` (see
/// [`spec_at`]), `label` the sweep's spec as named. Measures the statistics
/// at initialization and, with `train`, trains it as `depthlab train`
/// would; a run that diverges is a result (`diverged_step`), not an error.
pub fn run_point(
    spec: &Spec,
    label: &str,
    point: &Point,
    opts: &Options,
    train: bool,
) -> Result<Record, Error> {
    let started = Instant::now();
    let exec = measure(spec, opts)?;
    let text = spec.to_string();
    let report = Report {
        spec_name: label,
        spec_text: &text,
        graph: &exec.plan().graph,
        stats: exec.stats(),
        seed: spec.train.seed,
        probe: exec.plan().batch,
        steps: 0,
    };
    let stats = StatsSummary::new(&exec.plan().graph, exec.stats(), &report);
    let train = match train {
        false => None,
        true => {
            let mut trainer = Trainer::new(spec, opts)?;
            let mut records = Vec::new();
            let mut end = None;
            let outcome = trainer.run(&mut |e| match e {
                Event::Epoch(r) => records.push(r.clone()),
                // Measured at step 0 and after the last step: keep the last.
                Event::Stats(r) if r.step > 0 => end = Some(r.stats.clone()),
                _ => {}
            });
            let diverged = match outcome {
                Ok(()) => None,
                Err(Error::Diverged { step, .. }) => Some(step),
                Err(e) => return Err(e),
            };
            let end = end.map(|stats| {
                let report = Report {
                    stats: &stats,
                    steps: trainer.step(),
                    ..report
                };
                StatsSummary::new(&exec.plan().graph, &stats, &report)
            });
            Some(TrainSummary::new(&records, trainer.step(), diverged, end))
        }
    };
    Ok(Record {
        schema: SCHEMA.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        spec: label.into(),
        point: point
            .values
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        axes: point.values.iter().map(|(k, _)| k.to_string()).collect(),
        index: point.index,
        seed: spec.train.seed,
        effective_spec: text,
        mode: if train.is_some() { "train" } else { "stats" }.into(),
        probe: opts.probe,
        probe_rows: exec.plan().batch,
        stats,
        train,
        seconds: (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
    })
}
