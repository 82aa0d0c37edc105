//! Probe batches: the fixed inputs and targets the statistics are measured
//! on, generated deterministically from a seed (never downloaded).

use crate::dataset::{Dataset, Split, load};
use crate::error::Error;
use crate::init::{Rng, Stream};
use crate::spec::{Data, LossKind, Source};
use std::path::Path;

/// Fills the probe inputs `x` (rows, inputs) and targets `y` from the
/// spec's data source.
///
/// `gaussian` (the default): x ~ N(0, 1); class labels uniform in
/// [0, outputs) for cross_entropy, N(0, 1) targets for mse, fair coin flips
/// for bce. The seed is the `data seed=` if given, else the train seed.
/// Every other source ([`crate::dataset`]) gives its first rows: held-out
/// ones when it has a test set (Glorot & Bengio measured on held-out
/// examples), training ones otherwise.
pub fn fill_probe(
    x: &mut [f32],
    y: &mut [f32],
    loss: LossKind,
    outputs: usize,
    data: Option<&Data>,
    src: &Source,
    train_seed: u64,
) -> Result<(), Error> {
    let seed = match data.and_then(|d| d.get("seed")) {
        // Validated by the parser.
        Some(s) => s.parse().unwrap_or(train_seed),
        None => train_seed,
    };
    if let Some(d) = data.filter(|d| d.name != "gaussian") {
        let rows = y.len()
            / if loss == LossKind::CrossEntropy {
                1
            } else {
                outputs.max(1)
            };
        let inputs = x.len() / rows.max(1);
        let split = load(d, src, inputs, outputs, loss, train_seed, base_dir(src))?;
        let set = probe_set(&split);
        if set.n < rows {
            let which = if std::ptr::eq(set, &split.train) {
                "training"
            } else {
                "held-out"
            };
            return Err(Error::Spec(
                src.error(
                    d.name_span,
                    format!(
                        "the probe needs {rows} examples but `data {}` has {} {which} ones",
                        d.name, set.n
                    ),
                )
                .with_help(format!("use `--probe {}` or more data", set.n)),
            ));
        }
        copy_rows(set, 0..rows, x, y);
        return Ok(());
    }
    let mut rng = Rng::new(seed, Stream::ProbeInputs);
    for v in x.iter_mut() {
        *v = rng.normal() as f32;
    }
    let mut rng = Rng::new(seed, Stream::ProbeTargets);
    match loss {
        LossKind::CrossEntropy => {
            for v in y.iter_mut() {
                *v = rng.below(outputs as u64) as f32;
            }
        }
        LossKind::Mse => {
            for v in y.iter_mut() {
                *v = rng.normal() as f32;
            }
        }
        LossKind::Bce => {
            for v in y.iter_mut() {
                *v = rng.below(2) as f32;
            }
        }
    }
    Ok(())
}

/// The folder relative paths in a spec's `data` line are read from: the
/// spec file's, or the working directory for `--net` and examples.
pub fn base_dir(src: &Source) -> &Path {
    let p = Path::new(&src.name);
    if p.is_file() {
        p.parent().unwrap_or(Path::new("."))
    } else {
        Path::new(".")
    }
}

/// The set the probe batch comes from: held-out examples when there are
/// any (as Glorot & Bengio), training ones otherwise.
pub fn probe_set(split: &Split) -> &Dataset {
    split
        .test
        .as_ref()
        .filter(|t| t.n > 0)
        .unwrap_or(&split.train)
}

/// Copies examples `rows` of `set` into consecutive rows of `x` and `y`.
pub fn copy_rows(set: &Dataset, rows: impl Iterator<Item = usize>, x: &mut [f32], y: &mut [f32]) {
    let (wx, wy) = (set.inputs, set.target.width());
    for (k, i) in rows.enumerate() {
        x[k * wx..(k + 1) * wx].copy_from_slice(set.x_row(i));
        y[k * wy..(k + 1) * wy].copy_from_slice(set.y_row(i));
    }
}
