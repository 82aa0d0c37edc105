//! The SVG figures parse as XML and hold one line per layer with one point
//! per bin, layer or measurement.

use crate::run;
use depthlab::report::Report;
use depthlab::stats::HIST_BINS;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// The polylines of an SVG (which must parse as XML), counted by how many
/// points each has.
pub fn lines_by_points(svg: &str) -> BTreeMap<usize, usize> {
    let doc = roxmltree::Document::parse(svg).expect("the figure is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let mut counts = BTreeMap::new();
    for node in doc.descendants().filter(|n| n.has_tag_name("polyline")) {
        let points = node
            .attribute("points")
            .unwrap_or("")
            .split_whitespace()
            .count();
        *counts.entry(points).or_insert(0) += 1;
    }
    counts
}

#[test]
fn the_stats_figure_has_a_curve_per_hidden_layer_and_the_std_lines() {
    // (spec, layers): 10 and 5 hidden layers, and a single hidden layer.
    for (spec, layers) in [
        ("examples/sigmoid-vanishing.net", 11),
        ("examples/tanh-standard.net", 6),
        ("input 4; dense 8 tanh; dense 3", 2),
    ] {
        let exec = run(spec, 50);
        let report = Report {
            spec_name: "test-spec",
            spec_text: "",
            graph: &exec.plan().graph,
            stats: exec.stats(),
            seed: 7,
            probe: 50,
            steps: 0,
        };
        let svg = report.svg().unwrap();
        let lines = lines_by_points(&svg);
        let hidden = layers - 1;
        // Activation and δ histograms: one curve of HIST_BINS points each.
        assert_eq!(
            lines.get(&HIST_BINS),
            Some(&(2 * hidden)),
            "{spec}: {lines:?}"
        );
        // std(δ) measured at every layer, predicted at all but the output.
        assert!(
            lines.get(&layers).is_some_and(|&c| c >= 1),
            "{spec}: {lines:?}"
        );
        if layers > 2 {
            assert_eq!(lines.get(&(layers - 1)), Some(&1), "{spec}: {lines:?}");
        }
        assert!(svg.contains("depthlab stats: test-spec — seed 7, probe 50"));
    }
}

#[test]
fn train_out_draws_four_figures_from_the_run_folder() {
    let dir = std::env::temp_dir().join(format!("depthlab-figures-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // 31 steps per epoch, 5 epochs, the probe measured every epoch: at
    // steps 0, 31, ..., 155 (6 records; update ratios from step 31 on).
    let o = Command::new(env!("CARGO_BIN_EXE_depthlab"))
        .args([
            "train",
            "--net",
            "input 2; dense 32 relu x2; dense 3; data spirals; optim adam lr=0.01; train epochs=5 batch=32 seed=1",
            "--stats-every",
            "31",
            "--act",
            "tanh",
            "-q",
            "--out",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let figure = |name: &str| std::fs::read_to_string(dir.join("figures").join(name)).unwrap();
    // Loss and accuracy, train and test: 5 epochs each.
    let loss = figure("loss.svg");
    assert_eq!(lines_by_points(&loss).get(&5), Some(&4));
    assert!(
        loss.contains("--act tanh — seed 1"),
        "the title names the overrides"
    );
    // 2 hidden layers: mean, mean ± std, and p98 |a|; 6 records.
    assert_eq!(
        lines_by_points(&figure("activations.svg")).get(&6),
        Some(&8)
    );
    // std(δ) of all 3 layers at 6 records; update ratios at 5.
    assert_eq!(lines_by_points(&figure("delta.svg")).get(&6), Some(&3));
    assert_eq!(lines_by_points(&figure("updates.svg")).get(&5), Some(&3));
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}
