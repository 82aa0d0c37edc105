//! Spec → Graph: the network as a list of dense layers with their shapes,
//! activations and initializers resolved, every default applied, and sizes
//! and FLOPs counted with overflow-checked arithmetic (the one place they
//! are counted).

use crate::spec::{ActSpec, InitSpec, L2, LossKind, Spec, SpecError};

/// Most layers a spec may unroll to (a typo like `x100000000` is refused
/// before anything is allocated).
pub const MAX_LAYERS: usize = 100_000;

/// Default ceiling on an executor's arena and on a data set, so an absurd
/// spec is refused in milliseconds instead of swapping the machine.
pub const DEFAULT_MEMORY_LIMIT: u64 = 8 << 30;

/// The machine's memory in bytes (`MemTotal` of /proc/meminfo), if known:
/// the highest memory limit there is.
pub fn physical_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// `1.5 MiB`-style sizes.
///
/// ```
/// assert_eq!(depthlab::graph::human_bytes(1536), "1.5 KiB");
/// assert_eq!(depthlab::graph::human_bytes(100), "100 B");
/// ```
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

/// One dense layer l: s_l = a_{l-1} W_lᵀ + b_l, a_l = f_l(s_l), with W_l of
/// shape (units, fan_in) as PyTorch's `nn.Linear`.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    /// 1-based layer number (layer 1 is next to the input).
    pub index: usize,
    pub fan_in: usize,
    pub units: usize,
    pub act: ActSpec,
    pub init: InitSpec,
    pub bias: InitSpec,
    /// Per-layer weight decay, overriding the optimizer's.
    pub weight_decay: Option<f64>,
    /// Weight decay of the PReLU/SReLU parameters (none unless asked).
    pub act_decay: Option<f64>,
    /// The spec line the layer comes from.
    pub line: usize,
}

impl Layer {
    /// Learnable activation parameters (PReLU 1, SReLU 4 per unit).
    pub fn act_params(&self) -> usize {
        self.act.kernel().params_per_unit() * self.units
    }

    /// FLOPs of one of the layer's matrix products on `batch` rows (the
    /// forward s = x·Wᵀ, and each of the backward ∂W and ∂x): 2 per
    /// multiply-add, `None` on overflow.
    pub fn product_flops(&self, batch: usize) -> Option<u64> {
        2u64.checked_mul(batch as u64)?
            .checked_mul(self.fan_in as u64)?
            .checked_mul(self.units as u64)
    }
}

/// A checked network: every layer resolved, sizes known to fit in `usize`.
#[derive(Clone, Debug)]
pub struct Graph {
    pub input: usize,
    pub layers: Vec<Layer>,
    pub loss: LossKind,
    /// True when the spec has no `loss` line and the default was used.
    pub loss_is_default: bool,
    /// The loss's L2 term (ρ = 0: none).
    pub l2: L2,
    /// Learnable parameters: weights, biases and activation parameters.
    pub params: usize,
    /// The spec's `train flush_subnormals=true`: every thread running the
    /// network flushes subnormals to zero while it does.
    pub flush_subnormals: bool,
}

/// The spec's `dense` lines unrolled into `total` layers (`xK` repeats a
/// line), every default resolved, and the count of learnable parameters.
fn unroll(spec: &Spec, input: usize, total: usize) -> Result<(Vec<Layer>, usize), SpecError> {
    let src = &spec.source;
    let mut layers = Vec::with_capacity(total);
    let mut fan_in = input;
    let mut params = 0usize;
    for (line_idx, d) in spec.dense.iter().enumerate() {
        let last_line = line_idx + 1 == spec.dense.len();
        for rep in 0..d.repeat {
            let is_output = last_line && rep + 1 == d.repeat;
            let act = match d.act {
                Some((act, _)) => act,
                None if is_output => ActSpec::Identity,
                None => {
                    return Err(src.error(d.span, "a hidden `dense` layer needs an activation").with_help("write one after the size, e.g. `dense 100 relu` (or `identity` for a linear layer)"));
                }
            };
            let init = d.init.map_or(InitSpec::Torch, |(i, _)| i);
            let bias = d.bias.map_or(
                if init == InitSpec::Torch {
                    InitSpec::Torch
                } else {
                    InitSpec::Zeros
                },
                |(b, _)| b,
            );
            let layer = Layer {
                index: layers.len() + 1,
                fan_in,
                units: d.units,
                act,
                init,
                bias,
                weight_decay: d.weight_decay,
                act_decay: d.act_decay,
                line: d.span.line,
            };
            let count = d
                .units
                .checked_mul(fan_in)
                .and_then(|w| w.checked_add(d.units))
                .and_then(|n| n.checked_add(layer.act_params()));
            params = count.and_then(|c| params.checked_add(c)).ok_or_else(|| {
                src.error(
                    d.units_span,
                    "the network's size overflows this machine's address space",
                )
            })?;
            layers.push(layer);
            fan_in = d.units;
        }
    }
    Ok((layers, params))
}

impl Graph {
    /// Checks a parsed spec and resolves its defaults: the last `dense`
    /// without an activation is linear, the init defaults to `torch` (as
    /// `nn.Linear`), biases follow the weight init (`torch` → U[±1/√fan_in],
    /// every other init → 0), and the loss defaults to `cross_entropy` (or
    /// `mse` for a single output).
    pub fn check(spec: &Spec) -> Result<Graph, SpecError> {
        let src = &spec.source;
        let Some(input) = spec.input else {
            return Err(if spec.dense.is_empty() && spec.loss.is_none() {
                src.error_whole(
                    "the spec is empty: expected an `input` line and at least one `dense` line",
                )
                .with_help("e.g. `input 64; dense 64 tanh x10; dense 10`")
            } else {
                src.error_whole("the spec has no `input` line")
                    .with_help("add the input size first, e.g. `input 784`")
            });
        };
        if spec.dense.is_empty() {
            return Err(src
                .error(input.span, "the spec has no `dense` layer after `input`")
                .with_help("e.g. `dense 10` for a linear output layer"));
        }
        let total: usize = spec
            .dense
            .iter()
            .try_fold(0usize, |acc, d| acc.checked_add(d.repeat))
            .unwrap_or(usize::MAX);
        if total > MAX_LAYERS {
            let d = spec
                .dense
                .iter()
                .max_by_key(|d| d.repeat)
                .expect("dense is not empty");
            return Err(src.error(
                d.repeat_span.unwrap_or(d.span),
                format!("{total} layers is more than depthlab supports ({MAX_LAYERS})"),
            ));
        }
        if spec.train.flush_subnormals && !depthlab_kernels::subnormal::AVAILABLE {
            let span = spec.train.span.unwrap_or_default();
            return Err(src.error(
                span,
                "flush_subnormals=true needs an x86-64 build (the MXCSR modes)".to_owned(),
            ));
        }
        let (layers, params) = unroll(spec, input.size, total)?;
        let out = layers.last().map_or(input.size, |l| l.units);
        let (loss, loss_is_default) = match spec.loss {
            Some((loss, span)) => {
                if loss == LossKind::CrossEntropy && out < 2 {
                    return Err(src.error(span, format!("cross_entropy needs at least 2 output units, the last layer has {out}")).with_help("use `loss bce` for one binary output, or `loss mse`"));
                }
                (loss, false)
            }
            None if out >= 2 => (LossKind::CrossEntropy, true),
            None => (LossKind::Mse, true),
        };
        Ok(Graph {
            input: input.size,
            layers,
            loss,
            loss_is_default,
            l2: spec.l2,
            params,
            flush_subnormals: spec.train.flush_subnormals,
        })
    }

    /// Units of the output layer.
    pub fn outputs(&self) -> usize {
        self.layers.last().map_or(self.input, |l| l.units)
    }

    /// Multiply-add FLOPs (2 per multiply-add) of the matrix products of one
    /// forward pass on `batch` rows, or `None` on overflow.
    pub fn forward_flops(&self, batch: usize) -> Option<u64> {
        self.layers
            .iter()
            .try_fold(0u64, |acc, l| acc.checked_add(l.product_flops(batch)?))
    }

    /// FLOPs of the matrix products of one backward pass: ∂W for every layer
    /// and ∂a for every layer but the first (nothing needs ∂x).
    pub fn backward_flops(&self, batch: usize) -> Option<u64> {
        let fwd = self.forward_flops(batch)?;
        let first = self.layers.first()?.product_flops(batch)?;
        fwd.checked_mul(2)?.checked_sub(first)
    }
}
