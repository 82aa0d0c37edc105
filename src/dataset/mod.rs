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
mod error;
mod generators;
mod mnist;
mod prepare;
pub mod probe;
pub mod shapeset;

pub use error::DataError;
use prepare::{hold_out, normalize_if_asked};

use crate::graph::Graph;
use crate::graph::human_bytes;
use crate::init::{Rng, Stream};
use crate::spec::{Data, DataSource, LossKind, Source, Span, Spec, SpecError};
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

impl Split {
    /// Bytes the two sets' inputs and targets hold.
    pub fn bytes(&self) -> u64 {
        [Some(&self.train), self.test.as_ref()]
            .into_iter()
            .flatten()
            .map(|d| ((d.x.len() + d.y.len()) * size_of::<f32>()) as u64)
            .fold(0, u64::saturating_add)
    }
}

/// Loads a `data` line's source for `graph`.
///
/// The source must fit the network: `graph.input` features, its last
/// layer's units, its loss; otherwise the error points at the `data` line.
/// `seed` is the training seed (a generator's `seed=` overrides it). Paths
/// of `csv` and `mnist` are relative to `base_dir`, the spec file's folder
/// ([`base_dir`]). A generator whose sets would need more than
/// `memory_limit` bytes is refused before it draws anything. `src` is the
/// spec text the line came from, for positioned errors.
///
/// ```
/// use depthlab::dataset::{Target, load};
/// use depthlab::graph::Graph;
/// use depthlab::spec::{Source, parse};
/// let spec = parse(Source::new("--net", "input 2; dense 3; data spirals n=300 test=0")).unwrap();
/// let data = spec.data.as_ref().unwrap();
/// let graph = Graph::check(&spec).unwrap();
/// let limit = depthlab::graph::DEFAULT_MEMORY_LIMIT;
/// let split = load(data, &spec.source, &graph, 1, ".".as_ref(), limit).unwrap();
/// assert_eq!((split.train.n, split.train.x.len()), (300, 600));
/// assert_eq!(split.train.target, Target::Classes(3));
/// assert!(split.test.is_none());
///
/// let wide = parse(Source::new("--net", "input 64; dense 3; data spirals")).unwrap();
/// let graph = Graph::check(&wide).unwrap();
/// let data = wide.data.as_ref().unwrap();
/// let err = load(data, &wide.source, &graph, 1, ".".as_ref(), limit).unwrap_err();
/// assert!(err.to_string().contains("`data spirals` gives 2 inputs but the spec's `input` is 64"));
/// ```
pub fn load(
    data: &Data,
    src: &Source,
    graph: &Graph,
    seed: u64,
    base_dir: &Path,
    memory_limit: u64,
) -> Result<Split, DataError> {
    load_request(&Request::new(
        data,
        src,
        graph,
        seed,
        base_dir,
        memory_limit,
    ))
}

/// The sets `req` asks for, normalized if its `data` line says so.
fn load_request(req: &Request) -> Result<Split, DataError> {
    let data = req.data;
    let split = match &data.source {
        DataSource::Generated(g) => generators::generate(req, g)?,
        DataSource::Csv { files, label } => {
            let (train, test) = csv::load(req, files, label.as_ref())?;
            hold_out(req, files, train, test)?
        }
        DataSource::Mnist {
            files,
            labels,
            test_labels,
        } => {
            let (train, test) = mnist::load(req, files, labels.as_ref(), test_labels.as_ref())?;
            hold_out(req, files, train, test)?
        }
    };
    Ok(normalize_if_asked(data, split))
}

/// The data `spec` trains and measures on ([`Spec::data_or_default`]),
/// loaded for `graph` with the spec's seed, paths relative to the spec file,
/// and generated sets within `memory_limit` bytes.
pub fn load_for(spec: &Spec, graph: &Graph, memory_limit: u64) -> Result<Split, DataError> {
    load_spec_data(spec, graph, memory_limit, false)
}

/// [`load_for`] for `stats`, which reads only the probe: a generator with a
/// held-out set (and no normalization, which needs the training rows) draws
/// only that set; the training set is then empty. Its probe rows are the
/// same as [`load_for`]'s (the sets come from streams of their own).
pub fn load_probe_for(spec: &Spec, graph: &Graph, memory_limit: u64) -> Result<Split, DataError> {
    load_spec_data(spec, graph, memory_limit, true)
}

/// The data of `spec` for `graph`: [`load_for`] or, `probe_only`,
/// [`load_probe_for`].
fn load_spec_data(
    spec: &Spec,
    graph: &Graph,
    memory_limit: u64,
    probe_only: bool,
) -> Result<Split, DataError> {
    let data = spec.data_or_default();
    load_request(&Request {
        probe_only,
        ..Request::new(
            &data,
            &spec.source,
            graph,
            spec.train.seed,
            base_dir(&spec.source),
            memory_limit,
        )
    })
}

/// The folder relative paths in a spec's `data` line are read from: the
/// spec file's, or the working directory for `--net` and examples.
pub fn base_dir(src: &Source) -> &Path {
    let p = Path::new(&src.name);
    if p.is_file() {
        p.parent().unwrap_or(Path::new("."))
    } else {
        Path::new(".")
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

/// Everything [`load`] was asked, with helpers to build positioned errors
/// and to check what a source gives against the network.
struct Request<'a> {
    data: &'a Data,
    src: &'a Source,
    inputs: usize,
    outputs: usize,
    loss: LossKind,
    seed: u64,
    base_dir: &'a Path,
    /// Bytes the generated sets may take together.
    memory_limit: u64,
    /// Only the probe is read (`stats`): a generator may skip the training
    /// set when the probe comes from its held-out set.
    probe_only: bool,
}

impl<'a> Request<'a> {
    /// What [`load`] asks for (every set: not `probe_only`).
    fn new(
        data: &'a Data,
        src: &'a Source,
        graph: &Graph,
        seed: u64,
        base_dir: &'a Path,
        memory_limit: u64,
    ) -> Self {
        Request {
            data,
            src,
            inputs: graph.input,
            outputs: graph.outputs(),
            loss: graph.loss,
            seed,
            base_dir,
            memory_limit,
            probe_only: false,
        }
    }

    fn name(&self) -> &str {
        self.data.name()
    }

    fn error_at(&self, span: Span, message: impl Into<String>) -> SpecError {
        self.src.error(span, message)
    }

    /// An error at the source's name (`data spirals`).
    fn error(&self, message: impl Into<String>) -> DataError {
        DataError::Spec(self.src.error(self.data.span, message))
    }

    /// A file key's path, joined to the spec's folder.
    fn path(&self, (name, _): &(String, Span)) -> PathBuf {
        self.base_dir.join(name)
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

    /// Refuses `n` examples of `width` f32 whose buffers would pass the
    /// memory limit, pointing at `span` (the key that asked for them, or
    /// the source's name); `what` names them in the message.
    fn check_size(&self, span: Span, n: u64, width: usize, what: &str) -> Result<(), DataError> {
        let bytes = n.checked_mul(width as u64).and_then(|v| v.checked_mul(4));
        match bytes {
            Some(b) if b <= self.memory_limit => Ok(()),
            _ => Err(self
                .error_at(
                    span,
                    format!(
                        "{what} of {width} floats need {}, more than the {} the memory limit leaves for data",
                        bytes.map_or("more than 16 EiB".to_owned(), human_bytes),
                        human_bytes(self.memory_limit)
                    ),
                )
                .with_help("fewer examples, a smaller network input, or a higher --memory-limit")
                .into()),
        }
    }
}

/// Reads a whole data file of at most `limit` bytes (the memory limit:
/// its values take at least as much), naming it in the error.
fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>, DataError> {
    crate::files::read_limited(path, limit, "a data file").map_err(|error| DataError::Io {
        path: path.to_owned(),
        error,
    })
}
