//! `depthlab check`: the compiled plan.

use crate::compile::{Purpose, Resources};
use crate::error::Error;
use crate::graph::Graph;
use crate::spec::Spec;
use crate::train::compile_for;

/// The compiled plan for a batch of `batch` rows, as `depthlab check`
/// prints it: the statistics plan, or with `train` the training step's.
pub fn check(
    spec: &Spec,
    batch: usize,
    train: bool,
    resources: Resources,
) -> Result<String, Error> {
    let graph = Graph::check(spec)?;
    let optim = spec.optimizer();
    let purpose = if train {
        Purpose::Train(&optim)
    } else {
        Purpose::Stats
    };
    let plan = compile_for(spec, &graph, batch, purpose, resources)?;
    let default = |given: bool, what: &str| {
        if given {
            String::new()
        } else {
            format!(" (default: no `{what}` line)")
        }
    };
    Ok(format!(
        "spec: {}\noptim: {}{}\ndata:  {}{}\ntrain: {}\n{plan}",
        spec.label(),
        optim,
        default(spec.optim.is_some(), "optim"),
        spec.data_or_default(),
        default(spec.data.is_some(), "data"),
        spec.train,
    ))
}
