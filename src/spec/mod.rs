//! The spec language: a small, line-oriented description of a network, its
//! loss, optimizer, data and training settings.
//!
//! ```text
//! input 1024
//! dense 1000 sigmoid init=standard x5
//! dense 9
//! loss cross_entropy
//! optim sgd lr=0.01 momentum=0.9 weight_decay=1e-4
//! data shapeset n=20000 test=5000
//! train epochs=10 batch=10 seed=1
//! ```
//!
//! [`parse`] turns text into a [`Spec`] (every value validated and
//! positioned); [`Overrides`] applies command-line flags on top.

mod data;
mod display;
mod error;
mod overrides;
mod parse;
mod syntax;

pub use data::{Data, DataSource, Files, Generated, Generator};
pub use error::{Source, Span, SpecError, did_you_mean};
pub use overrides::Overrides;
pub use parse::{ACTIVATIONS, INITS, parse, parse_activation, parse_init};

use depthlab_kernels::Activation;
pub use depthlab_kernels::loss::LossKind;
use depthlab_kernels::update::{AdamConfig, SgdConfig};
use std::fmt;

/// A parsed spec. Lines that may be absent are `Option`s; defaults are
/// applied by the graph checker, so `depthlab check` can say which were used.
#[derive(Clone, Debug)]
pub struct Spec {
    pub source: Source,
    pub input: Option<Input>,
    pub dense: Vec<Dense>,
    pub loss: Option<(LossKind, Span)>,
    /// The `loss` line's L2 term, ρ Σ w² (ρ = 0: none).
    pub l2: L2,
    pub optim: Option<Optim>,
    pub data: Option<Data>,
    pub train: Train,
    /// The command-line flags applied on top of the text, as written
    /// (`--act relu`), in the order [`Overrides::apply`] applies them.
    pub overrides: Vec<String>,
}

impl Spec {
    /// The spec's name with the flags that changed it, for headers and
    /// figure titles: `relu-he --act tanh --depth 5`.
    pub fn label(&self) -> String {
        std::iter::once(self.source.name.as_str())
            .chain(self.overrides.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// `input N`.
#[derive(Clone, Copy, Debug)]
pub struct Input {
    pub size: usize,
    pub span: Span,
}

/// `dense N [ACT] [init=INIT] [bias=INIT] [weight_decay=F] [xK]`.
#[derive(Clone, Debug)]
pub struct Dense {
    pub units: usize,
    pub units_span: Span,
    pub act: Option<(ActSpec, Span)>,
    pub init: Option<(InitSpec, Span)>,
    pub bias: Option<(InitSpec, Span)>,
    pub weight_decay: Option<f64>,
    /// Weight decay of the layer's PReLU/SReLU parameters (default none).
    pub act_decay: Option<f64>,
    /// The `xK` repeat count (1 when absent).
    pub repeat: usize,
    /// Where `xK` was written, if it was.
    pub repeat_span: Option<Span>,
    /// The `dense` keyword.
    pub span: Span,
}

/// An activation as written, with its fixed parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ActSpec {
    Identity,
    Sigmoid,
    Tanh,
    Softsign,
    Relu,
    LeakyRelu { a: f64 },
    Prelu { init: f64 },
    Elu { a: f64 },
    Selu,
    Srelu { tl: f64, al: f64, tr: f64, ar: f64 },
    Softplus,
    Gelu,
    Silu,
}

impl ActSpec {
    /// The kernel that computes this activation.
    pub fn kernel(self) -> Activation {
        match self {
            ActSpec::Identity => Activation::Identity,
            ActSpec::Sigmoid => Activation::Sigmoid,
            ActSpec::Tanh => Activation::Tanh,
            ActSpec::Softsign => Activation::Softsign,
            ActSpec::Relu => Activation::Relu,
            ActSpec::LeakyRelu { a } => Activation::LeakyRelu { slope: a as f32 },
            ActSpec::Prelu { .. } => Activation::Prelu,
            ActSpec::Elu { a } => Activation::Elu { alpha: a as f32 },
            ActSpec::Selu => Activation::Selu,
            ActSpec::Srelu { .. } => Activation::Srelu,
            ActSpec::Softplus => Activation::Softplus,
            ActSpec::Gelu => Activation::Gelu,
            ActSpec::Silu => Activation::Silu,
        }
    }

    /// The bare name (`leaky_relu`).
    pub fn name(self) -> &'static str {
        self.kernel().name()
    }

    /// The slope a of the negative side for leaky/parametric ReLUs, used by
    /// the He and gain formulas (PReLU uses its initial slope).
    pub fn negative_slope(self) -> Option<f64> {
        match self {
            ActSpec::LeakyRelu { a } => Some(a),
            ActSpec::Prelu { init } => Some(init),
            _ => None,
        }
    }

    /// torch.nn.init.calculate_gain for this activation (identity and
    /// sigmoid 1, tanh 5/3, relu √2, leaky_relu √(2/(1+a²)), selu 3/4; 1 for
    /// activations PyTorch has no gain for).
    pub fn gain(self) -> f64 {
        match self {
            ActSpec::Tanh => 5.0 / 3.0,
            ActSpec::Relu => 2f64.sqrt(),
            ActSpec::LeakyRelu { a } | ActSpec::Prelu { init: a } => (2.0 / (1.0 + a * a)).sqrt(),
            ActSpec::Selu => 0.75,
            _ => 1.0,
        }
    }

    /// Whether the activation saturates toward bounded values (the
    /// saturated-fraction statistic applies).
    pub fn saturates(self) -> bool {
        matches!(self, ActSpec::Sigmoid | ActSpec::Tanh | ActSpec::Softsign)
    }

    /// Whether it is a rectifier with its kink at 0 (ReLU, LeakyReLU,
    /// PReLU, ELU, SELU): a unit can sit on the negative side for every
    /// input, where a ReLU unit is dead and the others pass only a reduced
    /// gradient (a·δ, or ELU's δ·f'(s) → 0 as s → −∞).
    pub fn rectifies(self) -> bool {
        matches!(
            self,
            ActSpec::Relu
                | ActSpec::LeakyRelu { .. }
                | ActSpec::Prelu { .. }
                | ActSpec::Elu { .. }
                | ActSpec::Selu
        )
    }

    /// Whether units can die (output exactly zero for every input).
    pub fn can_die(self) -> bool {
        match self {
            ActSpec::Relu => true,
            ActSpec::LeakyRelu { a } | ActSpec::Prelu { init: a } => a == 0.0,
            ActSpec::Srelu { al, .. } => al == 0.0,
            _ => false,
        }
    }
}

impl fmt::Display for ActSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ActSpec::LeakyRelu { a } => write!(f, "leaky_relu(a={a})"),
            ActSpec::Prelu { init } => write!(f, "prelu(init={init})"),
            ActSpec::Elu { a } => write!(f, "elu(a={a})"),
            ActSpec::Srelu { tl, al, tr, ar } => {
                write!(f, "srelu(tl={tl},al={al},tr={tr},ar={ar})")
            }
            other => f.write_str(other.name()),
        }
    }
}

/// A gain factor: a number, or `auto` (torch's calculate_gain of the
/// layer's activation).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Gain {
    Auto,
    Value(f64),
}

impl fmt::Display for Gain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gain::Auto => f.write_str("auto"),
            Gain::Value(g) => write!(f, "{g}"),
        }
    }
}

/// A weight or bias initializer as written.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum InitSpec {
    Normal { std: f64 },
    Uniform { a: f64 },
    Standard,
    GlorotUniform { gain: Gain },
    GlorotNormal { gain: Gain },
    HeUniform,
    HeNormal,
    LecunNormal,
    LecunUniform,
    Orthogonal { gain: Gain },
    Torch,
    Zeros,
    Const { c: f64 },
}

impl InitSpec {
    /// Whether this init may be used for a bias vector (fan-based matrix
    /// inits such as glorot or orthogonal are for weights only).
    pub fn fits_bias(self) -> bool {
        matches!(
            self,
            InitSpec::Normal { .. }
                | InitSpec::Uniform { .. }
                | InitSpec::Standard
                | InitSpec::Torch
                | InitSpec::Zeros
                | InitSpec::Const { .. }
        )
    }
}

impl fmt::Display for InitSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            InitSpec::Normal { std } => write!(f, "normal({std})"),
            InitSpec::Uniform { a } => write!(f, "uniform({a})"),
            InitSpec::Standard => f.write_str("standard"),
            InitSpec::GlorotUniform {
                gain: Gain::Value(1.0),
            } => f.write_str("glorot_uniform"),
            InitSpec::GlorotUniform { gain } => write!(f, "glorot_uniform(gain={gain})"),
            InitSpec::GlorotNormal {
                gain: Gain::Value(1.0),
            } => f.write_str("glorot_normal"),
            InitSpec::GlorotNormal { gain } => write!(f, "glorot_normal(gain={gain})"),
            InitSpec::HeUniform => f.write_str("he_uniform"),
            InitSpec::HeNormal => f.write_str("he_normal"),
            InitSpec::LecunNormal => f.write_str("lecun_normal"),
            InitSpec::LecunUniform => f.write_str("lecun_uniform"),
            InitSpec::Orthogonal {
                gain: Gain::Value(1.0),
            } => f.write_str("orthogonal"),
            InitSpec::Orthogonal { gain } => write!(f, "orthogonal(gain={gain})"),
            InitSpec::Torch => f.write_str("torch"),
            InitSpec::Zeros => f.write_str("zeros"),
            InitSpec::Const { c } => write!(f, "const({c})"),
        }
    }
}

/// `loss ... l2=ρ [l2_bias=true]`: ρ Σ w² over the weights (and the biases
/// with `l2_bias`) added to the loss, so 2ρw to their gradients: what torch's
/// coupled `weight_decay=2ρ` does to SGD and Adam.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct L2 {
    pub rho: f64,
    pub bias: bool,
    /// Where `l2=` was written ([`Span::NONE`] when it was not).
    pub span: Span,
}

/// `optim sgd|adam|adamw key=value...` with PyTorch's names and defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Optim {
    pub kind: OptimKind,
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub amsgrad: bool,
    pub maximize: bool,
    /// Whether weight decay also applies to biases (default true).
    pub decay_bias: bool,
    pub schedule: Schedule,
    pub span: Span,
}

impl Default for Optim {
    /// What a spec without an `optim` line trains with: `optim adam` with
    /// PyTorch's defaults (lr 1e-3), which trains most specs out of the box.
    fn default() -> Self {
        Optim::torch_defaults(OptimKind::Adam, Span::NONE)
    }
}

impl Spec {
    /// The optimizer the spec trains with: its `optim` line or the default
    /// ([`Optim::default`]).
    pub fn optimizer(&self) -> Optim {
        self.optim.clone().unwrap_or_default()
    }

    /// The data the spec trains and measures on: its `data` line or the
    /// default `data gaussian` ([`Data::gaussian`]).
    pub fn data_or_default(&self) -> Data {
        self.data.clone().unwrap_or_else(Data::gaussian)
    }
}

impl Optim {
    /// PyTorch's defaults (torch.optim, 2.x) for `kind`: lr 1e-3, no
    /// momentum, betas (0.9, 0.999), eps 1e-8, weight decay 0 (AdamW 1e-2).
    pub fn torch_defaults(kind: OptimKind, span: Span) -> Optim {
        Optim {
            kind,
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: if kind == OptimKind::AdamW { 1e-2 } else { 0.0 },
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            amsgrad: false,
            maximize: false,
            decay_bias: true,
            schedule: Schedule::Constant,
            span,
        }
    }
}

impl Optim {
    /// The SGD kernel's hyper-parameters at learning rate `lr`, for a
    /// buffer whose weight decay is `decay` and whose L2 gradient
    /// coefficient is `l2` (the compiler resolves both per buffer).
    pub fn sgd_config(&self, lr: f64, decay: f64, l2: f64) -> SgdConfig {
        SgdConfig {
            lr,
            momentum: self.momentum,
            dampening: self.dampening,
            nesterov: self.nesterov,
            weight_decay: decay,
            maximize: self.maximize,
            l2,
        }
    }

    /// The Adam/AdamW kernel's hyper-parameters, as [`Optim::sgd_config`].
    pub fn adam_config(&self, lr: f64, decay: f64, l2: f64) -> AdamConfig {
        AdamConfig {
            lr,
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            weight_decay: decay,
            decoupled: self.kind == OptimKind::AdamW,
            amsgrad: self.amsgrad,
            maximize: self.maximize,
            l2,
        }
    }
}

/// The learning rate over training, stepped once per epoch as PyTorch's
/// schedulers are usually stepped (`scheduler.step()` after each epoch).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    /// `lr` throughout.
    Constant,
    /// torch.optim.lr_scheduler.StepLR: lr·γ^⌊epoch/step_size⌋.
    Step { step_size: usize, gamma: f64 },
    /// CosineAnnealingLR with T_max = the run's epochs:
    /// min_lr + (lr − min_lr)·(1 + cos(π·epoch/T_max))/2.
    Cosine { min_lr: f64 },
}

impl Schedule {
    /// The learning rate of 0-based `epoch` in a run of `epochs` epochs.
    ///
    /// ```
    /// use depthlab::spec::Schedule;
    /// let s = Schedule::Step { step_size: 2, gamma: 0.5 };
    /// assert_eq!(s.lr(1.0, 3, 10), 0.5);
    /// assert_eq!(Schedule::Cosine { min_lr: 0.0 }.lr(1.0, 0, 10), 1.0);
    /// ```
    pub fn lr(self, lr: f64, epoch: usize, epochs: usize) -> f64 {
        match self {
            Schedule::Constant => lr,
            Schedule::Step { step_size, gamma } => {
                lr * gamma.powi((epoch / step_size.max(1)).min(i32::MAX as usize) as i32)
            }
            Schedule::Cosine { min_lr } => {
                let t = epoch.min(epochs) as f64 / epochs.max(1) as f64;
                min_lr + (lr - min_lr) * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptimKind {
    Sgd,
    Adam,
    AdamW,
}

impl OptimKind {
    pub fn name(self) -> &'static str {
        match self {
            OptimKind::Sgd => "sgd",
            OptimKind::Adam => "adam",
            OptimKind::AdamW => "adamw",
        }
    }

    /// The per-parameter state buffers `o` needs, with torch.optim's names
    /// (as in `optimizer.state_dict()`): SGD `momentum_buffer` (only with
    /// momentum), Adam/AdamW `exp_avg`, `exp_avg_sq` and, with amsgrad,
    /// `max_exp_avg_sq`.
    pub fn state_names(self, o: &Optim) -> [Option<&'static str>; 3] {
        match self {
            OptimKind::Sgd => [(o.momentum != 0.0).then_some("momentum_buffer"), None, None],
            OptimKind::Adam | OptimKind::AdamW => [
                Some("exp_avg"),
                Some("exp_avg_sq"),
                o.amsgrad.then_some("max_exp_avg_sq"),
            ],
        }
    }
}

/// `train key=value...`.
#[derive(Clone, Debug, PartialEq)]
pub struct Train {
    pub epochs: usize,
    pub batch: usize,
    pub seed: u64,
    /// Overrides `epochs` when set.
    pub steps: Option<usize>,
    /// Subnormal results and inputs read as zero on every thread that runs
    /// the network (see `depthlab_kernels::subnormal`): faster where
    /// gradients vanish below 1.2e-38, but no longer IEEE's (or PyTorch's
    /// default) results.
    pub flush_subnormals: bool,
    pub span: Option<Span>,
}

impl Default for Train {
    fn default() -> Self {
        Train {
            epochs: 10,
            batch: 32,
            seed: 0,
            steps: None,
            flush_subnormals: false,
            span: None,
        }
    }
}
