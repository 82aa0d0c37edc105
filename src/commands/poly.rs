//! `depthlab poly`: under- and over-fitting with polynomials (PRML §1.1):
//! for each degree the exact least-squares fit, train and test E_RMS and
//! the coefficients; with ln ρ values the exact ridge fits; tables, CSV,
//! SVG figures, and optionally the same fits reached by depthlab's own
//! optimizer.

use crate::commands::non_negative;
use crate::error::Error;
use crate::files::write_atomic;
use crate::poly::{
    Fit, Points, Setting, condition, e_rms, fit, max_abs, optimizer_fit, points, predict,
    relative_gap,
};
use crate::report::figures::{Look, Panel, Series, layer_color, render};
use crate::report::{align, csv_text, sig4};
use plotters::style::RGBColor;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What `depthlab poly` fits and writes.
#[derive(Clone, Debug)]
pub struct PolyOptions {
    pub setting: Setting,
    /// Degrees D to fit (PRML: 0 to 9).
    pub degrees: Vec<usize>,
    /// The ridge terms: every degree is also fitted with each finite one,
    /// and the largest degree's coefficients are shown for all (Table 1.2).
    pub ridge: Vec<Ridge>,
    pub csv: Option<PathBuf>,
    /// CSV of the points: set (train/test), x, t.
    pub points: Option<PathBuf>,
    /// Folder for fits.svg, erms.svg and rho.svg.
    pub svg: Option<PathBuf>,
    /// Also fit with depthlab's optimizer for this many full-batch steps.
    pub train_steps: Option<u64>,
}

/// A ridge term, ln ρ (−∞: none), with the head it is shown under: as the
/// user wrote it, `ln ρ = -18` or `ρ = 1e-8`.
#[derive(Clone, Debug, PartialEq)]
pub struct Ridge {
    pub ln_rho: f64,
    pub label: String,
}

/// The largest ln ρ (and ρ = e^50) the fits take: beyond, the ridge term
/// swamps every data term in f64.
const MAX_LN_RHO: f64 = 50.0;

impl Ridge {
    /// `--ln-rho` values: numbers ≤ 50, or `-inf`.
    ///
    /// ```
    /// use depthlab::commands::Ridge;
    /// let r = Ridge::parse_ln("-inf,-18").unwrap();
    /// assert_eq!((r[0].ln_rho, r[1].label.as_str()), (f64::NEG_INFINITY, "ln ρ = -18"));
    /// assert!(Ridge::parse_ln("60").is_err());
    /// ```
    pub fn parse_ln(text: &str) -> Result<Vec<Ridge>, String> {
        text.split(',')
            .map(|t| {
                let ln_rho = match t.trim() {
                    "-inf" | "-∞" | "−∞" => f64::NEG_INFINITY,
                    t => match t.parse::<f64>() {
                        Ok(v) if v.is_finite() && v <= MAX_LN_RHO => v,
                        _ => return Err(format!("`{t}` is not an ln ρ (a number ≤ 50, or -inf)")),
                    },
                };
                let label = format!("ln ρ = {}", t.trim());
                Ok(Ridge { ln_rho, label })
            })
            .collect()
    }

    /// `--rho` values: numbers 0 ≤ ρ ≤ e^50.
    ///
    /// ```
    /// use depthlab::commands::Ridge;
    /// let r = Ridge::parse_rho("0,1e-8").unwrap();
    /// assert_eq!((r[0].ln_rho, r[1].label.as_str()), (f64::NEG_INFINITY, "ρ = 1e-8"));
    /// ```
    pub fn parse_rho(text: &str) -> Result<Vec<Ridge>, String> {
        text.split(',')
            .map(|t| match non_negative(t) {
                Ok(rho) if rho.ln() <= MAX_LN_RHO => Ok(Ridge {
                    ln_rho: rho.ln(),
                    label: format!("ρ = {}", t.trim()),
                }),
                _ => Err(format!(
                    "`{}` is not a ρ (a number from 0 to e^50)",
                    t.trim()
                )),
            })
            .collect()
    }
}

/// The learning rate of `--train`'s Adam. Adam rescales each
/// coefficient's step, so it gets much further than plain gradient descent
/// on these ill-conditioned problems (tests/poly.rs checks plain SGD at
/// lr = 1/L where κ is small).
const ADAM_LR: f64 = 0.01;

/// A row of `--points`.
#[derive(Serialize)]
struct PointRow {
    set: &'static str,
    x: f64,
    t: f64,
}

/// A degree and its exact fit (`None`: more coefficients than points).
type DegreeFit = (usize, Option<Fit>);

/// The degrees whose coefficients PRML's Table 1.1 shows.
const TABLE_DEGREES: [usize; 4] = [0, 1, 3, 9];

/// `depthlab poly`: the tables (and the files asked for).
pub fn poly(o: &PolyOptions) -> Result<String, Error> {
    let s = &o.setting;
    let (train, test) = points(s)?;
    let at = |ln_rho: f64| -> Vec<DegreeFit> {
        o.degrees
            .iter()
            .map(|&d| (d, fit(&train, &test, d, ln_rho.exp())))
            .collect()
    };
    // A column of fits per ridge term, the plain fits first.
    let plain = at(f64::NEG_INFINITY);
    let grid: Vec<(&Ridge, Vec<DegreeFit>)> = o
        .ridge
        .iter()
        .filter(|r| r.ln_rho.is_finite())
        .map(|r| (r, at(r.ln_rho)))
        .collect();
    let column = |r: &Ridge| -> &[DegreeFit] {
        grid.iter()
            .find(|(g, _)| *g == r)
            .map_or(&plain[..], |(_, fits)| &fits[..])
    };
    let mut out = header(s);
    out += &erms_table(&plain, &train);
    out += &coefficient_table(&plain);
    out += &ridge_erms_table(&plain, &grid);
    let top = o.degrees.iter().copied().max().unwrap_or(0);
    let table_1_2: Vec<(&str, Option<&Fit>)> = o
        .ridge
        .iter()
        .map(|r| {
            (
                r.label.as_str(),
                column(r)
                    .iter()
                    .find(|(d, _)| *d == top)
                    .and_then(|(_, f)| f.as_ref()),
            )
        })
        .collect();
    out += &ridge_table(top, &table_1_2);
    out += &lambda_note(s.n);
    if let Some(steps) = o.train_steps {
        out += &trained_table(o, &plain, (&train, &test), steps)?;
    }
    if let Some(path) = &o.csv {
        let rows = std::iter::once((f64::NEG_INFINITY, &plain))
            .chain(grid.iter().map(|(r, fits)| (r.ln_rho, fits)))
            .flat_map(|(l, fits)| {
                fits.iter()
                    .filter_map(move |(_, f)| f.as_ref().map(|f| (l, f)))
            });
        write_atomic(path, fits_csv(rows).as_bytes()).map_err(Error::writing(path))?;
    }
    if let Some(path) = &o.points {
        let rows = [("train", &train), ("test", &test)]
            .into_iter()
            .flat_map(|(set, p)| {
                p.x.iter()
                    .zip(&p.t)
                    .map(move |(&x, &t)| PointRow { set, x, t })
            });
        write_atomic(path, csv_text(rows, true).as_bytes()).map_err(Error::writing(path))?;
    }
    if let Some(dir) = &o.svg {
        write_figures(dir, o, (&train, &test), &plain, top).map_err(Error::writing(dir))?;
    }
    Ok(out)
}

/// Test (train) E_RMS per degree and ridge term: the term tames the high
/// degrees (PRML Fig. 1.8, per degree).
fn ridge_erms_table(plain: &[DegreeFit], grid: &[(&Ridge, Vec<DegreeFit>)]) -> String {
    if grid.is_empty() {
        return String::new();
    }
    let columns: Vec<(&str, &[DegreeFit])> = std::iter::once(("ln ρ = -inf", plain))
        .chain(grid.iter().map(|(r, f)| (r.label.as_str(), &f[..])))
        .collect();
    let mut rows = vec![
        std::iter::once("degree")
            .chain(columns.iter().map(|(head, _)| *head))
            .map(String::from)
            .collect::<Vec<String>>(),
    ];
    for (i, (d, _)) in plain.iter().enumerate() {
        let cells = columns.iter().map(|(_, fits)| match &fits[i].1 {
            Some(f) => format!("{} ({})", sig4(f.test_e_rms), sig4(f.train_e_rms)),
            None => "-".into(),
        });
        rows.push(std::iter::once(d.to_string()).chain(cells).collect());
    }
    format!(
        "\nridge fits: test E_RMS (train E_RMS) per degree and ρ\n{}",
        align(&rows, &[])
    )
}

fn header(s: &Setting) -> String {
    let x = if s.grid {
        "x evenly spaced over [0, 1]"
    } else {
        "x drawn uniformly"
    };
    let points = |n: usize| {
        if n == 1 {
            "1 point".to_owned()
        } else {
            format!("{n} points")
        }
    };
    format!(
        "depthlab poly: PRML §1.1 — t = sin(2πx) + N(0, {}²), {} for training ({x}, seed {}), {} for testing\n\
         exact fits: least squares by Householder QR in f64; E_RMS = √(2E/N) with E = ½ Σ (ŷ(x_n) − t_n)²\n\n",
        s.noise,
        points(s.n),
        s.seed,
        points(s.test)
    )
}

/// E_RMS per degree, the largest coefficient, and κ(A).
fn erms_table(fits: &[DegreeFit], train: &Points) -> String {
    let mut out = format!(
        "{:>6}  {:>11}  {:>11}  {:>10}  {:>10}\n",
        "degree", "train E_RMS", "test E_RMS", "max |w*|", "κ(A)"
    );
    for (d, f) in fits {
        match f {
            Some(f) => {
                let kappa = sig4(condition(&train.x, *d));
                let _ = writeln!(
                    out,
                    "{d:>6}  {:>11}  {:>11}  {:>10}  {kappa:>10}",
                    sig4(f.train_e_rms),
                    sig4(f.test_e_rms),
                    sig4(max_abs(&f.w))
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "{d:>6}  {:>11}  (more coefficients than points: no unique fit)",
                    "-"
                );
            }
        }
    }
    out
}

/// Aligned columns of coefficients w*_0.. (blank beyond a fit's degree),
/// then `extra` rows.
fn columns(heads: &[String], ws: &[Option<&[f64]>], extra: &[(String, Vec<String>)]) -> String {
    let rows = ws.iter().flatten().map(|w| w.len()).max().unwrap_or(0);
    let mut out = format!("{:>12}", "");
    for h in heads {
        let _ = write!(out, "  {h:>12}");
    }
    out.push('\n');
    for j in 0..rows {
        let _ = write!(out, "{:>12}", format!("w*_{j}"));
        for w in ws {
            let cell = w.and_then(|w| w.get(j)).map_or(String::new(), |&c| sig4(c));
            let _ = write!(out, "  {cell:>12}");
        }
        out.push('\n');
    }
    for (name, cells) in extra {
        let _ = write!(out, "{name:>12}");
        for c in cells {
            let _ = write!(out, "  {c:>12}");
        }
        out.push('\n');
    }
    out
}

/// PRML's Table 1.1: the coefficients for D = 0, 1, 3, 9 (those fitted).
fn coefficient_table(fits: &[DegreeFit]) -> String {
    let shown: Vec<&DegreeFit> = fits
        .iter()
        .filter(|(d, f)| TABLE_DEGREES.contains(d) && f.is_some())
        .collect();
    if shown.is_empty() {
        return String::new();
    }
    let heads: Vec<String> = shown.iter().map(|(d, _)| format!("D = {d}")).collect();
    let ws: Vec<Option<&[f64]>> = shown
        .iter()
        .map(|(_, f)| f.as_ref().map(|f| &f.w[..]))
        .collect();
    format!(
        "\ncoefficients (PRML Table 1.1):\n{}",
        columns(&heads, &ws, &[])
    )
}

/// PRML's Table 1.2: the coefficients of the largest degree per ridge
/// term (`None`: no unique fit).
fn ridge_table(degree: usize, ridge: &[(&str, Option<&Fit>)]) -> String {
    if ridge.is_empty() {
        return String::new();
    }
    let heads: Vec<String> = ridge.iter().map(|(head, _)| (*head).to_owned()).collect();
    let ws: Vec<Option<&[f64]>> = ridge.iter().map(|(_, f)| f.map(|f| &f.w[..])).collect();
    let e = |pick: fn(&Fit) -> f64| {
        ridge
            .iter()
            .map(|(_, f)| f.map_or("-".into(), |f| sig4(pick(f))))
            .collect()
    };
    let extra = [
        ("train E_RMS".to_owned(), e(|f| f.train_e_rms)),
        ("test E_RMS".to_owned(), e(|f| f.test_e_rms)),
    ];
    format!(
        "\nridge fits, D = {degree}: minimize Σ (ŷ(x_n) − t_n)² + ρ Σ_(j≥1) w_j² (PRML Table 1.2; w_0 not penalized)\n{}",
        columns(&heads, &ws, &extra)
    )
}

/// How ρ here relates to a spec's `l2=` and torch's `weight_decay`.
fn lambda_note(n: usize) -> String {
    format!(
        "\nIn a spec, this ρ is `loss mse l2=ρ/{n}` (mse is a mean over the {n} points), the same as the optimizer's\n\
         `weight_decay=λ decay_bias=false` with λ = 2ρ/{n} (coupled, as torch's SGD and Adam): torch adds λw to\n\
         the gradient, and ∂(ρ Σ w²)/∂w = 2ρw, hence the factor 2.\n"
    )
}

/// `--train`: how close full-batch Adam gets to each exact fit, and why
/// it is slow: κ(AᵀA) = κ(A)² sets gradient descent's rate.
fn trained_table(
    o: &PolyOptions,
    fits: &[DegreeFit],
    (train, test): (&Points, &Points),
    steps: u64,
) -> Result<String, Error> {
    let mut out = format!(
        "\ndepthlab's optimizer (Adam, lr {ADAM_LR}, full batch, {steps} steps) against the exact fits:\n{:>6}  {:^22}  {:^22}\n",
        "", "train E_RMS", "test E_RMS"
    );
    let _ = writeln!(
        out,
        "{:>6}  {:>10}  {:>10}  {:>10}  {:>10}  {:>12}  {:>10}",
        "degree", "Adam", "exact", "Adam", "exact", "‖w−w*‖/‖w*‖", "κ(AᵀA)"
    );
    for (d, f) in fits {
        let Some(f) = f else { continue };
        let w = optimizer_fit(&o.setting, *d, 0.0, &format!("adam lr={ADAM_LR}"), steps)?;
        let gap = relative_gap(&w, &f.w);
        let kappa = condition(&train.x, *d).powi(2);
        let _ = writeln!(
            out,
            "{d:>6}  {:>10}  {:>10}  {:>10}  {:>10}  {:>12}  {:>10}",
            sig4(e_rms(&w, train)),
            sig4(f.train_e_rms),
            sig4(e_rms(&w, test)),
            sig4(f.test_e_rms),
            sig4(gap),
            sig4(kappa)
        );
    }
    out += "Gradient descent on a least-squares loss converges at a rate set by κ(AᵀA) = κ(A)²: along the\n\
            directions of A's smallest singular values (combinations of the high powers of x, nearly\n\
            collinear on [0, 1]) plain gradient descent needs about κ steps. Adam's per-coefficient scaling\n\
            helps, but not by the orders of magnitude κ(AᵀA) grows by: at high degree it stops far from the\n\
            exact fit — and, never reaching the wild coefficients, fits the test points better: stopping\n\
            early regularizes.\n";
    Ok(out)
}

/// One CSV row per fit: degree, ln ρ, E_RMS, coefficients w0.. (blank
/// beyond the degree).
fn fits_csv<'a>(rows: impl Iterator<Item = (f64, &'a Fit)> + Clone) -> String {
    let width = rows.clone().map(|(_, f)| f.w.len()).max().unwrap_or(0);
    let mut head: Vec<String> = ["degree", "ln_rho", "train_e_rms", "test_e_rms"]
        .map(String::from)
        .to_vec();
    head.extend((0..width).map(|j| format!("w{j}")));
    let body = rows.map(|(ln_rho, f)| {
        let mut row = vec![
            f.degree.to_string(),
            ln_rho.to_string(),
            f.train_e_rms.to_string(),
            f.test_e_rms.to_string(),
        ];
        row.extend((0..width).map(|j| f.w.get(j).map_or(String::new(), |c| c.to_string())));
        row
    });
    csv_text(std::iter::once(head).chain(body), false)
}

/// The colours of the fitted curve and of test errors.
const RED: RGBColor = RGBColor(214, 96, 77);

/// fits.svg (the fits over the data, PRML Fig. 1.4), erms.svg (E_RMS
/// against D, Fig. 1.5) and rho.svg (E_RMS against ln ρ for the largest D,
/// Fig. 1.8).
fn write_figures(
    dir: &Path,
    o: &PolyOptions,
    (train, test): (&Points, &Points),
    fits: &[DegreeFit],
    top: usize,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let write = |name: &str, what: &str, panels: &[Panel]| {
        let title = format!(
            "depthlab poly: {what} — N = {}, seed {}",
            o.setting.n, o.setting.seed
        );
        let svg = render(&title, panels).map_err(std::io::Error::other)?;
        write_atomic(&dir.join(name), svg.as_bytes())
    };
    write("fits.svg", "the fits", &fit_panels(train, fits))?;
    let by_degree: Vec<&Fit> = fits.iter().filter_map(|(_, f)| f.as_ref()).collect();
    let degree_panel = e_rms_panel(
        "E_RMS against the degree D (PRML Fig. 1.5)".into(),
        ("degree D", true),
        &by_degree,
        |f| f.degree as f64,
    );
    write("erms.svg", "E_RMS", &[degree_panel])?;
    let sweep: Vec<Fit> = (-40..=0)
        .filter_map(|l| fit(train, test, top, f64::from(l).exp()))
        .collect();
    let sweep: Vec<&Fit> = sweep.iter().collect();
    let rho_panel = e_rms_panel(
        format!("E_RMS against ln ρ, D = {top} (PRML Fig. 1.8)"),
        ("ln ρ", false),
        &sweep,
        |f| f.rho.ln(),
    );
    write("rho.svg", "regularization", &[rho_panel])
}

/// A panel per fit of Table 1.1's degrees (or, if none of those was
/// fitted, of up to four of the fitted ones): sin(2πx), the fit and the
/// training points, in PRML's window t ∈ [−1.5, 1.5] widened to the points.
fn fit_panels(train: &Points, fits: &[DegreeFit]) -> Vec<Panel> {
    let grid = |k: u32| (0..=k).map(move |i| f64::from(i) / f64::from(k));
    let sine: Vec<(f64, f64)> = grid(200)
        .map(|x| (x, (std::f64::consts::TAU * x).sin()))
        .collect();
    let data = Series {
        points: train
            .x
            .iter()
            .copied()
            .zip(train.t.iter().copied())
            .collect(),
        color: RGBColor(33, 102, 172),
        label: Some("training points".into()),
        look: Look::Points,
    };
    let (lo, hi) = train
        .t
        .iter()
        .fold((-1.5f64, 1.5f64), |(lo, hi), &t| (lo.min(t), hi.max(t)));
    let pad = 0.05 * (hi - lo);
    let window = (
        lo - pad * f64::from(lo < -1.5),
        hi + pad * f64::from(hi > 1.5),
    );
    let fitted: Vec<(&usize, &Fit)> = fits
        .iter()
        .filter_map(|(d, f)| f.as_ref().map(|f| (d, f)))
        .collect();
    let mut shown: Vec<(&usize, &Fit)> = fitted
        .iter()
        .copied()
        .filter(|(d, _)| TABLE_DEGREES.contains(d))
        .collect();
    if shown.is_empty() && !fitted.is_empty() {
        // The first, the last and two between.
        let n = fitted.len();
        let picks: Vec<usize> = if n <= 4 {
            (0..n).collect()
        } else {
            (0..4).map(|k| k * (n - 1) / 3).collect()
        };
        shown = picks.into_iter().map(|i| fitted[i]).collect();
    }
    shown
        .into_iter()
        .map(|(d, f)| Panel {
            caption: format!("D = {d}"),
            x_desc: "x".into(),
            y_desc: "t".into(),
            log_y: false,
            whole_x: false,
            // A wild fit leaves the window; the points stay in it.
            y_range: Some(window),
            x_range: None,
            series: vec![
                Series::line(sine.clone(), RGBColor(77, 172, 38), Some("sin(2πx)".into())),
                Series::line(
                    grid(400).map(|x| (x, predict(&f.w, x))).collect(),
                    RED,
                    Some(format!("fit, D = {d}")),
                ),
                data.clone(),
            ],
        })
        .collect()
}

/// Train and test E_RMS of `fits` against `x(fit)`, on a log axis (an
/// interpolating fit's training error is ~0, its test error huge); a dot
/// per fit when x counts degrees (`whole_x`).
fn e_rms_panel(
    caption: String,
    (x_desc, whole_x): (&str, bool),
    fits: &[&Fit],
    x: fn(&Fit) -> f64,
) -> Panel {
    let look = if whole_x { Look::Marked } else { Look::Line };
    let series = |pick: fn(&Fit) -> f64, color, label: &str| Series {
        look,
        ..Series::line(
            fits.iter().map(|f| (x(f), pick(f))).collect(),
            color,
            Some(label.into()),
        )
    };
    Panel {
        caption,
        x_desc: x_desc.into(),
        y_desc: "E_RMS".into(),
        log_y: true,
        whole_x,
        y_range: None,
        x_range: None,
        series: vec![
            series(|f| f.train_e_rms, layer_color(0, 3), "train"),
            series(|f| f.test_e_rms, RED, "test"),
        ],
    }
}
