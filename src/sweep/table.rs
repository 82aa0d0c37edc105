//! Sweep results merged and pivoted: records deduplicated across files,
//! a metric by one key (rows) and the other keys (columns), seeds folded
//! into mean ± std.

use super::record::Record;
use crate::stats::db;
use std::collections::HashSet;

/// The records of several results files, duplicates (the same run twice)
/// dropped, in grid order.
#[derive(Debug, Default)]
pub struct Merged {
    pub records: Vec<Record>,
    pub duplicates: usize,
}

/// Merges the records of every file: a run is known by its effective spec,
/// mode and probe; the first line of a run is kept.
pub fn merge(files: impl IntoIterator<Item = Vec<Record>>) -> Merged {
    let mut seen = HashSet::new();
    let mut out = Merged::default();
    for r in files.into_iter().flatten() {
        let id = (r.effective_spec.clone(), r.mode.clone(), r.probe);
        if seen.insert(id) {
            out.records.push(r);
        } else {
            out.duplicates += 1;
        }
    }
    out.records.sort_by_key(|r| r.index);
    out
}

/// A number a record holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// 20·log10 std(δ_1)/std(δ_{L-1}) at initialization.
    HiddenDb,
    DbPerLayer,
    /// 20·log10 std(δ_{L-1})/std(δ_L).
    OutputStepDb,
    /// The probe's loss at initialization.
    Loss,
    /// Mean over the hidden layers of the dead-unit fraction.
    Dead,
    /// Mean over the hidden layers of the saturated fraction.
    Saturated,
    /// `--train`: the last epoch's test accuracy and loss, the best epoch's.
    TestAcc,
    BestTestAcc,
    TestLoss,
    BestTestLoss,
    TrainLoss,
}

impl Metric {
    /// Every metric, in the order `--metric` lists them.
    pub const ALL: [Metric; 11] = [
        Metric::HiddenDb,
        Metric::DbPerLayer,
        Metric::OutputStepDb,
        Metric::Loss,
        Metric::Dead,
        Metric::Saturated,
        Metric::TestAcc,
        Metric::BestTestAcc,
        Metric::TestLoss,
        Metric::BestTestLoss,
        Metric::TrainLoss,
    ];

    /// Its name on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            Metric::HiddenDb => "hidden_db",
            Metric::DbPerLayer => "db_per_layer",
            Metric::OutputStepDb => "output_step_db",
            Metric::Loss => "loss",
            Metric::Dead => "dead",
            Metric::Saturated => "saturated",
            Metric::TestAcc => "test_acc",
            Metric::BestTestAcc => "best_test_acc",
            Metric::TestLoss => "test_loss",
            Metric::BestTestLoss => "best_test_loss",
            Metric::TrainLoss => "train_loss",
        }
    }

    /// What a table of it is headed with.
    pub fn title(self) -> &'static str {
        match self {
            Metric::HiddenDb => "hidden-layer factor std(δ_1)/std(δ_L-1) at initialization, dB",
            Metric::DbPerLayer => "mean gain per hidden layer at initialization, dB",
            Metric::OutputStepDb => "output step std(δ_L-1)/std(δ_L) at initialization, dB",
            Metric::Loss => "probe loss at initialization",
            Metric::Dead => "dead units at initialization, mean over hidden layers, %",
            Metric::Saturated => {
                "saturated activations at initialization, mean over hidden layers, %"
            }
            Metric::TestAcc => "test accuracy at the last epoch, %",
            Metric::BestTestAcc => "best test accuracy of the run, %",
            Metric::TestLoss => "test loss at the last epoch",
            Metric::BestTestLoss => "lowest test loss of the run",
            Metric::TrainLoss => "train loss at the last epoch (the epoch's mean)",
        }
    }

    /// `name` as a metric.
    pub fn parse(name: &str) -> Result<Metric, String> {
        Metric::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
                format!("`{name}` is not a metric: use one of {}", names.join(", "))
            })
    }

    /// Whether it needs `--train` records.
    pub fn needs_training(self) -> bool {
        matches!(
            self,
            Metric::TestAcc
                | Metric::BestTestAcc
                | Metric::TestLoss
                | Metric::BestTestLoss
                | Metric::TrainLoss
        )
    }

    /// Its value in `r` (`None`: not measured, or not finite).
    pub fn of(self, r: &Record) -> Option<f64> {
        let s = &r.stats;
        // The hidden layers: all but the output one (a single layer is both).
        let hidden = || match s.layers.len() {
            0 | 1 => &s.layers[..],
            n => &s.layers[..n - 1],
        };
        let mean =
            |v: Vec<f64>| (!v.is_empty()).then(|| 100.0 * v.iter().sum::<f64>() / v.len() as f64);
        let t = r.train.as_ref();
        let percent = |v: Option<f64>| v.map(|v| 100.0 * v);
        match self {
            Metric::HiddenDb => s.hidden_db,
            Metric::DbPerLayer => s.db_per_layer,
            Metric::OutputStepDb => s.output_step.map(db).filter(|v| v.is_finite()),
            Metric::Loss => s.loss,
            Metric::Dead => mean(hidden().iter().filter_map(|l| l.dead).collect()),
            Metric::Saturated => mean(hidden().iter().filter_map(|l| l.saturated).collect()),
            Metric::TestAcc => percent(t?.last.test_acc),
            Metric::BestTestAcc => percent(t?.best_test_acc.as_ref().map(|b| b.value)),
            Metric::TestLoss => t?.last.test_loss,
            Metric::BestTestLoss => t?.best_test_loss.as_ref().map(|b| b.value),
            Metric::TrainLoss => t?.last.train_loss,
        }
    }
}

/// The keys the records vary over, in `--vary` order (seed last), and
/// each key's values (numbers in numeric order, others as first seen).
pub fn keys(records: &[Record]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for r in records {
        for k in &r.axes {
            let Some(v) = r.point.get(k) else { continue };
            match out.iter_mut().find(|(key, _)| key == k) {
                Some((_, values)) if !values.contains(v) => values.push(v.clone()),
                Some(_) => {}
                None => out.push((k.clone(), vec![v.clone()])),
            }
        }
    }
    // Numbers in numeric order; seed last (it is folded, not shown).
    for (_, values) in &mut out {
        if values.iter().all(|v| v.parse::<f64>().is_ok()) {
            values.sort_by(|a, b| {
                a.parse::<f64>()
                    .unwrap_or(0.0)
                    .total_cmp(&b.parse::<f64>().unwrap_or(0.0))
            });
        }
    }
    out.sort_by_key(|(k, _)| k == "seed");
    out
}

/// A pivot: `metric` by the values of the row key and the combinations of
/// the other keys (seeds folded into mean ± std).
#[derive(Clone, Debug, PartialEq)]
pub struct Pivot {
    pub row_key: String,
    pub rows: Vec<String>,
    /// Each column's values of the other keys, as `key=value` pairs.
    pub columns: Vec<Vec<(String, String)>>,
    /// `cells[row][column]`: the values found (one per seed).
    pub cells: Vec<Vec<Vec<f64>>>,
}

/// The pivot of `metric` with `row_key` down the side (`None`: the key
/// called `depth`, else the first numeric one, else the first).
pub fn pivot(records: &[Record], metric: Metric, row_key: Option<&str>) -> Option<Pivot> {
    let keys = keys(records);
    let shown: Vec<&(String, Vec<String>)> = keys.iter().filter(|(k, _)| k != "seed").collect();
    let numeric =
        |(_, values): &&(String, Vec<String>)| values.iter().all(|v| v.parse::<f64>().is_ok());
    let row = match row_key {
        Some(k) => shown.iter().find(|(key, _)| key == k)?,
        None => shown
            .iter()
            .find(|(k, _)| k == "depth")
            .or_else(|| shown.iter().find(|k| numeric(k)))
            .or_else(|| shown.first())?,
    };
    let others: Vec<&(String, Vec<String>)> =
        shown.iter().copied().filter(|(k, _)| k != &row.0).collect();
    let mut columns: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for (k, values) in &others {
        columns = columns
            .into_iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push((k.clone(), v.clone()));
                    c
                })
            })
            .collect();
    }
    let mut cells = vec![vec![Vec::new(); columns.len()]; row.1.len()];
    for r in records {
        let Some(i) = r
            .point
            .get(&row.0)
            .and_then(|v| row.1.iter().position(|x| x == v))
        else {
            continue;
        };
        let j = columns
            .iter()
            .position(|c| c.iter().all(|(k, v)| r.point.get(k) == Some(v)));
        if let (Some(j), Some(value)) = (j, metric.of(r)) {
            cells[i][j].push(value);
        }
    }
    Some(Pivot {
        row_key: row.0.clone(),
        rows: row.1.clone(),
        columns,
        cells,
    })
}
