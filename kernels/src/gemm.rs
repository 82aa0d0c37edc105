//! Matrix multiply for the three layouts backprop needs, on row-major
//! buffers, without materializing a transpose: C ← A·B + β·C, C ← Aᵀ·B + β·C
//! and C ← A·Bᵀ + β·C. If β is 0, C is not read (so it may hold NaN).
//!
//! Design (BLIS; sizes first tuned on a 2-vCPU Xeon with AVX-512, 48 KiB
//! L1D, 2 MiB L2; the tile re-chosen on an AMD Zen 5, 48 KiB L1D, 1 MiB L2):
//!
//! * Microkernel: an MR×NR = 12×32 register tile of C, 24 `f32x16`
//!   accumulators kept as separate locals (an array of them was spilled by
//!   LLVM in an earlier attempt). Per k step: two B vector loads, 12 A
//!   broadcasts into registers, 24 FMAs. Zen 5 issues two loads a cycle to
//!   these FMAs, so the load count per FMA sets the ceiling: asm loops in
//!   L1 ran this tile at 100 % of the FMA peak, a 24×16 tile (one B load,
//!   24 FMAs taking their A element as a memory operand: 25 loads) at 92 %,
//!   and through the whole gemm the change gained 5–13 % on every layer
//!   shape of the bench configs (on the Xeon, with the other hyperthread
//!   busy, the 24×16 form had measured better; re-measure when tuning for
//!   another core). With AVX-512 the k loop of the full-width tiles is
//!   inline assembly (`avx512`): rustc 1.95 spilled an accumulator of
//!   the 12-row loop and chained the 10/11-row ones' A addresses, which
//!   cost 3–10 % of the bench configs' step on an Intel Xeon. Edge
//!   tiles use the same kernel with fewer rows or one vector (const
//!   generics; rows are cut into tiles of nearly equal height, so there
//!   is no thin last tile); a partial N tail runs on a local, padded copy
//!   of its C tile. Without AVX-512 (16 vector
//!   registers) the tile is 6×16, 12 registers of accumulators (see
//!   `MR`); the rest of this design is the same.
//! * The kernel reads A(i + r, p) at `ap[p*lda + r]`: a k step's MR values
//!   are consecutive. TN reads A in place that way (`a[p*m + i]`) unless
//!   its stride would crowd the micro-panel into a few L1 sets (m a
//!   multiple of 16 with deep K). NN/NT read A's rows in place
//!   (`a[(i + r)*k + p]`, the kernel's `BY_ROWS` form) when B is one N
//!   block, which on Zen 4 beat packing the micro-panel by 8×8 transposes
//!   (2–12 % on the small products of deep nets); with several N blocks
//!   they pack it, to A_STEP floats per k step (MR rounded up to 8: 16
//!   with AVX-512, 8 without).
//! * B: NN/TN with N ≤ 512 read full 32-column panels (and a tail of whole
//!   vectors) in place; otherwise B is packed into KC×32 micro-panels in a
//!   stack buffer (KC×NC floats = 128 KiB; KC×1024 = 512 KiB for an N of
//!   at most 1024 where the L2 is 2 MiB or more). NT always packs,
//!   transposing 8×8 blocks, since its k index is the contiguous one. An N
//!   tail is packed zero-padded to a whole vector.
//! * Loops: LOOP 4 splits K into blocks of at most KC, LOOP 5 splits N into
//!   NC blocks (and packs B), LOOP 3 walks the row tiles, LOOP 2 the B
//!   panels, LOOP 1 (the microkernel) the k steps. K is outside N (BLIS
//!   nests them the other way) so the A block stays in L2 across N blocks;
//!   the row tile is outside the panel loop so the A micro-panel (16×KC,
//!   8 KiB) stays in L1 while the B block streams from L2. (BLIS's order,
//!   the B panel in L1 and packed A streamed, was tried: no faster.)
//! * A groups: with several N blocks (N > NC), A is packed once per K block
//!   in groups of up to 256 rows (a 136 KiB stack buffer) rather than tile
//!   by tile for every N block, and B once per group. For TN whose A stride
//!   is a multiple of 4 KiB (m = 1024) this is what keeps the product fast:
//!   A's lines then all map to the same few L2 sets, and were read again
//!   from L3 for each N block (TN 1024×256×1024: 79 → 87 % of the peak;
//!   m = 1040 ran at 89–92 % before).
//! * No heap: the pack buffers are fixed-size, uninitialized stack arrays.
//!
//! Determinism: every element is computed the same way whatever path, tile
//! or row range it falls in: `acc ← β·c` (or 0 if β = 0), then
//! `acc ← fma(a_ip, b_pj, acc)` for p = 0, 1, …, k−1 in increasing order, in
//! one lane of an `f32x16`. Between K blocks `acc` is stored to C and loaded
//! back, which is exact, so the bits do not even depend on KC. Zero padding
//! only touches lanes that are thrown away. Hence the result does not depend
//! on m, on the rows a call computes, on edge vs full tiles, or on the thread
//! split. (Without FMA compiled in, wide's `mul_add` is a multiply then an
//! add, in every path alike.)

use std::mem::MaybeUninit;
use std::ops::Range;

use wide::{f32x8, f32x16};

use crate::simd::prefetch;

#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
mod avx512;

/// Rows of the register tile (A broadcasts per k step). With AVX-512 (32
/// vector registers): 12 rows of two `f32x16`, 24 accumulators. Otherwise
/// an `f32x16` is two AVX registers of the 16, and 12×32 spilled most of
/// its accumulators to the stack (Zen 3: the bench configs at 11–16 % of
/// the FMA peak, timed while a build ran on the other core); 6 rows of
/// one `f32x16` keep 12 registers of accumulators, two for the B row and
/// one for the broadcast (BLIS's 6×16 Haswell tile).
#[cfg(target_feature = "avx512f")]
const MR: usize = 12;
#[cfg(not(target_feature = "avx512f"))]
const MR: usize = 6;
/// Lanes of one vector.
const LANES: usize = 16;
/// Vectors per row of the register tile.
#[cfg(target_feature = "avx512f")]
const NV: usize = 2;
#[cfg(not(target_feature = "avx512f"))]
const NV: usize = 1;
/// Columns of the register tile.
const NR: usize = NV * LANES;
/// Floats per k step in a packed A micro-panel: MR rounded up to a
/// multiple of 8, so the 8-row transposes of NN/NT packing store whole
/// vectors (and TN packing copies whole 8-float vectors).
const A_STEP: usize = MR.next_multiple_of(8);
/// Maximum depth of a K block. An A micro-panel line is reused once per B
/// panel, after the whole B panel and the rest of the A panel went through
/// L1: KC·(128 + 64) B = 24 KiB at KC = 128, well inside the 48 KiB L1.
/// (On the Xeon, KC = 256 filled L1 and ran TN 128×256×256 at 130–135
/// GFLOP/s instead of 140–148; on Zen 5, KC 192/256/512 were no faster.)
const KC: usize = 128;
/// Columns of a packed B block: KC×NC floats = 128 KiB of stack (in L2).
const NC: usize = 256;
/// Columns of B packed as one block where the L2 holds four such blocks
/// (KC×NC_WIDE floats = 512 KiB of stack; see [`one_wide_block`]).
const NC_WIDE: usize = 1024;
/// Rows of A packed together once per K block when B comes in several N
/// blocks (else every tile's panel would be packed again for each).
const A_GROUP_ROWS: usize = 256;
/// Floats per k step of a packed A group: its rows rounded up to a vector,
/// plus one vector so that consecutive k steps do not fall on the same few
/// L1 sets.
const A_GROUP_LD: usize = A_GROUP_ROWS + LANES;
/// NT packing prefetches the next B rows, and the row tiles the next
/// tile's A and C rows, when those operands have more floats than this
/// (32 KiB: operands that fit L1 are there already).
const PREFETCH_ABOVE: usize = 8192;
/// NN/TN read full B panels in place (no packing) up to this N.
const IN_PLACE_MAX_N: usize = 512;

/// The inputs of one product and its shape: op(A) is (m, k) and op(B)
/// (k, n), stored as the layout says (A (m, k) or, for Aᵀ·B, (k, m); B
/// (k, n) or, for A·Bᵀ, (n, k)).
#[derive(Clone, Copy, Debug)]
pub struct Operands<'a> {
    pub a: &'a [f32],
    pub b: &'a [f32],
    pub m: usize,
    pub k: usize,
    pub n: usize,
}

/// C (m, n) ← A (m, k) · B (k, n) + β·C. Overwrites C (reads it only if
/// β ≠ 0).
pub fn gemm_nn(c: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize, beta: f32) {
    gemm_nn_rows(c, Operands { a, b, m, k, n }, 0..m, beta);
}

/// C (m, n) ← Aᵀ · B + β·C, with A stored (k, m) and B (k, n). Overwrites C
/// (reads it only if β ≠ 0).
pub fn gemm_tn(c: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize, beta: f32) {
    gemm_tn_rows(c, Operands { a, b, m, k, n }, 0..m, beta);
}

/// C (m, n) ← A · Bᵀ + β·C, with A stored (m, k) and B (n, k). Overwrites C
/// (reads it only if β ≠ 0).
pub fn gemm_nt(c: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize, beta: f32) {
    gemm_nt_rows(c, Operands { a, b, m, k, n }, 0..m, beta);
}

/// Rows `rows` of [`gemm_nn`]: `c_rows` is (rows.len(), n), row r of it is
/// row `rows.start + r` of C. The bits equal those of the full call.
pub fn gemm_nn_rows(c_rows: &mut [f32], ops: Operands, rows: Range<usize>, beta: f32) {
    gemm_nn_rows_with(c_rows, ops, rows, beta, |_| {});
}

/// Rows `rows` of [`gemm_tn`]: `c_rows` is (rows.len(), n), row r of it is
/// row `rows.start + r` of C. The bits equal those of the full call.
pub fn gemm_tn_rows(c_rows: &mut [f32], ops: Operands, rows: Range<usize>, beta: f32) {
    gemm_tn_rows_with(c_rows, ops, rows, beta, |_| {});
}

/// Rows `rows` of [`gemm_nt`]: `c_rows` is (rows.len(), n), row r of it is
/// row `rows.start + r` of C. The bits equal those of the full call.
pub fn gemm_nt_rows(c_rows: &mut [f32], ops: Operands, rows: Range<usize>, beta: f32) {
    gemm_nt_rows_with(c_rows, ops, rows, beta, |_| {});
}

/// A finished piece of C handed to an epilogue: rows `row..row + rows` of
/// C (indices in C, not in `c_rows`), columns `col..col + cols`, stored in
/// `values` row after row, `cols` apart. Either the rows are whole
/// (`col` = 0, `cols` = n) or there is one row, so `values` is always one
/// contiguous run of C.
pub struct Finished<'a> {
    pub row: usize,
    pub rows: usize,
    pub col: usize,
    pub cols: usize,
    pub values: &'a mut [f32],
}

/// [`gemm_nt_rows`] with a fused epilogue (the forward layout: bias and
/// activation while the row tile is hot in cache). Once the last K block
/// of a row tile is done, `epilogue` gets its finished values: the whole
/// tile in one call when the column block spans every column (n ≤ 256,
/// the usual hidden layer, and up to 1024 where the L2 is 2 MiB or more),
/// else row by row, one column block (`col` a multiple of 16) at a time.
/// Every element of the computed rows is passed exactly once.
pub fn gemm_nt_rows_with<F: FnMut(Finished)>(
    c_rows: &mut [f32],
    ops: Operands,
    rows: Range<usize>,
    beta: f32,
    epilogue: F,
) {
    gemm::<false, true, _>(c_rows, ops, rows, beta, epilogue);
}

/// [`gemm_nn_rows`] with a fused epilogue, as [`gemm_nt_rows_with`] (the
/// backward layout δ·W: the next layer down's activation derivative
/// while the row tile is hot in cache).
pub fn gemm_nn_rows_with<F: FnMut(Finished)>(
    c_rows: &mut [f32],
    ops: Operands,
    rows: Range<usize>,
    beta: f32,
    epilogue: F,
) {
    gemm::<false, false, _>(c_rows, ops, rows, beta, epilogue);
}

/// [`gemm_tn_rows`] with a fused epilogue, as [`gemm_nt_rows_with`] (the
/// layout of ∂W = δᵀ·x: the optimizer's update of W while the row tile is
/// hot in cache).
pub fn gemm_tn_rows_with<F: FnMut(Finished)>(
    c_rows: &mut [f32],
    ops: Operands,
    rows: Range<usize>,
    beta: f32,
    epilogue: F,
) {
    gemm::<true, false, _>(c_rows, ops, rows, beta, epilogue);
}

/// The shape preconditions. These are real asserts, not debug ones: the
/// kernels index with raw pointers, so memory safety rests on them (a few
/// compares per call).
fn check_shapes(c_rows: &[f32], ops: &Operands, rows: &Range<usize>) {
    let Operands { a, b, m, k, n } = *ops;
    assert!(
        rows.start <= rows.end && rows.end <= m,
        "rows {rows:?} of {m}"
    );
    assert_eq!(c_rows.len(), rows.len() * n, "c_rows is (rows.len(), n)");
    assert_eq!(a.len(), m * k, "A has m·k elements");
    assert_eq!(b.len(), k * n, "B has k·n elements");
}

/// A matrix the microkernel walks by pointer: A(r, p) at `ptr + p·ld + r`
/// (a micro-panel, packed or in place) or `ptr + r·ld + p` (NN/NT rows in
/// place), B panel row p at `ptr + p·ld`, C tile row r at `ptr + r·ld`.
#[derive(Clone, Copy)]
struct Strided<P> {
    ptr: P,
    ld: usize,
}

/// How a tile's accumulators start.
#[derive(Clone, Copy)]
enum Init {
    /// 0 (β = 0 on the first K block: C is not read).
    Zero,
    /// C (β = 1, or a later K block).
    Load,
    /// β·C.
    Scale(f32),
}

impl Init {
    /// How the accumulators of the K block starting at `pc` start.
    fn of_block(pc: usize, beta: f32) -> Init {
        if pc > 0 || beta == 1.0 {
            Init::Load
        } else if beta == 0.0 {
            Init::Zero
        } else {
            Init::Scale(beta)
        }
    }
}

/// Scratch for packed panels, 64-byte aligned so panel rows are aligned
/// vector loads. Never initialized as a whole (that would cost as much as
/// a small product): packing writes every element the kernel then reads.
#[repr(C, align(64))]
struct PackBuf<const LEN: usize>([MaybeUninit<f32>; LEN]);

impl<const LEN: usize> PackBuf<LEN> {
    fn new() -> Self {
        Self([MaybeUninit::uninit(); LEN])
    }
    fn as_mut_ptr(&mut self) -> *mut f32 {
        self.0.as_mut_ptr().cast()
    }
}

/// Dispatch on layout and on how B is read. The pack buffer size is a
/// const, so small products do not reserve (and probe) the 128 KiB frame.
fn gemm<const TA: bool, const TB: bool, F: FnMut(Finished)>(
    c_rows: &mut [f32],
    ops: Operands,
    rows: Range<usize>,
    beta: f32,
    epilogue: F,
) {
    check_shapes(c_rows, &ops, &rows);
    let n = ops.n;
    if rows.is_empty() || n == 0 {
        return;
    }
    if !TB && reads_b_in_place(n, ops.k) {
        blocked::<TA, TB, true, { KC * NR }, 0, F>(c_rows, ops, rows, beta, KC, epilogue);
    } else if n <= NR {
        blocked::<TA, TB, false, { KC * NR }, 0, F>(c_rows, ops, rows, beta, KC, epilogue);
    } else if n <= 2 * NR {
        blocked::<TA, TB, false, { KC * 2 * NR }, 0, F>(c_rows, ops, rows, beta, KC, epilogue);
    } else if n <= NC {
        blocked::<TA, TB, false, { KC * NC }, 0, F>(c_rows, ops, rows, beta, KC, epilogue);
    } else if one_wide_block(n) {
        const BUF: usize = KC * NC_WIDE;
        blocked::<TA, TB, false, BUF, 0, F>(c_rows, ops, rows, beta, KC, epilogue);
    } else {
        // Several N blocks: A is packed in groups of rows.
        const AG: usize = KC * A_GROUP_LD;
        blocked::<TA, TB, false, { KC * NC }, AG, F>(c_rows, ops, rows, beta, KC, epilogue);
    }
}

/// Whether a product with `n` columns of C and `k` terms hands its
/// epilogue whole row tiles (`col` = 0, `cols` = n: C's columns are one
/// N block, as the gemm chooses) rather than each row's column blocks in
/// turn; `b_transposed`: B stored (n, k), the NT layout. An update fused
/// into the epilogue then streams whole rows of W and its state.
pub fn whole_row_tiles(b_transposed: bool, n: usize, k: usize) -> bool {
    (!b_transposed && reads_b_in_place(n, k)) || n <= NC || one_wide_block(n)
}

/// Whether B's `n` columns are packed as one N block of up to
/// [`NC_WIDE`] rather than in blocks of [`NC`]: where this core's L2 holds
/// four such blocks (2 MiB). One block leaves A read in place (NN/NT) or
/// packed once a tile (TN), where several need A packed in groups and B
/// packed once per group. On an Intel Xeon (Sapphire Rapids, 2 MiB L2;
/// the AVX-512 tile) 1024×256×1024 ran at 159–162 GFLOP/s in all three layouts against
/// 141–148, 256×1024×1024 NN and NT 3–5 % faster, and config C of
/// `bench/peers` took 0.976× its one-thread step (4 ABBA rounds, all
/// below 1), B (its first layer's ∂W is 256×128×784) 0.994×; on two
/// threads C 1.01× (7 rounds, 0.995–1.028), B 0.988×. Not measured on a
/// 1 MiB L2 (AMD Zen 4 and 5), where it is not taken.
fn one_wide_block(n: usize) -> bool {
    n <= NC_WIDE && l2_bytes() >= 4 * KC * NC_WIDE * size_of::<f32>()
}

/// This core's L2 in bytes as CPUID reports it (leaf 0x8000_0006, the same
/// on Intel and AMD), read once; 0 where unknown.
fn l2_bytes() -> usize {
    static L2: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *L2.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::__cpuid;
            // ECX bits 31..16: the L2 size in KiB (if the leaf exists).
            if __cpuid(0x8000_0000).eax >= 0x8000_0006 {
                return (__cpuid(0x8000_0006).ecx >> 16) as usize * 1024;
            }
        }
        0
    })
}

/// Whether NN/TN read B's full panels in place: up to [`IN_PLACE_MAX_N`]
/// columns and, with the 6×16 tile (no AVX-512), only when a panel does
/// not crowd the L1 sets. On Zen 3 (32 KiB L1) packing such a B instead
/// ran TN 128×256×256 at 78 % of the peak against 59 %, NN at 64 % against
/// 57 %; B small enough for L1 in place is faster (16×32×32 NN: 54 % against
/// 39 % packed). The AVX-512 tile was measured (Zen 4/5) without this rule.
fn reads_b_in_place(n: usize, k: usize) -> bool {
    n <= IN_PLACE_MAX_N && (cfg!(target_feature = "avx512f") || !panel_crowds_l1(n, k.min(KC)))
}

/// The BLIS loop nest. `TA`: A is stored (k, m); `TB`: B is stored (n, k);
/// `IN_PLACE`: full B panels are read from B itself (NN/TN only) and only
/// the N tail is packed; `BUF`: floats in the B pack buffer, KC × (a
/// multiple of NR columns: the N block when B is packed); `AG`: floats in
/// the A group buffer (0: A panels are packed tile by tile, or read in
/// place).
#[inline(never)]
fn blocked<
    const TA: bool,
    const TB: bool,
    const IN_PLACE: bool,
    const BUF: usize,
    const AG: usize,
    F: FnMut(Finished),
>(
    c_rows: &mut [f32],
    ops: Operands,
    rows: Range<usize>,
    beta: f32,
    kc_max: usize,
    mut epilogue: F,
) {
    let Operands { m, k, n, .. } = ops;
    const {
        assert!(BUF.is_multiple_of(KC * NR) && MR <= A_STEP && A_STEP.is_multiple_of(8));
        assert!(AG == 0 || AG == KC * A_GROUP_LD);
    };
    debug_assert!(!(TB && IN_PLACE) && (1..=KC).contains(&kc_max));
    let mut b_buf = PackBuf::<BUF>::new();
    let b_pack = b_buf.as_mut_ptr();
    let mut a_buf = PackBuf::<{ KC * A_STEP }>::new();
    let a_pack = a_buf.as_mut_ptr();
    let mut a_group = PackBuf::<AG>::new();
    let a_group = a_group.as_mut_ptr();
    // A(i, p) sits at a[i*lda + p] (NN, NT) or a[p*lda + i] (TN).
    let lda = if TA { m } else { k };
    let nc_step = if IN_PLACE { n } else { BUF / KC };

    // K blocks of (nearly) equal depth ≤ kc_max, a multiple of 8 but the
    // last: no short last block.
    let kc_step = if k <= kc_max {
        // One block (no divisions: they weigh on a 16×32×32 product).
        k.next_multiple_of(8).min(kc_max)
    } else {
        k.div_ceil(k.div_ceil(kc_max))
            .next_multiple_of(8)
            .min(kc_max)
    };
    let pack_a = packs_a::<TA>(n, nc_step, lda, kc_step);
    // With several N blocks a tile's panel would be packed once per block
    // (and, for TN with A's stride a multiple of 4 KiB, A read from L3
    // each time: its lines cannot stay in L2): pack groups of rows once
    // per K block instead, and B once per group.
    let grouped = AG > 0 && pack_a && n > nc_step;

    // LOOP 4: split k into kc parts. Runs once with kc = 0 when k = 0, so
    // C is still scaled (and the epilogue still called). Outside the N
    // loop (BLIS has it inside): the A block (m × kc) then stays in L2
    // across N blocks, which matters for the strided TN A.
    let mut pc = 0;
    loop {
        let kc = kc_step.min(k - pc);
        let last = pc + kc == k;
        let init = Init::of_block(pc, beta);
        // Groups of rows (one group, all the rows, unless `grouped`).
        let mut g0 = rows.start;
        while g0 < rows.end {
            let g1 = if grouped {
                (g0 + A_GROUP_ROWS).min(rows.end)
            } else {
                rows.end
            };
            let mode = if grouped {
                AMode::Group(a_group)
            } else if pack_a {
                AMode::EachTile(a_pack)
            } else {
                AMode::InPlace
            };
            // SAFETY: the buffers are those of `blocked`, rows g0..g1 and
            // the K block inside the product.
            let a_src = unsafe { a_source::<TA>(&ops, mode, g0..g1, pc, kc) };
            // LOOP 5: split n into nc parts (one part when B is read in
            // place).
            let mut jc = 0;
            while jc < n {
                let nc = nc_step.min(n - jc);
                let (full_panels, tail) = (nc / NR, nc % NR);
                let blk = Block {
                    pc,
                    kc,
                    jc,
                    full_panels,
                    tail,
                    tail_off: if IN_PLACE { 0 } else { full_panels * kc * NR },
                    init,
                    last,
                };
                debug_assert!(tail == 0 || blk.tail_off + kc * NR <= BUF);
                // SAFETY: every panel written lies inside `b_buf` (BUF
                // floats ≥ kc·nc rounded up to NR; in place only the tail),
                // and the reads stay inside B (rows pc..pc+kc ≤ k, cols
                // jc..jc+nc ≤ n, check_shapes).
                unsafe { pack_b_block::<TB, IN_PLACE>(b_pack, &ops, &blk) };
                // SAFETY: `a_src` as set up above, `b_pack` the block just
                // packed; tiles g0..g1 lie inside `rows`.
                unsafe {
                    row_tiles::<TA, IN_PLACE, F>(
                        c_rows,
                        &ops,
                        (&rows, g0..g1),
                        (a_src, b_pack),
                        &blk,
                        &mut epilogue,
                    )
                };
                jc += nc;
            }
            g0 = g1;
        }
        pc += kc;
        if pc >= k {
            break;
        }
    }
}

/// Whether [`blocked`] packs A (else it reads it in place). TN reads the
/// A micro-panel in place, unless several B panels reuse it and A's
/// stride would crowd it into a few L1 sets (and get it evicted between
/// panels). NN/NT read it in place too, a broadcast from each of its rows
/// per k step, when B is one N block (`n` ≤ `nc_step`): the 8×8
/// transposes of packing cost more than the strided reads (AMD Zen 4: 12
/// % of a 16×32×32 product, 4 % at 64×128×128, 1–2 % at 128×256×256 and
/// 128×784×256, in cache); with
/// several N blocks, A is packed once per K block in groups.
fn packs_a<const TA: bool>(n: usize, nc_step: usize, lda: usize, kc_step: usize) -> bool {
    if TA {
        let first_nc = nc_step.min(n);
        let panels = panel_count(first_nc / NR, first_nc % NR);
        panels >= 2 && panel_crowds_l1(lda, kc_step)
    } else {
        n > nc_step
    }
}

/// How [`blocked`] gets A's micro-panels, with its buffers.
#[derive(Clone, Copy)]
enum AMode {
    /// Packed for a group of rows at once into this buffer (AG floats).
    Group(*mut f32),
    /// Packed tile by tile into this buffer (KC·A_STEP floats).
    EachTile(*mut f32),
    /// Read in place (TN).
    InPlace,
}

/// The A source of the row tiles `group` for the K block pc..pc+kc,
/// packing the group first in `AMode::Group`.
///
/// # Safety
/// The buffer of `mode` must be as [`AMode`] says, `group` rows and the K
/// block inside op(A).
#[inline(always)]
unsafe fn a_source<const TA: bool>(
    ops: &Operands,
    mode: AMode,
    group: Range<usize>,
    pc: usize,
    kc: usize,
) -> ASource {
    let Operands { a, m, k, .. } = *ops;
    let lda = if TA { m } else { k };
    match mode {
        AMode::Group(buf) => {
            let ld = group.len().next_multiple_of(LANES) + LANES;
            debug_assert!(group.len() <= A_GROUP_ROWS);
            // SAFETY: A(g + r, pc + p) for r < group.len(), p < kc is
            // inside `a` (caller's contract), the copy (kc·ld ≤ KC·A_GROUP_LD
            // floats, ld ≥ rows rounded up to 16) inside the group buffer.
            unsafe { pack_a_panel::<TA>(buf, ld, a, lda, group.start, group.len(), pc, kc) };
            ASource::Strided {
                ptr: buf.cast_const(),
                ld,
                first: group.start,
            }
        }
        AMode::EachTile(buf) => ASource::EachTile(buf),
        AMode::InPlace if TA => ASource::Strided {
            // SAFETY: row pc of the stored (k, m) A (pc < k, or pc = k = 0
            // and nothing is read).
            ptr: unsafe { a.as_ptr().add(pc * lda) },
            ld: lda,
            first: 0,
        },
        AMode::InPlace => ASource::Rows {
            // SAFETY: column pc of the stored (m, k) A (pc < k, or pc = k
            // and nothing is read: one past the row at most).
            ptr: unsafe { a.as_ptr().add(pc) },
            ld: lda,
        },
    }
}

/// Where the row tiles of a K block read their A micro-panels: A(i + r,
/// pc + p) at `ptr[p·ld + i − first + r]`.
#[derive(Clone, Copy)]
enum ASource {
    /// Packed tile by tile into this buffer (KC·A_STEP floats).
    EachTile(*mut f32),
    /// Read in place: A itself (TN, from row pc of the stored A, `first`
    /// 0) or a packed group of rows (`first` its first row).
    Strided {
        ptr: *const f32,
        ld: usize,
        first: usize,
    },
    /// Read in place from the rows of an (m, k) A (NN/NT): A(i + r,
    /// pc + p) at `ptr[(i + r)·ld + p]`.
    Rows { ptr: *const f32, ld: usize },
}

/// One K block × N block of the product: op(B) rows pc..pc+kc, columns
/// jc..jc+nc as `full_panels` panels of NR and a `tail` (< NR) panel.
#[derive(Clone, Copy)]
struct Block {
    pc: usize,
    kc: usize,
    jc: usize,
    full_panels: usize,
    tail: usize,
    /// Where the tail panel starts in the B pack buffer.
    tail_off: usize,
    /// How the accumulators start (β, or the previous K block's C).
    init: Init,
    /// The last K block: C is final, the epilogue runs.
    last: bool,
}

/// Panels of a block: the full ones and the tail's, if any.
#[inline(always)]
fn panel_count(full_panels: usize, tail: usize) -> usize {
    full_panels + usize::from(tail > 0)
}

/// Packs B[pc..pc+kc, jc..jc+nc] (or, `IN_PLACE`, only its tail) into
/// panels: panel q is kc rows of NR floats at b_pack + q·kc·NR, the tail
/// panel (zero-padded to a whole vector) follows the full ones at
/// `tail_off`. In place, a tail of whole vectors is read from B too.
///
/// # Safety
/// `b_pack` must be valid for writing the block's panels (see [`blocked`]);
/// the block must lie inside op(B).
#[inline(always)]
unsafe fn pack_b_block<const TB: bool, const IN_PLACE: bool>(
    b_pack: *mut f32,
    ops: &Operands,
    blk: &Block,
) {
    let Block {
        pc,
        kc,
        jc,
        full_panels,
        tail,
        tail_off,
        ..
    } = *blk;
    let (b, n) = (ops.b, ops.n);
    // SAFETY: caller's contract.
    unsafe {
        if !IN_PLACE && !TB {
            // Row by row, so that each B row is read as one run.
            for p in 0..kc {
                let s = b.as_ptr().add((pc + p) * n + jc);
                for q in 0..full_panels {
                    let d = b_pack.add(q * kc * NR + p * NR);
                    for v in 0..NV {
                        store(d.add(v * LANES), load(s.add(q * NR + v * LANES)));
                    }
                }
            }
        } else if !IN_PLACE {
            for q in 0..full_panels {
                let dst = b_pack.add(q * kc * NR);
                pack_b::<TB>(dst, NR, ops, pc..pc + kc, jc + q * NR, NR);
            }
        }
        if tail > 0 && !(IN_PLACE && tail.is_multiple_of(LANES)) {
            let j = jc + full_panels * NR;
            pack_b::<TB>(b_pack.add(tail_off), NR, ops, pc..pc + kc, j, tail);
        }
    }
}

/// LOOP 3 and LOOP 2 of one block: every row tile of `tiles` (its A
/// micro-panel as `a_src` says) against every B panel of the block, then
/// the epilogue on the finished rows of the last K block. `rows` are the
/// rows `c_rows` holds.
///
/// # Safety
/// `a_src` must hold A rows `tiles` of the block's K range as
/// [`ASource`] says (an `EachTile` buffer of KC·A_STEP floats), `b_pack`
/// the B block as [`pack_b_block`] left it; the block lies inside the
/// product and `tiles` inside `rows`, the rows of the product `c_rows`
/// holds.
#[inline(always)]
unsafe fn row_tiles<const TA: bool, const IN_PLACE: bool, F: FnMut(Finished)>(
    c_rows: &mut [f32],
    ops: &Operands,
    (rows, tiles): (&Range<usize>, Range<usize>),
    (a_src, b_pack): (ASource, *mut f32),
    blk: &Block,
    epilogue: &mut F,
) {
    let Operands { a, b, m, k, n } = *ops;
    let Block {
        pc,
        kc,
        jc,
        full_panels,
        tail,
        tail_off,
        init,
        last,
    } = *blk;
    let lda = if TA { m } else { k };
    let panels = panel_count(full_panels, tail);
    // A's rows, when the kernel reads them in place (NN/NT).
    let a_rows = (!TA && matches!(a_src, ASource::Rows { .. })).then_some((a, lda));
    // Small products skip the prefetches (and their divisions): AMD Zen 3,
    // config A (16×32×32 products), 5 interleaved rounds, the fastest
    // step 0.90× (0.76–1.06) without them.
    let prefetching = m * (n + if a_rows.is_some() { lda } else { 0 }) > PREFETCH_ABOVE;
    // LOOP 3: row tiles of MR rows.
    let mut i = tiles.start;
    while i < tiles.end {
        let mr = tile_rows(tiles.end - i);
        // SAFETY: rows i..i+mr and the K block inside op(A) (caller's
        // contract), the buffer as `a_src` says.
        let (a_panel, by_rows) = unsafe { a_panel::<TA>(a_src, a, lda, i, mr, (pc, kc)) };
        let c_row0 = (i - rows.start) * n;
        let next = i + mr..i + mr + tile_rows(tiles.end - i - mr);
        // LOOP 2: the B panels of this block.
        for q in 0..panels {
            let cols = (pc, kc, jc, full_panels * NR + tail);
            if prefetching {
                prefetch_next_tile(c_rows, (a_rows, &next), (rows.start, n), cols, (q, panels));
            }
            let j = jc + q * NR;
            let full = q < full_panels;
            let w = if full { NR } else { tail };
            // SAFETY: row pc, cols j..j+w of B (inside `b`; the kernel
            // reads w.div_ceil(16) vectors, here exactly w floats); or panel
            // q of the packed block, or its tail panel (inside the buffer).
            let (ptr, ld) = unsafe {
                if IN_PLACE && (full || w.is_multiple_of(LANES)) {
                    (b.as_ptr().add(pc * n + j), n)
                } else if full {
                    (b_pack.add(q * kc * NR).cast_const(), NR)
                } else {
                    (b_pack.add(tail_off).cast_const(), NR)
                }
            };
            // SAFETY: the kernel reads A as above, B panel rows p < kc of
            // 16 floats (packed, or in place with j + NR ≤ n), and touches
            // C rows i..i+mr, cols j..j+w of `c_rows` (or a local tile
            // when w < 16).
            unsafe {
                let c_tile = Strided {
                    ptr: c_rows.as_mut_ptr().add(c_row0 + j),
                    ld: n,
                };
                let b_panel = Strided { ptr, ld };
                if !TA && by_rows {
                    tile::<true>(mr, w, kc, a_panel, b_panel, c_tile, init);
                } else {
                    tile::<false>(mr, w, kc, a_panel, b_panel, c_tile, init);
                }
            }
        }
        // The epilogue while the row tile is still in L1: the whole tile
        // in one call when the block spans the rows (a call per row, or
        // per 16-column panel, cost more than a small layer's activation).
        if last {
            let cols = full_panels * NR + tail;
            if cols == n {
                let values = &mut c_rows[c_row0..c_row0 + mr * n];
                epilogue(Finished {
                    row: i,
                    rows: mr,
                    col: 0,
                    cols,
                    values,
                });
            } else {
                for r in 0..mr {
                    let off = c_row0 + r * n + jc;
                    let values = &mut c_rows[off..off + cols];
                    epilogue(Finished {
                        row: i + r,
                        rows: 1,
                        col: jc,
                        cols,
                        values,
                    });
                }
            }
        }
        i += mr;
    }
}

/// Asks for the next row tile's operands while this one computes, a share
/// of its rows per B panel: the rows of A it reads in place (NN/NT) and the
/// rows of C it writes. A product whose operands were written long before
/// (the 300-row probe's 51 layers, 29 MiB, are far beyond L2) otherwise
/// waits on them tile by tile: AMD Zen 4, NT 300×128×128 cycling through
/// 50 layers' buffers, 142–165 µs → 112–118 (in cache: 100 either way).
#[inline(always)]
fn prefetch_next_tile(
    c_rows: &[f32],
    (a, next): (Option<(&[f32], usize)>, &Range<usize>),
    (first_row, n): (usize, usize),
    (pc, kc, jc, nc): (usize, usize, usize, usize),
    (q, panels): (usize, usize),
) {
    let rows = next.len();
    for r in next.start + q * rows / panels..next.start + (q + 1) * rows / panels {
        if let Some((a, lda)) = a {
            prefetch(&a[r * lda + pc..][..kc]);
        }
        let c = (r - first_row) * n + jc;
        prefetch(&c_rows[c..c + nc]);
    }
}

/// The A micro-panel of rows i..i+mr for the K block pc..pc+kc, packed
/// first when `a_src` says so, and whether the kernel reads it by rows.
///
/// # Safety
/// A(i + r, pc + p) for r < mr, p < kc must lie inside op(A) (`a`, with
/// leading dimension `lda` as in [`blocked`]), and `a_src` be as
/// [`ASource`] says (an `EachTile` buffer of KC·A_STEP floats).
#[inline(always)]
unsafe fn a_panel<const TA: bool>(
    a_src: ASource,
    a: &[f32],
    lda: usize,
    i: usize,
    mr: usize,
    (pc, kc): (usize, usize),
) -> (Strided<*const f32>, bool) {
    match a_src {
        ASource::EachTile(buf) => {
            // SAFETY: the rows and K block inside `a` (caller's contract),
            // the copy (kc·A_STEP floats) inside the A pack buffer.
            unsafe { pack_a_panel::<TA>(buf, A_STEP, a, lda, i, mr, pc, kc) };
            let panel = Strided {
                ptr: buf.cast_const(),
                ld: A_STEP,
            };
            (panel, false)
        }
        ASource::Strided { ptr, ld, first } => {
            // SAFETY: row i − first of the source (caller's contract).
            let ptr = unsafe { ptr.add(i - first) };
            (Strided { ptr, ld }, false)
        }
        ASource::Rows { ptr, ld } => {
            // SAFETY: row i of A (caller's contract).
            let ptr = unsafe { ptr.add(i * ld) };
            (Strided { ptr, ld }, true)
        }
    }
}

/// Whether a micro-panel read in place (one line per k step, at stride
/// `ld` floats: TN's A, or NN/TN's B) maps onto so few L1 sets that it
/// cannot stay cached while it is reused. A 4 KiB-per-way L1 (64 sets of
/// 64-byte lines; Zen 3/4 and recent Intel cores) sees a stride s as
/// 4096 / gcd(s, 4096) distinct sets.
fn panel_crowds_l1(ld: usize, kc: usize) -> bool {
    let stride = 4 * ld;
    let mut g = (stride, 4096);
    while g.1 != 0 {
        g = (g.1, g.0 % g.1);
    }
    let sets = 4096 / g.0.max(64);
    kc > 8 * sets
}

/// Height of the next row tile when `left` rows remain: the rows are cut
/// into ⌈left/MR⌉ tiles of nearly equal height (64 rows: 4×11 + 2×10
/// rather than 5×12 + 4), so there is no thin, slow edge tile. (The bits of
/// an element do not depend on its tile.)
#[inline]
fn tile_rows(left: usize) -> usize {
    if left <= MR {
        left
    } else {
        left.div_ceil(left.div_ceil(MR))
    }
}

/// Copies the A micro-panel A(i..i+mr, pc..pc+kc) to `dst` as the kernel
/// reads it: k step p at dst[p*ld..p*ld + mr]. For TN that is A's own
/// layout with a short stride; NN/NT transpose 8×8 blocks. (NN/NT read
/// in place broadcast from MR rows at the same offset in their lines: in
/// an earlier kernel whose FMAs took the broadcast as a memory operand,
/// that cost ~30 % on a 12×256×32 product; with register broadcasts it is
/// 2–12 % faster than packing on AMD Zen 4, so only several N blocks
/// pack A now.)
///
/// # Safety
/// `dst` must be valid for kc·ld writes with ld ≥ mr rounded up to 16, A
/// must hold rows i..i+mr and columns pc..pc+kc of op(A) with leading
/// dimension `lda` as in [`blocked`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn pack_a_panel<const TA: bool>(
    dst: *mut f32,
    ld: usize,
    a: &[f32],
    lda: usize,
    i: usize,
    mr: usize,
    pc: usize,
    kc: usize,
) {
    let src = a.as_ptr();
    debug_assert!(ld >= mr.next_multiple_of(8));
    // SAFETY: caller's contract.
    unsafe {
        if TA {
            // Whole 8-float vectors per k step while A's row has 8 floats
            // from there on (rows ≥ mr are copied but never read), the
            // rest element by element: no memcpy call per k step.
            for p in 0..kc {
                let s = src.add((pc + p) * lda + i);
                let d = dst.add(p * ld);
                let mut r = 0;
                while r < mr && i + r + 8 <= lda {
                    store8(d.add(r), load8(s.add(r)));
                    r += 8;
                }
                for r in r..mr {
                    *d.add(r) = *s.add(r);
                }
            }
        } else {
            let kc8 = kc - kc % 8;
            // Rows in blocks of 8, the last one padded with zeros (stored
            // in the unused rows mr..A_STEP of each k step).
            for r0 in (0..mr).step_by(8) {
                let h = (mr - r0).min(8);
                let row = |t: usize| src.add((i + r0 + t) * lda + pc);
                for p in (0..kc8).step_by(8) {
                    let block: [f32x8; 8] = std::array::from_fn(|t| {
                        if t < h {
                            load8(row(t).add(p))
                        } else {
                            f32x8::ZERO
                        }
                    });
                    for (u, v) in f32x8::transpose(block).into_iter().enumerate() {
                        store8(dst.add((p + u) * ld + r0), v);
                    }
                }
                for p in kc8..kc {
                    for t in 0..h {
                        *dst.add(p * ld + r0 + t) = *row(t).add(p);
                    }
                }
            }
        }
    }
}

/// Packs B[ks, j..j+w] (as op(B), i.e. (k, n)) into `dst`: ks.len() rows
/// of `pw` floats, zero-padded from w to a whole vector (the kernel reads
/// no further).
///
/// # Safety
/// `dst` must be valid for ks.len()·pw writes; w ≤ pw, j + w ≤ n,
/// ks.end ≤ k and B must hold k·n floats.
#[inline(always)]
unsafe fn pack_b<const TB: bool>(
    dst: *mut f32,
    pw: usize,
    ops: &Operands,
    ks: Range<usize>,
    j: usize,
    w: usize,
) {
    let Operands { b, k, n, .. } = *ops;
    let (pc, kc) = (ks.start, ks.len());
    debug_assert!(w <= pw && j + w <= n && ks.end <= k && b.len() == k * n);
    // The kernel reads the panel's columns in whole vectors, no further.
    let padded = w.next_multiple_of(LANES).min(pw);
    let src = b.as_ptr();
    if !TB {
        // B is (k, n): each panel row is a contiguous piece of a B row.
        for p in 0..kc {
            // SAFETY: caller's contract.
            unsafe {
                let s = src.add((pc + p) * n + j);
                let d = dst.add(p * pw);
                // Whole vectors, then the rest inline (not memcpy +
                // memset: a call per row cost more than the copy for a
                // 10-column tail), zero-padded to a whole vector.
                let wv = w - w % LANES;
                for v in (0..wv).step_by(LANES) {
                    store(d.add(v), load(s.add(v)));
                }
                for t in wv..padded {
                    *d.add(t) = if t < w { *s.add(t) } else { 0.0 };
                }
            }
        }
        return;
    }
    // B is stored (n, k): panel column jj is a contiguous piece of B row
    // j + jj, so this is a transpose, done in 8×8 blocks.
    let (w8, kc8) = (w - w % 8, kc - kc % 8);
    for jj in (0..w8).step_by(8) {
        // Each row is read for only kc floats, too short a run for the
        // hardware prefetcher to follow: ask for the next 8 rows' runs
        // (unless B is small enough to be in L1 already).
        if n * k > PREFETCH_ABOVE {
            let next = j + jj + 8;
            for row in next..(next + 8).min(n) {
                prefetch(&b[row * k + pc..][..kc]);
            }
        }
        // SAFETY: caller's contract (rows j+jj..j+jj+8 ≤ j+w of B, columns
        // pc+p..pc+p+8 ≤ pc+kc; panel rows p..p+8 < kc, columns < w).
        unsafe {
            let s = src.add((j + jj) * k + pc);
            for p in (0..kc8).step_by(8) {
                let block = std::array::from_fn(|t| load8(s.add(t * k + p)));
                for (u, v) in f32x8::transpose(block).into_iter().enumerate() {
                    store8(dst.add((p + u) * pw + jj), v);
                }
            }
            for p in kc8..kc {
                for t in 0..8 {
                    *dst.add(p * pw + jj + t) = *s.add(t * k + p);
                }
            }
        }
    }
    for jj in w8..w {
        // SAFETY: as above, one B row.
        unsafe {
            let s = src.add((j + jj) * k + pc);
            for p in 0..kc {
                *dst.add(p * pw + jj) = *s.add(p);
            }
        }
    }
    if w < padded {
        for p in 0..kc {
            for t in w..padded {
                // SAFETY: panel row p < kc, column t < pw.
                unsafe { *dst.add(p * pw + t) = 0.0 };
            }
        }
    }
}

/// One register tile: C[0..mr, 0..w] of the tile at `c` (row stride ldc),
/// w ≤ NR. A full tile, or one of exactly one vector, runs in place; a
/// partial one runs on a local copy so the kernel can load and store whole
/// vectors. (B panels are always NR wide, zero-padded.)
///
/// # Safety
/// As for [`kernel`], with C only valid for rows < mr, cols < w.
#[inline(always)]
unsafe fn tile<const BY_ROWS: bool>(
    mr: usize,
    w: usize,
    kc: usize,
    a: Strided<*const f32>,
    b: Strided<*const f32>,
    c: Strided<*mut f32>,
    init: Init,
) {
    let vectors = w.div_ceil(LANES);
    if w == vectors * LANES {
        // SAFETY: caller's contract.
        unsafe { dispatch::<BY_ROWS>(mr, vectors, kc, a, b, c, init) };
        return;
    }
    let Strided { ptr: c, ld: ldc } = c;
    let mut local = [f32x16::ZERO; MR * NV];
    let t = local.as_mut_ptr().cast::<f32>();
    // SAFETY: `local` is MR rows of NR floats; C is valid for rows < mr,
    // cols < w (caller's contract).
    unsafe {
        if !matches!(init, Init::Zero) {
            for r in 0..mr {
                std::ptr::copy_nonoverlapping(c.add(r * ldc), t.add(r * NR), w);
            }
        }
        dispatch::<BY_ROWS>(mr, vectors, kc, a, b, Strided { ptr: t, ld: NR }, init);
        for r in 0..mr {
            std::ptr::copy_nonoverlapping(t.add(r * NR), c.add(r * ldc), w);
        }
    }
}

/// Picks the kernel instance for mr rows of `vectors` (1 or NV) vectors.
///
/// # Safety
/// As for [`kernel`].
#[inline(always)]
unsafe fn dispatch<const BY_ROWS: bool>(
    mr: usize,
    vectors: usize,
    kc: usize,
    a: Strided<*const f32>,
    b: Strided<*const f32>,
    c: Strided<*mut f32>,
    init: Init,
) {
    macro_rules! go {
        ($($r:literal)*) => {
            // SAFETY: caller's contract, with mr = $r.
            #[allow(unreachable_patterns)] // the second list is the first when NV = 1
            unsafe {
                match (mr, vectors) {
                    $(($r, 1) => kernel::<$r, 1, BY_ROWS>(kc, a, b, c, init),)*
                    $(($r, NV) => kernel::<$r, NV, BY_ROWS>(kc, a, b, c, init),)*
                    _ => unreachable!("tile {mr}×{vectors} vectors > {MR}×{NV}"),
                }
            }
        };
    }
    #[cfg(target_feature = "avx512f")]
    go!(12 11 10 9 8 7 6 5 4 3 2 1);
    #[cfg(not(target_feature = "avx512f"))]
    go!(6 5 4 3 2 1);
}

/// Unaligned vector load.
///
/// # Safety
/// `p` must be valid for reading 16 floats.
#[inline(always)]
unsafe fn load(p: *const f32) -> f32x16 {
    // SAFETY: caller's contract; f32x16 is plain data (16 f32).
    unsafe { p.cast::<f32x16>().read_unaligned() }
}

/// Unaligned load of 8 floats.
///
/// # Safety
/// `p` must be valid for reading 8 floats.
#[inline(always)]
unsafe fn load8(p: *const f32) -> f32x8 {
    // SAFETY: caller's contract; f32x8 is plain data (8 f32).
    unsafe { p.cast::<f32x8>().read_unaligned() }
}

/// Unaligned store of 8 floats.
///
/// # Safety
/// `p` must be valid for writing 8 floats.
#[inline(always)]
unsafe fn store8(p: *mut f32, v: f32x8) {
    // SAFETY: caller's contract; f32x8 is plain data (8 f32).
    unsafe { p.cast::<f32x8>().write_unaligned(v) }
}

/// Unaligned vector store.
///
/// # Safety
/// `p` must be valid for writing 16 floats.
#[inline(always)]
unsafe fn store(p: *mut f32, v: f32x16) {
    // SAFETY: caller's contract; f32x16 is plain data (16 f32).
    unsafe { p.cast::<f32x16>().write_unaligned(v) }
}

/// The microkernel: C[0..R, 0..16·V] ← init, then += Σ_p A(r, p)·B(p, ·)
/// over p = 0..kc in increasing order, one FMA per term. A(r, p) is
/// `a[p*lda + r]` (a packed or TN micro-panel) or, `BY_ROWS`,
/// `a[r*lda + p]` (the rows of an NN/NT A in place); B row p is
/// `b[p*ldb..]` (16·V floats read).
///
/// The accumulators are separate locals (c0, d0, c1, …: row r's vectors):
/// rows ≥ R and the second vector when V = 1 are dead code removed at
/// compile time. Per k step: V B loads, R broadcasts of A, R·V FMAs. With
/// V = 2 each broadcast (a `vbroadcastss` into a register) feeds two FMAs:
/// 14 loads for 24 FMAs, against 25 for a 24×16 tile whose FMAs take their
/// A element as a memory operand. On Zen 5, which issues two such loads a
/// cycle, that tile tops out at 92 % of the FMA peak in L1 (the load
/// ports), this one at 100 % (asm loops, 128-deep panels in L1). On a
/// Sapphire Rapids-generation Xeon the same asm loop ran at 75 %, the
/// 24×16 tile at 87 % and this tile with memory-operand broadcasts at
/// 83 %, yet that last changed no whole product measurably (alternating
/// runs); LLVM's loop here, which under that core's schedule carries 32
/// register copies and a stack round trip a k step, ran as fast as the
/// asm.
///
/// # Safety
/// A must be valid for reading (r < R, p < kc), B rows p < kc for 16·V
/// floats, C rows r < R (stride ldc) for reading and writing 16·V floats.
// Unrolled over the 12 rows of the tile by macros: long by design.
#[allow(clippy::too_many_lines)]
#[inline(never)]
unsafe fn kernel<const R: usize, const V: usize, const BY_ROWS: bool>(
    kc: usize,
    a: Strided<*const f32>,
    b: Strided<*const f32>,
    c: Strided<*mut f32>,
    init: Init,
) {
    let (Strided { ptr: a, ld: lda }, Strided { ptr: b, ld: ldb }) = (a, b);
    let Strided { ptr: c, ld: ldc } = c;
    let z = f32x16::ZERO;
    let (mut c0, mut c1, mut c2, mut c3, mut c4, mut c5) = (z, z, z, z, z, z);
    let (mut c6, mut c7, mut c8, mut c9, mut c10, mut c11) = (z, z, z, z, z, z);
    let (mut d0, mut d1, mut d2, mut d3, mut d4, mut d5) = (z, z, z, z, z, z);
    let (mut d6, mut d7, mut d8, mut d9, mut d10, mut d11) = (z, z, z, z, z, z);
    // Applies `$m!(row, first vector, second vector)` to every row.
    macro_rules! each_row {
        ($m:ident) => {
            $m!(0, c0, d0);
            $m!(1, c1, d1);
            $m!(2, c2, d2);
            $m!(3, c3, d3);
            $m!(4, c4, d4);
            $m!(5, c5, d5);
            $m!(6, c6, d6);
            $m!(7, c7, d7);
            $m!(8, c8, d8);
            $m!(9, c9, d9);
            $m!(10, c10, d10);
            $m!(11, c11, d11);
        };
    }
    const { assert!(R <= MR && MR <= 12 && V >= 1 && V <= NV) };

    macro_rules! init_row {
        ($r:literal, $x:ident, $y:ident) => {
            if R > $r {
                // SAFETY: C row $r < R, 16·V floats (caller's contract).
                let cr = unsafe { c.add($r * ldc) };
                let start = |p: *mut f32| match init {
                    Init::Zero => z,
                    // SAFETY: as above.
                    Init::Load => unsafe { load(p) },
                    // SAFETY: as above.
                    Init::Scale(beta) => f32x16::splat(beta) * unsafe { load(p) },
                };
                $x = start(cr);
                if V > 1 {
                    // SAFETY: as above.
                    $y = start(unsafe { cr.add(LANES) });
                }
            }
        };
    }
    each_row!(init_row);

    // A(r, p) is broadcast into a register (`vbroadcastss`) and used by
    // both FMAs of the row; with V = 1 LLVM folds it into the FMA's memory
    // operand. The FMA is `mul_add`'s single rounding either way.
    macro_rules! store_row {
        ($r:literal, $x:ident, $y:ident) => {
            if R > $r {
                // SAFETY: C row $r < R, 16·V floats (caller's contract).
                unsafe {
                    store(c.add($r * ldc), $x);
                    if V > 1 {
                        store(c.add($r * ldc + LANES), $y);
                    }
                }
            }
        };
    }
    // LOOP 1: the k steps. The full-width tiles with AVX-512 run them in
    // assembly (see `avx512`: LLVM spilled one of these loops and slowed
    // others).
    #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
    if avx512::runs(R) && V == 2 {
        let mut acc = [
            c0, d0, c1, d1, c2, d2, c3, d3, c4, d4, c5, d5, c6, d6, c7, d7, c8, d8, c9, d9, c10,
            d10, c11, d11,
        ];
        // SAFETY: the caller's contract is `k_steps`'s (R rows of A, kc
        // rows of 32 floats of B).
        unsafe { avx512::k_steps::<R, BY_ROWS>(&mut acc, kc, (a, lda), (b, ldb)) };
        [
            c0, d0, c1, d1, c2, d2, c3, d3, c4, d4, c5, d5, c6, d6, c7, d7, c8, d8, c9, d9, c10,
            d10, c11, d11,
        ] = acc;
        each_row!(store_row);
        return;
    }
    let (mut ap, mut bp) = (a, b);
    for _ in 0..kc {
        // SAFETY: B row p < kc, 16·V floats (caller's contract).
        let b0 = unsafe { load(bp) };
        // SAFETY: as above (unused, and removed, when V = 1).
        let b1 = if V > 1 {
            unsafe { load(bp.add(LANES)) }
        } else {
            z
        };
        macro_rules! fma_row {
            ($r:literal, $x:ident, $y:ident) => {
                if R > $r {
                    // SAFETY: A(r, p) with r < R, p < kc (caller's contract).
                    let av = f32x16::splat(unsafe { *ap.add(if BY_ROWS { $r * lda } else { $r }) });
                    $x = av.mul_add(b0, $x);
                    if V > 1 {
                        $y = av.mul_add(b1, $y);
                    }
                }
            };
        }
        each_row!(fma_row);
        // SAFETY: one past the last A column / B row read at most.
        unsafe {
            ap = ap.add(if BY_ROWS { 1 } else { lda });
            bp = bp.add(ldb);
        }
    }

    each_row!(store_row);
}

/// s (rows, cols) += b (cols), the bias broadcast over rows. Accumulates.
pub fn bias_add(s: &mut [f32], b: &[f32], rows: usize, cols: usize) {
    debug_assert_eq!(s.len(), rows * cols);
    debug_assert_eq!(b.len(), cols);
    for row in s.chunks_exact_mut(cols.max(1)) {
        let (body, tail) = row.split_at_mut(cols - cols % LANES);
        for (v, bj) in body.chunks_exact_mut(LANES).zip(b.chunks_exact(LANES)) {
            let sum = f32x16::from(&*v) + f32x16::from(bj);
            v.copy_from_slice(sum.as_array());
        }
        // Leftovers: the same single rounding per element as the lanes.
        for (v, &bj) in tail.iter_mut().zip(&b[cols - cols % LANES..]) {
            *v += bj;
        }
    }
}

/// db (cols) ← Σ_rows x + β·db: the bias gradient, x being `rows` rows
/// `ld` apart of which the first `cols` = `db.len()` values are summed
/// (`ld` = `cols`: a whole (rows, cols) matrix; larger: a block of its
/// columns, from `&x[first_col..]`). Overwrites db (reads it only if β ≠
/// 0). Each column sums its rows in increasing row order, after β·db,
/// exactly as the scalar twin (so the bits match it, and a block of
/// columns gets the bits of those columns of the whole).
pub fn column_sum(db: &mut [f32], x: &[f32], rows: usize, ld: usize, beta: f32) {
    let cols = db.len();
    assert!(
        cols <= ld || rows <= 1,
        "column_sum: {cols} columns, rows {ld} apart"
    );
    assert!(
        rows == 0 || x.len() >= (rows - 1) * ld + cols,
        "column_sum: x too short"
    );
    let body = cols - cols % LANES;
    // Four vectors of columns at a time, all rows, in registers.
    const W: usize = 4 * LANES;
    let mut j = 0;
    while j < body {
        let nv = ((body - j) / LANES).min(4);
        let mut acc = [f32x16::ZERO; 4];
        for (v, acc) in acc.iter_mut().enumerate().take(nv) {
            let d = &db[j + v * LANES..j + (v + 1) * LANES];
            *acc = if beta == 0.0 {
                f32x16::ZERO
            } else if beta == 1.0 {
                f32x16::from(d)
            } else {
                f32x16::from(d) * beta
            };
        }
        for row in (0..rows).map(|r| &x[r * ld..r * ld + cols]) {
            for (v, acc) in acc.iter_mut().enumerate().take(nv) {
                *acc += f32x16::from(&row[j + v * LANES..j + (v + 1) * LANES]);
            }
        }
        for (v, acc) in acc.iter().enumerate().take(nv) {
            db[j + v * LANES..j + (v + 1) * LANES].copy_from_slice(acc.as_array());
        }
        j += W.min(nv * LANES);
    }
    for j in body..cols {
        let mut acc = if beta == 0.0 {
            0.0
        } else if beta == 1.0 {
            db[j]
        } else {
            db[j] * beta
        };
        for r in 0..rows {
            acc += x[r * ld + j];
        }
        db[j] = acc;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Layout {
        Nn,
        Tn,
        Nt,
    }
    const LAYOUTS: [Layout; 3] = [Layout::Nn, Layout::Tn, Layout::Nt];

    /// Deterministic values in [-1, 1).
    fn fill(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    /// Stored sizes of A and B for a layout.
    fn run_simd(
        layout: Layout,
        c: &mut [f32],
        a: &[f32],
        b: &[f32],
        dims: (usize, usize, usize),
        beta: f32,
    ) {
        let (m, k, n) = dims;
        match layout {
            Layout::Nn => gemm_nn(c, a, b, m, k, n, beta),
            Layout::Tn => gemm_tn(c, a, b, m, k, n, beta),
            Layout::Nt => gemm_nt(c, a, b, m, k, n, beta),
        }
    }

    fn run_rows(
        layout: Layout,
        c: &mut [f32],
        a: &[f32],
        b: &[f32],
        dims: (usize, usize, usize),
        rows: Range<usize>,
        beta: f32,
    ) {
        let (m, k, n) = dims;
        let ops = Operands { a, b, m, k, n };
        match layout {
            Layout::Nn => gemm_nn_rows(c, ops, rows, beta),
            Layout::Tn => gemm_tn_rows(c, ops, rows, beta),
            Layout::Nt => gemm_nt_rows(c, ops, rows, beta),
        }
    }

    fn run_ref(
        layout: Layout,
        c: &mut [f32],
        a: &[f32],
        b: &[f32],
        dims: (usize, usize, usize),
        beta: f32,
    ) {
        let (m, k, n) = dims;
        match layout {
            Layout::Nn => reference::gemm_nn(c, a, b, m, k, n, beta),
            Layout::Tn => reference::gemm_tn(c, a, b, m, k, n, beta),
            Layout::Nt => reference::gemm_nt(c, a, b, m, k, n, beta),
        }
    }

    /// op(A)(i, p) and op(B)(p, j) for a layout.
    fn a_at(layout: Layout, a: &[f32], dims: (usize, usize, usize), i: usize, p: usize) -> f32 {
        let (m, k, _) = dims;
        if layout == Layout::Tn {
            a[p * m + i]
        } else {
            a[i * k + p]
        }
    }
    fn b_at(layout: Layout, b: &[f32], dims: (usize, usize, usize), p: usize, j: usize) -> f32 {
        let (_, k, n) = dims;
        if layout == Layout::Nt {
            b[j * k + p]
        } else {
            b[p * n + j]
        }
    }

    /// Largest |simd − ref| / scale seen, and at which case.
    #[derive(Default)]
    struct Worst {
        ratio: f64,
        abs: f64,
        case: String,
    }

    /// Compares one case against the scalar twin, with A, B and C starting
    /// at offset `off` of larger buffers (misaligned for `off` ≠ 0 mod 16).
    ///
    /// Tolerance: both sides round each of the k + 1 terms once (the SIMD
    /// kernel fuses multiply and add, sums onto β·c from the start; the
    /// reference rounds the product separately and, for NT, adds β·c last),
    /// so |simd − ref| ≤ ~2·k·2⁻²⁴·(Σ_p |a_ip·b_pj| + |β·c_ij|) in the
    /// worst case, and in practice ≈ √k·2⁻²⁴ times that. 1e-5 of the
    /// absolute sum (which includes the |β·c| term, the one rounding-error
    /// source the reference also has) is ~170 ulps of it.
    fn check(
        layout: Layout,
        dims: (usize, usize, usize),
        beta: f32,
        off: usize,
        worst: &mut Worst,
    ) {
        let (m, k, n) = dims;
        let seed = (m * 1_000_003 + k * 1009 + n) as u64;
        let a_buf = fill(m * k + off, seed);
        let b_buf = fill(k * n + off, seed + 1);
        let a = &a_buf[off..];
        let b = &b_buf[off..];
        let mut c0 = fill(m * n + off, seed + 2);
        if beta == 0.0 {
            // β = 0 must not read C.
            c0.fill(f32::NAN);
        }
        let mut got = c0.clone();
        let mut want = c0.clone();
        run_simd(layout, &mut got[off..], a, b, dims, beta);
        run_ref(layout, &mut want[off..], a, b, dims, beta);
        for i in 0..m {
            for j in 0..n {
                let idx = off + i * n + j;
                let abs_sum: f64 = (0..k)
                    .map(|p| {
                        (a_at(layout, a, dims, i, p) as f64 * b_at(layout, b, dims, p, j) as f64)
                            .abs()
                    })
                    .sum();
                let bc = if beta == 0.0 {
                    0.0
                } else {
                    (beta * c0[idx]).abs() as f64
                };
                let scale = abs_sum + bc;
                let diff = (got[idx] as f64 - want[idx] as f64).abs();
                let tol = 1e-5 * scale + f32::MIN_POSITIVE as f64;
                assert!(
                    diff <= tol,
                    "{layout:?} {m}x{k}x{n} beta {beta} off {off}: C[{i},{j}] = {} vs reference {} (diff {diff:e}, tol {tol:e})",
                    got[idx],
                    want[idx]
                );
                if scale > 0.0 && diff / scale > worst.ratio {
                    worst.ratio = diff / scale;
                    worst.abs = diff;
                    worst.case = format!("{layout:?} {m}x{k}x{n} beta {beta} C[{i},{j}]");
                }
            }
        }
        // Nothing outside C's slice was touched.
        assert!(
            got[..off]
                .iter()
                .zip(&c0[..off])
                .all(|(x, y)| x.to_bits() == y.to_bits())
        );
    }

    const DIMS: [usize; 12] = [0, 1, 7, 8, 9, 15, 16, 17, 32, 48, 63, 65];

    #[test]
    fn matches_reference_on_tail_sizes_betas_and_offsets() {
        for layout in LAYOUTS {
            let mut worst = Worst::default();
            for &m in &DIMS {
                for &k in &DIMS {
                    for &n in &DIMS {
                        for beta in [0.0, 1.0, 0.5] {
                            let off = (m + 2 * k + 3 * n) % 4;
                            check(layout, (m, k, n), beta, off, &mut worst);
                        }
                    }
                }
            }
            println!(
                "{layout:?} tail sizes: OK, max |simd-ref| = {:e} = {:.2e} of Σ|a·b|+|βc| ({})",
                worst.abs, worst.ratio, worst.case
            );
        }
    }

    #[test]
    fn matches_reference_on_larger_shapes() {
        // Several K blocks (KC = 128), N blocks (NC = 256), in-place and
        // packed B, packed A (TN; NN/NT with k a multiple of 1024), all
        // tails.
        let shapes = [
            (130, 257, 100),
            (64, 128, 10),
            (16, 32, 32),
            (33, 600, 300),
            (9, 513, 129),
            (70, 64, 1000),
            (3, 1000, 65),
            (10, 1024, 70),
            (64, 300, 70),
            (128, 260, 40),
        ];
        for layout in LAYOUTS {
            let mut worst = Worst::default();
            for &dims in &shapes {
                for beta in [0.0, 1.0, 0.5] {
                    for off in [0, 1, 3] {
                        check(layout, dims, beta, off, &mut worst);
                    }
                }
            }
            println!(
                "{layout:?} larger shapes: OK, max |simd-ref| = {:e} = {:.2e} of Σ|a·b|+|βc| ({})",
                worst.abs, worst.ratio, worst.case
            );
        }
    }

    /// The determinism contract, bit for bit: every element is
    /// `acc ← β·c` (0 if β = 0, c if β = 1), then `acc ← fma(a_ip, b_pj,
    /// acc)` for p = 0, 1, …, k−1, whatever the path (a multiply and an
    /// add without FMA). The shapes reach full-width tiles of every height
    /// (the assembly loops with AVX-512) with A's rows read in
    /// place (NN/NT, one N block), from packed micro-panels (NN/NT with
    /// N > 256, TN's strided A) and in place strided (TN), over several K
    /// blocks, with the edge tiles around them.
    #[test]
    fn every_element_is_its_scalar_fma_chain_bit_for_bit() {
        for layout in LAYOUTS {
            let shapes = [
                (24, 40, 64),
                (36, 300, 96),
                (25, 130, 300),
                (12, 8, 32),
                (22, 70, 64),
                (20, 40, 300),
                (64, 130, 96),
                // An odd last K block (the assembly's step after its
                // loop of two k steps), and k = 1.
                (24, 41, 64),
                (36, 263, 300),
                (12, 1, 32),
                // Tiles of 1 to 9 rows.
                (1, 9, 32),
                (3, 41, 64),
                (5, 20, 300),
                (7, 33, 96),
                (16, 33, 64),
            ];
            for (m, k, n) in shapes {
                for beta in [0.0, 1.0, 0.5] {
                    let seed = (m * 7 + k * 3 + n) as u64;
                    let (a, b) = (fill(m * k, seed), fill(k * n, seed + 1));
                    let c0 = fill(m * n, seed + 2);
                    let mut got = c0.clone();
                    run_simd(layout, &mut got, &a, &b, (m, k, n), beta);
                    for i in 0..m {
                        for j in 0..n {
                            let c = c0[i * n + j];
                            let start = match beta {
                                0.0 => 0.0,
                                1.0 => c,
                                _ => beta * c,
                            };
                            let want = (0..k).fold(start, |acc, p| {
                                let (x, y) = (
                                    a_at(layout, &a, (m, k, n), i, p),
                                    b_at(layout, &b, (m, k, n), p, j),
                                );
                                // Without FMA compiled in, `mul_add` is a
                                // multiply then an add (module doc).
                                if cfg!(target_feature = "fma") {
                                    x.mul_add(y, acc)
                                } else {
                                    x * y + acc
                                }
                            });
                            assert_eq!(
                                got[i * n + j].to_bits(),
                                want.to_bits(),
                                "{layout:?} {m}x{k}x{n} beta {beta}: C[{i},{j}]"
                            );
                        }
                    }
                }
            }
        }
    }

    fn bits(x: &[f32]) -> Vec<u32> {
        x.iter().map(|v| v.to_bits()).collect()
    }

    /// C computed over `splits` (consecutive row ranges) into one buffer.
    fn by_rows(
        layout: Layout,
        a: &[f32],
        b: &[f32],
        c0: &[f32],
        dims: (usize, usize, usize),
        splits: &[usize],
        beta: f32,
    ) -> Vec<f32> {
        let n = dims.2;
        let mut c = c0.to_vec();
        let mut start = 0;
        for &end in splits {
            run_rows(
                layout,
                &mut c[start * n..end * n],
                a,
                b,
                dims,
                start..end,
                beta,
            );
            start = end;
        }
        assert_eq!(start, dims.0);
        c
    }

    #[test]
    fn row_splits_give_identical_bits() {
        for layout in LAYOUTS {
            for &(m, k, n) in &[(37, 300, 70), (13, 40, 33), (20, 600, 200), (17, 5, 10)] {
                let dims = (m, k, n);
                let a = fill(m * k, 7);
                let b = fill(k * n, 8);
                let c0 = fill(m * n, 9);
                for beta in [0.0, 0.5] {
                    let whole = by_rows(layout, &a, &b, &c0, dims, &[m], beta);
                    let every_row: Vec<usize> = (1..=m).collect();
                    for splits in [&[5, m][..], &[1, m], &[m / 2, m], &[3, 11, m], &every_row] {
                        let split = by_rows(layout, &a, &b, &c0, dims, splits, beta);
                        assert_eq!(
                            bits(&whole),
                            bits(&split),
                            "{layout:?} {dims:?} split {splits:?}"
                        );
                    }
                }
            }
            println!("{layout:?}: row splits bit-identical");
        }
    }

    #[test]
    fn edge_tiles_give_identical_bits() {
        // Rows: C from m = 1 … 50 (one tile of 1 … 12 rows, or several
        // tiles of nearly equal height) vs m = 50, on the shared rows.
        // Columns: n = 56 (a full 32-column panel and a 24-wide tail), 48
        // (a one-vector tail, in place for NN/TN), 40 (an 8-wide tail), 33
        // (a 1-wide tail), 32 (a full panel only), 31, 17, 15 (a partial
        // tail), 16 (one vector), on the shared columns.
        for layout in LAYOUTS {
            for k in [1, 37, 300] {
                let (m_max, n_max) = (50, 56);
                let a_full = fill(m_max * k, 11);
                let b_full = fill(k * n_max, 12);
                let c_full = fill(m_max * n_max, 13);
                let (a_full, b_full, c_full) = (&a_full, &b_full, &c_full);
                // op(A) rows 0..m and op(B) columns 0..n, stored per layout.
                let sub = |m: usize, n: usize| {
                    let a: Vec<f32> = if layout == Layout::Tn {
                        (0..k)
                            .flat_map(|p| (0..m).map(move |i| a_full[p * m_max + i]))
                            .collect()
                    } else {
                        a_full[..m * k].to_vec()
                    };
                    let b: Vec<f32> = if layout == Layout::Nt {
                        b_full[..n * k].to_vec()
                    } else {
                        (0..k)
                            .flat_map(|p| (0..n).map(move |j| b_full[p * n_max + j]))
                            .collect()
                    };
                    let c0: Vec<f32> = (0..m)
                        .flat_map(|i| (0..n).map(move |j| c_full[i * n_max + j]))
                        .collect();
                    (a, b, c0)
                };
                for beta in [0.0, 0.5] {
                    let (a, b, mut reference_c) = sub(m_max, n_max);
                    run_simd(layout, &mut reference_c, &a, &b, (m_max, k, n_max), beta);
                    for m in [1, 5, 8, 13, 16, 23, 24, 25, 49, 50] {
                        for n in [1, 8, 15, 16, 17, 31, 32, 33, 40, 48, 56] {
                            let (a, b, mut c) = sub(m, n);
                            run_simd(layout, &mut c, &a, &b, (m, k, n), beta);
                            for i in 0..m {
                                for j in 0..n {
                                    assert_eq!(
                                        c[i * n + j].to_bits(),
                                        reference_c[i * n_max + j].to_bits(),
                                        "{layout:?} k {k} beta {beta}: C[{i},{j}] of {m}x{n} vs {m_max}x{n_max}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
            println!("{layout:?}: edge and full tiles bit-identical");
        }
    }

    /// C through `blocked` with a given B path, buffers and K block depth.
    fn forced<
        const TA: bool,
        const TB: bool,
        const IN_PLACE: bool,
        const BUF: usize,
        const AG: usize,
    >(
        c0: &[f32],
        a: &[f32],
        b: &[f32],
        dims: (usize, usize, usize),
        beta: f32,
        kc_max: usize,
    ) -> Vec<u32> {
        let (m, k, n) = dims;
        let mut c = c0.to_vec();
        let noop = |_: Finished| {};
        let ops = Operands { a, b, m, k, n };
        blocked::<TA, TB, IN_PLACE, BUF, AG, _>(&mut c, ops, 0..m, beta, kc_max, noop);
        bits(&c)
    }

    #[test]
    fn blocking_and_b_path_do_not_change_bits() {
        // The partial sums round-trip exactly through C between K blocks,
        // so K block depth (8 … KC), N block width (packed B in 32-, 64- or
        // 128-column blocks) and in-place vs packed B give the same bits.
        let (m, k, n) = (19, 600, 200 + 7);
        let dims = (m, k, n);
        let a = fill(m * k, 21);
        let b = fill(k * n, 22);
        let c0 = fill(m * n, 23);
        for beta in [0.0, 0.5] {
            let want = forced::<false, false, false, { KC * NC }, 0>(&c0, &a, &b, dims, beta, KC);
            for kc_max in [8, 24, 100, KC] {
                let got = [
                    forced::<false, false, true, { KC * NR }, 0>(&c0, &a, &b, dims, beta, kc_max),
                    forced::<false, false, false, { KC * NR }, 0>(&c0, &a, &b, dims, beta, kc_max),
                    forced::<false, false, false, { KC * 2 * NR }, 0>(
                        &c0, &a, &b, dims, beta, kc_max,
                    ),
                    forced::<false, false, false, { KC * NC }, 0>(&c0, &a, &b, dims, beta, kc_max),
                ];
                for (path, g) in got.iter().enumerate() {
                    assert_eq!(g, &want, "NN beta {beta} kc_max {kc_max} path {path}");
                }
            }
            // TN: A stored (k, m); NT: B stored (n, k) (same buffers, other
            // meaning; only bit equality between paths matters here).
            let want = forced::<true, false, false, { KC * NC }, 0>(&c0, &a, &b, dims, beta, KC);
            for kc_max in [8, 100, KC] {
                let g =
                    forced::<true, false, true, { KC * NR }, 0>(&c0, &a, &b, dims, beta, kc_max);
                assert_eq!(g, want, "TN beta {beta} kc_max {kc_max}");
                let g = forced::<true, false, false, { KC * 2 * NR }, 0>(
                    &c0, &a, &b, dims, beta, kc_max,
                );
                assert_eq!(g, want, "TN beta {beta} kc_max {kc_max}");
            }
            let want = forced::<false, true, false, { KC * NC }, 0>(&c0, &a, &b, dims, beta, KC);
            for kc_max in [8, 100, KC] {
                let g =
                    forced::<false, true, false, { KC * NR }, 0>(&c0, &a, &b, dims, beta, kc_max);
                assert_eq!(g, want, "NT beta {beta} kc_max {kc_max}");
            }
        }
        println!("K block depth, N block width, in-place/packed B: bit-identical");
    }

    #[test]
    fn packing_a_in_groups_of_rows_does_not_change_bits() {
        // Several N blocks (n > NC) and several groups of rows (m >
        // A_GROUP_ROWS), a short last group; TN with m a multiple of 1024
        // floats (A packed) and not (read in place); K blocks of 8 … KC.
        const AG: usize = KC * A_GROUP_LD;
        for (m, k, n) in [(300, 40, 600), (1024, 37, 290), (257, 130, 513)] {
            let a = fill(m * k, 51);
            let b = fill(k * n, 52);
            let c0 = fill(m * n, 53);
            let dims = (m, k, n);
            for kc_max in [8, KC] {
                let beta = 0.5;
                let want =
                    forced::<true, false, false, { KC * NC }, 0>(&c0, &a, &b, dims, beta, kc_max);
                let tn =
                    forced::<true, false, false, { KC * NC }, AG>(&c0, &a, &b, dims, beta, kc_max);
                // NN and NT read the same values stored the other way.
                let at: Vec<f32> = (0..m * k).map(|t| a[(t % k) * m + t / k]).collect();
                let bt: Vec<f32> = (0..n * k).map(|t| b[(t % k) * n + t / k]).collect();
                let nn_want =
                    forced::<false, false, false, { KC * NC }, 0>(&c0, &at, &b, dims, beta, kc_max);
                let nn = forced::<false, false, false, { KC * NC }, AG>(
                    &c0, &at, &b, dims, beta, kc_max,
                );
                let nt = forced::<false, true, false, { KC * NC }, AG>(
                    &c0, &at, &bt, dims, beta, kc_max,
                );
                assert_eq!(tn, want, "TN {dims:?} kc {kc_max}");
                assert_eq!(nn_want, want, "NN {dims:?} kc {kc_max}");
                assert_eq!(nn, want, "NN grouped {dims:?} kc {kc_max}");
                assert_eq!(nt, want, "NT grouped {dims:?} kc {kc_max}");
                // One wide N block instead (one_wide_block), each layout.
                const WIDE: usize = KC * NC_WIDE;
                let wide = [
                    forced::<true, false, false, WIDE, 0>(&c0, &a, &b, dims, beta, kc_max),
                    forced::<false, false, false, WIDE, 0>(&c0, &at, &b, dims, beta, kc_max),
                    forced::<false, true, false, WIDE, 0>(&c0, &at, &bt, dims, beta, kc_max),
                ];
                for (layout, w) in ["TN", "NN", "NT"].iter().zip(&wide) {
                    assert_eq!(w, &want, "{layout} one wide block {dims:?} kc {kc_max}");
                }
            }
        }
    }

    #[test]
    fn l2_size_agrees_with_the_kernel() {
        // Linux describes the caches from other CPUID leaves (4 on Intel,
        // 0x8000_001D on AMD): where it names a level-2 cache, its size
        // must be the one the wide-block choice reads.
        let l2 = l2_bytes();
        println!(
            "L2: {} KiB, one wide N block: {}",
            l2 / 1024,
            one_wide_block(NC_WIDE)
        );
        let dir = "/sys/devices/system/cpu/cpu0/cache";
        let read = |i: usize, f: &str| std::fs::read_to_string(format!("{dir}/index{i}/{f}"));
        for i in 0..8 {
            let Ok(level) = read(i, "level") else {
                continue;
            };
            if level.trim() != "2" {
                continue;
            }
            let size = read(i, "size").expect("a cache with a level has a size");
            let kib: usize = size
                .trim()
                .trim_end_matches('K')
                .parse()
                .expect("size in K");
            assert_eq!(l2, kib * 1024, "CPUID's L2 against {dir}/index{i}");
            return;
        }
        println!("no level-2 cache in {dir}: not compared");
    }

    #[test]
    fn packing_a_does_not_change_bits() {
        // TN packs A when its stride m crowds L1 (m = 64, k = 300) but not
        // for m = 63. Shared elements must agree bit for bit.
        let (k, n) = (300, 70);
        let a64 = fill(k * 64, 41);
        let b = fill(k * n, 42);
        let a63: Vec<f32> = (0..k)
            .flat_map(|p| a64[p * 64..p * 64 + 63].to_vec())
            .collect();
        let mut c64 = vec![0.0; 64 * n];
        let mut c63 = vec![0.0; 63 * n];
        gemm_tn(&mut c64, &a64, &b, 64, k, n, 0.0);
        gemm_tn(&mut c63, &a63, &b, 63, k, n, 0.0);
        assert_eq!(bits(&c64[..63 * n]), bits(&c63));

        // NN and NT read A by rows in place when B is one N block, and
        // pack it in groups of rows, transposing 8×8 blocks (rows in
        // blocks of 8 with a short last one, k in steps of 8 with a
        // remainder), when B comes in several (n = 300 for NT, 520 for
        // NN); TN reads the same A, stored transposed, in place. Every
        // tile height and k remainder must give the bits of TN.
        for (m, k) in [
            (13, 1027),
            (12, 8),
            (7, 5),
            (24, 263),
            (25, 131),
            (50, 40),
            (1, 17),
        ] {
            let a = fill(m * k, 43);
            let at: Vec<f32> = (0..k * m).map(|t| a[(t % m) * k + t / m]).collect();
            for n in [10, 32, 64, 300, 520] {
                let b = fill(k * n, 44);
                let bt: Vec<f32> = (0..n * k).map(|t| b[(t % k) * n + t / k]).collect();
                let mut c_nn = vec![0.0; m * n];
                let mut c_nt = vec![0.0; m * n];
                let mut c_tn = vec![0.0; m * n];
                gemm_nn(&mut c_nn, &a, &b, m, k, n, 0.0);
                gemm_nt(&mut c_nt, &a, &bt, m, k, n, 0.0);
                gemm_tn(&mut c_tn, &at, &b, m, k, n, 0.0);
                assert_eq!(bits(&c_nn), bits(&c_tn), "NN vs TN, {m}x{k}x{n}");
                assert_eq!(bits(&c_nt), bits(&c_tn), "NT vs TN, {m}x{k}x{n}");
            }
        }
    }

    /// Runs rows `rows` of the product of `a` (m, k) and `b` (n, k) in
    /// `layout` ("nt", "nn" or "tn", its operands stored as that layout
    /// reads them) with an epilogue that checks the shape of each piece,
    /// records it and adds 1 to it; returns C (NaN outside `rows`), how
    /// often each element was passed, and its value when passed.
    fn run_with_epilogue(
        layout: &str,
        (a, b): (&[f32], &[f32]),
        (m, k, n): (usize, usize, usize),
        rows: Range<usize>,
    ) -> [Vec<f32>; 3] {
        // The same product stored for NN (B (k, n)) and TN (A (k, m)).
        let at: Vec<f32> = (0..k * m).map(|t| a[(t % m) * k + t / m]).collect();
        let bt: Vec<f32> = (0..k * n).map(|t| b[(t % n) * k + t / n]).collect();
        let mut c = vec![f32::NAN; m * n];
        let mut seen = vec![0.0f32; m * n];
        let mut at_epilogue = vec![0.0f32; m * n];
        let epilogue = |f: Finished| {
            // Whole rows, or one row of one column block starting on a
            // panel; always one contiguous run.
            assert!(f.rows == 1 || (f.col == 0 && f.cols == n));
            assert!(f.row >= rows.start && f.row + f.rows <= rows.end);
            assert!(f.col.is_multiple_of(NR) && f.col + f.cols <= n);
            assert!(f.rows == 1 || f.cols <= NC_WIDE);
            assert_eq!(f.values.len(), f.rows * f.cols);
            for r in 0..f.rows {
                for jj in 0..f.cols {
                    let at = (f.row + r) * n + f.col + jj;
                    seen[at] += 1.0;
                    at_epilogue[at] = f.values[r * f.cols + jj];
                }
            }
            // The caller may change the values (bias, activation).
            for v in f.values.iter_mut() {
                *v += 1.0;
            }
        };
        let c_rows = &mut c[rows.start * n..];
        let ops = |a, b| Operands { a, b, m, k, n };
        match layout {
            "nt" => gemm_nt_rows_with(c_rows, ops(a, b), rows.clone(), 0.0, epilogue),
            "nn" => gemm_nn_rows_with(c_rows, ops(a, &bt), rows.clone(), 0.0, epilogue),
            _ => gemm_tn_rows_with(c_rows, ops(&at, &bt), rows.clone(), 0.0, epilogue),
        }
        [c, seen, at_epilogue]
    }

    #[test]
    fn epilogue_sees_every_element_once_with_its_final_value_in_every_layout() {
        for &(m, k, n) in &[
            (13, 300, 70),
            (8, 0, 5),
            (20, 33, 200),
            (1, 1, 1),
            (30, 40, 600),
        ] {
            let a = fill(m * k, 31);
            let b = fill(n * k, 32);
            let mut want = vec![0.0; m * n];
            gemm_nt(&mut want, &a, &b, m, k, n, 0.0);
            let rows = 2.min(m)..m;
            for layout in ["nt", "nn", "tn"] {
                let [c, seen, at_epilogue] =
                    run_with_epilogue(layout, (&a, &b), (m, k, n), rows.clone());
                for i in 0..m {
                    for j in 0..n {
                        let idx = i * n + j;
                        let what = format!("{layout} {m}x{k}x{n}: C[{i},{j}]");
                        if rows.contains(&i) {
                            assert_eq!(seen[idx], 1.0, "{what} seen {} times", seen[idx]);
                            assert_eq!(at_epilogue[idx].to_bits(), want[idx].to_bits(), "{what}");
                            assert_eq!(c[idx], want[idx] + 1.0, "{what}");
                        } else {
                            assert_eq!(seen[idx], 0.0, "{what}");
                        }
                    }
                }
            }
        }
    }

    /// [`whole_row_tiles`] says what the epilogue gets: whole row tiles
    /// for every product it accepts, rows of column blocks for the others
    /// (which widths are which depends on this machine's L2 and SIMD).
    #[test]
    fn whole_row_tiles_tells_how_the_epilogue_gets_c() {
        let (m, k) = (14, 24);
        for n in [10, 256, 300, 520, 1024, 1100] {
            let a = fill(m * k, 41);
            let b = fill(n * k, 42);
            for (layout, transposed) in [("nt", true), ("nn", false), ("tn", false)] {
                let mut whole = true;
                let mut c = vec![0.0; m * n];
                let ops = Operands {
                    a: &a,
                    b: &b,
                    m,
                    k,
                    n,
                };
                let epilogue = |f: Finished| whole &= f.col == 0 && f.cols == n;
                match layout {
                    "nt" => gemm_nt_rows_with(&mut c, ops, 0..m, 0.0, epilogue),
                    "nn" => gemm_nn_rows_with(&mut c, ops, 0..m, 0.0, epilogue),
                    _ => gemm_tn_rows_with(&mut c, ops, 0..m, 0.0, epilogue),
                }
                assert_eq!(whole, whole_row_tiles(transposed, n, k), "{layout} n {n}");
            }
        }
        assert!(whole_row_tiles(false, 256, 128) && whole_row_tiles(true, 256, 128));
        assert!(!whole_row_tiles(false, 1100, 128) && !whole_row_tiles(true, 1100, 128));
    }

    #[test]
    fn bias_add_and_column_sum_match_the_scalar_twins_exactly() {
        for &rows in &[0, 1, 7, 17, 65] {
            for &cols in &DIMS {
                let x = fill(rows * cols + 3, (rows * 100 + cols) as u64);
                let x = &x[3..];
                let b = fill(cols + 1, 5);
                let b = &b[1..];
                let mut s = x.to_vec();
                let mut s_ref = x.to_vec();
                bias_add(&mut s, b, rows, cols);
                reference::bias_add(&mut s_ref, b, rows, cols);
                assert_eq!(bits(&s), bits(&s_ref), "bias_add {rows}x{cols}");
                for beta in [0.0, 1.0, 0.5] {
                    let d0 = if beta == 0.0 {
                        vec![f32::NAN; cols]
                    } else {
                        fill(cols, 6)
                    };
                    let mut d = d0.clone();
                    let mut d_ref = d0.clone();
                    column_sum(&mut d, x, rows, cols, beta);
                    reference::column_sum(&mut d_ref, x, rows, cols, beta);
                    assert_eq!(
                        bits(&d),
                        bits(&d_ref),
                        "column_sum {rows}x{cols} beta {beta}"
                    );
                    // A block of columns (a split ∂b) has their bits.
                    let block = cols / 3..cols - cols / 5;
                    let mut part = d0[block.clone()].to_vec();
                    let from = &x[block.start.min(x.len())..];
                    column_sum(&mut part, from, rows, cols, beta);
                    assert_eq!(
                        bits(&part),
                        bits(&d[block.clone()]),
                        "column_sum {rows}x{cols} columns {block:?}"
                    );
                }
            }
        }
        println!("bias_add, column_sum: bit-identical to the scalar twins");
    }

    #[test]
    fn reports_the_simd_features_compiled_in() {
        // `RUSTFLAGS="" cargo test` must really be a baseline build.
        println!(
            "target features: sse2={} avx2={} fma={} avx512f={}",
            cfg!(target_feature = "sse2"),
            cfg!(target_feature = "avx2"),
            cfg!(target_feature = "fma"),
            cfg!(target_feature = "avx512f")
        );
    }
}
