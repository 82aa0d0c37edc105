//! What every source's sets go through after loading: a held-out part cut
//! from the end (`split=`, file loaders) and standardized inputs
//! (`normalize=true`).

use super::{DataError, Dataset, Request, Split};
use crate::spec::{Data, Files};

/// `split=F` of a file loader: holds out the last ⌈F·n⌉ rows of `train`
/// (as scikit-learn's `train_test_split` rounds), deterministic. (The
/// parser refuses `split=` beside `test=FILE`.)
pub(super) fn hold_out(
    req: &Request,
    files: &Files,
    mut train: Dataset,
    test: Option<Dataset>,
) -> Result<Split, DataError> {
    let Some((fraction, span)) = files.split.filter(|&(f, _)| f > 0.0) else {
        return Ok(Split { train, test });
    };
    let count = (fraction * train.n as f64).ceil() as usize;
    if count >= train.n {
        return Err(req
            .error_at(
                span,
                format!(
                    "holding out {count} of {} examples leaves none to train on",
                    train.n
                ),
            )
            .into());
    }
    let test = Some(train.split_off(count));
    Ok(Split { train, test })
}

/// `normalize=true`: standardizes every input with the training rows' mean
/// and std, and the test rows with the same shift and scale.
pub(super) fn normalize_if_asked(data: &Data, mut split: Split) -> Split {
    if data.normalize {
        let (mean, std) = column_stats(&split.train);
        normalize(&mut split.train, &mean, &std);
        if let Some(t) = &mut split.test {
            normalize(t, &mean, &std);
        }
    }
    split
}

/// Per-input mean and population std (ddof 0, as scikit-learn's
/// StandardScaler), in f64 and in row order; a constant column gets std 1.
fn column_stats(d: &Dataset) -> (Vec<f64>, Vec<f64>) {
    let mut mean = vec![0.0f64; d.inputs];
    for row in d.x.chunks_exact(d.inputs) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += f64::from(v);
        }
    }
    let n = d.n.max(1) as f64;
    mean.iter_mut().for_each(|m| *m /= n);
    let mut var = vec![0.0f64; d.inputs];
    for row in d.x.chunks_exact(d.inputs) {
        for ((s, &m), &v) in var.iter_mut().zip(&mean).zip(row) {
            *s += (f64::from(v) - m).powi(2);
        }
    }
    let std = var
        .iter()
        .map(|s| {
            let sd = (s / n).sqrt();
            if sd > 0.0 { sd } else { 1.0 }
        })
        .collect();
    (mean, std)
}

fn normalize(d: &mut Dataset, mean: &[f64], std: &[f64]) {
    for row in d.x.chunks_exact_mut(d.inputs) {
        for ((v, &m), &s) in row.iter_mut().zip(mean).zip(std) {
            *v = ((f64::from(*v) - m) / s) as f32;
        }
    }
}
