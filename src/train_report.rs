//! Training records → text: the per-epoch table lines, `epochs.csv`, the
//! `stats.jsonl` lines (schema `depthlab.train-stats/1`, documented in
//! `docs/training.md`) and the final summary.

use crate::graph::Graph;
use crate::report::{layer_json, sig4};
use crate::stats::NetworkStats;
use crate::train::{EpochRecord, StatsRecord};
use serde_json::json;

/// Version tag of the `stats.jsonl` lines.
pub const STATS_SCHEMA: &str = "depthlab.train-stats/1";

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |f| format!("{:.1}%", 100.0 * f))
}

fn opt(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), sig4)
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
        "{:>5}  {:>7}  {:>9}  {:>10}  {:>9}  {:>10}  {:>8}  {:>6.3}s",
        r.epoch,
        r.step,
        sig4(r.lr),
        sig4(r.train_loss),
        pct(r.train_acc),
        opt(r.test_loss),
        pct(r.test_acc),
        r.seconds
    )
}

pub const EPOCH_CSV_HEADER: &str =
    "epoch,step,lr,train_loss,train_acc,test_loss,test_acc,seconds\n";

/// One `epochs.csv` row, full precision (empty cells for what was not
/// measured).
pub fn epoch_csv(r: &EpochRecord) -> String {
    let o = |x: Option<f64>| x.map_or_else(String::new, |v| v.to_string());
    format!(
        "{},{},{},{},{},{},{},{:.3}\n",
        r.epoch,
        r.step,
        r.lr,
        r.train_loss,
        o(r.train_acc),
        o(r.test_loss),
        o(r.test_acc),
        r.seconds
    )
}

/// One `stats.jsonl` line: the step, the probe loss and one object per
/// layer (the `stats --format json` layer objects plus `weight_norm` and
/// `update_ratio`).
pub fn stats_line(graph: &Graph, r: &StatsRecord) -> String {
    let layers: Vec<_> = graph
        .layers
        .iter()
        .zip(&r.stats.layers)
        .enumerate()
        .map(|(i, (l, s))| {
            let mut v = layer_json(l, s);
            v["weight_norm"] = json!(s.w.norm());
            v["update_ratio"] = json!(r.update_ratio.map(|u| u[i]));
            v
        })
        .collect();
    let doc = json!({
        "schema": STATS_SCHEMA,
        "step": r.step,
        "epoch": r.epoch,
        "probe_loss": r.stats.loss,
        "histogram_range": r.stats.hist_range,
        "vanishing_factor": r.stats.vanishing_factor(),
        "layers": layers,
    });
    let mut s = serde_json::to_string(&doc).expect("a JSON value always serializes");
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
    out.push_str(&format!(
        "vanishing factor std(δ_1)/std(δ_L): {} at the start, {} at the end\n",
        sig4(first.vanishing_factor()),
        sig4(last.vanishing_factor())
    ));
    out
}
