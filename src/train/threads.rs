//! The default thread count of `train`: measured, not assumed. Two
//! threads are not always faster than one: a network of small layers
//! splits products of a few MFLOP whose row blocks each thread then reads
//! and writes, and when the two cores share no cache (two vCPUs on
//! different dies of a shared host) moving those lines between them can
//! cost more than the second core gains (config D of `bench/peers`, 50
//! layers of 128 units at batch 64: 0.78× the one-thread speed on one
//! day's placement, 1.5× on another's, on the same machine kind). Results
//! are bit-identical for any thread count, so the choice is speed only.

use std::time::{Duration, Instant};

use crate::compile::Resources;
use crate::error::Error;
use crate::graph::Graph;
use crate::spec::Spec;

use super::setup::training_executor;

/// Time spent measuring, at most (beyond three steps of each).
const BUDGET: Duration = Duration::from_millis(300);
/// The split plan must be this much faster to be chosen.
const MARGIN: f64 = 0.9;

/// What [`measured_threads`] found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ThreadChoice {
    pub threads: usize,
    /// Median step time on `resources.threads` over that on one thread,
    /// when both were timed (`None`: nothing to split, or no room for the
    /// two extra arenas).
    pub ratio: Option<f64>,
}

/// The threads to train `spec` on when the user chose none: all of
/// `resources.threads` if the compiled step splits anything and runs
/// measurably faster that way (by `MARGIN`), else one. Times training
/// steps of two throwaway executors (the spec's initial weights, a batch
/// of zeros), two of each in turn with the second timed, for at most
/// `BUDGET` after a warm-up.
pub fn measured_threads(spec: &Spec, resources: Resources) -> Result<ThreadChoice, Error> {
    let all = ThreadChoice {
        threads: resources.threads,
        ratio: None,
    };
    if resources.threads <= 1 {
        return Ok(all);
    }
    let graph = Graph::check(spec)?;
    let batch = spec.train.batch;
    let mut split = training_executor(spec, &graph, batch, resources)?;
    let splits = split.plan().splits();
    // Three arenas at once (these two and the trainer's) must fit.
    let room = split.plan().arena_bytes().saturating_mul(3) <= resources.memory_limit;
    if !splits || !room {
        return Ok(all);
    }
    let one = Resources {
        threads: 1,
        ..resources
    };
    let mut single = training_executor(spec, &graph, batch, one)?;
    // Split every step: the point is to time the split.
    split.always_split();
    for _ in 0..2 {
        split.run();
        single.run();
    }
    // Two steps of each in turn, the second timed: the first after the
    // other executor's pays for the change (a parked worker woken, its
    // arena back in cache; D's first split steps took 1.2× the later
    // ones: see `arena::split`). Config D of `bench/peers` on an Intel
    // Xeon, timing every step alternately, went to one thread in 8 runs
    // of 14 (0.90–1.13×); so, in 2 of 14 (1.01, 1.04×), its split step
    // taking 0.82–0.93× of one thread's in `bench/peers/threads.sh`.
    let (mut t_split, mut t_single) = (Vec::new(), Vec::new());
    let started = Instant::now();
    while t_split.len() < 3 || (t_split.len() < 15 && started.elapsed() < BUDGET) {
        single.run();
        t_single.push(timed(|| single.run()));
        split.run();
        t_split.push(timed(|| split.run()));
    }
    let ratio = crate::stats::median(&mut t_split) / crate::stats::median(&mut t_single);
    Ok(ThreadChoice {
        threads: if ratio < MARGIN { resources.threads } else { 1 },
        ratio: Some(ratio),
    })
}

/// Seconds `f` took.
fn timed(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}
