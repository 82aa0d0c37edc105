//! Command-line flags that override spec lines, so a spec is a starting
//! point: `--act`, `--init`, `--depth`, `--width`, `--seed`, `--lr`,
//! `--weight-decay`, `--epochs`, `--steps`, `--batch`.

use super::error::{Source, SpecError};
use super::parse::{parse_activation, parse_init};
use super::syntax::single_value;
use super::{Optim, Spec};

/// Values given on the command line; `None` leaves the spec as written.
///
/// "Hidden" lines are all `dense` lines but the last (the output layer).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// Activation of every hidden layer, e.g. `relu` or `leaky_relu(a=0.1)`.
    pub act: Option<String>,
    /// Weight init of every layer, output included, e.g. `he_normal`.
    pub init: Option<String>,
    /// Repeat count of the last hidden line written with `xK` (or of the
    /// last hidden line if none has one).
    pub depth: Option<usize>,
    /// Units of every hidden layer.
    pub width: Option<usize>,
    /// The `train seed=` (weights and probe data derive from it).
    pub seed: Option<u64>,
    /// The optimizer's `lr=` (a spec without `optim` line gets Adam's
    /// defaults first).
    pub lr: Option<f64>,
    /// The optimizer's `weight_decay=` (per-layer values still win).
    pub weight_decay: Option<f64>,
    /// The loss's `l2=ρ`.
    pub l2: Option<f64>,
    /// `train epochs=`, `steps=`, `batch=`.
    pub epochs: Option<usize>,
    pub steps: Option<usize>,
    pub batch: Option<usize>,
}

impl Overrides {
    /// Applies the overrides to `spec`; errors point into the flag's text.
    pub fn apply(&self, spec: &mut Spec) -> Result<(), SpecError> {
        let hidden = spec.dense.len().saturating_sub(1);
        if let Some(text) = &self.act {
            let src = Source::new("--act", text.as_str());
            let act = parse_activation(&src, &single_value(&src)?)?;
            for d in &mut spec.dense[..hidden] {
                d.act = Some((act, d.span));
            }
        }
        if let Some(text) = &self.init {
            let src = Source::new("--init", text.as_str());
            let init = parse_init(&src, &single_value(&src)?)?;
            for d in &mut spec.dense {
                d.init = Some((init, d.span));
            }
        }
        let whole = |flag: &str| {
            spec.source.error_whole(format!(
                "`{flag}` needs a hidden `dense` line (one before the output layer)"
            ))
        };
        if let Some(width) = self.width {
            if hidden == 0 {
                return Err(whole("--width"));
            }
            for d in &mut spec.dense[..hidden] {
                d.units = width;
            }
        }
        if let Some(depth) = self.depth {
            if hidden == 0 {
                return Err(whole("--depth"));
            }
            let idx = spec.dense[..hidden]
                .iter()
                .rposition(|d| d.repeat_span.is_some())
                .unwrap_or(hidden - 1);
            spec.dense[idx].repeat = depth;
        }
        if let Some(seed) = self.seed {
            spec.train.seed = seed;
        }
        for (flag, value) in [
            ("--lr", self.lr),
            ("--weight-decay", self.weight_decay),
            ("--l2", self.l2),
        ] {
            let Some(v) = value else { continue };
            // Finite in f32 too, as in the spec text.
            if !((v as f32).is_finite() && v >= 0.0) {
                return Err(spec.source.error_whole(format!(
                    "`{flag}` must be a number ≥ 0 that fits f32 (at most {:e}), found {v}",
                    f32::MAX
                )));
            }
            match flag {
                "--l2" => spec.l2.rho = v,
                "--lr" => spec.optim.get_or_insert_with(Optim::default).lr = v,
                _ => spec.optim.get_or_insert_with(Optim::default).weight_decay = v,
            }
        }
        if let Some(epochs) = self.epochs {
            spec.train.epochs = epochs;
            // An explicit epoch count wins over the spec's `steps=`.
            spec.train.steps = None;
        }
        if let Some(steps) = self.steps {
            spec.train.steps = Some(steps);
        }
        if let Some(batch) = self.batch {
            spec.train.batch = batch;
        }
        spec.overrides.extend(self.flags());
        Ok(())
    }

    /// The flags given, as written on a command line (`--act relu`).
    pub fn flags(&self) -> Vec<String> {
        let text = |flag: &str, v: &Option<String>| v.as_ref().map(|v| format!("{flag} {v}"));
        let shown = |flag: &str, v: Option<String>| v.map(|v| format!("{flag} {v}"));
        [
            text("--act", &self.act),
            text("--init", &self.init),
            shown("--width", self.width.map(|v| v.to_string())),
            shown("--depth", self.depth.map(|v| v.to_string())),
            shown("--seed", self.seed.map(|v| v.to_string())),
            shown("--lr", self.lr.map(|v| v.to_string())),
            shown("--weight-decay", self.weight_decay.map(|v| v.to_string())),
            shown("--l2", self.l2.map(|v| v.to_string())),
            shown("--epochs", self.epochs.map(|v| v.to_string())),
            shown("--steps", self.steps.map(|v| v.to_string())),
            shown("--batch", self.batch.map(|v| v.to_string())),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}
