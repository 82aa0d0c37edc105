//! The spec layer's error: a message positioned in the spec text, printed
//! with the offending line and a caret, rustc-style.

use std::fmt;

/// Where a piece of spec text sits: 1-based line and column (in characters)
/// and its length in characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Span {
    pub line: usize,
    pub col: usize,
    pub len: usize,
}

impl Span {
    /// The span of a line the spec does not have (a default filled in):
    /// errors at it are about the spec as a whole.
    pub const NONE: Span = Span {
        line: 0,
        col: 0,
        len: 0,
    };
}

/// The text a spec was read from, and the name to show in messages (a file
/// path, `--net`, or a flag name such as `--act`).
#[derive(Clone, Debug)]
pub struct Source {
    pub name: String,
    pub text: String,
    /// `--net` text, one line whose statements `;` separates: a `#`
    /// comment ends at the next `;` (in a file, at the end of the line).
    pub net: bool,
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Source {
            name: name.into(),
            text: text.into(),
            net: false,
        }
    }

    /// The text of `--net`.
    ///
    /// ```
    /// use depthlab::spec::{Source, parse};
    /// // The comment ends at the `;`: the net has its 10-unit output.
    /// let spec = parse(Source::net("input 4; dense 8 relu # hidden; dense 10")).unwrap();
    /// assert_eq!(spec.dense.last().unwrap().units, 10);
    /// ```
    /// Text with newlines (`--net "$(cat my.net)"`) is read as a file is.
    pub fn net(text: impl Into<String>) -> Self {
        let text: String = text.into();
        Source {
            net: !text.contains('\n'),
            ..Source::new("--net", text)
        }
    }

    /// Builds an error at `span` in this source ([`Span::NONE`]: about the
    /// spec as a whole).
    pub fn error(&self, span: Span, message: impl Into<String>) -> SpecError {
        if span == Span::NONE {
            return self.error_whole(message);
        }
        SpecError {
            origin: self.name.clone(),
            span: Some(span),
            line_text: self
                .text
                .lines()
                .nth(span.line.saturating_sub(1))
                .map(str::to_owned),
            message: message.into(),
            help: None,
        }
    }

    /// Builds an error about the spec as a whole (no position to point at).
    pub fn error_whole(&self, message: impl Into<String>) -> SpecError {
        SpecError {
            origin: self.name.clone(),
            span: None,
            line_text: None,
            message: message.into(),
            help: None,
        }
    }
}

/// A positioned error in a spec: `spec.net:3:14: message`, then the line
/// with a caret under the offending text and an optional help line.
#[derive(Clone, Debug, PartialEq)]
pub struct SpecError {
    pub origin: String,
    pub span: Option<Span>,
    pub line_text: Option<String>,
    pub message: String,
    pub help: Option<String>,
}

impl SpecError {
    /// Adds a help line (e.g. "did you mean `sigmoid`?").
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.span {
            Some(s) => write!(f, "{}:{}:{}: {}", self.origin, s.line, s.col, self.message)?,
            None => write!(f, "{}: {}", self.origin, self.message)?,
        }
        if let (Some(s), Some(text)) = (self.span, &self.line_text) {
            let gutter = s.line.to_string().len();
            let pad = " ".repeat(gutter);
            let caret_pad: String = text
                .chars()
                .take(s.col.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(
                f,
                "\n{pad} |\n{} | {text}\n{pad} | {caret_pad}{}",
                s.line,
                "^".repeat(s.len.max(1))
            )?;
            if let Some(help) = &self.help {
                write!(f, " {help}")?;
            }
        } else if let Some(help) = &self.help {
            write!(f, "\n  = help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecError {}

/// The closest of `candidates` to `word` by edit distance, if close enough
/// to be a plausible typo (at most 2 edits, and fewer than half the word).
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&lower, c), *c))
        .filter(|&(d, c)| c != word && d <= 2 && d * 2 <= lower.len().max(c.len()))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Levenshtein distance in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let acts = ["sigmoid", "softsign", "softplus", "relu", "selu", "elu"];
        assert_eq!(did_you_mean("sigmod", &acts), Some("sigmoid"));
        assert_eq!(did_you_mean("Relu", &acts), Some("relu"));
        assert_eq!(did_you_mean("banana", &acts), None);
    }

    #[test]
    fn display_points_at_the_column() {
        let src = Source::new("spec.net", "input 4\ndense 10 sigmod\n");
        let e = src
            .error(
                Span {
                    line: 2,
                    col: 10,
                    len: 6,
                },
                "expected an activation, found `sigmod`",
            )
            .with_help("did you mean `sigmoid`?");
        assert_eq!(
            e.to_string(),
            "spec.net:2:10: expected an activation, found `sigmod`\n  |\n2 | dense 10 sigmod\n  |          ^^^^^^ did you mean `sigmoid`?"
        );
    }
}
