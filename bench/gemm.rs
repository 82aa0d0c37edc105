//! placeholder until the gemm bench lands
fn main() {}
