//! Several steps in one call of the workers: a [`Chain`] says which parts
//! of the arena each step writes and reads, is checked once, and then
//! lends every part of every call its own blocks ([`Pool::run_chain`]).
//!
//! Two ways to divide a step's work ([`Division`]), a phase each:
//! * by rows: part i runs every such step, in order, on row block i of
//!   every matrix. Steps that only combine a row with the same row of the
//!   step before (a layer's product x·Wᵀ with its epilogue, the next
//!   layer's on its output; the backward δ·W down the layers) need no
//!   wait between them: a deep narrow net's forward pass is one call
//!   instead of one a layer (config D of `bench/peers`: 50 layers of 128
//!   units, ~10 µs of product per thread a layer against ~1 µs a call).
//! * by blocks: each such step is split into its own row blocks, and all
//!   their blocks are claimed from one list: independent steps (every
//!   layer's ∂W once the ∂x products are done) in one call.
//!
//! On one thread (or with the split off) the steps run in their listed
//! order instead, each over all its rows: a chain of the whole backward
//! pass lists each layer's ∂W beside its ∂x, as a one-thread plan runs
//! them, while its δ is in cache.
//!
//! The rules checked by [`Chain::new`] are what makes lending sound: no
//! part ever holds a block another part may write at the same time.

use super::pool::{Pool, block_bounds};
use std::ops::Range;

/// Most written matrices, row-blocked reads and whole reads of one step.
pub const MAX_WRITE: usize = 6;
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
    // Not inlined: inlined, LLVM turned `views`' loops over a step's
    // matrices into AVX-512 gathers and scatters of their fields, which
    // cost config A of `bench/peers` (62 product steps of ~0.3 µs) 3 % of
    // its step on an Intel Xeon (ABBA rounds 0.946–0.978 with the call).
    #[inline(never)]
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

/// How a chain's work is divided into parts: `blocks[s]` = 0 puts step s
/// in the rows phase, where part i of `parts` runs every such step, in
/// order, on row block i of its matrices (all of `rows` rows); any other
/// count splits step s into that many row blocks of its own matrices, all
/// blocks of all such steps claimed together in a second call. On one
/// thread every step runs over all its rows, in the listed order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Division {
    pub rows: usize,
    pub parts: usize,
    pub blocks: Vec<usize>,
}

impl Division {
    /// `steps` steps, all by rows.
    pub fn rows(rows: usize, parts: usize, steps: usize) -> Division {
        Division {
            rows,
            parts,
            blocks: vec![0; steps],
        }
    }

    /// Every step by blocks, step s in `blocks[s]` (≥ 1).
    pub fn blocks(blocks: Vec<usize>) -> Division {
        Division {
            rows: 0,
            parts: 1,
            blocks,
        }
    }

    fn by_rows(&self, s: usize) -> bool {
        self.blocks[s] == 0
    }
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
    /// The steps by rows, in order (the first call's work for each part).
    by_rows: Vec<usize>,
    /// Every block of every step by blocks, as (step, block): part i of the
    /// second call is `blocks[i]`.
    blocks: Vec<(usize, usize)>,
    /// The rows of each step's matrices (see [`step_rows`]).
    rows: Vec<usize>,
}

fn overlap(a: &Range<usize>, b: &Range<usize>) -> bool {
    !a.is_empty() && !b.is_empty() && a.start < b.end && b.start < a.end
}

impl Chain {
    /// The chain of `steps` divided as `division`, over an arena of
    /// `arena_len` floats, or why it cannot be run in parts:
    /// * every range lies in the arena, every matrix has whole rows (the
    ///   division's rows for a step by rows), and a step has at most
    ///   `MAX_WRITE`, `MAX_READ`, `MAX_WHOLE` of each;
    /// * within a step, what it writes overlaps nothing else it names;
    /// * steps by rows: a written matrix overlaps nothing one of them reads
    ///   whole, and any matrix of theirs it overlaps is the same one (same
    ///   range and row length: the same rows go to the same part);
    /// * steps by blocks: a step's writes overlap nothing another names
    ///   (their blocks run at the same time);
    /// * a step by blocks listed before a step by rows (which runs first
    ///   when split, after it on one thread) shares nothing with it that
    ///   either writes: both orders give the same result.
    pub fn new(steps: Vec<Access>, division: Division, arena_len: usize) -> Result<Chain, String> {
        if division.blocks.len() != steps.len() || division.parts == 0 {
            return Err(format!("{} steps, division {division:?}", steps.len()));
        }
        for (s, step) in steps.iter().enumerate() {
            let rows = if division.by_rows(s) {
                division.rows
            } else {
                step_rows(step)
            };
            check_step(s, step, rows, arena_len)?;
        }
        for (s, step) in steps.iter().enumerate() {
            for w in &step.write {
                for (t, other) in steps.iter().enumerate() {
                    check_pair(s, w, t, other, &division)?;
                }
            }
        }
        let by_rows = (0..steps.len()).filter(|&s| division.by_rows(s)).collect();
        let blocks = (0..steps.len())
            .flat_map(|s| (0..division.blocks[s]).map(move |b| (s, b)))
            .collect();
        let rows = steps.iter().map(step_rows).collect();
        Ok(Chain {
            steps,
            division,
            arena_len,
            by_rows,
            blocks,
            rows,
        })
    }
}

/// The rules between what step `s` writes, `w`, and step `t` (see
/// [`Chain::new`]).
fn check_pair(
    s: usize,
    w: &Matrix,
    t: usize,
    other: &Access,
    division: &Division,
) -> Result<(), String> {
    let named = || other.write.iter().chain(&other.read);
    let overlaps = |r: &Range<usize>| overlap(r, &w.range);
    let reordered = |b: usize, r: usize| !division.by_rows(b) && division.by_rows(r) && b < r;
    if s == t && !division.by_rows(s) {
        return Ok(());
    }
    let clash = match (division.by_rows(s), division.by_rows(t)) {
        (true, true) => {
            other.whole.iter().any(overlaps) || named().any(|m| overlaps(&m.range) && m != w)
        }
        _ if reordered(s, t) || reordered(t, s) || !division.by_rows(s) && !division.by_rows(t) => {
            other.whole.iter().any(overlaps) || named().any(|m| overlaps(&m.range))
        }
        _ => false,
    };
    if clash {
        return Err(format!("step {t} names what step {s} writes"));
    }
    Ok(())
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
fn check_step(s: usize, step: &Access, rows: usize, arena_len: usize) -> Result<(), String> {
    if step.write.len() > MAX_WRITE || step.read.len() > MAX_READ || step.whole.len() > MAX_WHOLE {
        return Err(format!("step {s} names too many buffers"));
    }
    let matrices = || step.write.iter().chain(&step.read);
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
    // SAFETY: caller's contract; the blocks are those rows of each matrix.
    unsafe { views_by(base, step, rows.clone(), |m| m.block(&rows)) }
}

/// [`views`] of all of `step`'s rows (`rows` of them, see [`step_rows`]),
/// without the row arithmetic: each matrix is whole rows (checked), so
/// the block of all rows is its range, and the rows are counted once, in
/// [`Chain::new`] (config A of `bench/peers`, 62 products of ~0.3 µs a
/// step on one thread: 0.97–0.99× the step time, medians of three sets
/// of ABBA rounds on an Intel Xeon).
///
/// # Safety
/// As for [`views`].
unsafe fn whole_views<'a>(base: *mut f32, step: &Access, rows: usize) -> Views<'a> {
    // SAFETY: caller's contract.
    unsafe { views_by(base, step, 0..rows, |m| m.range.clone()) }
}

/// The views of `step` whose matrices' blocks `block` gives.
///
/// # Safety
/// As for [`views`], `block` giving each matrix's rows `rows`.
#[inline(always)]
unsafe fn views_by<'a>(
    base: *mut f32,
    step: &Access,
    rows: Range<usize>,
    block: impl Fn(&Matrix) -> Range<usize>,
) -> Views<'a> {
    let mut write: [&mut [f32]; MAX_WRITE] = Default::default();
    for (v, m) in write.iter_mut().zip(&step.write) {
        let r = block(m);
        // SAFETY: in the arena (checked), and written by this part alone.
        *v = unsafe { std::slice::from_raw_parts_mut(base.add(r.start), r.len()) };
    }
    let mut read: [&[f32]; MAX_READ] = Default::default();
    for (v, m) in read.iter_mut().zip(&step.read) {
        let r = block(m);
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
            // On this thread alone: each step over all its rows, in the
            // listed order (the bits of any row split), so that each W is
            // read once, not once a row block.
            for (s, (step, &rows)) in chain.steps.iter().zip(&chain.rows).enumerate() {
                // SAFETY: `mem` is borrowed mutably for the call, and each
                // step's writes overlap nothing else it names (Chain::new).
                f(s, unsafe { whole_views(mem.as_mut_ptr(), step, rows) });
            }
            return;
        }
        let base = mem.as_mut_ptr() as usize;
        let base = move || base as *mut f32;
        let Division {
            rows,
            parts,
            ref blocks,
        } = chain.division;
        if !chain.by_rows.is_empty() {
            self.run(parts, &|i| {
                let r = block_bounds(rows, parts, i)..block_bounds(rows, parts, i + 1);
                for &s in &chain.by_rows {
                    // SAFETY: `mem` is borrowed mutably until every part is
                    // done; part i alone touches rows `r` of what the steps
                    // by rows write (Chain::new), and runs them in order.
                    f(s, unsafe { views(base(), &chain.steps[s], r.clone()) });
                }
            });
        }
        self.run(chain.blocks.len(), &|i| {
            let (s, b) = chain.blocks[i];
            let step = &chain.steps[s];
            let rows = step_rows(step);
            let r = block_bounds(rows, blocks[s], b)..block_bounds(rows, blocks[s], b + 1);
            // SAFETY: `mem` is borrowed mutably until every part is done;
            // block b of step s alone touches those rows of what step s
            // writes, which no other step by blocks names (Chain::new).
            f(s, unsafe { views(base(), step, r) });
        });
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

    /// Two layers of a forward chain over `rows` rows of 4: x → s1 → s2,
    /// back to back from 0, reading W1 and W2 whole at `w`.
    fn layers(rows: usize, w: [Range<usize>; 2]) -> Vec<Access> {
        let len = rows * 4;
        let [w1, w2] = w;
        vec![
            Access {
                write: vec![m(len, len, 4)],
                read: vec![m(0, len, 4)],
                whole: vec![w1],
            },
            Access {
                write: vec![m(2 * len, len, 4)],
                read: vec![m(len, len, 4)],
                whole: vec![w2],
            },
        ]
    }

    /// x (0..32) → s1 (32..64) → s2 (64..96), W1 and W2 at 96.. and 112...
    fn forward() -> Vec<Access> {
        layers(8, [96..112, 112..128])
    }

    #[test]
    fn accepts_a_chain_of_row_local_steps_and_refuses_overlaps() {
        let rows = Division::rows(8, 2, 2);
        assert!(Chain::new(forward(), rows.clone(), 128).is_ok());
        // A step that reads whole what another writes.
        let mut bad = forward();
        bad[1].whole.push(40..48);
        assert!(Chain::new(bad, rows.clone(), 128).is_err());
        // The same storage seen with another row length.
        let mut bad = forward();
        bad[1].read[0].row_len = 2;
        bad[1].read[0].range = 32..48;
        assert!(Chain::new(bad, Division::rows(8, 2, 2), 128).is_err());
        // A write overlapping the step's own read.
        let mut bad = forward();
        bad[0].read[0] = m(36, 32, 4);
        assert!(Chain::new(bad, rows.clone(), 128).is_err());
        // Outside the arena, or not the division's rows.
        assert!(Chain::new(forward(), rows, 120).is_err());
        assert!(Chain::new(forward(), Division::rows(4, 2, 2), 128).is_err());
        // Blocks: steps run at once, so one step's read of another's write
        // is refused.
        assert!(Chain::new(forward(), Division::blocks(vec![2, 2]), 128).is_err());
        let independent = vec![
            forward().remove(0),
            Access {
                write: vec![m(64, 32, 4)],
                read: vec![],
                whole: vec![0..32],
            },
        ];
        assert!(Chain::new(independent, Division::blocks(vec![2, 3]), 128).is_ok());
    }

    /// Every row of every step is written once, after the step before it
    /// wrote that row (rows chains), on any thread count, split or alone.
    #[test]
    fn every_part_sees_its_rows_in_order() {
        for (threads, split) in [(1, true), (2, true), (3, true), (2, false)] {
            let pool = Pool::new(threads);
            pool.set_split(split);
            for parts in 1..=3 {
                let chain = Chain::new(forward(), Division::rows(24, parts, 2), 300);
                assert!(chain.is_err(), "24 rows of 4 are 96 floats, not 32");
                let steps = layers(24, [288..300, 288..300]);
                let chain = Chain::new(steps, Division::rows(24, parts, 2), 300).unwrap();
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

    /// A step by blocks listed before a step by rows runs after it when
    /// split: allowed only when neither touches what the other writes,
    /// and then split and alone give the same result.
    #[test]
    fn steps_by_blocks_and_by_rows_give_one_result_in_either_order() {
        // Step 0 by blocks: y (64..72, rows of 1) ← sums of x's rows (x
        // whole, 0..32, rows of 4); step 1 by rows: z (32..64) ← 2·x.
        let steps = || {
            vec![
                Access {
                    write: vec![m(64, 8, 1)],
                    read: vec![],
                    whole: vec![0..32],
                },
                Access {
                    write: vec![m(32, 32, 4)],
                    read: vec![m(0, 32, 4)],
                    whole: vec![],
                },
            ]
        };
        let division = Division {
            rows: 8,
            parts: 2,
            blocks: vec![1, 0],
        };
        let chain = Chain::new(steps(), division.clone(), 72).unwrap();
        let mut results = Vec::new();
        for split in [true, false] {
            let pool = Pool::new(2);
            pool.set_split(split);
            let mut mem: Vec<f32> = (0..72)
                .map(|i| if i < 32 { i as f32 } else { -1.0 })
                .collect();
            pool.run_chain(&mut mem, &chain, |s, v| {
                let [out, ..] = v.write;
                if s == 0 {
                    for (r, o) in v.rows.clone().zip(out.iter_mut()) {
                        *o = v.whole[0][r * 4..r * 4 + 4].iter().sum();
                    }
                } else {
                    out.iter_mut()
                        .zip(v.read[0])
                        .for_each(|(o, x)| *o = 2.0 * x);
                }
            });
            results.push(mem);
        }
        assert_eq!(results[0], results[1]);
        assert_eq!(results[0][64], 0.0 + 1.0 + 2.0 + 3.0);
        assert_eq!(results[0][33], 2.0);
        // The step by rows writing what the earlier step by blocks reads:
        // the orders would differ.
        let mut clash = steps();
        clash[1].write[0] = m(0, 32, 4);
        clash[1].read[0] = m(32, 32, 4);
        assert!(Chain::new(clash, division, 72).is_err());
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
        let chain = Chain::new(steps, Division::blocks(vec![1, 2, 3]), 224).unwrap();
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
