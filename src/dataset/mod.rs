//! Data sources: the built-in generators (deterministic from a seed, never
//! downloaded) and the loaders for files a user has (numeric CSV, MNIST IDX).
//!
//! [`load`] turns a spec's `data NAME key=value...` line into a [`Split`]:
//! a training [`Dataset`] and an optional held-out test set, checked against
//! the network's input size, its last layer's units and its loss.
//!
//! | source | inputs | targets | defaults |
//! |---|---|---|---|
//! | `gaussian` | any | any | `n=1000 test=1000` |
//! | `blobs` | any | `outputs` classes | `n=1000 test=1000 std=1` |
//! | `spirals` | 2 | `outputs` arms | `n=1000 test=1000 noise=0.2` |
//! | `parity` | any | 2 classes (or 1 target) | `n=1000 test=1000` |
//! | `teacher` | any | any | `n=1000 test=1000` |
//! | `shapeset` | 1024 | 9 classes | `n=10000 test=2000` |
//! | `poly` | `degree` (x, …, x^M) | 1 (mse) | `n=10 test=100 noise=0.3 degree=1` |
//! | `csv` | columns − 1 | label column | no test set |
//! | `mnist` | 784 | 10 classes | no test set |
//!
//! Every generator's `seed=` defaults to the training seed passed to
//! [`load`]. The training set comes from the [`Stream::DataTrain`] stream and
//! the test set from [`Stream::DataTest`], so they are independent draws
//! from one distribution; what the two share (blob centres, the teacher
//! network) comes from [`Stream::DataModel`]. Examples are drawn one after
//! the other from a single stream, so the first k examples do not depend on
//! `n`.
//!
//! Classification generators give class indices under `cross_entropy` and
//! one-hot rows under `mse` or `bce`.
//!
//! The file loaders keep the file's order (per-epoch shuffling is the
//! trainer's job, with [`shuffled_order`]) and change nothing unless asked:
//! `test=FILE` reads a held-out set from a second file; `split=F` instead
//! holds out the last ⌈F·n⌉ rows (scikit-learn's rounding), deterministic;
//! `normalize=true` standardizes every input with the training rows' mean
//! and population std (a constant input keeps std 1), and applies the same
//! shift and scale to the test set.

mod csv;
mod generators;
mod mnist;
pub mod shapeset;

use crate::init::{Rng, Stream};
use crate::plan::{DEFAULT_MEMORY_LIMIT, human_bytes};
use crate::spec::{Data, LossKind, Source, Span, SpecError};
use std::fmt;
use std::path::{Path, PathBuf};

/// One set of examples: inputs `x` (n, inputs) row-major and targets `y`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Features per example.
    pub inputs: usize,
    /// Inputs, (n, inputs) row-major.
    pub x: Vec<f32>,
    /// Targets: (n) class indices stored as f32 for [`Target::Classes`],
    /// (n, outputs) row-major for [`Target::Values`].
    pub y: Vec<f32>,
    pub target: Target,
    /// Number of examples.
    pub n: usize,
}

/// What `y` holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// One class index in [0, k) per example (stored as f32), for
    /// `cross_entropy`.
    Classes(usize),
    /// `k` values per example, for `mse` (regression targets) and `bce`
    /// (probabilities in [0, 1]); classification sources give one-hot rows.
    Values(usize),
}

impl Target {
    /// Floats of `y` per example: 1 for classes, k for values.
    pub fn width(self) -> usize {
        match self {
            Target::Classes(_) => 1,
            Target::Values(k) => k,
        }
    }
}

impl Dataset {
    /// Example `i`'s inputs.
    ///
    /// ```
    /// use depthlab::dataset::{Dataset, Target};
    /// let d = Dataset { inputs: 2, x: vec![1.0, 2.0, 3.0, 4.0], y: vec![0.0, 1.0],
    ///                   target: Target::Classes(2), n: 2 };
    /// assert_eq!(d.x_row(1), &[3.0, 4.0]);
    /// assert_eq!(d.y_row(1), &[1.0]);
    /// ```
    pub fn x_row(&self, i: usize) -> &[f32] {
        &self.x[i * self.inputs..(i + 1) * self.inputs]
    }

    /// Example `i`'s target: a one-element slice holding the class index,
    /// or its `k` values.
    pub fn y_row(&self, i: usize) -> &[f32] {
        let w = self.target.width();
        &self.y[i * w..(i + 1) * w]
    }

    /// Examples per class (empty for [`Target::Values`]).
    pub fn class_counts(&self) -> Vec<usize> {
        let Target::Classes(k) = self.target else {
            return Vec::new();
        };
        let mut counts = vec![0; k];
        for &c in &self.y {
            if let Some(slot) = counts.get_mut(c as usize) {
                *slot += 1;
            }
        }
        counts
    }

    /// An empty set ready to be filled with `n` examples.
    fn with_capacity(n: usize, inputs: usize, target: Target) -> Self {
        Dataset {
            inputs,
            x: Vec::with_capacity(n * inputs),
            y: Vec::with_capacity(n * target.width()),
            target,
            n: 0,
        }
    }

    /// Appends one example's class: its index, or a one-hot row.
    fn push_class(&mut self, class: usize) {
        match self.target {
            Target::Classes(_) => self.y.push(class as f32),
            Target::Values(k) => self.y.extend((0..k).map(|j| f32::from(j == class))),
        }
    }

    /// Splits off the last `count` examples as a new set.
    fn split_off(&mut self, count: usize) -> Dataset {
        let keep = self.n - count;
        let w = self.target.width();
        let test = Dataset {
            inputs: self.inputs,
            x: self.x.split_off(keep * self.inputs),
            y: self.y.split_off(keep * w),
            target: self.target,
            n: count,
        };
        self.n = keep;
        test
    }
}

/// A training set and an optional held-out test set.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    pub train: Dataset,
    pub test: Option<Dataset>,
}

/// The data layer's error. Problems with the spec's `data` line are
/// [`SpecError`]s positioned at the offending key; problems inside a file
/// name the file and the line (CSV) or byte offset (IDX).
#[derive(Debug)]
pub enum DataError {
    /// The `data` line asks for something the source cannot give.
    Spec(SpecError),
    /// A file cannot be opened or read.
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A CSV file's content is wrong at a 1-based line.
    Csv {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// An IDX file's content is wrong at a byte offset; for a gzipped file
    /// the offset counts decompressed bytes.
    Idx {
        path: PathBuf,
        offset: u64,
        gzip: bool,
        message: String,
    },
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::Spec(e) => write!(f, "{e}"),
            DataError::Io { path, error } => write!(f, "cannot read `{}`: {error}", path.display()),
            DataError::Csv {
                path,
                line,
                message,
            } => write!(f, "{}:{line}: {message}", path.display()),
            DataError::Idx {
                path,
                offset,
                gzip,
                message,
            } => {
                let where_ = if *gzip {
                    " of the decompressed data"
                } else {
                    ""
                };
                write!(f, "{}: byte {offset}{where_}: {message}", path.display())
            }
        }
    }
}

impl std::error::Error for DataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DataError::Spec(e) => Some(e),
            DataError::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}

impl From<SpecError> for DataError {
    fn from(e: SpecError) -> Self {
        DataError::Spec(e)
    }
}

/// Spec problems stay spec errors; file problems become
/// [`crate::error::Error::Read`] with the position in the message, so every
/// data error exits with the usage code.
impl From<DataError> for crate::error::Error {
    fn from(e: DataError) -> Self {
        use crate::error::Error;
        match e {
            DataError::Spec(e) => Error::Spec(e),
            DataError::Io { path, error } => Error::Read { path, error },
            DataError::Csv {
                path,
                line,
                message,
            } => Error::Read {
                path,
                error: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("line {line}: {message}"),
                ),
            },
            DataError::Idx {
                path,
                offset,
                gzip,
                message,
            } => Error::Read {
                path,
                error: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "byte {offset}{}: {message}",
                        if gzip { " (decompressed)" } else { "" }
                    ),
                ),
            },
        }
    }
}

/// Loads the spec's data source.
///
/// `inputs` is the spec's `input` size and `outputs` its last layer's
/// units; a source whose natural shape differs is refused with an error at
/// the `data` line. `seed` is the training seed (a generator's `seed=`
/// overrides it). Paths of `csv` and `mnist` are relative to `base_dir`, the
/// spec file's folder. `src` is the spec text the `data` line came from, for
/// positioned errors.
///
/// ```
/// use depthlab::dataset::{Target, load};
/// use depthlab::spec::{LossKind, Source, parse};
/// let spec = parse(Source::new("--net", "input 2; dense 3; data spirals n=300 test=0")).unwrap();
/// let data = spec.data.as_ref().unwrap();
/// let split = load(data, &spec.source, 2, 3, LossKind::CrossEntropy, 1, ".".as_ref()).unwrap();
/// assert_eq!((split.train.n, split.train.x.len()), (300, 600));
/// assert_eq!(split.train.target, Target::Classes(3));
/// assert!(split.test.is_none());
///
/// let err = load(data, &spec.source, 64, 3, LossKind::CrossEntropy, 1, ".".as_ref()).unwrap_err();
/// assert!(err.to_string().contains("`data spirals` gives 2 inputs but the spec's `input` is 64"));
/// ```
pub fn load(
    data: &Data,
    src: &Source,
    inputs: usize,
    outputs: usize,
    loss: LossKind,
    seed: u64,
    base_dir: &Path,
) -> Result<Split, DataError> {
    let req = Request {
        data,
        src,
        inputs,
        outputs,
        loss,
        seed,
        base_dir,
    };
    if inputs == 0 || outputs == 0 {
        return Err(req.error(format!(
            "`data {}` needs a network with inputs and outputs (got {inputs} inputs, {outputs} outputs)",
            data.name
        )));
    }
    match data.name.as_str() {
        "gaussian" | "blobs" | "spirals" | "parity" | "teacher" | "shapeset" | "poly" => {
            generators::generate(&req)
        }
        "csv" => csv::load(&req),
        "mnist" => mnist::load(&req),
        other => Err(req
            .error_at(data.name_span, format!("unknown data source `{other}`"))
            .into()),
    }
}

/// The order of the `n` training examples in epoch `epoch`: a Fisher–Yates
/// shuffle drawn from its own stream ([`Stream::Shuffle`]), the same for
/// the same `(n, seed, epoch)` forever.
///
/// ```
/// let order = depthlab::dataset::shuffled_order(5, 1, 0);
/// let mut sorted = order.clone();
/// sorted.sort();
/// assert_eq!(sorted, [0, 1, 2, 3, 4]);
/// assert_eq!(order, depthlab::dataset::shuffled_order(5, 1, 0));
/// ```
pub fn shuffled_order(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut order = vec![0; n];
    shuffle_into(&mut order, seed, epoch);
    order
}

/// [`shuffled_order`] into `order` (its length is n), without allocating.
pub fn shuffle_into(order: &mut [usize], seed: u64, epoch: u64) {
    for (i, o) in order.iter_mut().enumerate() {
        *o = i;
    }
    let mut rng = Rng::new(seed, Stream::Shuffle(epoch));
    for i in (1..order.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
}

/// Everything [`load`] was asked, with helpers to read the `data` line's
/// keys and to build positioned errors.
struct Request<'a> {
    data: &'a Data,
    src: &'a Source,
    inputs: usize,
    outputs: usize,
    loss: LossKind,
    seed: u64,
    base_dir: &'a Path,
}

impl Request<'_> {
    fn name(&self) -> &str {
        &self.data.name
    }

    fn error_at(&self, span: Span, message: impl Into<String>) -> SpecError {
        self.src.error(span, message)
    }

    /// An error at the source's name (`data spirals`).
    fn error(&self, message: impl Into<String>) -> DataError {
        DataError::Spec(self.src.error(self.data.name_span, message))
    }

    fn param(&self, key: &str) -> Option<(&str, Span)> {
        self.data
            .params
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, v, s)| (v.as_str(), *s))
    }

    /// Where `key` was written, or the source's name when it was not.
    fn span_of(&self, key: &str) -> Span {
        self.param(key).map_or(self.data.name_span, |(_, s)| s)
    }

    fn whole(&self, key: &str, default: usize) -> Result<usize, DataError> {
        match self.param(key) {
            None => Ok(default),
            Some((v, span)) => v.parse().map_err(|_| {
                self.error_at(span, format!("expected a whole number, found `{v}`"))
                    .into()
            }),
        }
    }

    fn count(&self, key: &str, default: usize) -> Result<usize, DataError> {
        match self.whole(key, default)? {
            0 => Err(self
                .error_at(self.span_of(key), "expected a whole number ≥ 1, found `0`")
                .into()),
            n => Ok(n),
        }
    }

    fn non_negative(&self, key: &str, default: f64) -> Result<f64, DataError> {
        match self.param(key) {
            None => Ok(default),
            Some((v, span)) => match v.parse::<f64>() {
                Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
                _ => Err(self
                    .error_at(span, format!("expected a number ≥ 0, found `{v}`"))
                    .into()),
            },
        }
    }

    fn boolean(&self, key: &str) -> Result<bool, DataError> {
        match self.param(key) {
            None | Some(("false", _)) => Ok(false),
            Some(("true", _)) => Ok(true),
            Some((v, span)) => Err(self
                .error_at(span, format!("expected `true` or `false`, found `{v}`"))
                .into()),
        }
    }

    /// The generator seed: `seed=`, else the training seed.
    fn data_seed(&self) -> Result<u64, DataError> {
        match self.param("seed") {
            None => Ok(self.seed),
            Some((v, span)) => v.parse().map_err(|_| {
                self.error_at(
                    span,
                    format!("expected a seed (a whole number), found `{v}`"),
                )
                .into()
            }),
        }
    }

    /// `split=`: the fraction of rows held out at the end (0 when absent).
    fn split(&self) -> Result<f64, DataError> {
        match self.param("split") {
            None => Ok(0.0),
            Some((v, span)) => match v.parse::<f64>() {
                Ok(x) if (0.0..1.0).contains(&x) => Ok(x),
                _ => Err(self
                    .error_at(span, format!("expected a fraction in [0, 1), found `{v}`"))
                    .into()),
            },
        }
    }

    /// A file key's path, joined to the spec's folder.
    fn path(&self, key: &str) -> Option<(PathBuf, Span)> {
        self.param(key)
            .map(|(v, span)| (self.base_dir.join(v), span))
    }

    /// Refuses the source unless it gives `inputs` features.
    fn expect_inputs(&self, gives: usize, what: &str) -> Result<(), DataError> {
        if gives != self.inputs {
            return Err(self.error(format!(
                "`data {}` gives {gives} input{}{what} but the spec's `input` is {}",
                self.name(),
                if gives == 1 { "" } else { "s" },
                self.inputs
            )));
        }
        Ok(())
    }

    /// Refuses the source unless the last layer has `classes` units.
    fn expect_classes(&self, classes: usize) -> Result<(), DataError> {
        if classes != self.outputs {
            return Err(self.error(format!(
                "`data {}` has {classes} classes but the last layer has {} units",
                self.name(),
                self.outputs
            )));
        }
        Ok(())
    }

    /// The target layout of a classification source with `k` classes:
    /// indices under cross_entropy, one-hot rows otherwise.
    fn class_target(&self, k: usize) -> Target {
        match self.loss {
            LossKind::CrossEntropy => Target::Classes(k),
            LossKind::Mse | LossKind::Bce => Target::Values(k),
        }
    }

    /// Refuses a set whose f32 buffers would pass the memory limit, pointing
    /// at the `key` that asked for it.
    fn check_size(&self, key: &str, n: usize, width: usize) -> Result<(), DataError> {
        let bytes = (n as u64)
            .checked_mul(width as u64)
            .and_then(|v| v.checked_mul(4));
        match bytes {
            Some(b) if b <= DEFAULT_MEMORY_LIMIT => Ok(()),
            _ => Err(self
                .error_at(
                    self.span_of(key),
                    format!(
                        "{n} examples of {width} floats need {} (the limit is {})",
                        bytes.map_or("more than 16 EiB".to_owned(), human_bytes),
                        human_bytes(DEFAULT_MEMORY_LIMIT)
                    ),
                )
                .into()),
        }
    }
}

/// Holds out the last `split` fraction of `train` (⌈split·n⌉ rows, as
/// scikit-learn's `train_test_split` rounds) and standardizes the inputs
/// with the training rows' mean and std when asked. Shared by the file
/// loaders.
fn finish(
    req: &Request,
    mut train: Dataset,
    mut test: Option<Dataset>,
) -> Result<Split, DataError> {
    let split = req.split()?;
    if split > 0.0 {
        if test.is_some() {
            return Err(req
                .error_at(
                    req.span_of("split"),
                    "give either `test=FILE` or `split=`, not both",
                )
                .into());
        }
        let count = (split * train.n as f64).ceil() as usize;
        if count >= train.n {
            return Err(req
                .error_at(
                    req.span_of("split"),
                    format!(
                        "holding out {count} of {} examples leaves none to train on",
                        train.n
                    ),
                )
                .into());
        }
        test = Some(train.split_off(count));
    }
    normalize_if_asked(req, Split { train, test })
}

/// `normalize=true`: standardizes every input with the training rows' mean
/// and std, and the test rows with the same shift and scale.
fn normalize_if_asked(req: &Request, mut split: Split) -> Result<Split, DataError> {
    if req.boolean("normalize")? {
        let (mean, std) = column_stats(&split.train);
        normalize(&mut split.train, &mean, &std);
        if let Some(t) = &mut split.test {
            normalize(t, &mean, &std);
        }
    }
    Ok(split)
}

/// Per-input mean and population std (ddof 0, as scikit-learn's
/// StandardScaler), in f64 and in row order; a constant column gets std 1.
fn column_stats(d: &Dataset) -> (Vec<f64>, Vec<f64>) {
    let mut mean = vec![0.0f64; d.inputs];
    for row in d.x.chunks_exact(d.inputs) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += f64::from(v);
        }
    }
    let n = d.n.max(1) as f64;
    mean.iter_mut().for_each(|m| *m /= n);
    let mut var = vec![0.0f64; d.inputs];
    for row in d.x.chunks_exact(d.inputs) {
        for ((s, &m), &v) in var.iter_mut().zip(&mean).zip(row) {
            *s += (f64::from(v) - m).powi(2);
        }
    }
    let std = var
        .iter()
        .map(|s| {
            let sd = (s / n).sqrt();
            if sd > 0.0 { sd } else { 1.0 }
        })
        .collect();
    (mean, std)
}

fn normalize(d: &mut Dataset, mean: &[f64], std: &[f64]) {
    for row in d.x.chunks_exact_mut(d.inputs) {
        for ((v, &m), &s) in row.iter_mut().zip(mean).zip(std) {
            *v = ((f64::from(*v) - m) / s) as f32;
        }
    }
}

/// Reads a whole file, naming it in the error.
fn read_file(path: &Path) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|error| DataError::Io {
        path: path.to_owned(),
        error,
    })
}
