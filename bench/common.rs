//! What the benches share (each bench declares `mod common;`): the gemm
//! shapes and layouts with the depthlab and matrixmultiply calls for them,
//! deterministic inputs, the per-unit parameters of PReLU and SReLU, the
//! optimizer settings the update benches time, and a loop that runs at the
//! machine's FMA peak.
// Each bench uses part of this module.
#![allow(dead_code)]

use depthlab_kernels::Activation;
use depthlab_kernels::gemm::{gemm_nn, gemm_nt, gemm_tn};
use depthlab_kernels::update::{Adam, AdamConfig, Sgd, SgdConfig};

/// (M, K, N): batch-sized layers, the MNIST input layer, a 10-class head,
/// one large square-ish product.
pub const SHAPES: [(usize, usize, usize); 6] = [
    (16, 32, 32),
    (64, 128, 128),
    (128, 784, 256),
    (128, 256, 256),
    (64, 128, 10),
    (256, 1024, 1024),
];

/// The three products backprop needs.
#[derive(Clone, Copy, PartialEq)]
pub enum Layout {
    /// A (m, k), B (k, n).
    Nn,
    /// A stored (k, m), B (k, n).
    Tn,
    /// A (m, k), B stored (n, k).
    Nt,
}

impl Layout {
    pub const ALL: [Layout; 3] = [Layout::Nn, Layout::Tn, Layout::Nt];

    pub fn name(self) -> &'static str {
        match self {
            Layout::Nn => "NN",
            Layout::Tn => "TN",
            Layout::Nt => "NT",
        }
    }
}

/// C (m, n) ← op(A)·op(B) with depthlab's gemm.
pub fn depthlab_gemm(
    layout: Layout,
    c: &mut [f32],
    a: &[f32],
    b: &[f32],
    dims: (usize, usize, usize),
) {
    let (m, k, n) = dims;
    match layout {
        Layout::Nn => gemm_nn(c, a, b, m, k, n, 0.0),
        Layout::Tn => gemm_tn(c, a, b, m, k, n, 0.0),
        Layout::Nt => gemm_nt(c, a, b, m, k, n, 0.0),
    }
}

/// The same product with `matrixmultiply::sgemm`, given the strides of the
/// same stored operands.
pub fn matrixmultiply_gemm(
    layout: Layout,
    c: &mut [f32],
    a: &[f32],
    b: &[f32],
    dims: (usize, usize, usize),
) {
    let (m, k, n) = dims;
    assert!(a.len() == m * k && b.len() == k * n && c.len() == m * n);
    // Strides (row, column) of op(A) (m, k) and op(B) (k, n) as stored.
    let (rsa, csa) = match layout {
        Layout::Tn => (1, m as isize),
        _ => (k as isize, 1),
    };
    let (rsb, csb) = match layout {
        Layout::Nt => (1, k as isize),
        _ => (n as isize, 1),
    };
    // SAFETY: the strides describe op(A) (m, k) inside `a`, op(B) (k, n)
    // inside `b` and C (m, n) row-major inside `c` (lengths asserted).
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            rsb,
            csb,
            0.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// Deterministic values on [lo, hi).
pub fn fill(n: usize, seed: u32, lo: f32, hi: f32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let u = (i as u32)
                .wrapping_mul(2_654_435_761)
                .wrapping_add(seed.wrapping_mul(40_503));
            lo + (hi - lo) * ((u >> 8) as f32 / (1u32 << 24) as f32)
        })
        .collect()
}

/// Per-unit parameters, parameter-major: PReLU a = 0.25; SReLU (0, 0.2, 1,
/// 1); none for the other activations.
pub fn unit_params(act: Activation, cols: usize) -> Vec<f32> {
    match act {
        Activation::Prelu => vec![0.25; cols],
        Activation::Srelu => [0.0, 0.2, 1.0, 1.0]
            .iter()
            .flat_map(|&v| std::iter::repeat_n(v, cols))
            .collect(),
        _ => Vec::new(),
    }
}

/// Adam at step 10 with weight decay 1e-4 (PyTorch's defaults otherwise).
pub fn bench_adam() -> Adam {
    let c = AdamConfig {
        weight_decay: 1e-4,
        ..AdamConfig::default()
    };
    Adam::at_step(&c, 10)
}

/// SGD with momentum 0.9 and weight decay 1e-4, past its first step.
pub fn bench_sgd() -> Sgd {
    let c = SgdConfig {
        lr: 1e-2,
        momentum: 0.9,
        weight_decay: 1e-4,
        ..SgdConfig::default()
    };
    Sgd::new(&c, false)
}

// The FMA peak loop lives in the kernels crate (`depthlab bench` measures
// it too).
#[allow(unused_imports)]
pub use depthlab_kernels::peak::{FLOPS_PER_ITER, fma_chains};
