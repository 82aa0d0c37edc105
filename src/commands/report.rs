//! `depthlab report`: merges sweep results files (shards, re-runs), drops
//! duplicate runs, and prints a pivot table per metric (seeds folded into
//! mean ± std), with a CSV of every run and a figure per metric.

use crate::error::Error;
use crate::files::write_atomic;
use crate::report::figures::{Look, Panel, Series, render};
use crate::report::{align, csv_text, mean_pm_std};
use crate::stats::mean_std;
use crate::sweep::{
    ABSENT, Merged, Metric, Pivot, Record, key_value, keys, merge, parse, pivot, read_text,
};
use plotters::style::RGBColor;
use std::fmt::Write as _;
use std::path::PathBuf;

/// What `depthlab report` reads and writes.
#[derive(Clone, Debug, Default)]
pub struct ReportOptions {
    pub files: Vec<PathBuf>,
    /// The key down the tables' side (default: `depth`, else the first
    /// numeric key).
    pub rows: Option<String>,
    /// The metrics to tabulate (default: the hidden-layer factor, and with
    /// training results the test accuracy, last and best).
    pub metrics: Vec<Metric>,
    /// A CSV of every run: its keys, seed and every metric.
    pub csv: Option<PathBuf>,
    /// A folder for one SVG figure per metric.
    pub svg: Option<PathBuf>,
}

/// `depthlab report`: the tables (and the files asked for).
pub fn report(o: &ReportOptions) -> Result<String, Error> {
    let (merged, skipped) = read_all(&o.files)?;
    let records = &merged.records;
    let mut out = header(o, records, merged.duplicates, &skipped);
    let trained = records.iter().any(|r| r.train.is_some());
    let tested = records
        .iter()
        .any(|r| r.train.as_ref().is_some_and(|t| t.last.test_loss.is_some()));
    let metrics = match o.metrics.is_empty() {
        false => o.metrics.clone(),
        true if tested => vec![Metric::HiddenDb, Metric::TestAcc, Metric::BestTestAcc],
        true if trained => vec![Metric::HiddenDb, Metric::TrainAcc, Metric::TrainLoss],
        true => vec![Metric::HiddenDb],
    };
    if let Some(key) = &o.rows
        && !keys(records).iter().any(|(k, _)| k == key && k != "seed")
    {
        return Err(Error::Read {
            path: o.files[0].clone(),
            error: std::io::Error::other(format!("--rows {key}: the runs do not vary `{key}`")),
        });
    }
    let mut figures = Vec::new();
    for m in metrics {
        let Some(p) = pivot(records, m, o.rows.as_deref()) else {
            continue;
        };
        if p.cells.iter().flatten().all(Vec::is_empty) {
            let why = match (m.needs_training(), trained) {
                (true, false) => " (no --train results)",
                _ => " (not measured in these runs)",
            };
            let _ = writeln!(out, "\n{}: no values{why}", m.title());
            continue;
        }
        let _ = write!(
            out,
            "\n{}\n{}{}",
            m.title(),
            table(&p, &m.name()),
            never(m, records)
        );
        figures.push((m, p));
    }
    if let Some(path) = &o.csv {
        write_atomic(path, runs_csv(records).as_bytes()).map_err(Error::writing(path))?;
    }
    if let Some(dir) = &o.svg {
        std::fs::create_dir_all(dir).map_err(Error::writing(dir))?;
        for (m, p) in &figures {
            let path = dir.join(format!("{}.svg", m.name()));
            let title = format!("depthlab report: {} — {}", records[0].spec, m.name());
            render(&title, &[panel(*m, p)])
                .map_err(std::io::Error::other)
                .and_then(|svg| write_atomic(&path, svg.as_bytes()))
                .map_err(Error::writing(&path))?;
        }
    }
    Ok(out)
}

/// For an epoch-to-target metric: how many trained runs never got there.
fn never(m: Metric, records: &[Record]) -> String {
    let Metric::EpochTo(reach) = m else {
        return String::new();
    };
    match records
        .iter()
        .filter(|r| r.train.is_some() && reach.epoch(r).is_none())
        .count()
    {
        0 => String::new(),
        n => format!("{n} run(s) never reached it within their epochs (left out of the table)\n"),
    }
}

/// Every file's records merged, and the files' lines that are not
/// records; an error when there are no records at all.
fn read_all(files: &[PathBuf]) -> Result<(Merged, Vec<String>), Error> {
    let mut all = Vec::new();
    let mut skipped = Vec::new();
    for path in files {
        // Unlike a sweep's --out, a file to report on must exist.
        let text = read_text(path).map_err(|error| Error::Read {
            path: path.clone(),
            error,
        })?;
        let results = parse(&text);
        if !results.skipped_lines.is_empty() {
            skipped.push(format!(
                "{}: {} line(s)",
                path.display(),
                results.skipped_lines.len()
            ));
        }
        all.push(results.records);
    }
    let merged = merge(all);
    if merged.records.is_empty() {
        return Err(Error::Read {
            path: files.first().cloned().unwrap_or_default(),
            error: std::io::Error::other("no sweep results in the file(s) given"),
        });
    }
    Ok((merged, skipped))
}

/// What was merged: runs, files, duplicates, keys.
fn header(o: &ReportOptions, records: &[Record], duplicates: usize, skipped: &[String]) -> String {
    let mut specs: Vec<&str> = Vec::new();
    for r in records {
        if !specs.contains(&r.spec.as_str()) {
            specs.push(&r.spec);
        }
    }
    let all = keys(records);
    let keys: Vec<String> = all
        .iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|(k, v)| format!("{k} ({})", v.iter().filter(|v| *v != ABSENT).count()))
        .collect();
    let fixed: Vec<String> = all
        .iter()
        .filter(|(_, v)| v.len() == 1)
        .map(|(k, v)| format!("{k}={}", v[0]))
        .collect();
    let mut out = format!(
        "depthlab report: {} run(s) from {} file(s), {duplicates} duplicate(s) dropped\nspec: {}; varied: {}{}\n",
        records.len(),
        o.files.len(),
        specs.join(", "),
        if keys.is_empty() {
            "nothing".to_owned()
        } else {
            keys.join(", ")
        },
        if fixed.is_empty() {
            String::new()
        } else {
            format!("; one value: {}", fixed.join(", "))
        }
    );
    if !skipped.is_empty() {
        let _ = writeln!(
            out,
            "lines that are not sweep results, left out: {}",
            skipped.join("; ")
        );
    }
    let diverged: Vec<String> = records
        .iter()
        .filter_map(|r| {
            let step = r.train.as_ref()?.diverged_step?;
            let point: Vec<String> = r
                .axes
                .iter()
                .map(|k| format!("{k}={}", r.point[k]))
                .collect();
            Some(format!("{} (step {step})", point.join(" ")))
        })
        .collect();
    if !diverged.is_empty() {
        const SHOWN: usize = 6;
        let more = match diverged.len() > SHOWN {
            true => format!(", and {} more", diverged.len() - SHOWN),
            false => String::new(),
        };
        let _ = writeln!(
            out,
            "diverged: {} run(s), left out of last-epoch and end metrics: {}{more}",
            diverged.len(),
            diverged[..diverged.len().min(SHOWN)].join(", ")
        );
    }
    out
}

/// The pivot as aligned text: a header row per column key, then a row per
/// value of the row key; cells mean (± std over seeds), `-` where no run.
/// With no column keys, the one column is headed `name`.
fn table(p: &Pivot, name: &str) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let keys = p.columns.first().map_or(0, Vec::len);
    for k in 0..keys {
        let name = p.columns[0][k].0.clone();
        rows.push(
            std::iter::once(name)
                .chain(p.columns.iter().map(|c| c[k].1.clone()))
                .collect(),
        );
    }
    rows.push(match keys {
        0 => vec![p.row_key.clone(), name.to_owned()],
        _ => vec![p.row_key.clone()],
    });
    for (value, cells) in p.rows.iter().zip(&p.cells) {
        let cells = cells.iter().map(|v| match v.len() {
            0 => "-".to_owned(),
            n => mean_pm_std(mean_std(v), n),
        });
        rows.push(std::iter::once(value.clone()).chain(cells).collect());
    }
    align(&rows, &[])
}

/// Distinct colours for up to 10 lines (Tableau 10), repeated beyond.
const PALETTE: [RGBColor; 10] = [
    RGBColor(78, 121, 167),
    RGBColor(242, 142, 43),
    RGBColor(225, 87, 89),
    RGBColor(118, 183, 178),
    RGBColor(89, 161, 79),
    RGBColor(237, 201, 72),
    RGBColor(176, 122, 161),
    RGBColor(255, 157, 167),
    RGBColor(156, 117, 95),
    RGBColor(186, 176, 172),
];

/// The metric against the row key, a line per column, a bar of ± one std
/// over seeds at each point that has several.
fn panel(m: Metric, p: &Pivot) -> Panel {
    let values: Option<Vec<f64>> = p.rows.iter().map(|v| v.parse::<f64>().ok()).collect();
    // Positive values over two decades or more (learning rates, decays)
    // are drawn on log10 of the value.
    let log = values
        .as_ref()
        .is_some_and(|v| positive_span(v.iter().copied()) >= 100.0);
    let numeric = values.is_some();
    let x = |i: usize| match &values {
        Some(v) if log => v[i].log10(),
        Some(v) => v[i],
        None => (i + 1) as f64,
    };
    let mut series = Vec::new();
    for (j, column) in p.columns.iter().enumerate() {
        let color = PALETTE[j % PALETTE.len()];
        let stats: Vec<(f64, (f64, f64), usize)> = (0..p.rows.len())
            .filter(|&i| !p.cells[i][j].is_empty())
            .map(|i| (x(i), mean_std(&p.cells[i][j]), p.cells[i][j].len()))
            .collect();
        let label: Vec<String> = column.iter().map(|(k, v)| format!("{k}={v}")).collect();
        series.push(Series {
            // Categories (activations, inits) are not a continuum: no
            // line between them.
            look: if numeric { Look::Marked } else { Look::Points },
            ..Series::line(
                stats.iter().map(|(x, (mean, _), _)| (*x, *mean)).collect(),
                color,
                Some(if label.is_empty() {
                    m.name().to_owned()
                } else {
                    label.join(" ")
                }),
            )
        });
        for &(x, (mean, std), n) in &stats {
            if n > 1 {
                series.push(Series {
                    look: Look::Thin,
                    ..Series::line(vec![(x, mean - std), (x, mean + std)], color, None)
                });
            }
        }
    }
    let x_desc = if log {
        format!("log10 {}", p.row_key)
    } else if numeric {
        p.row_key.clone()
    } else {
        let names: Vec<String> = p
            .rows
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{} = {v}", i + 1))
            .collect();
        format!("{} ({})", p.row_key, names.join(", "))
    };
    Panel {
        caption: m.title(),
        x_desc,
        y_desc: m.name(),
        // Positive values over three decades or more on a log axis.
        log_y: positive_span(p.cells.iter().flatten().flatten().copied()) >= 1000.0,
        whole_x: !log && (!numeric || p.rows.iter().all(|v| v.parse::<u64>().is_ok())),
        y_range: None,
        x_range: (!numeric).then_some((0.5, p.rows.len() as f64 + 0.5)),
        series,
    }
}

/// max/min of `values` when all are positive, else 0 (no log axis).
fn positive_span(values: impl Iterator<Item = f64>) -> f64 {
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
    if lo > 0.0 { hi / lo } else { 0.0 }
}

/// One row per run: its keys, seed, mode, and every metric.
fn runs_csv(records: &[Record]) -> String {
    let keys: Vec<String> = keys(records)
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| !["seed", "spec", "mode"].contains(&k.as_str()))
        .collect();
    let head = std::iter::once("spec".to_owned())
        .chain(keys.iter().cloned())
        .chain(["seed", "mode", "effective_spec"].map(String::from))
        .chain(Metric::ALL.iter().map(|m| m.name()))
        .collect::<Vec<String>>();
    let rows = records.iter().map(|r| {
        std::iter::once(r.spec.clone())
            .chain(keys.iter().map(|k| key_value(r, k).to_owned()))
            .chain([r.seed.to_string(), r.mode.clone(), r.effective_spec.clone()])
            .chain(
                Metric::ALL
                    .iter()
                    .map(|m| m.of(r).map_or(String::new(), |v| v.to_string())),
            )
            .collect::<Vec<String>>()
    });
    csv_text(std::iter::once(head).chain(rows), false)
}
