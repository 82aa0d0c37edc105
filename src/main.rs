//! The `depthlab` command line: flag parsing and printing only; the work is
//! in the library (`depthlab::commands`).

// See lib.rs: errors are built once, on the way out.
#![allow(clippy::result_large_err)]
#![warn(clippy::too_many_lines)]

use clap::{Args, Parser, Subcommand, ValueEnum};
use depthlab::commands::{
    self, BenchOptions, CapacityOptions, Format, Knob, PolyOptions, ReportOptions, Ridge, Shard,
    StatsOutput, SweepOptions, TrainFiles, gibibytes,
};
use depthlab::compile::Resources;
use depthlab::dataset::probe::DEFAULT_ROWS;
use depthlab::error::Error;
use depthlab::graph::DEFAULT_MEMORY_LIMIT;
use depthlab::poly::Setting;
use depthlab::report::Hist;
use depthlab::spec::{Overrides, Spec};
use depthlab::stats::StatsConfig;
use depthlab::sweep::{Axis, Metric};
use depthlab::train::Options;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

const ABOUT: &str = "See and measure the problems with depth in neural networks — vanishing and \
exploding gradients, saturating vs rectifying activations, initialization — on a CPU, in seconds.";

const AFTER_HELP: &str = "\
Examples:
  depthlab stats sigmoid-vanishing           built-in example: 10 sigmoid layers, gradients vanish
  depthlab stats relu-he --hist              20 ReLU layers with He init, δ histograms per layer
  depthlab stats --net \"input 64; dense 64 tanh x10; dense 10\" --init glorot_uniform
  depthlab train --net \"input 2; dense 64 relu x2; dense 3; data spirals\" --lr 0.01 --epochs 20
  depthlab train my.net --stats-every 100 --out runs/a   epochs.csv, stats.jsonl, summary, checkpoint
  depthlab train my.net --resume runs/a/checkpoint.safetensors --epochs 40
  depthlab check my.net                      the compiled plan: shapes, arena bytes, FLOPs, steps
  depthlab examples                          list the built-in example specs
  depthlab poly --svg figs                   polynomial under/over-fitting, PRML §1.1, exact fits
  depthlab capacity --vary depth=0..4        train and test loss against depth (also steps, rho=, weight_decay=)
  depthlab sweep relu-he --vary act=tanh,relu --vary depth=5,10,20 --out r.jsonl   a grid, a JSON line per point
  depthlab report r.jsonl --svg figs         the grid as pivot tables (mean ± std over seeds) and figures
  depthlab bench relu-he --threads 1         the training step's speed against this machine's FMA peak

Exit codes: 0 success, 1 an output could not be written, 2 bad spec, flag, input file or
checkpoint, 3 training diverged (NaN or infinity), 4 training stopped at once by a second
signal (no checkpoint), 130 training interrupted (checkpoint written).";

#[derive(Parser)]
#[command(name = "depthlab", version = version(), about = ABOUT, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Per-layer statistics of activations and gradients at initialization,
    /// on a fixed probe batch.
    ///
    /// Prints, for every layer: activation mean/std/min/max, 98th percentile
    /// of |a|, saturated % and dead units; δ = ∂L/∂s mean/std/norm; weight
    /// gradient std/norm and ‖∇W‖/‖W‖; the measured gain std(δ_l)/std(δ_l+1)
    /// beside the mean-field prediction √(n_l+1·Var(W_l+1)·E[f'(s_l)²]);
    /// then the hidden-layer factor std(δ_1)/std(δ_L-1) in dB and dB/layer,
    /// the output layer's step apart, and warnings.
    Stats(StatsArgs),
    /// Train the spec on its data: per-epoch loss and accuracy, the
    /// statistics of a fixed probe batch as training goes, checkpoints.
    ///
    /// Prints a table row per epoch (train loss/accuracy, test
    /// loss/accuracy) and a final summary of how ‖W‖, std(δ) and saturation
    /// changed per layer. A progress bar goes to stderr.
    Train(TrainArgs),
    /// Print the compiled plan: layer shapes, parameters, arena bytes,
    /// FLOPs per step and the list of steps.
    Check(CheckArgs),
    /// List the built-in example specs and what each shows, or print one
    /// (`depthlab examples relu-he > my.net`) to copy and edit.
    Examples(ExamplesArgs),
    /// Under- and over-fitting with polynomials (PRML §1.1): exact least
    /// squares and ridge fits of degree D to noisy points of sin(2πx).
    ///
    /// Prints train and test E_RMS per degree with the largest coefficient
    /// and the condition number κ(A) of the Vandermonde matrix (PRML Fig.
    /// 1.5), the coefficients for D = 0, 1, 3, 9 (Table 1.1), and the ridge
    /// coefficients of the largest degree per ln ρ (Table 1.2). The points
    /// are those of the spec line `data poly`, so `depthlab train` can fit
    /// the same set; --train does that and compares with the exact fits.
    Poly(PolyArgs),
    /// Time the training step of a spec on this machine: µs per step
    /// (median, min, max), GFLOP/s, % of this machine's FMA peak measured
    /// on the spot, and the time by step kind.
    ///
    /// The step is the executor's forward, loss, backward and update on the
    /// next batch of the spec's data, as `train` runs it (the batch copied
    /// into place before the clock starts), after a warm-up; GFLOP/s counts
    /// 6·batch·Σ fan_in·units. Time one thread with --threads 1. When the
    /// step meets subnormal numbers (below 1.2e-38, slow on x86 CPUs), a
    /// line says what flushing them (`train flush_subnormals=true`) does.
    ///
    /// On several threads, a step whose products are split hands their
    /// parts to the workers, or runs them all on this thread when that
    /// has been faster lately (another busy process on a core): both ways
    /// are timed now and then, and the first line says how many timed
    /// steps were split. The results are the same bits either way.
    Bench(BenchArgs),
    /// Under- and over-fitting by depth, training iterations or
    /// regularization: train and test loss as the knob turns.
    ///
    /// `--vary depth=0,1,2,4` trains the spec at each depth (the repeat
    /// count of its last repeated hidden line, as --depth), `--vary rho=…`
    /// at each ρ of the loss's L2 term, `--vary weight_decay=…` at each λ:
    /// a row per value with the training loss (the data term over the whole
    /// training set), the test loss, and the best test loss during the run.
    /// `--vary steps` prints one run's curves with the best epoch marked
    /// (where early stopping would stop) and the test loss at the end.
    /// The spec needs a test set (`test=N` on its `data` line).
    #[command(mut_arg("spec", |a| a.help(
        "A spec file, or the name of a built-in example (see `depthlab examples`). Default: overfit-poly."
    )))]
    Capacity(CapacityArgs),
    /// Run a grid of variants of a spec and append one JSON line per point
    /// (docs/sweep-json.md), for `depthlab report` to merge and tabulate.
    ///
    /// Every combination of the --vary values runs: the statistics at
    /// initialization (hidden-layer factor, gains, dead and saturated
    /// units) and, with --train, the final and best epoch metrics. Lines
    /// are appended whole under a file lock, so shards writing one file
    /// never interleave; a re-run skips the points already in --out (resume
    /// after a crash or a kill). --shard I/N runs every N-th point (Slurm
    /// job arrays set it through SLURM_ARRAY_TASK_ID/COUNT/MIN);
    /// --jobs N splits the points over N worker processes.
    #[command(args_override_self = true, after_help = SWEEP_HELP)]
    Sweep(SweepArgs),
    /// Merge sweep results (shards, re-runs) and tabulate them: a metric by
    /// one varied key down the side and the others across, seeds folded
    /// into mean ± std.
    ///
    /// Duplicate runs (the same effective spec twice) are dropped. Default
    /// tables: the hidden-layer factor in dB, and with --train results the
    /// test accuracy at the last epoch and the best.
    Report(ReportArgs),
}

const SWEEP_HELP: &str = "\
Examples:
  depthlab sweep sigmoid-vanishing --vary act=sigmoid,tanh,relu --vary init=standard,glorot_uniform,he_normal \\
      --vary depth=5,10,20,40 --out depth.jsonl --jobs 2
  depthlab sweep krizhevsky-relu-tanh --vary act=relu,tanh --vary seed=1..5 --train --out runs.jsonl
  depthlab sweep my.net --vary optim.momentum=0,0.9 --vary lr=0.01,0.1 --train --shard 2/4 --out runs.jsonl

Keys: act, init, depth, width, seed, lr, weight_decay, l2, epochs, steps, batch, or LINE.KEY for a
key of the spec's optim, data, train or loss line (optim.momentum, data.n, loss.l2_bias).
Values are split at commas outside parentheses; whole-number keys take ranges (seed=1..5).";

#[derive(Args)]
struct SpecArgs {
    /// A spec file, or the name of a built-in example (see `depthlab
    /// examples`). Default: sigmoid-vanishing.
    spec: Option<String>,
    /// The spec as text, lines separated by `;`, instead of a file.
    #[arg(long, value_name = "TEXT", conflicts_with = "spec")]
    net: Option<String>,
    /// Activation of every hidden layer, e.g. `relu` or `leaky_relu(a=0.1)`.
    #[arg(long, value_name = "ACT")]
    act: Option<String>,
    /// Weight init of every layer, e.g. `he_normal`, `normal(0.01)`,
    /// `glorot_uniform(gain=auto)`.
    #[arg(long, value_name = "INIT")]
    init: Option<String>,
    /// Repeat count of the (last) repeated hidden line.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    depth: Option<u32>,
    /// Units of every hidden layer.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    width: Option<u32>,
    /// Seed of the weights and the probe data (overrides `train seed=`).
    #[arg(long, value_name = "SEED")]
    seed: Option<u64>,
    /// Threads to split large steps over (results are bit-identical for any
    /// count). Default: the available cores; `train` first times a few
    /// steps on them against one thread and keeps one unless the cores are
    /// at least 10 % faster for this network on this machine. While
    /// running, a step also runs unsplit on one thread (a training step as
    /// the one-thread plan does) when that has been faster lately (another
    /// busy process on a core). A core `train`
    /// leaves idle measures the probe statistics meanwhile (not with
    /// --threads 1); on two threads, steps run unsplit on the other core
    /// while it measures.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    threads: Option<u32>,
    /// Refuse networks whose arenas and data would together exceed this
    /// many GiB (at most the machine's memory).
    #[arg(long, value_name = "GIB", default_value_t = (DEFAULT_MEMORY_LIMIT >> 30) as f64, value_parser = gibibytes)]
    memory_limit: f64,
}

impl SpecArgs {
    fn load(&self) -> Result<Spec, Error> {
        self.load_with(Overrides::default())
    }

    /// Loads the spec with these flags and the training ones in `more`.
    fn load_with(&self, more: Overrides) -> Result<Spec, Error> {
        let overrides = Overrides {
            act: self.act.clone(),
            init: self.init.clone(),
            depth: self.depth.map(|d| d as usize),
            width: self.width.map(|w| w as usize),
            seed: self.seed,
            ..more
        };
        let loaded = commands::load_spec(self.spec.as_deref(), self.net.as_deref(), &overrides);
        // `--hist act` reads `act` as the spec: say how to write it.
        match (loaded, self.spec.as_deref()) {
            (Err(Error::Read { path, error }), Some(kind @ ("act" | "delta" | "both"))) => {
                Err(Error::Read {
                    path,
                    error: std::io::Error::new(
                        error.kind(),
                        format!("{error} (for the histogram kind write `--hist={kind}`)"),
                    ),
                })
            }
            (loaded, _) => loaded,
        }
    }

    /// The memory limit and threads the compiler may use.
    fn resources(&self) -> Resources {
        let threads = self.threads.map_or_else(
            || std::thread::available_parallelism().map_or(1, |n| n.get()),
            |t| t as usize,
        );
        Resources {
            memory_limit: Resources::limit_gib(self.memory_limit),
            threads,
        }
    }

    /// How `stats` and `train` measure: the probe size, the saturation
    /// threshold (checked), and the compiler's resources.
    fn options(&self, spec: &Spec, probe: Option<u32>, saturation: f64) -> Result<Options, Error> {
        if !(0.5..1.0).contains(&saturation) {
            return Err(Error::Spec(spec.source.error_whole(format!(
                "--saturation must be in [0.5, 1), found {saturation}"
            ))));
        }
        Ok(Options {
            probe: probe.map(|p| p as usize),
            config: StatsConfig { saturation },
            resources: self.resources(),
            spare_core: false,
        })
    }
}

#[derive(Args)]
struct StatsArgs {
    #[command(flatten)]
    spec: SpecArgs,
    /// Examples in the probe batch: the first N held-out examples of the
    /// spec's data (Glorot & Bengio used 300). Default: 300, or all of them
    /// if fewer.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    probe: Option<u32>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    format: FormatArg,
    /// Also print Unicode histograms per layer: of δ (`--hist` alone), of
    /// the activations (`--hist=act`), or both (`--hist=both`), on the
    /// hidden layers' common range.
    #[arg(long, value_enum, value_name = "WHAT", num_args = 0..=1, require_equals = true, default_missing_value = "delta")]
    hist: Option<HistArg>,
    /// Write weights.safetensors, probe.safetensors and grads.safetensors
    /// into DIR (see the README for the tensor names).
    #[arg(long, value_name = "DIR")]
    dump: Option<PathBuf>,
    /// Also draw the statistics as an SVG figure: activation and δ
    /// histograms per hidden layer (Glorot & Bengio Fig. 6-7) and std(δ) per
    /// layer beside its mean-field prediction.
    #[arg(long, value_name = "FILE.svg")]
    svg: Option<PathBuf>,
    /// Saturation threshold t: tanh/softsign saturate when |a| > t, sigmoid
    /// when a < 1-t or a > t.
    #[arg(long, value_name = "T", default_value_t = 0.99)]
    saturation: f64,
    /// Measure after training N optimizer steps (as `train` would, with
    /// the spec's optim, data and train lines) instead of at initialization
    /// (`--steps 0` measures the same as no `--steps`).
    #[arg(long, value_name = "N")]
    steps: Option<u64>,
}

#[derive(Args)]
struct TrainingFlags {
    /// Epochs (overrides `train epochs=` and `steps=`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    epochs: Option<u32>,
    /// Optimizer steps in all (overrides `train steps=` and epochs).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    steps: Option<u64>,
    /// Examples per step (overrides `train batch=`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    batch: Option<u32>,
    /// Learning rate (overrides `optim lr=`).
    #[arg(long, value_name = "LR")]
    lr: Option<f64>,
    /// Weight decay λ of every layer without its own `weight_decay=`
    /// (overrides `optim weight_decay=`).
    #[arg(long, value_name = "L")]
    weight_decay: Option<f64>,
    /// ρ of the loss's L2 term ρ Σ w² (overrides `loss l2=`): the same as
    /// `--weight-decay` 2ρ with SGD and Adam, on the weights only.
    #[arg(long, value_name = "RHO")]
    l2: Option<f64>,
}

impl TrainingFlags {
    fn overrides(&self) -> Overrides {
        Overrides {
            lr: self.lr,
            weight_decay: self.weight_decay,
            l2: self.l2,
            epochs: self.epochs.map(|e| e as usize),
            steps: self.steps.map(|s| s as usize),
            batch: self.batch.map(|b| b as usize),
            ..Overrides::default()
        }
    }
}

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    spec: SpecArgs,
    #[command(flatten)]
    training: TrainingFlags,
    /// Examples in the probe batch the statistics are measured on (as
    /// `stats --probe`: the first held-out ones).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    probe: Option<u32>,
    /// Also measure the probe statistics every K steps (always at the
    /// start and the end); written to DIR/stats.jsonl with --out. Each
    /// measurement costs the probe's forward and backward (probe rows ÷
    /// batch steps' worth) and the statistics: on a core of their own
    /// while training goes on (on one thread, or on the other core when
    /// training splits over two and K steps hold at least twice the probe's
    /// rows; else in line, split) if a second probe fits in --memory-limit,
    /// else in line. The summary's `probe statistics:` line says how much
    /// of the run they took.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..))]
    stats_every: Option<u64>,
    /// Write epochs.csv, stats.jsonl, summary.txt and
    /// checkpoint.safetensors into DIR (created if missing).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print every K-th epoch's row (the first and the last always).
    /// Default: enough to print about 50 rows; --out files hold them all.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..))]
    print_every: Option<u32>,
    /// Also write TensorBoard event files into DIR (`tensorboard --logdir
    /// DIR`): losses, accuracies, lr, per-layer std(δ), ‖ΔW‖/‖W‖, dead and
    /// saturated fractions, and activation, δ and weight histograms.
    #[arg(long, value_name = "DIR")]
    tensorboard: Option<PathBuf>,
    /// Write the final checkpoint (weights, optimizer state, step) to FILE.
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,
    /// Continue a run from a checkpoint written by --save or --out; the
    /// result is bit-identical to the uninterrupted run. The checkpoint
    /// must come from the same spec (flags applied), apart from the run's
    /// length (--epochs, --steps).
    #[arg(long, value_name = "FILE")]
    resume: Option<PathBuf>,
    /// With --resume: load a checkpoint written for another spec whose
    /// tensors fit this one (another learning rate, activation, data...),
    /// a deliberate change.
    #[arg(long, requires = "resume")]
    allow_spec_change: bool,
    /// With --out: replace the run already in DIR (without it, a folder
    /// holding a run is refused unless --resume continues it from
    /// DIR/checkpoint.safetensors).
    #[arg(long, requires = "out")]
    overwrite: bool,
    /// Also print the probe's histograms at the start and the end (as
    /// `stats --hist`: δ, `--hist=act` or `--hist=both`).
    #[arg(long, value_enum, value_name = "WHAT", num_args = 0..=1, require_equals = true, default_missing_value = "delta")]
    hist: Option<HistArg>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    /// Saturation threshold (see `stats --saturation`).
    #[arg(long, value_name = "T", default_value_t = 0.99)]
    saturation: f64,
}

#[derive(Args)]
struct ExamplesArgs {
    /// Print this example's spec text instead of the list.
    name: Option<String>,
}

#[derive(Args)]
struct ReportArgs {
    /// Results files written by `depthlab sweep --out` (JSON lines).
    #[arg(required = true, value_name = "RESULTS.jsonl")]
    files: Vec<PathBuf>,
    /// The varied key down the tables' side. Default: depth, else the
    /// first numeric key.
    #[arg(long, value_name = "KEY")]
    rows: Option<String>,
    /// A metric to tabulate (repeatable). At initialization: hidden_db,
    /// db_per_layer, output_step_db, loss, dead, saturated, off (units with
    /// s ≤ 0 for every probe example: rectifiers), top_a_mean, top_a_std
    /// (the top hidden layer's activations). With --train results:
    /// test_acc, best_test_acc, test_loss, best_test_loss, train_loss,
    /// train_acc (the last epoch's), dead_end, saturated_end, off_end
    /// (after the last step), diverged (% of runs), and epoch_to_CURVE=TARGET, the first epoch at
    /// which train_acc, test_acc (fractions: at or above) or train_loss,
    /// test_loss (at or below) reach TARGET, e.g. epoch_to_train_acc=0.75.
    #[arg(long, value_name = "NAME", value_parser = Metric::parse)]
    metric: Vec<Metric>,
    /// Write every run (keys, seed, every metric) to this CSV file.
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Write a figure per metric into DIR: the metric against the row key,
    /// a line per combination of the other keys, ± one std over seeds.
    #[arg(long, value_name = "DIR")]
    svg: Option<PathBuf>,
}

#[derive(Args)]
struct SweepArgs {
    #[command(flatten)]
    spec: SpecArgs,
    /// KEY=V1,V2,...: a key to vary and its values; repeat for a grid (the
    /// first --vary varies slowest).
    #[arg(long, value_name = "KEY=VALUES", required = true, value_parser = Axis::parse)]
    vary: Vec<Axis>,
    /// Also train every point (its spec's optim, data and train lines) and
    /// record the final and best epoch metrics.
    #[arg(long)]
    train: bool,
    /// Append the results to FILE (created if missing; points already in it
    /// are skipped). Default: lines to stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Run the points in N worker processes (one thread each unless
    /// --threads is given).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    jobs: u32,
    /// Run only every N-th point, starting at the I-th (1 ≤ I ≤ N). Default:
    /// from SLURM_ARRAY_TASK_ID/COUNT/MIN when set, else all points.
    #[arg(long, value_name = "I/N", value_parser = Shard::parse)]
    shard: Option<Shard>,
    /// Examples in each point's probe batch (as `stats --probe`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    probe: Option<u32>,
    /// No progress on stderr.
    #[arg(long)]
    quiet: bool,
    /// A worker's grid indices (set by --jobs; not for use by hand).
    #[arg(long, value_name = "LIST", hide = true, value_delimiter = ',')]
    worker_points: Option<Vec<usize>>,
}

#[derive(Args)]
struct CapacityArgs {
    #[command(flatten)]
    spec: SpecArgs,
    /// The knob: `depth=0,1,2,4` (or a range `1..6`), `steps`,
    /// `rho=0,1e-4,1e-3` (the loss's l2=ρ; also `l2=`), or
    /// `weight_decay=0,1e-3` (the optimizer's λ; also `lambda=`).
    #[arg(long, value_name = "KNOB", value_parser = Knob::parse)]
    vary: Knob,
    /// Train every point on K seeds (the spec's and the next ones; the seed
    /// also draws generated data) and report mean ± std.
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1000))]
    seeds: u64,
    #[command(flatten)]
    training: TrainingFlags,
    /// Write every run's numbers (or, with `steps`, every epoch's) to FILE.
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Draw the losses against the knob (or per epoch) into FILE.svg.
    #[arg(long, value_name = "FILE.svg")]
    svg: Option<PathBuf>,
    /// No progress lines on stderr.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args)]
struct PolyArgs {
    /// Training points.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    n: u32,
    /// Test points.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    test: u32,
    /// Std of the Gaussian noise on t = sin(2πx).
    #[arg(long, value_name = "STD", default_value_t = 0.3, value_parser = parse_noise)]
    noise: f64,
    /// Seed of the points (the default 2 is a draw on which PRML's shapes
    /// all show).
    #[arg(long, default_value_t = 2)]
    seed: u64,
    /// Training x evenly spaced over [0, 1] (PRML's own figures) instead of
    /// drawn uniformly.
    #[arg(long)]
    grid: bool,
    /// Degrees to fit: a range `0..9` (inclusive) or a list `0,1,3,9`; at
    /// most 30.
    #[arg(long, value_name = "LIST", default_value = "0..9", value_parser = parse_degrees)]
    degrees: Degrees,
    /// ρ values of the ridge fits, comma-separated (0: none), e.g.
    /// `--rho 0,1.5e-8,1`: every degree is also fitted with each, and the
    /// largest degree's coefficients are shown per ρ (PRML Table 1.2).
    #[arg(long, value_name = "LIST", value_parser = |t: &str| Ridge::parse_rho(t).map(RidgeList), conflicts_with = "ln_rho")]
    rho: Option<RidgeList>,
    /// The same as ln ρ, PRML's axis: `-inf` is no ridge term. Write
    /// negative values as `--ln-rho=-18,0`. Default: -inf,-18,0.
    #[arg(long, value_name = "LIST", default_value = "-inf,-18,0", value_parser = |t: &str| Ridge::parse_ln(t).map(RidgeList))]
    ln_rho: RidgeList,
    /// Write every fit (degree, ln ρ, E_RMS, coefficients) to this CSV file.
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Write the points (set, x, t; training then test) to this CSV file.
    #[arg(long, value_name = "FILE")]
    points: Option<PathBuf>,
    /// Write fits.svg, erms.svg and rho.svg (PRML Fig. 1.4, 1.5, 1.8) into
    /// this folder.
    #[arg(long, value_name = "DIR")]
    svg: Option<PathBuf>,
    /// Also fit each degree with depthlab's own optimizer (Adam, lr 0.01,
    /// full batch) for STEPS steps and compare with the exact fits.
    #[arg(long, value_name = "STEPS", value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    train: Option<u64>,
}

/// `--degrees`: the polynomial degrees to fit.
#[derive(Clone, Debug)]
struct Degrees(Vec<usize>);

/// The largest degree `--degrees` accepts: beyond it f64 Vandermonde
/// columns on [0, 1] are indistinguishable.
const MAX_DEGREE: usize = 30;

fn parse_degrees(text: &str) -> Result<Degrees, String> {
    commands::whole_numbers(text, MAX_DEGREE).map(Degrees)
}

fn parse_noise(text: &str) -> Result<f64, String> {
    commands::non_negative(text).map_err(|e| format!("{e}: not a noise std"))
}

/// `--rho` or `--ln-rho`: the ridge terms.
#[derive(Clone, Debug)]
struct RidgeList(Vec<Ridge>);

#[derive(Args)]
#[command(after_help = "Examples:
  depthlab bench relu-he --threads 1                 the step of 20 ReLU layers on one thread
  depthlab bench --net \"input 1024; dense 1024 relu x4; dense 10; train batch=256\" --threads 2
  depthlab bench my.net --steps 1000 --batch 64
  depthlab bench relu-he --statistics --probe 100    what a probe measurement costs")]
struct BenchArgs {
    #[command(flatten)]
    spec: SpecArgs,
    /// Examples per step (overrides `train batch=`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    batch: Option<u32>,
    /// Timed steps, after a warm-up of at least 10 steps and 0.3 s.
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    steps: u32,
    /// Also time the probe statistics as `train --stats-every` measures
    /// them in line (forward, backward and statistics of --probe rows, on
    /// the same threads): per measurement, in training steps, and as a
    /// share of 100 steps, with its time by step kind. `train` measures on
    /// a core of its own when it can, which costs its steps less.
    #[arg(long)]
    statistics: bool,
    /// Examples in the probe batch --statistics measures (as `train
    /// --probe`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), requires = "statistics")]
    probe: Option<u32>,
}

#[derive(Args)]
struct CheckArgs {
    #[command(flatten)]
    spec: SpecArgs,
    /// Rows per step of the plan. Default: 300 (the probe), or with
    /// --train the spec's `train batch=`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    batch: Option<u32>,
    /// Print the training step's plan (forward, loss, backward and the
    /// fused optimizer updates) instead of the statistics plan.
    #[arg(long)]
    train: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum HistArg {
    Act,
    Delta,
    Both,
}

impl From<HistArg> for Hist {
    fn from(h: HistArg) -> Hist {
        match h {
            HistArg::Act => Hist::Act,
            HistArg::Delta => Hist::Delta,
            HistArg::Both => Hist::Both,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Table,
    Json,
    Csv,
}

/// The version line, with the SIMD features this build was compiled for
/// (kernels pick instructions at compile time).
fn version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        let features: Vec<&str> = [
            (cfg!(target_feature = "avx512f"), "avx512f"),
            (cfg!(target_feature = "avx2"), "avx2"),
            (cfg!(target_feature = "fma"), "fma"),
            (cfg!(target_feature = "sse2"), "sse2"),
            (cfg!(target_feature = "neon"), "neon"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        format!(
            "{} (simd: {})",
            env!("CARGO_PKG_VERSION"),
            if features.is_empty() {
                "none".into()
            } else {
                features.join(" ")
            }
        )
    })
}

/// `train`'s thread count when `--threads` is not given (see
/// [`depthlab::train::measured_threads`]), saying so on stderr when one
/// thread won.
fn measured_threads(spec: &Spec, resources: Resources, quiet: bool) -> Result<usize, Error> {
    let choice = depthlab::train::measured_threads(spec, resources)?;
    if let Some(ratio) = choice.ratio
        && choice.threads < resources.threads
        && !quiet
    {
        eprintln!(
            "depthlab: training on 1 thread: {} threads measured {ratio:.2}× its step time for this network on this machine (--threads N to choose)",
            resources.threads
        );
    }
    Ok(choice.threads)
}

fn run(cli: Cli) -> Result<String, Error> {
    match cli.command {
        Command::Stats(a) => {
            let spec = a.spec.load()?;
            let opts = a.spec.options(&spec, a.probe, a.saturation)?;
            let out = StatsOutput {
                format: match a.format {
                    FormatArg::Table => Format::Table,
                    FormatArg::Json => Format::Json,
                    FormatArg::Csv => Format::Csv,
                },
                hist: a.hist.map(Hist::from),
                dump: a.dump,
                svg: a.svg,
            };
            commands::stats(&spec, &opts, a.steps, &out)
        }
        Command::Train(a) => {
            let spec = a.spec.load_with(a.training.overrides())?;
            let mut opts = a.spec.options(&spec, a.probe, a.saturation)?;
            // More than one core given: one that training leaves idle can
            // measure the probe statistics meanwhile.
            opts.spare_core = opts.resources.threads > 1;
            if a.spec.threads.is_none() {
                opts.resources.threads = measured_threads(&spec, opts.resources, a.quiet)?;
            }
            let files = TrainFiles {
                out: a.out,
                save: a.save,
                resume: a.resume,
                allow_spec_change: a.allow_spec_change,
                overwrite: a.overwrite,
                hist: a.hist.map(Hist::from),
                stats_every: a.stats_every,
                tensorboard: a.tensorboard,
                print_every: a.print_every.map(|k| k as usize),
                quiet: a.quiet,
            };
            commands::train(&spec, &opts, &files)
        }
        Command::Check(a) => {
            let spec = a.spec.load()?;
            let batch = match (a.batch, a.train) {
                (Some(b), _) => b as usize,
                (None, true) => spec.train.batch,
                (None, false) => DEFAULT_ROWS,
            };
            commands::check(&spec, batch, a.train, a.spec.resources())
        }
        Command::Examples(a) => match a.name {
            Some(name) => commands::example_text(&name),
            None => Ok(commands::list_examples()),
        },
        Command::Capacity(a) => a.run(),
        Command::Sweep(a) => a.run(),
        Command::Report(a) => commands::report(&ReportOptions {
            files: a.files,
            rows: a.rows,
            metrics: a.metric,
            csv: a.csv,
            svg: a.svg,
        }),
        Command::Poly(a) => a.run(),
        Command::Bench(a) => {
            let spec = a.spec.load_with(Overrides {
                batch: a.batch.map(|b| b as usize),
                ..Overrides::default()
            })?;
            let opts = a.spec.options(&spec, a.probe, 0.99)?;
            commands::bench(
                &spec,
                &opts,
                &BenchOptions {
                    steps: a.steps as usize,
                    statistics: a.statistics,
                },
            )
        }
    }
}

impl CapacityArgs {
    fn run(mut self) -> Result<String, Error> {
        if self.spec.spec.is_none() && self.spec.net.is_none() {
            self.spec.spec = Some("overfit-poly".into());
        }
        let spec = self.spec.load_with(self.training.overrides())?;
        let opts = self
            .spec
            .options(&spec, None, StatsConfig::default().saturation)?;
        let c = CapacityOptions {
            knob: self.vary,
            seeds: self.seeds,
            csv: self.csv,
            svg: self.svg,
            quiet: self.quiet,
        };
        commands::capacity(&spec, &opts, &c)
    }
}

impl SweepArgs {
    fn run(self) -> Result<String, Error> {
        let spec = self.spec.load()?;
        let shard = match self.shard {
            Some(shard) => Some(shard),
            None => Shard::from_slurm(|k| std::env::var(k).ok())
                .map_err(|e| Error::Spec(spec.source.error_whole(e)))?,
        };
        let mut opts = self
            .spec
            .options(&spec, self.probe, StatsConfig::default().saturation)?;
        if self.spec.threads.is_none() && (self.jobs > 1 || self.worker_points.is_some()) {
            opts.resources.threads = 1;
        }
        // A worker runs `sweep` as given, then these (later flags win).
        let mut worker_args: Vec<String> = std::env::args().skip(1).collect();
        worker_args.extend(["--jobs".into(), "1".into(), "--quiet".into()]);
        let s = SweepOptions {
            axes: self.vary,
            train: self.train,
            out: self.out,
            jobs: self.jobs as usize,
            shard,
            worker_points: self.worker_points,
            worker_args,
            quiet: self.quiet,
        };
        commands::sweep(&spec, &opts, &s)
    }
}

impl PolyArgs {
    fn run(self) -> Result<String, Error> {
        commands::poly(&PolyOptions {
            setting: Setting {
                n: self.n as usize,
                test: self.test as usize,
                noise: self.noise,
                seed: self.seed,
                grid: self.grid,
            },
            degrees: self.degrees.0,
            ridge: self.rho.unwrap_or(self.ln_rho).0,
            csv: self.csv,
            points: self.points,
            svg: self.svg,
            train_steps: self.train,
        })
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = run(cli).and_then(|out| {
        // Output that does not arrive (a full disk, /dev/full) is a
        // failure, not a success with truncated output.
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(out.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|error| Error::Write {
                path: std::path::PathBuf::from(depthlab::files::STDOUT),
                error,
            })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that closed the pipe (`| head`) wanted no more: not an
        // error (everything else the command wrote is in place).
        Err(Error::Write { error, .. }) if error.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
