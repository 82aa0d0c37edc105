//! The compiled schedule as plain data: buffers (offsets and lengths in one
//! arena), the buffers of each layer, and the steps, each a kernel call
//! over buffer ids with its dims. [`crate::compile`] builds it; the plan
//! prints itself for `depthlab check`.

use crate::graph::{Graph, human_bytes};
use crate::spec::{LossKind, Optim};
use depthlab_kernels::Activation;
use std::fmt::{self, Write as _};

/// A buffer of the plan: an index into [`Plan::buffers`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buf(pub usize);

/// Where a buffer lives in the arena (in f32 elements) and what it holds.
#[derive(Clone, Debug, PartialEq)]
pub struct BufferInfo {
    pub name: String,
    pub offset: usize,
    pub len: usize,
}

impl BufferInfo {
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len
    }
}

/// The buffers of one layer. Learnable activation parameters `p`/`dp` are
/// empty for activations without any; `a` is `s` itself for identity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerBufs {
    pub w: Buf,
    pub b: Buf,
    pub p: Buf,
    pub dw: Buf,
    pub db: Buf,
    pub dp: Buf,
    /// Pre-activation s (rows, units).
    pub s: Buf,
    /// Activation a = f(s) (rows, units).
    pub a: Buf,
    /// δ = ∂L/∂s (rows, units); holds ∂L/∂a until the activation backward.
    pub delta: Buf,
}

/// One step of the schedule: a kernel call over buffers with its dims.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Step {
    /// s = x·Wᵀ + b, x (rows, fan_in), W (units, fan_in); with a fused
    /// activation (`act` not identity) also a = f(s), in the gemm's
    /// epilogue while each tile is hot. Split over `parts` row blocks.
    Linear {
        s: Buf,
        a: Buf,
        x: Buf,
        w: Buf,
        b: Buf,
        act: Activation,
        rows: usize,
        fan_in: usize,
        units: usize,
        parts: usize,
    },
    /// a = f(s), for activations with learnable parameters (not fused).
    Activation {
        act: Activation,
        a: Buf,
        s: Buf,
        p: Buf,
        rows: usize,
        units: usize,
    },
    /// Loss of `pred` against `target`; writes ∂L/∂pred into `grad`.
    Loss {
        loss: LossKind,
        grad: Buf,
        pred: Buf,
        target: Buf,
        rows: usize,
        cols: usize,
    },
    /// δ ← δ ⊙ f'(s); dp = ∂L/∂p (split only without parameters, whose
    /// gradient sums over rows).
    ActivationBackward {
        act: Activation,
        delta: Buf,
        dp: Buf,
        s: Buf,
        a: Buf,
        p: Buf,
        rows: usize,
        units: usize,
        parts: usize,
    },
    /// dW = δᵀ·x split over `parts` row blocks of dW; db = Σ_rows δ.
    LinearBackwardParams {
        dw: Buf,
        db: Buf,
        delta: Buf,
        x: Buf,
        rows: usize,
        fan_in: usize,
        units: usize,
        parts: usize,
    },
    /// dx = δ·W (the next layer down's ∂L/∂a), split over row blocks.
    LinearBackwardInput {
        dx: Buf,
        delta: Buf,
        w: Buf,
        rows: usize,
        fan_in: usize,
        units: usize,
        parts: usize,
    },
    /// One fused optimizer pass over a parameter buffer: decay, moments
    /// and the parameter write. `state` holds the optimizer's buffers in
    /// [`crate::spec::OptimKind::state_names`] order (unused slots are empty); `decay` is
    /// this buffer's weight decay, resolved by the compiler (per-layer
    /// overrides, `decay_bias`, none on activation parameters unless asked).
    /// The learning rate and step count are the executor's, at run time.
    Update {
        param: Buf,
        grad: Buf,
        state: [Buf; 3],
        decay: f64,
        /// Contiguous blocks to split the (element-wise) pass over.
        parts: usize,
    },
    /// Per-layer statistics of layer `layer` (0-based).
    LayerStats { layer: usize },
    /// Cross-layer statistics: gains and δ histograms on a common range.
    NetworkStats,
}

/// The compiled schedule for one batch size.
#[derive(Clone, Debug)]
pub struct Plan {
    pub graph: Graph,
    /// Rows of every activation buffer.
    pub batch: usize,
    pub buffers: Vec<BufferInfo>,
    pub layers: Vec<LayerBufs>,
    /// Inputs (batch, input).
    pub x: Buf,
    /// Targets: class indices (batch) for cross_entropy, (batch, outputs)
    /// otherwise.
    pub y: Buf,
    /// Scratch for order statistics (as large as the largest activation).
    pub scratch: Buf,
    pub steps: Vec<Step>,
    /// Arena length in f32 elements.
    pub arena_len: usize,
    /// Threads the plan was split for.
    pub threads: usize,
    /// The optimizer of a training plan.
    pub optim: Option<Optim>,
    /// The learnable buffers with their optimizer state, in update order
    /// (W, b, then activation parameters, layer by layer); empty unless
    /// compiled for training.
    pub params: Vec<ParamBufs>,
}

/// A learnable buffer, its gradient and its optimizer state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParamBufs {
    pub param: Buf,
    pub grad: Buf,
    pub state: [Buf; 3],
    /// Weight decay λ of this buffer.
    pub decay: f64,
}

/// Why a graph could not be compiled.
#[derive(Clone, Debug, PartialEq)]
pub enum PlanError {
    /// The arena would not fit in the memory limit (bytes needed, limit).
    TooLarge { needed: u64, limit: u64 },
    /// A size overflowed 64-bit arithmetic.
    Overflow,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::TooLarge { needed, limit } => write!(
                f,
                "this network needs {} of memory, more than the limit of {} (reduce the width, depth or batch, or raise --memory-limit)",
                human_bytes(*needed),
                human_bytes(*limit)
            ),
            PlanError::Overflow => f.write_str("this network's size overflows 64-bit arithmetic (reduce the width, depth or batch)"),
        }
    }
}

impl std::error::Error for PlanError {}

impl Plan {
    pub fn buffer(&self, b: Buf) -> &BufferInfo {
        &self.buffers[b.0]
    }

    /// Arena size in bytes.
    pub fn arena_bytes(&self) -> u64 {
        self.arena_len as u64 * size_of::<f32>() as u64
    }

    fn name(&self, b: Buf) -> &str {
        &self.buffers[b.0].name
    }

    /// One line describing a step, e.g.
    /// `linear+tanh   s1 = x·W1ᵀ + b1, a1 = tanh(s1)   (300×256)·(256×256)ᵀ  ×2`
    /// (`×2`: split over 2 threads).
    pub fn describe(&self, step: &Step) -> String {
        let n = |b: Buf| self.name(b);
        let split = |parts: usize| match parts {
            0 | 1 => String::new(),
            p => format!("  ×{p}"),
        };
        match *step {
            Step::Linear {
                s,
                a,
                x,
                w,
                b,
                act,
                rows,
                fan_in,
                units,
                parts,
            } => {
                let (kind, fused) = match act {
                    Activation::Identity => ("linear".to_owned(), String::new()),
                    act => (
                        format!("linear+{}", act.name()),
                        format!(", {} = {}({})", n(a), act.name(), n(s)),
                    ),
                };
                let shapes = format!("({rows}×{fan_in})·({units}×{fan_in})ᵀ");
                let (s, x, w, b) = (n(s), n(x), n(w), n(b));
                format!(
                    "{kind:<13} {s} = {x}·{w}ᵀ + {b}{fused}   {shapes}{}",
                    split(parts)
                )
            }
            Step::Activation {
                act,
                a,
                s,
                p,
                rows,
                units,
            } => {
                let (a, s, p, act) = (n(a), n(s), n(p), act.name());
                format!("activation    {a} = {act}({s}; {p})   {rows}×{units}")
            }
            Step::Loss {
                loss,
                grad,
                pred,
                target,
                rows,
                cols,
            } => {
                let (pred, target, grad) = (n(pred), n(target), n(grad));
                format!(
                    "loss          {}({pred}, {target}) → {grad}   {rows}×{cols}",
                    loss.name()
                )
            }
            Step::ActivationBackward {
                act,
                delta,
                dp,
                s,
                rows,
                units,
                parts,
                ..
            } => {
                let dp = match self.buffer(dp).len {
                    0 => String::new(),
                    _ => format!(", {} += ∂L/∂p", n(dp)),
                };
                let (delta, s, act) = (n(delta), n(s), act.name());
                format!(
                    "act backward  {delta} ⊙= {act}'({s}){dp}   {rows}×{units}{}",
                    split(parts)
                )
            }
            Step::LinearBackwardParams {
                dw,
                db,
                delta,
                x,
                rows,
                fan_in,
                units,
                parts,
            } => {
                let (dw, db, delta, x) = (n(dw), n(db), n(delta), n(x));
                let shapes = format!("({rows}×{units})ᵀ·({rows}×{fan_in})");
                format!(
                    "linear ∂W,∂b  {dw} = {delta}ᵀ·{x}, {db} = Σ {delta}   {shapes}{}",
                    split(parts)
                )
            }
            Step::LinearBackwardInput {
                dx,
                delta,
                w,
                rows,
                fan_in,
                units,
                parts,
            } => {
                let (dx, delta, w) = (n(dx), n(delta), n(w));
                let shapes = format!("({rows}×{units})·({units}×{fan_in})");
                format!(
                    "linear ∂x     {dx} = {delta}·{w}   {shapes}{}",
                    split(parts)
                )
            }
            Step::Update {
                param,
                grad,
                state,
                decay,
                parts,
            } => {
                let kind = self.optim.as_ref().map_or("?", |o| o.kind.name());
                let decay = match decay {
                    0.0 => String::new(),
                    d => format!(", weight_decay {d}"),
                };
                let state: String = state
                    .iter()
                    .filter(|&&b| self.buffer(b).len > 0)
                    .map(|&b| format!(", {}", n(b)))
                    .collect();
                let (len, param, grad) = (self.buffer(param).len, n(param), n(grad));
                format!(
                    "update        {param} ← {kind}({param}, {grad}{state}){decay}   {len}{}",
                    split(parts)
                )
            }
            Step::LayerStats { layer } => format!("stats         layer {}", layer + 1),
            Step::NetworkStats => "stats         gains, δ histograms".to_owned(),
        }
    }

    /// The learnable tensors of the plan under the names of the weight
    /// files (`--dump`, checkpoints): `W{l}`, `b{l}`, then `prelu{l}` or
    /// `srelu{l}`, layer by layer.
    pub fn param_tensors(&self) -> Vec<ParamTensor> {
        let mut out = Vec::new();
        for (l, bufs) in self.graph.layers.iter().zip(&self.layers) {
            let i = l.index;
            let t = |name: String, param, grad, shape| ParamTensor {
                name,
                param,
                grad,
                shape,
            };
            out.push(t(format!("W{i}"), bufs.w, bufs.dw, vec![l.units, l.fan_in]));
            out.push(t(format!("b{i}"), bufs.b, bufs.db, vec![l.units]));
            let name = format!("{}{i}", l.act.name());
            match l.act.kernel().params_per_unit() {
                0 => {}
                1 => out.push(t(name, bufs.p, bufs.dp, vec![l.units])),
                k => out.push(t(name, bufs.p, bufs.dp, vec![k, l.units])),
            }
        }
        out
    }
}

/// A learnable tensor under its file name, with its buffer, its gradient's
/// buffer and its shape.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamTensor {
    pub name: String,
    pub param: Buf,
    pub grad: Buf,
    pub shape: Vec<usize>,
}

impl fmt::Display for Plan {
    /// The `depthlab check` report: layers, sizes, FLOPs and steps.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = &self.graph;
        let mut out = String::new();
        writeln!(
            out,
            "network: {} inputs → {} layers → {} outputs, loss {}{}",
            g.input,
            g.layers.len(),
            g.outputs(),
            g.loss.name(),
            if g.loss_is_default { " (default)" } else { "" }
        )?;
        writeln!(out)?;
        writeln!(
            out,
            "{:>5}  {:>6} {:>6}  {:<22} {:<26} {:<14} {:>10}",
            "layer", "in", "out", "activation", "init", "bias", "params"
        )?;
        for l in &g.layers {
            let params = l.units * l.fan_in + l.units + l.act_params();
            writeln!(
                out,
                "{:>5}  {:>6} {:>6}  {:<22} {:<26} {:<14} {:>10}",
                l.index,
                l.fan_in,
                l.units,
                l.act.to_string(),
                l.init.to_string(),
                l.bias.to_string(),
                params
            )?;
        }
        writeln!(out)?;
        writeln!(out, "parameters:   {}", g.params)?;
        writeln!(out, "batch:        {} rows", self.batch)?;
        writeln!(
            out,
            "threads:      {} (×N after a step: split into N row blocks)",
            self.threads
        )?;
        writeln!(
            out,
            "arena:        {} bytes ({}) in {} buffers",
            self.arena_bytes(),
            human_bytes(self.arena_bytes()),
            self.buffers.len()
        )?;
        let fwd = g.forward_flops(self.batch).unwrap_or(u64::MAX);
        let bwd = g.backward_flops(self.batch).unwrap_or(u64::MAX);
        writeln!(
            out,
            "FLOPs/step:   {} (forward {fwd}, backward {bwd}; matrix products, 2 per multiply-add)",
            fwd.saturating_add(bwd)
        )?;
        writeln!(out)?;
        writeln!(out, "steps:")?;
        for (i, step) in self.steps.iter().enumerate() {
            writeln!(out, "{:>4}  {}", i + 1, self.describe(step))?;
        }
        f.write_str(&out)
    }
}
