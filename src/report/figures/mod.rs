//! SVG figures drawn with plotters: the `stats --svg` figure (Glorot &
//! Bengio's Fig. 6 and 7: activation and δ histograms per layer, and std(δ)
//! per layer beside its mean-field prediction), and the `train --out`
//! figures (losses, activations over training, std(δ) and update ratios).
//!
//! Every figure is 800 px wide, with titled panels, labelled axes and a
//! legend; layers run through the viridis palette (perceptually ordered:
//! dark near the input, light near the output).

mod stats;
mod train;

pub use stats::stats_panels;
pub use train::write_train_figures;

use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::prelude::*;

/// Width of every figure, in pixels.
pub const WIDTH: u32 = 800;
/// Height of one panel, in pixels.
pub const PANEL_HEIGHT: u32 = 360;
/// At most this many layers are named in a legend (evenly spread, first
/// and last included); every layer is drawn.
const MAX_LEGEND: usize = 8;

/// One line of a panel: its points, colour, look and legend entry (if any).
#[derive(Clone)]
pub struct Series {
    pub points: Vec<(f64, f64)>,
    pub color: RGBColor,
    pub label: Option<String>,
    pub look: Look,
}

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Look {
    /// A 2 px line: a measurement.
    Line,
    /// A 1 px line with a dot per point: a prediction beside a measurement.
    Marked,
    /// A 1 px line: a band's edge (mean ± std).
    Thin,
    /// Open circles, no line: data points.
    Points,
}

impl Series {
    /// A 2 px line.
    pub fn line(points: Vec<(f64, f64)>, color: RGBColor, label: Option<String>) -> Series {
        Series {
            points,
            color,
            label,
            look: Look::Line,
        }
    }
}

/// One panel: a caption, axis descriptions (with units), a linear or log
/// y axis, and its lines.
pub struct Panel {
    pub caption: String,
    pub x_desc: String,
    pub y_desc: String,
    pub log_y: bool,
    /// The x axis counts whole things (layers, epochs).
    pub whole_x: bool,
    /// A fixed y range instead of one fitted to the points (what falls
    /// outside is clipped), for a panel whose interest is a window.
    pub y_range: Option<(f64, f64)>,
    /// A fixed x range instead of the points' (categories get half a step
    /// of room at each end).
    pub x_range: Option<(f64, f64)>,
    pub series: Vec<Series>,
}

/// The colour of layer `i` of `n` (0-based): viridis from dark (input side)
/// to light, stopping short of its pale yellow end so lines stay visible on
/// white.
pub fn layer_color(i: usize, n: usize) -> RGBColor {
    let t = if n <= 1 {
        0.0
    } else {
        0.9 * i as f64 / (n - 1) as f64
    };
    ViridisRGB::get_color(t)
}

/// Whether layer `i` of `n` gets a legend entry: at most `MAX_LEGEND`
/// of them, evenly spread, the first and the last always.
pub fn in_legend(i: usize, n: usize) -> bool {
    if n <= MAX_LEGEND {
        return true;
    }
    let step = (n - 1).div_ceil(MAX_LEGEND - 1);
    i.is_multiple_of(step) || i + 1 == n
}

/// The hidden layers of a net of `n`: all but the output layer (the one
/// layer of a single-layer net).
pub fn hidden_layers(n: usize) -> usize {
    if n > 1 { n - 1 } else { n }
}

/// An axis tick: at most 3 significant digits, no trailing zeros
/// (`0.25`, `-4e-4`, `1.5e-6`).
pub fn tick(v: &f64) -> String {
    let v = *v;
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        }
    };
    if (1e-3..1e5).contains(&v.abs()) {
        let decimals = (2 - v.abs().log10().floor() as i32).max(0) as usize;
        trim(format!("{v:.decimals$}"))
    } else {
        let s = format!("{v:.2e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        format!("{}e{exp}", trim(mantissa.to_owned()))
    }
}

/// A tick of a whole-number axis (layers, epochs): blank between them.
fn whole_tick(v: &f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        String::new()
    }
}

/// Draws `panels` stacked under `title` and returns the SVG text.
pub fn render(title: &str, panels: &[Panel]) -> Result<String, String> {
    let mut svg = String::new();
    let height = PANEL_HEIGHT * panels.len().max(1) as u32 + 40;
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let root = root
            .titled(title, ("sans-serif", 18))
            .map_err(|e| e.to_string())?;
        let areas = root.split_evenly((panels.len().max(1), 1));
        for (area, panel) in areas.iter().zip(panels) {
            draw_panel(area, panel).map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// The x and y ranges of a panel's finite points (positive ones on a log
/// axis), padded a little; a unit range when there are none.
fn ranges(panel: &Panel) -> ((f64, f64), (f64, f64)) {
    let points = panel
        .series
        .iter()
        .flat_map(|s| &s.points)
        .filter(|(x, y)| x.is_finite() && y.is_finite() && (!panel.log_y || *y > 0.0));
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if let (Some(y), true) = (panel.y_range, x0 <= x1) {
        return (panel.x_range.unwrap_or((x0, x1)), y);
    }
    if x0 > x1 {
        return (
            (0.0, 1.0),
            if panel.log_y { (0.1, 1.0) } else { (0.0, 1.0) },
        );
    }
    let x = match panel.x_range {
        Some(x) => x,
        // One x (a run's only measurement with an update, step 200):
        // centred on an axis as wide as the value, whose ticks then
        // differ in 3 significant digits (199.5..200.5 read "200" at
        // every tick).
        None if x0 == x1 => {
            let half = x0.abs().max(1.0);
            (x0 - half, x1 + half)
        }
        None => (x0, x1),
    };
    let y = if panel.log_y {
        // Whole decades, so the axis has at least two labelled ticks: at
        // least two decades (plotters labelled only the top of one).
        let down = 10f64.powf((y0 / 1.2).log10().floor());
        let up = 10f64.powf((y1 * 1.2).log10().ceil());
        (if up / down < 11.0 { down / 10.0 } else { down }, up)
    } else {
        let pad = 0.05 * (y1 - y0).max(y1.abs() * 1e-3).max(1e-12);
        (y0.min(0.0) - pad * f64::from(y0 < 0.0), y1 + pad)
    };
    (x, y)
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let ((x0, x1), (y0, y1)) = ranges(panel);
    // Ticks a rounding error away from 0 (-1.4e-20) are 0.
    let zeroed = |span: f64| {
        move |v: &f64| {
            if v.abs() < 1e-9 * span.abs() {
                "0".to_owned()
            } else {
                tick(v)
            }
        }
    };
    let (x_linear, y_linear) = (zeroed(x1 - x0), zeroed(y1 - y0));
    let x_tick: &Tick = if panel.whole_x {
        &whole_tick
    } else {
        &x_linear
    };
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(&panel.caption, ("sans-serif", 15))
        .margin(12)
        .x_label_area_size(38)
        .y_label_area_size(70);
    if panel.log_y {
        let chart = builder.build_cartesian_2d(x0..x1, (y0..y1).log_scale())?;
        fill(chart, panel, (x_tick, &tick), |y| y > 0.0 && y.is_finite())
    } else {
        let chart = builder.build_cartesian_2d(x0..x1, y0..y1)?;
        fill(chart, panel, (x_tick, &y_linear), f64::is_finite)
    }
}

/// A tick label formatter.
type Tick<'a> = dyn Fn(&f64) -> String + 'a;

/// A panel's mesh, lines (the points whose y passes `keep`) and legend.
fn fill<'a, DB, X, Y>(
    mut chart: ChartContext<'a, DB, Cartesian2d<X, Y>>,
    panel: &Panel,
    (x_tick, y_tick): (&Tick, &Tick),
    keep: impl Fn(f64) -> bool,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_desc(panel.x_desc.as_str())
        .y_desc(panel.y_desc.as_str())
        .x_label_formatter(x_tick)
        .y_label_formatter(y_tick)
        .draw()?;
    // Every run drawn, for the legend to keep clear of.
    let mut drawn = Vec::new();
    for s in &panel.series {
        let points: Vec<(f64, f64)> = s.points.iter().copied().filter(|&(_, y)| keep(y)).collect();
        let runs = match panel.y_range {
            Some(window) if s.look != Look::Points => clip(&points, window),
            Some((y0, y1)) => vec![
                points
                    .into_iter()
                    .filter(|&(_, y)| (y0..=y1).contains(&y))
                    .collect(),
            ],
            None => vec![points],
        };
        if s.look == Look::Points {
            drawn.extend(runs.iter().flatten().map(|&p| vec![p]));
        } else {
            drawn.extend(runs.iter().cloned());
        }
        draw_series(&mut chart, s, runs)?;
    }
    let labels = panel.series.iter().filter(|s| s.label.is_some()).count();
    legend(&mut chart, labels, &drawn)
}

/// The runs of a polyline inside the band `y0 ≤ y ≤ y1`, each segment cut
/// where it crosses the band's edges (plotters would pin outside points to
/// the edge, drawing lines that are not there).
fn clip(points: &[(f64, f64)], (y0, y1): (f64, f64)) -> Vec<Vec<(f64, f64)>> {
    let inside = |y: f64| (y0..=y1).contains(&y);
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    if let [p] = points
        && inside(p.1)
    {
        runs.push(vec![*p]);
    }
    for pair in points.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        // The part t ∈ [t0, t1] of a + t(b − a) inside the band.
        let (t0, t1) = if a.1 == b.1 {
            if inside(a.1) { (0.0, 1.0) } else { continue }
        } else {
            let (u, v) = ((y0 - a.1) / (b.1 - a.1), (y1 - a.1) / (b.1 - a.1));
            (u.min(v).max(0.0), u.max(v).min(1.0))
        };
        if t0 > t1 {
            continue;
        }
        // The ends themselves where uncut, so that runs join exactly.
        let at = |t: f64| match t {
            0.0 => a,
            1.0 => b,
            t => (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1)),
        };
        match runs.last_mut() {
            Some(run) if t0 == 0.0 && run.last() == Some(&a) => run.push(at(t1)),
            _ => runs.push(vec![at(t0), at(t1)]),
        }
    }
    runs
}

/// One series: a line in runs (marked ones with a dot per point) or
/// circles, and its legend entry.
fn draw_series<'a, DB: DrawingBackend + 'a, CT: CoordTranslate<From = (f64, f64)>>(
    chart: &mut ChartContext<'a, DB, CT>,
    s: &Series,
    runs: Vec<Vec<(f64, f64)>>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let color = s.color;
    let points = runs.iter().flatten().copied();
    if s.look == Look::Points {
        let style = color.stroke_width(2);
        let drawn = chart.draw_series(points.map(|p| Circle::new(p, 4, style)))?;
        if let Some(label) = &s.label {
            drawn
                .label(label.as_str())
                .legend(move |(x, y)| Circle::new((x + 9, y), 4, style));
        }
        return Ok(());
    }
    let width = if s.look == Look::Line { 2 } else { 1 };
    let lines = runs
        .iter()
        .map(|run| PathElement::new(run.clone(), color.stroke_width(width)));
    let drawn = chart.draw_series(lines)?;
    if let Some(label) = &s.label {
        drawn.label(label.as_str()).legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(width))
        });
    }
    if s.look == Look::Marked {
        chart.draw_series(points.map(|p| Circle::new(p, 3, color.filled())))?;
    } else {
        // A run of one point is a line of no length: a dot instead.
        let lone = runs.iter().filter(|run| run.len() == 1).map(|run| run[0]);
        chart.draw_series(lone.map(|p| Circle::new(p, width + 1, color.filled())))?;
    }
    Ok(())
}

/// The legend of `labels` entries, in the corner whose box covers the
/// fewest points of the `drawn` runs (upper right when tied).
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate<From = (f64, f64)>>(
    chart: &mut ChartContext<'a, DB, CT>,
    labels: usize,
    drawn: &[Vec<(f64, f64)>],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (xs, ys) = chart.plotting_area().get_pixel_range();
    let (x0, x1, y0, y1) = (xs.start, xs.end, ys.start, ys.end);
    // About the box plotters draws: 12 px labels, 20 px apart.
    let (w, h) = (190, 20 * labels as i32 + 12);
    let corners = [
        (SeriesLabelPosition::UpperRight, x1 - w..x1, y0..y0 + h),
        (SeriesLabelPosition::UpperLeft, x0..x0 + w, y0..y0 + h),
        (SeriesLabelPosition::LowerRight, x1 - w..x1, y1 - h..y1),
        (SeriesLabelPosition::LowerLeft, x0..x0 + w, y1 - h..y1),
    ];
    // The points, and 8 more along each segment, in pixels (all inside
    // the plotting area: the runs are what was drawn).
    let area = chart.plotting_area();
    let mut pixels = Vec::new();
    for run in drawn {
        let at: Vec<(i64, i64)> = run
            .iter()
            .map(|p| area.map_coordinate(p))
            .map(|(x, y)| (i64::from(x), i64::from(y)))
            .collect();
        pixels.extend(at.windows(2).flat_map(|ab| {
            let ((ax, ay), (bx, by)) = (ab[0], ab[1]);
            (0..9).map(move |k| (ax + (bx - ax) * k / 9, ay + (by - ay) * k / 9))
        }));
        pixels.extend(at.last());
    }
    let covered = |(_, xs, ys): &(
        SeriesLabelPosition,
        std::ops::Range<i32>,
        std::ops::Range<i32>,
    )| {
        let (xs, ys) = (
            i64::from(xs.start)..i64::from(xs.end),
            i64::from(ys.start)..i64::from(ys.end),
        );
        pixels
            .iter()
            .filter(|(x, y)| xs.contains(x) && ys.contains(y))
            .count()
    };
    let corner = corners
        .iter()
        .min_by_key(|c| covered(c))
        .map_or(SeriesLabelPosition::UpperRight, |c| c.0.clone());
    chart
        .configure_series_labels()
        .position(corner)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 12))
        .draw()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log-y panel of one point per series, all at step 200 (what a run
    /// whose only update ratio is at its end draws).
    fn one_step_panel() -> Panel {
        let series = [2e-3, 4e-3]
            .iter()
            .enumerate()
            .map(|(i, &y)| Series::line(vec![(200.0, y)], layer_color(i, 2), None))
            .collect();
        Panel {
            caption: "one step".into(),
            x_desc: "optimizer step".into(),
            y_desc: "ratio".into(),
            log_y: true,
            whole_x: false,
            y_range: None,
            x_range: None,
            series,
        }
    }

    #[test]
    fn one_step_gets_an_axis_of_distinct_ticks_two_decades_and_dots() {
        let panel = one_step_panel();
        let ((x0, x1), (y0, y1)) = ranges(&panel);
        assert_eq!((x0, x1), (0.0, 400.0), "centred, ticks 3 digits apart");
        assert!(y0 <= 2e-3 && 4e-3 <= y1 && y1 / y0 >= 100.0, "{y0} {y1}");
        // A line of one point has no length: each is drawn as a dot.
        let svg = render("t", &[panel]).unwrap();
        assert_eq!(svg.matches("<circle").count(), 2, "{svg}");
    }

    #[test]
    fn clipping_cuts_lines_at_the_band_edges() {
        let band = (-1.0, 1.0);
        // Inside throughout: untouched.
        let inside = vec![(0.0, 0.0), (1.0, 0.5), (2.0, -0.5)];
        assert_eq!(clip(&inside, band), vec![inside.clone()]);
        // Straight through the band between two samples.
        assert_eq!(
            clip(&[(0.0, -2.0), (1.0, 2.0)], band),
            vec![vec![(0.25, -1.0), (0.75, 1.0)]]
        );
        // Out and back in: two runs, each ended on the edge it crossed.
        assert_eq!(
            clip(&[(0.0, 0.0), (1.0, 2.0), (2.0, 0.0)], band),
            vec![vec![(0.0, 0.0), (0.5, 1.0)], vec![(1.5, 1.0), (2.0, 0.0)]]
        );
        // Wholly outside, or a lone point outside: nothing.
        assert!(clip(&[(0.0, 2.0), (1.0, 5.0)], band).is_empty());
        assert!(clip(&[(0.0, -3.0)], band).is_empty());
        assert_eq!(clip(&[(0.0, 0.5)], band), vec![vec![(0.0, 0.5)]]);
    }

    #[test]
    fn clipping_keeps_a_line_whole_between_crossings() {
        // Coordinates that are not exact in binary: an uncut segment must
        // still continue its run (its ends are the points themselves).
        let sine = |amplitude: f64| -> Vec<(f64, f64)> {
            (0..=200)
                .map(|i| f64::from(i) / 200.0)
                .map(|x| (x, amplitude * (std::f64::consts::TAU * 3.0 * x).sin()))
                .collect()
        };
        let inside = sine(0.9);
        assert_eq!(clip(&inside, (-1.0, 1.0)), vec![inside.clone()]);
        // Amplitude 2: three periods leave the band six times; the runs
        // between are 7 (first and last start and end inside), each with
        // its points in order and its cut ends on the edges.
        let runs = clip(&sine(2.0), (-1.0, 1.0));
        assert_eq!(runs.len(), 7, "{runs:?}");
        for run in &runs {
            assert!(run.windows(2).all(|w| w[0].0 < w[1].0));
            assert!(run.iter().all(|p| p.1.abs() <= 1.0));
        }
        let points: usize = runs.iter().map(Vec::len).sum();
        let kept = sine(2.0).iter().filter(|p| p.1.abs() <= 1.0).count();
        assert_eq!(
            points,
            kept + 2 * 6,
            "every point inside, plus two cut ends per exit"
        );
    }
}
