//! Bishop's polynomial curve fitting (PRML §1.1), exactly: ŷ(x) = Σ_{j=0..D}
//! w_j x^j fitted to N noisy points of sin(2πx) by least squares, or by
//! ridge regression minimizing Σ (ŷ(x_n) − t_n)² + ρ Σ_{j≥1} w_j², solved in
//! f64 by Householder QR of the (augmented) Vandermonde matrix
//! ([`crate::linalg`]). w_0 is not penalized (as a layer's bias is not by
//! `loss l2=`); PRML's λ is this ρ.
//!
//! The points are those of `data poly` (the same generator, noise and
//! seed), so `depthlab train` on `data poly degree=D` fits the same set.

use crate::dataset::{self, Dataset};
use crate::error::Error;
use crate::graph::{DEFAULT_MEMORY_LIMIT, Graph};
use crate::linalg::{Matrix, condition_number, least_squares};
use crate::spec::{Overrides, Source, parse};
use crate::train::{Options, Trainer};

/// Bishop's setting: N training and test points of t = sin(2πx) + noise.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Setting {
    pub n: usize,
    pub test: usize,
    /// Std of the Gaussian noise on t.
    pub noise: f64,
    pub seed: u64,
    /// x evenly spaced over [0, 1] (PRML's own setting) instead of drawn
    /// uniformly (`data poly`'s default).
    pub grid: bool,
}

impl Default for Setting {
    /// PRML's sizes: 10 points, noise 0.3, 100 test points; x drawn
    /// uniformly, seed 2 (a draw on which the shapes of PRML's Fig. 1.5 and
    /// Table 1.2 all show; docs/capacity.md gives other seeds' numbers).
    fn default() -> Self {
        Setting {
            n: 10,
            test: 100,
            noise: 0.3,
            seed: 2,
            grid: false,
        }
    }
}

impl Setting {
    /// `data poly degree=D ...` for this setting.
    pub fn data_line(&self, degree: usize) -> String {
        format!(
            "data poly degree={degree} grid={} n={} test={} noise={} seed={}",
            self.grid, self.n, self.test, self.noise, self.seed
        )
    }
}

/// Points (x, t).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Points {
    pub x: Vec<f64>,
    pub t: Vec<f64>,
}

/// The training and test points of a setting, drawn by the `data poly`
/// generator.
pub fn points(s: &Setting) -> Result<(Points, Points), Error> {
    let text = format!("input 1; dense 1; loss mse; {}", s.data_line(1));
    let spec = parse(Source::new("poly", text))?;
    let graph = Graph::check(&spec)?;
    let split = dataset::load_for(&spec, &graph, DEFAULT_MEMORY_LIMIT)?;
    let to_points = |d: &Dataset| Points {
        x: d.x.iter().map(|&v| f64::from(v)).collect(),
        t: d.y.iter().map(|&v| f64::from(v)).collect(),
    };
    let test = split.test.as_ref().map(to_points).unwrap_or_default();
    Ok((to_points(&split.train), test))
}

/// The Vandermonde matrix of `x` up to `degree`: row n is 1, x_n, …, x_n^D.
pub fn vandermonde(x: &[f64], degree: usize) -> Matrix {
    let mut a = Matrix::zeros(x.len(), degree + 1);
    for (i, &xi) in x.iter().enumerate() {
        for j in 0..=degree {
            a.set(i, j, xi.powi(j as i32));
        }
    }
    a
}

/// ŷ(x) = Σ w_j x^j.
pub fn predict(w: &[f64], x: f64) -> f64 {
    // Horner's rule.
    w.iter().rev().fold(0.0, |acc, &c| acc * x + c)
}

/// E_RMS = √(2E/N) with E = ½ Σ (ŷ(x_n) − t_n)²: the root-mean-square error,
/// comparable across data set sizes (PRML eq. 1.3).
pub fn e_rms(w: &[f64], p: &Points) -> f64 {
    let sse: f64 =
        p.x.iter()
            .zip(&p.t)
            .map(|(&x, &t)| (predict(w, x) - t).powi(2))
            .sum();
    (sse / p.x.len().max(1) as f64).sqrt()
}

/// One exact fit.
#[derive(Clone, Debug, PartialEq)]
pub struct Fit {
    pub degree: usize,
    /// ρ of the ridge term (0: plain least squares).
    pub rho: f64,
    /// w*_0 … w*_D.
    pub w: Vec<f64>,
    pub train_e_rms: f64,
    pub test_e_rms: f64,
}

/// The exact fit of degree `degree` with ridge ρ ≥ 0: the least-squares
/// solution of [A; √ρ·P] w ≈ [t; 0] (P the identity without its w_0 row),
/// which minimizes Σ (Aw − t)² + ρ Σ_{j≥1} w_j², by Householder QR.
/// Degrees beyond N − 1 without ρ are underdetermined: `None`.
pub fn fit(train: &Points, test: &Points, degree: usize, rho: f64) -> Option<Fit> {
    let aug = ridge_matrix(&train.x, degree, rho);
    if aug.rows < aug.cols {
        return None;
    }
    let mut t = train.t.clone();
    t.resize(aug.rows, 0.0);
    let w = least_squares(&aug, &t)?;
    Some(Fit {
        degree,
        rho,
        train_e_rms: e_rms(&w, train),
        test_e_rms: e_rms(&w, test),
        w,
    })
}

/// [A; √ρ·P]: the Vandermonde matrix of `x`, with (ρ > 0) a row √ρ·e_j
/// under it per penalized coefficient j = 1..D. Its singular values
/// squared are the eigenvalues of AᵀA + ρP, the ridge objective's Hessian
/// over 2.
pub fn ridge_matrix(x: &[f64], degree: usize, rho: f64) -> Matrix {
    let a = vandermonde(x, degree);
    let n = x.len();
    let extra = if rho > 0.0 { degree } else { 0 };
    let mut aug = Matrix::zeros(n + extra, degree + 1);
    aug.data[..a.data.len()].copy_from_slice(&a.data);
    for j in 1..=extra {
        aug.set(n + j - 1, j, rho.sqrt());
    }
    aug
}

/// The largest |w_j|.
pub fn max_abs(w: &[f64]) -> f64 {
    w.iter().fold(0.0f64, |m, w| m.max(w.abs()))
}

/// ‖a − b‖ / ‖b‖: how far coefficients `a` are from `b`.
pub fn relative_gap(a: &[f64], b: &[f64]) -> f64 {
    let diff: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let norm: f64 = b.iter().map(|y| y * y).sum();
    (diff / norm.max(f64::MIN_POSITIVE)).sqrt()
}

/// κ(A) of the Vandermonde matrix of `x` up to `degree`: gradient descent
/// on the least-squares loss converges at a rate set by κ(AᵀA) = κ(A)².
pub fn condition(x: &[f64], degree: usize) -> f64 {
    condition_number(&vandermonde(x, degree))
}

/// The coefficients depthlab's own optimizer reaches on the same points:
/// `data poly degree=D` through one dense layer (w_0 its bias, w_1.. its
/// weights), `loss mse l2=ρ/N` (the ridge objective divided by N, so the
/// same minimizer), `optim OPTIM` (e.g. `adam lr=0.01`), full batch,
/// `steps` steps.
pub fn optimizer_fit(
    s: &Setting,
    degree: usize,
    rho: f64,
    optim: &str,
    steps: u64,
) -> Result<Vec<f64>, Error> {
    let l2 = if rho > 0.0 {
        format!(" l2={}", rho / s.n as f64)
    } else {
        String::new()
    };
    // No test set: the trainer would evaluate it after every (full-batch)
    // step, and the caller measures E_RMS itself.
    let train_only = Setting { test: 0, ..*s };
    let text = format!(
        "input {}; dense 1; loss mse{l2}; optim {optim}; {}; train batch={} steps={steps} seed={}",
        degree.max(1),
        train_only.data_line(degree),
        s.n,
        s.seed
    );
    let mut spec = parse(Source::new("poly", text))?;
    Overrides::default().apply(&mut spec)?;
    let mut trainer = Trainer::new(&spec, &Options::default())?;
    trainer.run(&mut |_| {})?;
    let exec = trainer.executor();
    let layer = exec.plan().layers[0];
    let (w, b) = (exec.buf(layer.w), f64::from(exec.buf(layer.b)[0]));
    Ok(if degree == 0 {
        // The one input is the constant 1: w_0 = bias + its weight.
        vec![b + f64::from(w[0])]
    } else {
        std::iter::once(b)
            .chain(w.iter().map(|&v| f64::from(v)))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_setting_shows_prml_figure_1_5_and_table_1_2() {
        let (train, test) = points(&Setting::default()).unwrap();
        let fits: Vec<Fit> = (0..=9)
            .map(|d| fit(&train, &test, d, 0.0).unwrap())
            .collect();
        let best = fits.iter().map(|f| f.test_e_rms).fold(f64::MAX, f64::min);
        // D = 9 interpolates the 10 points: train E_RMS 0, test E_RMS up.
        assert!(fits[9].train_e_rms < 1e-6, "{}", fits[9].train_e_rms);
        assert!(
            fits[9].test_e_rms > 5.0 * best,
            "{} vs {best}",
            fits[9].test_e_rms
        );
        // Training error never rises with the degree (nested models).
        for d in 1..=9 {
            assert!(fits[d].train_e_rms <= fits[d - 1].train_e_rms + 1e-9);
        }
        // Huge coefficients without regularization, tamed by ln ρ = −18.
        assert!(max_abs(&fits[9].w) >= 1e5, "{:?}", fits[9].w);
        let ridge = fit(&train, &test, 9, (-18.0f64).exp()).unwrap();
        assert!(max_abs(&ridge.w) <= 1e2, "{:?}", ridge.w);
        assert!(ridge.test_e_rms < fits[9].test_e_rms / 5.0);
    }

    #[test]
    fn the_grid_puts_x_evenly_over_zero_to_one() {
        let s = Setting {
            grid: true,
            ..Setting::default()
        };
        let (train, test) = points(&s).unwrap();
        assert_eq!(train.x.len(), 10);
        for (i, &x) in train.x.iter().enumerate() {
            assert!((x - i as f64 / 9.0).abs() < 1e-7, "{x}");
        }
        assert_eq!((test.x[0], test.x[99]), (0.0, 1.0));
    }
}
