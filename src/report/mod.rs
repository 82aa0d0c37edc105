//! Results → what people read: the `stats` report (table, JSON, CSV,
//! histograms, warnings), the training outputs (epoch table, `epochs.csv`,
//! `stats.jsonl`, summary) and the `--dump` tensors. Every number in a
//! table goes through [`sig4`].

pub mod dump;
pub mod figures;
pub mod stats;
pub mod tensorboard;
pub mod train;

pub use stats::{Hist, LayerJson, Report, layer_json};

/// A number to 4 significant digits: fixed notation for magnitudes in
/// [1e-3, 1e5), scientific otherwise.
///
/// ```
/// use depthlab::report::sig4;
/// assert_eq!(sig4(0.0123456), "0.01235");
/// assert_eq!(sig4(1234.56), "1235");
/// assert_eq!(sig4(-3.2e-9), "-3.200e-9");
/// assert_eq!(sig4(0.0), "0");
/// ```
pub fn sig4(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    if x == 0.0 {
        return "0".into();
    }
    let ax = x.abs();
    if (1e-3..1e5).contains(&ax) {
        let decimals = (3 - ax.log10().floor() as i32).max(0) as usize;
        format!("{x:.decimals$}")
    } else {
        format!("{x:.3e}")
    }
}

pub(crate) fn opt(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), sig4)
}

/// `mean`, or `mean ± std` when it is over several (`n`) values.
///
/// ```
/// use depthlab::report::mean_pm_std;
/// assert_eq!(mean_pm_std((0.25, 0.01), 3), "0.2500 ± 0.01000");
/// assert_eq!(mean_pm_std((0.25, 0.0), 1), "0.2500");
/// ```
pub fn mean_pm_std((mean, std): (f64, f64), n: usize) -> String {
    if n > 1 {
        format!("{} ± {}", sig4(mean), sig4(std))
    } else {
        sig4(mean)
    }
}

pub(crate) fn percent(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |f| format!("{:.1}", 100.0 * f))
}

/// `records` as CSV text (the `csv` crate: quoting where needed), after a
/// header line of their field names when `header`.
pub(crate) fn csv_text<T: serde::Serialize>(
    records: impl IntoIterator<Item = T>,
    header: bool,
) -> String {
    let mut w = csv::WriterBuilder::new()
        .has_headers(header)
        .from_writer(Vec::new());
    for r in records {
        w.serialize(r)
            .expect("a record of numbers and names serializes to memory");
    }
    let bytes = w.into_inner().expect("a writer to memory flushes");
    String::from_utf8(bytes).expect("the csv crate writes UTF-8")
}

/// Aligns columns with two spaces between: numbers right-aligned, the
/// columns listed in `left` (text) left-aligned.
pub(crate) fn align(rows: &[Vec<String>], left: &[usize]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let pad = " ".repeat(widths[c] - cell.chars().count());
            if c > 0 {
                line.push_str("  ");
            }
            if left.contains(&c) {
                line.push_str(cell);
                line.push_str(&pad);
            } else {
                line.push_str(&pad);
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
