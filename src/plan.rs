//! The compiled schedule as plain data: buffers (offsets and lengths in one
//! arena), the buffers of each layer, and the steps, each a kernel call
//! over buffer ids with its dims. [`crate::compile`] builds it; the plan
//! prints itself for `depthlab check`.

use crate::graph::{Graph, human_bytes, physical_memory};
use crate::spec::{LossKind, Optim, OptimKind};
use depthlab_kernels::Activation;
use std::fmt::{self, Write as _};
use std::ops::Range;

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
    /// dW = δᵀ·x split over `parts` row blocks of dW; db = Σ_rows δ; with
    /// `update`, W's optimizer update in the product's epilogue.
    LinearBackwardParams {
        dw: Buf,
        db: Buf,
        delta: Buf,
        x: Buf,
        rows: usize,
        fan_in: usize,
        units: usize,
        parts: usize,
        update: Option<FusedUpdate>,
    },
    /// dx = δ·W (the next layer down's ∂L/∂a), split over row blocks;
    /// unless `act` is the identity, then dx ⊙= act′(s) (the layer down's
    /// activation backward, fused: an activation without parameters,
    /// reading its input `s` or output `a`), so dx is that layer's δ.
    LinearBackwardInput {
        dx: Buf,
        delta: Buf,
        w: Buf,
        act: Activation,
        s: Buf,
        a: Buf,
        rows: usize,
        fan_in: usize,
        units: usize,
        parts: usize,
    },
    /// One fused optimizer pass over parameter buffers: decay, moments and
    /// the parameter write. `param`, `grad` and `state` are the first of a
    /// run of `count` parameter buffers of one kind (W, b or activation
    /// parameters of consecutive layers, ending with `last`) that lie back
    /// to back in the arena, as do their gradients and states, so the pass
    /// covers `len` elements from each (one step instead of one per
    /// buffer: a deep narrow net has a hundred small ones). `state` holds
    /// the optimizer's buffers in [`crate::spec::OptimKind::state_names`]
    /// order (unused slots are empty); `decay` is the run's weight decay,
    /// resolved by the compiler (per-layer overrides, `decay_bias`, none on
    /// activation parameters unless asked). The learning rate and step
    /// count are the executor's, at run time.
    Update {
        param: Buf,
        grad: Buf,
        state: [Buf; 3],
        last: Buf,
        count: usize,
        len: usize,
        decay: f64,
        /// 2ρ of the loss's L2 term on these buffers: added to the gradient
        /// inside the update (coupled, even for AdamW: it is the loss's).
        l2: f64,
        /// Contiguous blocks to split the (element-wise) pass over.
        parts: usize,
    },
    /// The loss's L2 term on one buffer: loss += ρ Σ w² (f64, in order).
    /// Its gradient, 2ρw, is fused into the buffer's update.
    Penalty { w: Buf, rho: f64 },
    /// The steps `plan.chains[index]` run together, as `of` says, in
    /// `parts` row blocks of the batch (a ∂W product of a backward chain
    /// keeps its own blocks): a multi-thread training plan of small
    /// products and parameter-free activations (see `compile`).
    Chain {
        of: Chained,
        index: usize,
        parts: usize,
    },
    /// The statistics of every layer, a layer at a time on each of
    /// `parts` threads (each with its own block of the scratch buffer).
    LayerStats { parts: usize },
    /// Cross-layer statistics: gains, and δ and activation histograms on
    /// common ranges (a layer's at a time on each of `parts` threads).
    NetworkStats { parts: usize },
}

/// W's optimizer update fused into the epilogue of its ∂W product: each
/// finished tile of ∂W updates the same elements of W and of its state
/// while the tile is in L1, instead of a pass of its own that reads ∂W
/// back (config D of `bench/peers`: see `compile`). Element-wise, so the
/// bits are those of [`Step::Update`] on the whole buffer; the ∂W values
/// are stored as well. As [`Step::Update`]'s fields of the same names.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FusedUpdate {
    pub param: Buf,
    pub state: [Buf; 3],
    pub decay: f64,
    pub l2: f64,
}

impl FusedUpdate {
    /// The same update as a step of its own, of `grad`'s `len` values.
    pub fn as_step(&self, grad: Buf, len: usize) -> Step {
        Step::Update {
            param: self.param,
            grad,
            state: self.state,
            last: self.param,
            count: 1,
            len,
            decay: self.decay,
            l2: self.l2,
            parts: 1,
        }
    }
}

/// What a [`Step::Chain`] runs, and so how it divides the work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chained {
    /// Every layer's product x·Wᵀ with its epilogue: part i takes row
    /// block i of the batch through all the layers.
    Forward,
    /// The backward pass, in the order of a plan step by step (the top
    /// layer's activation backward, then each layer's ∂W, ∂b and ∂x): on
    /// several threads first the activation backward and every layer's
    /// δ·W (with the layer below's activation derivative) down the layers,
    /// part i taking row block i of the batch through all of them, then
    /// every layer's ∂W and ∂b, each split into row blocks of ∂W as a step
    /// of its own would be, all blocks of all layers claimed together.
    Backward,
}

impl Step {
    /// What the step does, for a profile by kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Linear { .. } => "gemm forward x·Wᵀ (+ bias, activation)",
            Step::LinearBackwardParams { update: None, .. } => "gemm ∂W = δᵀ·x (+ ∂b)",
            Step::LinearBackwardParams { .. } => "gemm ∂W = δᵀ·x (+ ∂b, W's update)",
            Step::LinearBackwardInput { .. } => "gemm ∂x = δ·W",
            Step::Activation { .. } => "activation (learned parameters)",
            Step::ActivationBackward { .. } => "activation backward δ ⊙ f′(s)",
            Step::Loss { .. } => "loss and its gradient",
            Step::Update { .. } => "optimizer update (decay fused)",
            Step::Penalty { .. } => "L2 penalty",
            Step::LayerStats { .. } | Step::NetworkStats { .. } => "statistics",
            Step::Chain { of, .. } => match of {
                Chained::Forward => "gemm forward x·Wᵀ (+ bias, activation), layers chained",
                Chained::Backward => "gemm ∂x = δ·W chained, then ∂W = δᵀ·x (+ ∂b, W's update)",
            },
        }
    }

    /// Whether, in a [`Step::Chain`], the step runs in row blocks of its
    /// own (a ∂W product: rows of ∂W, which need every row of the batch)
    /// rather than on each part's rows of the batch.
    pub fn own_blocks_in_chain(&self) -> bool {
        matches!(self, Step::LinearBackwardParams { .. })
    }

    /// Sets the row blocks of a step that can be split (others stay as
    /// they are).
    pub fn set_parts(&mut self, n: usize) {
        match self {
            Step::Linear { parts, .. }
            | Step::LinearBackwardParams { parts, .. }
            | Step::LinearBackwardInput { parts, .. }
            | Step::ActivationBackward { parts, .. }
            | Step::Update { parts, .. }
            | Step::Chain { parts, .. } => *parts = n,
            _ => {}
        }
    }

    /// The row blocks the step is split into (1: not split).
    pub fn parts(&self) -> usize {
        match *self {
            Step::Linear { parts, .. }
            | Step::LinearBackwardParams { parts, .. }
            | Step::LinearBackwardInput { parts, .. }
            | Step::ActivationBackward { parts, .. }
            | Step::Update { parts, .. }
            | Step::Chain { parts, .. }
            | Step::LayerStats { parts }
            | Step::NetworkStats { parts } => parts,
            _ => 1,
        }
    }
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
    /// The steps of each [`Step::Chain`].
    pub chains: Vec<Vec<Step>>,
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
    /// A training plan that splits: the same network compiled for one
    /// thread, whose steps run instead when a whole step is not split
    /// (see [`SplitChoice`](crate::arena::SplitChoice)). The two have one
    /// buffer table and arena: x, y, the parameters and their optimizer
    /// state are the same buffers; the buffers of one step (s, a, δ, the
    /// gradients) are each plan's own, and overlap the other's.
    pub alone: Option<Box<Plan>>,
}

/// A learnable buffer, its gradient and its optimizer state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParamBufs {
    /// The layer (0-based) the buffer belongs to.
    pub layer: usize,
    pub param: Buf,
    /// The gradient this plan's steps write (its [`Plan::alone`] has its
    /// own).
    pub grad: Buf,
    pub state: [Buf; 3],
    /// Weight decay λ of this buffer.
    pub decay: f64,
    /// 2ρ of the loss's L2 term on this buffer (0: none).
    pub l2: f64,
}

/// Why a graph could not be compiled.
#[derive(Clone, Debug, PartialEq)]
pub enum PlanError {
    /// The arena would not fit in the memory limit (bytes needed, limit).
    TooLarge { needed: u64, limit: u64 },
    /// A size overflowed 64-bit arithmetic.
    Overflow,
    /// Within the limit, but the system could not give it (bytes).
    OutOfMemory { needed: u64 },
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::TooLarge { needed, limit } if Some(*limit) == physical_memory() => write!(
                f,
                "this network needs {} of memory, more than this machine's {} (reduce the width, depth or batch)",
                human_bytes(*needed),
                human_bytes(*limit)
            ),
            PlanError::TooLarge { needed, limit } => write!(
                f,
                "this network needs {} of memory, more than the limit of {} (reduce the width, depth or batch, or raise --memory-limit)",
                human_bytes(*needed),
                human_bytes(*limit)
            ),
            PlanError::Overflow => f.write_str("this network's size overflows 64-bit arithmetic (reduce the width, depth or batch)"),
            PlanError::OutOfMemory { needed } => write!(
                f,
                "the system could not give the {} this network needs (reduce the width, depth or batch, or lower --memory-limit to be told sooner)",
                human_bytes(*needed)
            ),
        }
    }
}

impl std::error::Error for PlanError {}

impl Plan {
    /// Whether running the plan hands anything to worker threads: more
    /// than one thread, and a step split into row blocks.
    pub fn splits(&self) -> bool {
        self.threads > 1 && self.steps.iter().any(|s| s.parts() > 1)
    }

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

    /// The `len` arena elements from the start of `b` (a run of buffers
    /// laid out back to back from `b`), or the empty range 0..0 if `b` is
    /// an empty buffer (an unused optimizer state slot: its offset may lie
    /// inside another buffer of the run, which an empty range there would
    /// count as overlapping).
    pub fn span(&self, b: Buf, len: usize) -> Range<usize> {
        let info = self.buffer(b);
        if info.len == 0 {
            0..0
        } else {
            info.offset..info.offset + len
        }
    }

    /// One line describing a step, e.g.
    /// `linear+tanh   s1 = x·W1ᵀ + b1, a1 = tanh(s1)   (300×256)·(256×256)ᵀ  ×2`
    /// (`×2`: split over 2 threads).
    pub fn describe(&self, step: &Step) -> String {
        let (kind, what, size, parts) = self.parts_of(step);
        let split = if parts > 1 {
            format!("  ×{parts}")
        } else {
            String::new()
        };
        let gap = if size.is_empty() { "" } else { "   " };
        let line = format!("{kind:<13} {what}{gap}{size}{split}");
        line.trim_end().to_owned()
    }

    /// A step's kind, what it computes, its sizes and its split.
    fn parts_of(&self, step: &Step) -> (String, String, String, usize) {
        let n = |b: Buf| self.name(b);
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
                let product = format!("{}·{}ᵀ + {}", n(x), n(w), n(b));
                let (kind, what) = match act {
                    Activation::Identity => ("linear".to_owned(), format!("{} = {product}", n(s))),
                    act => {
                        let what = if s == a {
                            format!("{} = {}({product})", n(a), act.name())
                        } else {
                            format!("{} = {product}, {} = {}({})", n(s), n(a), act.name(), n(s))
                        };
                        (format!("linear+{}", act.name()), what)
                    }
                };
                let size = format!("({rows}×{fan_in})·({units}×{fan_in})ᵀ");
                (kind, what, size, parts)
            }
            Step::Activation {
                act,
                a,
                s,
                p,
                rows,
                units,
            } => {
                let what = format!("{} = {}({}; {})", n(a), act.name(), n(s), n(p));
                ("activation".into(), what, format!("{rows}×{units}"), 1)
            }
            Step::Loss {
                loss,
                grad,
                pred,
                target,
                rows,
                cols,
            } => {
                let what = format!("{}({}, {}) → {}", loss.name(), n(pred), n(target), n(grad));
                ("loss".into(), what, format!("{rows}×{cols}"), 1)
            }
            Step::LayerStats { parts } => (
                "stats".into(),
                format!("each of the {} layers", self.layers.len()),
                String::new(),
                parts,
            ),
            Step::NetworkStats { parts } => (
                "stats".into(),
                "gains, δ and activation histograms".into(),
                String::new(),
                parts,
            ),
            Step::Chain { of, index, parts } => {
                let steps = self.chains[index].len();
                let what = match of {
                    Chained::Forward => {
                        format!("{steps} steps, each row block through all of them:")
                    }
                    Chained::Backward => format!(
                        "{steps} steps: each row block through all ∂x, then the ∂W products claimed together:"
                    ),
                };
                ("chain".into(), what, String::new(), parts)
            }
            _ => self.backward_parts(step),
        }
    }

    /// [`Plan::parts_of`] for an update: the optimizer, its state, and how
    /// each decay enters it.
    fn update_parts(&self, step: &Step) -> (String, String, String, usize) {
        let Step::Update {
            param,
            grad,
            state,
            last,
            count,
            len,
            decay,
            l2,
            parts,
        } = *step
        else {
            unreachable!("update_parts describes updates")
        };
        // A run reads `first…last` (W1…W20, dW1…dW20, …).
        let end = self.params.iter().find(|p| p.param == last);
        let n = |b: Buf, of_last: Option<Buf>| match of_last {
            Some(e) if count > 1 => format!("{}…{}", self.name(b), self.name(e)),
            _ => self.name(b).to_string(),
        };
        let kind = self.optim.as_ref().map_or("?", |o| o.kind.name());
        let state: String = (0..3)
            .filter(|&i| self.buffer(state[i]).len > 0)
            .map(|i| format!(", {}", n(state[i], end.map(|e| e.state[i]))))
            .collect();
        let (p, g) = (n(param, Some(last)), n(grad, end.map(|e| e.grad)));
        let mut what = format!("{p} ← {kind}({p}, {g}{state})");
        if decay != 0.0 {
            let how = match self.optim.as_ref().map(|o| o.kind) {
                Some(OptimKind::AdamW) => "decoupled (AdamW)",
                _ => "coupled (L2, torch Adam/SGD weight_decay)",
            };
            what += &format!(", weight_decay {decay} {how}");
        }
        if l2 != 0.0 {
            what += &format!(", l2 2ρ={l2} coupled (the loss's L2 term)");
        }
        ("update".into(), what, len.to_string(), parts)
    }

    /// [`Plan::parts_of`] for the backward and update steps.
    fn backward_parts(&self, step: &Step) -> (String, String, String, usize) {
        let n = |b: Buf| self.name(b);
        match *step {
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
                let mut what = format!("{} ⊙= {}'({})", n(delta), act.name(), n(s));
                if self.buffer(dp).len > 0 {
                    what += &format!(", {} += ∂L/∂p", n(dp));
                }
                (
                    "act backward".into(),
                    what,
                    format!("{rows}×{units}"),
                    parts,
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
                update,
            } => {
                let (dwn, db, delta, x) = (n(dw), n(db), n(delta), n(x));
                let mut what = format!("{dwn} = {delta}ᵀ·{x}, {db} = Σ {delta}");
                let size = format!("({rows}×{units})ᵀ·({rows}×{fan_in})");
                let Some(u) = update else {
                    return ("linear ∂W,∂b".into(), what, size, parts);
                };
                // "…; tile by tile W1 ← sgd(W1, dW1, …)".
                let (_, update, ..) = self.update_parts(&u.as_step(dw, units * fan_in));
                what += &format!("; tile by tile {update}");
                ("linear ∂W+upd".into(), what, size, parts)
            }
            Step::LinearBackwardInput {
                dx,
                delta,
                w,
                act,
                s,
                rows,
                fan_in,
                units,
                parts,
                ..
            } => {
                let mut what = format!("{} = {}·{}", n(dx), n(delta), n(w));
                if act != Activation::Identity {
                    what += &format!(" ⊙ {}'({})", act.name(), n(s));
                }
                let size = format!("({rows}×{units})·({units}×{fan_in})");
                ("linear ∂x".into(), what, size, parts)
            }
            Step::Update { .. } => self.update_parts(step),
            Step::Penalty { w, rho } => {
                let what = format!("loss += {rho}·Σ {}²", n(w));
                ("l2 penalty".into(), what, self.buffer(w).len.to_string(), 1)
            }
            _ => unreachable!("forward steps are described by parts_of"),
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
            match (g.loss_is_default, g.l2.rho) {
                (true, _) => " (default)".to_owned(),
                (false, 0.0) => String::new(),
                (false, rho) => format!(
                    " + {rho}·Σ w² (l2, over the weights{})",
                    if g.l2.bias { " and biases" } else { "" }
                ),
            }
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
            "threads:      {} (×N after a step: split into N row blocks, or N parts taking a layer at a time)",
            self.threads
        )?;
        if self.alone.is_some() {
            writeln!(
                out,
                "              (a step run unsplit runs the steps of `--threads 1` instead, on the same parameters)"
            )?;
        }
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
            if let Step::Chain { index, .. } = *step {
                for (j, inner) in self.chains[index].iter().enumerate() {
                    let number = format!("{}.{}", i + 1, j + 1);
                    writeln!(out, "    {number:>6}  {}", self.describe(inner))?;
                }
            }
        }
        f.write_str(&out)
    }
}
