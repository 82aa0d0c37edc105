//! Training records → text: the per-epoch table lines, `epochs.csv`, the
//! `stats.jsonl` lines (schema `depthlab.train-stats/2`, documented in
//! `docs/training.md`) and the final summary.

use super::{Hist, LayerJson, Report, csv_text, layer_json, opt, percent, sig4};
use crate::graph::Graph;
use crate::stats::NetworkStats;
use crate::train::{EpochRecord, Measured, StatsRecord};
use serde::Serialize;
use std::io;
use std::path::{Path, PathBuf};

/// Version tag of the `stats.jsonl` lines.
pub const STATS_SCHEMA: &str = "depthlab.train-stats/2";

/// A fraction as `12.3%`, `-` when not measured.
fn pct(x: Option<f64>) -> String {
    match x {
        Some(_) => format!("{}%", percent(x)),
        None => percent(x),
    }
}

/// The header of the per-epoch table.
pub fn epoch_header() -> String {
    format!(
        "{:>5}  {:>7}  {:>9}  {:>10}  {:>9}  {:>10}  {:>8}  {:>7}",
        "epoch", "step", "lr", "train loss", "train acc", "test loss", "test acc", "time"
    )
}

/// One row of the per-epoch table.
pub fn epoch_line(r: &EpochRecord) -> String {
    format!(
        "{:>5}  {:>7}  {:>9}  {:>10}  {:>9}  {:>10}  {:>8}  {:>7}",
        r.epoch,
        r.step,
        sig4(r.lr),
        sig4(r.train_loss),
        pct(r.train_acc),
        opt(r.test_loss),
        pct(r.test_acc),
        duration(r.seconds)
    )
}

/// A duration to 3 significant digits in a unit that fits: `812µs`,
/// `1.23ms`, `45.6s`.
///
/// ```
/// use depthlab::report::train::duration;
/// assert_eq!(duration(0.000812), "812µs");
/// assert_eq!(duration(0.001234), "1.23ms");
/// assert_eq!(duration(45.61), "45.6s");
/// assert_eq!(duration(1234.0), "1234s");
/// ```
pub fn duration(seconds: f64) -> String {
    let (v, unit) = match seconds {
        s if s < 1e-3 => (s * 1e6, "µs"),
        s if s < 1.0 => (s * 1e3, "ms"),
        s => (s, "s"),
    };
    let decimals = match v {
        v if v < 10.0 => 2,
        v if v < 100.0 => 1,
        _ => 0,
    };
    format!("{v:.decimals$}{unit}")
}

/// The header line of `epochs.csv`: [`EpochRecord`]'s field names.
pub fn epoch_csv_header() -> String {
    header_line(EpochRecord::default())
}

/// The CSV header line of a record type: its field names.
fn header_line<T: Serialize>(record: T) -> String {
    let both = csv_text([record], true);
    let end = both.find('\n').map_or(both.len(), |i| i + 1);
    both[..end].to_owned()
}

/// One `epochs.csv` row, full precision.
pub fn epoch_csv(r: &EpochRecord) -> String {
    csv_text([r], false)
}

/// Rewrites `epochs.csv` (if it exists) without the rows of epochs after
/// `completed`: a run stopped mid-epoch wrote that epoch's row so far, and
/// the resumed run writes the whole row again. The header and rows whose
/// epoch is not a number are kept; a last row without its newline (cut
/// short by a killed writer) is dropped.
pub fn drop_epoch_rows_after(path: &Path, completed: u64) -> io::Result<()> {
    let mut text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let whole = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut dropped = whole < text.len();
    text.truncate(whole);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(&text[..]);
    let mut writer = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new());
    for record in reader.byte_records() {
        let record = record.map_err(io::Error::other)?;
        let epoch = record.get(0).and_then(|e| std::str::from_utf8(e).ok());
        if epoch
            .and_then(|e| e.parse::<u64>().ok())
            .is_some_and(|e| e > completed)
        {
            dropped = true;
        } else {
            writer.write_byte_record(&record)?;
        }
    }
    if !dropped {
        return Ok(());
    }
    let kept = writer.into_inner().map_err(|e| e.into_error())?;
    crate::files::write_atomic(path, &kept)
}

/// One row of `layers.csv`: one layer at one probe measurement, flat (the
/// `stats.jsonl` record without nesting), with the spec and seed on every
/// row so that several runs' files concatenate into one table.
#[derive(Default, Serialize)]
struct LayerRecord<'a> {
    spec: &'a str,
    seed: u64,
    step: u64,
    epoch: usize,
    layer: usize,
    activation: String,
    a_mean: f64,
    a_std: f64,
    a_p98_abs: f64,
    saturated: Option<f64>,
    dead_units: Option<usize>,
    delta_std: f64,
    delta_zeros: f64,
    weight_norm: f64,
    grad_ratio: f64,
    update_ratio: Option<f64>,
    gain: Option<f64>,
    gain_predicted: Option<f64>,
}

/// The header line of `layers.csv`.
pub fn layers_csv_header() -> String {
    header_line(LayerRecord::default())
}

/// The `layers.csv` rows of one measurement: one per layer.
pub fn layer_rows(spec: &str, seed: u64, graph: &Graph, r: &StatsRecord) -> String {
    let rows = graph
        .layers
        .iter()
        .zip(&r.stats.layers)
        .enumerate()
        .map(|(i, (l, s))| LayerRecord {
            spec,
            seed,
            step: r.step,
            epoch: r.epoch,
            layer: l.index,
            activation: l.act.to_string(),
            a_mean: s.a.mean,
            a_std: s.a.std(),
            a_p98_abs: s.a_p98,
            saturated: s.saturated,
            dead_units: s.dead,
            delta_std: s.delta.std(),
            delta_zeros: s.delta_zeros as f64 / s.delta.count.max(1) as f64,
            weight_norm: s.w.norm(),
            grad_ratio: s.grad_ratio(),
            update_ratio: r.update_ratio.map(|u| u[i]),
            gain: s.gain,
            gain_predicted: s.gain_predicted,
        });
    csv_text(rows, false)
}

/// One `stats.jsonl` line.
#[derive(Serialize)]
struct StatsLine<'a> {
    schema: &'static str,
    step: u64,
    epoch: usize,
    probe_loss: f64,
    histogram_range: f64,
    /// std(δ_1)/std(δ_{L-1}), its gain per layer in dB, and the output
    /// layer's step std(δ_{L-1})/std(δ_L) (see `stats`).
    hidden_factor: Option<f64>,
    db_per_layer: Option<f64>,
    output_step: Option<f64>,
    /// The `stats --format json` layer objects plus `weight_norm` and
    /// `update_ratio`.
    layers: Vec<TrainLayer<'a>>,
}

/// A `stats --format json` layer object with the training's two fields.
#[derive(Serialize)]
struct TrainLayer<'a> {
    #[serde(flatten)]
    layer: LayerJson<'a>,
    weight_norm: f64,
    update_ratio: Option<f64>,
}

/// One `stats.jsonl` line: the step, the probe loss and one object per
/// layer (the `stats --format json` layer objects plus `weight_norm` and
/// `update_ratio`).
pub fn stats_line(graph: &Graph, r: &StatsRecord) -> String {
    let layers = graph
        .layers
        .iter()
        .zip(&r.stats.layers)
        .enumerate()
        .map(|(i, (l, s))| TrainLayer {
            layer: layer_json(l, s),
            weight_norm: s.w.norm(),
            update_ratio: r.update_ratio.map(|u| u[i]),
        })
        .collect();
    let line = StatsLine {
        schema: STATS_SCHEMA,
        step: r.step,
        epoch: r.epoch,
        probe_loss: r.stats.loss,
        histogram_range: r.stats.hist_range,
        hidden_factor: r.stats.hidden_factor(),
        db_per_layer: r.stats.db_per_layer(),
        output_step: r.stats.output_step(),
        layers,
    };
    let mut s = serde_json::to_string(&line).expect("a JSON value always serializes");
    s.push('\n');
    s
}

/// The per-layer table of how training changed the network: ‖W‖, std(δ)
/// and saturation or dead units at the start and the end, and the last
/// update ratio.
pub fn summary_table(
    graph: &Graph,
    first: &NetworkStats,
    last: &NetworkStats,
    update_ratio: &[f64],
) -> String {
    let mut out = format!(
        "{:>5}  {:<12}  {:>9}  {:>9}  {:>11}  {:>11}  {:>13}  {:>9}\n",
        "layer",
        "activation",
        "‖W‖ start",
        "‖W‖ end",
        "std(δ) start",
        "std(δ) end",
        "sat/dead end",
        "‖ΔW‖/‖W‖"
    );
    for (i, l) in graph.layers.iter().enumerate() {
        let (a, b) = (&first.layers[i], &last.layers[i]);
        let health = match (b.saturated, b.dead) {
            (Some(s), _) => format!("{:.1}% sat", 100.0 * s),
            (None, Some(d)) => format!("{d} dead"),
            _ => "-".into(),
        };
        out.push_str(&format!(
            "{:>5}  {:<12}  {:>9}  {:>9}  {:>11}  {:>11}  {:>13}  {:>9}\n",
            l.index,
            l.act.name(),
            sig4(a.w.norm()),
            sig4(b.w.norm()),
            sig4(a.delta.std()),
            sig4(b.delta.std()),
            health,
            update_ratio.get(i).map_or("-".into(), |&u| sig4(u)),
        ));
    }
    if let (Some(a), Some(b)) = (first.hidden_factor(), last.hidden_factor()) {
        out.push_str(&format!(
            "hidden layers std(δ_1)/std(δ_{}): {} at the start, {} at the end\n",
            graph.layers.len() - 1,
            sig4(a),
            sig4(b)
        ));
    }
    out
}

/// Training steps of a plan that splits, run split over `threads` and
/// unsplit on one (see `SplitChoice`).
#[derive(Clone, Copy, Debug)]
pub struct SplitCounts {
    pub threads: usize,
    pub alone: u64,
    pub split: u64,
    /// Run unsplit while the probe statistics were measured on the other
    /// core.
    pub held: u64,
}

/// How the steps of a plan that splits ran, and why some ran on one
/// thread.
fn split_line(s: SplitCounts) -> String {
    let why = if s.alone > s.split {
        "faster lately: another busy process on a core?"
    } else {
        "to check that it is still slower"
    };
    let others = match (s.held, s.alone) {
        (0, _) => format!("the others ran on one thread, {why}"),
        (held, 0) => format!(
            "the other {held} ran on one thread while the probe statistics were measured on another"
        ),
        (held, alone) => format!(
            "the others ran on one thread: {held} while the probe statistics were measured on another, {alone} {why}"
        ),
    };
    format!(
        "split over {} threads: {} of {} steps ({others})\n",
        s.threads,
        s.split,
        s.split + s.alone + s.held
    )
}

/// Everything the final summary of `depthlab train` reports.
pub struct Summary<'a> {
    pub spec_name: &'a str,
    pub seed: u64,
    pub graph: &'a Graph,
    /// The probe statistics at the start and at the end of this run.
    pub first: Option<&'a NetworkStats>,
    pub last: Option<&'a NetworkStats>,
    pub probe: usize,
    /// ‖ΔW‖/‖W‖ per layer at the last measurement.
    pub update_ratio: &'a [f64],
    pub last_epoch: Option<&'a EpochRecord>,
    /// Steps this process ran, and how long it took.
    pub steps: u64,
    pub seconds: f64,
    /// Probe measurements in that time, and what they cost.
    pub measured: Measured,
    /// How the training steps ran, when their plan splits.
    pub split: Option<SplitCounts>,
    pub checkpoints: &'a [PathBuf],
    /// Append the probe's histograms at the start and the end.
    pub hist: Option<Hist>,
}

impl Summary<'_> {
    /// The `stats` report of one of the run's measurements.
    fn report<'s>(&'s self, stats: &'s NetworkStats) -> Report<'s> {
        Report {
            spec_name: self.spec_name,
            spec_text: "",
            graph: self.graph,
            stats,
            seed: self.seed,
            probe: self.probe,
            steps: 0,
        }
    }

    /// The summary text: the per-layer table, the final losses, the speed,
    /// the checkpoints written, and the histograms if asked.
    pub fn text(&self) -> String {
        let mut out = String::new();
        if let (Some(f), Some(l)) = (self.first, self.last) {
            out.push_str(&summary_table(self.graph, f, l, self.update_ratio));
            // What `stats` would warn about, at the end.
            for w in self.report(l).warnings() {
                out.push_str(&format!("warning at the end: {w}\n"));
            }
        }
        if let Some(r) = self.last_epoch {
            let acc =
                |a: Option<f64>| a.map_or(String::new(), |a| format!(" (acc {:.1}%)", 100.0 * a));
            out.push_str(&format!(
                "final: train loss {}{}, test loss {}{}\n",
                sig4(r.train_loss),
                acc(r.train_acc),
                opt(r.test_loss),
                acc(r.test_acc),
            ));
        }
        let per_step = match self.steps {
            0 => "-".to_owned(),
            n => format!("{:.0}", 1e6 * self.seconds / n as f64),
        };
        out.push_str(&format!(
            "{} steps in {:.2} s ({per_step} µs/step incl. evaluation and statistics)\n",
            self.steps, self.seconds
        ));
        if let Some(s) = self.split {
            out.push_str(&split_line(s));
        }
        if self.measured.count > 0 {
            // What the statistics cost, so that --stats-every and --probe
            // can be chosen knowing it.
            let m = &self.measured;
            // The training thread's cost: its own time, and what its steps
            // run unsplit meanwhile took beyond split ones (when some step
            // ran split to say).
            let extra = m.unsplit.and_then(|(_, extra)| extra).unwrap_or_default();
            let cost = (m.here + extra).as_secs_f64();
            let share = 100.0 * cost / self.seconds.max(f64::MIN_POSITIVE);
            let here = duration(m.here.as_secs_f64());
            let what = format!(
                "probe statistics: {} measurements of {} rows took",
                m.count, self.probe
            );
            out.push_str(&match (m.beside, m.unsplit) {
                (None, _) => format!("{what} {here}, {share:.0} % of the run\n"),
                (Some(took), None) => format!(
                    "{what} {} on a thread beside training, and {here} of the training thread's, {share:.1} % of the run\n",
                    duration(took.as_secs_f64())
                ),
                (Some(took), Some((steps, extra))) => {
                    let held = match extra {
                        Some(extra) => format!(
                            "plus about {} for its {steps} steps run unsplit meanwhile",
                            duration(extra.as_secs_f64())
                        ),
                        None => format!(
                            "(its {steps} steps all ran unsplit meanwhile: none split, to compare with)"
                        ),
                    };
                    format!(
                        "{what} {} on a thread beside training, and {here} of the training thread's {held}, {share:.1} % of the run\n",
                        duration(took.as_secs_f64()),
                    )
                }
            });
        }
        for path in self.checkpoints {
            out.push_str(&format!("checkpoint: {}\n", path.display()));
        }
        if let (Some(f), Some(l), Some(which)) = (self.first, self.last, self.hist) {
            for (when, stats) in [("start", f), ("end", l)] {
                let hist = self.report(stats).histograms(which);
                out.push_str(&format!("\nat the {when}: {hist}"));
            }
        }
        out
    }
}
