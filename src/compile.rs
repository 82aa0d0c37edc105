//! Graph → Plan: every buffer's offset and length in one arena, and the
//! ordered list of steps (forward, loss, backward — the forward reversed —
//! then the optimizer updates or the statistics), each with its split over
//! threads. Everything static is decided here; the executor only walks the
//! plan.

use crate::arena::ALIGN_BYTES;
use crate::graph::{DEFAULT_MEMORY_LIMIT, Graph, physical_memory};
use crate::plan::{Buf, BufferInfo, LayerBufs, ParamBufs, Plan, PlanError, Step};
use crate::spec::{LossKind, Optim};
use depthlab_kernels::Activation;

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

/// What the compiler may use: the arena's memory and the threads a step
/// may be split over.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Resources {
    /// Refuse plans whose arena needs more bytes than this.
    pub memory_limit: u64,
    pub threads: usize,
}

impl Default for Resources {
    /// [`DEFAULT_MEMORY_LIMIT`], one thread.
    fn default() -> Self {
        Resources {
            memory_limit: DEFAULT_MEMORY_LIMIT,
            threads: 1,
        }
    }
}

impl Resources {
    /// `gib` GiB as a memory limit, clamped to the machine's memory (a
    /// limit above it would let a network through that the system cannot
    /// hold).
    pub fn limit_gib(gib: f64) -> u64 {
        let bytes = (gib * (1u64 << 30) as f64).min(u64::MAX as f64) as u64;
        physical_memory().map_or(bytes, |m| bytes.min(m))
    }
}

/// Below this many FLOPs a matrix product runs on one thread: the split
/// (≈ 1–2 µs with spinning workers) would cost more than it saves.
pub const MIN_SPLIT_FLOPS: u64 = 1 << 21;
/// Below this many elements an element-wise step runs on one thread.
pub const MIN_SPLIT_ELEMENTS: usize = 1 << 16;

/// Row blocks for a matrix product of `flops` on `threads` threads.
fn gemm_parts(flops: Option<u64>, threads: usize) -> usize {
    let flops = flops.unwrap_or(u64::MAX);
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

/// Compiles `graph` for batches of `batch` rows: lays out every buffer
/// (checked against the memory limit before anything is allocated), then
/// lists the steps. Each step's split into row blocks is decided here from
/// its work size; splits are over output rows only, so results are
/// bit-identical for any thread count.
///
/// ```
/// use depthlab::compile::{Purpose, Resources, compile};
/// use depthlab::graph::Graph;
/// use depthlab::spec::{Source, parse};
/// let spec = parse(Source::new("--net", "input 4; dense 8 tanh; dense 2")).unwrap();
/// let graph = Graph::check(&spec).unwrap();
/// let plan = compile(&graph, 16, Purpose::Stats, Resources::default()).unwrap();
/// assert_eq!(plan.batch, 16);
/// assert_eq!(plan.buffer(plan.x).len, 16 * 4);
/// ```
pub fn compile(
    graph: &Graph,
    batch: usize,
    purpose: Purpose,
    resources: Resources,
) -> Result<Plan, PlanError> {
    let threads = resources.threads.max(1);
    let optim = match purpose {
        Purpose::Train(o) => Some(o.clone()),
        Purpose::Stats => None,
    };
    let mut lay = Layout::default();
    let rows_times = |n: usize| batch.checked_mul(n);
    let x = lay.add("x".into(), rows_times(graph.input))?;
    let y_len = match graph.loss {
        LossKind::CrossEntropy => Some(batch),
        _ => rows_times(graph.outputs()),
    };
    let y = lay.add("y".into(), y_len)?;
    let layers = graph
        .layers
        .iter()
        .map(|l| layer_buffers(&mut lay, l, batch))
        .collect::<Result<Vec<_>, _>>()?;
    let params = match &optim {
        Some(o) => optimizer_state(&mut lay, graph, &layers, o)?,
        None => Vec::new(),
    };
    let widest = graph.layers.iter().map(|l| l.units).max().unwrap_or(0);
    let scratch = lay.add("scratch".into(), rows_times(widest))?;
    let bytes = (lay.cursor as u64)
        .checked_mul(size_of::<f32>() as u64)
        .ok_or(PlanError::Overflow)?;
    if bytes > resources.memory_limit {
        return Err(PlanError::TooLarge {
            needed: bytes,
            limit: resources.memory_limit,
        });
    }
    let mut steps = forward_steps(graph, &layers, x, batch, threads);
    let last = layers.last().expect("a graph has at least one layer");
    steps.push(Step::Loss {
        loss: graph.loss,
        grad: last.delta,
        pred: last.a,
        target: y,
        rows: batch,
        cols: graph.outputs(),
    });
    // The L2 term's value joins the training loss (the statistics measure
    // the data term); its gradient is fused into the updates.
    steps.extend(
        params
            .iter()
            .filter(|pb| pb.l2 != 0.0)
            .map(|pb| Step::Penalty {
                w: pb.param,
                rho: pb.l2 / 2.0,
            }),
    );
    steps.extend(backward_steps(graph, &layers, x, batch, threads));
    steps.extend(last_steps(
        &params,
        &lay.buffers,
        layers.len(),
        optim.is_some(),
        threads,
    ));
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

/// Lays out buffers back to back, each aligned to [`ALIGN_BYTES`].
#[derive(Default)]
struct Layout {
    buffers: Vec<BufferInfo>,
    cursor: usize,
}

impl Layout {
    /// A buffer of `len` f32 (`None`: the size overflowed).
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

/// The buffers of one layer: parameters, their gradients, s, a (s itself
/// for identity, which needs no second copy) and δ.
fn layer_buffers(
    lay: &mut Layout,
    l: &crate::graph::Layer,
    batch: usize,
) -> Result<LayerBufs, PlanError> {
    let i = l.index;
    let weights = l.units.checked_mul(l.fan_in);
    let rows = batch.checked_mul(l.units);
    let w = lay.add(format!("W{i}"), weights)?;
    let b = lay.add(format!("b{i}"), Some(l.units))?;
    let p = lay.add(format!("p{i}"), Some(l.act_params()))?;
    let dw = lay.add(format!("dW{i}"), weights)?;
    let db = lay.add(format!("db{i}"), Some(l.units))?;
    let dp = lay.add(format!("dp{i}"), Some(l.act_params()))?;
    let s = lay.add(format!("s{i}"), rows)?;
    let a = if l.act.kernel() == Activation::Identity {
        s
    } else {
        lay.add(format!("a{i}"), rows)?
    };
    let delta = lay.add(format!("delta{i}"), rows)?;
    Ok(LayerBufs {
        w,
        b,
        p,
        dw,
        db,
        dp,
        s,
        a,
        delta,
    })
}

/// The optimizer state of every learnable buffer, named
/// `<param>.<torch's state name>`, in update order (W, b, then activation
/// parameters, layer by layer), with each buffer's weight decay resolved:
/// the layer's own or the optimizer's; biases only with `decay_bias`;
/// PReLU/SReLU parameters none unless asked (He et al. 2015).
fn optimizer_state(
    lay: &mut Layout,
    graph: &Graph,
    layers: &[LayerBufs],
    o: &Optim,
) -> Result<Vec<ParamBufs>, PlanError> {
    let names = o.kind.state_names(o);
    let mut params = Vec::new();
    for (l, bufs) in graph.layers.iter().zip(layers) {
        let wd = l.weight_decay.unwrap_or(o.weight_decay);
        let bias_wd = if o.decay_bias { wd } else { 0.0 };
        let act_wd = l.act_decay.unwrap_or(0.0);
        // The loss's L2 term: weights, biases only with `l2_bias`.
        let l2 = 2.0 * graph.l2.rho;
        let bias_l2 = if graph.l2.bias { l2 } else { 0.0 };
        for (param, grad, decay, l2) in [
            (bufs.w, bufs.dw, wd, l2),
            (bufs.b, bufs.db, bias_wd, bias_l2),
            (bufs.p, bufs.dp, act_wd, 0.0),
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
                l2,
            });
        }
    }
    Ok(params)
}

/// After the backward pass: one fused optimizer update per parameter buffer
/// (training), or the statistics of every layer then of the network.
fn last_steps(
    params: &[ParamBufs],
    buffers: &[BufferInfo],
    layers: usize,
    training: bool,
    threads: usize,
) -> Vec<Step> {
    if !training {
        let stats = (0..layers).map(|layer| Step::LayerStats { layer });
        return stats.chain([Step::NetworkStats]).collect();
    }
    params
        .iter()
        .map(|pb| Step::Update {
            param: pb.param,
            grad: pb.grad,
            state: pb.state,
            decay: pb.decay,
            l2: pb.l2,
            parts: elementwise_parts(buffers[pb.param.0].len, threads),
        })
        .collect()
}

/// The input of layer `index` (1-based): x, or the previous layer's a.
fn layer_input(layers: &[LayerBufs], x: Buf, index: usize) -> Buf {
    if index == 1 { x } else { layers[index - 2].a }
}

/// The forward pass: one product per layer with bias and activation fused
/// into its epilogue, except activations with parameters (a step of their
/// own).
fn forward_steps(
    graph: &Graph,
    layers: &[LayerBufs],
    x: Buf,
    batch: usize,
    threads: usize,
) -> Vec<Step> {
    let mut steps = Vec::new();
    for (l, bufs) in graph.layers.iter().zip(layers) {
        let act = l.act.kernel();
        let own_step = act.params_per_unit() > 0;
        steps.push(Step::Linear {
            s: bufs.s,
            a: bufs.a,
            x: layer_input(layers, x, l.index),
            w: bufs.w,
            b: bufs.b,
            act: if own_step { Activation::Identity } else { act },
            rows: batch,
            fan_in: l.fan_in,
            units: l.units,
            parts: gemm_parts(l.product_flops(batch), threads),
        });
        if own_step {
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
    steps
}

/// The backward pass, the forward reversed: per layer the activation's
/// derivative, then ∂W, ∂b and (except for layer 1) ∂x.
fn backward_steps(
    graph: &Graph,
    layers: &[LayerBufs],
    x: Buf,
    batch: usize,
    threads: usize,
) -> Vec<Step> {
    let mut steps = Vec::new();
    for (l, bufs) in graph.layers.iter().zip(layers).rev() {
        let act = l.act.kernel();
        if act != Activation::Identity {
            // Parameter gradients sum over rows: those steps are not split.
            let parts = if act.params_per_unit() == 0 {
                elementwise_parts(batch.saturating_mul(l.units), threads)
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
        let parts = gemm_parts(l.product_flops(batch), threads);
        steps.push(Step::LinearBackwardParams {
            dw: bufs.dw,
            db: bufs.db,
            delta: bufs.delta,
            x: layer_input(layers, x, l.index),
            rows: batch,
            fan_in: l.fan_in,
            units: l.units,
            parts,
        });
        if l.index > 1 {
            steps.push(Step::LinearBackwardInput {
                dx: layers[l.index - 2].delta,
                delta: bufs.delta,
                w: bufs.w,
                rows: batch,
                fan_in: l.fan_in,
                units: l.units,
                parts,
            });
        }
    }
    steps
}
