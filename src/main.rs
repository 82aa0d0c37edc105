//! The `depthlab` command line: flag parsing and printing only; the work is
//! in the library (`depthlab::commands`).

// See lib.rs: errors are built once, on the way out.
#![allow(clippy::result_large_err)]

use clap::{Args, Parser, Subcommand, ValueEnum};
use depthlab::commands::{self, Format, StatsOptions};
use depthlab::error::Error;
use depthlab::plan::DEFAULT_MEMORY_LIMIT;
use depthlab::spec::{Overrides, Spec};
use depthlab::stats::StatsConfig;
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
  depthlab check my.net                      the compiled plan: shapes, arena bytes, FLOPs, steps
  depthlab examples                          list the built-in example specs

Exit codes: 0 success, 1 an output could not be written, 2 bad spec, flag or input file.";

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
    /// then the vanishing factor std(δ_1)/std(δ_L) and warnings.
    Stats(StatsArgs),
    /// Print the compiled plan: layer shapes, parameters, arena bytes,
    /// FLOPs per step and the list of steps.
    Check(CheckArgs),
    /// List the built-in example specs and what each shows.
    Examples,
}

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
    /// count). Default: the available cores.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    threads: Option<u32>,
    /// Refuse networks whose arena would exceed this many GiB.
    #[arg(long, value_name = "GIB", default_value_t = (DEFAULT_MEMORY_LIMIT >> 30) as f64)]
    memory_limit: f64,
}

impl SpecArgs {
    fn load(&self) -> Result<Spec, Error> {
        let overrides = Overrides {
            act: self.act.clone(),
            init: self.init.clone(),
            depth: self.depth.map(|d| d as usize),
            width: self.width.map(|w| w as usize),
            seed: self.seed,
        };
        commands::load_spec(self.spec.as_deref(), self.net.as_deref(), &overrides)
    }

    fn threads(&self) -> usize {
        self.threads.map_or_else(
            || std::thread::available_parallelism().map_or(1, |n| n.get()),
            |t| t as usize,
        )
    }

    fn memory_limit(&self) -> u64 {
        (self.memory_limit.max(0.0) * (1u64 << 30) as f64) as u64
    }
}

#[derive(Args)]
struct StatsArgs {
    #[command(flatten)]
    spec: SpecArgs,
    /// Examples in the probe batch (Glorot & Bengio used 300).
    #[arg(long, value_name = "N", default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..))]
    probe: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    format: FormatArg,
    /// Also print a Unicode histogram of δ for every layer.
    #[arg(long)]
    hist: bool,
    /// Write weights.safetensors, probe.safetensors and grads.safetensors
    /// into DIR (see the README for the tensor names).
    #[arg(long, value_name = "DIR")]
    dump: Option<PathBuf>,
    /// Saturation threshold t: tanh/softsign saturate when |a| > t, sigmoid
    /// when a < 1-t or a > t.
    #[arg(long, value_name = "T", default_value_t = 0.99)]
    saturation: f64,
}

#[derive(Args)]
struct CheckArgs {
    #[command(flatten)]
    spec: SpecArgs,
    /// Rows per step of the plan.
    #[arg(long, value_name = "N", default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..))]
    batch: u32,
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

fn run(cli: Cli) -> Result<String, Error> {
    match cli.command {
        Command::Stats(a) => {
            let spec = a.spec.load()?;
            if !(0.5..1.0).contains(&a.saturation) {
                return Err(Error::Spec(spec.source.error_whole(format!(
                    "--saturation must be in [0.5, 1), found {}",
                    a.saturation
                ))));
            }
            let opts = StatsOptions {
                probe: a.probe as usize,
                config: StatsConfig {
                    saturation: a.saturation,
                },
                memory_limit: a.spec.memory_limit(),
                threads: a.spec.threads(),
            };
            let format = match a.format {
                FormatArg::Table => Format::Table,
                FormatArg::Json => Format::Json,
                FormatArg::Csv => Format::Csv,
            };
            commands::stats(&spec, &opts, format, a.hist, a.dump.as_deref())
        }
        Command::Check(a) => {
            let spec = a.spec.load()?;
            commands::check(
                &spec,
                a.batch as usize,
                a.spec.memory_limit(),
                a.spec.threads(),
            )
        }
        Command::Examples => Ok(commands::list_examples()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(out) => {
            // A closed pipe (`| head`) is not an error worth a message.
            let _ = std::io::stdout().lock().write_all(out.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
