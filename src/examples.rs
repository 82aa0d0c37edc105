//! The example specs of `examples/`, built into the binary so that
//! `depthlab stats sigmoid-vanishing` works from any folder.

/// (name, spec text) of every built-in example.
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "sigmoid-vanishing",
        include_str!("../examples/sigmoid-vanishing.net"),
    ),
    (
        "tanh-standard",
        include_str!("../examples/tanh-standard.net"),
    ),
    ("tanh-glorot", include_str!("../examples/tanh-glorot.net")),
    ("relu-he", include_str!("../examples/relu-he.net")),
    ("selu-lecun", include_str!("../examples/selu-lecun.net")),
    ("he-30-layers", include_str!("../examples/he-30-layers.net")),
    (
        "krizhevsky-relu-tanh",
        include_str!("../examples/krizhevsky-relu-tanh.net"),
    ),
    (
        "glorot-sigmoid-shapeset",
        include_str!("../examples/glorot-sigmoid-shapeset.net"),
    ),
    (
        "glorot-table1-shapeset",
        include_str!("../examples/glorot-table1-shapeset.net"),
    ),
    ("dying-relu", include_str!("../examples/dying-relu.net")),
    ("overfit-poly", include_str!("../examples/overfit-poly.net")),
];

/// The built-in example called `name` (`relu-he`, `relu-he.net` or
/// `examples/relu-he.net`).
pub fn find(name: &str) -> Option<&'static str> {
    let stem = name.strip_prefix("examples/").unwrap_or(name);
    let stem = stem.strip_suffix(".net").unwrap_or(stem);
    EXAMPLES
        .iter()
        .find(|(n, _)| *n == stem)
        .map(|(_, text)| *text)
}

/// What an example shows: its opening comment up to the end of the first
/// sentence (a line ending with `.`), lines joined.
///
/// ```
/// let text = "# Two lines;\n# one sentence.\n# More.\ninput 4";
/// assert_eq!(depthlab::examples::summary(text), "Two lines; one sentence.");
/// ```
pub fn summary(text: &str) -> String {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(comment) = line.strip_prefix('#').map(str::trim) else {
            break;
        };
        out.push(comment);
        if comment.ends_with('.') {
            break;
        }
    }
    out.join(" ")
}
