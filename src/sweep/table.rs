//! Sweep results merged and pivoted: records deduplicated across files,
//! a metric by one key (rows) and the other keys (columns), seeds folded
//! into mean ± std.

use super::record::{EpochSummary, LayerSummary, Record, StatsSummary};
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
#[derive(Clone, Copy, Debug, PartialEq)]
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
    /// Mean over the hidden layers of the fraction of units on the negative
    /// side for every probe example (rectifiers).
    Off,
    /// The top hidden layer's activation mean and std at initialization.
    TopMean,
    TopStd,
    /// `--train`: the last epoch's test accuracy and loss, the best epoch's.
    TestAcc,
    BestTestAcc,
    TestLoss,
    BestTestLoss,
    TrainLoss,
    TrainAcc,
    /// `--train`: [`Metric::Dead`] and [`Metric::Saturated`] after the last
    /// step.
    DeadEnd,
    SaturatedEnd,
    OffEnd,
    /// `--train`: 100 for a run that diverged, 0 for one that did not (so
    /// the mean over seeds is the % of runs that diverged).
    Diverged,
    /// `--train`: the first epoch at which a curve reaches a target.
    EpochTo(Reach),
}

/// "The first epoch at which `curve` reaches `target`": at or above it for
/// an accuracy, at or below it for a loss.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reach {
    pub curve: Curve,
    pub target: f64,
}

/// A per-epoch curve of a `--train` record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    TrainLoss,
    TrainAcc,
    TestLoss,
    TestAcc,
}

impl Curve {
    const ALL: [Curve; 4] = [
        Curve::TrainLoss,
        Curve::TrainAcc,
        Curve::TestLoss,
        Curve::TestAcc,
    ];

    fn name(self) -> &'static str {
        match self {
            Curve::TrainLoss => "train_loss",
            Curve::TrainAcc => "train_acc",
            Curve::TestLoss => "test_loss",
            Curve::TestAcc => "test_acc",
        }
    }

    fn of(self, e: &EpochSummary) -> Option<f64> {
        match self {
            Curve::TrainLoss => e.train_loss,
            Curve::TrainAcc => e.train_acc,
            Curve::TestLoss => e.test_loss,
            Curve::TestAcc => e.test_acc,
        }
    }

    fn is_accuracy(self) -> bool {
        matches!(self, Curve::TrainAcc | Curve::TestAcc)
    }
}

impl Reach {
    /// The first epoch of `r`'s curve at the target (`None`: never, or not
    /// trained).
    pub fn epoch(self, r: &Record) -> Option<usize> {
        let t = r.train.as_ref()?;
        t.curve
            .iter()
            .find(|e| {
                self.curve
                    .of(e)
                    .is_some_and(|v| match self.curve.is_accuracy() {
                        true => v >= self.target,
                        false => v <= self.target,
                    })
            })
            .map(|e| e.epoch)
    }
}

impl Metric {
    /// The metrics that take no parameter, in the order `--metric` lists
    /// them.
    pub const ALL: [Metric; 19] = [
        Metric::HiddenDb,
        Metric::DbPerLayer,
        Metric::OutputStepDb,
        Metric::Loss,
        Metric::Dead,
        Metric::Saturated,
        Metric::Off,
        Metric::TopMean,
        Metric::TopStd,
        Metric::TestAcc,
        Metric::BestTestAcc,
        Metric::TestLoss,
        Metric::BestTestLoss,
        Metric::TrainLoss,
        Metric::TrainAcc,
        Metric::DeadEnd,
        Metric::SaturatedEnd,
        Metric::OffEnd,
        Metric::Diverged,
    ];

    /// Its name on the command line and in files.
    pub fn name(self) -> String {
        match self {
            Metric::HiddenDb => "hidden_db",
            Metric::DbPerLayer => "db_per_layer",
            Metric::OutputStepDb => "output_step_db",
            Metric::Loss => "loss",
            Metric::Dead => "dead",
            Metric::Saturated => "saturated",
            Metric::Off => "off",
            Metric::TopMean => "top_a_mean",
            Metric::TopStd => "top_a_std",
            Metric::TestAcc => "test_acc",
            Metric::BestTestAcc => "best_test_acc",
            Metric::TestLoss => "test_loss",
            Metric::BestTestLoss => "best_test_loss",
            Metric::TrainLoss => "train_loss",
            Metric::TrainAcc => "train_acc",
            Metric::DeadEnd => "dead_end",
            Metric::SaturatedEnd => "saturated_end",
            Metric::OffEnd => "off_end",
            Metric::Diverged => "diverged",
            Metric::EpochTo(r) => return format!("epoch_to_{}={}", r.curve.name(), r.target),
        }
        .to_owned()
    }

    /// What a table of it is headed with.
    pub fn title(self) -> String {
        match self {
            Metric::HiddenDb => "hidden-layer factor std(δ_1)/std(δ_L-1) at initialization, dB",
            Metric::DbPerLayer => "mean gain per hidden layer at initialization, dB",
            Metric::OutputStepDb => "output step std(δ_L-1)/std(δ_L) at initialization, dB",
            Metric::Loss => "probe loss at initialization",
            Metric::Dead => "dead units at initialization, mean over hidden layers, %",
            Metric::Saturated => {
                "saturated activations at initialization, mean over hidden layers, %"
            }
            Metric::Off => {
                "units with s ≤ 0 for every probe example at initialization, mean over hidden layers, %"
            }
            Metric::TopMean => "mean activation of the top hidden layer at initialization",
            Metric::TopStd => "std of the top hidden layer's activations at initialization",
            Metric::TestAcc => "test accuracy at the last epoch, %",
            Metric::BestTestAcc => "best test accuracy of the run, %",
            Metric::TestLoss => "test loss at the last epoch",
            Metric::BestTestLoss => "lowest test loss of the run",
            Metric::TrainLoss => "train loss at the last epoch (the epoch's mean)",
            Metric::TrainAcc => "train accuracy at the last epoch (the epoch's mean), %",
            Metric::DeadEnd => "dead units after training, mean over hidden layers, %",
            Metric::SaturatedEnd => {
                "saturated activations after training, mean over hidden layers, %"
            }
            Metric::OffEnd => {
                "units with s ≤ 0 for every probe example after training, mean over hidden layers, %"
            }
            Metric::Diverged => "runs that diverged (a NaN or an infinity), %",
            Metric::EpochTo(r) => {
                let (name, at) = (r.curve.name(), r.target);
                return match r.curve.is_accuracy() {
                    true => format!("first epoch with {name} ≥ {at}"),
                    false => format!("first epoch with {name} ≤ {at}"),
                };
            }
        }
        .to_owned()
    }

    /// `name` as a metric: one of [`Metric::ALL`], or
    /// `epoch_to_CURVE=TARGET` (`epoch_to_train_acc=0.75`).
    pub fn parse(name: &str) -> Result<Metric, String> {
        if let Some(rest) = name.strip_prefix("epoch_to_") {
            return Reach::parse(rest).map(Metric::EpochTo);
        }
        Metric::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| {
                let names: Vec<String> = Metric::ALL.iter().map(|m| m.name()).collect();
                format!(
                    "`{name}` is not a metric: use one of {}, or epoch_to_CURVE=TARGET \
                     (e.g. epoch_to_train_acc=0.75)",
                    names.join(", ")
                )
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
                | Metric::TrainAcc
                | Metric::DeadEnd
                | Metric::SaturatedEnd
                | Metric::OffEnd
                | Metric::Diverged
                | Metric::EpochTo(_)
        )
    }

    /// Whether it is read at the end of a run (so not for one that
    /// diverged).
    fn at_the_end(self) -> bool {
        matches!(
            self,
            Metric::TestAcc
                | Metric::TestLoss
                | Metric::TrainLoss
                | Metric::TrainAcc
                | Metric::DeadEnd
                | Metric::SaturatedEnd
                | Metric::OffEnd
        )
    }

    /// Its value in `r` (`None`: not measured, not finite, or at the end
    /// of a run that diverged).
    pub fn of(self, r: &Record) -> Option<f64> {
        let mean =
            |v: Vec<f64>| (!v.is_empty()).then(|| 100.0 * v.iter().sum::<f64>() / v.len() as f64);
        let dead = |s: &StatsSummary| mean(hidden(s).iter().filter_map(|l| l.dead).collect());
        let saturated =
            |s: &StatsSummary| mean(hidden(s).iter().filter_map(|l| l.saturated).collect());
        let off = |s: &StatsSummary| mean(hidden(s).iter().filter_map(|l| l.off).collect());
        let s = &r.stats;
        let t = r.train.as_ref();
        let percent = |v: Option<f64>| v.map(|v| 100.0 * v);
        match self {
            Metric::HiddenDb => s.hidden_db,
            Metric::DbPerLayer => s.db_per_layer,
            Metric::OutputStepDb => s.output_step.map(db).filter(|v| v.is_finite()),
            Metric::Loss => s.loss,
            Metric::Dead => dead(s),
            Metric::Saturated => saturated(s),
            Metric::Off => off(s),
            Metric::TopMean => hidden(s).last()?.a_mean,
            Metric::TopStd => hidden(s).last()?.a_std,
            Metric::BestTestAcc => percent(t?.best_test_acc.as_ref().map(|b| b.value)),
            Metric::BestTestLoss => t?.best_test_loss.as_ref().map(|b| b.value),
            Metric::Diverged => Some(if t?.diverged_step.is_some() {
                100.0
            } else {
                0.0
            }),
            // A diverged run has no last epoch or end state worth showing:
            // its last whole epoch is not where it ended.
            _ if t?.diverged_step.is_some() && self.at_the_end() => None,
            Metric::TestAcc => percent(t?.last.test_acc),
            Metric::TestLoss => t?.last.test_loss,
            Metric::TrainLoss => t?.last.train_loss,
            Metric::TrainAcc => percent(t?.last.train_acc),
            Metric::DeadEnd => dead(t?.end.as_ref()?),
            Metric::SaturatedEnd => saturated(t?.end.as_ref()?),
            Metric::OffEnd => off(t?.end.as_ref()?),
            Metric::EpochTo(reach) => reach.epoch(r).map(|e| e as f64),
        }
    }
}

/// The hidden layers of `s`: all but the output one (a single layer is
/// both).
fn hidden(s: &StatsSummary) -> &[LayerSummary] {
    match s.layers.len() {
        0 | 1 => &s.layers,
        n => &s.layers[..n - 1],
    }
}

impl Reach {
    /// `CURVE=TARGET`, e.g. `train_acc=0.75` (accuracies as fractions).
    fn parse(text: &str) -> Result<Reach, String> {
        let names: Vec<&str> = Curve::ALL.iter().map(|c| c.name()).collect();
        let (name, target) = text.split_once('=').ok_or_else(|| {
            format!(
                "epoch_to_{text}: write epoch_to_CURVE=TARGET, CURVE one of {}",
                names.join(", ")
            )
        })?;
        let curve = Curve::ALL
            .into_iter()
            .find(|c| c.name() == name)
            .ok_or_else(|| {
                format!(
                    "epoch_to_{name}: `{name}` is not one of {}",
                    names.join(", ")
                )
            })?;
        let target: f64 = target
            .parse()
            .ok()
            .filter(|t: &f64| t.is_finite())
            .ok_or_else(|| format!("epoch_to_{text}: `{target}` is not a number"))?;
        if curve.is_accuracy() && !(0.0..=1.0).contains(&target) {
            return Err(format!(
                "epoch_to_{text}: an accuracy target is a fraction in [0, 1] (0.75 for 75 %)"
            ));
        }
        Ok(Reach { curve, target })
    }
}

/// The value of key `k` in `r`: a varied key's, or for the keys `spec` and
/// `mode` (which [`keys`] adds when records differ in them) the record's;
/// [`ABSENT`] for a key the record's sweep did not vary.
pub fn key_value<'a>(r: &'a Record, k: &str) -> &'a str {
    match k {
        "spec" => &r.spec,
        "mode" => &r.mode,
        _ => r.point.get(k).map_or(ABSENT, String::as_str),
    }
}

/// The value shown for a key a record's sweep did not vary.
pub const ABSENT: &str = "-";

/// The keys the records vary over, in `--vary` order (seed last), and
/// each key's values (numbers in numeric order, others as first seen).
/// Records of different sweeps (spec as named, `stats` or `train` mode)
/// merged in one report are told apart by the keys `spec` and `mode`,
/// first, so that their runs are never averaged together; a key one sweep
/// did not vary has the value [`ABSENT`] in its records.
pub fn keys(records: &[Record]) -> Vec<(String, Vec<String>)> {
    let mut names: Vec<&str> = vec!["spec", "mode"];
    for r in records {
        for k in &r.axes {
            if !names.contains(&k.as_str()) {
                names.push(k);
            }
        }
    }
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for k in names {
        let mut values: Vec<String> = Vec::new();
        for r in records {
            let v = key_value(r, k);
            if !values.iter().any(|x| x == v) {
                values.push(v.to_owned());
            }
        }
        // spec and mode only when they differ.
        if values.len() > 1 || !["spec", "mode"].contains(&k) {
            out.push((k.to_owned(), values));
        }
    }
    // Numbers in numeric order (absent last); seed last (it is folded, not
    // shown).
    for (_, values) in &mut out {
        let number = |v: &str| v.parse::<f64>().ok();
        if values.iter().all(|v| v == ABSENT || number(v).is_some()) {
            values.sort_by(|a, b| {
                let key = |v: &str| number(v).unwrap_or(f64::INFINITY);
                key(a).total_cmp(&key(b))
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
/// called `depth`, else the first numeric one, else the first). Keys with
/// one value across the records are not columns (the report names them
/// once); seeds are folded.
pub fn pivot(records: &[Record], metric: Metric, row_key: Option<&str>) -> Option<Pivot> {
    let keys = keys(records);
    let shown: Vec<&(String, Vec<String>)> = keys
        .iter()
        .filter(|(k, v)| k != "seed" && (v.len() > 1 || Some(k.as_str()) == row_key))
        .collect();
    // A grid of one point still has a row.
    let shown = match shown.is_empty() {
        true => keys.iter().filter(|(k, _)| k != "seed").take(1).collect(),
        false => shown,
    };
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
        let Some(i) = row.1.iter().position(|x| x == key_value(r, &row.0)) else {
            continue;
        };
        let j = columns
            .iter()
            .position(|c| c.iter().all(|(k, v)| key_value(r, k) == v));
        if let (Some(j), Some(value)) = (j, metric.of(r)) {
            cells[i][j].push(value);
        }
    }
    // Combinations no run has (sweeps of other keys merged) are left out.
    let filled: Vec<bool> = (0..columns.len())
        .map(|j| cells.iter().any(|row| !row[j].is_empty()))
        .collect();
    let keep = |j: usize| filled[j] || !filled.contains(&true);
    let columns = columns
        .into_iter()
        .enumerate()
        .filter(|&(j, _)| keep(j))
        .map(|(_, c)| c)
        .collect();
    let cells = cells
        .into_iter()
        .map(|row| {
            row.into_iter()
                .enumerate()
                .filter(|&(j, _)| keep(j))
                .map(|(_, c)| c)
                .collect()
        })
        .collect();
    Some(Pivot {
        row_key: row.0.clone(),
        rows: row.1.clone(),
        columns,
        cells,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::{EpochSummary, TrainSummary};

    /// A trained record with this train-accuracy and train-loss curve.
    fn trained(curve: &[(f64, f64)], diverged_step: Option<u64>) -> Record {
        let line = r#"{"schema":"depthlab.sweep/1","version":"0","spec":"s","point":{"lr":"0.1"},
            "axes":["lr"],"index":0,"seed":1,"effective_spec":"e","mode":"train","probe":null,
            "probe_rows":1,"stats":{"loss":null,"hidden_factor":null,"hidden_db":null,
            "db_per_layer":null,"output_step":null,"layers":[],"warnings":[]},"train":null,"seconds":0}"#;
        let mut r: Record = serde_json::from_str(line).unwrap();
        let curve: Vec<EpochSummary> = curve
            .iter()
            .enumerate()
            .map(|(i, &(acc, loss))| EpochSummary {
                epoch: i + 1,
                train_loss: Some(loss),
                train_acc: Some(acc),
                test_loss: None,
                test_acc: None,
            })
            .collect();
        r.train = Some(TrainSummary {
            steps: 10,
            epochs: curve.len(),
            last: curve.last().unwrap().clone(),
            curve,
            end: None,
            best_test_loss: None,
            best_test_acc: None,
            diverged_step,
        });
        r
    }

    #[test]
    fn epoch_to_is_the_first_epoch_at_the_target() {
        let r = trained(&[(0.5, 0.9), (0.74, 0.6), (0.75, 0.7), (0.9, 0.2)], None);
        let of = |m: &str| Metric::parse(m).unwrap().of(&r);
        // Accuracies reach at or above, losses at or below.
        assert_eq!(of("epoch_to_train_acc=0.75"), Some(3.0));
        assert_eq!(of("epoch_to_train_acc=0.7"), Some(2.0));
        assert_eq!(of("epoch_to_train_loss=0.6"), Some(2.0));
        assert_eq!(of("epoch_to_train_acc=0.95"), None);
        assert_eq!(of("epoch_to_test_acc=0.1"), None, "no test set");
        assert_eq!(of("train_acc"), Some(90.0));
        assert_eq!(of("diverged"), Some(0.0));
        assert_eq!(
            Metric::parse("epoch_to_train_acc=0.75").unwrap().name(),
            "epoch_to_train_acc=0.75"
        );
    }

    #[test]
    fn a_diverged_run_has_no_last_epoch_metrics() {
        let r = trained(&[(0.5, 0.9), (0.8, 0.5)], Some(31));
        let of = |m: &str| Metric::parse(m).unwrap().of(&r);
        assert_eq!(of("train_acc"), None);
        assert_eq!(of("train_loss"), None);
        assert_eq!(of("diverged"), Some(100.0));
        // What it reached before diverging stands.
        assert_eq!(of("epoch_to_train_acc=0.75"), Some(2.0));
    }

    #[test]
    fn bad_metrics_say_what_is_wrong() {
        let err = |m: &str| Metric::parse(m).unwrap_err();
        assert!(err("speed").contains("not a metric"));
        assert!(err("epoch_to_train_acc=75").contains("fraction"));
        assert!(err("epoch_to_train_acc").contains("CURVE=TARGET"));
        assert!(err("epoch_to_speed=1").contains("`speed` is not one of"));
        assert!(err("epoch_to_test_loss=nan").contains("not a number"));
    }
}
