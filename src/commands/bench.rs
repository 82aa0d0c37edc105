//! `depthlab bench`: times the training step of a spec on this machine, as
//! a share of its FMA peak measured on the spot, with the time by step kind.
//!
//! The step timed is the executor's: forward, loss, backward and the
//! optimizer update on the next batch of the spec's data, as `train` runs
//! it (the batch is copied into place before the clock starts; no
//! evaluation or statistics), as JAX and PyTorch peers time their jitted
//! or eager step (on one batch held in place). One batch held in place
//! and trained on for hundreds of steps is fitted, and a fitted batch's
//! gradients fall into subnormal numbers (each a microcode assist on
//! x86), which training on the whole data meets much later or never: on
//! an Intel Xeon, `bench relu-he --threads 1` so timed 6.9–7.0 ms a step,
//! 3.0 ms with them flushed or with the batches taken in turn, while
//! `train relu-he` ran its 310 steps at the same speed with or without
//! flushing. Subnormals that training does meet are reported, with what
//! flushing them saves. GFLOP/s counts 6·batch·Σ fan_in·units, the
//! three matrix products of every layer.

use crate::error::Error;
use crate::exec::Executor;
use crate::report::align;
use crate::spec::Spec;
use crate::stats::median;
use crate::train::{Options, Trainer, probe_executor};
use depthlab_kernels::peak::measure_peak;
use depthlab_kernels::subnormal;
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
    // One whole step first: anything lazy is allocated.
    trainer.train_step(&mut |_| {})?;
    let threads = trainer.executor().plan().threads;
    let kinds = step_kinds(trainer.executor());
    // Warm-up: caches, the workers' spin state, the CPU's clock.
    let warm = Instant::now();
    let mut warm_steps = 0;
    while warm_steps < 10 || (warm.elapsed().as_secs_f64() < 0.3 && warm_steps < 10_000) {
        timed_step(&mut trainer);
        warm_steps += 1;
    }
    let split_before = trainer.executor().ways();
    let times: Vec<f64> = (0..b.steps).map(|_| timed_step(&mut trainer)).collect();
    let split_note = match (split_before, trainer.executor().ways()) {
        (Some(before), Some(after)) => {
            let split = after.split.0 - before.split.0;
            format!(" (split on {split} of them, the rest on one)")
        }
        _ => String::new(),
    };
    // A second pass, profiled step by step (the clock adds a little).
    let mut ns = vec![0u64; kinds.len()];
    let mut profiled = 0.0;
    for _ in 0..b.steps {
        profiled += timed(&mut trainer, |exec| exec.run_profiled(&mut ns));
    }
    let subnormal_cost = subnormal_cost(&mut trainer);
    let exec = trainer.executor();
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
    if let Some((ratio, n)) = subnormal_cost {
        out.push_str(&subnormal_line(ratio, n));
    }
    let _ = write!(out, "\ntime by step kind ({} profiled steps)\n", b.steps);
    out.push_str(&shares(&kinds, &ns, profiled));
    if b.statistics {
        let graph = &trainer.executor().plan().graph;
        let probe = probe_executor(spec, graph, trainer.data(), opts)?;
        out.push_str(&probe_report(probe, spec.train.seed, t.median));
    }
    Ok(out)
}

/// The seconds of the executor's training step on the next batch, with
/// the schedule's learning rate, as `train` runs it (the batch's copy into
/// place is not timed).
fn timed_step(trainer: &mut Trainer) -> f64 {
    timed(trainer, Executor::run)
}

/// [`timed_step`], the step run by `run` (profiled, say).
fn timed(trainer: &mut Trainer, run: impl FnOnce(&mut Executor)) -> f64 {
    trainer.load_batch();
    let t = Instant::now();
    run(trainer.executor_mut());
    t.elapsed().as_secs_f64()
}

/// Whether a training step on this thread reads or makes subnormal
/// numbers (unless the spec flushes them already), and if so what
/// flushing them does: the time of a flushed step over an IEEE one,
/// medians of at least 3 steps each way (up to 10, or a quarter of a
/// second of IEEE ones), and how many, after the timed and profiled
/// steps (training goes on: on config D of `bench/peers` with Adam these
/// IEEE steps took 8.5–9.2 ms, the timed ones before 11–33). The IEEE
/// steps first: a flushed step leaves zeros where the next would have
/// met subnormals. These steps run on this thread alone, whose modes are
/// the ones set (a worker's are its own).
fn subnormal_cost(trainer: &mut Trainer) -> Option<(f64, usize)> {
    if !subnormal::AVAILABLE || trainer.executor().plan().graph.flush_subnormals {
        return None;
    }
    trainer.executor_mut().hold_unsplit(true);
    subnormal::clear_seen();
    timed_step(trainer);
    let cost = subnormal::seen().then(|| {
        let mut ieee = Vec::new();
        let started = Instant::now();
        while ieee.len() < 3 || (ieee.len() < 10 && started.elapsed().as_secs_f64() < 0.25) {
            ieee.push(timed_step(trainer));
        }
        let _flushing = subnormal::Flushing::start();
        let mut flushed: Vec<f64> = ieee.iter().map(|_| timed_step(trainer)).collect();
        let n = ieee.len();
        (median(&mut flushed) / median(&mut ieee), n)
    });
    trainer.executor_mut().hold_unsplit(false);
    cost
}

/// What [`subnormal_cost`] found, as a line: flushing's gain when there is
/// one (a step at most 0.95× the time), else that there is none to speak
/// of (nets that fit their data meet a few subnormals at no cost).
fn subnormal_line(ratio: f64, n: usize) -> String {
    let measured = format!("{ratio:.2}× the time (medians of {n} steps each way)");
    if ratio <= 0.95 {
        format!(
            "subnormal numbers: the step reads or makes values below 1.2e-38, each a microcode \
             assist on x86; with them flushed to zero (`train flush_subnormals=true`, results no \
             longer IEEE's) a step on one thread took {measured}\n"
        )
    } else {
        format!(
            "subnormal numbers: the step meets a few values below 1.2e-38, at no cost to speak \
             of: with them flushed to zero (`train flush_subnormals=true`) a step on one thread \
             took {measured}\n"
        )
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A step flushing makes at most 0.95× as long is a gain, and the line
    /// says what subnormals cost; above, that they cost nothing to speak
    /// of. Both name the key and what was measured.
    #[test]
    fn the_subnormal_line_speaks_of_a_gain_only_when_there_is_one() {
        for (ratio, gain) in [(0.18, true), (0.95, true), (0.96, false), (1.02, false)] {
            let line = subnormal_line(ratio, 7);
            assert!(line.starts_with("subnormal numbers: ") && line.ends_with('\n'));
            assert!(line.contains("`train flush_subnormals=true`"), "{line}");
            assert!(
                line.contains(&format!(
                    "{ratio:.2}× the time (medians of 7 steps each way)"
                )),
                "{line}"
            );
            assert_eq!(line.contains("each a microcode assist"), gain, "{line}");
            assert_eq!(line.contains("at no cost to speak of"), !gain, "{line}");
        }
    }
}
