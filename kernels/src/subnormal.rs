//! Flushing subnormal floats to zero, per thread and opt-in.
//!
//! A result below 1.2·10⁻³⁸ in magnitude is subnormal, and on x86 every
//! instruction that produces or reads one takes a microcode assist: a deep
//! net whose gradients vanish into that range (config D of `bench/peers`
//! trained with Adam, on an Intel Xeon) ran 6× slower than with the CPU's
//! flush-to-zero (FTZ: such results become ±0) and denormals-are-zero (DAZ:
//! such inputs read as ±0) modes set. IEEE arithmetic keeps them, and so
//! does PyTorch by default (`torch.set_flush_denormal` flips the same two
//! bits), so the modes change results and are only ever set on request.

/// Whether this build can flush subnormals (x86-64: the MXCSR bits).
pub const AVAILABLE: bool = cfg!(target_arch = "x86_64");

#[cfg(target_arch = "x86_64")]
const FTZ_DAZ: u32 = (1 << 15) | (1 << 6);
/// MXCSR's sticky flags of a denormal operand (DE) and of an underflow
/// (UE: a tiny result, rounded), set whatever the exception masks.
#[cfg(target_arch = "x86_64")]
const DE_UE: u32 = (1 << 1) | (1 << 4);

/// This thread's floating-point control word.
#[cfg(target_arch = "x86_64")]
fn read() -> u32 {
    let mut csr = 0u32;
    // SAFETY: `stmxcsr` stores MXCSR's 4 bytes to a valid, aligned u32 and
    // has no other effect.
    unsafe { std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack)) };
    csr
}

#[cfg(target_arch = "x86_64")]
fn write(csr: u32) {
    // SAFETY: `csr` is a value `read` returned, with at most the FTZ and
    // DAZ mode bits or the DE and UE status flags changed: no reserved bit
    // is set (which would fault), the modes only change how this thread
    // rounds from here on, and the flags are only ever read back.
    unsafe { std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, readonly)) };
}

/// Subnormals flushed on this thread while it lives; the modes before are
/// restored on drop, the flags [`seen`] reads kept. (A no-op where
/// [`AVAILABLE`] is false.)
///
/// ```
/// use depthlab_kernels::subnormal::{AVAILABLE, Flushing};
/// let tiny = std::hint::black_box(1e-30f32);
/// {
///     let _flushing = Flushing::start();
///     let product = std::hint::black_box(tiny) * std::hint::black_box(1e-10f32);
///     assert_eq!(product == 0.0, AVAILABLE);
/// }
/// assert!(std::hint::black_box(tiny) * std::hint::black_box(1e-10f32) > 0.0);
/// ```
#[must_use = "the modes are restored when this is dropped"]
pub struct Flushing {
    #[cfg(target_arch = "x86_64")]
    saved: u32,
}

impl Flushing {
    pub fn start() -> Flushing {
        #[cfg(target_arch = "x86_64")]
        {
            let saved = read();
            write(saved | FTZ_DAZ);
            Flushing { saved }
        }
        #[cfg(not(target_arch = "x86_64"))]
        Flushing {}
    }
}

impl Drop for Flushing {
    fn drop(&mut self) {
        // The modes as they were; the flags as they are (see `seen`).
        #[cfg(target_arch = "x86_64")]
        write((read() & !FTZ_DAZ) | (self.saved & FTZ_DAZ));
    }
}

/// Forgets, on this thread, the subnormal numbers [`seen`] reports.
pub fn clear_seen() {
    #[cfg(target_arch = "x86_64")]
    write(read() & !DE_UE);
}

/// Whether an operation on this thread read a subnormal input or made a
/// subnormal (or flushed) result since [`clear_seen`]: the cases that take
/// a microcode assist. Always false where [`AVAILABLE`] is false.
///
/// ```
/// use depthlab_kernels::subnormal::{AVAILABLE, clear_seen, seen};
/// use std::hint::black_box;
/// clear_seen();
/// black_box(black_box(1e-30f32) * black_box(3.0f32));
/// assert!(!seen());
/// black_box(black_box(1e-30f32) * black_box(1e-10f32));
/// assert_eq!(seen(), AVAILABLE);
/// ```
pub fn seen() -> bool {
    #[cfg(target_arch = "x86_64")]
    return read() & DE_UE != 0;
    #[cfg(not(target_arch = "x86_64"))]
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hint::black_box;

    /// 2⁻¹⁴⁰ is subnormal; its square root's square is not.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn subnormal_results_and_inputs_are_zero_only_while_flushing() {
        let (a, b) = (black_box(2f32.powi(-70)), black_box(2f32.powi(-70)));
        let sub = black_box(2f32.powi(-140));
        assert!(sub > 0.0 && !sub.is_normal());
        assert_eq!(a * b, sub);
        {
            let _flushing = Flushing::start();
            // FTZ: a subnormal product is +0; DAZ: a subnormal input is 0.
            assert_eq!(black_box(a) * black_box(b), 0.0);
            assert_eq!(black_box(sub) * black_box(2f32.powi(30)), 0.0);
            // Normal arithmetic is untouched.
            assert_eq!(black_box(a) * black_box(2.0), 2f32.powi(-69));
            let nested = Flushing::start();
            drop(nested);
            // Dropping a nested guard restores the flushing it found.
            assert_eq!(black_box(a) * black_box(b), 0.0);
        }
        assert_eq!(black_box(a) * black_box(b), sub);
        assert_eq!(black_box(sub) * black_box(2f32.powi(30)), 2f32.powi(-110));
    }

    /// `seen` reports an exact subnormal product only once it is read (DE),
    /// an inexact one at once (UE), a flushed one too, and normal
    /// arithmetic never; `clear_seen` forgets.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn seen_reports_subnormal_inputs_and_results_until_cleared() {
        let (a, b) = (black_box(2f32.powi(-70)), black_box(2f32.powi(-70)));
        clear_seen();
        black_box(black_box(a) * black_box(2.0) + black_box(1e30f32));
        assert!(!seen(), "normal arithmetic");
        let sub = black_box(black_box(a) * black_box(b));
        assert!(!seen(), "an exact subnormal result sets no flag");
        black_box(black_box(sub) * black_box(3.0));
        assert!(seen(), "reading a subnormal");
        clear_seen();
        assert!(!seen());
        black_box(black_box(1e-30f32) * black_box(1e-10f32));
        assert!(seen(), "an inexact subnormal result");
        clear_seen();
        {
            let _flushing = Flushing::start();
            black_box(black_box(1e-30f32) * black_box(1e-10f32));
        }
        assert!(seen(), "a result flushed to zero");
        clear_seen();
    }
}
