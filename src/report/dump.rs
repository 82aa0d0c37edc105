//! `stats --dump DIR`: the probe, weights and gradients as safetensors files
//! (f32 little-endian; labels int64), for independent checks with NumPy or
//! PyTorch. Names (layers numbered from 1):
//!
//! - `weights.safetensors`: `W{l}` (units, fan_in) as `nn.Linear.weight`,
//!   `b{l}` (units), `prelu{l}` (units), `srelu{l}` (4, units) rows t_l, a_l,
//!   t_r, a_r. Metadata: `loss`, and `activations` (JSON list, one
//!   activation per layer as written in a spec).
//! - `probe.safetensors`: `x` (batch, inputs); `y` int64 (batch) class
//!   indices for cross_entropy, f32 (batch, outputs) targets for mse/bce.
//! - `grads.safetensors`: `dW{l}`, `db{l}`, `dprelu{l}`/`dsrelu{l}`,
//!   `delta{l}` = ∂L/∂s_l (batch, units), `a{l}` = f(s_l) (batch, units),
//!   `loss` (1): the batch-mean loss.

use crate::exec::Executor;
use crate::files::{Tensor, f32s, serialize, write_atomic};
use crate::spec::LossKind;
use safetensors::Dtype;
use std::collections::BTreeMap;
use std::io;
use std::path::Path;

/// Writes the three files into `dir` (created if missing). Each file is
/// written under a temporary name and renamed, so a failure never leaves a
/// truncated file.
pub fn dump(exec: &Executor, dir: &Path) -> io::Result<()> {
    let plan = exec.plan();
    let g = &plan.graph;
    std::fs::create_dir_all(dir)?;
    let params = plan.param_tensors();
    let weights: Vec<Tensor> = params
        .iter()
        .map(|t| f32s(t.name.clone(), t.shape.clone(), exec.buf(t.param)))
        .collect();
    // Gradients under the weights' names with a `d`: dW1, db1, dprelu1.
    let mut grads: Vec<Tensor> = params
        .iter()
        .map(|t| f32s(format!("d{}", t.name), t.shape.clone(), exec.buf(t.grad)))
        .collect();
    for (l, bufs) in g.layers.iter().zip(&plan.layers) {
        let i = l.index;
        grads.push(f32s(
            format!("delta{i}"),
            vec![plan.batch, l.units],
            exec.buf(bufs.delta),
        ));
        grads.push(f32s(
            format!("a{i}"),
            vec![plan.batch, l.units],
            exec.buf(bufs.a),
        ));
    }
    grads.push(f32s("loss".into(), vec![1], &[exec.loss() as f32]));
    let y = exec.buf(plan.y);
    let y = if g.loss == LossKind::CrossEntropy {
        Tensor {
            name: "y".into(),
            shape: vec![plan.batch],
            bytes: y.iter().flat_map(|&v| (v as i64).to_le_bytes()).collect(),
            dtype: Dtype::I64,
        }
    } else {
        f32s("y".into(), vec![plan.batch, g.outputs()], y)
    };
    let probe = vec![
        f32s("x".into(), vec![plan.batch, g.input], exec.buf(plan.x)),
        y,
    ];
    let acts: Vec<String> = g.layers.iter().map(|l| l.act.to_string()).collect();
    let meta = BTreeMap::from([
        ("loss".to_owned(), g.loss.name().to_owned()),
        (
            "activations".to_owned(),
            serde_json::to_string(&acts).expect("strings serialize"),
        ),
    ]);
    write(&dir.join("weights.safetensors"), &weights, Some(meta))?;
    write(&dir.join("probe.safetensors"), &probe, None)?;
    write(&dir.join("grads.safetensors"), &grads, None)
}

fn write(
    path: &Path,
    tensors: &[Tensor],
    meta: Option<BTreeMap<String, String>>,
) -> io::Result<()> {
    write_atomic(path, &serialize(tensors, meta.unwrap_or_default()))
}
