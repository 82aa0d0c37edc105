//! Seeded randomness and the weight initializers of DESIGN.md.
//!
//! A seed must give the same network forever, so nothing here depends on a
//! distribution crate's algorithm: uniforms come straight from ChaCha8's
//! 64-bit output and normals from Box–Muller in f64. Every tensor draws from
//! its own ChaCha stream (see [`Stream`]), so layer 3's weights do not change
//! when layer 2 gets wider.

use crate::graph::Layer;
use crate::spec::{ActSpec, Gain, InitSpec};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// Which tensor a random stream feeds.
#[derive(Clone, Copy, Debug)]
pub enum Stream {
    Weights(usize),
    Bias(usize),
    /// `data gaussian`'s held-out inputs. (Their ids are those of the probe
    /// `stats` once drew apart from the data layer: its first rows are that
    /// probe, so the statistics did not move when the probe path became
    /// one.)
    GaussianTestInputs,
    /// `data gaussian`'s held-out targets (labels or regression targets).
    GaussianTestTargets,
    /// A data generator's training examples ([`crate::dataset`]).
    DataTrain,
    /// A data generator's held-out test examples.
    DataTest,
    /// The fixed parts of a generator's distribution, shared by its train
    /// and test sets: blob centres, teacher weights.
    DataModel,
    /// The example order of one training epoch
    /// ([`crate::dataset::shuffled_order`]); epochs ≥ 2³² wrap around.
    Shuffle(u64),
}

impl Stream {
    fn id(self) -> u64 {
        match self {
            Stream::Weights(l) => l as u64,
            Stream::Bias(l) => (1 << 32) | l as u64,
            Stream::GaussianTestInputs => 2 << 32,
            Stream::GaussianTestTargets => (2 << 32) | 1,
            Stream::DataTrain => 3 << 32,
            Stream::DataTest => (3 << 32) | 1,
            Stream::DataModel => (3 << 32) | 2,
            Stream::Shuffle(epoch) => (4 << 32) | (epoch & 0xFFFF_FFFF),
        }
    }
}

/// A portable seeded generator (ChaCha8, one stream per tensor).
pub struct Rng {
    inner: ChaCha8Rng,
    spare: Option<f64>,
}

impl Rng {
    pub fn new(seed: u64, stream: Stream) -> Self {
        let mut inner = ChaCha8Rng::seed_from_u64(seed);
        inner.set_stream(stream.id());
        Rng { inner, spare: None }
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.inner.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [-a, a).
    pub fn symmetric(&mut self, a: f64) -> f64 {
        a * (2.0 * self.uniform() - 1.0)
    }

    /// Standard normal, Box–Muller (both values of a pair are used).
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        // 1 - u lies in (0, 1], so the log is finite.
        let r = (-2.0 * (1.0 - self.uniform()).ln()).sqrt();
        let theta = std::f64::consts::TAU * self.uniform();
        self.spare = Some(r * theta.sin());
        r * theta.cos()
    }

    /// Uniform integer in [0, n), unbiased (rejection sampling).
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let v = self.inner.next_u64();
            if v < zone {
                return v % n;
            }
        }
    }
}

/// He's gain h = √(2/(1+a²)) for a leaky/parametric ReLU of slope a, √2
/// otherwise (He et al. 2015).
fn he_gain(act: ActSpec) -> f64 {
    let a = act.negative_slope().unwrap_or(0.0);
    (2.0 / (1.0 + a * a)).sqrt()
}

fn resolve(gain: Gain, act: ActSpec) -> f64 {
    match gain {
        Gain::Auto => act.gain(),
        Gain::Value(g) => g,
    }
}

/// Fills W (units, fan_in) from the layer's init and the seed.
pub fn init_weights(w: &mut [f32], layer: &Layer, seed: u64) {
    debug_assert_eq!(w.len(), layer.units * layer.fan_in);
    let mut rng = Rng::new(seed, Stream::Weights(layer.index));
    let (fan_in, fan_out) = (layer.fan_in as f64, layer.units as f64);
    let inv_sqrt_fan_in = 1.0 / fan_in.sqrt();
    match layer.init {
        InitSpec::Normal { std } => fill_normal(w, &mut rng, std),
        InitSpec::Uniform { a } => fill_uniform(w, &mut rng, a),
        InitSpec::Standard | InitSpec::Torch => fill_uniform(w, &mut rng, inv_sqrt_fan_in),
        InitSpec::GlorotUniform { gain } => fill_uniform(
            w,
            &mut rng,
            resolve(gain, layer.act) * (6.0 / (fan_in + fan_out)).sqrt(),
        ),
        InitSpec::GlorotNormal { gain } => fill_normal(
            w,
            &mut rng,
            resolve(gain, layer.act) * (2.0 / (fan_in + fan_out)).sqrt(),
        ),
        InitSpec::HeNormal => fill_normal(w, &mut rng, he_gain(layer.act) * inv_sqrt_fan_in),
        InitSpec::HeUniform => {
            fill_uniform(w, &mut rng, he_gain(layer.act) * (3.0 / fan_in).sqrt())
        }
        InitSpec::LecunNormal => fill_normal(w, &mut rng, inv_sqrt_fan_in),
        InitSpec::LecunUniform => fill_uniform(w, &mut rng, (3.0 / fan_in).sqrt()),
        InitSpec::Orthogonal { gain } => orthogonal(
            w,
            &mut rng,
            layer.units,
            layer.fan_in,
            resolve(gain, layer.act),
        ),
        InitSpec::Zeros => w.fill(0.0),
        InitSpec::Const { c } => w.fill(c as f32),
    }
}

/// Fills b (units) from the layer's bias init: `torch` and `standard` give
/// U[±1/√fan_in] (nn.Linear's bias), the rest as for weights.
pub fn init_bias(b: &mut [f32], layer: &Layer, seed: u64) {
    debug_assert_eq!(b.len(), layer.units);
    let mut rng = Rng::new(seed, Stream::Bias(layer.index));
    match layer.bias {
        InitSpec::Normal { std } => fill_normal(b, &mut rng, std),
        InitSpec::Uniform { a } => fill_uniform(b, &mut rng, a),
        InitSpec::Torch | InitSpec::Standard => {
            fill_uniform(b, &mut rng, 1.0 / (layer.fan_in as f64).sqrt())
        }
        InitSpec::Const { c } => b.fill(c as f32),
        // The parser only lets bias-shaped inits through; zeros otherwise.
        _ => b.fill(0.0),
    }
}

/// Fills the learnable activation parameters (parameter-major, see
/// [`depthlab_kernels::Activation`]): PReLU's slope, SReLU's (t_l, a_l, t_r, a_r).
pub fn init_act_params(p: &mut [f32], layer: &Layer) {
    debug_assert_eq!(p.len(), layer.act_params());
    let values: &[f64] = match layer.act {
        ActSpec::Prelu { init } => &[init],
        ActSpec::Srelu { tl, al, tr, ar } => &[tl, al, tr, ar],
        _ => &[],
    };
    for (block, &v) in p.chunks_exact_mut(layer.units.max(1)).zip(values) {
        block.fill(v as f32);
    }
}

fn fill_uniform(x: &mut [f32], rng: &mut Rng, a: f64) {
    for v in x {
        *v = rng.symmetric(a) as f32;
    }
}

fn fill_normal(x: &mut [f32], rng: &mut Rng, std: f64) {
    for v in x {
        *v = (std * rng.normal()) as f32;
    }
}

/// torch.nn.init.orthogonal_: a Gaussian (rows, cols) matrix, made tall by
/// transposing if needed, orthonormalized (Q of its QR with R's diagonal
/// made positive, which is what Gram–Schmidt yields), transposed back and
/// scaled by `gain`. Gram–Schmidt runs twice per column for stability.
fn orthogonal(w: &mut [f32], rng: &mut Rng, rows: usize, cols: usize, gain: f64) {
    let g: Vec<f64> = (0..rows * cols).map(|_| rng.normal()).collect();
    let transpose = rows < cols;
    let (m, n) = if transpose {
        (cols, rows)
    } else {
        (rows, cols)
    };
    // Tall matrix stored column-major: column j is q[j*m..(j+1)*m].
    let mut q = vec![0.0f64; m * n];
    for j in 0..n {
        for i in 0..m {
            q[j * m + i] = if transpose {
                g[j * cols + i]
            } else {
                g[i * cols + j]
            };
        }
    }
    for j in 0..n {
        let (done, rest) = q.split_at_mut(j * m);
        let col = &mut rest[..m];
        for _ in 0..2 {
            for prev in done.chunks_exact(m) {
                let dot: f64 = prev.iter().zip(col.iter()).map(|(a, b)| a * b).sum();
                for (c, p) in col.iter_mut().zip(prev) {
                    *c -= dot * p;
                }
            }
        }
        let norm = col.iter().map(|v| v * v).sum::<f64>().sqrt();
        for c in col.iter_mut() {
            *c /= norm;
        }
    }
    for i in 0..rows {
        for j in 0..cols {
            let v = if transpose {
                q[i * m + j]
            } else {
                q[j * m + i]
            };
            w[i * cols + j] = (gain * v) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(init: InitSpec, act: ActSpec, fan_in: usize, units: usize) -> Layer {
        Layer {
            index: 1,
            fan_in,
            units,
            act,
            init,
            bias: InitSpec::Zeros,
            weight_decay: None,
            act_decay: None,
            line: 1,
        }
    }

    fn var(x: &[f32]) -> f64 {
        let n = x.len() as f64;
        let m = x.iter().map(|&v| v as f64).sum::<f64>() / n;
        x.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / n
    }

    #[test]
    fn variances_match_the_formulas() {
        let (fi, fo) = (400, 300);
        let cases = [
            (InitSpec::Standard, ActSpec::Tanh, 1.0 / (3.0 * fi as f64)),
            (
                InitSpec::GlorotUniform {
                    gain: Gain::Value(1.0),
                },
                ActSpec::Tanh,
                2.0 / (fi + fo) as f64,
            ),
            (
                InitSpec::GlorotNormal { gain: Gain::Auto },
                ActSpec::Tanh,
                25.0 / 9.0 * 2.0 / (fi + fo) as f64,
            ),
            (InitSpec::HeNormal, ActSpec::Relu, 2.0 / fi as f64),
            (
                InitSpec::HeUniform,
                ActSpec::LeakyRelu { a: 0.5 },
                2.0 / 1.25 / fi as f64,
            ),
            (InitSpec::LecunNormal, ActSpec::Selu, 1.0 / fi as f64),
            (InitSpec::LecunUniform, ActSpec::Selu, 1.0 / fi as f64),
            (InitSpec::Normal { std: 0.05 }, ActSpec::Relu, 0.0025),
        ];
        for (init, act, want) in cases {
            let mut w = vec![0.0; fi * fo];
            init_weights(&mut w, &layer(init, act, fi, fo), 7);
            let got = var(&w);
            // 120 000 samples: the relative standard error of a variance is ≈ 0.5 %.
            assert!(
                (got / want - 1.0).abs() < 0.03,
                "{init}: var {got}, want {want}"
            );
        }
    }

    #[test]
    fn orthogonal_rows_or_columns_are_orthonormal() {
        for (rows, cols) in [(5, 3), (3, 5), (4, 4)] {
            let mut w = vec![0.0; rows * cols];
            init_weights(
                &mut w,
                &layer(
                    InitSpec::Orthogonal {
                        gain: Gain::Value(2.0),
                    },
                    ActSpec::Relu,
                    cols,
                    rows,
                ),
                3,
            );
            // W Wᵀ = 4 I for wide W, Wᵀ W = 4 I for tall W.
            let (n, stride, along) = if rows <= cols {
                (rows, cols, cols)
            } else {
                (cols, 1, rows)
            };
            for a in 0..n {
                for b in 0..n {
                    let dot: f64 = (0..along)
                        .map(|k| {
                            let (ia, ib) = if rows <= cols {
                                (a * stride + k, b * stride + k)
                            } else {
                                (k * cols + a, k * cols + b)
                            };
                            w[ia] as f64 * w[ib] as f64
                        })
                        .sum();
                    let want = if a == b { 4.0 } else { 0.0 };
                    assert!(
                        (dot - want).abs() < 1e-5,
                        "({rows},{cols}) [{a},{b}] = {dot}"
                    );
                }
            }
        }
    }

    #[test]
    fn same_seed_same_weights_and_streams_are_independent() {
        let l = layer(InitSpec::Torch, ActSpec::Relu, 10, 10);
        let (mut a, mut b) = (vec![0.0; 100], vec![0.0; 100]);
        init_weights(&mut a, &l, 1);
        init_weights(&mut b, &l, 1);
        assert_eq!(a, b);
        let mut c = vec![0.0; 100];
        init_weights(&mut c, &Layer { index: 2, ..l }, 1);
        assert_ne!(a, c);
    }

    #[test]
    fn below_is_uniform_enough() {
        let mut r = Rng::new(5, Stream::GaussianTestTargets);
        let mut counts = [0u32; 3];
        for _ in 0..30_000 {
            counts[r.below(3) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9_500..10_500).contains(&c)),
            "{counts:?}"
        );
    }
}
