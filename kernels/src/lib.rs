//! depthlab's kernels: plain functions over slices, with no allocation, no
//! I/O and no hidden state. Arguments go outputs → inputs → dimensions;
//! matrices are row-major `(rows, cols)`; each function says whether it
//! overwrites or accumulates its output.

#![warn(clippy::too_many_lines)]

pub mod activation;
pub mod gemm;
pub mod loss;
mod pack;
pub mod peak;
pub mod reduce;
pub mod reference;
pub mod simd;
pub mod subnormal;
pub mod update;

pub use activation::Activation;
