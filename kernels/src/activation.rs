//! Element-wise activations: forward, backward (with learnable per-unit
//! parameters for PReLU and SReLU) and the derivative used by statistics.
//!
//! Conventions follow PyTorch where PyTorch has the function: relu'(0) = 0,
//! leaky_relu'(0) = a, elu'(0) = α (the `x <= 0` branch), softplus is linear
//! above 20 (PyTorch's `threshold`), gelu is the erf form.

/// SELU's scale λ (Klambauer et al. 2017; PyTorch's constant).
pub const SELU_LAMBDA: f32 = 1.050_701;
/// SELU's α (Klambauer et al. 2017; PyTorch's constant).
pub const SELU_ALPHA: f32 = 1.673_263_2;
/// Softplus is linear above this input, as PyTorch's `threshold=20`.
pub const SOFTPLUS_THRESHOLD: f32 = 20.0;

/// An activation function f applied element-wise to a (rows, cols) matrix
/// whose columns are units.
///
/// `Prelu` and `Srelu` carry learnable per-unit parameters, stored as
/// parameter-major blocks of `cols` values: PReLU `[a]`, SReLU
/// `[t_l, a_l, t_r, a_r]` (so SReLU's parameter slice has `4 * cols` values).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    Identity,
    Sigmoid,
    Tanh,
    Softsign,
    Relu,
    LeakyRelu { slope: f32 },
    Prelu,
    Elu { alpha: f32 },
    Selu,
    Srelu,
    Softplus,
    Gelu,
    Silu,
}

impl Activation {
    /// Number of learnable parameters per unit (0 for fixed activations).
    pub fn params_per_unit(self) -> usize {
        match self {
            Activation::Prelu => 1,
            Activation::Srelu => 4,
            _ => 0,
        }
    }

    /// The spec-language name (`leaky_relu`).
    pub fn name(self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Softsign => "softsign",
            Activation::Relu => "relu",
            Activation::LeakyRelu { .. } => "leaky_relu",
            Activation::Prelu => "prelu",
            Activation::Elu { .. } => "elu",
            Activation::Selu => "selu",
            Activation::Srelu => "srelu",
            Activation::Softplus => "softplus",
            Activation::Gelu => "gelu",
            Activation::Silu => "silu",
        }
    }
}

/// The per-unit parameters of one column, gathered from the parameter-major
/// slice (unused entries are 0).
#[inline]
pub fn unit_params(act: Activation, params: &[f32], cols: usize, j: usize) -> [f32; 4] {
    let mut p = [0.0; 4];
    for (k, v) in p.iter_mut().enumerate().take(act.params_per_unit()) {
        *v = params[k * cols + j];
    }
    p
}

#[inline]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Standard normal cdf Φ(x) through erf, in f32 as PyTorch's CPU kernel.
#[inline]
fn normal_cdf(x: f32) -> f32 {
    0.5 * (1.0 + libm::erff(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// f(x) for one element with the unit's parameters `p`.
#[inline]
pub fn apply(act: Activation, x: f32, p: [f32; 4]) -> f32 {
    match act {
        Activation::Identity => x,
        Activation::Sigmoid => sigmoid(x),
        Activation::Tanh => x.tanh(),
        Activation::Softsign => x / (1.0 + x.abs()),
        Activation::Relu => x.max(0.0),
        Activation::LeakyRelu { slope } => {
            if x > 0.0 {
                x
            } else {
                x * slope
            }
        }
        Activation::Prelu => {
            if x > 0.0 {
                x
            } else {
                x * p[0]
            }
        }
        Activation::Elu { alpha } => {
            if x > 0.0 {
                x
            } else {
                alpha * x.exp_m1()
            }
        }
        Activation::Selu => {
            if x > 0.0 {
                SELU_LAMBDA * x
            } else {
                SELU_LAMBDA * SELU_ALPHA * x.exp_m1()
            }
        }
        Activation::Srelu => {
            let [tl, al, tr, ar] = p;
            if x >= tr {
                tr + ar * (x - tr)
            } else if x <= tl {
                tl + al * (x - tl)
            } else {
                x
            }
        }
        Activation::Softplus => {
            if x > SOFTPLUS_THRESHOLD {
                x
            } else {
                x.exp().ln_1p()
            }
        }
        Activation::Gelu => x * normal_cdf(x),
        Activation::Silu => x * sigmoid(x),
    }
}

/// f'(x) for one element, given x, its output y = f(x) and the unit's
/// parameters (sigmoid and tanh use y, as PyTorch's backward does).
#[inline]
pub fn derivative(act: Activation, x: f32, y: f32, p: [f32; 4]) -> f32 {
    match act {
        Activation::Identity => 1.0,
        // dσ/dx = σ(1 - σ) ≤ 1/4
        Activation::Sigmoid => y * (1.0 - y),
        // dtanh/dx = 1 - tanh²
        Activation::Tanh => 1.0 - y * y,
        // d/dx x/(1+|x|) = 1/(1+|x|)²
        Activation::Softsign => {
            let d = 1.0 + x.abs();
            1.0 / (d * d)
        }
        Activation::Relu => {
            if x > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Activation::LeakyRelu { slope } => {
            if x > 0.0 {
                1.0
            } else {
                slope
            }
        }
        Activation::Prelu => {
            if x > 0.0 {
                1.0
            } else {
                p[0]
            }
        }
        // x <= 0: α e^x
        Activation::Elu { alpha } => {
            if x > 0.0 {
                1.0
            } else {
                alpha * x.exp()
            }
        }
        Activation::Selu => {
            if x > 0.0 {
                SELU_LAMBDA
            } else {
                SELU_LAMBDA * SELU_ALPHA * x.exp()
            }
        }
        Activation::Srelu => {
            let [tl, al, tr, ar] = p;
            if x >= tr {
                ar
            } else if x <= tl {
                al
            } else {
                1.0
            }
        }
        // d/dx ln(1+e^x) = e^x/(1+e^x), written as PyTorch's z/(z+1)
        Activation::Softplus => {
            if x > SOFTPLUS_THRESHOLD {
                1.0
            } else {
                let z = x.exp();
                z / (z + 1.0)
            }
        }
        // d/dx xΦ(x) = Φ(x) + x φ(x)
        Activation::Gelu => {
            let pdf = (-0.5 * x * x).exp()
                * (0.5 * std::f32::consts::FRAC_2_SQRT_PI)
                * std::f32::consts::FRAC_1_SQRT_2;
            normal_cdf(x) + x * pdf
        }
        // d/dx xσ(x) = σ(1 + x(1 - σ))
        Activation::Silu => {
            let s = sigmoid(x);
            s * (1.0 + x * (1.0 - s))
        }
    }
}

/// ∂f/∂p for the unit's learnable parameters at one element, in the order of
/// [`unit_params`] (zeros where f has no parameter there).
#[inline]
pub fn param_derivative(act: Activation, x: f32, p: [f32; 4]) -> [f32; 4] {
    match act {
        // ∂/∂a (x ≤ 0 branch a·x) = x
        Activation::Prelu => [if x > 0.0 { 0.0 } else { x }, 0.0, 0.0, 0.0],
        Activation::Srelu => {
            let [tl, al, tr, ar] = p;
            if x >= tr {
                // f = t_r + a_r (x - t_r): ∂t_r = 1 - a_r, ∂a_r = x - t_r
                [0.0, 0.0, 1.0 - ar, x - tr]
            } else if x <= tl {
                // f = t_l + a_l (x - t_l): ∂t_l = 1 - a_l, ∂a_l = x - t_l
                [1.0 - al, x - tl, 0.0, 0.0]
            } else {
                [0.0; 4]
            }
        }
        _ => [0.0; 4],
    }
}

pub use crate::reference::{activation_backward, activation_forward};

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Activation; 13] = [
        Activation::Identity,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Softsign,
        Activation::Relu,
        Activation::LeakyRelu { slope: 0.01 },
        Activation::Prelu,
        Activation::Elu { alpha: 1.0 },
        Activation::Selu,
        Activation::Srelu,
        Activation::Softplus,
        Activation::Gelu,
        Activation::Silu,
    ];

    #[test]
    fn derivative_matches_central_difference_in_f64_scale() {
        // Points away from kinks; h chosen for f32 (error ~ h² f''' + ε/h).
        let p = [-0.5, 0.2, 1.0, 0.7];
        for act in ALL {
            for &x in &[-3.1f32, -0.7, -0.2, 0.3, 0.6, 1.8, 4.2] {
                let h = 1e-2f32;
                let fd =
                    (apply(act, x + h, p) as f64 - apply(act, x - h, p) as f64) / (2.0 * h as f64);
                let d = derivative(act, x, apply(act, x, p), p) as f64;
                assert!(
                    (fd - d).abs() <= 2e-3 * (1.0 + d.abs()),
                    "{act:?} at {x}: analytic {d}, numeric {fd}"
                );
            }
        }
    }

    #[test]
    fn pytorch_conventions_at_zero_and_constants() {
        let p = [0.0; 4];
        assert_eq!(derivative(Activation::Relu, 0.0, 0.0, p), 0.0);
        assert_eq!(
            derivative(Activation::LeakyRelu { slope: 0.01 }, 0.0, 0.0, p),
            0.01
        );
        assert_eq!(derivative(Activation::Elu { alpha: 1.0 }, 0.0, 0.0, p), 1.0);
        assert_eq!(apply(Activation::Softplus, 30.0, p), 30.0);
        // selu(1) = λ, selu(-∞) → -λα ≈ -1.7581
        assert_eq!(apply(Activation::Selu, 1.0, p), SELU_LAMBDA);
        assert!((apply(Activation::Selu, -50.0, p) + 1.758_099_3).abs() < 1e-6);
        // gelu(1) = Φ(1) = 0.8413447
        assert!((apply(Activation::Gelu, 1.0, p) - 0.841_344_7).abs() < 1e-6);
        // sigmoid' peaks at 1/4
        let y = apply(Activation::Sigmoid, 0.0, p);
        assert_eq!(derivative(Activation::Sigmoid, 0.0, y, p), 0.25);
    }
}
