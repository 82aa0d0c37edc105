//! `depthlab capacity`: under- and over-fitting by the knobs other than a
//! polynomial's degree — the number of layers, the number of training
//! iterations, an L2 term or weight decay. Each point trains the spec (with
//! `--seeds K`, K seeds of it) and reports the training loss beside the
//! test loss.

use crate::commands::{non_negative, whole_numbers};
use crate::error::Error;
use crate::files::write_atomic;
use crate::report::figures::{Look, Panel, Series, render};
use crate::report::{align, csv_text, mean_pm_std, sig4};
use crate::spec::{Overrides, Spec};
use crate::stats::mean_std;
use crate::train::{Event, Options, Set, Trainer};
use plotters::style::RGBColor;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

/// What `--vary` turns.
#[derive(Clone, Debug, PartialEq)]
pub enum Knob {
    /// `depth=0,1,2,4`: the repeat count of the last repeated hidden line
    /// (as `--depth`; 0 removes the line).
    Depth(Vec<usize>),
    /// `steps`: one run's train and test curves, the best epoch marked.
    Steps,
    /// `rho=0,1e-4,...` (or `l2=`): the loss's `l2=ρ`.
    Rho(Vec<f64>),
    /// `weight_decay=0,1e-4,...` (or `lambda=`): the optimizer's λ.
    WeightDecay(Vec<f64>),
}

/// The most layers `--vary depth=` builds from one line.
const MAX_DEPTH: usize = 1000;

impl Knob {
    /// Parses `--vary`'s value.
    ///
    /// ```
    /// use depthlab::commands::Knob;
    /// assert_eq!(Knob::parse("depth=0..2"), Ok(Knob::Depth(vec![0, 1, 2])));
    /// assert_eq!(Knob::parse("l2=0,1e-3"), Ok(Knob::Rho(vec![0.0, 1e-3])));
    /// assert!(Knob::parse("width=3").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Knob, String> {
        let (key, values) = match text.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v)),
            None => (text.trim(), None),
        };
        let numbers = |values: &str| -> Result<Vec<f64>, String> {
            values
                .split(',')
                .map(|v| non_negative(v).map_err(|e| format!("{e} in `{text}`")))
                .collect()
        };
        match (key, values) {
            ("steps", None) => Ok(Knob::Steps),
            ("steps", Some(_)) => Err(format!(
                "`{text}`: `--vary steps` takes no values (one run: its curves; \
                 set the length with --steps or --epochs)"
            )),
            ("depth", Some(v)) => Ok(Knob::Depth(whole_numbers(v, MAX_DEPTH)?)),
            ("rho" | "l2", Some(v)) => Ok(Knob::Rho(numbers(v)?)),
            ("weight_decay" | "lambda", Some(v)) => Ok(Knob::WeightDecay(numbers(v)?)),
            ("depth" | "rho" | "l2" | "weight_decay" | "lambda", None) => {
                Err(format!("`{text}` needs values, e.g. `{key}=0,1,2`"))
            }
            _ => Err(format!(
                "`{key}` cannot be varied here: use depth=…, steps, rho=… or weight_decay=…"
            )),
        }
    }

    /// The values of the points (one unnamed point for `steps`).
    fn values(&self) -> Vec<f64> {
        match self {
            Knob::Depth(d) => d.iter().map(|&d| d as f64).collect(),
            Knob::Rho(v) | Knob::WeightDecay(v) => v.clone(),
            Knob::Steps => vec![f64::NAN],
        }
    }

    /// The override that sets this knob to `value`.
    fn overrides(&self, value: f64) -> Overrides {
        let mut o = Overrides::default();
        match self {
            Knob::Depth(_) => o.depth = Some(value as usize),
            Knob::Rho(_) => o.l2 = Some(value),
            Knob::WeightDecay(_) => o.weight_decay = Some(value),
            Knob::Steps => {}
        }
        o
    }

    /// The knob's name in tables and figures.
    fn name(&self) -> &'static str {
        match self {
            Knob::Depth(_) => "depth",
            Knob::Steps => "steps",
            Knob::Rho(_) => "ρ",
            Knob::WeightDecay(_) => "λ",
        }
    }

    /// Whether the figure's x axis is ln(value) (ρ and λ span decades).
    fn log_x(&self) -> bool {
        matches!(self, Knob::Rho(_) | Knob::WeightDecay(_))
    }
}

/// What `depthlab capacity` varies and writes.
#[derive(Clone, Debug)]
pub struct CapacityOptions {
    pub knob: Knob,
    /// Seeds per point: the spec's seed and the next ones (`--seeds K`).
    /// The seed also draws generated data, so each seed is a fresh data set.
    pub seeds: u64,
    pub csv: Option<PathBuf>,
    pub svg: Option<PathBuf>,
    /// No progress lines on stderr.
    pub quiet: bool,
}

/// One epoch of a run: (epoch, train loss, test loss).
type Epoch = (usize, f64, f64);

/// One training run's outcome.
#[derive(Clone, Debug)]
struct Run {
    seed: u64,
    curve: Vec<Epoch>,
    /// Loss (the data term) and accuracy on the whole training set, then on
    /// the test set, at the end; `None` if it diverged.
    end: Option<[(f64, Option<f64>); 2]>,
    diverged: Option<u64>,
}

impl Run {
    /// The epoch of the lowest test loss.
    fn best(&self) -> Option<Epoch> {
        best(&self.curve)
    }
}

/// The epoch of the lowest (finite) test loss of a curve.
fn best(curve: &[Epoch]) -> Option<Epoch> {
    curve
        .iter()
        .copied()
        .filter(|e| e.2.is_finite())
        .min_by(|a, b| a.2.total_cmp(&b.2))
}

/// One value of the knob, run for every seed.
#[derive(Clone, Debug)]
struct Point {
    value: f64,
    params: usize,
    runs: Vec<Run>,
}

/// `depthlab capacity`: trains `spec` at every point of the knob and
/// returns the table (writing the CSV and SVG asked for).
pub fn capacity(spec: &Spec, opts: &Options, c: &CapacityOptions) -> Result<String, Error> {
    // A flag that sets the knob would be overwritten at every point.
    let flag = match c.knob {
        Knob::Depth(_) => Some("--depth "),
        Knob::Rho(_) => Some("--l2 "),
        Knob::WeightDecay(_) => Some("--weight-decay "),
        Knob::Steps => None,
    };
    if let Some(f) = flag.filter(|f| spec.overrides.iter().any(|o| o.starts_with(f))) {
        return Err(Error::Spec(spec.source.error_whole(format!(
            "`{}` sets what `--vary` varies: give one or the other",
            f.trim_end()
        ))));
    }
    let points = c
        .knob
        .values()
        .into_iter()
        .map(|value| point(spec, opts, c, value))
        .collect::<Result<Vec<Point>, Error>>()?;
    let title = title(spec, c);
    let (table, csv, panel) = match c.knob {
        Knob::Steps => curves(&points[0]),
        _ => sweep(&c.knob, &points),
    };
    if let Some(path) = &c.csv {
        write_atomic(path, csv.as_bytes()).map_err(Error::writing(path))?;
    }
    if let Some(path) = &c.svg {
        render(&title, &[panel])
            .map_err(std::io::Error::other)
            .and_then(|svg| write_atomic(path, svg.as_bytes()))
            .map_err(Error::writing(path))?;
    }
    Ok(format!(
        "{title}\n{}{table}",
        own_decay_warning(spec, &c.knob)
    ))
}

/// `--vary weight_decay` does not change a layer's own `weight_decay=`.
fn own_decay_warning(spec: &Spec, knob: &Knob) -> String {
    let own: Vec<String> = spec
        .dense
        .iter()
        .filter(|d| d.weight_decay.is_some())
        .map(|d| d.span.line.to_string())
        .collect();
    match knob {
        Knob::WeightDecay(_) if !own.is_empty() => format!(
            "warning: `--vary weight_decay` leaves the layers' own `weight_decay=` (spec line {}) as written\n",
            own.join(", ")
        ),
        _ => String::new(),
    }
}

/// Trains every seed of one point.
fn point(spec: &Spec, opts: &Options, c: &CapacityOptions, value: f64) -> Result<Point, Error> {
    let mut point = Point {
        value,
        params: 0,
        runs: Vec::new(),
    };
    for k in 0..c.seeds {
        let mut s = spec.clone();
        let mut o = c.knob.overrides(value);
        o.seed = Some(spec.train.seed.wrapping_add(k));
        o.apply(&mut s)?;
        let started = Instant::now();
        let mut trainer = Trainer::new(&s, opts)?;
        if trainer.data().test.as_ref().is_none_or(|t| t.n == 0) {
            return Err(Error::Spec(
                s.source
                    .error_whole("capacity compares training and test loss: this spec's data has no test set")
                    .with_help("add `test=N` to the `data` line (`split=F` for a file)"),
            ));
        }
        point.params = trainer.executor().plan().graph.params;
        let mut curve = Vec::new();
        let outcome = trainer.run(&mut |e| {
            if let Event::Epoch(r) = e {
                curve.push((r.epoch, r.train_loss, r.test_loss.unwrap_or(f64::NAN)));
            }
        });
        let diverged = match outcome {
            Ok(()) => None,
            Err(Error::Diverged { step, .. }) => Some(step),
            Err(e) => return Err(e),
        };
        let end = match diverged {
            None => trainer
                .evaluate(Set::Train)
                .zip(trainer.evaluate(Set::Test)),
            Some(_) => None,
        };
        if !c.quiet {
            progress(c, value, s.train.seed, started, diverged);
        }
        point.runs.push(Run {
            seed: s.train.seed,
            curve,
            end: end.map(|(a, b)| [a, b]),
            diverged,
        });
    }
    Ok(point)
}

/// One line on stderr per finished run.
fn progress(c: &CapacityOptions, value: f64, seed: u64, started: Instant, diverged: Option<u64>) {
    let at = match c.knob {
        Knob::Steps => String::new(),
        _ => format!("{} = {value}, ", c.knob.name()),
    };
    let diverged = diverged.map_or(String::new(), |s| format!(", diverged at step {s}"));
    eprintln!(
        "capacity: {at}seed {seed} trained in {:.2} s{diverged}",
        started.elapsed().as_secs_f64()
    );
}

/// The first line: what was trained, on which seeds, with which flags.
fn title(spec: &Spec, c: &CapacityOptions) -> String {
    let what = match c.knob {
        Knob::Steps => "train and test loss during training".to_owned(),
        _ => format!("train and test loss against {}", c.knob.name()),
    };
    let seed = spec.train.seed;
    let seeds = match c.seeds {
        1 => format!("seed {seed}"),
        k => format!("seeds {seed}..{}", seed.wrapping_add(k - 1)),
    };
    let flags: String = spec
        .overrides
        .iter()
        .filter(|f| !f.starts_with("--seed "))
        .map(|f| format!(", {f}"))
        .collect();
    format!(
        "depthlab capacity: {} — {what} ({seeds}{flags})",
        spec.source.name
    )
}

/// A point's means over seeds: end train and test loss, the best test
/// loss and its epoch (each with its std).
struct Means {
    value: f64,
    train: (f64, f64),
    test: (f64, f64),
    best: (f64, f64),
    best_epoch: (f64, f64),
    /// Train and test accuracy at the end, for classification.
    accuracy: Option<[(f64, f64); 2]>,
}

fn means(p: &Point) -> Option<Means> {
    if p.runs.iter().any(|r| r.end.is_none()) {
        return None;
    }
    let over = |f: &dyn Fn(&Run) -> f64| mean_std(&p.runs.iter().map(f).collect::<Vec<f64>>());
    let end = |r: &Run, set: usize| r.end.map_or(f64::NAN, |e| e[set].0);
    let best = |r: &Run| r.best().unwrap_or((0, f64::NAN, f64::NAN));
    let accuracy = |set: usize| {
        let acc: Option<Vec<f64>> = p
            .runs
            .iter()
            .map(|r| r.end.and_then(|e| e[set].1))
            .collect();
        acc.map(|a| mean_std(&a))
    };
    Some(Means {
        value: p.value,
        train: over(&|r| end(r, 0)),
        test: over(&|r| end(r, 1)),
        best: over(&|r| best(r).2),
        best_epoch: over(&|r| best(r).0 as f64),
        accuracy: accuracy(0).zip(accuracy(1)).map(|(a, b)| [a, b]),
    })
}

/// A row of `--vary depth|rho|weight_decay`'s CSV: one run.
#[derive(Serialize)]
struct SweepRow {
    knob: &'static str,
    value: f64,
    params: usize,
    seed: u64,
    train_loss: Option<f64>,
    test_loss: Option<f64>,
    best_test_loss: Option<f64>,
    best_epoch: Option<usize>,
    train_acc: Option<f64>,
    test_acc: Option<f64>,
    diverged_step: Option<u64>,
}

/// What the knob and the columns mean.
fn sweep_intro(knob: &Knob, seeds: usize) -> String {
    let mut out = String::from(match knob {
        Knob::Rho(_) => "ρ: the loss's `l2=ρ`, ρ Σ w² over the weights added to the mean loss\n",
        Knob::WeightDecay(_) => {
            "λ: the optimizer's `weight_decay=λ` (coupled for SGD and Adam, decoupled for AdamW)\n"
        }
        _ => "",
    });
    out += "train loss: the data term over the whole training set at the end (no L2 term)";
    if seeds > 1 {
        let _ = write!(out, "; mean ± std over {seeds} seeds (the epoch: mean)");
    }
    out.push('\n');
    out
}

/// `--vary depth|rho|weight_decay`: a row per value, one figure.
fn sweep(knob: &Knob, points: &[Point]) -> (String, String, Panel) {
    let seeds = points.first().map_or(1, |p| p.runs.len());
    let mut out = sweep_intro(knob, seeds);
    let summaries: Vec<(&Point, Option<Means>)> = points.iter().map(|p| (p, means(p))).collect();
    let classify = summaries
        .iter()
        .any(|(_, m)| m.as_ref().is_some_and(|m| m.accuracy.is_some()));
    let mut head = vec![
        knob.name(),
        "params",
        "train loss",
        "test loss",
        "best test loss",
        "at epoch",
    ];
    if classify {
        head.extend(["train acc %", "test acc %"]);
    }
    let mut rows = vec![head.into_iter().map(String::from).collect::<Vec<String>>()];
    for (p, m) in &summaries {
        let cells: Vec<String> = match m {
            Some(m) => {
                let percent =
                    |(mean, std): (f64, f64)| mean_pm_std((100.0 * mean, 100.0 * std), seeds);
                let acc = m.accuracy.map(|a| a.map(percent));
                [m.train, m.test, m.best]
                    .map(|v| mean_pm_std(v, seeds))
                    .into_iter()
                    .chain([format!("{:.0}", m.best_epoch.0)])
                    .chain(acc.into_iter().flatten())
                    .collect()
            }
            None => vec!["-".into(); 4],
        };
        rows.push(
            [value(p.value), p.params.to_string()]
                .into_iter()
                .chain(cells)
                .collect(),
        );
    }
    out += &align(&rows, &[]);
    for (p, r) in points
        .iter()
        .flat_map(|p| p.runs.iter().map(move |r| (p, r)))
    {
        if let Some(step) = r.diverged {
            let _ = writeln!(
                out,
                "{} = {}, seed {}: diverged at step {step}",
                knob.name(),
                value(p.value),
                r.seed
            );
        }
    }
    let all: Vec<Means> = summaries.into_iter().filter_map(|(_, m)| m).collect();
    if let Some(low) = all.iter().min_by(|a, b| a.test.0.total_cmp(&b.test.0)) {
        let _ = writeln!(
            out,
            "lowest test loss at the end: {} = {} ({})",
            knob.name(),
            value(low.value),
            sig4(low.test.0)
        );
    }
    let csv = csv_text(
        points
            .iter()
            .flat_map(|p| p.runs.iter().map(|r| sweep_row(knob, p, r))),
        true,
    );
    (out, csv, sweep_panel(knob, &all))
}

/// A knob's value as one would type it: `0`, `4`, `0.003`, `1e-5`.
fn value(v: f64) -> String {
    if v != 0.0 && !(1e-3..1e5).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

fn sweep_row(knob: &Knob, p: &Point, r: &Run) -> SweepRow {
    let best = r.best();
    SweepRow {
        knob: knob.name(),
        value: p.value,
        params: p.params,
        seed: r.seed,
        train_loss: r.end.map(|e| e[0].0),
        test_loss: r.end.map(|e| e[1].0),
        best_test_loss: best.map(|b| b.2),
        best_epoch: best.map(|b| b.0),
        train_acc: r.end.and_then(|e| e[0].1),
        test_acc: r.end.and_then(|e| e[1].1),
        diverged_step: r.diverged,
    }
}

/// The colours of training and test losses.
const TRAIN: RGBColor = RGBColor(68, 1, 84);
const TEST: RGBColor = RGBColor(214, 96, 77);
const BEST: RGBColor = RGBColor(33, 102, 172);

/// End train and test loss and the best test loss against the knob: depth
/// on a linear axis; ρ and λ on ln, their value 0 drawn as flat thin lines.
fn sweep_panel(knob: &Knob, all: &[Means]) -> Panel {
    let log_x = knob.log_x();
    let x = |v: f64| if log_x { v.ln() } else { v };
    let shown: Vec<&Means> = all.iter().filter(|m| !log_x || m.value > 0.0).collect();
    let line = |pick: fn(&Means) -> f64, color, label: &str, look| Series {
        look,
        ..Series::line(
            shown.iter().map(|m| (x(m.value), pick(m))).collect(),
            color,
            Some(label.into()),
        )
    };
    let mut series = vec![
        line(|m| m.train.0, TRAIN, "train, end", Look::Marked),
        line(|m| m.test.0, TEST, "test, end", Look::Marked),
        line(|m| m.best.0, BEST, "test, best epoch", Look::Thin),
    ];
    let xs = shown.iter().map(|m| x(m.value));
    let (lo, hi) = xs.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    if let (true, Some(zero), true) = (log_x, all.iter().find(|m| m.value == 0.0), lo <= hi) {
        for (y, color, what) in [(zero.train.0, TRAIN, "train"), (zero.test.0, TEST, "test")] {
            series.push(Series {
                look: Look::Thin,
                ..Series::line(
                    vec![(lo, y), (hi, y)],
                    color,
                    Some(format!("{what}, {} = 0", knob.name())),
                )
            });
        }
    }
    Panel {
        caption: format!("loss against {}", knob.name()),
        x_desc: if log_x {
            format!("ln {}", knob.name())
        } else {
            knob.name().into()
        },
        y_desc: "loss".into(),
        log_y: true,
        whole_x: !log_x,
        y_range: None,
        x_range: None,
        series,
    }
}

/// A row of `--vary steps`'s CSV: one epoch of one seed.
#[derive(Serialize)]
struct EpochRow {
    seed: u64,
    epoch: usize,
    /// The mean over the epoch's steps, with any L2 term (as `train`).
    epoch_train_loss: f64,
    test_loss: f64,
}

/// `--vary steps`: about 25 rows of the mean curve, the best epoch among
/// them, and the test loss at the end against the best; one figure.
fn curves(p: &Point) -> (String, String, Panel) {
    let finished: Vec<&Run> = p.runs.iter().filter(|r| r.diverged.is_none()).collect();
    let curve = mean_curve(&finished);
    let mut out = String::from(
        "train loss: the mean over each epoch's steps, as `train` prints it (with any L2 term)",
    );
    if finished.len() > 1 {
        let _ = write!(out, "; means over {} seeds", finished.len());
    }
    out.push('\n');
    let rows = p.runs.iter().flat_map(|r| {
        r.curve
            .iter()
            .map(|&(epoch, epoch_train_loss, test_loss)| EpochRow {
                seed: r.seed,
                epoch,
                epoch_train_loss,
                test_loss,
            })
    });
    let csv = csv_text(rows, true);
    for r in &p.runs {
        if let Some(step) = r.diverged {
            let _ = writeln!(out, "seed {}: diverged at step {step} (left out)", r.seed);
        }
    }
    let best = best(&curve);
    let mut table = vec![
        ["epoch", "train loss", "test loss", ""]
            .map(String::from)
            .to_vec(),
    ];
    let every = curve.len().div_ceil(25).max(1);
    for (i, &e) in curve.iter().enumerate() {
        let is_best = Some(e) == best;
        if i % every == 0 || is_best || i + 1 == curve.len() {
            let mark = if is_best {
                "← best test loss: early stopping's point"
            } else {
                ""
            };
            table.push(vec![e.0.to_string(), sig4(e.1), sig4(e.2), mark.into()]);
        }
    }
    out += &align(&table, &[3]);
    if let (Some(b), Some(last)) = (best, curve.last()) {
        let _ = writeln!(
            out,
            "test loss at the end: {} — {:.2}× the best, {} at epoch {}",
            sig4(last.2),
            last.2 / b.2,
            sig4(b.2),
            b.0
        );
    }
    (out, csv, curves_panel(&curve, best))
}

/// The mean over seeds of each epoch's train and test loss (as long as the
/// shortest run).
fn mean_curve(runs: &[&Run]) -> Vec<Epoch> {
    let epochs = runs.iter().map(|r| r.curve.len()).min().unwrap_or(0);
    let n = runs.len() as f64;
    (0..epochs)
        .map(|e| {
            let sum = |f: fn(&Epoch) -> f64| runs.iter().map(|r| f(&r.curve[e])).sum::<f64>();
            (runs[0].curve[e].0, sum(|c| c.1) / n, sum(|c| c.2) / n)
        })
        .collect()
}

fn curves_panel(curve: &[Epoch], best: Option<Epoch>) -> Panel {
    let line = |pick: fn(&Epoch) -> f64, color, label: &str| {
        Series::line(
            curve.iter().map(|c| (c.0 as f64, pick(c))).collect(),
            color,
            Some(label.into()),
        )
    };
    let mut series = vec![line(|c| c.1, TRAIN, "train"), line(|c| c.2, TEST, "test")];
    if let Some((epoch, _, loss)) = best {
        series.push(Series {
            look: Look::Points,
            ..Series::line(
                vec![(epoch as f64, loss)],
                BEST,
                Some(format!("best test loss, epoch {epoch}")),
            )
        });
    }
    Panel {
        caption: "loss per epoch".into(),
        x_desc: "epoch".into(),
        y_desc: "loss".into(),
        log_y: true,
        whole_x: true,
        y_range: None,
        x_range: None,
        series,
    }
}
