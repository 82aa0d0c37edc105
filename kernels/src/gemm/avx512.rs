//! LOOP 1 of the full 12×32 register tile in assembly, for AVX-512.
//!
//! Why assembly: LLVM (rustc 1.95) compiled the Rust loop of this one
//! instance, A read from a micro-panel (`BY_ROWS = false`, the path of
//! every packed or TN product), with one accumulator spilled to the stack
//! and 32 register-to-register moves per k step, while the other tile
//! shapes came out clean. That instance ran most of the FLOPs of the
//! large products (64 % of config C's step in a `perf` profile). Written
//! out by hand, the loop is what the Rust one means: per k step two B
//! loads, twelve broadcasts, 24 FMAs and no other vector instruction.
//!
//! Bits: `vfmadd231ps acc, a, b` is acc ← fma(a, b, acc), one rounding,
//! the same operation `mul_add` compiles to, applied to each accumulator
//! in the same increasing k order: the results are the Rust loop's bits.

use std::arch::asm;
use std::arch::x86_64::__m512;

use wide::f32x16;

/// The accumulators of a 12×32 tile: row r's two vectors are `acc[2r]`,
/// `acc[2r + 1]`.
pub(super) type Tile = [f32x16; 24];

/// Runs `kc` k steps of the 12×32 tile on `acc`: for p = 0..kc and every
/// row r, `acc[2r + v] ← fma(A(r, p), B(p, 16v..16v + 16), acc[2r + v])`.
/// A(r, p) is at `a + r·lda + p` when `BY_ROWS` (NN/NT rows in place),
/// else at `a + p·lda + r` (a micro-panel, packed or TN in place); B row p
/// at `b + p·ldb`.
///
/// # Safety
/// For r < 12 and p < kc, A(r, p) and the 32 floats of B row p must be
/// valid for reading; `lda`, `ldb` and `kc` small enough that the byte
/// offsets fit an `isize` (they index slices).
// The 12 rows written out, twice: long by design.
#[allow(clippy::too_many_lines)]
#[inline(always)]
pub(super) unsafe fn k_steps<const BY_ROWS: bool>(
    acc: &mut Tile,
    kc: usize,
    (a, lda): (*const f32, usize),
    (b, ldb): (*const f32, usize),
) {
    if kc == 0 {
        return;
    }
    // SAFETY: f32x16 is 16 f32 in 64 bytes (a `__m512` with AVX-512),
    // every bit pattern valid in both.
    let mut r: [__m512; 24] = unsafe { core::mem::transmute(*acc) };
    let sb = ldb * 4;
    // The asm's operands: the 24 accumulators, B's row pointer and stride,
    // the k count; then the variant's A pointers and strides. B's row is
    // loaded into zmm28–29 and A broadcast into zmm30–31, named outright:
    // rustc printed allocated registers above zmm26 as `R27BH` for
    // untyped scratch operands.
    macro_rules! tile_asm {
        ($($template:literal,)* ; $($a_operands:tt)*) => {
            asm!(
                "2:",
                "vmovups zmm28, zmmword ptr [{bp}]",
                "vmovups zmm29, zmmword ptr [{bp} + 64]",
                $($template,)*
                "add {bp}, {sb}",
                "dec {k}",
                "jnz 2b",
                c0 = inout(zmm_reg) r[0], d0 = inout(zmm_reg) r[1],
                c1 = inout(zmm_reg) r[2], d1 = inout(zmm_reg) r[3],
                c2 = inout(zmm_reg) r[4], d2 = inout(zmm_reg) r[5],
                c3 = inout(zmm_reg) r[6], d3 = inout(zmm_reg) r[7],
                c4 = inout(zmm_reg) r[8], d4 = inout(zmm_reg) r[9],
                c5 = inout(zmm_reg) r[10], d5 = inout(zmm_reg) r[11],
                c6 = inout(zmm_reg) r[12], d6 = inout(zmm_reg) r[13],
                c7 = inout(zmm_reg) r[14], d7 = inout(zmm_reg) r[15],
                c8 = inout(zmm_reg) r[16], d8 = inout(zmm_reg) r[17],
                c9 = inout(zmm_reg) r[18], d9 = inout(zmm_reg) r[19],
                c10 = inout(zmm_reg) r[20], d10 = inout(zmm_reg) r[21],
                c11 = inout(zmm_reg) r[22], d11 = inout(zmm_reg) r[23],
                bp = inout(reg) b => _,
                sb = in(reg) sb,
                k = inout(reg) kc => _,
                out("zmm28") _, out("zmm29") _, out("zmm30") _, out("zmm31") _,
                $($a_operands)*
                options(nostack, readonly),
            )
        };
    }
    if BY_ROWS {
        // Rows 0–5 from `ap`, 6–11 from `a6`, at 0, l, 2l, 3l, 4l, 5l.
        let l = lda * 4;
        // SAFETY: the caller's contract (A rows 6..12 exist).
        let a6 = unsafe { a.add(6 * lda) };
        // SAFETY: the caller's contract: reads of A and B only, at the
        // addresses its doc gives; no stack use.
        unsafe {
            tile_asm!(
            "vbroadcastss zmm30, dword ptr [{ap}]",
            "vfmadd231ps {c0:z}, zmm30, zmm28",
            "vfmadd231ps {d0:z}, zmm30, zmm29",
            "vbroadcastss zmm31, dword ptr [{ap} + {l}]",
            "vfmadd231ps {c1:z}, zmm31, zmm28",
            "vfmadd231ps {d1:z}, zmm31, zmm29",
            "vbroadcastss zmm30, dword ptr [{ap} + 2*{l}]",
            "vfmadd231ps {c2:z}, zmm30, zmm28",
            "vfmadd231ps {d2:z}, zmm30, zmm29",
            "vbroadcastss zmm31, dword ptr [{ap} + {l3}]",
            "vfmadd231ps {c3:z}, zmm31, zmm28",
            "vfmadd231ps {d3:z}, zmm31, zmm29",
            "vbroadcastss zmm30, dword ptr [{ap} + 4*{l}]",
            "vfmadd231ps {c4:z}, zmm30, zmm28",
            "vfmadd231ps {d4:z}, zmm30, zmm29",
            "vbroadcastss zmm31, dword ptr [{ap} + {l5}]",
            "vfmadd231ps {c5:z}, zmm31, zmm28",
            "vfmadd231ps {d5:z}, zmm31, zmm29",
            "vbroadcastss zmm30, dword ptr [{a6}]",
            "vfmadd231ps {c6:z}, zmm30, zmm28",
            "vfmadd231ps {d6:z}, zmm30, zmm29",
            "vbroadcastss zmm31, dword ptr [{a6} + {l}]",
            "vfmadd231ps {c7:z}, zmm31, zmm28",
            "vfmadd231ps {d7:z}, zmm31, zmm29",
            "vbroadcastss zmm30, dword ptr [{a6} + 2*{l}]",
            "vfmadd231ps {c8:z}, zmm30, zmm28",
            "vfmadd231ps {d8:z}, zmm30, zmm29",
            "vbroadcastss zmm31, dword ptr [{a6} + {l3}]",
            "vfmadd231ps {c9:z}, zmm31, zmm28",
            "vfmadd231ps {d9:z}, zmm31, zmm29",
            "vbroadcastss zmm30, dword ptr [{a6} + 4*{l}]",
            "vfmadd231ps {c10:z}, zmm30, zmm28",
            "vfmadd231ps {d10:z}, zmm30, zmm29",
            "vbroadcastss zmm31, dword ptr [{a6} + {l5}]",
            "vfmadd231ps {c11:z}, zmm31, zmm28",
            "vfmadd231ps {d11:z}, zmm31, zmm29",
                    "add {ap}, 4",
                    "add {a6}, 4",
                    ;
                    ap = inout(reg) a => _, a6 = inout(reg) a6 => _,
                    l = in(reg) l, l3 = in(reg) 3 * l, l5 = in(reg) 5 * l,
                )
        };
    } else {
        // SAFETY: as above.
        unsafe {
            tile_asm!(
            "vbroadcastss zmm30, dword ptr [{ap}]",
            "vfmadd231ps {c0:z}, zmm30, zmm28",
            "vfmadd231ps {d0:z}, zmm30, zmm29",
            "vbroadcastss zmm31, dword ptr [{ap} + 4]",
            "vfmadd231ps {c1:z}, zmm31, zmm28",
            "vfmadd231ps {d1:z}, zmm31, zmm29",
            "vbroadcastss zmm30, dword ptr [{ap} + 8]",
            "vfmadd231ps {c2:z}, zmm30, zmm28",
            "vfmadd231ps {d2:z}, zmm30, zmm29",
            "vbroadcastss zmm31, dword ptr [{ap} + 12]",
            "vfmadd231ps {c3:z}, zmm31, zmm28",
            "vfmadd231ps {d3:z}, zmm31, zmm29",
            "vbroadcastss zmm30, dword ptr [{ap} + 16]",
            "vfmadd231ps {c4:z}, zmm30, zmm28",
            "vfmadd231ps {d4:z}, zmm30, zmm29",
            "vbroadcastss zmm31, dword ptr [{ap} + 20]",
            "vfmadd231ps {c5:z}, zmm31, zmm28",
            "vfmadd231ps {d5:z}, zmm31, zmm29",
            "vbroadcastss zmm30, dword ptr [{ap} + 24]",
            "vfmadd231ps {c6:z}, zmm30, zmm28",
            "vfmadd231ps {d6:z}, zmm30, zmm29",
            "vbroadcastss zmm31, dword ptr [{ap} + 28]",
            "vfmadd231ps {c7:z}, zmm31, zmm28",
            "vfmadd231ps {d7:z}, zmm31, zmm29",
            "vbroadcastss zmm30, dword ptr [{ap} + 32]",
            "vfmadd231ps {c8:z}, zmm30, zmm28",
            "vfmadd231ps {d8:z}, zmm30, zmm29",
            "vbroadcastss zmm31, dword ptr [{ap} + 36]",
            "vfmadd231ps {c9:z}, zmm31, zmm28",
            "vfmadd231ps {d9:z}, zmm31, zmm29",
            "vbroadcastss zmm30, dword ptr [{ap} + 40]",
            "vfmadd231ps {c10:z}, zmm30, zmm28",
            "vfmadd231ps {d10:z}, zmm30, zmm29",
            "vbroadcastss zmm31, dword ptr [{ap} + 44]",
            "vfmadd231ps {c11:z}, zmm31, zmm28",
            "vfmadd231ps {d11:z}, zmm31, zmm29",
                    "add {ap}, {sa}",
                    ;
                    ap = inout(reg) a => _, sa = in(reg) lda * 4,
                )
        };
    }
    // SAFETY: as above.
    *acc = unsafe { core::mem::transmute::<[__m512; 24], Tile>(r) };
}
