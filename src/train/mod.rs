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
//!   of the box ([`crate::spec::Optim::default`]); no `data` line means
//!   `data gaussian` ([`crate::spec::Data::gaussian`]);
//! - when training leaves a core idle ([`Options::spare_core`], and a
//!   training plan that splits nothing), the probe statistics are measured
//!   on a thread of their own while training goes on, by a third executor
//!   (see `beside.rs`): the same numbers, reported a little later. So too
//!   when the plan splits over two threads: its steps then run unsplit
//!   until the measurement is done ([`Executor::hold_unsplit`]), which
//!   costs (1 − 1/speed-up) of the measurement's time on one thread against
//!   all of its time on two in line (config D of `bench/peers`: 6.3–6.8 %
//!   of the run every 100 steps against 8.2–8.3 %). On more threads, in
//!   line (the training steps would have no plan for the cores left), and
//!   so too when measurements come too often to overlap training
//!   ([`Trainer::measure_every`]).

mod beside;
mod checkpoint;
mod metrics;
mod setup;
mod threads;

pub use checkpoint::{Checkpoint, FORMAT as CHECKPOINT_FORMAT};
pub use metrics::{EpochRecord, EpochSums, count_correct, is_classification};
pub use setup::{Options, compile_for, measure, probe_executor, training_executor};
pub use threads::{ThreadChoice, measured_threads};

use crate::compile::Resources;
use crate::dataset::probe::{copy_rows, probe_set};
use crate::dataset::{self, Split};
use crate::error::Error;
use crate::exec::{Executor, Progress};
use crate::graph::Graph;
use crate::spec::Spec;
use crate::stats::NetworkStats;
use beside::Beside;
use depthlab_kernels::Activation;
use depthlab_kernels::loss::loss_forward_backward;
use depthlab_kernels::reduce::diff_sq_sum_into;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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

/// One of the data sets a trainer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Set {
    Train,
    Test,
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
    /// ‖ΔW‖ of the step measured after, per layer: the update ratio's
    /// numerator, kept until the probe has measured ‖W‖ (W before the
    /// step is copied into the probe that measures it, the step's change
    /// taken as W after it is copied over).
    delta_norm: Vec<f64>,
    update_ratio: Vec<f64>,
    /// Where the statistics are measured when not in line.
    beside: Option<Beside>,
    stats_every: Option<u64>,
    /// Whether accuracy means something for this data and loss.
    classify: bool,
    /// When the current epoch (or this process's part of it) started.
    epoch_started: Instant,
    /// Probe measurements so far, and the time they took this thread (see
    /// [`Trainer::measured`]).
    measurements: u64,
    measuring: Duration,
    /// The last statistics reported were measured in line, by `probe`.
    in_line_last: bool,
}

/// What the probe measurements of a process cost ([`Trainer::measured`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measured {
    pub count: u64,
    /// Time the training thread spent on them: saving W before a measured
    /// step, copying the parameters, and the forward, backward and
    /// statistics unless measured beside; reporting them; waiting for them.
    pub here: Duration,
    /// Time they took on their own thread, when measured beside training.
    pub beside: Option<Duration>,
    /// Training steps run unsplit while they did (a plan split over two
    /// threads), and about how much longer those took than split steps
    /// ([`crate::exec::Ways::held_extra`]; `None` when no step ran split).
    pub unsplit: Option<(u64, Option<Duration>)>,
}

impl Trainer {
    /// Loads the data, compiles both executors and initializes the
    /// weights from the spec's seed. Everything a run allocates is
    /// allocated here.
    pub fn new(spec: &Spec, opts: &Options) -> Result<Trainer, Error> {
        let graph = Graph::check(spec)?;
        // The networks first: an absurd size is refused before any data.
        let t = &spec.train;
        let exec = training_executor(spec, &graph, t.batch, opts.resources)?;
        let probe_bytes = setup::check_probe_fits(spec, &graph, opts)?;
        let arenas = exec.plan().arena_bytes().saturating_add(probe_bytes);
        let split = dataset::load_for(spec, &graph, setup::data_budget(opts, arenas))?;
        // A core would idle: measure there, if a second probe fits beside
        // everything else (else in line, as it always fits). A plan split
        // over two threads runs unsplit meanwhile (see `beside.rs`).
        let measure_beside = opts.spare_core
            && (!exec.plan().splits() || exec.plan().threads == 2)
            && [arenas, split.bytes(), probe_bytes]
                .into_iter()
                .fold(0u64, u64::saturating_add)
                <= opts.resources.memory_limit;
        let n = split.train.n;
        if t.batch > n {
            let message = format!("`batch={}` is more than the {n} training examples", t.batch);
            let span = t.span.unwrap_or(crate::spec::Span::NONE);
            return Err(Error::Spec(
                spec.source
                    .error(span, message)
                    .with_help(format!("use `batch={n}` or less, or more data")),
            ));
        }
        let steps_per_epoch = (n / t.batch) as u64;
        let total_steps = t
            .steps
            .map_or((t.epochs as u64).saturating_mul(steps_per_epoch), |s| {
                s as u64
            });
        let epochs = total_steps.div_ceil(steps_per_epoch) as usize;
        let probe = probe_executor(spec, &graph, &split, opts)?;
        let beside = match measure_beside {
            true => {
                let one = Resources {
                    threads: 1,
                    ..opts.resources
                };
                Beside::start(setup::probe_executor_on(spec, &graph, &split, opts, one)?)
            }
            false => None,
        };
        let classify = is_classification(&split.train, graph.loss);
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
            delta_norm: vec![0.0; graph.layers.len()],
            update_ratio: vec![0.0; graph.layers.len()],
            beside,
            stats_every: None,
            classify,
            epoch_started: Instant::now(),
            measurements: 0,
            measuring: Duration::ZERO,
            in_line_last: false,
        })
    }

    /// Also measures the probe statistics every `k` steps (they are always
    /// measured at the start and the end).
    ///
    /// A plan split over two threads then measures in line after all when
    /// `k` steps hold fewer than twice the probe's rows: the measurements
    /// (forward and backward of the probe, and the statistics, on one
    /// thread beside) would take longer than the steps between them, and
    /// training would wait on each, unsplit, rather than split it over both
    /// cores in line.
    pub fn measure_every(mut self, k: Option<u64>) -> Trainer {
        self.stats_every = k;
        let (batch, probe) = (
            self.exec.plan().batch as u64,
            self.probe.plan().batch as u64,
        );
        if self.exec.plan().splits() && k.is_some_and(|k| k.saturating_mul(batch) < 2 * probe) {
            self.beside = None;
        }
        self
    }

    pub fn executor(&self) -> &Executor {
        &self.exec
    }

    /// The training executor, to run steps on the batch it holds
    /// (`depthlab bench`).
    pub fn executor_mut(&mut self) -> &mut Executor {
        &mut self.exec
    }

    /// The probe executor holding the last statistics reported: after
    /// [`Trainer::run`], the final weights and the statistics measured
    /// with them. (While a measurement runs beside training, after a bare
    /// [`Trainer::train_step`], the in-line probe executor, whose
    /// statistics are not this run's: [`Trainer::finish_measuring`]
    /// first.)
    pub fn probe(&self) -> &Executor {
        match (&self.beside, self.in_line_last) {
            (Some(beside), false) => beside.idle().unwrap_or(&self.probe),
            _ => &self.probe,
        }
    }

    /// Whether the statistics are measured on a thread of their own.
    pub fn measures_beside(&self) -> bool {
        self.beside.is_some()
    }

    pub fn total_steps(&self) -> u64 {
        self.total_steps
    }

    pub fn steps_per_epoch(&self) -> u64 {
        self.steps_per_epoch
    }

    /// Epochs of the whole run (the last may be partial with `steps=`).
    pub fn epochs(&self) -> usize {
        self.epochs
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
        self.resume_changed(path, false)
    }

    /// [`Trainer::resume`]; with `allow_change`, also from a checkpoint
    /// written for another spec whose tensors fit this one's (a deliberate
    /// change: another learning rate, activation or data).
    pub fn resume_changed(&mut self, path: &Path, allow_change: bool) -> Result<(), Error> {
        let ck = checkpoint::load(path, &mut self.exec, &self.spec, allow_change)?;
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

    /// Whether the state a checkpoint would hold is finite.
    pub fn state_is_finite(&self) -> bool {
        checkpoint::finite(&self.exec)
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

    /// Probe measurements made by this process, and what they cost.
    pub fn measured(&self) -> Measured {
        Measured {
            count: self.measurements,
            here: self.measuring,
            beside: self.beside.as_ref().map(|b| b.took()),
            unsplit: self
                .exec
                .ways()
                .filter(|w| w.held.0 > 0)
                .map(|w| (w.held.0, w.held_extra().map(Duration::from_secs_f64))),
        }
    }

    /// Runs the remaining steps, reporting each step, each epoch's record
    /// and the probe statistics to `on`. Stops with [`Error::Diverged`] at
    /// the first non-finite loss.
    pub fn run(&mut self, on: &mut dyn FnMut(Event)) -> Result<(), Error> {
        self.run_until(on, &AtomicBool::new(false))
    }

    /// [`Trainer::run`], checking `stop` between steps: once it is set
    /// (SIGINT, SIGTERM), the step in progress finishes, the epoch so far
    /// is reported and the run ends with [`Error::Interrupted`]. However
    /// it ends, every measurement made is reported first.
    pub fn run_until(&mut self, on: &mut dyn FnMut(Event), stop: &AtomicBool) -> Result<(), Error> {
        let result = self.run_steps(on, stop);
        self.finish_measuring(on);
        result
    }

    fn run_steps(&mut self, on: &mut dyn FnMut(Event), stop: &AtomicBool) -> Result<(), Error> {
        self.measure(false, on);
        while self.step() < self.total_steps {
            if stop.load(Ordering::Relaxed) {
                // A stop right after an epoch closed has no partial epoch
                // to report (it would be a row of zeros).
                if self.sums.steps > 0 {
                    self.close_epoch(on);
                }
                return Err(Error::Interrupted { step: self.step() });
            }
            self.train_step(on)?;
        }
        Ok(())
    }

    /// One optimizer step on the next batch; at the end of an epoch (or of
    /// the run) also the epoch's record, and the probe statistics when due
    /// (measured beside, they may be reported by a later step or by
    /// [`Trainer::finish_measuring`]). Allocates nothing except at those
    /// ends.
    pub fn train_step(&mut self, on: &mut dyn FnMut(Event)) -> Result<(), Error> {
        if self.exec.holds_unsplit() && self.beside.as_mut().is_some_and(Beside::done) {
            self.exec.hold_unsplit(false);
        }
        let step = self.load_batch();
        let batch = self.exec.plan().batch;
        // The statistics at the end of the run, and every K steps if asked.
        let last = step + 1 == self.total_steps;
        let measure = last
            || self
                .stats_every
                .is_some_and(|k| (step + 1).is_multiple_of(k));
        if measure {
            // W before the step, into the probe that will measure after it
            // (once it has reported what it measured last).
            let started = Instant::now();
            self.report_finished(on);
            let probe = measuring_probe(&mut self.beside, &mut self.probe, last);
            copy_params(&self.exec, probe, None);
            self.measuring += started.elapsed();
        }
        if !self.exec.run_checked() {
            return Err(Error::Diverged {
                step: step + 1,
                what: self.first_non_finite(),
            });
        }
        let loss = self.exec.loss();
        let correct = self.correct_in_batch();
        self.sums.add(loss, correct, batch as u64);
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

    /// Puts the next step's batch in place, in the epoch's shuffled order,
    /// and its learning rate; returns the step's index. (`bench` times the
    /// executor's step after it; `train_step` runs the rest.)
    pub fn load_batch(&mut self) -> u64 {
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
        step
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
        let plan = self.exec.ran();
        let out = self.exec.buf(plan.layers.last().expect("a layer").a);
        let y = self.exec.buf(plan.y);
        count_correct(plan.graph.loss, out, y, plan.batch, plan.graph.outputs())
    }

    /// Names the first tensor holding a NaN or an infinity, from the input
    /// side: `loss`, or e.g. `a3 (layer 3 activations)`.
    fn first_non_finite(&self) -> String {
        let plan = self.exec.ran();
        for (i, l) in plan.layers.iter().enumerate() {
            // s is a's own buffer in a layer that keeps none (see `compile`).
            let keeps_s = l.s != l.a || plan.graph.layers[i].act.kernel() == Activation::Identity;
            let s = keeps_s.then_some((l.s, "pre-activations"));
            for (b, what) in [Some((l.w, "weights")), s, Some((l.a, "activations"))]
                .into_iter()
                .flatten()
            {
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
        let (test_loss, test_acc) = match self.evaluate(Set::Test) {
            Some((loss, acc)) => (Some(loss), acc),
            None => (None, None),
        };
        EpochRecord {
            epoch,
            step,
            lr: self.lr_at(step.saturating_sub(1)),
            train_loss: s.mean_loss(),
            train_acc: self.classify.then(|| s.accuracy()),
            test_loss,
            test_acc,
            seconds,
        }
    }

    /// Mean loss (the data term: no `l2=` penalty) and accuracy over the
    /// training or the test set at the current weights, forward only, in
    /// chunks of the probe's rows; `None` for an absent or empty set. Rows
    /// are independent in the forward pass, so the rows past the end of a
    /// short last chunk (left from the previous one) change nothing and
    /// are not counted.
    pub fn evaluate(&mut self, set: Set) -> Option<(f64, Option<f64>)> {
        let data = match set {
            Set::Train => &self.split.train,
            Set::Test => self.split.test.as_ref()?,
        };
        if data.n == 0 {
            return None;
        }
        // Only now: with no test set, every epoch's end would copy them.
        copy_params(&self.exec, &mut self.probe, None);
        let plan = self.probe.plan();
        let last = plan.layers.last().expect("a layer");
        let (rows, x, y, out, grad) = (plan.batch, plan.x, plan.y, last.a, last.delta);
        let (kind, cols) = (plan.graph.loss, plan.graph.outputs());
        let (mut loss_sum, mut correct) = (0.0, 0u64);
        let mut start = 0;
        while start < data.n {
            let end = (start + rows).min(data.n);
            let [xs, ys] = self.probe.bufs_mut([x, y]);
            copy_rows(data, start..end, xs, ys);
            self.probe.run_forward();
            // The loss kernel of the training step, on the chunk's rows; its
            // gradient goes to δ, which the statistics pass rewrites.
            let [g, o, t] = self.probe.bufs_mut([grad, out, y]);
            let (n, width) = (end - start, t.len() / rows);
            let (g, o, t) = (&mut g[..n * cols], &o[..n * cols], &t[..n * width]);
            loss_sum += n as f64 * loss_forward_backward(kind, g, o, t, n, cols);
            correct += count_correct(kind, o, t, n, cols);
            start = end;
        }
        // The probe batch is needed again for the statistics.
        let [xs, ys] = self.probe.bufs_mut([x, y]);
        copy_rows(probe_set(&self.split), 0..rows, xs, ys);
        let n = data.n as f64;
        let acc = self.classify.then(|| correct as f64 / n);
        Some((loss_sum / n, acc))
    }

    /// Measures the probe statistics at the current weights: here, or
    /// started beside (after reporting the measurement still running).
    fn measure(&mut self, after_step: bool, on: &mut dyn FnMut(Event)) {
        let started = Instant::now();
        self.report_finished(on);
        let launch = beside::Launch {
            step: self.step(),
            after_step,
        };
        // The last one has no step left to overlap: in line, on every
        // thread, rather than waited for on one.
        let last = after_step && self.step() == self.total_steps;
        // Only after a step is there a W before it (copied into this probe
        // by `train_step`) to compare with.
        let norms = after_step.then_some(&mut self.delta_norm[..]);
        let probe = measuring_probe(&mut self.beside, &mut self.probe, last);
        copy_params(&self.exec, probe, norms);
        match self.beside.as_mut() {
            Some(beside) if !last => {
                beside.launch(launch);
                // The other core measures: a split plan's steps run unsplit
                // until it is done.
                self.exec.hold_unsplit(true);
            }
            _ => {
                self.probe.run();
                self.report(launch, true, on);
            }
        }
        self.measurements += 1;
        self.measuring += started.elapsed();
    }

    /// Reports the measurement running beside training, if any, once it is
    /// done (waiting for it). [`Trainer::run_until`] ends with it.
    pub fn finish_measuring(&mut self, on: &mut dyn FnMut(Event)) {
        let started = Instant::now();
        self.report_finished(on);
        self.measuring += started.elapsed();
    }

    /// [`Trainer::finish_measuring`], untimed.
    fn report_finished(&mut self, on: &mut dyn FnMut(Event)) {
        if let Some(launch) = self.beside.as_mut().and_then(Beside::finish) {
            self.exec.hold_unsplit(false);
            self.report(launch, false, on);
        }
    }

    /// Reports the statistics a probe just measured, `in_line` or beside
    /// (with the update ratio: ‖W‖ is the probe's statistic, its W a copy
    /// of this step's).
    fn report(&mut self, launch: beside::Launch, in_line: bool, on: &mut dyn FnMut(Event)) {
        self.in_line_last = in_line;
        let probe = match &self.beside {
            Some(b) if !in_line => b.idle().expect("finished"),
            _ => &self.probe,
        };
        let stats = probe.stats();
        if launch.after_step {
            let ratios = self.update_ratio.iter_mut().zip(&self.delta_norm);
            for ((ratio, &diff), layer) in ratios.zip(&stats.layers) {
                let norm = layer.w.norm();
                *ratio = if norm == 0.0 { 0.0 } else { diff / norm };
            }
        }
        let record = StatsRecord {
            step: launch.step,
            epoch: (launch.step / self.steps_per_epoch) as usize,
            stats,
            update_ratio: launch.after_step.then_some(&self.update_ratio[..]),
        };
        on(Event::Stats(&record));
    }
}

/// The executor that measures the next statistics: the idle one beside
/// training (none may be running: report it first), or `probe` for the
/// `last` measurement and without a thread beside.
fn measuring_probe<'a>(
    beside: &'a mut Option<Beside>,
    probe: &'a mut Executor,
    last: bool,
) -> &'a mut Executor {
    match beside.as_mut() {
        Some(beside) if !last => beside.idle_mut().expect("reported first"),
        _ => probe,
    }
}

/// Copies the parameters of `from` into `to` (a probe executor: the same
/// network, another plan). With `delta_norm`, `to` holds each W as it was
/// before the step just taken, and ‖ΔW‖ of each layer goes there, found
/// in the same pass as the copy.
fn copy_params(from: &Executor, to: &mut Executor, mut delta_norm: Option<&mut [f64]>) {
    for (i, f) in from.plan().layers.iter().enumerate() {
        let t = to.plan().layers[i];
        let (w, new) = (to.buf_mut(t.w), from.buf(f.w));
        match delta_norm.as_deref_mut() {
            Some(norms) => norms[i] = diff_sq_sum_into(w, new).sqrt(),
            None => w.copy_from_slice(new),
        }
        for (a, b) in [(f.b, t.b), (f.p, t.p)] {
            to.buf_mut(b).copy_from_slice(from.buf(a));
        }
    }
}
