//! The executor's memory and the one way it is shared across threads.
//!
//! [`Arena`] is the one allocation of an executor: a zeroed, 64-byte-aligned
//! region of f32 from a bumpalo arena, sized by the compiler. Every buffer
//! of a plan is a sub-slice of it; the executor borrows disjoint buffers
//! with `get_disjoint_mut`. [`Pool`] runs the steps the compiler split over
//! persistent worker threads, lending each worker disjoint row blocks of
//! those buffers: an element-wise step's ([`Pool::split_rows_n`]), or those
//! of a [`Chain`] of products, checked once to lend nothing two parts
//! could touch at the same time ([`Pool::run_chain`]).
//!
//! Both need `unsafe` (an aligned raw allocation; borrowed blocks handed to
//! threads that outlive the borrow's scope), so they live together: outside
//! the kernels crate, this module is the only place with `unsafe` code.

mod chain;
mod pool;
mod split;

pub use chain::{Access, Chain, Division, Matrix, Views};
pub use pool::{Pool, WORKER_STACK, block_bounds};
pub use split::SplitChoice;

use bumpalo::Bump;
use std::alloc::Layout;
use std::ptr::NonNull;

/// Alignment of the region (a cache line, and an AVX-512 vector).
pub const ALIGN_BYTES: usize = 64;

/// A zeroed, aligned `[f32]` region owned by a bump arena.
pub struct Arena {
    // Owns the memory `ptr` points into; never reset or reallocated.
    _bump: Bump,
    ptr: NonNull<f32>,
    len: usize,
}

// SAFETY: an arena owns its region outright, as a `Vec<f32>` owns its
// buffer: `ptr` points only into `_bump`, which moves with it, and is read
// or written only through `&self`/`&mut self`. Moving it to another thread
// (`train` measures the probe on a thread of its own) shares nothing.
unsafe impl Send for Arena {}

/// The system could not give an arena of `bytes` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfMemory {
    pub bytes: u64,
}

impl Arena {
    /// Allocates `len` zeroed f32 values, 64-byte aligned; an error, not an
    /// abort, when the system has not that much memory to give.
    pub fn new(len: usize) -> Result<Self, OutOfMemory> {
        let refused = OutOfMemory {
            bytes: (len as u64).saturating_mul(size_of::<f32>() as u64),
        };
        let bytes = len.checked_mul(size_of::<f32>()).ok_or(refused)?;
        let layout = Layout::from_size_align(bytes, ALIGN_BYTES).map_err(|_| refused)?;
        let capacity = bytes.checked_add(ALIGN_BYTES).ok_or(refused)?;
        let bump = Bump::try_with_capacity(capacity).map_err(|_| refused)?;
        let raw = bump
            .try_alloc_layout(layout)
            .map_err(|_| refused)?
            .cast::<f32>();
        // SAFETY: `raw` points to `bytes` freshly allocated bytes, aligned
        // for f32, owned by `bump` (which lives as long as `self`); writing
        // zeros makes every f32 in it initialized.
        unsafe { raw.as_ptr().write_bytes(0, len) };
        Ok(Arena {
            _bump: bump,
            ptr: raw,
            len,
        })
    }

    /// The whole region.
    pub fn as_slice(&self) -> &[f32] {
        // SAFETY: `ptr` is valid for `len` initialized f32 for the lifetime
        // of `self._bump`, which `&self` keeps alive; no `&mut` exists while
        // `&self` is borrowed.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The whole region, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        // SAFETY: as in `as_slice`, and `&mut self` makes this borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_aligned_and_writable() {
        for len in [0, 1, 17, 1000] {
            let mut a = Arena::new(len).unwrap();
            assert_eq!(a.as_slice().len(), len);
            assert_eq!(a.as_slice().as_ptr() as usize % ALIGN_BYTES, 0);
            assert!(a.as_slice().iter().all(|&v| v == 0.0));
            for (i, v) in a.as_mut_slice().iter_mut().enumerate() {
                *v = i as f32;
            }
            assert_eq!(
                a.as_slice().last().copied(),
                len.checked_sub(1).map(|l| l as f32)
            );
        }
    }

    #[test]
    fn an_impossible_size_is_an_error_not_an_abort() {
        let e = Arena::new(usize::MAX / 4).err().unwrap();
        assert_eq!(e.bytes, (usize::MAX / 4) as u64 * 4);
        // Representable but more than any machine has.
        assert!(Arena::new(1 << 60).is_err());
    }
}
