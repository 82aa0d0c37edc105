//! The subcommands as library functions: load a spec, compile it, run it,
//! and render what `main` prints. `main.rs` only parses flags.

use crate::dataset;
use crate::dataset::probe::{copy_rows, probe_rows, probe_set};
use crate::dump::{dump, write_atomic};
use crate::error::Error;
use crate::examples;
use crate::exec::Executor;
use crate::graph::Graph;
use crate::plan::{Plan, Purpose};
use crate::report::Report;
use crate::report::sig4;
use crate::spec::{Overrides, Source, Spec, parse};
use crate::stats::{NetworkStats, StatsConfig};
use crate::train::{EpochRecord, Event, TrainOptions, Trainer, optimizer};
use crate::train_report::{
    EPOCH_CSV_HEADER, epoch_csv, epoch_header, epoch_line, stats_line, summary_table,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// Reads a spec from a file, a built-in example name, or `--net` text, and
/// applies the command-line overrides. Returns the spec and the name to
/// show for it.
pub fn load_spec(
    path: Option<&str>,
    net: Option<&str>,
    overrides: &Overrides,
) -> Result<Spec, Error> {
    let source = match (path, net) {
        (_, Some(text)) => Source::new("--net", text),
        (Some(p), None) => match std::fs::read_to_string(p) {
            Ok(text) => Source::new(p, text),
            Err(error) => match examples::find(p) {
                Some(text) => Source::new(p, text),
                None => {
                    return Err(Error::Read {
                        path: PathBuf::from(p),
                        error,
                    });
                }
            },
        },
        (None, None) => {
            let (name, text) = examples::EXAMPLES[0];
            Source::new(name, text)
        }
    };
    let mut spec = parse(source)?;
    overrides.apply(&mut spec)?;
    Ok(spec)
}

/// What `stats` measures on and prints.
#[derive(Clone, Debug)]
pub struct StatsOptions {
    /// Rows of the probe batch (`None`: the default,
    /// [`crate::dataset::probe::DEFAULT_ROWS`] or fewer).
    pub probe: Option<usize>,
    pub config: StatsConfig,
    pub memory_limit: u64,
    /// Threads to split large steps over.
    pub threads: usize,
}

/// Compiles `graph` (checked from `spec`) for batches of `batch` rows; a
/// plan error names the spec.
pub fn compile(
    spec: &Spec,
    graph: &Graph,
    batch: usize,
    purpose: Purpose,
    memory_limit: u64,
    threads: usize,
) -> Result<Plan, Error> {
    Plan::compile(graph, batch, purpose, memory_limit, threads).map_err(|error| Error::Plan {
        spec: spec.source.name.clone(),
        error,
    })
}

/// Compiles `spec` for a probe batch, initializes it from the spec's seed,
/// fills the probe and runs forward, backward and statistics once.
pub fn measure(spec: &Spec, opts: &StatsOptions) -> Result<Executor, Error> {
    let graph = Graph::check(spec)?;
    let split = dataset::load_for(spec, &graph)?;
    let data = spec
        .data
        .clone()
        .unwrap_or_else(crate::spec::Data::gaussian);
    let rows = probe_rows(&split, opts.probe, &data, &spec.source)?;
    let plan = compile(
        spec,
        &graph,
        rows,
        Purpose::Stats,
        opts.memory_limit,
        opts.threads,
    )?;
    let mut exec = Executor::new(plan, opts.config);
    exec.init_params(spec.train.seed);
    let (x, y) = (exec.plan().x, exec.plan().y);
    let [xs, ys] = exec.bufs_mut([x, y]);
    copy_rows(probe_set(&split), 0..rows, xs, ys);
    exec.run();
    Ok(exec)
}

/// Output format of `stats`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// `depthlab stats`: measures and renders; writes the `--dump` files if
/// asked.
pub fn stats(
    spec: &Spec,
    opts: &StatsOptions,
    format: Format,
    hist: bool,
    dump_dir: Option<&Path>,
) -> Result<String, Error> {
    let exec = measure(spec, opts)?;
    render_stats(spec, &exec, exec.plan().batch, 0, format, hist, dump_dir)
}

/// `depthlab stats --steps N`: trains `steps` optimizer steps as `train`
/// would (same data, batches and optimizer), then measures the probe.
pub fn stats_after_training(
    spec: &Spec,
    opts: &StatsOptions,
    steps: u64,
    format: Format,
    hist: bool,
    dump_dir: Option<&Path>,
) -> Result<String, Error> {
    let mut spec = spec.clone();
    spec.train.steps = Some(steps as usize);
    let train_opts = TrainOptions {
        probe: opts.probe,
        stats_every: None,
        config: opts.config,
        memory_limit: opts.memory_limit,
        threads: opts.threads,
    };
    let mut trainer = Trainer::new(&spec, &train_opts)?;
    trainer.run(&mut |_| {})?;
    let probe = trainer.probe();
    render_stats(
        &spec,
        probe,
        probe.plan().batch,
        steps,
        format,
        hist,
        dump_dir,
    )
}

/// The `stats` output of a measured executor, and its `--dump` files.
fn render_stats(
    spec: &Spec,
    exec: &Executor,
    probe: usize,
    steps: u64,
    format: Format,
    hist: bool,
    dump_dir: Option<&Path>,
) -> Result<String, Error> {
    if let Some(dir) = dump_dir {
        dump(exec, dir).map_err(|error| Error::Write {
            path: dir.to_path_buf(),
            error,
        })?;
    }
    let report = Report {
        spec_name: &spec.source.name,
        graph: &exec.plan().graph,
        stats: exec.stats(),
        seed: spec.train.seed,
        probe,
        steps,
    };
    let mut out = match format {
        Format::Table => report.table(),
        Format::Json => report.json(),
        Format::Csv => report.csv(),
    };
    if hist {
        if format == Format::Table {
            out.push('\n');
        }
        out.push_str(&report.histograms());
    }
    Ok(out)
}

/// `depthlab check`: the compiled plan for a batch of `batch` rows: the
/// statistics plan, or with `train` the training step's.
pub fn check(
    spec: &Spec,
    batch: usize,
    train: bool,
    memory_limit: u64,
    threads: usize,
) -> Result<String, Error> {
    let graph = Graph::check(spec)?;
    let optim = optimizer(spec);
    let purpose = if train {
        Purpose::Train(&optim)
    } else {
        Purpose::Stats
    };
    let plan = compile(spec, &graph, batch, purpose, memory_limit, threads)?;
    Ok(format!("spec: {}\n{plan}", spec.source.name))
}

/// `depthlab examples`: the built-in specs and what each shows.
pub fn list_examples() -> String {
    let width = examples::EXAMPLES
        .iter()
        .map(|(n, _)| n.len())
        .max()
        .unwrap_or(0);
    examples::EXAMPLES
        .iter()
        .map(|(name, text)| format!("{name:<width$}  {}\n", examples::summary(text)))
        .collect()
}

/// What `depthlab train` does beyond the trainer's own options.
#[derive(Clone, Debug, Default)]
pub struct TrainFiles {
    /// Folder for `epochs.csv`, `stats.jsonl`, `summary.txt` and
    /// `checkpoint.safetensors`.
    pub out: Option<PathBuf>,
    /// Also write the final checkpoint here.
    pub save: Option<PathBuf>,
    /// Continue from this checkpoint.
    pub resume: Option<PathBuf>,
    /// Append the probe's δ histograms at the start and the end to the
    /// summary.
    pub hist: bool,
}

/// An output file written one whole line at a time (appended), so a
/// killed run never leaves half a line.
struct LineFile {
    path: PathBuf,
    file: std::fs::File,
}

impl LineFile {
    /// Opens `dir/name`: truncated for a new run, appended to on resume.
    fn open(dir: &Path, name: &str, append: bool, header: &str) -> Result<LineFile, Error> {
        let path = dir.join(name);
        let existed = path.exists();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(&path)
            .map_err(|error| Error::Write {
                path: path.clone(),
                error,
            })?;
        let mut f = LineFile { path, file };
        let continuing = append && existed;
        if !continuing && !header.is_empty() {
            f.write(header)?;
        }
        Ok(f)
    }

    fn write(&mut self, line: &str) -> Result<(), Error> {
        use std::io::Write as _;
        self.file
            .write_all(line.as_bytes())
            .map_err(|error| Error::Write {
                path: self.path.clone(),
                error,
            })
    }
}

/// Rewrites `epochs.csv` (if it exists) without the rows of epochs after
/// `completed`: a run stopped mid-epoch wrote that epoch's row so far, and
/// the resumed run writes the whole row again.
fn drop_epoch_rows_after(path: &Path, completed: u64) -> Result<(), Error> {
    let write_error = |error| Error::Write {
        path: path.to_path_buf(),
        error,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(write_error(e)),
    };
    // The header and unparsable lines are kept as they are.
    let after = |line: &str| {
        line.split(',')
            .next()
            .and_then(|e| e.parse::<u64>().ok())
            .is_some_and(|e| e > completed)
    };
    let kept: String = text
        .split_inclusive('\n')
        .filter(|line| !after(line))
        .collect();
    if kept.len() == text.len() {
        return Ok(());
    }
    crate::dump::write_atomic(path, kept.as_bytes()).map_err(write_error)
}

/// `depthlab train`: trains `spec`, printing the per-epoch table through
/// `print` as epochs finish and reporting every step to `progress` (done,
/// total, batch loss). Returns the final summary.
pub fn train(
    spec: &Spec,
    opts: &TrainOptions,
    files: &TrainFiles,
    print: &mut dyn FnMut(&str),
    progress: &mut dyn FnMut(u64, u64, f64),
    stop: &AtomicBool,
) -> Result<String, Error> {
    let started = std::time::Instant::now();
    let mut trainer = Trainer::new(spec, opts)?;
    if let Some(path) = &files.resume {
        trainer.resume(path)?;
    }
    let resumed = files.resume.is_some();
    let (mut epochs_csv, mut stats_jsonl) = match &files.out {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|error| Error::Write {
                path: dir.clone(),
                error,
            })?;
            if resumed {
                let completed = trainer.step() / trainer.steps_per_epoch().max(1);
                drop_epoch_rows_after(&dir.join("epochs.csv"), completed)?;
            }
            (
                Some(LineFile::open(
                    dir,
                    "epochs.csv",
                    resumed,
                    EPOCH_CSV_HEADER,
                )?),
                Some(LineFile::open(dir, "stats.jsonl", resumed, "")?),
            )
        }
        None => (None, None),
    };
    let graph = trainer.executor().plan().graph.clone();
    let split = trainer.data();
    let o = optimizer(spec);
    print(&format!(
        "depthlab train: {} — {} layers, {} params; {} train / {} test examples; batch {}, {} steps ({} per epoch); optim {} lr {}{}\n",
        spec.source.name,
        graph.layers.len(),
        graph.params,
        split.train.n,
        split.test.as_ref().map_or(0, |t| t.n),
        spec.train.batch,
        trainer.total_steps(),
        trainer.steps_per_epoch(),
        o.kind.name(),
        sig4(o.lr),
        if resumed {
            format!("; resumed at step {}", trainer.step())
        } else {
            String::new()
        }
    ));
    print(&format!("{}\n", epoch_header()));
    let start_step = trainer.step();
    let mut first: Option<NetworkStats> = None;
    let mut last: Option<NetworkStats> = None;
    let mut ratios: Vec<f64> = Vec::new();
    let mut last_epoch: Option<EpochRecord> = None;
    let mut failure: Option<Error> = None;
    let result = trainer.run_until(
        &mut |event| match event {
            Event::Step { step, total, loss } => progress(step, total, loss),
            Event::Epoch(r) => {
                print(&format!("{}\n", epoch_line(r)));
                if let Some(f) = epochs_csv.as_mut()
                    && let Err(e) = f.write(&epoch_csv(r))
                {
                    failure.get_or_insert(e);
                }
                last_epoch = Some(r.clone());
            }
            Event::Stats(r) => {
                if let Some(f) = stats_jsonl.as_mut()
                    && let Err(e) = f.write(&stats_line(&graph, r))
                {
                    failure.get_or_insert(e);
                }
                if first.is_none() {
                    first = Some(r.stats.clone());
                }
                last = Some(r.stats.clone());
                if let Some(u) = r.update_ratio {
                    ratios = u.to_vec();
                }
            }
        },
        stop,
    );
    // Whatever happened, keep what was measured: the checkpoint first.
    let checkpoint_paths: Vec<PathBuf> = files
        .out
        .iter()
        .map(|d| d.join("checkpoint.safetensors"))
        .chain(files.save.clone())
        .collect();
    for path in &checkpoint_paths {
        trainer.save(path)?;
    }
    result?;
    if let Some(e) = failure {
        return Err(e);
    }
    let seconds = started.elapsed().as_secs_f64();
    let steps = trainer.step() - start_step;
    let mut summary = String::new();
    if let (Some(f), Some(l)) = (&first, &last) {
        summary.push_str(&summary_table(&graph, f, l, &ratios));
    }
    let mut hist = String::new();
    if let (Some(f), Some(l), true) = (&first, &last, files.hist) {
        for (when, stats) in [("start", f), ("end", l)] {
            let report = Report {
                spec_name: &spec.source.name,
                graph: &graph,
                stats,
                seed: spec.train.seed,
                probe: trainer.probe().plan().batch,
                steps: 0,
            };
            hist.push_str(&format!("\nat the {when}: {}", report.histograms()));
        }
    }
    if let Some(r) = &last_epoch {
        summary.push_str(&format!(
            "final: train loss {}{}, test loss {}{}\n",
            sig4(r.train_loss),
            r.train_acc
                .map_or(String::new(), |a| format!(" (acc {:.1}%)", 100.0 * a)),
            r.test_loss.map_or("-".into(), sig4),
            r.test_acc
                .map_or(String::new(), |a| format!(" (acc {:.1}%)", 100.0 * a)),
        ));
    }
    summary.push_str(&format!(
        "{steps} steps in {seconds:.2} s ({} µs/step incl. evaluation and statistics)\n",
        if steps > 0 {
            format!("{:.0}", 1e6 * seconds / steps as f64)
        } else {
            "-".into()
        }
    ));
    for path in &checkpoint_paths {
        summary.push_str(&format!("checkpoint: {}\n", path.display()));
    }
    summary.push_str(&hist);
    if let Some(dir) = &files.out {
        let path = dir.join("summary.txt");
        write_atomic(&path, summary.as_bytes()).map_err(|error| Error::Write { path, error })?;
    }
    Ok(summary)
}
