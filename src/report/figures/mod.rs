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

/// Whether layer `i` of `n` gets a legend entry: at most [`MAX_LEGEND`]
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
fn tick(v: &f64) -> String {
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
    if x0 > x1 {
        return (
            (0.0, 1.0),
            if panel.log_y { (0.1, 1.0) } else { (0.0, 1.0) },
        );
    }
    let x = if x0 == x1 {
        (x0 - 0.5, x1 + 0.5)
    } else {
        (x0, x1)
    };
    let y = if panel.log_y {
        // Whole decades, so the axis has at least two labelled ticks.
        let down = 10f64.powf((y0 / 1.2).log10().floor());
        (down, 10f64.powf((y1 * 1.2).log10().ceil()))
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
    for s in &panel.series {
        let points = s.points.iter().copied().filter(|&(_, y)| keep(y));
        draw_series(&mut chart, s, points.collect())?;
    }
    legend(&mut chart)
}

/// One series: a line (marked ones with a dot per point) and its legend
/// entry.
fn draw_series<'a, DB: DrawingBackend + 'a, CT: CoordTranslate<From = (f64, f64)>>(
    chart: &mut ChartContext<'a, DB, CT>,
    s: &Series,
    points: Vec<(f64, f64)>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let color = s.color;
    let width = if s.look == Look::Line { 2 } else { 1 };
    let drawn = chart.draw_series(LineSeries::new(points.clone(), color.stroke_width(width)))?;
    if let Some(label) = &s.label {
        drawn.label(label.as_str()).legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(width))
        });
    }
    if s.look == Look::Marked {
        chart.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 3, color.filled())),
        )?;
    }
    Ok(())
}

fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 12))
        .draw()
}
