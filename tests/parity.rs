//! PyTorch parity of the optimizers: each fixture in tests/parity/fixtures
//! (written by tests/parity/make.py, see its README) holds a spec, depthlab's
//! initial parameters and a batch, and what torch.optim (float32,
//! single-tensor) made of them: the batch loss of each of 5 steps on that
//! batch and the parameters after the last. The executor replays the steps
//! from the same parameters; no Python is needed.
//!
//! Tolerance, per element: |depthlab − torch| ≤ 1e-5·|torch| or ≤ 1e-6. The
//! two do the same f32 operations in different orders (gemm sums, fused
//! kernels): PyTorch's own float32 result is within 0.1 of this tolerance of
//! its float64 replay on every fixture (make.py prints it), while a wrong
//! formula (decay on a bias, a missing bias correction, dampening on the
//! first step) is off by 1e-3 or more.

use depthlab::commands::load_spec;
use depthlab::compile::Resources;
use depthlab::graph::Graph;
use depthlab::spec::{LossKind, OptimKind, Overrides};
use depthlab::train::training_executor;
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// The fixtures make.py writes (a missing file fails).
const FIXTURES: usize = 15;
const STEPS: usize = 5;
const REL: f64 = 1e-5;
const ABS: f64 = 1e-6;

/// Optimizer configurations the fixtures must cover between them.
const REQUIRED: &[&str] = &[
    "sgd_plain",
    "sgd_momentum",
    "sgd_dampening",
    "sgd_nesterov",
    "sgd_weight_decay",
    "sgd_weight_decay_momentum",
    "adam",
    "adam_weight_decay",
    "adam_amsgrad",
    "adamw",
    "adamw_amsgrad",
    "maximize",
    "decay_bias_false",
    "layer_weight_decay",
    "act_params_under_decay",
    "act_decay",
];

// Every activation the spec language knows must have a fixture: a new one
// fails this test until `make.py` covers it.
use depthlab::spec::ACTIVATIONS;

const LOSSES: &[&str] = &["mse", "cross_entropy", "bce"];

/// The fixture files, sorted by name.
fn fixture_paths() -> Vec<PathBuf> {
    safetensors_files("tests/parity/fixtures")
}

/// The `.safetensors` files in `folder` (from the crate root), sorted.
pub fn safetensors_files(folder: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(folder);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    paths.sort();
    paths
}

/// One fixture file, read.
struct Fixture {
    name: String,
    bytes: Vec<u8>,
    spec: String,
    covers: String,
}

impl Fixture {
    fn read(path: &PathBuf) -> Fixture {
        let bytes = std::fs::read(path).unwrap();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
        let meta = header.metadata().clone().unwrap_or_default();
        let get = |key: &str| {
            meta.get(key)
                .unwrap_or_else(|| panic!("{name}: no `{key}` metadata"))
                .clone()
        };
        assert_eq!(get("steps"), STEPS.to_string(), "{name}");
        let (spec, covers) = (get("spec"), get("covers"));
        Fixture {
            name,
            bytes,
            spec,
            covers,
        }
    }

    fn tensors(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.bytes).unwrap()
    }
}

/// An f32 tensor's values and shape.
fn floats(st: &SafeTensors, name: &str) -> (Vec<f32>, Vec<usize>) {
    let t = st.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(t.dtype(), Dtype::F32, "{name}");
    let v = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    (v, t.shape().to_vec())
}

/// The configuration tags of a spec, derived as make.py's `covers` does.
fn tags(graph: &Graph, spec: &depthlab::spec::Spec) -> BTreeSet<String> {
    let o = spec.optimizer();
    let mut t = BTreeSet::new();
    let mut add = |s: &str| {
        t.insert(s.to_owned());
    };
    let decays: Vec<f64> = graph
        .layers
        .iter()
        .map(|l| l.weight_decay.unwrap_or(o.weight_decay))
        .collect();
    let any_decay = decays.iter().any(|&d| d != 0.0);
    match o.kind {
        OptimKind::Sgd => {
            add("sgd");
            if o.momentum == 0.0 && !any_decay && !o.maximize {
                add("sgd_plain");
            }
            if o.momentum != 0.0 {
                add("sgd_momentum");
            }
            if o.dampening != 0.0 {
                add("sgd_dampening");
            }
            if o.nesterov {
                add("sgd_nesterov");
            }
            if any_decay {
                add("sgd_weight_decay");
                if o.momentum != 0.0 {
                    add("sgd_weight_decay_momentum");
                }
            }
        }
        OptimKind::Adam | OptimKind::AdamW => {
            let kind = o.kind.name();
            add(kind);
            if any_decay {
                add(&format!("{kind}_weight_decay"));
            }
            if o.amsgrad {
                add(&format!("{kind}_amsgrad"));
            }
        }
    }
    if o.maximize {
        add("maximize");
    }
    if any_decay && !o.decay_bias {
        add("decay_bias_false");
    }
    for (l, &decay) in graph.layers.iter().zip(&decays) {
        let name = l.act.name();
        add(&format!("act:{name}"));
        if l.weight_decay.is_some() {
            add("layer_weight_decay");
        }
        if l.act_params() > 0 {
            if l.act_decay.is_some() {
                add("act_decay");
            } else if decay != 0.0 {
                add("act_params_under_decay");
            }
        }
    }
    add(&format!("loss:{}", graph.loss.name()));
    t
}

fn parse(f: &Fixture) -> (depthlab::spec::Spec, Graph) {
    let spec = load_spec(None, Some(&f.spec), &Overrides::default())
        .unwrap_or_else(|e| panic!("{}: {e}", f.name));
    let graph = Graph::check(&spec).unwrap_or_else(|e| panic!("{}: {e}", f.name));
    (spec, graph)
}

fn within(got: f64, want: f64) -> bool {
    let d = (got - want).abs();
    d <= REL * want.abs() || d <= ABS
}

/// Element-wise comparison of one tensor: the largest absolute and
/// relative differences, and the worst element against the tolerance.
#[derive(Default)]
struct Diff {
    max_abs: f64,
    max_rel: f64,
    /// Largest |a − b| / max(1e-5·|b|, 1e-6): at most 1 passes.
    max_excess: f64,
    failures: usize,
    /// (index, depthlab, torch) of the element furthest outside.
    worst: Option<(usize, f32, f32, f64)>,
}

fn compare(got: &[f32], want: &[f32]) -> Diff {
    assert_eq!(got.len(), want.len());
    let mut d = Diff::default();
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let abs = (g as f64 - w as f64).abs();
        d.max_abs = d.max_abs.max(abs);
        if w != 0.0 {
            d.max_rel = d.max_rel.max(abs / (w as f64).abs());
        }
        // How many tolerances out.
        let excess = abs / (REL * (w as f64).abs()).max(ABS);
        d.max_excess = d.max_excess.max(excess);
        if !within(g as f64, w as f64) {
            d.failures += 1;
            if d.worst.is_none_or(|(.., e)| excess > e) {
                d.worst = Some((i, g, w, excess));
            }
        }
    }
    d
}

/// Replays one fixture; returns a summary line and the failures.
fn replay(f: &Fixture) -> (String, Vec<String>) {
    let st = f.tensors();
    let (spec, graph) = parse(f);
    let (x, x_shape) = floats(&st, "x");
    let batch = x_shape[0];
    let mut exec = training_executor(&spec, &graph, batch, Resources::default())
        .unwrap_or_else(|e| panic!("{}: {e}", f.name));
    let params = exec.plan().param_tensors();

    // The fixture names exactly the executor's parameters.
    let mut names: Vec<String> = st
        .names()
        .into_iter()
        .filter_map(|n| n.strip_prefix("init.").map(str::to_owned))
        .collect();
    names.sort();
    let mut expected: Vec<String> = params.iter().map(|p| p.name.clone()).collect();
    expected.sort();
    assert_eq!(names, expected, "{}: parameters", f.name);

    for p in &params {
        let (v, shape) = floats(&st, &format!("init.{}", p.name));
        assert_eq!(shape, p.shape, "{}: init.{}", f.name, p.name);
        exec.buf_mut(p.param).copy_from_slice(&v);
    }
    let (x_buf, y_buf) = (exec.plan().x, exec.plan().y);
    assert_eq!(x_shape, [batch, graph.input], "{}: x", f.name);
    exec.buf_mut(x_buf).copy_from_slice(&x);
    let (y, y_shape) = floats(&st, "y");
    let want_y = if graph.loss == LossKind::CrossEntropy {
        vec![batch]
    } else {
        vec![batch, graph.outputs()]
    };
    assert_eq!(y_shape, want_y, "{}: y", f.name);
    exec.buf_mut(y_buf).copy_from_slice(&y);

    let (losses, shape) = floats(&st, "losses");
    assert_eq!(shape, [STEPS], "{}: losses", f.name);
    let mut failures = Vec::new();
    let mut loss_rel = 0.0f64;
    for (t, &want) in losses.iter().enumerate() {
        exec.run();
        let got = exec.loss();
        let want = want as f64;
        loss_rel = loss_rel.max((got - want).abs() / want.abs());
        if !within(got, want) {
            failures.push(format!(
                "{}: loss of step {} is {got}, torch {want} (diff {:.3e})",
                f.name,
                t + 1,
                (got - want).abs()
            ));
        }
    }

    let (mut max_abs, mut max_rel, mut max_excess, mut moved) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for p in &params {
        let (want, shape) = floats(&st, &format!("final.{}", p.name));
        assert_eq!(shape, p.shape, "{}: final.{}", f.name, p.name);
        let (init, _) = floats(&st, &format!("init.{}", p.name));
        let got = exec.buf(p.param);
        let d = compare(got, &want);
        max_abs = max_abs.max(d.max_abs);
        max_rel = max_rel.max(d.max_rel);
        max_excess = max_excess.max(d.max_excess);
        moved = moved.max(compare(&init, &want).max_abs);
        if let Some((i, g, w, excess)) = d.worst {
            failures.push(format!(
                "{}: {} has {} of {} elements outside 1e-5 rel / 1e-6 abs \
                 (max abs diff {:.3e}, max rel diff {:.3e}); worst [{i}]: \
                 depthlab {g:e}, torch {w:e}, {excess:.1}× the tolerance",
                f.name,
                p.name,
                d.failures,
                want.len(),
                d.max_abs,
                d.max_rel
            ));
        }
    }
    // A fixture whose parameters barely move would test nothing.
    assert!(moved > 0.05, "{}: parameters moved only {moved}", f.name);
    let summary = format!(
        "{:42} loss rel {loss_rel:.2e}  params max abs {max_abs:.2e} \
         max rel {max_rel:.2e} ({max_excess:.3} of the tolerance)",
        f.name
    );
    (summary, failures)
}

#[test]
fn fixtures_cover_every_optimizer_config_activation_and_loss() {
    let paths = fixture_paths();
    assert_eq!(
        paths.len(),
        FIXTURES,
        "tests/parity/fixtures has {} files, make.py writes {FIXTURES}: {paths:?}",
        paths.len()
    );
    let mut all = BTreeSet::new();
    for path in &paths {
        let f = Fixture::read(path);
        let (spec, graph) = parse(&f);
        let derived = tags(&graph, &spec);
        let declared: BTreeSet<String> = f.covers.split(',').map(str::to_owned).collect();
        assert_eq!(declared, derived, "{}: `covers` vs the spec", f.name);
        all.extend(derived);
    }
    let required = REQUIRED
        .iter()
        .map(|s| s.to_string())
        .chain(ACTIVATIONS.iter().map(|a| format!("act:{a}")))
        .chain(LOSSES.iter().map(|l| format!("loss:{l}")));
    let missing: Vec<String> = required.filter(|r| !all.contains(r)).collect();
    assert!(missing.is_empty(), "no fixture covers {missing:?}");
}

#[test]
fn optimizer_steps_match_pytorch() {
    let paths = fixture_paths();
    assert_eq!(paths.len(), FIXTURES, "{paths:?}");
    let mut failures = Vec::new();
    for path in &paths {
        let (summary, f) = replay(&Fixture::read(path));
        println!("{summary}");
        failures.extend(f);
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
