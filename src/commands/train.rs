//! `depthlab train`: runs the trainer, prints the epoch table as epochs
//! finish, shows progress on stderr, writes the run folder (`--out`) and
//! the checkpoints, and on SIGINT/SIGTERM finishes the step and saves.

use super::run_folder::{Files, Record, RunFolder, Writer};
use crate::error::Error;
use crate::graph::Graph;
use crate::report::figures::write_train_figures;
use crate::report::tensorboard::EventFile;
use crate::report::train::{SplitCounts, Summary, epoch_header, epoch_line};
use crate::report::{Hist, sig4};
use crate::spec::Spec;
use crate::stats::NetworkStats;
use crate::train::{EpochRecord, Event, Options, Trainer};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// What `depthlab train` writes and reads beyond the trainer's options.
#[derive(Clone, Debug, Default)]
pub struct TrainFiles {
    /// Folder for `epochs.csv`, `stats.jsonl`, `layers.csv`, `summary.txt`,
    /// `checkpoint.safetensors` and `figures/`.
    pub out: Option<PathBuf>,
    /// Also write the final checkpoint here.
    pub save: Option<PathBuf>,
    /// Continue from this checkpoint.
    pub resume: Option<PathBuf>,
    /// Resume even from a checkpoint written for another spec
    /// (`--allow-spec-change`).
    pub allow_spec_change: bool,
    /// Replace the run in `out` (`--overwrite`).
    pub overwrite: bool,
    /// Append the probe's histograms at the start and the end to the
    /// summary.
    pub hist: Option<Hist>,
    /// Also measure the probe every this many steps (`--stats-every`).
    pub stats_every: Option<u64>,
    /// Write TensorBoard event files into this folder.
    pub tensorboard: Option<PathBuf>,
    /// Print every this many epochs' rows (the first and last always);
    /// default: enough for at most 50 rows.
    pub print_every: Option<usize>,
    /// No progress on stderr.
    pub quiet: bool,
}

/// `depthlab train`: trains `spec`, printing the per-epoch table to stdout
/// as epochs finish; returns the final summary. SIGINT and SIGTERM stop it
/// after the current step with the checkpoint written
/// ([`Error::Interrupted`]).
pub fn train(spec: &Spec, opts: &Options, files: &TrainFiles) -> Result<String, Error> {
    let stop = stop_on_signals();
    let mut progress = Progress::new(files.quiet);
    let result = run(spec, opts, files, &mut progress, stop);
    let stdout_error = progress.stdout_error.take();
    progress.finish();
    let summary = result?;
    match stdout_error {
        Some(error) => Err(Error::Write {
            path: PathBuf::from(crate::files::STDOUT),
            error,
        }),
        None => Ok(format!("\n{summary}")),
    }
}

/// The process's SIGINT/SIGTERM state: a handler can be installed once per
/// process, so it sets this one flag, which every run resets at its start.
struct Signals {
    stop: AtomicBool,
    clock: Instant,
    /// Milliseconds since `clock` of the first signal of this run.
    first_ms: AtomicU64,
}

/// SIGINT/SIGTERM set the returned flag; the trainer checks it between
/// steps. A second signal at least half a second after the first kills as
/// usual; one sooner is the same signal delivered twice (`timeout` signals
/// the child and then its whole process group, as do job schedulers) and
/// must not cost the checkpoint.
fn stop_on_signals() -> &'static AtomicBool {
    static SIGNALS: OnceLock<Signals> = OnceLock::new();
    let signals = SIGNALS.get_or_init(|| {
        let _ = ctrlc::set_handler(|| {
            let Some(s) = SIGNALS.get() else { return };
            let now = s.clock.elapsed().as_millis() as u64;
            if !s.stop.swap(true, Ordering::Relaxed) {
                s.first_ms.store(now, Ordering::Relaxed);
            } else if now.saturating_sub(s.first_ms.load(Ordering::Relaxed)) >= 500 {
                eprintln!(
                    "\nstopped by a second signal: no checkpoint of this state was written \
                     (exit code {}; a checkpoint already at the --save/--out path stays as it was)",
                    crate::error::EXIT_FORCED
                );
                std::process::exit(crate::error::EXIT_FORCED);
            }
        });
        Signals {
            stop: AtomicBool::new(false),
            clock: Instant::now(),
            first_ms: AtomicU64::new(u64::MAX),
        }
    });
    signals.stop.store(false, Ordering::Relaxed);
    signals.first_ms.store(u64::MAX, Ordering::Relaxed);
    &signals.stop
}

/// Progress on stderr: a bar on a terminal, a plain line every 10 % of the
/// steps otherwise, nothing with `quiet`. Rows printed to stdout make the
/// bar step aside.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    quiet: bool,
    next_plain: u64,
    /// The first failure to write stdout: training goes on (the run
    /// folder and checkpoints still get everything), and the command then
    /// fails with it.
    stdout_error: std::cell::RefCell<Option<std::io::Error>>,
}

impl Progress {
    fn new(quiet: bool) -> Progress {
        Progress {
            bar: None,
            quiet,
            next_plain: 0,
            stdout_error: std::cell::RefCell::new(None),
        }
    }

    /// The bar, made when the first step of the run is done (not while
    /// the data loads, as `0/0`, and with the ETA timed from the steps
    /// alone, not the first probe measurement).
    fn start(&mut self, done: u64, total: u64) {
        if self.quiet || self.bar.is_some() || !std::io::stderr().is_terminal() {
            return;
        }
        let bar = indicatif::ProgressBar::new(total);
        let style = indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} steps  {msg}  {elapsed} (eta {eta})",
        )
        .expect("a valid template");
        bar.set_style(style);
        bar.set_position(done);
        bar.reset_eta();
        self.bar = Some(bar);
    }

    /// Step `done` of `total` finished with batch loss `loss`.
    fn step(&mut self, done: u64, total: u64, loss: f64) {
        self.start(done, total);
        match &self.bar {
            Some(bar) => {
                bar.set_position(done);
                if done.is_multiple_of(16) || done == total {
                    bar.set_message(format!("loss {}", sig4(loss)));
                }
            }
            None if !self.quiet && done >= self.next_plain => {
                eprintln!("step {done}/{total}  loss {}", sig4(loss));
                self.next_plain = done + total.div_ceil(10).max(1);
            }
            None => {}
        }
    }

    /// Prints `line` to stdout now; a failure is kept for the end.
    fn print(&self, line: &str) {
        let write = || {
            let mut out = std::io::stdout().lock();
            match out.write_all(line.as_bytes()).and_then(|()| out.flush()) {
                // A closed pipe (`| head`): the reader wants no more.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                Err(e) => {
                    self.stdout_error.borrow_mut().get_or_insert(e);
                }
                Ok(()) => {}
            }
        };
        match &self.bar {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }

    fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The first line of the output: what is trained, on what, how.
fn header(spec: &Spec, trainer: &Trainer, resumed: bool) -> String {
    let graph = &trainer.executor().plan().graph;
    let split = trainer.data();
    let o = spec.optimizer();
    let resumed = if resumed {
        format!("; resumed at step {}", trainer.step())
    } else {
        String::new()
    };
    format!(
        "depthlab train: {} — {} layers, {} params; {} train / {} test examples; batch {}, {} steps ({} per epoch); optim {} lr {}{resumed}\n",
        spec.label(),
        graph.layers.len(),
        graph.params,
        split.train.n,
        split.test.as_ref().map_or(0, |t| t.n),
        spec.train.batch,
        trainer.total_steps(),
        trainer.steps_per_epoch(),
        o.kind.name(),
        sig4(o.lr),
    )
}

/// Epoch rows printed by default at most (about): longer runs print every
/// k-th epoch; `--out` files hold every one.
const MAX_EPOCH_ROWS: usize = 50;

/// What the run measured, kept for the summary.
#[derive(Default)]
struct Seen {
    first: Option<NetworkStats>,
    last: Option<NetworkStats>,
    update_ratio: Vec<f64>,
    last_epoch: Option<EpochRecord>,
}

/// Where the trainer's events go: the progress and the epoch table, the
/// run's files (written by a [`Writer`] thread), and what the summary
/// needs. Write errors are kept (the first one) and reported once the
/// checkpoint is written.
struct Sinks {
    /// Epoch rows printed: every this many, and the first and the last.
    print_every: usize,
    epochs: usize,
    writer: Writer,
    graph: Graph,
    seen: Seen,
    /// The step a resumed run starts at: its first measurement is the
    /// summary's start, not a record (the uninterrupted run has none there).
    resumed_at: Option<u64>,
}

impl Sinks {
    /// `append`: the run folder's files are continued (a resume from it).
    fn open(
        spec: &Spec,
        files: &TrainFiles,
        trainer: &Trainer,
        append: bool,
    ) -> Result<Sinks, Error> {
        let folder = match &files.out {
            Some(dir) => {
                let completed = trainer.step() / trainer.steps_per_epoch().max(1);
                Some(RunFolder::open(dir, append.then_some(completed))?)
            }
            None => None,
        };
        let events = match &files.tensorboard {
            Some(dir) => Some(EventFile::create(dir).map_err(Error::writing(dir))?),
            None => None,
        };
        let epochs = trainer.epochs();
        let graph = trainer.executor().plan().graph.clone();
        let label = spec.label();
        let written = Files::new(folder, events, graph.clone(), label, spec.train.seed);
        Ok(Sinks {
            print_every: files
                .print_every
                .unwrap_or(epochs.div_ceil(MAX_EPOCH_ROWS))
                .max(1),
            epochs,
            writer: Writer::start(written),
            graph,
            seen: Seen::default(),
            resumed_at: files.resume.is_some().then(|| trainer.step()),
        })
    }

    fn on(&mut self, event: Event, progress: &mut Progress) {
        match event {
            Event::Step { step, total, loss } => progress.step(step, total, loss),
            Event::Epoch(r) => {
                let shown = r.epoch == 1 || r.epoch >= self.epochs;
                if shown || r.epoch.is_multiple_of(self.print_every) {
                    progress.print(&format!("{}\n", epoch_line(r)));
                }
                self.writer.write(|| Record::Epoch(r.clone()));
                self.seen.last_epoch = Some(r.clone());
            }
            Event::Stats(r) if self.resumed_at == Some(r.step) && r.update_ratio.is_none() => {
                self.seen.first.get_or_insert_with(|| r.stats.clone());
            }
            Event::Stats(r) => {
                self.writer.write(|| Record::stats(r));
                let seen = &mut self.seen;
                seen.first.get_or_insert_with(|| r.stats.clone());
                seen.last = Some(r.stats.clone());
                if let Some(u) = r.update_ratio {
                    seen.update_ratio = u.to_vec();
                }
            }
        }
    }
}

/// The files of a run folder.
const RUN_FILES: [&str; 5] = [
    "epochs.csv",
    "stats.jsonl",
    "layers.csv",
    "summary.txt",
    "checkpoint.safetensors",
];

/// Refuses, before training, an output path where something other than a
/// regular file stands (a link, a device, a directory).
fn writable(path: &Path) -> Result<(), Error> {
    crate::files::regular_or_absent(path).map_err(|e| Error::Exists {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Readies `dir` for a run and says whether its files are continued.
/// A folder holding a run is refused, unless this run resumes from that
/// folder's checkpoint (its files are continued) or `--overwrite` says to
/// replace it (the old run's files are removed first, so none of them is
/// left beside the new ones). Something other than a regular file at a
/// run file's name is refused before training (exit 2).
fn prepare_run_folder(dir: &Path, files: &TrainFiles) -> Result<bool, Error> {
    for f in RUN_FILES {
        writable(&dir.join(f))?;
    }
    let found: Vec<&str> = RUN_FILES
        .into_iter()
        .filter(|f| dir.join(f).exists())
        .collect();
    if found.is_empty() {
        return Ok(false);
    }
    if files.overwrite {
        for f in &found {
            std::fs::remove_file(dir.join(f)).map_err(Error::writing(&dir.join(f)))?;
        }
        return Ok(false);
    }
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    let from_here = files
        .resume
        .as_ref()
        .and_then(|r| r.parent())
        .is_some_and(|p| {
            same(
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                },
                dir,
            )
        });
    if from_here {
        return Ok(true);
    }
    Err(Error::Exists {
        path: dir.to_path_buf(),
        message: format!(
            "already holds a run ({}): continue it with --resume {}, or replace it with --overwrite",
            found.join(", "),
            dir.join("checkpoint.safetensors").display()
        ),
    })
}

/// The checkpoints of `trainer`'s state: `DIR/checkpoint.safetensors`
/// with `--out`, and `--save`'s file. A state holding NaN or infinity (a
/// diverged run whose last update already broke the weights) is not
/// written: a checkpoint that cannot be resumed usefully would replace
/// whatever is at those paths.
fn write_checkpoints(
    trainer: &Trainer,
    files: &TrainFiles,
    diverged: bool,
) -> Result<Vec<PathBuf>, Error> {
    let paths: Vec<PathBuf> = files
        .out
        .iter()
        .map(|d| d.join("checkpoint.safetensors"))
        .chain(files.save.clone())
        .collect();
    if diverged && !paths.is_empty() && !trainer.state_is_finite() {
        eprintln!(
            "no checkpoint written: at step {} the weights or the optimizer state already hold NaN or infinity",
            trainer.step()
        );
        return Ok(Vec::new());
    }
    for path in &paths {
        trainer.save(path)?;
    }
    Ok(paths)
}

/// `DIR/figures/` of the run folder, if there is one.
fn write_figures(spec: &Spec, files: &TrainFiles) -> Result<(), Error> {
    let Some(dir) = &files.out else {
        return Ok(());
    };
    let title = format!(
        "depthlab train: {} — seed {}",
        spec.label(),
        spec.train.seed
    );
    write_train_figures(dir, &title)
        .map(drop)
        .map_err(Error::writing(&dir.join("figures")))
}

/// Resumes `trainer` from `--resume`, if given (then true), refusing a
/// checkpoint with nothing left to train: a run of no steps would only
/// replace the folder's summary with an empty one.
fn resume(trainer: &mut Trainer, files: &TrainFiles) -> Result<bool, Error> {
    let Some(path) = &files.resume else {
        return Ok(false);
    };
    trainer.resume_changed(path, files.allow_spec_change)?;
    if trainer.step() >= trainer.total_steps() {
        return Err(Error::Checkpoint {
            path: path.clone(),
            message: format!(
                "it is at step {} of this run's {}: nothing is left to train (raise --epochs or --steps)",
                trainer.step(),
                trainer.total_steps()
            ),
        });
    }
    Ok(true)
}

/// Trains, writing rows and lines as they come; whatever happens, the
/// checkpoints are written before the result is returned.
fn run(
    spec: &Spec,
    opts: &Options,
    files: &TrainFiles,
    progress: &mut Progress,
    stop: &AtomicBool,
) -> Result<String, Error> {
    let started = Instant::now();
    let mut trainer = Trainer::new(spec, opts)?.measure_every(files.stats_every);
    let resumed = resume(&mut trainer, files)?;
    let append = match &files.out {
        Some(dir) => prepare_run_folder(dir, files)?,
        None => false,
    };
    // Before training, not after: a path that cannot be written is a bad
    // flag.
    if let Some(path) = &files.save {
        writable(path)?;
    }
    let mut sinks = Sinks::open(spec, files, &trainer, append)?;
    let header = header(spec, &trainer, resumed);
    progress.print(&header);
    if sinks.print_every > 1 {
        progress.print(&format!(
            "(a row every {} epochs, and the first and the last{})\n",
            sinks.print_every,
            if files.out.is_some() {
                "; all of them in epochs.csv"
            } else {
                ""
            }
        ));
    }
    progress.print(&format!("{}\n", epoch_header()));
    let start_step = trainer.step();
    let result = trainer.run_until(&mut |event| sinks.on(event, progress), stop);
    let Sinks {
        writer,
        seen,
        graph,
        ..
    } = sinks;
    // Every record written before the figures read them.
    let closed = writer.close();
    // Whatever happened, keep what was measured: the checkpoints first,
    // then the figures (also after an interruption).
    let diverged = matches!(result, Err(Error::Diverged { .. }));
    let checkpoints = write_checkpoints(&trainer, files, diverged)?;
    let failure = closed.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    let figures = write_figures(spec, files);
    result?;
    figures?;
    if let Some(e) = failure {
        return Err(e);
    }
    let summary = Summary {
        spec_name: &spec.source.name,
        seed: spec.train.seed,
        graph: &graph,
        first: seen.first.as_ref(),
        last: seen.last.as_ref(),
        probe: trainer.probe().plan().batch,
        update_ratio: &seen.update_ratio,
        last_epoch: seen.last_epoch.as_ref(),
        steps: trainer.step() - start_step,
        seconds: started.elapsed().as_secs_f64(),
        measured: trainer.measured(),
        split: trainer.executor().ways().map(|w| SplitCounts {
            threads: trainer.executor().plan().threads,
            alone: w.alone.0,
            split: w.split.0,
            held: w.held.0,
        }),
        checkpoints: &checkpoints,
        hist: files.hist,
    }
    .text();
    if let Some(dir) = &files.out {
        // The file also says what ran: the header and the spec as trained.
        let path = dir.join("summary.txt");
        let text = format!("{header}effective spec: {spec}\n\n{summary}");
        crate::files::write_atomic(&path, text.as_bytes()).map_err(Error::writing(&path))?;
    }
    Ok(summary)
}
