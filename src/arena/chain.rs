//! Several steps in one call of the workers: a [`Chain`] says which parts
//! of the arena each step writes and reads, is checked once, and then
//! lends every part of every call its own blocks ([`Pool::run_chain`]).
//!
//! Two ways to divide a chain's work:
//! * [`Division::Rows`]: part i runs every step, in order, on row block i
//!   of every matrix. Steps that only combine a row with the same row of
//!   the step before (a layer's product x·Wᵀ with its epilogue, the next
//!   layer's on its output; the backward δ·W down the layers) need no
//!   wait between them: a deep narrow net's forward pass is one call
//!   instead of one a layer (config D of `bench/peers`: 50 layers of 128
//!   units, ~10 µs of product per thread a layer against ~1 µs a call).
//! * [`Division::Blocks`]: step s is split into its own row blocks, and
//!   every step's blocks are claimed from one list: independent steps
//!   (every layer's ∂W once the ∂x chain is done) in one call.
//!
//! The rules checked by [`Chain::new`] are what makes lending sound: no
//! part ever holds a block another part may write at the same time.

use super::pool::{Pool, block_bounds};
use std::ops::Range;

/// Most written matrices, row-blocked reads and whole reads of one step.
pub const MAX_WRITE: usize = 4;
pub const MAX_READ: usize = 2;
pub const MAX_WHOLE: usize = 2;

/// A matrix in the arena: `range` holds rows of `row_len` floats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matrix {
    pub range: Range<usize>,
    pub row_len: usize,
}

impl Matrix {
    fn rows(&self) -> usize {
        self.range.len().checked_div(self.row_len).unwrap_or(0)
    }

    /// Arena range of rows `r`.
    fn block(&self, r: &Range<usize>) -> Range<usize> {
        self.range.start + r.start * self.row_len..self.range.start + r.end * self.row_len
    }
}

/// What one step of a chain writes and reads: matrices by row blocks (a
/// part touches only its rows), and buffers every part reads whole.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Access {
    pub write: Vec<Matrix>,
    pub read: Vec<Matrix>,
    pub whole: Vec<Range<usize>>,
}

/// How a chain's work is divided into parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Division {
    /// Part i runs every step in order on row block i (of `parts`) of
    /// every matrix; all have `rows` rows.
    Rows { rows: usize, parts: usize },
    /// Step s runs as `parts[s]` row blocks of its own matrices (all of a
    /// step's have the same rows); any block of any step is a part.
    Blocks(Vec<usize>),
}

/// The blocks one part of one step works on: `write[i]`, `read[i]` are
/// row blocks of the step's [`Access`] lists (empty past their ends),
/// `whole[i]` its whole buffers, `rows` the block's rows.
pub struct Views<'a> {
    pub write: [&'a mut [f32]; MAX_WRITE],
    pub read: [&'a [f32]; MAX_READ],
    pub whole: [&'a [f32]; MAX_WHOLE],
    pub rows: Range<usize>,
}

/// Steps checked to run together (see [`Chain::new`]).
#[derive(Clone, Debug)]
pub struct Chain {
    steps: Vec<Access>,
    division: Division,
    arena_len: usize,
}

fn overlap(a: &Range<usize>, b: &Range<usize>) -> bool {
    !a.is_empty() && !b.is_empty() && a.start < b.end && b.start < a.end
}

impl Chain {
    /// The chain of `steps` divided as `division`, over an arena of
    /// `arena_len` floats, or why it cannot be run in parts:
    /// * every range lies in the arena, every matrix has whole rows (its
    ///   division's row count), and a step has at most [`MAX_WRITE`],
    ///   [`MAX_READ`], [`MAX_WHOLE`] of each;
    /// * within a step, what it writes overlaps nothing else it names;
    /// * [`Division::Rows`]: a written matrix overlaps nothing any step
    ///   reads whole, and any matrix it overlaps is the same one (same
    ///   range and row length: the same rows go to the same part);
    /// * [`Division::Blocks`]: a step's writes overlap nothing another
    ///   step names (their blocks run at the same time).
    pub fn new(steps: Vec<Access>, division: Division, arena_len: usize) -> Result<Chain, String> {
        if let Division::Blocks(parts) = &division
            && (parts.len() != steps.len() || parts.contains(&0))
        {
            return Err(format!("{} steps, part counts {parts:?}", steps.len()));
        }
        for (s, step) in steps.iter().enumerate() {
            check_step(s, step, &division, arena_len)?;
        }
        for (s, step) in steps.iter().enumerate() {
            for w in &step.write {
                for (t, other) in steps.iter().enumerate() {
                    let named = other.write.iter().chain(&other.read);
                    match division {
                        Division::Rows { .. } => {
                            if other.whole.iter().any(|r| overlap(r, &w.range)) {
                                return Err(format!("step {t} reads whole what step {s} writes"));
                            }
                            if named
                                .into_iter()
                                .any(|m| overlap(&m.range, &w.range) && m != w)
                            {
                                return Err(format!(
                                    "step {t} names part of a matrix step {s} writes"
                                ));
                            }
                        }
                        Division::Blocks(_) if t != s => {
                            let ranges = named.map(|m| &m.range).chain(&other.whole);
                            if ranges.into_iter().any(|r| overlap(r, &w.range)) {
                                return Err(format!("step {t} names what step {s} writes"));
                            }
                        }
                        Division::Blocks(_) => {}
                    }
                }
            }
        }
        Ok(Chain {
            steps,
            division,
            arena_len,
        })
    }

    /// Parts of one call: the row blocks, or every step's blocks.
    pub fn parts(&self) -> usize {
        match &self.division {
            Division::Rows { parts, .. } => *parts,
            Division::Blocks(parts) => parts.iter().sum(),
        }
    }
}

/// The rows of a step's matrices (all have the same; 0 without any).
fn step_rows(step: &Access) -> usize {
    step.write
        .iter()
        .chain(&step.read)
        .next()
        .map_or(0, Matrix::rows)
}

/// The rules of one step on its own (see [`Chain::new`]).
fn check_step(
    s: usize,
    step: &Access,
    division: &Division,
    arena_len: usize,
) -> Result<(), String> {
    if step.write.len() > MAX_WRITE || step.read.len() > MAX_READ || step.whole.len() > MAX_WHOLE {
        return Err(format!("step {s} names too many buffers"));
    }
    let matrices = || step.write.iter().chain(&step.read);
    let rows = match division {
        Division::Rows { rows, .. } => *rows,
        Division::Blocks(_) => step_rows(step),
    };
    for m in matrices() {
        if m.range.end > arena_len || m.rows() != rows || m.rows() * m.row_len != m.range.len() {
            return Err(format!(
                "step {s}: {m:?} is not {rows} whole rows in the arena"
            ));
        }
    }
    if step.whole.iter().any(|r| r.end > arena_len) {
        return Err(format!("step {s} reads outside the arena"));
    }
    for (i, w) in step.write.iter().enumerate() {
        let others = step
            .write
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(_, m)| &m.range);
        let mut named = others
            .chain(step.read.iter().map(|m| &m.range))
            .chain(&step.whole);
        if named.any(|r| overlap(r, &w.range)) {
            return Err(format!("step {s} writes a buffer it also names"));
        }
    }
    Ok(())
}

/// Views of `step`'s rows `rows` in the arena at `base`.
///
/// # Safety
/// `base` points to the arena of the chain `step` belongs to, and no
/// other live reference touches what this part's blocks of `step` write
/// (what [`Chain::new`] checked, for parts that run different rows or
/// steps as their division says).
unsafe fn views<'a>(base: *mut f32, step: &Access, rows: Range<usize>) -> Views<'a> {
    let mut write: [&mut [f32]; MAX_WRITE] = Default::default();
    for (v, m) in write.iter_mut().zip(&step.write) {
        let r = m.block(&rows);
        // SAFETY: in the arena (checked), and written by this part alone.
        *v = unsafe { std::slice::from_raw_parts_mut(base.add(r.start), r.len()) };
    }
    let mut read: [&[f32]; MAX_READ] = Default::default();
    for (v, m) in read.iter_mut().zip(&step.read) {
        let r = m.block(&rows);
        // SAFETY: in the arena; no part writes these rows meanwhile.
        *v = unsafe { std::slice::from_raw_parts(base.add(r.start), r.len()) };
    }
    let mut whole: [&[f32]; MAX_WHOLE] = Default::default();
    for (v, r) in whole.iter_mut().zip(&step.whole) {
        // SAFETY: in the arena; no step of the chain writes it.
        *v = unsafe { std::slice::from_raw_parts(base.add(r.start), r.len()) };
    }
    Views {
        write,
        read,
        whole,
        rows,
    }
}

impl Pool {
    /// Runs `chain` over `mem`: `f(step, views)` for each step and part as
    /// its division says, each part on whichever thread claims it (so a
    /// late worker costs nothing). Panics if `mem` is not the chain's
    /// arena length.
    pub fn run_chain(&self, mem: &mut [f32], chain: &Chain, f: impl Fn(usize, Views) + Sync) {
        assert_eq!(mem.len(), chain.arena_len, "the chain's arena");
        if !self.splits() {
            // On this thread alone: each step over all its rows, in order
            // (the bits of any row split), so that each W is read once,
            // not once a row block.
            for (s, step) in chain.steps.iter().enumerate() {
                let rows = match chain.division {
                    Division::Rows { rows, .. } => rows,
                    Division::Blocks(_) => step_rows(step),
                };
                // SAFETY: `mem` is borrowed mutably for the call, and each
                // step's writes overlap nothing else it names (Chain::new).
                f(s, unsafe { views(mem.as_mut_ptr(), step, 0..rows) });
            }
            return;
        }
        let base = mem.as_mut_ptr() as usize;
        let base = move || base as *mut f32;
        match &chain.division {
            Division::Rows { rows, parts } => self.run(*parts, &|i| {
                let r = block_bounds(*rows, *parts, i)..block_bounds(*rows, *parts, i + 1);
                for (s, step) in chain.steps.iter().enumerate() {
                    // SAFETY: `mem` is borrowed mutably until every part is
                    // done; part i alone touches rows `r` of what the steps
                    // write (Chain::new), and runs the steps in order.
                    f(s, unsafe { views(base(), step, r.clone()) });
                }
            }),
            Division::Blocks(parts) => self.run(chain.parts(), &|mut i| {
                let mut s = 0;
                while i >= parts[s] {
                    i -= parts[s];
                    s += 1;
                }
                let step = &chain.steps[s];
                let rows = step_rows(step);
                let r = block_bounds(rows, parts[s], i)..block_bounds(rows, parts[s], i + 1);
                // SAFETY: `mem` is borrowed mutably until every part is
                // done; block i of step s alone touches those rows of what
                // step s writes, which no other step names (Chain::new).
                f(s, unsafe { views(base(), step, r) });
            }),
        }
    }
}

#[cfg(test)]
// One buffer read whole is a one-range list here, not a mistaken range.
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;

    fn m(start: usize, len: usize, row_len: usize) -> Matrix {
        Matrix {
            range: start..start + len,
            row_len,
        }
    }

    /// Two layers of a forward chain: x (0..32) → s1 (32..64) → s2 (64..96),
    /// rows of 4, W1 and W2 read whole at 96.. and 112...
    fn forward() -> Vec<Access> {
        vec![
            Access {
                write: vec![m(32, 32, 4)],
                read: vec![m(0, 32, 4)],
                whole: vec![96..112],
            },
            Access {
                write: vec![m(64, 32, 4)],
                read: vec![m(32, 32, 4)],
                whole: vec![112..128],
            },
        ]
    }

    #[test]
    fn accepts_a_chain_of_row_local_steps_and_refuses_overlaps() {
        let rows = Division::Rows { rows: 8, parts: 2 };
        assert!(Chain::new(forward(), rows.clone(), 128).is_ok());
        // A step that reads whole what another writes.
        let mut bad = forward();
        bad[1].whole.push(40..48);
        assert!(Chain::new(bad, rows.clone(), 128).is_err());
        // The same storage seen with another row length.
        let mut bad = forward();
        bad[1].read[0].row_len = 2;
        bad[1].read[0].range = 32..48;
        assert!(Chain::new(bad, Division::Rows { rows: 8, parts: 2 }, 128).is_err());
        // A write overlapping the step's own read.
        let mut bad = forward();
        bad[0].read[0] = m(36, 32, 4);
        assert!(Chain::new(bad, rows.clone(), 128).is_err());
        // Outside the arena, or not the division's rows.
        assert!(Chain::new(forward(), rows, 120).is_err());
        assert!(Chain::new(forward(), Division::Rows { rows: 4, parts: 2 }, 128).is_err());
        // Blocks: steps run at once, so one step's read of another's write
        // is refused.
        assert!(Chain::new(forward(), Division::Blocks(vec![2, 2]), 128).is_err());
        let independent = vec![
            forward().remove(0),
            Access {
                write: vec![m(64, 32, 4)],
                read: vec![],
                whole: vec![0..32],
            },
        ];
        assert!(Chain::new(independent, Division::Blocks(vec![2, 3]), 128).is_ok());
    }

    /// Every row of every step is written once, after the step before it
    /// wrote that row (rows chains), on any thread count, split or alone.
    #[test]
    fn every_part_sees_its_rows_in_order() {
        for (threads, split) in [(1, true), (2, true), (3, true), (2, false)] {
            let pool = Pool::new(threads);
            pool.set_split(split);
            for parts in 1..=3 {
                let chain = Chain::new(forward(), Division::Rows { rows: 24, parts }, 300);
                assert!(chain.is_err(), "24 rows of 4 are 96 floats, not 32");
                let steps = vec![
                    Access {
                        write: vec![m(96, 96, 4)],
                        read: vec![m(0, 96, 4)],
                        whole: vec![288..300],
                    },
                    Access {
                        write: vec![m(192, 96, 4)],
                        read: vec![m(96, 96, 4)],
                        whole: vec![288..300],
                    },
                ];
                let chain = Chain::new(steps, Division::Rows { rows: 24, parts }, 300).unwrap();
                let mut mem: Vec<f32> = (0..300).map(|i| i as f32).collect();
                pool.run_chain(&mut mem, &chain, |_, v| {
                    let [out, ..] = v.write;
                    for (o, x) in out.iter_mut().zip(v.read[0]) {
                        *o = x + v.whole[0][0];
                    }
                });
                let want: Vec<f32> = (0..96).map(|i| i as f32 + 2.0 * 288.0).collect();
                assert_eq!(
                    mem[192..288],
                    want[..],
                    "threads {threads} {split} parts {parts}"
                );
            }
        }
    }

    #[test]
    fn blocks_cover_every_step_once() {
        let pool = Pool::new(2);
        let steps = (0..3)
            .map(|s| Access {
                write: vec![m(s * 40, 40, 5), m(200 + s * 8, 8, 1)],
                read: vec![],
                whole: vec![120..200],
            })
            .collect();
        let chain = Chain::new(steps, Division::Blocks(vec![1, 2, 3]), 224).unwrap();
        assert_eq!(chain.parts(), 6);
        let mut mem = vec![0.0; 224];
        pool.run_chain(&mut mem, &chain, |s, v| {
            let [a, b, ..] = v.write;
            a.iter_mut()
                .chain(b.iter_mut())
                .for_each(|x| *x += 1.0 + s as f32);
            assert!(v.rows.end <= 8);
        });
        let want: Vec<f32> = (0..3).flat_map(|s| vec![1.0 + s as f32; 40]).collect();
        assert_eq!(mem[..120], want[..]);
        assert!(mem[120..200].iter().all(|&x| x == 0.0));
        assert_eq!(mem[200..224], [[1.0; 8], [2.0; 8], [3.0; 8]].concat()[..]);
    }
}
