//! The optimizer kernels against torch.optim's own bits: each fixture in
//! tests/parity/steps (written by tests/parity/make_steps.py) holds a
//! parameter, three gradients and what torch's single-tensor SGD, Adam or
//! AdamW step made of them, state included. The kernels replay the steps
//! from torch's inputs and must give torch's float32 results exactly (Adam's
//! θ: within an ulp where torch's square root is not IEEE's, see
//! `adam_update`). Native FMA builds only: the kernels round like torch's
//! vector code where FMA is compiled in (an SSE2 build fuses nothing).

#![cfg(target_feature = "fma")]

use depthlab_kernels::update::{Adam, AdamConfig, Sgd, SgdConfig, adam_update, sgd_update};
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;
use std::path::PathBuf;

/// The configurations make_steps.py writes (a missing file fails).
const FIXTURES: usize = 12;

/// One fixture: its tensors by name (rows of `n` values), optimizer and
/// torch's hyper-parameters.
struct Steps {
    name: String,
    kind: String,
    hyper: Value,
    tensors: Vec<(String, Vec<f32>)>,
    n: usize,
}

impl Steps {
    fn read(path: &PathBuf) -> Steps {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(path).unwrap();
        let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
        let meta = header.metadata().clone().unwrap_or_default();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let mut tensors = Vec::new();
        for (t_name, t) in st.tensors() {
            assert_eq!(t.dtype(), Dtype::F32, "{name}: {t_name}");
            let v = t.data().chunks_exact(4);
            let v = v.map(|b| f32::from_le_bytes(b.try_into().unwrap()));
            tensors.push((t_name, v.collect()));
        }
        let n = st.tensor("theta0").unwrap().shape()[0];
        Steps {
            kind: meta["optimizer"].clone(),
            hyper: serde_json::from_str(&meta["hyper"]).unwrap(),
            name,
            tensors,
            n,
        }
    }

    /// Row `step` of tensor `name` (the whole tensor for `theta0`).
    fn row(&self, name: &str, step: usize) -> &[f32] {
        let found = self.tensors.iter().find(|(t, _)| t == name);
        let (_, v) = found.unwrap_or_else(|| panic!("{}: no `{name}` tensor", self.name));
        let v = &v[..];
        if name == "theta0" {
            v
        } else {
            &v[step * self.n..(step + 1) * self.n]
        }
    }

    fn hyper(&self, key: &str, default: f64) -> f64 {
        self.hyper
            .get(key)
            .and_then(Value::as_f64)
            .unwrap_or(default)
    }

    fn flag(&self, key: &str) -> bool {
        self.hyper
            .get(key)
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

fn fixtures() -> Vec<Steps> {
    let paths = crate::parity::safetensors_files("tests/parity/steps");
    assert_eq!(paths.len(), FIXTURES, "{paths:?}");
    paths.iter().map(Steps::read).collect()
}

/// Distance in ulps between two finite floats of the same sign.
fn ulps(a: f32, b: f32) -> u32 {
    (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
}

/// Elements of `got` that are not `want`'s bits, as "i: got vs want".
fn differences(got: &[f32], want: &[f32]) -> Vec<String> {
    let pairs = got.iter().zip(want).enumerate();
    pairs
        .filter(|(_, (g, w))| g.to_bits() != w.to_bits())
        .map(|(i, (g, w))| format!("{i}: {g:e} vs {w:e}"))
        .collect()
}

fn replay_sgd(f: &Steps) -> Vec<String> {
    let c = SgdConfig {
        lr: f.hyper("lr", 1e-3),
        momentum: f.hyper("momentum", 0.0),
        dampening: f.hyper("dampening", 0.0),
        nesterov: f.flag("nesterov"),
        weight_decay: f.hyper("weight_decay", 0.0),
        maximize: f.flag("maximize"),
        l2: 0.0,
    };
    let mut theta = f.row("theta0", 0).to_vec();
    let mut buf = vec![0.0; if c.momentum != 0.0 { f.n } else { 0 }];
    let mut failures = Vec::new();
    for step in 0..3 {
        sgd_update(
            &mut theta,
            &mut buf,
            f.row("grad", step),
            &Sgd::new(&c, step == 0),
        );
        let mut wrong = differences(&theta, f.row("theta", step));
        if c.momentum != 0.0 {
            wrong.extend(differences(&buf, f.row("buf", step)));
        }
        if !wrong.is_empty() {
            failures.push(format!("{} step {}: {wrong:?}", f.name, step + 1));
        }
        // The next step starts from torch's values, so one step's miss is
        // reported once.
        theta.copy_from_slice(f.row("theta", step));
        if c.momentum != 0.0 {
            buf.copy_from_slice(f.row("buf", step));
        }
    }
    failures
}

fn replay_adam(f: &Steps) -> Vec<String> {
    let betas = f.hyper.get("betas").and_then(Value::as_array);
    let beta = |i: usize, d: f64| betas.map_or(d, |b| b[i].as_f64().unwrap());
    let c = AdamConfig {
        lr: f.hyper("lr", 1e-3),
        beta1: beta(0, 0.9),
        beta2: beta(1, 0.999),
        eps: f.hyper("eps", 1e-8),
        weight_decay: f.hyper("weight_decay", if f.kind == "adamw" { 1e-2 } else { 0.0 }),
        decoupled: f.kind == "adamw",
        amsgrad: f.flag("amsgrad"),
        maximize: f.flag("maximize"),
        l2: 0.0,
    };
    let mut theta = f.row("theta0", 0).to_vec();
    let (mut m, mut v) = (vec![0.0; f.n], vec![0.0; f.n]);
    let mut vmax = vec![0.0; if c.amsgrad { f.n } else { 0 }];
    let mut failures = Vec::new();
    let mut exact = 0;
    for step in 0..3 {
        let h = Adam::at_step(&c, step as u64 + 1);
        adam_update(
            &mut theta,
            &mut m,
            &mut v,
            &mut vmax,
            f.row("grad", step),
            &h,
        );
        let mut wrong = differences(&m, f.row("m", step));
        wrong.extend(differences(&v, f.row("v", step)));
        if c.amsgrad {
            wrong.extend(differences(&vmax, f.row("vmax", step)));
        }
        let want = f.row("theta", step);
        let far = theta.iter().zip(want).filter(|&(&g, &w)| ulps(g, w) > 1);
        wrong.extend(far.map(|(g, w)| format!("θ {g:e} vs {w:e}")));
        exact += theta.iter().zip(want).filter(|&(g, w)| g == w).count();
        if !wrong.is_empty() {
            failures.push(format!("{} step {}: {wrong:?}", f.name, step + 1));
        }
        theta.copy_from_slice(want);
        m.copy_from_slice(f.row("m", step));
        v.copy_from_slice(f.row("v", step));
        if c.amsgrad {
            vmax.copy_from_slice(f.row("vmax", step));
        }
    }
    // An ulp apart only where torch's √v is (~0.6 % of elements): a
    // rounding of depthlab's own would miss far more.
    if exact < 3 * f.n * 97 / 100 {
        failures.push(format!("{}: θ exact in {exact} of {}", f.name, 3 * f.n));
    }
    failures
}

/// Every fixture's steps give torch's bits.
#[test]
fn optimizer_steps_give_torchs_bits() {
    let mut failures = Vec::new();
    let mut kinds = Vec::new();
    for f in fixtures() {
        failures.extend(match f.kind.as_str() {
            "sgd" => replay_sgd(&f),
            "adam" | "adamw" => replay_adam(&f),
            other => panic!("{}: optimizer {other}", f.name),
        });
        kinds.push(f.kind);
    }
    for k in ["sgd", "adam", "adamw"] {
        assert!(kinds.iter().any(|x| x == k), "no {k} fixture");
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
