//! The `stats --svg` figure: Glorot & Bengio's Fig. 6 and 7 for the probe,
//! and std(δ) per layer beside its mean-field prediction.

use super::{Look, Panel, Series, hidden_layers, in_legend, layer_color};
use crate::stats::{LayerStats, NetworkStats};
use plotters::style::RGBColor;

/// The centres of the `bins` equal bins of [lo, hi].
fn bin_centres(lo: f64, hi: f64, bins: usize) -> impl Iterator<Item = f64> {
    let width = (hi - lo) / bins as f64;
    (0..bins).map(move |b| lo + (b as f64 + 0.5) * width)
}

/// A histogram as fractions of its total (0 where it is empty).
fn fractions(counts: &[u64]) -> impl Iterator<Item = f64> + '_ {
    let total = counts.iter().sum::<u64>().max(1) as f64;
    counts.iter().map(move |&c| c as f64 / total)
}

/// One curve per layer of `layers` (1-based index, histogram counts) over
/// the bins of [lo, hi].
fn histogram_series(layers: &[(usize, &[u64])], lo: f64, hi: f64, n: usize) -> Vec<Series> {
    layers
        .iter()
        .map(|&(index, counts)| Series {
            points: bin_centres(lo, hi, counts.len())
                .zip(fractions(counts))
                .collect(),
            color: layer_color(index - 1, n),
            label: in_legend(index - 1, n).then(|| format!("layer {index}")),
            look: Look::Line,
        })
        .collect()
}

/// The `stats --svg` panels: (a) the activation histograms of the hidden
/// layers (Glorot & Bengio Fig. 6), (b) their δ histograms (Fig. 7), (c)
/// std(δ) per layer, measured and predicted by the mean field
/// (gain_predicted_l · std(δ_l+1)).
pub fn stats_panels(stats: &NetworkStats) -> Vec<Panel> {
    let n = stats.layers.len();
    let hidden = hidden_layers(n);
    let pick = |f: fn(&LayerStats) -> &[u64]| -> Vec<(usize, &[u64])> {
        stats.layers[..hidden]
            .iter()
            .enumerate()
            .map(|(i, l)| (i + 1, f(l)))
            .collect()
    };
    let (lo, hi) = stats.act_range;
    let r = stats.hist_range;
    let std: Vec<f64> = stats.layers.iter().map(|l| l.delta.std()).collect();
    let measured = (1..=n).map(|l| (l as f64, std[l - 1])).collect();
    let predicted = stats.layers[..n.saturating_sub(1)]
        .iter()
        .enumerate()
        .filter_map(|(i, l)| l.gain_predicted.map(|g| ((i + 1) as f64, g * std[i + 1])))
        .collect();
    vec![
        Panel {
            caption: "(a) activations of the hidden layers (exact zeros left out)".into(),
            x_desc: "activation a = f(s)".into(),
            y_desc: "fraction of the probe's values".into(),
            log_y: false,
            whole_x: false,
            y_range: None,
            x_range: None,
            series: histogram_series(&pick(|l| &l.act_hist), lo, hi, hidden),
        },
        Panel {
            caption: "(b) back-propagated gradients δ of the hidden layers".into(),
            x_desc: "δ = ∂L/∂s".into(),
            y_desc: "fraction of the probe's values".into(),
            log_y: false,
            whole_x: false,
            y_range: None,
            x_range: None,
            series: histogram_series(&pick(|l| &l.hist), -r, r, hidden),
        },
        Panel {
            caption: "(c) std(δ) per layer: measured, and the mean-field prediction".into(),
            x_desc: "layer (1 = next to the input)".into(),
            y_desc: "std(δ), log scale".into(),
            log_y: true,
            whole_x: true,
            y_range: None,
            x_range: None,
            series: vec![
                Series::line(
                    measured,
                    layer_color(0, 2),
                    Some("measured std(δ_l)".into()),
                ),
                Series {
                    points: predicted,
                    color: RGBColor(214, 96, 77),
                    label: Some("predicted: gain_l · std(δ_l+1)".into()),
                    look: Look::Marked,
                },
            ],
        },
    ]
}
