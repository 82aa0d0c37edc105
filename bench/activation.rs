//! placeholder until the activation bench lands
fn main() {}
