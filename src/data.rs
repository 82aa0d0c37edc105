//! Probe batches: the fixed inputs and targets the statistics are measured
//! on, generated deterministically from a seed (never downloaded).

use crate::init::{Rng, Stream};
use crate::spec::{Data, LossKind, Source, SpecError};

/// Fills the probe inputs `x` (rows, inputs) and targets `y` from the
/// spec's data source.
///
/// `gaussian` (the default): x ~ N(0, 1); class labels uniform in
/// [0, outputs) for cross_entropy, N(0, 1) targets for mse, fair coin flips
/// for bce. The seed is the `data seed=` if given, else the train seed.
pub fn fill_probe(
    x: &mut [f32],
    y: &mut [f32],
    loss: LossKind,
    outputs: usize,
    data: Option<&Data>,
    src: &Source,
    train_seed: u64,
) -> Result<(), SpecError> {
    let seed = match data.and_then(|d| d.get("seed")) {
        // Validated by the parser.
        Some(s) => s.parse().unwrap_or(train_seed),
        None => train_seed,
    };
    if let Some(d) = data.filter(|d| d.name != "gaussian") {
        return Err(src
            .error(d.name_span, format!("`data {}` is not available in this version: `stats` measures on a Gaussian probe", d.name))
            .with_help("use `data gaussian`, or remove the `data` line"));
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
