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
use crate::plan::{Buf, Plan};
use crate::spec::LossKind;
use safetensors::Dtype;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

pub fn f32s(name: String, shape: Vec<usize>, data: &[f32]) -> Tensor {
    Tensor {
        name,
        shape,
        bytes: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        dtype: Dtype::F32,
    }
}

/// A learnable tensor under the weights file's name, with its buffer, its
/// gradient's buffer and its shape.
pub struct ParamTensor {
    pub name: String,
    pub param: Buf,
    pub grad: Buf,
    pub shape: Vec<usize>,
}

/// The learnable tensors of `plan`: `W{l}`, `b{l}`, then
/// `prelu{l}`/`srelu{l}`, layer by layer.
pub fn param_tensors(plan: &Plan) -> Vec<ParamTensor> {
    let mut out = Vec::new();
    for (l, bufs) in plan.graph.layers.iter().zip(&plan.layers) {
        let i = l.index;
        let t = |name: String, param, grad, shape| ParamTensor {
            name,
            param,
            grad,
            shape,
        };
        out.push(t(format!("W{i}"), bufs.w, bufs.dw, vec![l.units, l.fan_in]));
        out.push(t(format!("b{i}"), bufs.b, bufs.db, vec![l.units]));
        let name = format!("{}{i}", l.act.name());
        match l.act.kernel().params_per_unit() {
            0 => {}
            1 => out.push(t(name, bufs.p, bufs.dp, vec![l.units])),
            k => out.push(t(name, bufs.p, bufs.dp, vec![k, l.units])),
        }
    }
    out
}

/// Writes the three files into `dir` (created if missing). Each file is
/// written under a temporary name and renamed, so a failure never leaves a
/// truncated file.
pub fn dump(exec: &Executor, dir: &Path) -> io::Result<()> {
    let plan = exec.plan();
    let g = &plan.graph;
    std::fs::create_dir_all(dir)?;
    let params = param_tensors(plan);
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

/// A tensor to write: name, shape, little-endian bytes, dtype.
pub struct Tensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
    pub dtype: Dtype,
}

/// The safetensors bytes of `tensors` with `meta`, deterministic: the
/// header lists the metadata then the tensors in name order (the
/// safetensors crate writes its metadata map in hash order, so two saves
/// of the same state would differ), padded with spaces to a multiple of 8
/// bytes as the format recommends; the data follows in the same order.
pub fn serialize(tensors: &[Tensor], meta: BTreeMap<String, String>) -> Vec<u8> {
    let mut order: Vec<&Tensor> = tensors.iter().collect();
    order.sort_by(|a, b| a.name.cmp(&b.name));
    let mut header = serde_json::Map::new();
    if !meta.is_empty() {
        header.insert("__metadata__".into(), serde_json::json!(meta));
    }
    let mut offset = 0;
    for t in &order {
        let dtype = match t.dtype {
            Dtype::I64 => "I64",
            _ => "F32",
        };
        header.insert(
            t.name.clone(),
            serde_json::json!({ "dtype": dtype, "shape": t.shape, "data_offsets": [offset, offset + t.bytes.len()] }),
        );
        offset += t.bytes.len();
    }
    let mut text = serde_json::to_string(&header).expect("a JSON value always serializes");
    while !text.len().is_multiple_of(8) {
        text.push(' ');
    }
    let mut out = Vec::with_capacity(8 + text.len() + offset);
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    for t in &order {
        out.extend_from_slice(&t.bytes);
    }
    out
}

/// Writes `bytes` to `path` through a temporary file in the same folder and
/// a rename, so readers never see a partial file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = PathBuf::from(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    tmp.set_file_name(format!(".{name}.tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
