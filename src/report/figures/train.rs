//! The `train --out DIR` figures, drawn from the run folder's own files
//! (`epochs.csv`, `stats.jsonl`), so a resumed run's figures cover the
//! whole run: `DIR/figures/loss.svg` (loss and accuracy per epoch),
//! `activations.svg` (mean ± std and the 98th percentile of |a| per layer
//! over training: Glorot & Bengio's Fig. 2), `delta.svg` (std(δ) per layer
//! over training) and `updates.svg` (‖ΔW‖/‖W‖ per layer).

use super::{Look, Panel, Series, hidden_layers, in_legend, layer_color, render};
use crate::files::write_atomic;
use crate::train::EpochRecord;
use plotters::style::RGBColor;
use serde::Deserialize;
use std::io;
use std::path::{Path, PathBuf};

/// One measurement of the probe: its step and, per layer, what is drawn.
struct Record {
    step: f64,
    layers: Vec<LayerPoint>,
}

#[derive(Clone, Copy)]
struct LayerPoint {
    mean: f64,
    std: f64,
    p98: f64,
    delta_std: f64,
    update_ratio: Option<f64>,
}

/// What the figures read of a `stats.jsonl` line; serde skips the rest
/// (most of the line: histograms) without building it. A number that is
/// missing or null (a NaN) is read as NaN, missing layers as none; a line
/// shaped otherwise (a damaged file) is skipped.
#[derive(Deserialize)]
struct StatsLine {
    step: Option<f64>,
    #[serde(default)]
    layers: Vec<LayerLine>,
}

#[derive(Deserialize)]
struct LayerLine {
    #[serde(default)]
    a: ActLine,
    #[serde(default)]
    delta: DeltaLine,
    update_ratio: Option<f64>,
}

#[derive(Default, Deserialize)]
struct ActLine {
    mean: Option<f64>,
    std: Option<f64>,
    p98_abs: Option<f64>,
}

#[derive(Default, Deserialize)]
struct DeltaLine {
    std: Option<f64>,
}

/// The lines of `stats.jsonl` (a line that does not parse is skipped: the
/// file is written whole lines at a time, so only a damaged file has one).
fn read_stats(path: &Path) -> io::Result<Vec<Record>> {
    let text = std::fs::read_to_string(path)?;
    let number = |v: Option<f64>| v.unwrap_or(f64::NAN);
    let records = text
        .lines()
        .filter_map(|line| serde_json::from_str::<StatsLine>(line).ok())
        .map(|doc| Record {
            step: number(doc.step),
            layers: doc
                .layers
                .iter()
                .map(|l| LayerPoint {
                    mean: number(l.a.mean),
                    std: number(l.a.std),
                    p98: number(l.a.p98_abs),
                    delta_std: number(l.delta.std),
                    update_ratio: l.update_ratio,
                })
                .collect(),
        })
        .collect();
    Ok(records)
}

/// The rows of `epochs.csv`.
fn read_epochs(path: &Path) -> io::Result<Vec<EpochRecord>> {
    let mut reader = csv::Reader::from_path(path).map_err(io::Error::other)?;
    reader
        .deserialize()
        .collect::<Result<_, _>>()
        .map_err(io::Error::other)
}

const TRAIN: RGBColor = RGBColor(33, 102, 172);
const TEST: RGBColor = RGBColor(214, 96, 77);

/// Loss, and accuracy when measured, per epoch: train and test.
fn loss_panels(epochs: &[EpochRecord]) -> Vec<Panel> {
    let series = |pick: fn(&EpochRecord) -> Option<f64>, color, label: &str| {
        let points: Vec<_> = epochs
            .iter()
            .filter_map(|r| pick(r).map(|v| (r.epoch as f64, v)))
            .collect();
        (!points.is_empty()).then(|| Series::line(points, color, Some(label.to_owned())))
    };
    let mut panels = vec![Panel {
        caption: "loss per epoch (train: mean over the epoch's batches; test: after the epoch)"
            .into(),
        x_desc: "epoch".into(),
        y_desc: "loss".into(),
        log_y: false,
        whole_x: true,
        y_range: None,
        x_range: None,
        series: [
            series(|r| Some(r.train_loss), TRAIN, "train"),
            series(|r| r.test_loss, TEST, "test"),
        ]
        .into_iter()
        .flatten()
        .collect(),
    }];
    let accuracy: Vec<Series> = [
        series(|r| r.train_acc.map(|a| 100.0 * a), TRAIN, "train"),
        series(|r| r.test_acc.map(|a| 100.0 * a), TEST, "test"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !accuracy.is_empty() {
        panels.push(Panel {
            caption: "accuracy per epoch".into(),
            x_desc: "epoch".into(),
            y_desc: "accuracy (%)".into(),
            log_y: false,
            whole_x: true,
            y_range: None,
            x_range: None,
            series: accuracy,
        });
    }
    panels
}

/// One series per layer of `records`: `value` of each layer at each step
/// (steps where it is `None` left out); every layer is named in the legend
/// `in_legend` picks.
fn per_layer(
    records: &[Record],
    look: Look,
    named: bool,
    value: impl Fn(&LayerPoint) -> Option<f64>,
) -> Vec<Series> {
    let n = records.first().map_or(0, |r| r.layers.len());
    (0..n)
        .map(|i| Series {
            points: records
                .iter()
                .filter_map(|r| r.layers.get(i).and_then(&value).map(|v| (r.step, v)))
                .collect(),
            color: layer_color(i, n),
            label: (named && in_legend(i, n)).then(|| format!("layer {}", i + 1)),
            look,
        })
        .collect()
}

/// Activations per hidden layer over training: mean with a thin band at
/// ± one std (Glorot & Bengio's Fig. 2), and the 98th percentile of |a|.
/// (The output layer's "activations" are the logits: left out, as in the
/// paper.)
fn activation_panels(records: &[Record]) -> Vec<Panel> {
    let hidden: Vec<Record> = records
        .iter()
        .map(|r| Record {
            step: r.step,
            layers: r.layers[..hidden_layers(r.layers.len())].to_vec(),
        })
        .collect();
    let records = &hidden[..];
    let mut band = per_layer(records, Look::Line, true, |l| Some(l.mean));
    band.extend(per_layer(records, Look::Thin, false, |l| {
        Some(l.mean + l.std)
    }));
    band.extend(per_layer(records, Look::Thin, false, |l| {
        Some(l.mean - l.std)
    }));
    vec![
        Panel {
            caption: "activation mean per hidden layer over training (thin: mean ± std)".into(),
            x_desc: "optimizer step".into(),
            y_desc: "a = f(s) on the probe".into(),
            log_y: false,
            whole_x: false,
            y_range: None,
            x_range: None,
            series: band,
        },
        Panel {
            caption: "98th percentile of |a| per hidden layer over training".into(),
            x_desc: "optimizer step".into(),
            y_desc: "p98 |a|".into(),
            log_y: false,
            whole_x: false,
            y_range: None,
            x_range: None,
            series: per_layer(records, Look::Line, true, |l| Some(l.p98)),
        },
    ]
}

/// A log-scale panel of one per-layer value over training.
fn log_panel(caption: &str, y_desc: &str, series: Vec<Series>) -> Panel {
    Panel {
        caption: caption.into(),
        x_desc: "optimizer step".into(),
        y_desc: y_desc.into(),
        log_y: true,
        whole_x: false,
        y_range: None,
        x_range: None,
        series,
    }
}

/// Draws the four figures of the run folder `dir` into `dir/figures/`
/// (created if missing), titled `title`; returns the files written.
/// Without `stats.jsonl` or `epochs.csv`, the figures drawn from it are
/// skipped.
pub fn write_train_figures(dir: &Path, title: &str) -> io::Result<Vec<PathBuf>> {
    let mut figures: Vec<(&str, Vec<Panel>)> = Vec::new();
    let epochs = dir.join("epochs.csv");
    if epochs.exists() {
        figures.push(("loss.svg", loss_panels(&read_epochs(&epochs)?)));
    }
    let stats = dir.join("stats.jsonl");
    if stats.exists() {
        let records = read_stats(&stats)?;
        figures.push(("activations.svg", activation_panels(&records)));
        let delta = per_layer(&records, Look::Line, true, |l| Some(l.delta_std));
        let caption = "std(δ) per layer over training (δ = ∂L/∂s on the probe)";
        figures.push((
            "delta.svg",
            vec![log_panel(caption, "std(δ), log scale", delta)],
        ));
        let updates = per_layer(&records, Look::Line, true, |l| l.update_ratio);
        let caption = "update ratio ‖ΔW‖/‖W‖ per layer (about 1e-3 is the usual healthy value)";
        figures.push((
            "updates.svg",
            vec![log_panel(caption, "‖ΔW‖/‖W‖, log scale", updates)],
        ));
    }
    let out = dir.join("figures");
    std::fs::create_dir_all(&out)?;
    let mut written = Vec::new();
    for (name, panels) in figures {
        let svg = render(title, &panels).map_err(io::Error::other)?;
        let path = out.join(name);
        write_atomic(&path, svg.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}
