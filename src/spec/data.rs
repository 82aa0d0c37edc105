//! The `data` line, typed: which source, and every key it was given, parsed
//! once (in `parse.rs`) and kept with the spans that later errors point at
//! (a size that does not fit in memory, a label column a file lacks).
//! Defaults (how many examples, how much noise) are the data layer's:
//! `None` here means "not written".

use super::Span;

/// `data NAME key=value...`.
#[derive(Clone, Debug, PartialEq)]
pub struct Data {
    pub source: DataSource,
    /// Where the source's name was written ([`Span::NONE`] for the default
    /// `data gaussian` of a spec without a `data` line).
    pub span: Span,
    /// `normalize=true`: standardize every input with the training rows'
    /// mean and std.
    pub normalize: bool,
}

/// A built-in generator or a loader for files a user has.
#[derive(Clone, Debug, PartialEq)]
pub enum DataSource {
    Generated(Generated),
    /// `data csv path= label= test= split=`.
    Csv {
        files: Files,
        /// The label column's name (default: the last column).
        label: Option<(String, Span)>,
    },
    /// `data mnist path= labels= test= test_labels= split=`.
    Mnist {
        files: Files,
        /// The labels file of `path` (default: MNIST's naming beside it).
        labels: Option<(String, Span)>,
        /// The labels file of `test` (only with `test=`).
        test_labels: Option<(String, Span)>,
    },
}

/// A generator with the keys every generator takes.
#[derive(Clone, Debug, PartialEq)]
pub struct Generated {
    pub generator: Generator,
    /// `n=`: training examples (≥ 1).
    pub n: Option<(usize, Span)>,
    /// `test=`: held-out examples (0 for none).
    pub test: Option<(usize, Span)>,
    /// `seed=` (default: the training seed).
    pub seed: Option<u64>,
}

/// The built-in generators with their own keys.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Generator {
    Gaussian,
    Blobs {
        std: Option<f64>,
    },
    Spirals {
        noise: Option<f64>,
    },
    Parity,
    Teacher,
    Shapeset,
    Poly {
        noise: Option<f64>,
        degree: Option<usize>,
        /// `grid=true`: x evenly spaced over [0, 1] (PRML's setting), not
        /// drawn uniformly.
        grid: bool,
    },
}

/// The files of a loader: `path=` and either `test=FILE` or `split=F`
/// (the parser refuses both).
#[derive(Clone, Debug, PartialEq)]
pub struct Files {
    pub path: (String, Span),
    pub test: Option<(String, Span)>,
    /// The fraction of rows held out at the end, in [0, 1).
    pub split: Option<(f64, Span)>,
}

impl Data {
    /// What a spec without a `data` line trains and measures on:
    /// `data gaussian` with its defaults.
    pub fn gaussian() -> Data {
        Data {
            source: DataSource::Generated(Generated {
                generator: Generator::Gaussian,
                n: None,
                test: None,
                seed: None,
            }),
            span: Span::NONE,
            normalize: false,
        }
    }

    /// The source's name as written (`spirals`, `csv`).
    pub fn name(&self) -> &'static str {
        match &self.source {
            DataSource::Generated(g) => g.generator.name(),
            DataSource::Csv { .. } => "csv",
            DataSource::Mnist { .. } => "mnist",
        }
    }
}

impl Generator {
    pub fn name(self) -> &'static str {
        match self {
            Generator::Gaussian => "gaussian",
            Generator::Blobs { .. } => "blobs",
            Generator::Spirals { .. } => "spirals",
            Generator::Parity => "parity",
            Generator::Teacher => "teacher",
            Generator::Shapeset => "shapeset",
            Generator::Poly { .. } => "poly",
        }
    }
}
