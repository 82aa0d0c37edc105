//! Matrix multiply for the three layouts backprop needs, on row-major
//! buffers, without materializing a transpose: C ← A·B + β·C, C ← Aᵀ·B + β·C
//! and C ← A·Bᵀ + β·C. If β is 0, C is not read (so it may hold NaN).

pub use crate::reference::{bias_add, column_sum, gemm_nn, gemm_nt, gemm_tn};
