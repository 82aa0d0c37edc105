//! `depthlab train`: mini-batch training of a spec on its data, with the
//! per-layer statistics of a fixed probe batch measured as training goes.
//!
//! Two executors share the network's parameters: the training one
//! (forward, loss, backward and the fused optimizer updates, for `batch`
//! rows) and the probe one (forward, backward and statistics for `probe`
//! rows, also used forward-only to evaluate the test set in chunks). The
//! parameters are copied into the probe executor before each use — a copy
//! of the weights, cheap next to a forward pass.
//!
//! Decisions (also in the README):
//! - an epoch is ⌊n/batch⌋ steps over a fresh shuffle of the training set
//!   (the last partial batch is dropped, so every step has the same shape);
//! - `steps=` overrides `epochs=`; the schedule counts epochs, so the run's
//!   epochs are ⌈steps/steps_per_epoch⌉;
//! - the training loss of an epoch is the mean of its batch losses, its
//!   accuracy counted on the batches before each update (as most training
//!   loops report it); the test loss and accuracy are over the whole test
//!   set after the epoch;
//! - no `optim` line means `optim adam` (lr 1e-3): it trains most specs out
//!   of the box; no `data` line means `data gaussian`.

use crate::checkpoint::{self, Checkpoint};
use crate::commands::compile;
use crate::dataset::probe::{copy_rows, probe_rows, probe_set};
use crate::dataset::{self, Dataset, Split, Target};
use crate::error::Error;
use crate::exec::{Executor, Progress};
use crate::graph::Graph;
use crate::plan::Purpose;
use crate::spec::{Data, LossKind, Optim, OptimKind, Span, Spec};
use crate::stats::{NetworkStats, StatsConfig};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// The span of a line the spec does not have (defaults filled in).
const NO_SPAN: Span = Span {
    line: 0,
    col: 0,
    len: 0,
};

/// How to train, beyond what the spec says.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// Rows of the probe batch the statistics are measured on (`None`: the
    /// default, [`crate::dataset::probe::DEFAULT_ROWS`] or fewer).
    pub probe: Option<usize>,
    /// Also measure the probe statistics every this many steps (they are
    /// always measured at the start and the end).
    pub stats_every: Option<u64>,
    pub config: StatsConfig,
    pub memory_limit: u64,
    pub threads: usize,
}

/// One epoch's results.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochRecord {
    /// 1-based.
    pub epoch: usize,
    /// Optimizer steps done at the end of the epoch.
    pub step: u64,
    /// Learning rate used during the epoch.
    pub lr: f64,
    /// Mean of the epoch's batch losses.
    pub train_loss: f64,
    /// Fraction of the epoch's training examples classified right before
    /// their update (classification losses only).
    pub train_acc: Option<f64>,
    pub test_loss: Option<f64>,
    pub test_acc: Option<f64>,
    /// Wall-clock seconds of the epoch (not part of the results' bits).
    pub seconds: f64,
}

/// The probe statistics at one step (‖W_l‖ among them), with the
/// update ratio ‖ΔW_l‖/‖W_l‖ of the step that led here (none at step 0).
pub struct StatsRecord<'a> {
    pub step: u64,
    pub epoch: usize,
    pub stats: &'a NetworkStats,
    pub update_ratio: Option<&'a [f64]>,
}

/// What the trainer reports as it goes.
pub enum Event<'a> {
    /// A step finished: `step` of `total`, with its batch loss.
    Step {
        step: u64,
        total: u64,
        loss: f64,
    },
    Epoch(&'a EpochRecord),
    Stats(&'a StatsRecord<'a>),
}

/// The sums an epoch's record is made of, kept across a checkpoint so a
/// resumed run reports exactly what the uninterrupted one does.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EpochSums {
    pub loss_sum: f64,
    pub correct: u64,
    pub seen: u64,
    pub steps: u64,
}

/// A spec compiled for training, with its data.
pub struct Trainer {
    spec: Spec,
    exec: Executor,
    probe: Executor,
    split: Split,
    /// The current epoch's order of the training examples.
    order: Vec<usize>,
    order_epoch: Option<usize>,
    steps_per_epoch: u64,
    total_steps: u64,
    epochs: usize,
    sums: EpochSums,
    /// W of every layer before the step whose update ratio is measured.
    before: Vec<Vec<f32>>,
    update_ratio: Vec<f64>,
    stats_every: Option<u64>,
    /// Whether accuracy means something for this data and loss.
    classify: bool,
    /// When the current epoch (or this process's part of it) started.
    epoch_started: Instant,
}

/// The optimizer a spec trains with: its `optim` line or Adam's defaults.
pub fn optimizer(spec: &Spec) -> Optim {
    spec.optim
        .clone()
        .unwrap_or_else(|| Optim::torch_defaults(OptimKind::Adam, NO_SPAN))
}

/// Compiles `spec` for training steps of `batch` rows and initializes its
/// parameters from the spec's seed (the same weights `stats` measures).
pub fn training_executor(
    spec: &Spec,
    graph: &Graph,
    batch: usize,
    memory_limit: u64,
    threads: usize,
) -> Result<Executor, Error> {
    let optim = optimizer(spec);
    let purpose = Purpose::Train(&optim);
    let plan = compile(spec, graph, batch, purpose, memory_limit, threads)?;
    let mut exec = Executor::new(plan, StatsConfig::default());
    exec.init_params(spec.train.seed);
    Ok(exec)
}

impl Trainer {
    /// Loads the data, compiles both executors and initializes the
    /// weights from the spec's seed. Everything a run allocates is
    /// allocated here.
    pub fn new(spec: &Spec, opts: &TrainOptions) -> Result<Trainer, Error> {
        let graph = Graph::check(spec)?;
        let split = dataset::load_for(spec, &graph)?;
        let t = &spec.train;
        let n = split.train.n;
        if t.batch > n {
            let message = format!("`batch={}` is more than the {n} training examples", t.batch);
            let error = match t.span {
                Some(span) => spec.source.error(span, message),
                None => spec.source.error_whole(message),
            };
            return Err(Error::Spec(
                error.with_help(format!("use `batch={n}` or less, or more data")),
            ));
        }
        let steps_per_epoch = (n / t.batch) as u64;
        let total_steps = t
            .steps
            .map_or((t.epochs as u64).saturating_mul(steps_per_epoch), |s| {
                s as u64
            });
        let epochs = total_steps.div_ceil(steps_per_epoch) as usize;
        let exec = training_executor(spec, &graph, t.batch, opts.memory_limit, opts.threads)?;
        let data = spec.data.clone().unwrap_or_else(Data::gaussian);
        let probe_rows = probe_rows(&split, opts.probe, &data, &spec.source)?;
        let probe_set = probe_set(&split);
        let plan = compile(
            spec,
            &graph,
            probe_rows,
            Purpose::Stats,
            opts.memory_limit,
            opts.threads,
        )?;
        let mut probe = Executor::new(plan, opts.config);
        let (px, py) = (probe.plan().x, probe.plan().y);
        let [xs, ys] = probe.bufs_mut([px, py]);
        copy_rows(probe_set, 0..probe_rows, xs, ys);
        let before = exec
            .plan()
            .layers
            .iter()
            .map(|l| vec![0.0; exec.buf(l.w).len()])
            .collect();
        let layers = graph.layers.len();
        let classify = split.train.target_is_class_like(graph.loss);
        Ok(Trainer {
            spec: spec.clone(),
            exec,
            probe,
            order: (0..n).collect(),
            order_epoch: None,
            split,
            steps_per_epoch,
            total_steps,
            epochs,
            sums: EpochSums::default(),
            before,
            update_ratio: vec![0.0; layers],
            stats_every: opts.stats_every,
            classify,
            epoch_started: Instant::now(),
        })
    }

    pub fn executor(&self) -> &Executor {
        &self.exec
    }

    /// The probe executor: after [`Trainer::run`] it holds the final
    /// weights and the statistics measured with them.
    pub fn probe(&self) -> &Executor {
        &self.probe
    }

    pub fn total_steps(&self) -> u64 {
        self.total_steps
    }

    pub fn steps_per_epoch(&self) -> u64 {
        self.steps_per_epoch
    }

    pub fn data(&self) -> &Split {
        &self.split
    }

    /// Steps done so far.
    pub fn step(&self) -> u64 {
        self.exec.progress().step
    }

    /// Restores weights, optimizer state, step and epoch sums from a
    /// checkpoint written by [`Trainer::save`] for the same spec. After an
    /// error the trainer is not to be used (its weights may be loaded).
    pub fn resume(&mut self, path: &Path) -> Result<(), Error> {
        let ck = checkpoint::load(path, &mut self.exec)?;
        let refuse = |message: String| {
            Err(Error::Checkpoint {
                path: path.to_path_buf(),
                message,
            })
        };
        if ck.step > self.total_steps {
            return refuse(format!(
                "it is at step {} but this run has only {} steps",
                ck.step, self.total_steps
            ));
        }
        let batch = self.exec.plan().batch as u64;
        if ck.batch != batch {
            // Epochs, shuffles and batches would not line up.
            return refuse(format!(
                "it was written with batch {} but this run's batch is {batch} (use --batch {})",
                ck.batch, ck.batch
            ));
        }
        if ck.seed != self.spec.train.seed {
            // The data order of every epoch derives from the seed.
            return refuse(format!(
                "it was written with seed {} but this run's seed is {} (use --seed {})",
                ck.seed, self.spec.train.seed, ck.seed
            ));
        }
        self.sums = ck.sums;
        let lr = self.lr_at(ck.step);
        self.exec.set_progress(Progress { lr, step: ck.step });
        Ok(())
    }

    /// The checkpoint of the current state.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            step: self.step(),
            seed: self.spec.train.seed,
            batch: self.exec.plan().batch as u64,
            sums: self.sums,
        }
    }

    /// Writes a checkpoint to `path` (atomically).
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        checkpoint::save(path, &self.exec, &self.checkpoint(), &self.spec)
    }

    fn lr_at(&self, step: u64) -> f64 {
        let o = self.exec.plan().optim.as_ref().expect("a training plan");
        let epoch = (step / self.steps_per_epoch) as usize;
        o.schedule.lr(o.lr, epoch, self.epochs)
    }

    /// Runs the remaining steps, reporting each step, each epoch's record
    /// and the probe statistics to `on`. Stops with [`Error::Diverged`] at
    /// the first non-finite loss.
    pub fn run(&mut self, on: &mut dyn FnMut(Event)) -> Result<(), Error> {
        self.run_until(on, &AtomicBool::new(false))
    }

    /// [`Trainer::run`], checking `stop` between steps: once it is set
    /// (SIGINT, SIGTERM), the step in progress finishes, the epoch so far
    /// is reported and the run ends with [`Error::Interrupted`].
    pub fn run_until(&mut self, on: &mut dyn FnMut(Event), stop: &AtomicBool) -> Result<(), Error> {
        self.measure(false, on);
        while self.step() < self.total_steps {
            if stop.load(Ordering::Relaxed) {
                self.close_epoch(on);
                return Err(Error::Interrupted { step: self.step() });
            }
            self.train_step(on)?;
        }
        Ok(())
    }

    /// One optimizer step on the next batch; at the end of an epoch (or of
    /// the run) also the epoch's record, and the probe statistics when due.
    /// Allocates nothing except at those ends.
    pub fn train_step(&mut self, on: &mut dyn FnMut(Event)) -> Result<(), Error> {
        let step = self.step();
        let epoch = (step / self.steps_per_epoch) as usize;
        if self.order_epoch != Some(epoch) {
            dataset::shuffle_into(&mut self.order, self.spec.train.seed, epoch as u64);
            self.order_epoch = Some(epoch);
        }
        let batch = self.exec.plan().batch;
        let first = (step % self.steps_per_epoch) as usize * batch;
        let (x, y) = (self.exec.plan().x, self.exec.plan().y);
        let [xs, ys] = self.exec.bufs_mut([x, y]);
        copy_rows(
            &self.split.train,
            self.order[first..first + batch].iter().copied(),
            xs,
            ys,
        );
        let lr = self.lr_at(step);
        self.exec.set_progress(Progress { lr, step });
        // The statistics at the end of the run, and every K steps if asked.
        let measure = step + 1 == self.total_steps
            || self
                .stats_every
                .is_some_and(|k| (step + 1).is_multiple_of(k));
        if measure {
            for (before, l) in self.before.iter_mut().zip(&self.exec.plan().layers) {
                before.copy_from_slice(self.exec.buf(l.w));
            }
        }
        if !self.exec.run_checked() {
            return Err(Error::Diverged {
                step: step + 1,
                what: self.first_non_finite(),
            });
        }
        let loss = self.exec.loss();
        let correct = self.correct_in_batch();
        self.sums.loss_sum += loss;
        self.sums.correct += correct;
        self.sums.seen += batch as u64;
        self.sums.steps += 1;
        on(Event::Step {
            step: step + 1,
            total: self.total_steps,
            loss,
        });
        if measure {
            self.measure(true, on);
        }
        let done = step + 1;
        if done.is_multiple_of(self.steps_per_epoch) || done == self.total_steps {
            self.close_epoch(on);
        }
        Ok(())
    }

    /// Reports the epoch that ends (or stops) here and starts its clock
    /// anew.
    fn close_epoch(&mut self, on: &mut dyn FnMut(Event)) {
        let record = self.end_epoch(self.epoch_started.elapsed().as_secs_f64());
        on(Event::Epoch(&record));
        self.epoch_started = Instant::now();
    }

    /// Right answers among the training batch's outputs (still in the last
    /// layer's `a`: the backward does not overwrite it).
    fn correct_in_batch(&self) -> u64 {
        let plan = self.exec.plan();
        let out = self.exec.buf(plan.layers.last().expect("a layer").a);
        let y = self.exec.buf(plan.y);
        count_correct(plan.graph.loss, out, y, plan.batch, plan.graph.outputs())
    }

    /// Names the first tensor holding a NaN or an infinity, from the input
    /// side: `loss`, or e.g. `a3 (layer 3 activations)`.
    fn first_non_finite(&self) -> String {
        let plan = self.exec.plan();
        for (i, l) in plan.layers.iter().enumerate() {
            for (b, what) in [
                (l.w, "weights"),
                (l.s, "pre-activations"),
                (l.a, "activations"),
            ] {
                if self.exec.buf(b).iter().any(|v| !v.is_finite()) {
                    return format!("{} (layer {} {what})", plan.buffer(b).name, i + 1);
                }
            }
        }
        "the loss".into()
    }

    /// The record of the epoch that ends (or, at the end of a run, stops)
    /// here, with the test set evaluated. The sums restart only at an
    /// epoch boundary: a checkpoint written mid-epoch keeps them, so the
    /// resumed run reports that epoch whole.
    fn end_epoch(&mut self, seconds: f64) -> EpochRecord {
        let step = self.step();
        let epoch = step.div_ceil(self.steps_per_epoch) as usize;
        let s = self.sums;
        if step.is_multiple_of(self.steps_per_epoch) {
            self.sums = EpochSums::default();
        }
        let (test_loss, test_acc) = match self.split.test.as_ref() {
            Some(t) if t.n > 0 => {
                let (loss, acc) = self.evaluate_test();
                (Some(loss), acc)
            }
            _ => (None, None),
        };
        EpochRecord {
            epoch,
            step,
            lr: self.lr_at(step.saturating_sub(1)),
            train_loss: s.loss_sum / s.steps.max(1) as f64,
            train_acc: self
                .classify
                .then(|| s.correct as f64 / s.seen.max(1) as f64),
            test_loss,
            test_acc,
            seconds,
        }
    }

    /// Copies the training executor's parameters into the probe one.
    fn sync_probe(&mut self) {
        for (i, from) in self.exec.plan().layers.iter().enumerate() {
            let to = self.probe.plan().layers[i];
            for (a, b) in [(from.w, to.w), (from.b, to.b), (from.p, to.p)] {
                self.probe.buf_mut(b).copy_from_slice(self.exec.buf(a));
            }
        }
    }

    /// Mean loss and accuracy over the test set, forward only, in chunks of
    /// the probe's rows. Rows are independent in the forward pass, so the
    /// rows past the end of a short last chunk (left from the previous one)
    /// change nothing and are not counted.
    fn evaluate_test(&mut self) -> (f64, Option<f64>) {
        self.sync_probe();
        let test = self.split.test.as_ref().expect("a test set");
        let plan = self.probe.plan();
        let (rows, x, y, out) = (
            plan.batch,
            plan.x,
            plan.y,
            plan.layers.last().expect("a layer").a,
        );
        let (loss_kind, outputs) = (plan.graph.loss, plan.graph.outputs());
        let (mut loss_sum, mut correct) = (0.0, 0u64);
        let mut start = 0;
        while start < test.n {
            let end = (start + rows).min(test.n);
            let [xs, ys] = self.probe.bufs_mut([x, y]);
            copy_rows(test, start..end, xs, ys);
            self.probe.run_forward();
            let (o, t) = (self.probe.buf(out), self.probe.buf(y));
            let n = end - start;
            loss_sum += loss_sum_of(loss_kind, o, t, n, outputs);
            correct += count_correct(loss_kind, o, t, n, outputs);
            start = end;
        }
        // The probe batch is needed again for the statistics.
        let [xs, ys] = self.probe.bufs_mut([x, y]);
        copy_rows(probe_set(&self.split), 0..rows, xs, ys);
        let n = test.n as f64;
        let acc = self.classify.then(|| correct as f64 / n);
        (loss_sum / n, acc)
    }

    /// Runs the probe and reports its statistics.
    fn measure(&mut self, after_step: bool, on: &mut dyn FnMut(Event)) {
        self.sync_probe();
        self.probe.run();
        let stats = self.probe.stats();
        // ‖W‖ is the probe's statistic (its W was just copied from here).
        for (i, l) in self.exec.plan().layers.iter().enumerate() {
            let norm = stats.layers[i].w.norm();
            let w = self.exec.buf(l.w);
            let diff = l2(w.iter().zip(&self.before[i]).map(|(&a, &b)| (a - b) as f64));
            self.update_ratio[i] = if norm == 0.0 { 0.0 } else { diff / norm };
        }
        let step = self.step();
        let record = StatsRecord {
            step,
            epoch: (step / self.steps_per_epoch) as usize,
            stats,
            update_ratio: after_step.then_some(&self.update_ratio[..]),
        };
        on(Event::Stats(&record));
    }
}

/// √(Σ v²) in f64, in order.
fn l2(values: impl Iterator<Item = f64>) -> f64 {
    values.map(|v| v * v).sum::<f64>().sqrt()
}

/// Sum over the first `rows` examples of the per-example loss (the batch
/// mean times `rows`), in f64.
pub fn loss_sum_of(loss: LossKind, out: &[f32], y: &[f32], rows: usize, cols: usize) -> f64 {
    let mut sum = 0.0;
    for r in 0..rows {
        let o = &out[r * cols..(r + 1) * cols];
        sum += match loss {
            LossKind::CrossEntropy => {
                let max = o.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
                let lse = max + o.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln();
                lse - o[y[r] as usize] as f64
            }
            LossKind::Mse => {
                let t = &y[r * cols..(r + 1) * cols];
                o.iter()
                    .zip(t)
                    .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
                    .sum::<f64>()
                    / cols as f64
            }
            LossKind::Bce => {
                let t = &y[r * cols..(r + 1) * cols];
                o.iter()
                    .zip(t)
                    .map(|(&z, &t)| {
                        let (z, t) = (z as f64, t as f64);
                        z.max(0.0) - z * t + (-z.abs()).exp().ln_1p()
                    })
                    .sum::<f64>()
                    / cols as f64
            }
        };
    }
    sum
}

/// Right answers among the first `rows` examples: cross_entropy the arg-max against the class; bce each output
/// thresholded at 0 against its 0/1 target; mse with one-hot targets the
/// arg-max against the target's (regression targets count nothing).
pub fn count_correct(loss: LossKind, out: &[f32], y: &[f32], rows: usize, cols: usize) -> u64 {
    let argmax = |v: &[f32]| {
        v.iter()
            .enumerate()
            .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &x)| {
                if x > bv { (i, x) } else { (bi, bv) }
            })
            .0
    };
    let mut correct = 0;
    for r in 0..rows {
        let o = &out[r * cols..(r + 1) * cols];
        correct += match loss {
            LossKind::CrossEntropy => u64::from(argmax(o) == y[r] as usize),
            LossKind::Bce => {
                let t = &y[r * cols..(r + 1) * cols];
                u64::from(o.iter().zip(t).all(|(&z, &t)| (z > 0.0) == (t > 0.5)))
            }
            LossKind::Mse => {
                let t = &y[r * cols..(r + 1) * cols];
                u64::from(argmax(o) == argmax(t))
            }
        };
    }
    correct
}

impl Dataset {
    /// Whether accuracy means something for this set under `loss`: class
    /// indices, or one-hot / 0-1 rows.
    pub fn target_is_class_like(&self, loss: LossKind) -> bool {
        match (self.target, loss) {
            (Target::Classes(_), _) => true,
            (Target::Values(_), LossKind::Bce) => true,
            (Target::Values(k), LossKind::Mse) => {
                k > 1
                    && self.y.chunks_exact(k).all(|r| {
                        r.iter().all(|&v| v == 0.0 || v == 1.0) && r.iter().sum::<f32>() == 1.0
                    })
            }
            (Target::Values(_), LossKind::CrossEntropy) => false,
        }
    }
}
