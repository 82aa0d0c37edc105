//! `depthlab examples`: the built-in specs and what each shows.

use crate::examples::{EXAMPLES, summary};

/// One line per built-in example: its name and its first comment line.
pub fn list_examples() -> String {
    let width = EXAMPLES.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    EXAMPLES
        .iter()
        .map(|(name, text)| format!("{name:<width$}  {}\n", summary(text)))
        .collect()
}
