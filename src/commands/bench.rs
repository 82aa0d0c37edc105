//! `depthlab bench`: times the training step of a spec on this machine, as
//! a share of its FMA peak measured on the spot, with the time by step kind.
//!
//! The step timed is the executor's: forward, loss, backward and the
//! optimizer update on one batch of the spec's data, held in place (no
//! data copying, evaluation or statistics), as JAX and PyTorch peers time
//! their jitted or eager step. GFLOP/s counts 6·batch·Σ fan_in·units, the
//! three matrix products of every layer.

use crate::error::Error;
use crate::exec::Executor;
use crate::report::align;
use crate::spec::Spec;
use crate::stats::median;
use crate::train::{Options, Trainer, probe_executor};
use depthlab_kernels::peak::measure_peak;
use std::fmt::Write as _;
use std::time::Instant;

/// What `depthlab bench` runs.
#[derive(Clone, Copy, Debug)]
pub struct BenchOptions {
    /// Timed steps (after the warm-up).
    pub steps: usize,
    /// Also time a probe measurement (`probe_report`).
    pub statistics: bool,
}

/// The statistics of a sample of step times, in seconds.
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

impl Spread {
    fn of(mut v: Vec<f64>) -> Spread {
        let median = median(&mut v);
        Spread {
            median,
            min: v[0],
            max: v[v.len() - 1],
        }
    }
}

/// `depthlab bench`: the report.
pub fn bench(spec: &Spec, opts: &Options, b: &BenchOptions) -> Result<String, Error> {
    let mut trainer = Trainer::new(spec, opts)?;
    // One real step puts the first batch in place (and allocates anything
    // lazy); the timed steps reuse it.
    trainer.train_step(&mut |_| {})?;
    let exec = trainer.executor_mut();
    let threads = exec.plan().threads;
    let kinds = step_kinds(exec);
    // Warm-up: caches, the workers' spin state, the CPU's clock.
    let warm = Instant::now();
    let mut warm_steps = 0;
    while warm_steps < 10 || (warm.elapsed().as_secs_f64() < 0.3 && warm_steps < 10_000) {
        exec.run();
        warm_steps += 1;
    }
    let mut times = Vec::with_capacity(b.steps);
    let split_before = exec.ways();
    for _ in 0..b.steps {
        let t = Instant::now();
        exec.run();
        times.push(t.elapsed().as_secs_f64());
    }
    let split_note = match (split_before, exec.ways()) {
        (Some(before), Some(after)) => {
            let split = after.split.0 - before.split.0;
            format!(" (split on {split} of them, the rest on one)")
        }
        _ => String::new(),
    };
    // A second pass, profiled step by step (the clock adds a little).
    let mut ns = vec![0u64; kinds.len()];
    let profiled = Instant::now();
    for _ in 0..b.steps {
        exec.run_profiled(&mut ns);
    }
    let profiled = profiled.elapsed().as_secs_f64();
    let peak = measure_peak(2_000_000, 5);
    let graph = &exec.plan().graph;
    let batch = exec.plan().batch;
    let flops = graph
        .forward_flops(batch)
        .map_or(f64::NAN, |f| 3.0 * f as f64);
    let t = Spread::of(times);
    let gflops = flops / t.median / 1e9;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "depthlab bench: {} — batch {batch}, {threads} thread(s), {} timed steps{split_note} after {warm_steps} warm-up{}",
        spec.label(),
        b.steps,
        cpu_model().map_or(String::new(), |m| format!("; {m}"))
    );
    let _ = writeln!(
        out,
        "step: median {:.1} µs (min {:.1}, max {:.1}); {:.1} GFLOP/s (6·batch·Σ in·out = {:.3} MFLOP a step)",
        1e6 * t.median,
        1e6 * t.min,
        1e6 * t.max,
        gflops,
        flops / 1e6
    );
    let _ = writeln!(
        out,
        "{:.1} % of the FMA peak of {threads} thread{} ({:.1} GFLOP/s a thread, measured now)",
        100.0 * gflops * 1e9 / (peak * threads as f64),
        if threads == 1 { "" } else { "s" },
        peak / 1e9,
    );
    let _ = write!(out, "\ntime by step kind ({} profiled steps)\n", b.steps);
    out.push_str(&shares(&kinds, &ns, profiled));
    if b.statistics {
        let graph = &trainer.executor().plan().graph;
        let probe = probe_executor(spec, graph, trainer.data(), opts)?;
        out.push_str(&probe_report(probe, spec.train.seed, t.median));
    }
    Ok(out)
}

/// The kinds of the steps [`Executor::run_profiled`] times; those of the
/// one-thread plan a split plan runs for the steps it does not split (see
/// `Plan::alone`) apart.
fn step_kinds(exec: &Executor) -> Vec<String> {
    let split_plan = exec.plan().steps.len();
    let steps = exec.profiled_steps();
    let kinds = steps.iter().enumerate().map(|(i, s)| {
        if i < split_plan {
            s.kind().to_owned()
        } else {
            format!("{}, in a step run unsplit", s.kind())
        }
    });
    kinds.collect()
}

/// Times probe measurements as `train --stats-every` makes them in line
/// (forward, backward and statistics of the probe's rows, on the same
/// threads), at the initial weights: at least 3 after a warm-up of 2, up
/// to 20 or half a second; with their time by step kind and what they
/// cost every 100 training steps of `step` seconds.
fn probe_report(mut probe: Executor, seed: u64, step: f64) -> String {
    probe.init_params(seed);
    let kinds = step_kinds(&probe);
    for _ in 0..2 {
        probe.run();
    }
    let (mut times, mut ns) = (Vec::new(), vec![0u64; kinds.len()]);
    let started = Instant::now();
    while times.len() < 3 || (times.len() < 20 && started.elapsed().as_secs_f64() < 0.5) {
        let t = Instant::now();
        probe.run_profiled(&mut ns);
        times.push(t.elapsed().as_secs_f64());
    }
    let (n, profiled) = (times.len(), started.elapsed().as_secs_f64());
    let t = Spread::of(times);
    // A measurement of s steps' time costs s % of 100 steps.
    let steps = t.median / step;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nprobe statistics of {} rows, in line on these threads at the initial weights: median {:.1} µs (min {:.1}, max {:.1}), {steps:.1} training steps; every 100 steps {steps:.1} % of their time",
        probe.plan().batch,
        1e6 * t.median,
        1e6 * t.min,
        1e6 * t.max,
    );
    let _ = write!(out, "\ntime by step kind ({n} profiled measurements)\n");
    out.push_str(&shares(&kinds, &ns, profiled));
    out
}

/// The share of the profiled time per step kind, largest first, and the
/// rest (dispatch between steps and the clock itself).
fn shares(steps: &[String], ns: &[u64], total: f64) -> String {
    let mut kinds: Vec<(&str, u64, usize)> = Vec::new();
    // (Kinds never run, such as those of the way a split plan did not
    // take, are left out.)
    for (s, &t) in steps.iter().zip(ns).filter(|(_, t)| **t > 0) {
        match kinds.iter_mut().find(|(k, ..)| k == s) {
            Some((_, sum, count)) => {
                *sum += t;
                *count += 1;
            }
            None => kinds.push((s, t, 1)),
        }
    }
    kinds.sort_by_key(|&(_, t, _)| std::cmp::Reverse(t));
    let total_ns = total * 1e9;
    let measured: u64 = ns.iter().sum();
    let mut rows = vec![vec!["kind".to_owned(), "steps".into(), "share".into()]];
    for (k, t, count) in kinds {
        rows.push(vec![
            k.to_owned(),
            count.to_string(),
            format!("{:.1} %", 100.0 * t as f64 / total_ns),
        ]);
    }
    rows.push(vec![
        "dispatch and timing between steps".to_owned(),
        String::new(),
        format!(
            "{:.1} %",
            100.0 * (total_ns - measured as f64).max(0.0) / total_ns
        ),
    ]);
    align(&rows, &[0])
}

/// The CPU's model name (/proc/cpuinfo), if known.
fn cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("model name"))?;
    Some(line.split_once(':')?.1.trim().to_owned())
}
