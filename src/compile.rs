//! Graph → Plan: every buffer's offset and length in one arena, and the
//! ordered list of steps (forward, loss, backward — the forward reversed —
//! then the optimizer updates or the statistics), each with its split over
//! threads. Everything static is decided here; the executor only walks the
//! plan.

use crate::arena::ALIGN_BYTES;
use crate::graph::{DEFAULT_MEMORY_LIMIT, Graph, physical_memory};
use crate::plan::{
    Buf, BufferInfo, Chained, FusedUpdate, LayerBufs, ParamBufs, Plan, PlanError, Step,
};
use crate::spec::{LossKind, Optim};
use depthlab_kernels::Activation;
use depthlab_kernels::gemm::whole_row_tiles;

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
/// A W of at most this many floats (32 KiB) is small: a network of only
/// small layers keeps its parameters in cache from step to step, and gains
/// nothing from updates layer by layer (see [`compile`]'s `per_layer`).
pub const SMALL_W: usize = 8192;
/// A W of at most this many floats (1 MiB) is updated in its ∂W product
/// (split or not, each thread the rows it computed), and so is a larger
/// one when that product hands its epilogue whole rows of ∂W
/// ([`whole_row_tiles`]); any other in an update step of its own, right
/// after its layer's backward on one thread, in the pass at the end,
/// split, on several. On an Intel Xeon (Sapphire Rapids), config C of
/// `bench/peers` (W of 1 048 576 floats, fan_in 1024) fused took 1/0.97
/// of its one-thread step (8 ABBA rounds, 0.95–0.99 each) and 1.05–1.06×
/// its two-thread step while ∂W came in 256-column blocks: its update, row
/// by row of blocks 4 KiB apart, streamed W and its state from L3 slower
/// than a step of its own, which reads them end to end. Since one N block
/// covers 1024 columns on a 2 MiB L2 (eb590fa), fused C took 0.957–0.984×
/// its one-thread step (`bench/peers/ab.sh`, three runs of 4 rounds, 11
/// of 12 rounds below 0.99) and 0.979× its two-thread step. Config B (W
/// of 200 704 and 65 536 floats) took 0.92–0.94× its two-thread step
/// fused (3–4 ABBA rounds; its pass at the end had taken 15 % of it).
pub const FUSE_MAX_W: usize = 1 << 18;
/// Above this many FLOPs a product makes a multi-thread plan step by step
/// instead of chained (see [`compile`]): a call of the workers then costs
/// under 5 % of its share on two threads, and the chained ∂W products,
/// which read each δ well after the ∂x product wrote it, fetch it from
/// further away. Config C of `bench/peers` (537 MFLOP a product) chained
/// took 1.02× the step time on two threads; B (17 MFLOP) about the same
/// time, but 1.1× when its step runs on one thread alone (a busy process
/// on the other core); D (2 MFLOP) 0.91–0.97× (medians of interleaved
/// rounds on a noisy host; its fastest step 0.93×).
pub const MAX_CHAINED_FLOPS: u64 = 1 << 22;
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
    let optim = match purpose {
        Purpose::Train(o) => Some(o),
        Purpose::Stats => None,
    };
    let mut lay = Layout::default();
    // What lives from step to step first, then what one step writes and
    // reads: the first part is the same for any thread count.
    let kept = Kept::lay_out(&mut lay, graph, batch, optim)?;
    let (kept_end, kept_buffers) = (lay.cursor, lay.buffers.len());
    let mut plan = schedule(&mut lay, graph, batch, &kept, resources)?;
    if optim.is_some() && resources.threads > 1 && !plan.splits() {
        // Nothing split: every step runs on this thread, so they are the
        // one-thread plan's (W's updates in the ∂W products, one ∂W
        // buffer), under the thread count asked for.
        lay.buffers.truncate(kept_buffers);
        lay.cursor = kept_end;
        let one = Resources {
            threads: 1,
            ..resources
        };
        plan = Plan {
            threads: resources.threads,
            ..schedule(&mut lay, graph, batch, &kept, one)?
        };
    }
    let mut alone = None;
    if optim.is_some() && plan.splits() {
        // The one-thread plan, for the steps SplitChoice runs unsplit: a
        // split plan run on one thread is up to 1.5× slower than it (config
        // D: every δ and ∂W a buffer of its own, 11 MiB against 8, updates
        // in one pass). Its per-step buffers overlap this plan's, which no
        // step of the other kind reads.
        let split_end = lay.cursor;
        lay.cursor = kept_end;
        let one = Resources {
            threads: 1,
            ..resources
        };
        alone = Some(schedule(&mut lay, graph, batch, &kept, one)?);
        // (The split plan's end: it keeps as many per-step buffers or more.)
        lay.cursor = lay.cursor.max(split_end);
    }
    // One buffer table for both plans: a buffer of either is found by the
    // same index in each.
    plan.alone = alone.map(|mut a| {
        a.buffers = lay.buffers.clone();
        a.arena_len = lay.cursor;
        Box::new(a)
    });
    plan.buffers = lay.buffers;
    plan.arena_len = lay.cursor;
    // `Step::LayerStats` splits the arena at the scratch buffer.
    debug_assert!(optim.is_some() || plan.buffers.last() == Some(plan.buffer(plan.scratch)));
    Ok(plan)
}

/// The buffers that live from step to step: the batch, the learnable
/// buffers and their optimizer state.
struct Kept<'a> {
    x: Buf,
    y: Buf,
    learnable: Learnable,
    states: Vec<State>,
    optim: Option<&'a Optim>,
}

impl<'a> Kept<'a> {
    fn lay_out(
        lay: &mut Layout,
        graph: &Graph,
        batch: usize,
        optim: Option<&'a Optim>,
    ) -> Result<Self, PlanError> {
        let x = lay.add("x".into(), batch.checked_mul(graph.input))?;
        let y_len = match graph.loss {
            LossKind::CrossEntropy => Some(batch),
            _ => batch.checked_mul(graph.outputs()),
        };
        let y = lay.add("y".into(), y_len)?;
        let learnable = learnable_buffers(lay, graph)?;
        let states = match optim {
            Some(o) => optimizer_state(lay, graph, &learnable, o)?,
            None => Vec::new(),
        };
        Ok(Kept {
            x,
            y,
            learnable,
            states,
            optim,
        })
    }
}

/// The steps on `resources.threads` over the [`Kept`] buffers, laying out
/// the buffers of one step from `lay`'s cursor. The plan's buffer table
/// and arena length are left for [`compile`] to set.
fn schedule(
    lay: &mut Layout,
    graph: &Graph,
    batch: usize,
    kept: &Kept,
    resources: Resources,
) -> Result<Plan, PlanError> {
    let threads = resources.threads.max(1);
    let Kept { x, y, .. } = *kept;
    // One thread: each layer's parameters are updated during or right after
    // its backward, while its W and ∂W are in cache, and ∂W is one buffer
    // all layers pass through (config D: 5 % of the step, arena 11.0 → 8.0
    // MiB); W's update is in its ∂W product (below). Several: one pass at
    // the end, split over the threads (but W's in a chained plan's ∂W
    // blocks, below). A layer's W, just read by every thread's share of
    // its ∂x, is then in every core's cache, and each
    // write would first take it from the others (config D at two threads:
    // the updates' share of the step 11 → 21–25 %). Only small layers: the
    // other updates in one pass too, fewer steps (config A: 6 % of the
    // step).
    let training = kept.optim.is_some();
    let large = |l: &crate::graph::Layer| l.units.saturating_mul(l.fan_in) > SMALL_W;
    let per_layer = training && threads == 1 && graph.layers.iter().any(large);
    let chained = training && chains_layers(graph, batch, threads);
    let shared_delta = training && !chained;
    let layers = layer_buffers(
        lay,
        graph,
        &kept.learnable,
        batch,
        training,
        shared_delta,
        per_layer,
    )?;
    let params: Vec<ParamBufs> = kept.states.iter().map(|s| s.with_grad(&layers)).collect();
    let widest = graph.layers.iter().map(|l| l.units).max();
    let block = batch.checked_mul(widest.unwrap_or(0));
    let stats_parts = stats_parts(graph, training, threads, block, lay.cursor, resources);
    let scratch_len = block.and_then(|n| n.checked_mul(stats_parts));
    let scratch = lay.add("scratch".into(), scratch_len)?;
    check_limit(lay.cursor, resources.memory_limit)?;
    let mut chains = Vec::new();
    let mut steps = forward_steps(graph, &layers, x, batch, threads);
    if chained {
        steps = vec![chain(Chained::Forward, steps, &mut chains)];
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
    steps.extend(penalty_steps(&params));
    // Each W's update runs in its ∂W product's epilogue, tile by tile
    // while the tile is in L1, instead of a pass of its own that reads ∂W
    // back (see `FusedUpdate`; config D on an Intel Xeon: ∂W and
    // the updates 40.7 → 38.9 % of the step, the fastest step 0.97×: the
    // rest is most likely W and its state to and from L3). Biases and
    // activation parameters keep their update steps. (The optimizer state
    // of the layer below's update was once prefetched into L2 before each
    // ∂W product, one burst of prefetches: D took 0.96× the step with it
    // on an Intel Xeon host. On a later Xeon host (Sapphire Rapids, after
    // the assembly k loop), D took 0.965× the step without it, B 0.988×, C
    // 0.976× (medians of 5–7 ABBA rounds), and a slice fetched per
    // finished tile 1.02× against none; so it went.) Split plans, chained
    // or not, fuse them into their ∂W blocks, each block updating the
    // rows of W it computed: config D at two threads, every step split, on
    // an Intel Xeon whose pass at the end took 19 % of that step, 0.95×
    // the step (on a noisier Xeon host the day before, nothing
    // measurable). Only W up to [`FUSE_MAX_W`] floats, in any plan, or a
    // larger one whose ∂W product hands its epilogue whole rows: else a
    // step of its own updates it faster.
    let fuse = |pb: &ParamBufs| {
        let whole_rows = whole_row_tiles(false, graph.layers[pb.layer].fan_in, batch);
        training && (lay.buffers[pb.param.0].len <= FUSE_MAX_W || whole_rows)
    };
    let (fused, apart) = fuse_w_updates(&params, &layers, fuse);
    let mut updates = vec![Vec::new(); layers.len()];
    if per_layer {
        for pb in &apart {
            updates[pb.layer].push(update_of(pb, lay.buffers[pb.param.0].len));
        }
    }
    let backward = backward_steps(graph, &layers, x, batch, threads, &updates, &fused);
    if chained {
        steps.push(chain(Chained::Backward, backward, &mut chains));
    } else {
        steps.extend(backward);
    }
    if !per_layer {
        steps.extend(last_steps(
            &apart,
            &lay.buffers,
            training,
            threads,
            stats_parts,
        ));
    }
    Ok(Plan {
        graph: graph.clone(),
        batch,
        buffers: Vec::new(),
        layers,
        x,
        y,
        scratch,
        steps,
        chains,
        arena_len: 0,
        threads,
        optim: kept.optim.cloned(),
        params,
        alone: None,
    })
}

/// An arena of `floats` within `limit` bytes, or why not.
fn check_limit(floats: usize, limit: u64) -> Result<(), PlanError> {
    let bytes = (floats as u64)
        .checked_mul(size_of::<f32>() as u64)
        .ok_or(PlanError::Overflow)?;
    if bytes > limit {
        return Err(PlanError::TooLarge {
            needed: bytes,
            limit,
        });
    }
    Ok(())
}

/// The value of the loss's L2 term, which joins the training loss (the
/// statistics measure the data term; its gradient is fused into the
/// updates): layer by layer (W, then b), whatever the update order.
fn penalty_steps(params: &[ParamBufs]) -> Vec<Step> {
    let mut penalized: Vec<&ParamBufs> = params.iter().filter(|pb| pb.l2 != 0.0).collect();
    penalized.sort_by_key(|pb| (pb.layer, pb.param.0));
    penalized
        .iter()
        .map(|pb| Step::Penalty {
            w: pb.param,
            rho: pb.l2 / 2.0,
        })
        .collect()
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

    /// A buffer of `len` f32 at the start of `of` (at most as long): its
    /// storage, for values whose lifetimes never overlap with `of`'s other
    /// users within a step.
    fn alias(&mut self, name: String, of: Buf, len: Option<usize>) -> Result<Buf, PlanError> {
        let len = len.ok_or(PlanError::Overflow)?;
        let offset = self.buffers[of.0].offset;
        debug_assert!(len <= self.buffers[of.0].len, "{name} fits in its storage");
        self.buffers.push(BufferInfo { name, offset, len });
        Ok(Buf(self.buffers.len() - 1))
    }
}

/// Each layer's learnable buffers, kind by kind: W1 … WL, b1 … bL, p1 …
/// pL, so that the optimizer updates all weights in one pass (see
/// [`last_steps`]).
type Learnable = [Vec<Buf>; 3];

/// Lays out the [`Learnable`] buffers.
fn learnable_buffers(lay: &mut Layout, graph: &Graph) -> Result<Learnable, PlanError> {
    Ok([
        each_layer(lay, graph, "W", |l| l.units.checked_mul(l.fan_in))?,
        each_layer(lay, graph, "b", |l| Some(l.units))?,
        each_layer(lay, graph, "p", |l| Some(l.act_params()))?,
    ])
}

/// A buffer `<name><layer>` of `len(layer)` floats for every layer.
fn each_layer(
    lay: &mut Layout,
    graph: &Graph,
    name: &str,
    len: fn(&crate::graph::Layer) -> Option<usize>,
) -> Result<Vec<Buf>, PlanError> {
    graph
        .layers
        .iter()
        .map(|l| lay.add(format!("{name}{}", l.index), len(l)))
        .collect()
}

/// The buffers of every layer: the [`Learnable`] ones, their gradients
/// (laid out kind by kind too: dW1 …, db1 …), s, a (s itself for
/// identity, which needs no second copy) and δ.
///
/// A training plan (`training`; the statistics, which read every s, δ and
/// ∂W, run on the probe's plan) keeps only what its steps read, so that
/// less memory streams through the caches each step (config D of the speed
/// issue: 14.1 → 11.0 MiB, 8.0 with `shared_dw`):
/// * no s apart from a in a layer below the top whose activation has no
///   parameters and whose derivative reads a (sigmoid, tanh, relu): the
///   forward applies f in place. (The top layer's activation backward is a
///   step of its own, which borrows both.)
/// * with `shared_delta`, δ of layers of one parity share a buffer: δ_l is
///   written by the ∂x product of layer l + 1 (or the loss), read by the
///   two products of layer l, and overwritten by layer l − 1's ∂x only
///   after them; no step names two δ of one parity. Two buffers that stay
///   in cache instead of one a layer. (A chained plan keeps every δ: its
///   ∂W products run after all the ∂x ones.)
/// * with `shared_dw` (updates layer by layer), one ∂W buffer for all
///   layers: layer l's ∂W product writes it and the update of W_l, right
///   after layer l's ∂x, reads it, before layer l − 1's ∂W product.
fn layer_buffers(
    lay: &mut Layout,
    graph: &Graph,
    learnable: &Learnable,
    batch: usize,
    training: bool,
    shared_delta: bool,
    shared_dw: bool,
) -> Result<Vec<LayerBufs>, PlanError> {
    let ls = &graph.layers;
    let [w, b, p] = learnable;
    let dw = if shared_dw {
        // (The sizes are those of W, checked above.)
        let widest = ls.iter().map(|l| l.units * l.fan_in).max();
        let store = lay.add("dW (each layer in turn)".into(), widest)?;
        ls.iter()
            .map(|l| lay.alias(format!("dW{}", l.index), store, Some(l.units * l.fan_in)))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        each_layer(lay, graph, "dW", |l| l.units.checked_mul(l.fan_in))?
    };
    let db = each_layer(lay, graph, "db", |l| Some(l.units))?;
    let dp = each_layer(lay, graph, "dp", |l| Some(l.act_params()))?;
    let delta_stores = if shared_delta {
        let widest = |parity: usize| {
            let units = ls.iter().filter(|l| l.index % 2 == parity);
            batch.checked_mul(units.map(|l| l.units).max().unwrap_or(0))
        };
        Some([
            lay.add("delta (even layers)".into(), widest(0))?,
            lay.add("delta (odd layers)".into(), widest(1))?,
        ])
    } else {
        None
    };
    let mut layers = Vec::with_capacity(ls.len());
    for (j, l) in ls.iter().enumerate() {
        let i = l.index;
        let rows = batch.checked_mul(l.units);
        let act = l.act.kernel();
        let (s, a) = if act == Activation::Identity {
            let s = lay.add(format!("s{i}"), rows)?;
            (s, s)
        } else if training
            && i < ls.len()
            && act.params_per_unit() == 0
            && act.backward_uses_output()
        {
            let a = lay.add(format!("a{i}"), rows)?;
            (a, a)
        } else {
            (
                lay.add(format!("s{i}"), rows)?,
                lay.add(format!("a{i}"), rows)?,
            )
        };
        let delta = match delta_stores {
            Some(store) => lay.alias(format!("delta{i}"), store[i % 2], rows)?,
            None => lay.add(format!("delta{i}"), rows)?,
        };
        layers.push(LayerBufs {
            w: w[j],
            b: b[j],
            p: p[j],
            dw: dw[j],
            db: db[j],
            dp: dp[j],
            s,
            a,
            delta,
        });
    }
    Ok(layers)
}

/// A learnable buffer with its optimizer state; its gradient is laid out
/// later, with the buffers of one step (see [`compile`]).
struct State {
    layer: usize,
    /// 0, 1, 2: W, b or the activation parameters.
    kind: usize,
    param: Buf,
    state: [Buf; 3],
    decay: f64,
    l2: f64,
}

impl State {
    fn with_grad(&self, layers: &[LayerBufs]) -> ParamBufs {
        let l = &layers[self.layer];
        ParamBufs {
            layer: self.layer,
            param: self.param,
            grad: [l.dw, l.db, l.dp][self.kind],
            state: self.state,
            decay: self.decay,
            l2: self.l2,
        }
    }
}

/// The optimizer state of every learnable buffer, named
/// `<param>.<torch's state name>`, with each buffer's weight decay
/// resolved: the layer's own or the optimizer's; biases only with
/// `decay_bias`; PReLU/SReLU parameters none unless asked (He et al. 2015).
/// In update order: kind by kind (W, b, activation parameters), layer by
/// layer, each state slot of a kind laid out back to back like the
/// parameters themselves.
fn optimizer_state(
    lay: &mut Layout,
    graph: &Graph,
    learnable: &Learnable,
    o: &Optim,
) -> Result<Vec<State>, PlanError> {
    let names = o.kind.state_names(o);
    // The buffers of each kind, empty ones left out; states come next.
    let mut kinds: [Vec<State>; 3] = Default::default();
    for (layer, l) in graph.layers.iter().enumerate() {
        let wd = l.weight_decay.unwrap_or(o.weight_decay);
        let bias_wd = if o.decay_bias { wd } else { 0.0 };
        let act_wd = l.act_decay.unwrap_or(0.0);
        // The loss's L2 term: weights, biases only with `l2_bias`.
        let l2 = 2.0 * graph.l2.rho;
        let bias_l2 = if graph.l2.bias { l2 } else { 0.0 };
        let of_layer = [(wd, l2), (bias_wd, bias_l2), (act_wd, 0.0)];
        for (kind, (decay, l2)) in of_layer.into_iter().enumerate() {
            let param = learnable[kind][layer];
            if lay.buffers[param.0].len > 0 {
                kinds[kind].push(State {
                    layer,
                    kind,
                    param,
                    state: [Buf(0); 3],
                    decay,
                    l2,
                });
            }
        }
    }
    let mut params = Vec::new();
    for mut kind in kinds {
        for (slot, name) in names.iter().enumerate() {
            for pb in &mut kind {
                let info = &lay.buffers[pb.param.0];
                pb.state[slot] = match name {
                    Some(n) => lay.add(format!("{}.{n}", info.name), Some(info.len))?,
                    None => lay.add(String::new(), Some(0))?,
                };
            }
        }
        params.extend(kind);
    }
    Ok(params)
}

/// The parts a probe plan's statistics are split into: a layer at a time
/// on each thread, each with its own scratch block of `block` floats, laid
/// out from `cursor`; one if those blocks would not fit in the memory
/// limit (a plan that fits on one thread fits on any).
fn stats_parts(
    graph: &Graph,
    training: bool,
    threads: usize,
    block: Option<usize>,
    cursor: usize,
    resources: Resources,
) -> usize {
    let parts = threads.min(graph.layers.len()).max(1);
    let end = block
        .and_then(|n| n.checked_mul(parts))
        .and_then(|n| n.checked_add(cursor));
    let fits = end.is_some_and(|f| check_limit(f, resources.memory_limit).is_ok());
    if training || !fits { 1 } else { parts }
}

/// After the backward pass: the fused optimizer updates (training), or
/// the statistics of every layer then of the network. Consecutive
/// parameter buffers (in update order) with the same decay and L2 whose
/// parameters, gradients and states each lie back to back share one
/// update step; the bits are those of one step per buffer, since the
/// update is element-wise.
fn last_steps(
    params: &[ParamBufs],
    buffers: &[BufferInfo],
    training: bool,
    threads: usize,
    stats_parts: usize,
) -> Vec<Step> {
    if !training {
        let parts = stats_parts;
        return vec![Step::LayerStats { parts }, Step::NetworkStats { parts }];
    }
    let follows = |a: Buf, b: Buf| {
        let (a, b) = (&buffers[a.0], &buffers[b.0]);
        a.len == 0 && b.len == 0 || a.offset + a.len == b.offset
    };
    let mut steps: Vec<Step> = Vec::new();
    for pb in params {
        let len = buffers[pb.param.0].len;
        if let Some(Step::Update {
            last,
            count,
            len: run,
            decay,
            l2,
            ..
        }) = steps.last_mut()
        {
            let end = params.iter().find(|q| q.param == *last).expect("in params");
            let joins = *decay == pb.decay
                && *l2 == pb.l2
                && follows(end.param, pb.param)
                && follows(end.grad, pb.grad)
                && (0..3).all(|i| follows(end.state[i], pb.state[i]));
            if joins {
                *last = pb.param;
                *count += 1;
                *run += len;
                continue;
            }
        }
        steps.push(update_of(pb, len));
    }
    for step in &mut steps {
        if let Step::Update { len, .. } = *step {
            step.set_parts(elementwise_parts(len, threads));
        }
    }
    steps
}

/// Each layer's W update that `fuse` accepts fused into its ∂W product
/// (see [`FusedUpdate`]), and the parameter buffers left to update apart.
fn fuse_w_updates(
    params: &[ParamBufs],
    layers: &[LayerBufs],
    fuse: impl Fn(&ParamBufs) -> bool,
) -> (Vec<Option<FusedUpdate>>, Vec<ParamBufs>) {
    let mut fused = vec![None; layers.len()];
    let mut apart = Vec::new();
    for pb in params {
        if pb.param == layers[pb.layer].w && fuse(pb) {
            fused[pb.layer] = Some(FusedUpdate {
                param: pb.param,
                state: pb.state,
                decay: pb.decay,
                l2: pb.l2,
            });
        } else {
            apart.push(*pb);
        }
    }
    (fused, apart)
}

/// The update of the one buffer `pb` (`len` values), on one thread.
fn update_of(pb: &ParamBufs, len: usize) -> Step {
    Step::Update {
        param: pb.param,
        grad: pb.grad,
        state: pb.state,
        last: pb.param,
        count: 1,
        len,
        decay: pb.decay,
        l2: pb.l2,
        parts: 1,
    }
}

/// Whether a training plan on `threads` runs its layers' steps as chains:
/// one call of the workers for the forward pass, one for the ∂x products,
/// one for the ∂W products, instead of one a layer for each (config D at
/// two threads: 3 calls for its products instead of 147, of ~1 µs each
/// against ~10 µs of product a thread).
/// Only with several threads, some product split but none large (see
/// [`MAX_CHAINED_FLOPS`]), and no learned activation (whose steps are not
/// split).
fn chains_layers(graph: &Graph, batch: usize, threads: usize) -> bool {
    let flops = |l: &crate::graph::Layer| l.product_flops(batch).unwrap_or(u64::MAX);
    threads > 1
        && graph
            .layers
            .iter()
            .all(|l| l.act.kernel().params_per_unit() == 0 && flops(l) <= MAX_CHAINED_FLOPS)
        && graph
            .layers
            .iter()
            .any(|l| gemm_parts(Some(flops(l)), threads) > 1)
}

/// `steps` as one [`Step::Chain`] of kind `of`, kept in `chains`, in as
/// many row blocks as its most split step: every step that runs by rows
/// (all but the ∂W products) runs on each. The ∂W products, claimed
/// together once every ∂x is done, are claimed whole when there are more
/// of them than parts, else in their own row blocks. Whole, each layer's
/// δ and x (half of each written by the other core's ∂x and forward row
/// blocks) are read by one core, not both: config D of `bench/peers` on
/// two threads (an Intel Xeon) took 0.83–0.87× the step time, nets of 3,
/// 5, 9 and 21 layers 0.87–0.96× (the update fetching W's lines for
/// writing in both builds).
fn chain(of: Chained, mut steps: Vec<Step>, chains: &mut Vec<Vec<Step>>) -> Step {
    let parts = steps.iter().map(Step::parts).max().unwrap_or(1);
    let own_blocks = steps.iter().filter(|s| s.own_blocks_in_chain()).count();
    for s in &mut steps {
        if !s.own_blocks_in_chain() {
            s.set_parts(parts);
        } else if own_blocks > parts {
            s.set_parts(1);
        }
    }
    chains.push(steps);
    Step::Chain {
        of,
        index: chains.len() - 1,
        parts,
    }
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
/// derivative, then ∂W, ∂b and (except for layer 1) ∂x, then the layer's
/// `updates` (if any: nothing reads its parameters after its ∂x). With W's
/// update `fused` into the ∂W product, ∂x (which reads W) comes first.
fn backward_steps(
    graph: &Graph,
    layers: &[LayerBufs],
    x: Buf,
    batch: usize,
    threads: usize,
    updates: &[Vec<Step>],
    fused: &[Option<FusedUpdate>],
) -> Vec<Step> {
    let mut steps = Vec::new();
    let top = graph.layers.len();
    for (l, bufs) in graph.layers.iter().zip(layers).rev() {
        let act = l.act.kernel();
        // Below the top layer, an activation without parameters has its
        // backward fused into the ∂x product of the layer above (see
        // below): one pass fewer over δ, one step fewer to wait on.
        if act != Activation::Identity && (l.index == top || act.params_per_unit() > 0) {
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
        let update = fused[l.index - 1];
        let params = Step::LinearBackwardParams {
            dw: bufs.dw,
            db: bufs.db,
            delta: bufs.delta,
            x: layer_input(layers, x, l.index),
            rows: batch,
            fan_in: l.fan_in,
            units: l.units,
            parts,
            update,
        };
        let dx = (l.index > 1).then(|| {
            let down = &layers[l.index - 2];
            let down_act = graph.layers[l.index - 2].act.kernel();
            Step::LinearBackwardInput {
                dx: down.delta,
                delta: bufs.delta,
                w: bufs.w,
                act: if down_act.params_per_unit() == 0 {
                    down_act
                } else {
                    Activation::Identity
                },
                s: down.s,
                a: down.a,
                rows: batch,
                fan_in: l.fan_in,
                units: l.units,
                parts,
            }
        });
        if update.is_some() {
            // ∂x reads W, which this ∂W step updates.
            steps.extend(dx);
            steps.push(params);
        } else {
            steps.push(params);
            steps.extend(dx);
        }
        steps.extend_from_slice(&updates[l.index - 1]);
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Source, parse};
    use std::collections::BTreeSet;

    /// `text` compiled for `batch` rows: its training plan on `threads`
    /// threads, or (`threads` 0) its statistics plan on one.
    fn plan_of(text: &str, batch: usize, threads: usize) -> Plan {
        let spec = parse(Source::new("--net", text)).unwrap();
        let graph = Graph::check(&spec).unwrap();
        let optim = spec.optimizer();
        let (purpose, threads) = match threads {
            0 => (Purpose::Stats, 1),
            n => (Purpose::Train(&optim), n),
        };
        let resources = Resources {
            threads,
            ..Resources::default()
        };
        compile(&graph, batch, purpose, resources).unwrap()
    }

    /// A parameter-free activation's backward rides on the ∂x product of
    /// the layer above; the top layer's (after the loss) and a learned
    /// activation's (its parameter gradient sums over rows) stay steps.
    #[test]
    fn activation_backward_is_fused_into_the_product_above_when_it_can_be() {
        let text = "input 4; dense 8 relu; dense 8 prelu; dense 8 tanh; dense 3 sigmoid; loss mse";
        let plan = plan_of(text, 5, 0);
        let own: Vec<Activation> = plan
            .steps
            .iter()
            .filter_map(|s| match *s {
                Step::ActivationBackward { act, .. } => Some(act),
                _ => None,
            })
            .collect();
        assert_eq!(own, [Activation::Sigmoid, Activation::Prelu], "{own:?}");
        // ∂x of layers 4, 3, 2 (top down) write δ of layers 3, 2, 1.
        let fused: Vec<(Buf, Activation, Buf)> = plan
            .steps
            .iter()
            .filter_map(|s| match *s {
                Step::LinearBackwardInput { dx, act, s, .. } => Some((dx, act, s)),
                _ => None,
            })
            .collect();
        let l = &plan.layers;
        let want = [
            (l[2].delta, Activation::Tanh, l[2].s),
            (l[1].delta, Activation::Identity, l[1].s),
            (l[0].delta, Activation::Relu, l[0].s),
        ];
        assert_eq!(fused, want);
    }

    /// A training plan keeps s apart from a only where something reads it:
    /// a derivative from s (softplus), a learned activation, the top layer
    /// (its activation's backward is a step of its own). The statistics'
    /// plan keeps every s (they measure it).
    #[test]
    fn a_training_plan_keeps_s_only_where_it_is_read() {
        let text = "input 4; dense 8 relu; dense 8 tanh; dense 8 sigmoid; dense 8 softplus; \
                    dense 8 prelu; dense 8 identity; dense 3 sigmoid; loss mse";
        let trained = plan_of(text, 5, 1);
        let one_buffer: Vec<bool> = trained.layers.iter().map(|l| l.s == l.a).collect();
        // relu, tanh, sigmoid; softplus, prelu; identity (s is a); top sigmoid.
        assert_eq!(one_buffer, [true, true, true, false, false, true, false]);
        let measured = plan_of(text, 5, 0);
        let one_buffer: Vec<bool> = measured.layers.iter().map(|l| l.s == l.a).collect();
        assert_eq!(one_buffer, [false, false, false, false, false, true, false]);
        assert_eq!(
            trained.describe(&trained.steps[0]),
            "linear+relu   a1 = relu(x·W1ᵀ + b1)   (5×4)·(8×4)ᵀ"
        );
    }

    /// A training plan's δ of layers of one parity share storage; δ of
    /// adjacent layers (one ∂x product reads one and writes the other)
    /// never overlap. The statistics' plan keeps every δ (it measures them).
    #[test]
    fn a_training_plan_shares_delta_storage_between_layers_of_one_parity() {
        let text = "input 5; dense 12 tanh; dense 7 relu; dense 9 prelu; dense 12 tanh; dense 3";
        let plan = plan_of(text, 4, 1);
        let range = |l: usize| plan.buffer(plan.layers[l].delta).range();
        for l in 0..plan.layers.len() {
            assert_eq!(range(l).len(), 4 * plan.graph.layers[l].units, "δ{}", l + 1);
            if l >= 2 {
                assert_eq!(
                    range(l).start,
                    range(l - 2).start,
                    "δ{} and δ{}",
                    l + 1,
                    l - 1
                );
            }
            if l >= 1 {
                let (a, b) = (range(l), range(l - 1));
                assert!(
                    a.end <= b.start || b.end <= a.start,
                    "δ{} and δ{} overlap",
                    l + 1,
                    l
                );
            }
        }
        let stats = plan_of(text, 4, 0);
        let starts: BTreeSet<usize> = stats
            .layers
            .iter()
            .map(|l| stats.buffer(l.delta).offset)
            .collect();
        assert_eq!(starts.len(), stats.layers.len());
    }

    /// One thread: every parameter buffer is updated by exactly one step,
    /// after the last step that reads it (its layer's ∂x, or the activation
    /// backward for PReLU/SReLU parameters) and after (or, for W, in) its
    /// gradient's step: W's in its ∂W product unless W is over
    /// [`FUSE_MAX_W`] floats and that product hands its epilogue rows of
    /// column blocks (not [`whole_row_tiles`]); the others in steps of
    /// their own right after
    /// their layer's backward, with no other write to the shared ∂W buffer
    /// in between.
    #[test]
    fn one_thread_updates_each_layer_right_after_its_backward() {
        for text in [
            "input 8; dense 128 tanh x3; dense 10; optim sgd momentum=0.9 weight_decay=1e-4",
            "input 3; dense 16 prelu; dense 96 srelu; dense 96 relu weight_decay=0.5; dense 2; \
             optim adam amsgrad=true weight_decay=0.1",
            "input 8; dense 128 relu x3; dense 96 tanh; dense 3; optim sgd momentum=0.9",
            "input 8; dense 100 sigmoid; dense 100; loss mse l2=0.1 l2_bias=true; optim sgd",
            // W2 is over 1 MiB, with rows of 256: fused, whole rows.
            "input 8; dense 256 relu; dense 1100 relu; dense 10; optim sgd momentum=0.9",
            // W2 is over 1 MiB, with rows of 1100 (in column blocks on
            // every machine): in a step of its own.
            "input 8; dense 1100 relu; dense 260 relu; dense 10; optim sgd momentum=0.9",
        ] {
            let plan = plan_of(text, 7, 1);
            let at = |f: &dyn Fn(&Step) -> bool| -> Vec<usize> {
                let steps = plan.steps.iter().enumerate();
                steps.filter(|(_, s)| f(s)).map(|(i, _)| i).collect()
            };
            let dw_writes = at(&|s| matches!(s, Step::LinearBackwardParams { .. }));
            // A W its ∂W product may update: small, or with whole rows.
            let fusable = |pb: &ParamBufs| {
                plan.buffer(pb.param).len <= FUSE_MAX_W
                    || whole_row_tiles(false, plan.graph.layers[pb.layer].fan_in, plan.batch)
            };
            for pb in &plan.params {
                let name = &plan.buffer(pb.param).name;
                let l = &plan.layers[pb.layer];
                let own =
                    at(&|s| matches!(*s, Step::LinearBackwardParams { dw, .. } if dw == l.dw));
                let update = at(&|s| match *s {
                    Step::Update { param, .. } => param == pb.param,
                    Step::LinearBackwardParams { update, .. } => {
                        update.is_some_and(|u| u.param == pb.param)
                    }
                    _ => false,
                });
                assert_eq!(update.len(), 1, "{text}: {name}");
                let u = update[0];
                let reads = at(&|s| match *s {
                    Step::LinearBackwardInput { w, .. } => w == pb.param,
                    Step::ActivationBackward { p, .. } => p == pb.param,
                    _ => false,
                });
                assert!(
                    reads.iter().all(|&r| r < u),
                    "{text}: {name} read after its update"
                );
                let (decay, l2) = match plan.steps[u] {
                    Step::Update {
                        count, decay, l2, ..
                    } => {
                        assert!(
                            pb.param != l.w || !fusable(pb),
                            "{text}: {name} in a step of its own"
                        );
                        assert_eq!(count, 1, "{text}: {name}");
                        assert!(own[0] < u, "{text}: {name} updated before its gradient");
                        let between = dw_writes.iter().any(|&w| own[0] < w && w < u);
                        assert!(!between, "{text}: ∂W overwritten before {name}'s update");
                        (decay, l2)
                    }
                    Step::LinearBackwardParams {
                        update: Some(fused),
                        ..
                    } => {
                        assert_eq!((pb.param, u), (l.w, own[0]), "{text}: {name}");
                        assert!(fusable(pb), "{text}: {name}");
                        assert_eq!(fused.state, pb.state, "{text}: {name}");
                        (fused.decay, fused.l2)
                    }
                    _ => unreachable!(),
                };
                assert_eq!((decay, l2), (pb.decay, pb.l2), "{text}: {name}");
            }
            // ∂W is one buffer, as wide as the widest layer's.
            let starts: BTreeSet<usize> = plan
                .layers
                .iter()
                .map(|l| plan.buffer(l.dw).offset)
                .collect();
            assert_eq!(starts.len(), 1, "{text}");
        }
    }

    /// Only small layers, one thread: W's updates in the ∂W products, the
    /// biases' in one pass at the end.
    #[test]
    fn one_thread_updates_only_small_layers_in_one_pass() {
        let plan = plan_of("input 8; dense 32 tanh x6; dense 10", 7, 1);
        let updates: Vec<String> = plan
            .steps
            .iter()
            .filter(|s| matches!(s, Step::Update { .. }))
            .map(|s| plan.describe(s))
            .collect();
        assert_eq!(updates.len(), 1, "{updates:?}");
        assert!(
            updates[0].contains("b1…b7 ← adam(b1…b7, db1…db7"),
            "{updates:?}"
        );
        let fused = plan
            .steps
            .iter()
            .filter(|s| s.kind().contains("W's update"));
        assert_eq!(fused.count(), 7);
    }

    /// Several threads and nothing split: the one-thread plan's steps.
    #[test]
    fn a_training_plan_that_splits_nothing_is_the_one_thread_plan() {
        for text in [
            "input 8; dense 32 tanh x6; dense 10",
            "input 8; dense 128 relu x3; dense 3",
        ] {
            let (one, two) = (plan_of(text, 7, 1), plan_of(text, 7, 2));
            assert!(!two.splits() && two.alone.is_none(), "{text}");
            assert_eq!((one.threads, two.threads), (1, 2));
            assert_eq!(one.steps, two.steps, "{text}");
            assert_eq!((one.buffers, one.arena_len), (two.buffers, two.arena_len));
        }
    }

    /// Every parameter buffer is updated by exactly one step (W's in its ∂W
    /// product on one thread or in a chain), and a merged step's spans are
    /// exactly its buffers, back to back, with one decay.
    #[test]
    fn merged_updates_cover_each_buffer_once_and_exactly() {
        for text in [
            "input 8; dense 32 tanh x6; dense 10; optim sgd momentum=0.9 weight_decay=1e-4",
            "input 3; dense 16 prelu; dense 16 srelu; dense 16 relu weight_decay=0.5; dense 2; \
             optim adam amsgrad=true weight_decay=0.1",
            "input 8; dense 32 sigmoid; dense 4; loss mse l2=0.1 l2_bias=true; optim sgd",
            "input 4; dense 16 relu x3; dense 3; optim adamw decay_bias=false weight_decay=0.1",
        ] {
            // A batch that splits the products: the updates at the end, and
            // in the one-thread plan beside it W's in the ∂W products.
            let split = plan_of(text, 4096, 2);
            assert!(split.splits(), "{text}");
            let alone = split.alone.as_deref().expect("a split plan has one");
            for plan in [&split, alone] {
                let mut seen = vec![0; plan.params.len()];
                for s in plan.steps.iter().chain(plan.chains.iter().flatten()) {
                    if let Step::LinearBackwardParams {
                        update: Some(u), ..
                    } = *s
                    {
                        let i = plan.params.iter().position(|p| p.param == u.param).unwrap();
                        seen[i] += 1;
                    }
                }
                let updates = plan.steps.iter().filter_map(|s| match *s {
                    Step::Update {
                        param,
                        last,
                        count,
                        len,
                        decay,
                        l2,
                        ..
                    } => Some((param, last, count, len, decay, l2)),
                    _ => None,
                });
                for (param, last, count, len, decay, l2) in updates {
                    let first = plan.params.iter().position(|p| p.param == param).unwrap();
                    let run = &plan.params[first..first + count];
                    assert_eq!(run.last().unwrap().param, last, "{text}");
                    let bufs =
                        |pb: &ParamBufs| [pb.param, pb.grad, pb.state[0], pb.state[1], pb.state[2]];
                    for (slot, &start) in bufs(&run[0]).iter().enumerate() {
                        let span = plan.span(start, len);
                        let mut at = span.start;
                        for pb in run {
                            let info = plan.buffer(bufs(pb)[slot]);
                            if info.len > 0 {
                                assert_eq!(info.offset, at, "{text}: {}", info.name);
                                at += info.len;
                            }
                        }
                        assert_eq!(at, span.end, "{text}: slot {slot}");
                    }
                    for (i, pb) in run.iter().enumerate() {
                        seen[first + i] += 1;
                        assert_eq!((pb.decay, pb.l2), (decay, l2), "{text}");
                    }
                }
                assert!(seen.iter().all(|&n| n == 1), "{text}: {seen:?}");
                let steps = plan
                    .steps
                    .iter()
                    .filter(|s| matches!(s, Step::Update { .. }));
                assert!(steps.count() < plan.params.len(), "{text}: nothing merged");
            }
        }
    }

    /// Several threads and split products none of them large: three
    /// chains (forward, ∂x, ∂W) instead of a step a layer, every δ its own
    /// buffer; one thread, a large product or a learned activation keep
    /// their steps.
    #[test]
    fn several_threads_chain_the_layers_of_small_products() {
        let deep = "input 64; dense 128 relu x6; dense 10";
        let plan = plan_of(deep, 64, 2);
        let chained: Vec<(Chained, usize, usize)> = plan
            .steps
            .iter()
            .filter_map(|s| match *s {
                Step::Chain { of, index, parts } => Some((of, plan.chains[index].len(), parts)),
                _ => None,
            })
            .collect();
        // 7 products forward; backward 7 ∂W and 6 ∂x (none below layer 1)
        // in the order of a plan step by step, each ∂W after the ∂x that
        // last reads its W, which it updates (the chain's ∂W blocks run
        // after every ∂x).
        assert_eq!(
            chained,
            [(Chained::Forward, 7, 2), (Chained::Backward, 13, 2)]
        );
        let backward: Vec<&str> = plan.chains[1].iter().map(Step::kind).collect();
        for (i, kind) in backward.iter().enumerate() {
            let want = if i % 2 == 0 && i < 12 {
                "∂x = "
            } else {
                "W's update"
            };
            assert!(kind.contains(want), "{i}: {backward:?}");
        }
        // Every other step runs on the chain's row blocks; the 7 ∂W
        // products, more than the parts, are claimed whole.
        let blocks: Vec<usize> = plan.chains[1].iter().map(Step::parts).collect();
        assert_eq!(blocks, [2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 1]);
        // As few as the parts: in their own row blocks (the 128×128 one in
        // two, the 10-unit one whole).
        let shallow = plan_of("input 128; dense 128 relu; dense 10", 128, 2);
        let blocks: Vec<(&str, usize)> = shallow.chains[1]
            .iter()
            .map(|s| (s.kind(), s.parts()))
            .collect();
        assert_eq!(
            blocks.iter().map(|b| b.1).collect::<Vec<_>>(),
            [2, 1, 2],
            "{blocks:?}"
        );
        assert!(blocks[2].0.contains("W's update"), "{blocks:?}");
        assert!(matches!(plan.steps[1], Step::Loss { .. }));
        let deltas: BTreeSet<usize> = plan
            .layers
            .iter()
            .map(|l| plan.buffer(l.delta).offset)
            .collect();
        assert_eq!(deltas.len(), plan.layers.len(), "every δ kept");
        // In a chain by row blocks every step runs on the chain's parts.
        assert!(plan.chains[0].iter().all(|s| s.parts() == 2));
        for (text, batch, threads) in [
            (deep, 64, 1),
            ("input 1024; dense 1024 relu x2; dense 10", 256, 2),
            ("input 64; dense 128 prelu x6; dense 10", 64, 2),
        ] {
            let plan = plan_of(text, batch, threads);
            assert!(plan.chains.is_empty(), "{text} on {threads}");
            assert!(!plan.steps.iter().any(|s| matches!(s, Step::Chain { .. })));
        }
    }

    /// A training plan that splits keeps the one-thread plan for the steps
    /// it runs unsplit: the same steps, over the same x, y, parameters and
    /// optimizer state, its per-step buffers apart from those.
    #[test]
    fn a_split_training_plan_runs_unsplit_steps_as_the_one_thread_plan() {
        let deep = "input 64; dense 128 relu x6; dense 10; optim adam";
        let (two, one) = (plan_of(deep, 64, 2), plan_of(deep, 64, 1));
        let alone = two.alone.as_deref().expect("a split plan has one");
        let steps = |p: &Plan| p.to_string().split_once("steps:").unwrap().1.to_owned();
        assert_eq!(steps(alone), steps(&one));
        assert_ne!(steps(alone), steps(&two), "the split plan differs");
        assert_eq!((alone.threads, alone.x, alone.y), (1, two.x, two.y));
        let kept = |p: &Plan| -> Vec<_> {
            p.params
                .iter()
                .map(|pb| (pb.layer, pb.param, pb.state, pb.decay))
                .collect()
        };
        assert_eq!(kept(alone), kept(&two));
        // One table and arena, at least as large as the one-thread plan's.
        assert_eq!(alone.buffers, two.buffers);
        assert_eq!(alone.arena_len, two.arena_len);
        assert!(two.arena_len >= one.arena_len);
        assert!(alone.alone.is_none());
        // Every other buffer, of either plan, lies after those kept
        // between steps (x, y, the parameters and all their state).
        let kept: BTreeSet<usize> = [two.x, two.y]
            .into_iter()
            .chain(
                two.params
                    .iter()
                    .flat_map(|pb| [pb.param, pb.state[0], pb.state[1], pb.state[2]]),
            )
            .map(|b| b.0)
            .collect();
        let kept_end = kept.iter().map(|&i| two.buffers[i].range().end).max();
        for (i, b) in two.buffers.iter().enumerate() {
            let after = kept.contains(&i) || b.len == 0 || Some(b.offset) >= kept_end;
            assert!(after, "{} overlaps a kept buffer", b.name);
        }
        // None where nothing splits: one thread, small products, statistics.
        assert!(one.alone.is_none());
        assert!(
            plan_of("input 32; dense 32 tanh x3; dense 10", 16, 2)
                .alone
                .is_none()
        );
        let spec = parse(Source::new("--net", deep)).unwrap();
        let graph = Graph::check(&spec).unwrap();
        let two_threads = Resources {
            threads: 2,
            ..Resources::default()
        };
        let stats = compile(&graph, 300, Purpose::Stats, two_threads).unwrap();
        assert!(stats.splits() && stats.alone.is_none());
    }
}
