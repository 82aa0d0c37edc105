//! Central differences in f64 on an independent f64 forward pass (written
//! here from the formulas, not from the kernels), compared with the
//! executor's f32 backward: δ = ∂L/∂s, ∂W, ∂b and PReLU/SReLU parameters,
//! for every activation and every loss.
//!
//! Tolerance: per tensor, max|analytic − numeric| ≤ 1e-4·max|numeric|. The
//! f64 differences are exact to ~1e-9 (h = 1e-5, truncation h² ≈ 1e-10,
//! rounding 1e-16/h ≈ 1e-11); the f32 backward carries ~1e-7 relative error
//! per operation over a dozen operations, so ~1e-6. A wrong derivative is
//! off by O(1), far above 1e-4.

use crate::run;
use depthlab::exec::Executor;
use depthlab::spec::{ActSpec, LossKind};

const SELU_LAMBDA: f64 = 1.050_700_987_355_480_5;
const SELU_ALPHA: f64 = 1.673_263_242_354_377_2;

/// f(x) in f64 from DESIGN.md's formulas; `p` are the unit's learnable
/// parameters (PReLU slope; SReLU t_l, a_l, t_r, a_r).
fn act64(act: ActSpec, x: f64, p: &[f64]) -> f64 {
    let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
    match act {
        ActSpec::Identity => x,
        ActSpec::Sigmoid => sigmoid(x),
        ActSpec::Tanh => x.tanh(),
        ActSpec::Softsign => x / (1.0 + x.abs()),
        ActSpec::Relu => x.max(0.0),
        ActSpec::LeakyRelu { a } => {
            if x > 0.0 {
                x
            } else {
                a * x
            }
        }
        ActSpec::Prelu { .. } => {
            if x > 0.0 {
                x
            } else {
                p[0] * x
            }
        }
        ActSpec::Elu { a } => {
            if x > 0.0 {
                x
            } else {
                a * (x.exp() - 1.0)
            }
        }
        ActSpec::Selu => {
            SELU_LAMBDA
                * if x > 0.0 {
                    x
                } else {
                    SELU_ALPHA * (x.exp() - 1.0)
                }
        }
        ActSpec::Srelu { .. } => {
            let (tl, al, tr, ar) = (p[0], p[1], p[2], p[3]);
            if x >= tr {
                tr + ar * (x - tr)
            } else if x <= tl {
                tl + al * (x - tl)
            } else {
                x
            }
        }
        ActSpec::Softplus => {
            if x > 20.0 {
                x
            } else {
                x.exp().ln_1p()
            }
        }
        ActSpec::Gelu => 0.5 * x * (1.0 + libm::erf(x / 2f64.sqrt())),
        ActSpec::Silu => x * sigmoid(x),
    }
}

/// The net's tensors in f64, read from an executor.
#[derive(Clone)]
struct Net {
    acts: Vec<ActSpec>,
    dims: Vec<(usize, usize)>, // (fan_in, units)
    w: Vec<Vec<f64>>,
    b: Vec<Vec<f64>>,
    p: Vec<Vec<f64>>,
    x: Vec<f64>,
    y: Vec<f64>,
    loss: LossKind,
    batch: usize,
}

fn f64s(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| v as f64).collect()
}

impl Net {
    fn read(exec: &Executor) -> Net {
        let plan = exec.plan();
        let g = &plan.graph;
        Net {
            acts: g.layers.iter().map(|l| l.act).collect(),
            dims: g.layers.iter().map(|l| (l.fan_in, l.units)).collect(),
            w: plan.layers.iter().map(|b| f64s(exec.buf(b.w))).collect(),
            b: plan.layers.iter().map(|b| f64s(exec.buf(b.b))).collect(),
            p: plan.layers.iter().map(|b| f64s(exec.buf(b.p))).collect(),
            x: f64s(exec.buf(plan.x)),
            y: f64s(exec.buf(plan.y)),
            loss: g.loss,
            batch: plan.batch,
        }
    }

    /// The batch-mean loss in f64, with `bump` added to s_l[i] if given.
    fn loss(&self, bump: Option<(usize, usize, f64)>) -> f64 {
        let mut a = self.x.clone();
        for (l, &(fan_in, units)) in self.dims.iter().enumerate() {
            let mut next = vec![0.0; self.batch * units];
            for r in 0..self.batch {
                for j in 0..units {
                    let mut s = self.b[l][j];
                    for k in 0..fan_in {
                        s += a[r * fan_in + k] * self.w[l][j * fan_in + k];
                    }
                    if let Some((bl, bi, h)) = bump
                        && bl == l
                        && bi == r * units + j
                    {
                        s += h;
                    }
                    let k = self.p[l].len() / units;
                    let p: Vec<f64> = (0..k).map(|q| self.p[l][q * units + j]).collect();
                    next[r * units + j] = act64(self.acts[l], s, &p);
                }
            }
            a = next;
        }
        let cols = self.dims.last().unwrap().1;
        let n = self.batch as f64;
        match self.loss {
            LossKind::Mse => {
                a.iter()
                    .zip(&self.y)
                    .map(|(p, t)| (p - t) * (p - t))
                    .sum::<f64>()
                    / a.len() as f64
            }
            LossKind::Bce => {
                a.iter()
                    .zip(&self.y)
                    .map(|(&z, &t)| z.max(0.0) - z * t + (-z.abs()).exp().ln_1p())
                    .sum::<f64>()
                    / a.len() as f64
            }
            LossKind::CrossEntropy => {
                a.chunks(cols)
                    .zip(&self.y)
                    .map(|(z, &y)| {
                        let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln() - z[y as usize]
                    })
                    .sum::<f64>()
                    / n
            }
        }
    }
}

/// Central difference of the loss in one coordinate.
fn central(h: f64, mut f: impl FnMut(f64) -> f64) -> f64 {
    (f(h) - f(-h)) / (2.0 * h)
}

/// Central differences of the loss in every entry of the tensor `pick`
/// selects.
fn numeric(net: &Net, h: f64, pick: impl Fn(&mut Net) -> &mut Vec<f64>) -> Vec<f64> {
    let len = pick(&mut net.clone()).len();
    (0..len)
        .map(|i| {
            central(h, |d| {
                let mut n = net.clone();
                pick(&mut n)[i] += d;
                n.loss(None)
            })
        })
        .collect()
}

fn check_tensor(what: &str, analytic: &[f32], numeric: &[f64]) {
    assert_eq!(analytic.len(), numeric.len(), "{what}");
    let scale = numeric.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let err = analytic
        .iter()
        .zip(numeric)
        .fold(0.0f64, |m, (&a, &n)| m.max((a as f64 - n).abs()));
    println!("{what:<40} max |∇| {scale:.3e}  max diff {err:.3e}");
    assert!(
        scale > 0.0 || numeric.is_empty(),
        "{what}: the numeric gradient is all zero; the check would be vacuous"
    );
    assert!(
        err <= 1e-4 * scale,
        "{what}: max diff {err:.3e} > 1e-4 × {scale:.3e}"
    );
}

/// Checks every gradient tensor of a spec against central differences.
fn gradcheck(spec: &str) {
    let exec = run(spec, 4);
    let net = Net::read(&exec);
    let h = 1e-5;
    for (l, bufs) in exec.plan().layers.iter().enumerate() {
        let name = |t: &str| format!("{spec} | {t}{}", l + 1);
        check_tensor(
            &name("dW"),
            exec.buf(bufs.dw),
            &numeric(&net, h, |n| &mut n.w[l]),
        );
        check_tensor(
            &name("db"),
            exec.buf(bufs.db),
            &numeric(&net, h, |n| &mut n.b[l]),
        );
        if !net.p[l].is_empty() {
            check_tensor(
                &name("dp"),
                exec.buf(bufs.dp),
                &numeric(&net, h, |n| &mut n.p[l]),
            );
        }
        let numeric_delta: Vec<f64> = (0..exec.buf(bufs.delta).len())
            .map(|i| central(h, |d| net.loss(Some((l, i, d)))))
            .collect();
        check_tensor(&name("delta"), exec.buf(bufs.delta), &numeric_delta);
    }
    // The f32 forward agrees with the f64 one.
    let (ours, reference) = (exec.loss(), net.loss(None));
    assert!(
        (ours - reference).abs() <= 1e-5 * reference.abs().max(1.0),
        "{spec}: loss {ours} vs f64 {reference}"
    );
}

#[test]
fn every_activation_hidden_and_at_the_output() {
    for act in [
        "identity",
        "sigmoid",
        "tanh",
        "softsign",
        "relu",
        "leaky_relu(a=0.1)",
        "prelu",
        "prelu(init=-0.4)",
        "elu(a=0.7)",
        "selu",
        "srelu(tl=-0.3,al=0.1,tr=0.4,ar=0.5)",
        "softplus",
        "gelu",
        "silu",
    ] {
        gradcheck(&format!(
            "input 5; dense 4 {act} x2; dense 3 {act}; loss mse; train seed=3"
        ));
    }
}

#[test]
fn every_loss() {
    gradcheck("input 5; dense 6 tanh; dense 3; loss cross_entropy; train seed=4");
    gradcheck("input 5; dense 6 tanh; dense 3; loss mse; train seed=4");
    gradcheck("input 5; dense 6 tanh; dense 3; loss bce; train seed=4");
    gradcheck("input 5; dense 6 relu; dense 1; loss bce; train seed=5");
}

#[test]
fn srelu_with_default_parameters_and_inits() {
    gradcheck(
        "input 6; dense 5 srelu init=he_normal bias=normal(0.5); dense 4 gelu init=orthogonal; dense 3 init=glorot_normal; train seed=6",
    );
}
