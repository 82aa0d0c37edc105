//! placeholder until the update bench lands
fn main() {}
