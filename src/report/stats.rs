//! `depthlab stats` → text: the aligned table (default), JSON (schema
//! `depthlab.stats/1`, documented in `docs/stats-json.md`), CSV, terminal
//! histograms and plain-language warnings. Every number goes through
//! [`sig4`], so snapshots are stable at 4 significant digits.

use super::{align, opt, percent, sig4};
use crate::graph::{Graph, Layer};
use crate::stats::{HIST_BINS, LayerStats, NetworkStats};
use serde::Serialize;
use serde_json::{Value, json};
use std::fmt::Write as _;

/// Version tag of the JSON output; bump on any incompatible change.
pub const JSON_SCHEMA: &str = "depthlab.stats/1";

/// Warn when the gradient shrinks (or grows) by more than this factor
/// between the output layer and the first.
pub const VANISHING_BELOW: f64 = 1e-2;
pub const EXPLODING_ABOVE: f64 = 1e2;
/// Warn when more than this fraction of a layer's units are dead.
pub const DEAD_ABOVE: f64 = 0.10;
/// Warn when more than this fraction of a layer's activations saturate.
pub const SATURATED_ABOVE: f64 = 0.20;

/// What was measured, on what.
pub struct Report<'a> {
    /// Where the spec came from (file path, example name or `--net`).
    pub spec_name: &'a str,
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

    /// `vanishing factor std(δ_1)/std(δ_L) = … (… dB)`.
    pub fn summary_line(&self) -> String {
        let f = self.stats.vanishing_factor();
        format!(
            "vanishing factor std(δ_1)/std(δ_{}) = {} ({} dB)",
            self.graph.layers.len(),
            sig4(f),
            db(f)
        )
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
        let f = self.stats.vanishing_factor();
        if n > 1 && f < VANISHING_BELOW {
            w.push(format!(
                "vanishing gradients: std(δ) shrinks by a factor {} ({} dB) from layer {n} down to layer 1; the first layers will barely learn",
                sig4(1.0 / f),
                db(f)
            ));
        } else if n > 1 && f > EXPLODING_ABOVE {
            w.push(format!("exploding gradients: std(δ) grows by a factor {} ({} dB) from layer {n} down to layer 1", sig4(f), db(f)));
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
        w
    }

    /// The `--format json` document (schema [`JSON_SCHEMA`]).
    pub fn json(&self) -> String {
        let layers: Vec<Value> = self.layers().map(|(l, s)| layer_json(l, s)).collect();
        let f = self.stats.vanishing_factor();
        let doc = json!({
            "schema": JSON_SCHEMA,
            "spec": self.spec_name,
            "seed": self.seed,
            "probe": self.probe,
            "steps": self.steps,
            "input": self.graph.input,
            "loss": { "kind": self.graph.loss.name(), "value": self.stats.loss },
            "histogram": { "bins": HIST_BINS, "range": self.stats.hist_range },
            "layers": layers,
            "summary": { "vanishing_factor": f, "vanishing_db": 20.0 * f.log10(), "warnings": self.warnings() },
        });
        let mut s = serde_json::to_string_pretty(&doc).expect("a JSON value always serializes");
        s.push('\n');
        s
    }

    /// `--format csv`: a header and one row per layer, full precision
    /// (the `csv` crate quotes activations written with commas).
    pub fn csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        for (l, s) in self.layers() {
            w.serialize(LayerRow::new(l, s))
                .expect("a row of numbers serializes to memory");
        }
        let bytes = w.into_inner().expect("a writer to memory flushes");
        String::from_utf8(bytes).expect("the csv crate writes UTF-8")
    }

    /// `--hist`: one line of Unicode blocks per layer, the δ histogram over
    /// the common range, each line scaled to its own tallest bin.
    pub fn histograms(&self) -> String {
        const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
        let r = self.stats.hist_range;
        let mut out = format!(
            "δ histograms: {HIST_BINS} bins over [{}, {}], each row scaled to its tallest bin (blank = empty)\n",
            sig4(-r),
            sig4(r)
        );
        let mut rows = Vec::new();
        for (l, s) in self.layers() {
            let peak = s.hist.iter().copied().max().unwrap_or(0).max(1) as f64;
            let bars: String = s
                .hist
                .iter()
                .map(|&c| {
                    if c == 0 {
                        ' '
                    } else {
                        LEVELS[(((c as f64 / peak) * 7.0).round() as usize).min(7)]
                    }
                })
                .collect();
            rows.push(vec![
                format!("layer {}", l.index),
                format!("│{bars}│"),
                format!("std {}", sig4(s.delta.std())),
            ]);
        }
        out.push_str(&align(&rows, &[0]));
        out
    }
}

/// One row of `stats --format csv` (empty cells for what does not apply).
#[derive(Serialize)]
struct LayerRow {
    layer: usize,
    fan_in: usize,
    units: usize,
    activation: String,
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

impl LayerRow {
    fn new(l: &Layer, s: &LayerStats) -> LayerRow {
        LayerRow {
            layer: l.index,
            fan_in: l.fan_in,
            units: l.units,
            activation: l.act.to_string(),
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

/// A ratio of standard deviations in decibels (20·log10).
fn db(f: f64) -> String {
    format!("{:.1}", 20.0 * f.log10())
}

/// One layer's statistics as the JSON object of the `layers` array (see
/// `docs/stats-json.md`); `train --stats-every` writes the same objects.
pub fn layer_json(l: &Layer, s: &LayerStats) -> Value {
    let total: u64 = s.hist.iter().sum::<u64>().max(1);
    json!({
        "layer": l.index,
        "fan_in": l.fan_in,
        "units": l.units,
        "activation": l.act.to_string(),
        "init": l.init.to_string(),
        "bias_init": l.bias.to_string(),
        "a": {
            "mean": s.a.mean, "std": s.a.std(), "min": s.a.min, "max": s.a.max,
            "p98_abs": s.a_p98, "saturated": s.saturated, "dead_units": s.dead,
        },
        "s": { "mean": s.s.mean, "std": s.s.std() },
        "delta": {
            "mean": s.delta.mean, "std": s.delta.std(), "abs_mean": s.delta.abs_mean(), "norm": s.delta.norm(),
            "histogram": s.hist.iter().map(|&c| c as f64 / total as f64).collect::<Vec<_>>(),
        },
        "weight": { "std": s.w.std(), "norm": s.w.norm() },
        "weight_grad": { "std": s.dw.std(), "norm": s.dw.norm(), "ratio": s.grad_ratio() },
        "bias_grad": { "norm": s.db.norm() },
        "act_params": (s.p.count > 0).then(|| json!({ "mean": s.p.mean, "norm": s.p.norm(), "grad_norm": s.dp.norm() })),
        "mean_sq_derivative": s.mean_sq_derivative,
        "gain": s.gain.map(|g| json!({ "measured": g, "predicted": s.gain_predicted })),
    })
}
