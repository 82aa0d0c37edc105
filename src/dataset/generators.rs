//! The built-in generators: `gaussian`, `blobs`, `spirals`, `parity`,
//! `teacher`, `shapeset` and `poly`, each a fixed recipe of draws from a
//! seeded [`Rng`] (see the table in [`super`] for shapes and defaults).
//!
//! Draws happen example by example, inputs first, in the order written in
//! each recipe below; that order is part of the format (a seed must give the
//! same data forever).

use super::{DataError, Dataset, Request, Split, Target, shapeset};
use crate::graph::{DEFAULT_MEMORY_LIMIT, human_bytes};
use crate::init::{Rng, Stream};
use crate::spec::LossKind;
use crate::spec::{Generated, Generator as Gen};
use std::f64::consts::TAU;

/// Default training examples of the low-dimensional generators.
pub const DEFAULT_N: usize = 1000;
/// Default test examples of the low-dimensional generators.
pub const DEFAULT_TEST: usize = 1000;
/// Default `(n, test)` of `shapeset`.
pub const SHAPESET_DEFAULT: (usize, usize) = (10_000, 2_000);
/// Default `(n, test)` of `poly`: Bishop's 10 training points, 100 test.
pub const POLY_DEFAULT: (usize, usize) = (10, 100);
/// Default `noise=` of `spirals` (std of the angle noise, radians).
pub const SPIRALS_NOISE: f64 = 0.2;
/// Default `noise=` of `poly` (std of the target noise, Bishop's 0.3).
pub const POLY_NOISE: f64 = 0.3;
/// Default `std=` of `blobs` (std of each cluster per dimension).
pub const BLOBS_STD: f64 = 1.0;
/// Expected squared distance between two `blobs` centres: centres are
/// N(0, (BLOBS_SEPARATION²/2d)·I) in d dimensions, so two centres lie about
/// 4 cluster stds apart whatever d.
pub const BLOBS_SEPARATION: f64 = 4.0;

/// One generator with everything its examples share.
enum Recipe {
    /// x ~ N(0, I); labels uniform, N(0, 1) targets or coin flips.
    Gaussian,
    /// Centres (k, d) row-major, cluster std.
    Blobs { centres: Vec<f64>, std: f64 },
    /// One arm per class.
    Spirals { noise: f64 },
    /// Label = parity of the count of +1 inputs.
    Parity,
    /// h = tanh(W1 x), o = W2 h; W1 (hidden, d), W2 (k, hidden).
    Teacher {
        w1: Vec<f64>,
        w2: Vec<f64>,
        hidden: usize,
    },
    /// Glorot & Bengio's Shapeset-3×2.
    Shapeset,
    /// Bishop's t = sin(2πx) + noise, inputs x, x², …, x^degree (the one
    /// constant input 1 for degree 0).
    Poly {
        noise: f64,
        degree: usize,
        grid: bool,
    },
}

struct Generator {
    recipe: Recipe,
    inputs: usize,
    target: Target,
    loss: LossKind,
}

/// Builds the generator the `data` line names, checks it against the
/// network, and draws the training and test sets.
pub(super) fn generate(req: &Request, g: &Generated) -> Result<Split, DataError> {
    let (n_default, test_default) = match g.generator {
        Gen::Shapeset => SHAPESET_DEFAULT,
        Gen::Poly { .. } => POLY_DEFAULT,
        _ => (DEFAULT_N, DEFAULT_TEST),
    };
    let (n, n_span) = g.n.unwrap_or((n_default, req.data.span));
    let (test, test_span) = g.test.unwrap_or((test_default, req.data.span));
    let seed = g.seed.unwrap_or(req.seed);
    let generator = Generator::new(req, g.generator, seed)?;
    let width = generator.inputs + generator.target.width();
    // `stats` measures on the held-out rows: the training set is not drawn
    // (unless normalization needs its mean and std).
    let n = if req.probe_only && test > 0 && !req.data.normalize {
        0
    } else {
        n
    };
    req.check_size(n_span, n as u64, width, &format!("{n} examples"))?;
    req.check_size(test_span, test as u64, width, &format!("{test} examples"))?;
    // Both sets live in memory at once.
    let both = (n as u64).saturating_add(test as u64);
    req.check_size(test_span, both, width, &format!("{n} + {test} examples"))?;
    let train = generator.sample(n, &mut Rng::new(seed, Stream::DataTrain));
    let test = (test > 0).then(|| match generator.recipe {
        // Inputs and targets from two streams of their own: the first rows
        // are the probe `stats` measured on before the probe path was one
        // (its snapshots did not move).
        Recipe::Gaussian => generator.sample_gaussian_apart(test, seed),
        _ => generator.sample(test, &mut Rng::new(seed, Stream::DataTest)),
    });
    Ok(Split { train, test })
}

impl Generator {
    fn new(req: &Request, generator: Gen, seed: u64) -> Result<Self, DataError> {
        let (d, k) = (req.inputs, req.outputs);
        let values = Target::Values(k);
        // Class indices under cross_entropy, else the raw outputs.
        let class_or_values = match req.loss {
            LossKind::CrossEntropy => Target::Classes(k),
            _ => values,
        };
        let (recipe, target) = match generator {
            Gen::Gaussian => (Recipe::Gaussian, class_or_values),
            Gen::Blobs { std } => {
                let std = std.unwrap_or(BLOBS_STD);
                let floats = d.saturating_mul(k);
                check_model(req, floats, "centres")?;
                let mut rng = Rng::new(seed, Stream::DataModel);
                let spread = BLOBS_SEPARATION / (2.0 * d as f64).sqrt();
                let centres = (0..floats).map(|_| spread * rng.normal()).collect();
                (Recipe::Blobs { centres, std }, req.class_target(k))
            }
            Gen::Spirals { noise } => {
                req.expect_inputs(2, "")?;
                let noise = noise.unwrap_or(SPIRALS_NOISE);
                (Recipe::Spirals { noise }, req.class_target(k))
            }
            Gen::Parity => {
                let target = match (req.loss, k) {
                    (LossKind::CrossEntropy, _) => {
                        req.expect_classes(2)?;
                        Target::Classes(2)
                    }
                    (_, 1 | 2) => values,
                    _ => {
                        return Err(req.error(format!(
                            "`data parity` gives 1 target (or 2 one-hot classes) but the last layer has {k} units"
                        )));
                    }
                };
                (Recipe::Parity, target)
            }
            Gen::Teacher => (teacher(req, seed)?, class_or_values),
            Gen::Shapeset => {
                req.expect_inputs(shapeset::PIXELS, " (32×32 images)")?;
                req.expect_classes(shapeset::CLASSES)?;
                (Recipe::Shapeset, req.class_target(shapeset::CLASSES))
            }
            Gen::Poly {
                noise,
                degree,
                grid,
            } => (poly(req, noise, degree, grid)?, values),
        };
        Ok(Generator {
            recipe,
            inputs: d,
            target,
            loss: req.loss,
        })
    }

    /// `gaussian`'s held-out set: every input from one stream
    /// ([`Stream::GaussianTestInputs`]), then every target from another
    /// ([`Stream::GaussianTestTargets`]), each in example order; the same
    /// distribution as [`Generator::example`]'s, and still prefix-stable.
    fn sample_gaussian_apart(&self, n: usize, seed: u64) -> Dataset {
        let mut set = Dataset::with_capacity(n, self.inputs, self.target);
        let mut rng = Rng::new(seed, Stream::GaussianTestInputs);
        set.x
            .extend((0..n * self.inputs).map(|_| rng.normal() as f32));
        let mut rng = Rng::new(seed, Stream::GaussianTestTargets);
        let width = self.target.width();
        set.y
            .extend((0..n * width).map(|_| gaussian_target(self.loss, self.target, &mut rng)));
        set.n = n;
        set
    }

    /// Draws `n` examples from `rng`, one after the other.
    fn sample(&self, n: usize, rng: &mut Rng) -> Dataset {
        let mut set = Dataset::with_capacity(n, self.inputs, self.target);
        let mut scratch = Vec::new();
        for i in 0..n {
            // `poly grid=true` puts example i of n at x = i/(n-1).
            let at = (i as f64 / (n.max(2) - 1) as f64).min(1.0);
            self.example(rng, &mut set, &mut scratch, at);
            set.n += 1;
        }
        set
    }

    /// Appends one example to `set` (`grid_x`: its x on an even grid, for
    /// `poly grid=true`).
    fn example(&self, rng: &mut Rng, set: &mut Dataset, scratch: &mut Vec<f64>, grid_x: f64) {
        let d = self.inputs;
        match &self.recipe {
            // x ~ N(0, I); then the label ~ U{0..k-1} (cross_entropy), or k
            // targets ~ N(0, 1) (mse), or k coin flips in {0, 1} (bce).
            Recipe::Gaussian => {
                set.x.extend((0..d).map(|_| rng.normal() as f32));
                let width = self.target.width();
                set.y
                    .extend((0..width).map(|_| gaussian_target(self.loss, self.target, rng)));
            }
            // class ~ U{0..k-1}; x = centre[class] + std·N(0, I).
            Recipe::Blobs { centres, std } => {
                let class = rng.below(self.classes() as u64) as usize;
                let c = &centres[class * d..(class + 1) * d];
                set.x
                    .extend(c.iter().map(|&m| (m + std * rng.normal()) as f32));
                set.push_class(class);
            }
            // class ~ U{0..k-1}; r ~ U[0, 1); θ = class·2π/k + 4r + noise·N(0, 1);
            // x = (r cos θ, r sin θ).
            Recipe::Spirals { noise } => {
                let k = self.classes();
                let class = rng.below(k as u64) as usize;
                let r = rng.uniform();
                let theta = class as f64 * TAU / k as f64 + 4.0 * r + noise * rng.normal();
                set.x
                    .extend([(r * theta.cos()) as f32, (r * theta.sin()) as f32]);
                set.push_class(class);
            }
            // x_i = ±1 by fair coin flips; label = (number of +1) mod 2.
            Recipe::Parity => {
                let mut ones = 0;
                for _ in 0..d {
                    let bit = rng.below(2);
                    ones += bit;
                    set.x.push(if bit == 1 { 1.0 } else { -1.0 });
                }
                let parity = (ones % 2) as usize;
                match self.target {
                    Target::Values(1) => set.y.push(parity as f32),
                    _ => set.push_class(parity),
                }
            }
            // x ~ N(0, I); o = W2 tanh(W1 x) in f64; label argmax o (first
            // of ties), or targets o (mse), or 1[o > 0] (bce).
            Recipe::Teacher { w1, w2, hidden } => {
                scratch.clear();
                scratch.extend((0..d).map(|_| rng.normal()));
                let x = &scratch[..];
                let h: Vec<f64> = w1.chunks_exact(d).map(|row| dot(row, x).tanh()).collect();
                let o = w2.chunks_exact(*hidden).map(|row| dot(row, &h));
                set.x.extend(x.iter().map(|&v| v as f32));
                match self.loss {
                    LossKind::CrossEntropy => {
                        let (best, _) = o.enumerate().fold((0, f64::NEG_INFINITY), |b, (i, v)| {
                            if v > b.1 { (i, v) } else { b }
                        });
                        set.y.push(best as f32);
                    }
                    LossKind::Mse => set.y.extend(o.map(|v| v as f32)),
                    LossKind::Bce => set.y.extend(o.map(|v| f32::from(v > 0.0))),
                }
            }
            // See [`shapeset`].
            Recipe::Shapeset => {
                let scene = shapeset::Scene::draw(rng);
                let start = set.x.len();
                set.x.resize(start + shapeset::PIXELS, 0.0);
                scene.render(&mut set.x[start..]);
                set.push_class(scene.class);
            }
            // x ~ U[0, 1) (or on the grid); t = sin(2πx) + noise·N(0, 1).
            &Recipe::Poly {
                noise,
                degree,
                grid,
            } => {
                let x = if grid { grid_x } else { rng.uniform() };
                let t = (TAU * x).sin() + noise * rng.normal();
                // Degree 0 (ŷ = w0) has one constant input, x^0 = 1: a
                // network needs an input; with the layer's bias the fit is
                // the same constant.
                if degree == 0 {
                    set.x.push(1.0);
                } else {
                    set.x.extend((1..=degree).map(|j| x.powi(j as i32) as f32));
                }
                set.y.push(t as f32);
            }
        }
    }

    fn classes(&self) -> usize {
        match self.target {
            Target::Classes(k) | Target::Values(k) => k,
        }
    }
}

/// `teacher`: random weights W1 (2d, d), W2 (k, 2d), N(0, 1/fan_in).
fn teacher(req: &Request, seed: u64) -> Result<Recipe, DataError> {
    let (d, k) = (req.inputs, req.outputs);
    let hidden = d.saturating_mul(2);
    let floats = hidden
        .saturating_mul(d)
        .saturating_add(k.saturating_mul(hidden));
    check_model(req, floats, "teacher weights")?;
    let mut rng = Rng::new(seed, Stream::DataModel);
    let (s1, s2) = (1.0 / (d as f64).sqrt(), 1.0 / (hidden as f64).sqrt());
    let w1 = (0..hidden * d).map(|_| s1 * rng.normal()).collect();
    let w2 = (0..k * hidden).map(|_| s2 * rng.normal()).collect();
    Ok(Recipe::Teacher { w1, w2, hidden })
}

/// `poly`: Bishop's polynomial features x, x², …, x^M (the bias is the
/// layer's) with one regression target, under `loss mse`.
fn poly(
    req: &Request,
    noise: Option<f64>,
    degree: Option<usize>,
    grid: bool,
) -> Result<Recipe, DataError> {
    if req.loss != LossKind::Mse {
        return Err(req.error(format!(
            "`data poly` is a regression set (t = sin(2πx) + noise) and needs `loss mse`, not `{}`",
            req.loss.name()
        )));
    }
    let degree = degree.unwrap_or(1);
    let what = if degree == 0 {
        " (the constant x^0 = 1)".to_owned()
    } else if degree > 1 {
        format!(" (x, …, x^{degree})")
    } else {
        String::new()
    };
    req.expect_inputs(degree.max(1), &what)?;
    if req.outputs != 1 {
        return Err(req.error(format!(
            "`data poly` gives 1 target but the last layer has {} units",
            req.outputs
        )));
    }
    let noise = noise.unwrap_or(POLY_NOISE);
    Ok(Recipe::Poly {
        noise,
        degree,
        grid,
    })
}

/// One target value of `gaussian`: a uniform class index (cross_entropy),
/// a coin flip in {0, 1} (bce) or N(0, 1) (mse).
fn gaussian_target(loss: LossKind, target: Target, rng: &mut Rng) -> f32 {
    match (loss, target) {
        (LossKind::CrossEntropy, Target::Classes(k)) => rng.below(k as u64) as f32,
        (LossKind::Bce, _) => rng.below(2) as f32,
        _ => rng.normal() as f32,
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Refuses a generator whose fixed parameters (f64) pass the memory limit.
fn check_model(req: &Request, floats: usize, what: &str) -> Result<(), DataError> {
    let bytes = (floats as u64).saturating_mul(8);
    if bytes > DEFAULT_MEMORY_LIMIT {
        return Err(req.error(format!(
            "`data {}` with {} inputs and {} outputs needs {} of {what} (the limit is {})",
            req.name(),
            req.inputs,
            req.outputs,
            human_bytes(bytes),
            human_bytes(DEFAULT_MEMORY_LIMIT)
        )));
    }
    Ok(())
}
