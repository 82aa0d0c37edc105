//! A sweep's result line (schema [`SCHEMA`], see `docs/sweep-json.md`):
//! what ran (the effective spec, the point's values, the seed, depthlab's
//! version), the statistics summary at initialization, and with `--train`
//! the final and best metrics.

use crate::graph::Graph;
use crate::report::Report;
use crate::stats::{NetworkStats, db};
use crate::train::EpochRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `schema` of every line.
pub const SCHEMA: &str = "depthlab.sweep/1";

/// One point's result. Floats that are NaN or infinite (a broken network)
/// are `null`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub schema: String,
    /// depthlab's version.
    pub version: String,
    /// The spec as named on the command line, with the sweep's own flags.
    pub spec: String,
    /// The point's values by key, as written in `--vary`.
    pub point: BTreeMap<String, String>,
    /// The varied keys in `--vary` order (the first varies slowest).
    pub axes: Vec<String>,
    /// The point's place in the grid (0-based; `act=relu depth=20` order).
    pub index: usize,
    pub seed: u64,
    /// The spec as run, every override applied: with `mode` and `probe`,
    /// what identifies a run (a re-run skips lines that match).
    pub effective_spec: String,
    /// `stats` (statistics at initialization only) or `train`.
    pub mode: String,
    /// `--probe` as given (`null`: the default, 300 or all held-out rows).
    pub probe: Option<usize>,
    /// The probe batch's rows.
    pub probe_rows: usize,
    pub stats: StatsSummary,
    pub train: Option<TrainSummary>,
    /// Wall-clock seconds of the point (not part of its results).
    pub seconds: f64,
}

impl Record {
    /// What identifies the run behind a record.
    pub fn identity(&self) -> (&str, &str, Option<usize>) {
        (&self.effective_spec, &self.mode, self.probe)
    }
}

/// The statistics at initialization, on the probe batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatsSummary {
    pub loss: Option<f64>,
    /// std(δ_1)/std(δ_{L-1}), its dB, and dB per hidden layer.
    pub hidden_factor: Option<f64>,
    pub hidden_db: Option<f64>,
    pub db_per_layer: Option<f64>,
    /// std(δ_{L-1})/std(δ_L).
    pub output_step: Option<f64>,
    pub layers: Vec<LayerSummary>,
    pub warnings: Vec<String>,
}

/// One layer's numbers in a [`StatsSummary`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerSummary {
    pub units: usize,
    pub activation: String,
    pub a_mean: Option<f64>,
    pub a_std: Option<f64>,
    pub delta_std: Option<f64>,
    /// Measured and mean-field gain std(δ_l)/std(δ_l+1) (not for the output
    /// layer).
    pub gain: Option<f64>,
    pub gain_predicted: Option<f64>,
    /// Fraction of saturated activations (saturating activations only).
    pub saturated: Option<f64>,
    /// Fraction of units dead on the whole probe (ReLU-like only).
    pub dead: Option<f64>,
    /// Fraction of units whose pre-activation is ≤ 0 on the whole probe
    /// (rectifiers: ReLU, LeakyReLU, PReLU, ELU, SELU).
    #[serde(default)]
    pub off: Option<f64>,
}

/// `--train`: the last epoch, the best test epochs, every epoch, and the
/// statistics at the end.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainSummary {
    pub steps: u64,
    pub epochs: usize,
    /// The last epoch's record (train loss: the epoch's mean).
    pub last: EpochSummary,
    /// Every epoch's record, in order (for "epochs to reach a target").
    #[serde(default)]
    pub curve: Vec<EpochSummary>,
    /// The statistics on the probe batch after the last step (`null` when
    /// the run diverged before it).
    #[serde(default)]
    pub end: Option<StatsSummary>,
    /// The epoch of the lowest test loss, and of the highest test accuracy.
    pub best_test_loss: Option<Best>,
    pub best_test_acc: Option<Best>,
    /// The step at which training produced a NaN or an infinity.
    pub diverged_step: Option<u64>,
}

/// One epoch's metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochSummary {
    pub epoch: usize,
    pub train_loss: Option<f64>,
    pub train_acc: Option<f64>,
    pub test_loss: Option<f64>,
    pub test_acc: Option<f64>,
}

/// A best value and its epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Best {
    pub epoch: usize,
    pub value: f64,
}

/// `x` if finite.
fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

impl StatsSummary {
    /// The summary of `stats` measured on `graph` (warnings as `stats`
    /// prints them).
    pub fn new(graph: &Graph, stats: &NetworkStats, report: &Report) -> StatsSummary {
        let layers = graph
            .layers
            .iter()
            .zip(&stats.layers)
            .map(|(l, s)| LayerSummary {
                units: l.units,
                activation: l.act.to_string(),
                a_mean: finite(s.a.mean),
                a_std: finite(s.a.std()),
                delta_std: finite(s.delta.std()),
                gain: s.gain.and_then(finite),
                gain_predicted: s.gain_predicted.and_then(finite),
                saturated: s.saturated.and_then(finite),
                dead: s.dead.map(|d| d as f64 / l.units as f64),
                off: s.off.map(|d| d as f64 / l.units as f64),
            })
            .collect();
        let factor = stats.hidden_factor();
        StatsSummary {
            loss: finite(stats.loss),
            hidden_factor: factor.and_then(finite),
            hidden_db: factor.map(db).and_then(finite),
            db_per_layer: stats.db_per_layer().and_then(finite),
            output_step: stats.output_step().and_then(finite),
            layers,
            warnings: report.warnings(),
        }
    }
}

impl EpochSummary {
    fn new(r: &EpochRecord) -> EpochSummary {
        EpochSummary {
            epoch: r.epoch,
            train_loss: finite(r.train_loss),
            train_acc: r.train_acc,
            test_loss: r.test_loss.and_then(finite),
            test_acc: r.test_acc,
        }
    }
}

impl TrainSummary {
    /// The summary of a run's epoch records, with the statistics measured
    /// after its last step.
    pub fn new(
        records: &[EpochRecord],
        steps: u64,
        diverged_step: Option<u64>,
        end: Option<StatsSummary>,
    ) -> TrainSummary {
        let curve: Vec<EpochSummary> = records.iter().map(EpochSummary::new).collect();
        let last = curve.last().cloned().unwrap_or(EpochSummary {
            epoch: 0,
            train_loss: None,
            train_acc: None,
            test_loss: None,
            test_acc: None,
        });
        let best = |pick: fn(&EpochRecord) -> Option<f64>, lower: bool| {
            records
                .iter()
                .filter_map(|r| {
                    pick(r).and_then(finite).map(|v| Best {
                        epoch: r.epoch,
                        value: v,
                    })
                })
                .reduce(|a, b| {
                    let better = if lower {
                        b.value < a.value
                    } else {
                        b.value > a.value
                    };
                    if better { b } else { a }
                })
        };
        TrainSummary {
            steps,
            epochs: records.len(),
            last,
            curve,
            end,
            best_test_loss: best(|r| r.test_loss, true),
            best_test_acc: best(|r| r.test_acc, false),
            diverged_step,
        }
    }
}
