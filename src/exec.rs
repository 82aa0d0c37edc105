//! The executor: one arena holding every buffer of a plan, and one `match`
//! over the plan's steps. Running a step allocates nothing.

use crate::arena::{Access, Arena, Chain, Division, Matrix, Pool, SplitChoice, Views};
use crate::init::{init_act_params, init_bias, init_weights};
use crate::plan::{Buf, Plan, PlanError, Step};
use crate::spec::{Optim, OptimKind};
use crate::stats::{
    LayerStats, LayerView, NetworkStats, StatsConfig, gains, histogram_ranges, layer_histograms,
    layer_stats,
};
use depthlab_kernels::Activation;
use depthlab_kernels::activation::{
    activation_backward, activation_forward, activation_forward_in_place,
};
use depthlab_kernels::gemm::{
    Operands, bias_add, column_sum, gemm_nn_rows, gemm_nn_rows_with, gemm_nt_rows_with,
    gemm_tn_rows, gemm_tn_rows_with,
};
use depthlab_kernels::loss::loss_forward_backward;
use depthlab_kernels::reduce::moments;
use depthlab_kernels::simd::{prefetch, prefetch_write};
use depthlab_kernels::subnormal::Flushing;
use depthlab_kernels::update::{Adam, Sgd, adam_update, sgd_update};

/// A plan bound to its memory.
pub struct Executor {
    plan: Plan,
    arena: Arena,
    stats: NetworkStats,
    config: StatsConfig,
    /// Runs the steps the compiler split (persistent workers).
    pool: Pool,
    /// For each step of the plan that runs in row blocks (the products,
    /// a split activation backward, chains of them), its checked chain;
    /// then the same for the steps of [`Plan::alone`] (empty without).
    chains: [Vec<Option<Chain>>; 2],
    /// Whether the last run was the steps of [`Plan::alone`].
    ran_alone: bool,
    /// Whether a whole training step hands its parts to the workers
    /// (`None`: nothing is split).
    split: Option<SplitChoice>,
    /// Every step runs unsplit (see [`Executor::hold_unsplit`]); the
    /// steps that have, and their seconds.
    hold: bool,
    held: (u64, f64),
    /// The optimizer's run-time state: learning rate and steps done.
    progress: Progress,
}

/// The whole steps a plan that splits ran each way ([`Executor::ways`]),
/// each as (steps, seconds they took).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Ways {
    /// On this thread alone, as [`SplitChoice`] chose.
    pub alone: (u64, f64),
    /// Split, as [`SplitChoice`] chose.
    pub split: (u64, f64),
    /// Unsplit while held so ([`Executor::hold_unsplit`]).
    pub held: (u64, f64),
}

impl Ways {
    /// What the held steps took beyond the same number of split steps at
    /// the split steps' mean time (`None` with no split step to compare).
    pub fn held_extra(&self) -> Option<f64> {
        let (steps, seconds) = self.held;
        match self.split {
            (0, _) => None,
            (n, t) => Some((seconds - steps as f64 * t / n as f64).max(0.0)),
        }
    }
}

/// What a training plan's update steps need at run time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// Learning rate of the next update (the schedule's value).
    pub lr: f64,
    /// Optimizer steps done so far (SGD's first step starts the momentum
    /// buffer; Adam's bias corrections use step + 1).
    pub step: u64,
}

impl Executor {
    /// Allocates the arena (zeroed) and the statistics, and starts the
    /// plan's worker threads, once; an error when the system cannot give
    /// the arena.
    pub fn new(plan: Plan, config: StatsConfig) -> Result<Self, PlanError> {
        let arena =
            Arena::new(plan.arena_len).map_err(|e| PlanError::OutOfMemory { needed: e.bytes })?;
        let stats = NetworkStats {
            layers: vec![LayerStats::default(); plan.layers.len()],
            hist_range: 0.0,
            act_range: (0.0, 0.0),
            loss: f64::NAN,
        };
        let pool = Pool::flushing(plan.threads, plan.graph.flush_subnormals);
        // (Both plans' arena is the whole arena.)
        let chains_of = |p: &Plan| p.steps.iter().map(|step| chain_of(p, step)).collect();
        let chains = [
            chains_of(&plan),
            plan.alone.as_deref().map_or(Vec::new(), chains_of),
        ];
        let split = plan.splits().then(SplitChoice::new);
        let progress = Progress {
            lr: plan.optim.as_ref().map_or(0.0, |o| o.lr),
            step: 0,
        };
        Ok(Executor {
            plan,
            arena,
            stats,
            config,
            pool,
            chains,
            ran_alone: false,
            split,
            hold: false,
            held: (0, 0.0),
            progress,
        })
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The plan whose steps ran last: its layers' buffers hold that run's
    /// activations, δ and gradients. That is [`Executor::plan`] unless the
    /// last training step ran the steps of its [`Plan::alone`] (x, y, the
    /// parameters and their optimizer state are the same buffers in both).
    pub fn ran(&self) -> &Plan {
        self.plan_of(self.ran_alone)
    }

    fn plan_of(&self, alone: bool) -> &Plan {
        which(&self.plan, alone)
    }

    /// The steps [`Executor::run_profiled`] times: the plan's, then those
    /// of its [`Plan::alone`].
    pub fn profiled_steps(&self) -> Vec<Step> {
        let alone = self.plan.alone.as_deref().map_or(&[][..], |p| &p.steps);
        [&self.plan.steps[..], alone].concat()
    }

    /// Initializes weights, biases and activation parameters from `seed`.
    pub fn init_params(&mut self, seed: u64) {
        let Executor { plan, arena, .. } = self;
        let mem = arena.as_mut_slice();
        for (layer, bufs) in plan.graph.layers.iter().zip(&plan.layers) {
            init_weights(&mut mem[plan.buffers[bufs.w.0].range()], layer, seed);
            init_bias(&mut mem[plan.buffers[bufs.b.0].range()], layer, seed);
            init_act_params(&mut mem[plan.buffers[bufs.p.0].range()], layer);
        }
    }

    /// A buffer's contents (of the plan or its [`Plan::alone`]: they
    /// share one buffer table).
    pub fn buf(&self, b: Buf) -> &[f32] {
        &self.arena.as_slice()[self.plan.buffer(b).range()]
    }

    /// A buffer's contents, mutably (to load inputs or weights).
    pub fn buf_mut(&mut self, b: Buf) -> &mut [f32] {
        let range = self.plan.buffer(b).range();
        &mut self.arena.as_mut_slice()[range]
    }

    /// Several distinct buffers, mutably.
    pub fn bufs_mut<const N: usize>(&mut self, bufs: [Buf; N]) -> [&mut [f32]; N] {
        disjoint(self.arena.as_mut_slice(), &self.plan, bufs)
    }

    /// The statistics of the last run.
    pub fn stats(&self) -> &NetworkStats {
        &self.stats
    }

    /// The loss of the last run (batch mean).
    pub fn loss(&self) -> f64 {
        self.stats.loss
    }

    /// Runs every step of the plan, in order. For a training plan that is
    /// one optimizer step on the batch in `x`, `y`.
    pub fn run(&mut self) {
        self.run_steps(false);
    }

    /// One training step that stops right after the loss if it is not
    /// finite, before anything is updated: then it returns false and the
    /// parameters, optimizer state and step count are those of the last
    /// good step.
    pub fn run_checked(&mut self) -> bool {
        self.run_steps(true)
    }

    /// Every step in order; with `check_loss`, stops after a non-finite
    /// loss and returns false.
    fn run_steps(&mut self, check_loss: bool) -> bool {
        self.timed_split(|exec, alone| {
            for i in 0..exec.plan_of(alone).steps.len() {
                let step = exec.plan_of(alone).steps[i];
                exec.run_step(alone, i);
                if check_loss && matches!(step, Step::Loss { .. }) && !exec.stats.loss.is_finite() {
                    return false;
                }
            }
            if exec.plan.optim.is_some() {
                exec.progress.step += 1;
            }
            true
        })
    }

    /// [`Executor::run`], adding the wall time in nanoseconds of each step
    /// run to its entry of `ns`, one per [`Executor::profiled_steps`] (a
    /// profile for `depthlab bench`; the clock costs some tens of ns a
    /// step).
    pub fn run_profiled(&mut self, ns: &mut [u64]) {
        self.timed_split(|exec, alone| {
            let first = if alone { exec.plan.steps.len() } else { 0 };
            let steps = exec.plan_of(alone).steps.len();
            for (i, spent) in ns.iter_mut().skip(first).take(steps).enumerate() {
                let started = std::time::Instant::now();
                exec.run_step(alone, i);
                *spent += started.elapsed().as_nanos() as u64;
            }
            if exec.plan.optim.is_some() {
                exec.progress.step += 1;
            }
        });
    }

    /// Runs `whole` (a whole step: told whether to run the steps of
    /// [`Plan::alone`]) split or on this thread alone, as [`SplitChoice`]
    /// says, and tells it the time taken. Either way gives the same bits
    /// (the one-thread plan's and a split plan's do).
    fn timed_split<T>(&mut self, whole: impl FnOnce(&mut Self, bool) -> T) -> T {
        let _flushing = self.flushing();
        let Some(split) = self.split.as_mut().map(SplitChoice::split_next) else {
            self.ran_alone = false;
            return whole(self, false);
        };
        let split = split && !self.hold;
        self.pool.set_split(split);
        let alone = !split && self.plan.alone.is_some();
        self.ran_alone = alone;
        let started = std::time::Instant::now();
        let result = whole(self, alone);
        let seconds = started.elapsed().as_secs_f64();
        if let Some(choice) = &mut self.split {
            if self.hold {
                // Not for the choice: the work on the other core would
                // make its times of this way those of a busy machine.
                self.held.0 += 1;
                self.held.1 += seconds;
                choice.skip();
            } else {
                choice.record(split, seconds);
            }
        }
        result
    }

    /// With the spec's `flush_subnormals`, this thread flushes subnormals
    /// until the guard drops (the workers do for their whole life: see
    /// `Pool::flushing`). Set per call, not once: the caller's thread may
    /// run other networks and code in between.
    fn flushing(&self) -> Option<Flushing> {
        self.plan.graph.flush_subnormals.then(Flushing::start)
    }

    /// Makes every later step hand its parts to the workers, without
    /// timing the other way (to measure the split itself).
    pub fn always_split(&mut self) {
        self.split = None;
        self.pool.set_split(true);
    }

    /// How the whole steps ran so far; `None` when the plan splits
    /// nothing.
    pub fn ways(&self) -> Option<Ways> {
        self.split.as_ref().map(|choice| {
            let (counts, seconds) = (choice.counts(), choice.seconds());
            Ways {
                alone: (counts.0, seconds.0),
                split: (counts.1, seconds.1),
                held: self.held,
            }
        })
    }

    /// With `hold`, runs every later step unsplit on this thread (a
    /// training step as [`Plan::alone`] does), timed apart from
    /// [`SplitChoice`]'s ([`Ways::held`]), until called again without: the
    /// trainer holds the steps so while the probe statistics are measured
    /// on the other core. The same bits either way; no effect on a plan
    /// that splits nothing.
    pub fn hold_unsplit(&mut self, hold: bool) {
        self.hold = hold;
    }

    /// Whether steps are held unsplit ([`Executor::hold_unsplit`]).
    pub fn holds_unsplit(&self) -> bool {
        self.hold
    }

    /// Runs the forward steps only (up to the loss): the outputs of the
    /// batch in `x` are then in the last layer's `a`.
    pub fn run_forward(&mut self) {
        let _flushing = self.flushing();
        self.ran_alone = false;
        for i in 0..self.plan.steps.len() {
            let step = self.plan.steps[i];
            if matches!(step, Step::Loss { .. }) {
                break;
            }
            self.run_step(false, i);
        }
    }

    pub fn progress(&self) -> Progress {
        self.progress
    }

    /// Sets the learning rate of the next updates and the count of steps
    /// done (a schedule's new epoch, or a resumed checkpoint).
    pub fn set_progress(&mut self, progress: Progress) {
        self.progress = progress;
    }

    /// Runs step `i` of the plan (a test may run them one by one).
    pub fn step(&mut self, i: usize) {
        let _flushing = self.flushing();
        self.ran_alone = false;
        self.run_step(false, i);
    }

    /// Runs step `i` of the plan, or with `alone` of its [`Plan::alone`].
    // The executor's one `match` over the step kinds (STYLE.md): long by
    // design, each arm a kernel call over its buffers.
    #[allow(clippy::too_many_lines)]
    fn run_step(&mut self, alone: bool, i: usize) {
        let Executor {
            plan,
            arena,
            stats,
            config,
            pool,
            chains,
            progress,
            ..
        } = self;
        let alone = alone && plan.alone.is_some();
        let (plan, chains) = (which(plan, alone), &chains[usize::from(alone)]);
        let mem = arena.as_mut_slice();
        let step = plan.steps[i];
        if let Some(chain) = &chains[i] {
            // Products (alone or chained) and a split activation backward:
            // each part gets its row blocks of every buffer.
            let steps = match step {
                Step::Chain { index, .. } => &plan.chains[index][..],
                _ => std::slice::from_ref(&plan.steps[i]),
            };
            let optim = plan.optim.as_ref().map(|o| (o, *progress));
            let shared = pool.splits();
            pool.run_chain(mem, chain, |s, views| {
                run_block(&steps[s], views, optim, shared);
            });
            return;
        }
        match step {
            Step::Linear { .. }
            | Step::LinearBackwardInput { .. }
            | Step::LinearBackwardParams { .. }
            | Step::Chain { .. } => unreachable!("products run as chains"),
            Step::Activation {
                act,
                a,
                s,
                p,
                rows,
                units,
            } => {
                let [a, s, p] = disjoint(mem, plan, [a, s, p]);
                activation_forward(act, a, s, p, rows, units);
            }
            Step::Loss {
                loss,
                grad,
                pred,
                target,
                rows,
                cols,
            } => {
                let [grad, pred, target] = disjoint(mem, plan, [grad, pred, target]);
                stats.loss = loss_forward_backward(loss, grad, pred, target, rows, cols);
            }
            Step::ActivationBackward {
                act,
                delta,
                dp,
                s,
                a,
                p,
                rows,
                units,
                ..
            } => {
                // Not split (else a chain of its own, above): the
                // parameter gradients sum over rows.
                let [delta, dp, s, a, p] = disjoint(mem, plan, [delta, dp, s, a, p]);
                dp.fill(0.0);
                activation_backward(act, delta, dp, s, a, p, rows, units);
            }
            Step::Update {
                param,
                grad,
                state,
                len,
                decay,
                l2,
                parts,
                ..
            } => {
                let o = plan
                    .optim
                    .as_ref()
                    .expect("update steps only in training plans");
                let spans = [param, grad, state[0], state[1], state[2]].map(|b| plan.span(b, len));
                let [theta, g, s0, s1, s2] = mem
                    .get_disjoint_mut(spans)
                    .expect("an update's buffers are disjoint");
                let g = &*g;
                let rule = Rule::new(o, *progress, decay, l2);
                // Element-wise: any split gives the same bits (unused state
                // slots are empty, and split into empty blocks).
                pool.split_rows_n([theta, s0, s1, s2], 1, parts, |r, [t, a, b, c]| {
                    rule.apply(t, [a, b, c], &g[r]);
                });
            }
            Step::Penalty { w, rho } => {
                stats.loss += rho * moments(&mem[plan.buffer(w).range()]).sq_sum;
            }
            Step::LayerStats { parts } => {
                // The scratch buffer is laid out last, so every other buffer
                // is in `head`.
                let (head, tail) = mem.split_at_mut(plan.buffer(plan.scratch).offset);
                let scratch = &mut tail[..plan.buffer(plan.scratch).len];
                let head = &*head;
                pool.for_each_item(&mut stats.layers, scratch, parts, |layer, out, scratch| {
                    let bufs = &plan.layers[layer];
                    let l = &plan.graph.layers[layer];
                    let at = |b: Buf| &head[plan.buffer(b).range()];
                    let view = LayerView {
                        act: l.act,
                        rows: plan.batch,
                        units: l.units,
                        s: at(bufs.s),
                        a: at(bufs.a),
                        delta: at(bufs.delta),
                        w: at(bufs.w),
                        dw: at(bufs.dw),
                        b: at(bufs.b),
                        db: at(bufs.db),
                        p: at(bufs.p),
                        dp: at(bufs.dp),
                    };
                    layer_stats(out, &view, scratch, config);
                });
            }
            Step::NetworkStats { parts } => {
                let mem = &*mem;
                let at = |b: Buf| &mem[plan.buffer(b).range()];
                histogram_ranges(stats);
                let ranges = (stats.hist_range, stats.act_range);
                pool.for_each_item(&mut stats.layers, &mut [], parts, |layer, out, _| {
                    let bufs = &plan.layers[layer];
                    layer_histograms(out, at(bufs.delta), at(bufs.a), ranges.0, ranges.1);
                });
                gains(stats);
            }
        }
    }
}

/// An update's constants for the step about to run.
#[derive(Clone, Copy)]
enum Rule {
    Sgd(Sgd),
    Adam(Adam),
}

impl Rule {
    /// The update of a buffer with weight decay `decay` and L2 gradient
    /// factor `l2`, for the optimizer's `progress`.
    fn new(o: &Optim, progress: Progress, decay: f64, l2: f64) -> Rule {
        let Progress { lr, step } = progress;
        match o.kind {
            OptimKind::Sgd => Rule::Sgd(Sgd::new(&o.sgd_config(lr, decay, l2), step == 0)),
            OptimKind::Adam | OptimKind::AdamW => {
                Rule::Adam(Adam::at_step(&o.adam_config(lr, decay, l2), step + 1))
            }
        }
    }

    /// Updates `theta` and its optimizer state (unused slots empty) from
    /// the gradient `g`.
    fn apply(&self, theta: &mut [f32], [s0, s1, s2]: [&mut [f32]; 3], g: &[f32]) {
        match self {
            Rule::Sgd(h) => sgd_update(theta, s0, g, h),
            Rule::Adam(h) => adam_update(theta, s0, s1, s2, g, h),
        }
    }
}

/// Elements `r` of a state slot, or the empty slot itself.
fn span_of<'a>(slot: &'a mut [f32], r: &std::ops::Range<usize>) -> &'a mut [f32] {
    if slot.is_empty() {
        slot
    } else {
        &mut slot[r.clone()]
    }
}

/// `plan`, or with `alone` its [`Plan::alone`] if it has one.
fn which(plan: &Plan, alone: bool) -> &Plan {
    match (alone, &plan.alone) {
        (true, Some(one)) => one,
        _ => plan,
    }
}

/// The checked chain `step` runs as: its own chain, or a chain of one for
/// a product (split or not: one code path) or a split activation
/// backward; `None` for the steps run whole.
fn chain_of(plan: &Plan, step: &Step) -> Option<Chain> {
    let (steps, division) = match *step {
        Step::Chain { index, parts, .. } => {
            // The ∂W products in their own blocks, the rest by rows (0).
            let steps = &plan.chains[index][..];
            let blocks = steps.iter().map(|s| {
                if s.own_blocks_in_chain() {
                    s.parts()
                } else {
                    0
                }
            });
            let division = Division {
                rows: plan.batch,
                parts,
                blocks: blocks.collect(),
            };
            (steps, division)
        }
        Step::Linear { .. }
        | Step::LinearBackwardInput { .. }
        | Step::LinearBackwardParams { .. } => (
            std::slice::from_ref(step),
            Division::blocks(vec![step.parts()]),
        ),
        Step::ActivationBackward { parts, .. } if parts > 1 => {
            (std::slice::from_ref(step), Division::blocks(vec![parts]))
        }
        _ => return None,
    };
    let access = steps.iter().map(|s| access(plan, s)).collect();
    match Chain::new(access, division, plan.arena_len) {
        Ok(chain) => Some(chain),
        Err(why) => panic!("the compiler's steps cannot run in blocks: {why}"),
    }
}

/// What a step run by [`run_block`] writes and reads, in the order it
/// takes them from its [`Views`].
fn access(plan: &Plan, step: &Step) -> Access {
    let m = |b: Buf, row_len: usize| Matrix {
        range: plan.buffer(b).range(),
        row_len,
    };
    let whole = |b: Buf| plan.buffer(b).range();
    match *step {
        Step::Linear {
            s,
            a,
            x,
            w,
            b,
            act,
            fan_in,
            units,
            ..
        } => Access {
            // a apart from s only with a fused activation kept apart.
            write: if act == Activation::Identity || s == a {
                vec![m(s, units)]
            } else {
                vec![m(s, units), m(a, units)]
            },
            read: vec![m(x, fan_in)],
            whole: vec![whole(w), whole(b)],
        },
        Step::LinearBackwardInput {
            dx,
            delta,
            w,
            act,
            s,
            a,
            fan_in,
            units,
            ..
        } => {
            // The derivative reads one of s and a (maybe one buffer).
            let mut read = vec![m(delta, units)];
            if act != Activation::Identity {
                read.push(m(if act.backward_uses_output() { a } else { s }, fan_in));
            }
            Access {
                write: vec![m(dx, fan_in)],
                read,
                whole: vec![whole(w)],
            }
        }
        Step::LinearBackwardParams {
            dw,
            db,
            delta,
            x,
            fan_in,
            update,
            ..
        } => {
            let mut write = vec![m(dw, fan_in), m(db, 1)];
            if let Some(u) = update {
                // W, then the state slots in use (they come first).
                let used = |b: &Buf| plan.buffer(*b).len > 0;
                let own = std::iter::once(u.param).chain(u.state);
                write.extend(own.filter(used).map(|b| m(b, fan_in)));
            }
            Access {
                write,
                read: vec![],
                whole: vec![whole(delta), whole(x)],
            }
        }
        Step::ActivationBackward {
            delta, s, a, units, ..
        } => Access {
            write: vec![m(delta, units)],
            read: vec![m(s, units), m(a, units)],
            whole: vec![],
        },
        _ => unreachable!("only products and activation backward run in blocks"),
    }
}

/// Runs `step` on the row block of `v` (see [`access`] for what is where);
/// `optim` is the training plan's optimizer and progress, for an update
/// fused into a ∂W product; `shared`: the step's parts are handed to
/// several threads.
fn run_block(step: &Step, v: Views, optim: Option<(&Optim, Progress)>, shared: bool) {
    let m = v.rows.len();
    match *step {
        Step::Linear {
            act, fan_in, units, ..
        } => {
            let [s, a, ..] = v.write;
            let [w, b, ..] = v.whole;
            let ops = Operands {
                a: v.read[0],
                b: w,
                m,
                k: fan_in,
                n: units,
            };
            gemm_nt_rows_with(s, ops, 0..m, 0.0, |f| {
                bias_add(f.values, &b[f.col..f.col + f.cols], f.rows, f.cols);
                if a.is_empty() {
                    // f, if any, in place (a training plan keeps no s apart
                    // from a when the backward reads only a: see `compile`).
                    activation_forward_in_place(act, f.values);
                } else {
                    // `values` is one run of C; `a` has C's layout.
                    let at = f.row * units + f.col;
                    let out = &mut a[at..at + f.values.len()];
                    activation_forward(act, out, f.values, &[], f.rows, f.cols);
                }
            });
        }
        Step::LinearBackwardInput {
            act, fan_in, units, ..
        } => backward_input_rows(v, act, fan_in, units),
        Step::LinearBackwardParams {
            rows,
            fan_in,
            units,
            update,
            ..
        } => {
            // A block of ∂W's rows (units) and the same block of ∂b (and
            // with a fused update of W and its state).
            let [dw, db, theta, s0, s1, s2] = v.write;
            let [delta, x] = v.whole;
            let ops = Operands {
                a: delta,
                b: x,
                m: units,
                k: rows,
                n: fan_in,
            };
            match update {
                None => gemm_tn_rows(dw, ops, v.rows.clone(), 0.0),
                Some(u) => {
                    let (o, progress) = optim.expect("updates only in training plans");
                    let rule = Rule::new(o, progress, u.decay, u.l2);
                    let first = v.rows.start;
                    // Split over threads: their forward and ∂x products
                    // read all of W, so its rows here are in the other
                    // caches too, and each store to W would wait for them
                    // to be taken back. Fetching the next tile's rows for
                    // writing while this one computes hides that (Intel
                    // Xeon, two threads: config B of `bench/peers` 0.95×,
                    // D 0.85–0.93× the step time; on one thread, where W
                    // is only in this cache, 1.01–1.06× slower).
                    gemm_tn_rows_with(dw, ops, v.rows.clone(), 0.0, |f| {
                        // `values` is one run of ∂W; W and its state have
                        // its layout.
                        let at = (f.row - first) * fan_in + f.col;
                        let r = at..at + f.values.len();
                        if shared {
                            let next = r.end..(r.end + r.len()).min(theta.len());
                            prefetch_write(&theta[next]);
                        }
                        let state = [&mut *s0, &mut *s1, &mut *s2].map(|s| span_of(s, &r));
                        rule.apply(&mut theta[r.clone()], state, f.values);
                    });
                }
            }
            column_sum(
                db,
                &delta[v.rows.start.min(delta.len())..],
                rows,
                units,
                0.0,
            );
        }
        Step::ActivationBackward { act, units, .. } => {
            let [delta, ..] = v.write;
            let [s, a] = v.read;
            activation_backward(act, delta, &mut [], s, a, &[], m, units);
        }
        _ => unreachable!("only products and activation backward run in blocks"),
    }
}

/// dx = δ·W on the rows of `v`, then dx ⊙= act′ of the layer below (read
/// from its s or a, `v.read[1]`) unless `act` is the identity.
fn backward_input_rows(v: Views, act: Activation, fan_in: usize, units: usize) {
    let m = v.rows.len();
    let [dx, ..] = v.write;
    let [delta, read] = v.read;
    let ops = Operands {
        a: delta,
        b: v.whole[0],
        m,
        k: units,
        n: fan_in,
    };
    if act == Activation::Identity {
        gemm_nn_rows(dx, ops, 0..m, 0.0);
        return;
    }
    let end = m * fan_in;
    gemm_nn_rows_with(dx, ops, 0..m, 0.0, |f| {
        // `values` is one run of C; s and a have C's layout.
        let at = f.row * fan_in + f.col;
        let span = at..at + f.values.len();
        // The next tile's rows are fetched while the kernel computes it.
        prefetch(&read[span.end..(span.end + f.values.len()).min(end)]);
        let r = &read[span];
        activation_backward(act, f.values, &mut [], r, r, &[], f.rows, f.cols);
    });
}

/// Disjoint mutable views of `bufs`. The buffers one step names never
/// overlap (the compiler lays buffers out back to back, except a training
/// plan's δ and a one-thread plan's ∂W, which share storage only between
/// layers no step names together); a violation panics here, never aliases.
fn disjoint<'m, const N: usize>(
    mem: &'m mut [f32],
    plan: &Plan,
    bufs: [Buf; N],
) -> [&'m mut [f32]; N] {
    mem.get_disjoint_mut(bufs.map(|b| plan.buffer(b).range()))
        .expect("a step's buffers are disjoint")
}
