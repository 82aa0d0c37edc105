//! LOOP 1 of the full-width register tiles (1 to 12 rows of 32 columns)
//! in assembly, for AVX-512.
//!
//! Why assembly: LLVM (rustc 1.95) compiled the Rust loop of the 12-row
//! tile with A read from a micro-panel (the path of every packed or TN
//! product) with one accumulator spilled to the stack and 32
//! register-to-register moves per k step, and ran the 10- and 11-row
//! tiles with A's rows read in place (NN/NT) through a chain of dependent
//! address additions. The 12-row instance ran most of the FLOPs of the
//! large products (64 % of config C's step in a `perf` profile), the
//! 10/11-row ones most of config D's. Written out by hand, the loop is
//! what the Rust one means: per k step two B loads, R broadcasts and 2R
//! FMAs, with every A address a base register plus an index (and two k
//! steps an iteration, see `k_loop`). The shorter tiles (8 rows: config A's
//! batch of 16) run it too: config A's step 0.976× against their Rust loop
//! (5 ABBA rounds, the Xeon above).
//!
//! Bits: `vfmadd231ps acc, a, b` is acc ← fma(a, b, acc), one rounding,
//! the same operation `mul_add` compiles to, applied to each accumulator
//! in the same increasing k order: the results are the Rust loop's bits.

use std::arch::asm;
use std::arch::x86_64::__m512;

use wide::f32x16;

/// The accumulators of a tile of up to 12 rows of 32 columns: row r's two
/// vectors are `acc[2r]`, `acc[2r + 1]`.
pub(super) type Tile = [f32x16; 24];

/// Whether [`k_steps`] runs tiles of `rows` rows of 32 columns.
pub(super) const fn runs(rows: usize) -> bool {
    1 <= rows && rows <= 12
}

/// One k step, as one template string: B's two vectors from `$b0` and
/// `$b1`, then for each row its A element broadcast from `$addr` and its
/// two FMAs.
macro_rules! k_step {
    ($b0:literal, $b1:literal; $(($c:literal, $d:literal, $t:literal, $addr:literal)),*) => {
        concat!(
            "vmovups zmm28, zmmword ptr ", $b0, "\n",
            "vmovups zmm29, zmmword ptr ", $b1, "\n",
            $(
                "vbroadcastss ", $t, ", dword ptr ", $addr, "\n",
                "vfmadd231ps {", $c, ":z}, ", $t, ", zmm28\n",
                "vfmadd231ps {", $d, ":z}, ", $t, ", zmm29\n",
            )*
        )
    };
}

/// The k loop of one tile, two k steps an iteration: `$acc` the
/// accumulators (`__m512`), then the rows as (accumulator of the first
/// vector, of the second, broadcast register, A's address at this k step,
/// at the next), then the instructions that step A's pointers two k
/// steps, then A's operands. An odd last step runs after the loop.
///
/// Two steps an iteration halve the loop's integer instructions, which on
/// Intel cores issue to the ports of the FMA units: on an Intel Xeon
/// (Sapphire Rapids) the 12-row tile in L1 ran at 81 → 83 % of the FMA
/// peak (a 128 KiB B panel from L2: 73 → 84 %), and standalone products
/// 1–9 % faster (64×128×128 TN 146 → 161 GFLOP/s). Fewer loads ran it
/// faster still (without its B loads 89 %, with half its broadcasts
/// 90–93 %), but tiles with fewer loads per FMA did not (8×48 83–86 %,
/// 6×64 82–83 %), nor four or eight k steps an iteration (85–86 %).
macro_rules! k_loop {
    (
        $acc:ident, $b:expr, $sb:expr, $kc:expr;
        [$(($c:literal, $d:literal, $t:literal, $addr:literal, $next:literal),)*];
        [$($step:literal),*];
        $($a_operands:tt)*
    ) => {
        asm!(
            "test {pairs}, {pairs}",
            "jz 3f",
            "2:",
            k_step!("[{bp}]", "[{bp} + 64]"; $(($c, $d, $t, $addr)),*),
            k_step!("[{bp} + {sb}]", "[{bp} + {sb} + 64]"; $(($c, $d, $t, $next)),*),
            $($step,)*
            "lea {bp}, [{bp} + 2*{sb}]",
            "dec {pairs}",
            "jnz 2b",
            "3:",
            "test {odd}, {odd}",
            "jz 4f",
            k_step!("[{bp}]", "[{bp} + 64]"; $(($c, $d, $t, $addr)),*),
            "4:",
            $(inout(zmm_reg) $acc[$c], inout(zmm_reg) $acc[$d],)*
            bp = inout(reg) $b => _,
            sb = in(reg) $sb,
            pairs = inout(reg) $kc / 2 => _,
            odd = in(reg) $kc % 2,
            // Named outright: rustc printed allocated registers above
            // zmm26 as `R27BH` for untyped scratch operands.
            out("zmm28") _, out("zmm29") _, out("zmm30") _, out("zmm31") _,
            $($a_operands)*
            options(nostack, readonly),
        )
    };
}

/// `$then!([rows])` with the first rows of `[$rows]`, one for each `_` of
/// the count.
macro_rules! first_rows {
    ($then:ident; [$($taken:tt)*]; [$row:tt, $($rest:tt)*]; [_ $($count:tt)*]) => {
        first_rows!($then; [$($taken)* $row,]; [$($rest)*]; [$($count)*])
    };
    ($then:ident; [$($taken:tt)*]; [$($rest:tt)*]; []) => {
        $then!([$($taken)*])
    };
}

/// `$then!` on the first R of the 12 rows `$rows`, 1 ≤ R ≤ 12.
macro_rules! r_rows {
    ($r:expr, $then:ident, $rows:tt) => {
        match $r {
            12 => first_rows!($then; []; $rows; [_ _ _ _ _ _ _ _ _ _ _ _]),
            11 => first_rows!($then; []; $rows; [_ _ _ _ _ _ _ _ _ _ _]),
            10 => first_rows!($then; []; $rows; [_ _ _ _ _ _ _ _ _ _]),
            9 => first_rows!($then; []; $rows; [_ _ _ _ _ _ _ _ _]),
            8 => first_rows!($then; []; $rows; [_ _ _ _ _ _ _ _]),
            7 => first_rows!($then; []; $rows; [_ _ _ _ _ _ _]),
            6 => first_rows!($then; []; $rows; [_ _ _ _ _ _]),
            5 => first_rows!($then; []; $rows; [_ _ _ _ _]),
            4 => first_rows!($then; []; $rows; [_ _ _ _]),
            3 => first_rows!($then; []; $rows; [_ _ _]),
            2 => first_rows!($then; []; $rows; [_ _]),
            _ => first_rows!($then; []; $rows; [_]),
        }
    };
}

/// Runs `kc` k steps of an R×32 tile on `acc` (R ≤ 12, see [`runs`]):
/// for p = 0..kc and every row r < R, `acc[2r + v] ← fma(A(r, p), B(p,
/// 16v..16v + 16), acc[2r + v])`. A(r, p) is at `a + r·lda + p`
/// when `BY_ROWS` (NN/NT rows in place), else at `a + p·lda + r` (a
/// micro-panel, packed or TN in place); B row p at `b + p·ldb`.
///
/// # Safety
/// For r < R and p < kc, A(r, p) and the 32 floats of B row p must be
/// valid for reading; `lda`, `ldb` and `kc` small enough that the byte
/// offsets fit an `isize` (they index slices).
#[inline(always)]
pub(super) unsafe fn k_steps<const R: usize, const BY_ROWS: bool>(
    acc: &mut Tile,
    kc: usize,
    (a, lda): (*const f32, usize),
    (b, ldb): (*const f32, usize),
) {
    debug_assert!(runs(R));
    if kc == 0 {
        return;
    }
    // SAFETY: f32x16 is 16 f32 in 64 bytes (a `__m512` with AVX-512),
    // every bit pattern valid in both.
    let mut r: [__m512; 24] = unsafe { core::mem::transmute(*acc) };
    let sb = ldb * 4;
    if BY_ROWS {
        // Rows 0–5 from `ap`, 6–11 from `a6`, at 0, l, 2l, 3l, 4l, 5l.
        let l = lda * 4;
        // Row 6, if A has it (an address only: read only when R > 6).
        let a6 = a.wrapping_add(6 * lda);
        macro_rules! by_rows {
            ($rows:tt) => {
                k_loop!(
                    r, b, sb, kc;
                    $rows;
                    // (The comment uses the strides fewer rows do not.)
                    ["add {ap}, 8", "add {a6}, 8", "/* {l} {l3} {l5} */"];
                    ap = inout(reg) a => _, a6 = inout(reg) a6 => _,
                    l = in(reg) l, l3 = in(reg) 3 * l, l5 = in(reg) 5 * l,
                )
            };
        }
        // SAFETY: the caller's contract: reads of A and B only, at the
        // addresses its doc gives; no stack use.
        unsafe {
            r_rows!(
                R,
                by_rows,
                [
                    (0, 1, "zmm30", "[{ap}]", "[{ap} + 4]"),
                    (2, 3, "zmm31", "[{ap} + {l}]", "[{ap} + {l} + 4]"),
                    (4, 5, "zmm30", "[{ap} + 2*{l}]", "[{ap} + 2*{l} + 4]"),
                    (6, 7, "zmm31", "[{ap} + {l3}]", "[{ap} + {l3} + 4]"),
                    (8, 9, "zmm30", "[{ap} + 4*{l}]", "[{ap} + 4*{l} + 4]"),
                    (10, 11, "zmm31", "[{ap} + {l5}]", "[{ap} + {l5} + 4]"),
                    (12, 13, "zmm30", "[{a6}]", "[{a6} + 4]"),
                    (14, 15, "zmm31", "[{a6} + {l}]", "[{a6} + {l} + 4]"),
                    (16, 17, "zmm30", "[{a6} + 2*{l}]", "[{a6} + 2*{l} + 4]"),
                    (18, 19, "zmm31", "[{a6} + {l3}]", "[{a6} + {l3} + 4]"),
                    (20, 21, "zmm30", "[{a6} + 4*{l}]", "[{a6} + 4*{l} + 4]"),
                    (22, 23, "zmm31", "[{a6} + {l5}]", "[{a6} + {l5} + 4]"),
                ]
            )
        };
    } else {
        macro_rules! panel {
            ($rows:tt) => {
                k_loop!(
                    r, b, sb, kc;
                    $rows;
                    ["lea {ap}, [{ap} + 2*{sa}]"];
                    ap = inout(reg) a => _, sa = in(reg) lda * 4,
                )
            };
        }
        // SAFETY: as above.
        unsafe {
            r_rows!(
                R,
                panel,
                [
                    (0, 1, "zmm30", "[{ap}]", "[{ap} + {sa}]"),
                    (2, 3, "zmm31", "[{ap} + 4]", "[{ap} + {sa} + 4]"),
                    (4, 5, "zmm30", "[{ap} + 8]", "[{ap} + {sa} + 8]"),
                    (6, 7, "zmm31", "[{ap} + 12]", "[{ap} + {sa} + 12]"),
                    (8, 9, "zmm30", "[{ap} + 16]", "[{ap} + {sa} + 16]"),
                    (10, 11, "zmm31", "[{ap} + 20]", "[{ap} + {sa} + 20]"),
                    (12, 13, "zmm30", "[{ap} + 24]", "[{ap} + {sa} + 24]"),
                    (14, 15, "zmm31", "[{ap} + 28]", "[{ap} + {sa} + 28]"),
                    (16, 17, "zmm30", "[{ap} + 32]", "[{ap} + {sa} + 32]"),
                    (18, 19, "zmm31", "[{ap} + 36]", "[{ap} + {sa} + 36]"),
                    (20, 21, "zmm30", "[{ap} + 40]", "[{ap} + {sa} + 40]"),
                    (22, 23, "zmm31", "[{ap} + 44]", "[{ap} + {sa} + 44]"),
                ]
            )
        };
    }
    // SAFETY: as above.
    *acc = unsafe { core::mem::transmute::<[__m512; 24], Tile>(r) };
}
