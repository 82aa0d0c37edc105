//! `depthlab stats` → text: the aligned table (default), JSON (schema
//! `depthlab.stats/2`, documented in `docs/stats-json.md`), CSV, terminal
//! histograms and plain-language warnings. Every number goes through
//! [`sig4`], so snapshots are stable at 4 significant digits.

use super::{align, csv_text, opt, percent, sig4};
use crate::graph::{Graph, Layer};
use crate::stats::{HIST_BINS, HIST_RANGE_STDS, LayerStats, NetworkStats, db};
use serde::Serialize;
use serde_json::json;
use std::fmt::Write as _;

/// Version tag of the JSON output; bump on any incompatible change.
pub const JSON_SCHEMA: &str = "depthlab.stats/2";

/// Warn when the gradient shrinks (or grows) by more than this factor from
/// the last hidden layer down to the first (the hidden-layer factor) ...
pub const VANISHING_BELOW: f64 = 1e-2;
pub const EXPLODING_ABOVE: f64 = 1e2;
/// ... or by more than this many dB per hidden layer on average (3 dB: a
/// factor √2 per layer, which compounds with depth) once the whole factor
/// is beyond this one (a single step of a shallow net is not a trend).
pub const DB_PER_LAYER_WARN: f64 = 3.0;
pub const DB_PER_LAYER_MIN_FACTOR: f64 = 10.0;
/// Warn when more than this fraction of a layer's units are dead.
pub const DEAD_ABOVE: f64 = 0.10;
/// Warn when more than this fraction of a layer's activations saturate.
pub const SATURATED_ABOVE: f64 = 0.20;

/// What was measured, on what.
pub struct Report<'a> {
    /// Where the spec came from (file path, example name or `--net`), with
    /// the flags that changed it ([`crate::spec::Spec::label`]).
    pub spec_name: &'a str,
    /// The spec as measured, every override applied, as spec text (empty
    /// when not known).
    pub spec_text: &'a str,
    pub graph: &'a Graph,
    pub stats: &'a NetworkStats,
    pub seed: u64,
    pub probe: usize,
    /// Optimizer steps trained before measuring (0: at initialization).
    pub steps: u64,
}

impl Report<'_> {
    fn layers(&self) -> impl Iterator<Item = (&Layer, &LayerStats)> {
        self.graph.layers.iter().zip(&self.stats.layers)
    }

    fn header(&self) -> String {
        let g = self.graph;
        let trained = match self.steps {
            0 => String::new(),
            n => format!(", after {n} training steps"),
        };
        format!(
            "depthlab stats: {} — {} layers, probe {}×{}, seed {}, {} loss {}{trained}",
            self.spec_name,
            g.layers.len(),
            self.probe,
            g.input,
            self.seed,
            g.loss.name(),
            sig4(self.stats.loss)
        )
    }

    /// The default output: a forward table, a backward table, the summary
    /// line and warnings.
    pub fn table(&self) -> String {
        let mut out = self.header();
        out.push_str("\n\nforward: activations a = f(s), pre-activations s = W·a_prev + b\n");
        let mut rows = vec![
            [
                "layer", "units", "act", "a.mean", "a.std", "a.min", "a.max", "p98|a|", "sat%",
                "dead", "s.mean", "s.std",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for (l, s) in self.layers() {
            rows.push(vec![
                l.index.to_string(),
                l.units.to_string(),
                l.act.name().to_string(),
                sig4(s.a.mean),
                sig4(s.a.std()),
                sig4(s.a.min),
                sig4(s.a.max),
                sig4(s.a_p98),
                percent(s.saturated),
                s.dead.map_or_else(|| "-".into(), |d| d.to_string()),
                sig4(s.s.mean),
                sig4(s.s.std()),
            ]);
        }
        out.push_str(&align(&rows, &[2]));
        out.push_str(
            "\nbackward: δ = ∂L/∂s, weight gradient ∇W = ∂L/∂W, gain = std(δ_l)/std(δ_l+1)\n",
        );
        let mut rows = vec![
            [
                "layer",
                "δ.mean",
                "δ.std",
                "mean|δ|",
                "‖δ‖",
                "∇W.std",
                "‖∇W‖",
                "‖∇W‖/‖W‖",
                "gain",
                "predicted",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for (l, s) in self.layers() {
            rows.push(vec![
                l.index.to_string(),
                sig4(s.delta.mean),
                sig4(s.delta.std()),
                sig4(s.delta.abs_mean()),
                sig4(s.delta.norm()),
                sig4(s.dw.std()),
                sig4(s.dw.norm()),
                sig4(s.grad_ratio()),
                opt(s.gain),
                opt(s.gain_predicted),
            ]);
        }
        out.push_str(&align(&rows, &[]));
        out.push('\n');
        out.push_str(&self.summary_line());
        out.push('\n');
        for w in self.warnings() {
            let _ = writeln!(out, "warning: {w}");
        }
        out
    }

    /// The depth summary: the hidden-layer factor std(δ_1)/std(δ_{L-1})
    /// with its mean gain per layer, then the output layer's step apart.
    pub fn summary_line(&self) -> String {
        let n = self.graph.layers.len();
        let mut out = match (self.stats.hidden_factor(), self.stats.db_per_layer()) {
            (Some(f), Some(per)) => format!(
                "hidden layers: std(δ_1)/std(δ_{}) = {} ({} dB over {} layer{}, {:.2} dB/layer)",
                n - 1,
                sig4(f),
                dbs(f),
                n - 2,
                if n == 3 { "" } else { "s" },
                per
            ),
            _ => "hidden layers: fewer than two, no hidden-layer factor".to_owned(),
        };
        if let Some(step) = self.stats.output_step() {
            out.push_str(&format!(
                "\noutput step: std(δ_{})/std(δ_{n}) = {} ({} dB; the output δ has its own scale)",
                n - 1,
                sig4(step),
                dbs(step)
            ));
        }
        out
    }

    /// Plain-language warnings about what the statistics show.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        let n = self.graph.layers.len();
        for (l, s) in self.layers() {
            if s.non_finite() {
                w.push(format!(
                    "layer {}: NaN or infinite values in the activations or gradients",
                    l.index
                ));
            }
        }
        if let (Some(f), Some(per)) = (self.stats.hidden_factor(), self.stats.db_per_layer()) {
            let top = n - 1;
            let steep = per.abs() > DB_PER_LAYER_WARN
                && !(1.0 / DB_PER_LAYER_MIN_FACTOR..=DB_PER_LAYER_MIN_FACTOR).contains(&f);
            if f < VANISHING_BELOW || (steep && per < 0.0) {
                w.push(format!(
                    "vanishing gradients: std(δ) shrinks by a factor {} ({} dB, {per:.2} dB/layer) from layer {top} down to layer 1; the first layers will barely learn",
                    sig4(1.0 / f),
                    dbs(f)
                ));
            } else if f > EXPLODING_ABOVE || (steep && per > 0.0) {
                w.push(format!(
                    "exploding gradients: std(δ) grows by a factor {} ({} dB, {per:.2} dB/layer) from layer {top} down to layer 1",
                    sig4(f),
                    dbs(f)
                ));
            }
        }
        let mut dead = Vec::new();
        let mut saturated = Vec::new();
        for (l, s) in self.layers() {
            let frac = s.dead.map_or(0.0, |d| d as f64 / l.units.max(1) as f64);
            if frac > DEAD_ABOVE {
                dead.push(format!("layer {} ({:.0} %)", l.index, 100.0 * frac));
            }
            if let Some(sat) = s.saturated.filter(|&s| s > SATURATED_ABOVE) {
                saturated.push(format!("layer {} ({:.0} %)", l.index, 100.0 * sat));
            }
        }
        if !dead.is_empty() {
            w.push(format!(
                "dead units (zero for every probe example) above {:.0} %: {}",
                100.0 * DEAD_ABOVE,
                dead.join(", ")
            ));
        }
        if !saturated.is_empty() {
            w.push(format!(
                "saturated activations (f' ≈ 0) above {:.0} %: {}",
                100.0 * SATURATED_ABOVE,
                saturated.join(", ")
            ));
        }
        // Every δ below f32's normal range, not all zero: each operation
        // on them takes a microcode assist on x86 (README, Speed).
        let subnormal: Vec<String> = self
            .layers()
            .filter(|(_, s)| {
                let largest = s.delta.max.abs().max(s.delta.min.abs());
                largest > 0.0 && largest < f64::from(f32::MIN_POSITIVE)
            })
            .map(|(l, _)| l.index.to_string())
            .collect();
        if !subnormal.is_empty() {
            w.push(format!(
                "subnormal gradients (every |δ| below 1.2e-38) in layer(s) {}: slow on x86 CPUs; \
                 `train flush_subnormals=true` flushes them to zero (faster, results no longer IEEE's)",
                subnormal.join(", ")
            ));
        }
        w
    }

    /// The `--format json` document (schema [`JSON_SCHEMA`]).
    pub fn json(&self) -> String {
        let layers: Vec<LayerJson> = self.layers().map(|(l, s)| layer_json(l, s)).collect();
        let st = self.stats;
        let doc = json!({
            "schema": JSON_SCHEMA,
            "spec": self.spec_name,
            "effective_spec": self.spec_text,
            "seed": self.seed,
            "probe": self.probe,
            "steps": self.steps,
            "input": self.graph.input,
            "loss": { "kind": self.graph.loss.name(), "value": self.stats.loss },
            "histogram": { "bins": HIST_BINS, "range": st.hist_range, "activation_range": [st.act_range.0, st.act_range.1] },
            "layers": layers,
            "summary": {
                "hidden_factor": st.hidden_factor(),
                "hidden_db": st.hidden_factor().map(db),
                "db_per_layer": st.db_per_layer(),
                "output_step": st.output_step(),
                "warnings": self.warnings(),
            },
        });
        let mut s = serde_json::to_string_pretty(&doc).expect("a JSON value always serializes");
        s.push('\n');
        s
    }

    /// `--svg`: the figure of the statistics (see
    /// [`super::figures::stats_panels`]), titled with the spec, its seed
    /// and probe.
    pub fn svg(&self) -> Result<String, String> {
        let trained = match self.steps {
            0 => String::new(),
            n => format!(", after {n} training steps"),
        };
        let title = format!(
            "depthlab stats: {} — seed {}, probe {}{trained}",
            self.spec_name, self.seed, self.probe
        );
        super::figures::render(&title, &super::figures::stats_panels(self.stats))
    }

    /// `--format csv`: a header and one row per layer, full precision
    /// (the `csv` crate quotes activations written with commas).
    pub fn csv(&self) -> String {
        csv_text(self.layers().map(|(l, s)| LayerRow::new(self, l, s)), true)
    }

    /// `--hist`: one line of Unicode blocks per layer for the δ or the
    /// activation histograms (or both), over the hidden layers' common
    /// range, each row scaled to its own tallest bin. Rows whose values go
    /// beyond the range (usually the output layer's) say how many.
    pub fn histograms(&self, which: Hist) -> String {
        let st = self.stats;
        let r = st.hist_range;
        let (lo, hi) = st.act_range;
        let delta = format!(
            "δ histograms: {HIST_BINS} bins over [{}, {}] (±{HIST_RANGE_STDS} × the largest hidden std(δ)), each row scaled to its tallest bin (blank = empty; exact zeros counted apart)\n",
            sig4(-r),
            sig4(r)
        );
        let act = format!(
            "activation histograms: {HIST_BINS} bins over [{}, {}] (the hidden layers' range), each row scaled to its tallest bin (exact zeros counted apart)\n",
            sig4(lo),
            sig4(hi)
        );
        let delta_rows = || {
            let rows = self.layers().map(|(l, s)| {
                let note = notes(s.delta_zeros, s.hist_beyond, s.delta.count);
                (
                    l.index,
                    bars(&s.hist),
                    format!("std {}{note}", sig4(s.delta.std())),
                )
            });
            delta.clone() + &histogram_rows(rows)
        };
        let act_rows = || {
            let rows = self.layers().map(|(l, s)| {
                let note = notes(s.act_zeros, s.act_beyond, s.a.count);
                (
                    l.index,
                    bars(&s.act_hist),
                    format!("mean {}{note}", sig4(s.a.mean)),
                )
            });
            act.clone() + &histogram_rows(rows)
        };
        match which {
            Hist::Delta => delta_rows(),
            Hist::Act => act_rows(),
            Hist::Both => format!("{}\n{}", act_rows(), delta_rows()),
        }
    }
}

/// Which histograms `--hist` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hist {
    Act,
    Delta,
    Both,
}

/// One row of Unicode blocks, scaled to the tallest bin (blank = empty).
fn bars(hist: &[u64]) -> String {
    const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let peak = hist.iter().copied().max().unwrap_or(0).max(1) as f64;
    hist.iter()
        .map(|&c| match c {
            0 => ' ',
            c => LEVELS[(((c as f64 / peak) * 7.0).round() as usize).min(7)],
        })
        .collect()
}

/// `, 50 % zeros, 3.2 % beyond the range` for what a row's bars leave out
/// or clip.
fn notes(zeros: u64, beyond: u64, total: usize) -> String {
    let mut out = String::new();
    for (count, what) in [(zeros, "zeros"), (beyond, "beyond the range")] {
        if count > 0 {
            out += &format!(", {} {what}", share(count, total));
        }
    }
    out
}

/// `count` of `total` as a percentage with sensible digits.
fn share(count: u64, total: usize) -> String {
    let p = 100.0 * count as f64 / total.max(1) as f64;
    match p {
        p if p < 0.1 => "< 0.1 %".to_owned(),
        p if p < 10.0 => format!("{p:.1} %"),
        p => format!("{p:.0} %"),
    }
}

/// Aligned `layer l │bars│ note` rows.
fn histogram_rows(rows: impl Iterator<Item = (usize, String, String)>) -> String {
    let rows: Vec<Vec<String>> = rows
        .map(|(index, bars, note)| vec![format!("layer {index}"), format!("│{bars}│"), note])
        .collect();
    align(&rows, &[0])
}

/// One row of `stats --format csv` (empty cells for what does not apply).
/// The spec (with its overrides), seed, activation and init ride on every
/// row, so the files of several runs concatenate into one table.
#[derive(Serialize)]
struct LayerRow<'a> {
    spec: &'a str,
    seed: u64,
    layer: usize,
    fan_in: usize,
    units: usize,
    activation: String,
    init: String,
    a_mean: f64,
    a_std: f64,
    a_min: f64,
    a_max: f64,
    a_p98_abs: f64,
    saturated: Option<f64>,
    dead_units: Option<usize>,
    s_mean: f64,
    s_std: f64,
    delta_mean: f64,
    delta_std: f64,
    delta_abs_mean: f64,
    delta_norm: f64,
    w_std: f64,
    w_norm: f64,
    dw_std: f64,
    dw_norm: f64,
    dw_ratio: f64,
    gain: Option<f64>,
    gain_predicted: Option<f64>,
}

impl<'a> LayerRow<'a> {
    fn new(report: &Report<'a>, l: &Layer, s: &LayerStats) -> LayerRow<'a> {
        LayerRow {
            spec: report.spec_name,
            seed: report.seed,
            layer: l.index,
            fan_in: l.fan_in,
            units: l.units,
            activation: l.act.to_string(),
            init: l.init.to_string(),
            a_mean: s.a.mean,
            a_std: s.a.std(),
            a_min: s.a.min,
            a_max: s.a.max,
            a_p98_abs: s.a_p98,
            saturated: s.saturated,
            dead_units: s.dead,
            s_mean: s.s.mean,
            s_std: s.s.std(),
            delta_mean: s.delta.mean,
            delta_std: s.delta.std(),
            delta_abs_mean: s.delta.abs_mean(),
            delta_norm: s.delta.norm(),
            w_std: s.w.std(),
            w_norm: s.w.norm(),
            dw_std: s.dw.std(),
            dw_norm: s.dw.norm(),
            dw_ratio: s.grad_ratio(),
            gain: s.gain,
            gain_predicted: s.gain_predicted,
        }
    }
}

/// A ratio of standard deviations in decibels, one decimal.
fn dbs(f: f64) -> String {
    format!("{:.1}", db(f))
}

/// One layer's statistics as the JSON object of the `layers` array (see
/// `docs/stats-json.md`); `train --stats-every` writes the same objects.
/// Typed rather than a `serde_json::Value` (a map per object): written
/// straight out, a measurement of a small net spends less on its JSON than
/// on its statistics.
pub fn layer_json<'a>(l: &'a Layer, s: &'a LayerStats) -> LayerJson<'a> {
    LayerJson {
        layer: l.index,
        fan_in: l.fan_in,
        units: l.units,
        activation: l.act.to_string(),
        init: l.init.to_string(),
        bias_init: l.bias.to_string(),
        a: ActJson {
            mean: s.a.mean,
            std: s.a.std(),
            min: s.a.min,
            max: s.a.max,
            p98_abs: s.a_p98,
            saturated: s.saturated,
            dead_units: s.dead,
            histogram: Normalized(&s.act_hist),
            zeros: s.act_zeros as f64 / s.a.count.max(1) as f64,
        },
        s: MeanStd {
            mean: s.s.mean,
            std: s.s.std(),
        },
        delta: DeltaJson {
            mean: s.delta.mean,
            std: s.delta.std(),
            abs_mean: s.delta.abs_mean(),
            norm: s.delta.norm(),
            histogram: Normalized(&s.hist),
            zeros: s.delta_zeros as f64 / s.delta.count.max(1) as f64,
        },
        weight: StdNorm {
            std: s.w.std(),
            norm: s.w.norm(),
        },
        weight_grad: GradJson {
            std: s.dw.std(),
            norm: s.dw.norm(),
            ratio: s.grad_ratio(),
        },
        bias_grad: Norm { norm: s.db.norm() },
        act_params: (s.p.count > 0).then(|| ParamsJson {
            mean: s.p.mean,
            norm: s.p.norm(),
            grad_norm: s.dp.norm(),
        }),
        mean_sq_derivative: s.mean_sq_derivative,
        gain: s.gain.map(|measured| GainJson {
            measured,
            predicted: s.gain_predicted,
        }),
    }
}

/// See [`layer_json`]; the fields in the schema's order.
#[derive(Serialize)]
pub struct LayerJson<'a> {
    layer: usize,
    fan_in: usize,
    units: usize,
    activation: String,
    init: String,
    bias_init: String,
    a: ActJson<'a>,
    s: MeanStd,
    delta: DeltaJson<'a>,
    weight: StdNorm,
    weight_grad: GradJson,
    bias_grad: Norm,
    act_params: Option<ParamsJson>,
    mean_sq_derivative: f64,
    gain: Option<GainJson>,
}

#[derive(Serialize)]
struct ActJson<'a> {
    mean: f64,
    std: f64,
    min: f64,
    max: f64,
    p98_abs: f64,
    saturated: Option<f64>,
    dead_units: Option<usize>,
    histogram: Normalized<'a>,
    zeros: f64,
}

#[derive(Serialize)]
struct DeltaJson<'a> {
    mean: f64,
    std: f64,
    abs_mean: f64,
    norm: f64,
    histogram: Normalized<'a>,
    zeros: f64,
}

#[derive(Serialize)]
struct MeanStd {
    mean: f64,
    std: f64,
}

#[derive(Serialize)]
struct StdNorm {
    std: f64,
    norm: f64,
}

#[derive(Serialize)]
struct GradJson {
    std: f64,
    norm: f64,
    ratio: f64,
}

#[derive(Serialize)]
struct Norm {
    norm: f64,
}

#[derive(Serialize)]
struct ParamsJson {
    mean: f64,
    norm: f64,
    grad_norm: f64,
}

#[derive(Serialize)]
struct GainJson {
    measured: f64,
    predicted: Option<f64>,
}

/// Histogram counts written as fractions of their total.
struct Normalized<'a>(&'a [u64]);

impl Serialize for Normalized<'_> {
    fn serialize<S: serde::Serializer>(&self, out: S) -> Result<S::Ok, S::Error> {
        let total = self.0.iter().sum::<u64>().max(1) as f64;
        out.collect_seq(self.0.iter().map(|&c| c as f64 / total))
    }
}
