//! How far this machine lets two threads speed up a training step split
//! by rows, with the kernels alone (no executor, no statistics):
//!
//! ```sh
//! taskset -c 0,1 cargo bench --bench threads
//! ```
//!
//! The layers are config B's hidden ones (`bench/peers`: 256 units, batch
//! 128; 11 of them), a step their forward products, then from the top
//! layer down ∂x, ∂W and W's SGD update. Each variant runs the same steps
//! on one pool split over two threads and unsplit (every part on the
//! calling thread, in turn), in interleaved samples, and the table gives
//! the median of the per-pair speed-ups for each pass and the step:
//!
//! - **by the batch's rows**, as `depthlab` splits: each thread its rows
//!   of x and δ through every layer, and its rows of ∂W (units), for
//!   which it reads every row of δ and x, half of them written by the
//!   other core; the forward and ∂x read all of W, half of which the other
//!   core wrote in its update;
//! - the same **without the update**: W only read, so what this column
//!   gains over the first is what W's crossing costs;
//! - **by the units' rows**, x and δ stored transposed (units, batch): each
//!   thread its rows of W, ∂W and x; its forward (W·xᵀ, NN) reads only
//!   the rows of W it updates, and half of x from the other core; ∂x
//!   (Wᵀ·δᵀ, TN) half of W's rows and of δ; ∂W half of x.
//!
//! The last line compares the two splits' step times, on one thread and on
//! two. `depthlab bench SPEC --threads 2` against `--threads 1` measures
//! the whole executor.

use std::ops::Range;
use std::time::Instant;

use depthlab::arena::Pool;
use depthlab_kernels::gemm::{Operands, gemm_nn_rows, gemm_nt_rows, gemm_tn_rows};
use depthlab_kernels::update::{Sgd, sgd_update};

mod common;
use common::{Layout, bench_sgd, fill};

const LAYERS: usize = 11;
const UNITS: usize = 256;
const BATCH: usize = 128;
/// Steps a sample, and interleaved pairs of samples.
const STEPS: usize = 8;
const PAIRS: usize = 31;

/// One layer's buffers: its input x (the output of the one below), W and
/// its momentum, ∂W, and δ at its input (∂x of the layer, the δ of the
/// one below).
struct Layer {
    x: Vec<f32>,
    w: Vec<f32>,
    momentum: Vec<f32>,
    dw: Vec<f32>,
    dx: Vec<f32>,
}

/// Which rows the threads split: the batch's (each thread its rows of x
/// and δ through every layer, as `depthlab` does: x and δ stored (batch,
/// units)), or the units' (each its rows of W, of x and δ stored
/// transposed, (units, batch), and of ∂W: a thread reads only the rows of W
/// it updates).
#[derive(Clone, Copy)]
enum Split {
    Batch,
    Units,
}

struct Net {
    split: Split,
    layers: Vec<Layer>,
    /// The top layer's output, and δ there.
    out: Vec<f32>,
    delta: Vec<f32>,
    sgd: Sgd,
}

impl Net {
    fn new(split: Split) -> Net {
        let matrix = |seed, scale: f32| fill(UNITS * UNITS, seed, -scale, scale);
        let layers = (0..LAYERS)
            .map(|l| Layer {
                x: fill(BATCH * UNITS, 100 + l as u32, -1.0, 1.0),
                w: matrix(l as u32, 1.0 / 16.0),
                momentum: matrix(50 + l as u32, 1e-3),
                dw: vec![0.0; UNITS * UNITS],
                dx: vec![0.0; BATCH * UNITS],
            })
            .collect();
        Net {
            split,
            layers,
            out: vec![0.0; BATCH * UNITS],
            delta: fill(BATCH * UNITS, 7, -1e-2, 1e-2),
            sgd: bench_sgd(),
        }
    }

    /// x·Wᵀ by the batch's rows (NT), or W·xᵀ by the units' (NN).
    fn forward(&mut self, pool: &Pool) {
        for l in 0..LAYERS {
            let (below, above) = self.layers.split_at_mut(l + 1);
            let layer = &below[l];
            let out = above.first_mut().map_or(&mut self.out, |next| &mut next.x);
            let (layout, (a, b)) = match self.split {
                Split::Batch => (Layout::Nt, (&layer.x, &layer.w)),
                Split::Units => (Layout::Nn, (&layer.w, &layer.x)),
            };
            self.split.product(pool, out, layout, a, b);
        }
    }

    /// δ·W by the batch's rows (NN), or Wᵀ·δᵀ by the units' (TN); then
    /// ∂W = δᵀ·x by its rows (TN, or NT from the transposed δ and x), and
    /// W's update when `update`.
    fn backward(&mut self, pool: &Pool, update: bool) {
        for l in (0..LAYERS).rev() {
            let (below, above) = self.layers.split_at_mut(l + 1);
            let delta = above.first().map_or(&self.delta, |next| &next.dx);
            let Layer {
                x,
                w,
                momentum,
                dw,
                dx,
            } = &mut below[l];
            let ((layout, a, b), dw_layout) = match self.split {
                Split::Batch => ((Layout::Nn, delta, &*w), Layout::Tn),
                Split::Units => ((Layout::Tn, &*w, delta), Layout::Nt),
            };
            self.split.product(pool, dx, layout, a, b);
            let ops = Operands {
                a: delta,
                b: x,
                m: UNITS,
                k: BATCH,
                n: UNITS,
            };
            let sgd = &self.sgd;
            pool.split_rows_n([dw, w, momentum], UNITS, 2, |rows, [dw, w, m]| {
                rows_of(dw_layout, dw, ops, rows);
                if update {
                    sgd_update(w, m, dw, sgd);
                }
            });
        }
    }
}

impl Split {
    /// An activation-sized product of the split's rows, UNITS terms an
    /// element: C (batch, units) by the batch's rows, C (units, batch) by
    /// the units'.
    fn product(self, pool: &Pool, c: &mut [f32], layout: Layout, a: &[f32], b: &[f32]) {
        let (m, n) = match self {
            Split::Batch => (BATCH, UNITS),
            Split::Units => (UNITS, BATCH),
        };
        let ops = Operands {
            a,
            b,
            m,
            k: UNITS,
            n,
        };
        pool.split_rows_n([c], n, 2, |rows, [block]| rows_of(layout, block, ops, rows));
    }
}

/// Rows `rows` of C = op(A)·op(B) into `c`.
fn rows_of(layout: Layout, c: &mut [f32], ops: Operands, rows: Range<usize>) {
    match layout {
        Layout::Nn => gemm_nn_rows(c, ops, rows, 0.0),
        Layout::Tn => gemm_tn_rows(c, ops, rows, 0.0),
        Layout::Nt => gemm_nt_rows(c, ops, rows, 0.0),
    }
}

/// Seconds of the forward and the backward passes over [`STEPS`] steps.
fn sample(net: &mut Net, pool: &Pool, split: bool, update: bool) -> [f64; 2] {
    pool.set_split(split);
    let mut seconds = [0.0; 2];
    for _ in 0..STEPS {
        let t = Instant::now();
        net.forward(pool);
        let forward = t.elapsed().as_secs_f64();
        net.backward(pool, update);
        seconds[0] += forward;
        seconds[1] += t.elapsed().as_secs_f64() - forward;
    }
    seconds
}

fn main() {
    let pool = Pool::new(2);
    // (split, W updated): the executor's split, the same without W's
    // update, and the units' split.
    let variants = [
        (Split::Batch, true),
        (Split::Batch, false),
        (Split::Units, true),
    ];
    let mut nets = variants.map(|(split, _)| Net::new(split));
    // Speed-ups [variant][forward, backward, step].
    let mut gains: [[Vec<f64>; 3]; 3] = Default::default();
    // Step time by the units' rows ÷ by the batch's, on 1 and 2 threads.
    let mut units_over_batch = [Vec::new(), Vec::new()];
    for round in 0..=PAIRS {
        let mut steps = [[0.0; 2]; 3];
        for (v, (net, &(_, update))) in nets.iter_mut().zip(&variants).enumerate() {
            let one = sample(net, &pool, false, update);
            let two = sample(net, &pool, true, update);
            let g = &mut gains[v];
            g[0].push(one[0] / two[0]);
            g[1].push(one[1] / two[1]);
            steps[v] = [one[0] + one[1], two[0] + two[1]];
            g[2].push(steps[v][0] / steps[v][1]);
        }
        if round == 0 {
            // The first round warms up.
            gains.iter_mut().flatten().for_each(Vec::clear);
            continue;
        }
        for t in 0..2 {
            units_over_batch[t].push(steps[2][t] / steps[0][t]);
        }
    }
    let median = |g: &mut Vec<f64>| depthlab::stats::median(g);
    println!(
        "{LAYERS} layers of {UNITS} units, batch {BATCH}: 2 threads against 1 on the same rows \
         (median of {PAIRS} interleaved pairs of {STEPS} steps)\n"
    );
    println!(
        "{:<28} {:>13} {:>15} {:>13}",
        "split by the rows of", "the batch", "(no update)", "the units"
    );
    let names = ["forward", "backward (∂x, ∂W, update)", "step"];
    for (i, name) in names.iter().enumerate() {
        let [a, b, c] = [0, 1, 2].map(|v| median(&mut gains[v][i]));
        println!("{name:<28} {a:>12.2}× {b:>14.2}× {c:>12.2}×");
    }
    let [one, two] = units_over_batch.map(|mut r| median(&mut r));
    println!(
        "\nstep time split by the units ÷ by the batch: {one:.3} on one thread, {two:.3} on two"
    );
}
