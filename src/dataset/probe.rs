//! The probe: the fixed batch the statistics are measured on. There is one
//! rule for `stats`, `stats --steps N` and the trainer: the first rows of
//! the data's held-out set (Glorot & Bengio measured on held-out examples),
//! or of its training set when it has none.

use super::{DataError, Dataset, Split};
use crate::spec::{Data, Source};

/// Probe rows when `--probe` is not given: Glorot & Bengio's 300, or the
/// whole set when it is smaller.
pub const DEFAULT_ROWS: usize = 300;

/// The set the probe comes from: held-out examples when there are any,
/// training ones otherwise.
pub fn probe_set(split: &Split) -> &Dataset {
    split
        .test
        .as_ref()
        .filter(|t| t.n > 0)
        .unwrap_or(&split.train)
}

/// Rows of the probe: `asked` (an explicit `--probe N`) must fit in the
/// probe set, else the error at the `data` line says how many it has; with
/// `None`, [`DEFAULT_ROWS`] or the whole set if smaller.
pub fn probe_rows(
    split: &Split,
    asked: Option<usize>,
    data: &Data,
    src: &Source,
) -> Result<usize, DataError> {
    let set = probe_set(split);
    match asked {
        None => Ok(DEFAULT_ROWS.min(set.n).max(1)),
        Some(rows) if rows <= set.n => Ok(rows),
        Some(rows) => {
            let which = if std::ptr::eq(set, &split.train) {
                "training"
            } else {
                "held-out"
            };
            let message = format!(
                "the probe needs {rows} examples but `data {}` has {} {which} ones",
                data.name(),
                set.n
            );
            let help = format!("use `--probe {}` or less, or more data", set.n);
            Err(DataError::Spec(
                src.error(data.span, message).with_help(help),
            ))
        }
    }
}

/// Copies examples `rows` of `set` into consecutive rows of `x` and `y`.
pub fn copy_rows(set: &Dataset, rows: impl Iterator<Item = usize>, x: &mut [f32], y: &mut [f32]) {
    let (wx, wy) = (set.inputs, set.target.width());
    for (k, i) in rows.enumerate() {
        x[k * wx..(k + 1) * wx].copy_from_slice(set.x_row(i));
        y[k * wy..(k + 1) * wy].copy_from_slice(set.y_row(i));
    }
}
