//! Graph → Plan: every buffer's offset and length in one arena, and the
//! ordered list of steps (forward, loss, backward — the forward reversed —
//! and statistics). The plan is plain data; it prints itself for
//! `depthlab check`.

use crate::arena::ALIGN_BYTES;
use crate::graph::Graph;
use crate::spec::{LossKind, Optim};
use depthlab_kernels::Activation;
use std::fmt::{self, Write as _};

/// Default ceiling on the arena, so an absurd spec is refused in
/// milliseconds instead of swapping the machine.
pub const DEFAULT_MEMORY_LIMIT: u64 = 8 << 30;

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

/// What a plan is compiled for.
#[derive(Clone, Copy, Debug)]
pub enum Purpose<'a> {
    /// Forward, loss, backward, then the statistics (`stats`, the probe
    /// batch of `train`).
    Stats,
    /// Forward, loss, backward, then one optimizer update per parameter
    /// buffer (a training step).
    Train(&'a Optim),
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

/// Below this many FLOPs a matrix product runs on one thread: the split
/// (≈ 1–2 µs with spinning workers) would cost more than it saves.
pub const MIN_SPLIT_FLOPS: u64 = 1 << 21;
/// Below this many elements an element-wise step runs on one thread.
pub const MIN_SPLIT_ELEMENTS: usize = 1 << 16;

/// Row blocks for a matrix product of `flops` on `threads` threads.
fn gemm_parts(flops: u64, threads: usize) -> usize {
    if flops < MIN_SPLIT_FLOPS {
        1
    } else {
        threads.min((flops / (MIN_SPLIT_FLOPS / 2)) as usize).max(1)
    }
}

/// Row blocks for an element-wise step over `elements` values.
fn elementwise_parts(elements: usize, threads: usize) -> usize {
    if elements < MIN_SPLIT_ELEMENTS {
        1
    } else {
        threads.min(elements / (MIN_SPLIT_ELEMENTS / 2)).max(1)
    }
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

/// Lays out buffers back to back, each aligned to [`ALIGN_BYTES`].
struct Layout {
    buffers: Vec<BufferInfo>,
    cursor: usize,
}

impl Layout {
    fn add(&mut self, name: String, len: Option<usize>) -> Result<Buf, PlanError> {
        const ALIGN: usize = ALIGN_BYTES / size_of::<f32>();
        let len = len.ok_or(PlanError::Overflow)?;
        let offset = self.cursor;
        let end = offset.checked_add(len).ok_or(PlanError::Overflow)?;
        self.cursor = end
            .checked_next_multiple_of(ALIGN)
            .ok_or(PlanError::Overflow)?;
        self.buffers.push(BufferInfo { name, offset, len });
        Ok(Buf(self.buffers.len() - 1))
    }
}

impl Plan {
    /// Compiles `graph` for batches of `batch` rows: lays out every buffer
    /// (checked against `memory_limit` bytes before anything is allocated),
    /// then lists the steps.
    /// The compiler decides each step's split into row blocks for
    /// `threads` threads by its work size; splits are over output rows only,
    /// so results are bit-identical for any thread count.
    pub fn compile(
        graph: &Graph,
        batch: usize,
        purpose: Purpose,
        memory_limit: u64,
        threads: usize,
    ) -> Result<Plan, PlanError> {
        let threads = threads.max(1);
        let flops = |a: usize, b: usize, c: usize| {
            2u64.saturating_mul(a as u64)
                .saturating_mul(b as u64)
                .saturating_mul(c as u64)
        };
        let mut lay = Layout {
            buffers: Vec::new(),
            cursor: 0,
        };
        let rows_times = |n: usize| batch.checked_mul(n);
        let x = lay.add("x".into(), rows_times(graph.input))?;
        let y = lay.add(
            "y".into(),
            if graph.loss == LossKind::CrossEntropy {
                Some(batch)
            } else {
                rows_times(graph.outputs())
            },
        )?;
        let mut layers = Vec::with_capacity(graph.layers.len());
        let mut widest = 0;
        for l in &graph.layers {
            let i = l.index;
            let w = lay.add(format!("W{i}"), l.units.checked_mul(l.fan_in))?;
            let b = lay.add(format!("b{i}"), Some(l.units))?;
            let p = lay.add(format!("p{i}"), Some(l.act_params()))?;
            let dw = lay.add(format!("dW{i}"), l.units.checked_mul(l.fan_in))?;
            let db = lay.add(format!("db{i}"), Some(l.units))?;
            let dp = lay.add(format!("dp{i}"), Some(l.act_params()))?;
            let s = lay.add(format!("s{i}"), rows_times(l.units))?;
            // Identity needs no second copy: a is s.
            let a = if l.act.kernel() == Activation::Identity {
                s
            } else {
                lay.add(format!("a{i}"), rows_times(l.units))?
            };
            let delta = lay.add(format!("delta{i}"), rows_times(l.units))?;
            widest = widest.max(l.units);
            layers.push(LayerBufs {
                w,
                b,
                p,
                dw,
                db,
                dp,
                s,
                a,
                delta,
            });
        }
        // Optimizer state, named `<param>.<torch's state name>`.
        let optim = match purpose {
            Purpose::Train(o) => Some(o.clone()),
            Purpose::Stats => None,
        };
        let mut params = Vec::new();
        if let Some(o) = &optim {
            let names = o.kind.state_names(o);
            for (l, bufs) in graph.layers.iter().zip(&layers) {
                let wd = l.weight_decay.unwrap_or(o.weight_decay);
                let bias_wd = if o.decay_bias { wd } else { 0.0 };
                // No decay on PReLU/SReLU parameters unless asked (He et al.).
                let act_wd = l.act_decay.unwrap_or(0.0);
                for (param, grad, decay) in [
                    (bufs.w, bufs.dw, wd),
                    (bufs.b, bufs.db, bias_wd),
                    (bufs.p, bufs.dp, act_wd),
                ] {
                    let len = lay.buffers[param.0].len;
                    if len == 0 {
                        continue;
                    }
                    let base = lay.buffers[param.0].name.clone();
                    let mut state = [Buf(0); 3];
                    for (slot, name) in state.iter_mut().zip(names) {
                        *slot = match name {
                            Some(n) => lay.add(format!("{base}.{n}"), Some(len))?,
                            None => lay.add(String::new(), Some(0))?,
                        };
                    }
                    params.push(ParamBufs {
                        param,
                        grad,
                        state,
                        decay,
                    });
                }
            }
        }
        let scratch = lay.add("scratch".into(), rows_times(widest))?;
        let bytes = (lay.cursor as u64)
            .checked_mul(size_of::<f32>() as u64)
            .ok_or(PlanError::Overflow)?;
        if bytes > memory_limit {
            return Err(PlanError::TooLarge {
                needed: bytes,
                limit: memory_limit,
            });
        }

        let mut steps = Vec::new();
        // Forward: activations without parameters are fused into the
        // gemm's epilogue.
        for (l, bufs) in graph.layers.iter().zip(&layers) {
            let input = if l.index == 1 {
                x
            } else {
                layers[l.index - 2].a
            };
            let act = l.act.kernel();
            let parts = gemm_parts(flops(batch, l.fan_in, l.units), threads);
            let fused = if act.params_per_unit() == 0 {
                act
            } else {
                Activation::Identity
            };
            steps.push(Step::Linear {
                s: bufs.s,
                a: bufs.a,
                x: input,
                w: bufs.w,
                b: bufs.b,
                act: fused,
                rows: batch,
                fan_in: l.fan_in,
                units: l.units,
                parts,
            });
            if act.params_per_unit() > 0 {
                steps.push(Step::Activation {
                    act,
                    a: bufs.a,
                    s: bufs.s,
                    p: bufs.p,
                    rows: batch,
                    units: l.units,
                });
            }
        }
        let last = layers.last().expect("a graph has at least one layer");
        steps.push(Step::Loss {
            loss: graph.loss,
            grad: last.delta,
            pred: last.a,
            target: y,
            rows: batch,
            cols: graph.outputs(),
        });
        // Backward: the forward reversed.
        for (l, bufs) in graph.layers.iter().zip(&layers).rev() {
            let act = l.act.kernel();
            if act != Activation::Identity {
                let parts = if act.params_per_unit() == 0 {
                    elementwise_parts(batch * l.units, threads)
                } else {
                    1
                };
                steps.push(Step::ActivationBackward {
                    act,
                    delta: bufs.delta,
                    dp: bufs.dp,
                    s: bufs.s,
                    a: bufs.a,
                    p: bufs.p,
                    rows: batch,
                    units: l.units,
                    parts,
                });
            }
            let input = if l.index == 1 {
                x
            } else {
                layers[l.index - 2].a
            };
            let parts = gemm_parts(flops(batch, l.fan_in, l.units), threads);
            steps.push(Step::LinearBackwardParams {
                dw: bufs.dw,
                db: bufs.db,
                delta: bufs.delta,
                x: input,
                rows: batch,
                fan_in: l.fan_in,
                units: l.units,
                parts,
            });
            if l.index > 1 {
                let dx = layers[l.index - 2].delta;
                steps.push(Step::LinearBackwardInput {
                    dx,
                    delta: bufs.delta,
                    w: bufs.w,
                    rows: batch,
                    fan_in: l.fan_in,
                    units: l.units,
                    parts,
                });
            }
        }
        match &optim {
            Some(_) => steps.extend(params.iter().map(|pb| Step::Update {
                param: pb.param,
                grad: pb.grad,
                state: pb.state,
                decay: pb.decay,
                parts: elementwise_parts(lay.buffers[pb.param.0].len, threads),
            })),
            None => {
                steps.extend((0..layers.len()).map(|layer| Step::LayerStats { layer }));
                steps.push(Step::NetworkStats);
            }
        }
        Ok(Plan {
            graph: graph.clone(),
            batch,
            buffers: lay.buffers,
            layers,
            x,
            y,
            scratch,
            steps,
            arena_len: lay.cursor,
            threads,
            optim,
            params,
        })
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

    /// One line describing a step, e.g.
    /// `linear+tanh   s1 = x·W1ᵀ + b1, a1 = tanh(s1)   (300×256)·(256×256)ᵀ  ×2`
    /// (`×2`: split over 2 threads).
    pub fn describe(&self, step: &Step) -> String {
        let n = |b: Buf| self.name(b);
        let split = |parts: usize| {
            if parts > 1 {
                format!("  ×{parts}")
            } else {
                String::new()
            }
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
                let (kind, fused) = if act == Activation::Identity {
                    ("linear".to_owned(), String::new())
                } else {
                    (
                        format!("linear+{}", act.name()),
                        format!(", {} = {}({})", n(a), act.name(), n(s)),
                    )
                };
                format!(
                    "{kind:<13} {} = {}·{}ᵀ + {}{fused}   ({rows}×{fan_in})·({units}×{fan_in})ᵀ{}",
                    n(s),
                    n(x),
                    n(w),
                    n(b),
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
                format!(
                    "activation    {} = {}({}; {})   {rows}×{units}",
                    n(a),
                    act.name(),
                    n(s),
                    n(p)
                )
            }
            Step::Loss {
                loss,
                grad,
                pred,
                target,
                rows,
                cols,
            } => {
                format!(
                    "loss          {}({}, {}) → {}   {rows}×{cols}",
                    loss.name(),
                    n(pred),
                    n(target),
                    n(grad)
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
                let dp = if self.buffer(dp).len > 0 {
                    format!(", {} += ∂L/∂p", n(dp))
                } else {
                    String::new()
                };
                format!(
                    "act backward  {} ⊙= {}'({}){dp}   {rows}×{units}{}",
                    n(delta),
                    act.name(),
                    n(s),
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
                format!(
                    "linear ∂W,∂b  {} = {}ᵀ·{}, {} = Σ {}   ({rows}×{units})ᵀ·({rows}×{fan_in}){}",
                    n(dw),
                    n(delta),
                    n(x),
                    n(db),
                    n(delta),
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
                format!(
                    "linear ∂x     {} = {}·{}   ({rows}×{units})·({units}×{fan_in}){}",
                    n(dx),
                    n(delta),
                    n(w),
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
                let o = self
                    .optim
                    .as_ref()
                    .expect("update steps only in training plans");
                let decay = if decay != 0.0 {
                    format!(", weight_decay {decay}")
                } else {
                    String::new()
                };
                let state: String = state
                    .iter()
                    .filter(|&&b| self.buffer(b).len > 0)
                    .map(|&b| format!(", {}", n(b)))
                    .collect();
                format!(
                    "update        {} ← {}({}, {}{state}){decay}   {}{}",
                    n(param),
                    o.kind.name(),
                    n(param),
                    n(grad),
                    self.buffer(param).len,
                    split(parts)
                )
            }
            Step::LayerStats { layer } => format!("stats         layer {}", layer + 1),
            Step::NetworkStats => "stats         gains, δ histograms".to_owned(),
        }
    }
}

/// `1.5 MiB`-style sizes.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
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
