//! `depthlab examples [NAME]`: the built-in specs and what each shows, or
//! one spec's text to copy and edit.

use crate::error::Error;
use crate::examples::{EXAMPLES, find, summary};
use crate::spec::{Source, did_you_mean};

/// One line per built-in example: its name and its description (the
/// comment it opens with, whole).
pub fn list_examples() -> String {
    let width = EXAMPLES.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    EXAMPLES
        .iter()
        .map(|(name, text)| format!("{name:<width$}  {}\n", summary(text)))
        .collect()
}

/// The text of the built-in example `name`, as its file holds it.
pub fn example_text(name: &str) -> Result<String, Error> {
    find(name).map(str::to_owned).ok_or_else(|| {
        let names: Vec<&str> = EXAMPLES.iter().map(|(n, _)| *n).collect();
        let e = Source::new("examples", "").error_whole(format!("no built-in example `{name}`"));
        Error::Spec(match did_you_mean(name, &names) {
            Some(n) => e.with_help(format!("did you mean `{n}`?")),
            None => e.with_help(format!("one of: {}", names.join(", "))),
        })
    })
}
