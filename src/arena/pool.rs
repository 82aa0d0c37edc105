//! A persistent worker pool: threads are spawned once, then each call hands
//! them a borrowed closure and waits until every part is done. Workers spin
//! briefly before parking, so back-to-back steps of a training loop start
//! in well under a microsecond instead of the 8–20 µs of a spawn or a
//! condvar wake-up.
//!
//! Work is split into parts by the caller (over output blocks only), and
//! nothing is reduced across parts, so results do not depend on which
//! thread runs a part, nor on the thread count. Parts are claimed, not
//! assigned: the caller and the workers take the next unclaimed part until
//! none is left. A worker the system has not scheduled (another busy
//! process on its core) then costs nothing: the caller runs its parts, and
//! the call is never much slower than running on one thread.
//!
//! The caller can also turn the split off ([`Pool::set_split`]): parts then
//! run on the caller alone, and the workers park after their brief spin.
//! [`SplitChoice`](super::SplitChoice) decides that from step times, for
//! the case no claiming can fix: the caller itself sharing a core with
//! another busy process, which a spinning worker keeps the system from
//! moving.

use depthlab_kernels::subnormal::Flushing;
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// Stack of a thread that runs kernels (the gemm packs on the stack): the
/// pool's workers, and `train`'s probe thread.
pub const WORKER_STACK: usize = 4 << 20;

/// Spins before a worker parks (≈ 50–100 µs).
const SPINS: u32 = 20_000;

type Task = &'static (dyn Fn(usize) + Sync);

struct Job {
    task: Option<Task>,
    parts: usize,
}

struct Shared {
    threads: usize,
    job: Mutex<Job>,
    wake: Condvar,
    epoch: AtomicUsize,
    /// The next part to claim, tagged with the call it belongs to: epoch
    /// in the high 32 bits, part index in the low 32 (a worker late from
    /// one call can never claim a part of the next).
    next: AtomicU64,
    /// Parts of the current call finished.
    done: AtomicUsize,
    /// Workers waiting on `wake` (changed under `job`'s lock): a call
    /// wakes them only then, since a notify is a system call.
    parked: AtomicUsize,
    /// Whether calls hand parts to the workers (else the caller runs all).
    split: AtomicBool,
    panicked: AtomicBool,
    shutdown: AtomicBool,
}

/// The tag of part `index` of call `epoch`.
fn tag(epoch: usize, index: usize) -> u64 {
    ((epoch as u64 & 0xffff_ffff) << 32) | index as u64
}

impl Shared {
    /// Claims and runs parts of call `epoch` until none is left.
    fn claim_and_run(&self, epoch: usize, parts: usize, task: &(dyn Fn(usize) + Sync)) {
        loop {
            let current = self.next.load(Ordering::Acquire);
            let index = (current & 0xffff_ffff) as usize;
            if current >> 32 != epoch as u64 & 0xffff_ffff || index >= parts {
                return;
            }
            if self
                .next
                .compare_exchange_weak(current, current + 1, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                let result = catch_unwind(AssertUnwindSafe(|| task(index)));
                if result.is_err() {
                    self.panicked.store(true, Ordering::Relaxed);
                }
                self.done.fetch_add(1, Ordering::AcqRel);
            }
        }
    }
}

/// The first row of block `i` of `parts` blocks of `rows` rows (boundaries
/// on multiples of 8 rows; block i is `block_bounds(i)..block_bounds(i + 1)`).
pub fn block_bounds(rows: usize, parts: usize, i: usize) -> usize {
    (rows * i / parts.max(1)).next_multiple_of(8).min(rows)
}

/// A pool of `threads - 1` workers plus the calling thread.
pub struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl Pool {
    /// A pool running parts on `threads` threads (the caller included);
    /// `threads` ≤ 1 runs everything on the caller.
    pub fn new(threads: usize) -> Pool {
        Pool::flushing(threads, false)
    }

    /// [`Pool::new`], with its workers flushing subnormals to zero for
    /// their whole life when `flush` (the caller's thread is the caller's
    /// to set: see `Executor`).
    pub fn flushing(threads: usize, flush: bool) -> Pool {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            threads,
            job: Mutex::new(Job {
                task: None,
                parts: 0,
            }),
            wake: Condvar::new(),
            epoch: AtomicUsize::new(0),
            next: AtomicU64::new(0),
            done: AtomicUsize::new(0),
            parked: AtomicUsize::new(0),
            split: AtomicBool::new(true),
            panicked: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
        });
        let workers = (1..threads)
            .map(|index| {
                let shared = Arc::clone(&shared);
                // The gemm's pack buffers live on the stack (≤ 520 KiB):
                // do not depend on RUST_MIN_STACK.
                std::thread::Builder::new()
                    .name(format!("depthlab-{index}"))
                    .stack_size(WORKER_STACK)
                    .spawn(move || {
                        let _flushing = flush.then(Flushing::start);
                        worker(&shared);
                    })
                    .expect("spawning a worker thread")
            })
            .collect();
        Pool { shared, workers }
    }

    /// Threads that run parts (the caller included).
    pub fn threads(&self) -> usize {
        self.shared.threads
    }

    /// Whether later calls hand parts to the workers (`true`, the start)
    /// or run them all on the caller. Parts are the same either way, so
    /// are the results.
    pub fn set_split(&self, split: bool) {
        self.shared.split.store(split, Ordering::Relaxed);
    }

    /// Whether calls now hand parts to workers (there are some, and the
    /// split is on).
    pub fn splits(&self) -> bool {
        self.shared.threads > 1 && self.shared.split.load(Ordering::Relaxed)
    }

    /// Runs `task(i)` for every part i in 0..parts, each part once on
    /// whichever thread claims it first, and returns when all are done.
    /// Allocates nothing.
    pub fn run(&self, parts: usize, task: &(dyn Fn(usize) + Sync)) {
        let s = &*self.shared;
        if parts <= 1 || !self.splits() {
            (0..parts).for_each(task);
            return;
        }
        // SAFETY: the 'static lifetime is a lie told only to the workers:
        // a worker calls `task` only for a part it claimed in this call's
        // epoch, and this function does not return (nor unwind) before
        // every part is done, i.e. before every such call has returned;
        // it clears the reference before returning, and a late worker
        // holding it finds no part left to claim.
        let task_static: Task =
            unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), Task>(task) };
        let epoch = {
            let mut job = s.job.lock().unwrap_or_else(|e| e.into_inner());
            job.task = Some(task_static);
            job.parts = parts;
            let epoch = s.epoch.load(Ordering::Relaxed).wrapping_add(1);
            s.done.store(0, Ordering::Relaxed);
            s.next.store(tag(epoch, 0), Ordering::Release);
            s.epoch.store(epoch, Ordering::Release);
            epoch
        };
        // A worker counts itself parked under the lock, after seeing the
        // old epoch: past the lock, either it saw the new epoch or it is
        // counted (and then this notify reaches its wait).
        if s.parked.load(Ordering::Relaxed) > 0 {
            s.wake.notify_all();
        }
        // The caller claims parts too; a panic in one is recorded like a
        // worker's.
        s.claim_and_run(epoch, parts, task);
        let mut spins = 0u32;
        while s.done.load(Ordering::Acquire) != parts {
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(1024) {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        s.job.lock().unwrap_or_else(|e| e.into_inner()).task = None;
        if s.panicked.swap(false, Ordering::Relaxed) {
            panic!("a depthlab worker thread panicked");
        }
    }

    /// Splits `N` matrices of the first one's shape, (rows, row_len), into
    /// `parts` contiguous row blocks (boundaries on multiples of 8 rows)
    /// and calls `f(row_range, blocks)` for each, in parallel; an empty
    /// matrix gives empty blocks.
    pub fn split_rows_n<const N: usize>(
        &self,
        bufs: [&mut [f32]; N],
        row_len: usize,
        parts: usize,
        f: impl Fn(Range<usize>, [&mut [f32]; N]) + Sync,
    ) {
        let first_len = bufs.first().map_or(0, |b| b.len());
        let rows = first_len.checked_div(row_len).unwrap_or(0);
        debug_assert_eq!(first_len, rows * row_len);
        debug_assert!(bufs.iter().all(|b| b.is_empty() || b.len() == first_len));
        let parts = parts.clamp(1, rows.max(1));
        if parts == 1 {
            // The whole matrices on this thread (a small layer's every
            // step: no bounds to divide, no call through the pool).
            return f(0..rows, bufs);
        }
        // Addresses as integers so the closure is Sync; 0 marks an empty one.
        let ptrs = bufs.map(|b| {
            if b.is_empty() {
                0
            } else {
                b.as_mut_ptr() as usize
            }
        });
        let bounds = |i: usize| block_bounds(rows, parts, i);
        self.run(parts, &|i| {
            let r = bounds(i)..bounds(i + 1);
            let (start, len) = (r.start * row_len, r.len() * row_len);
            let blocks = ptrs.map(|p| {
                if p == 0 {
                    &mut [][..]
                } else {
                    // SAFETY: the row blocks of distinct parts are disjoint
                    // and lie inside their buffer (every non-empty one has
                    // the first one's length), which stays mutably borrowed
                    // by this call until every part has finished.
                    unsafe { std::slice::from_raw_parts_mut((p as *mut f32).add(start), len) }
                }
            });
            f(r, blocks);
        });
    }
}

impl Pool {
    /// Calls `f(i, &mut items[i], block)` for every item, the items claimed
    /// one at a time by `parts` parts (items may cost unevenly: a part that
    /// is done with one takes the next), each part with its own block of
    /// `scratch` (`parts` equal blocks; what is left over goes unused).
    /// Allocates nothing. `f` must not call this pool (as for
    /// [`Pool::run`]: the call would wait on parts that wait on it).
    pub fn for_each_item<T: Send>(
        &self,
        items: &mut [T],
        scratch: &mut [f32],
        parts: usize,
        f: impl Fn(usize, &mut T, &mut [f32]) + Sync,
    ) {
        let parts = parts.clamp(1, items.len().max(1));
        let block = scratch.len() / parts;
        let (n, next) = (items.len(), AtomicUsize::new(0));
        // Addresses as integers so the closure is Sync.
        let (items, scratch) = (items.as_mut_ptr() as usize, scratch.as_mut_ptr() as usize);
        self.run(parts, &|p| {
            // SAFETY: part p runs once per call, and the blocks of distinct
            // parts are disjoint and inside `scratch`, which stays mutably
            // borrowed until every part has finished.
            let block = unsafe {
                std::slice::from_raw_parts_mut((scratch as *mut f32).add(p * block), block)
            };
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                // SAFETY: each index below n is claimed by one part only,
                // and `items` stays mutably borrowed until every part has
                // finished; T: Send lets another thread have the &mut.
                let item = unsafe { &mut *(items as *mut T).add(i) };
                f(i, item, &mut *block);
            }
        });
    }
}

fn worker(s: &Shared) {
    let mut seen = 0usize;
    loop {
        let mut spins = 0;
        // Shutdown is checked with the epoch: a worker that read the job
        // after `drop` had bumped the epoch has `seen` that epoch, and
        // would otherwise park for good.
        let idle =
            || s.epoch.load(Ordering::Acquire) == seen && !s.shutdown.load(Ordering::Acquire);
        while idle() {
            if spins < SPINS {
                spins += 1;
                std::hint::spin_loop();
            } else {
                let job = s.job.lock().unwrap_or_else(|e| e.into_inner());
                // Under the lock, where `drop` and `run` change both.
                if idle() {
                    s.parked.fetch_add(1, Ordering::Relaxed);
                    let job = s.wake.wait(job).unwrap_or_else(|e| e.into_inner());
                    s.parked.fetch_sub(1, Ordering::Relaxed);
                    drop(job);
                }
            }
        }
        if s.shutdown.load(Ordering::Acquire) {
            return;
        }
        // The job and its epoch together, under the lock: a call that
        // started since is then seen whole, with its own epoch.
        let (task, parts, epoch) = {
            let job = s.job.lock().unwrap_or_else(|e| e.into_inner());
            (job.task, job.parts, s.epoch.load(Ordering::Acquire))
        };
        seen = epoch;
        if let Some(task) = task {
            s.claim_and_run(epoch, parts, task);
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        {
            let _job = self.shared.job.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.shutdown.store(true, Ordering::Release);
            self.shared.epoch.fetch_add(1, Ordering::Release);
        }
        self.shared.wake.notify_all();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_runs_once_on_any_thread_count() {
        for threads in 1..=4 {
            let pool = Pool::new(threads);
            for parts in [0, 1, 2, 3, 7, 16] {
                let hits: Vec<AtomicUsize> = (0..parts).map(|_| AtomicUsize::new(0)).collect();
                for _ in 0..50 {
                    pool.run(parts, &|i| {
                        hits[i].fetch_add(1, Ordering::Relaxed);
                    });
                }
                assert!(
                    hits.iter().all(|h| h.load(Ordering::Relaxed) == 50),
                    "threads {threads} parts {parts}"
                );
            }
        }
    }

    /// Every item is visited once, with its own index, whatever the
    /// threads and parts; a part's scratch block is its own: each call
    /// finds it zero, fills it with its own mark and finds the mark intact
    /// after yielding, then zeroes it.
    #[test]
    fn for_each_item_visits_every_item_once_with_a_block_of_its_own() {
        for threads in 1..=3 {
            let pool = Pool::new(threads);
            pool.set_split(true);
            for n in [0, 1, 2, 5, 51] {
                for parts in 1..=4 {
                    let mut items: Vec<(usize, u32)> = vec![(usize::MAX, 0); n];
                    let mut scratch = vec![0.0f32; 43];
                    pool.for_each_item(&mut items, &mut scratch, parts, |i, item, block| {
                        assert_eq!(block.len(), 43 / parts.min(n.max(1)));
                        assert!(block.iter().all(|&v| v == 0.0), "a block shared");
                        let mark = i as f32 + 1.0;
                        block.fill(mark);
                        std::thread::yield_now();
                        assert!(block.iter().all(|&v| v == mark), "a block shared");
                        block.fill(0.0);
                        *item = (i, item.1 + 1);
                    });
                    let want: Vec<(usize, u32)> = (0..n).map(|i| (i, 1)).collect();
                    assert_eq!(items, want, "threads {threads} n {n} parts {parts}");
                }
            }
        }
    }

    #[test]
    fn split_rows_covers_every_row_once() {
        let pool = Pool::new(3);
        for rows in [0, 1, 5, 8, 9, 33, 100] {
            for parts in 1..5 {
                let (mut a, mut b) = (vec![0.0f32; rows * 3], vec![0.0f32; rows * 3]);
                pool.split_rows_n([&mut a, &mut b], 3, parts, |r, [x, y]| {
                    assert_eq!(x.len(), r.len() * 3);
                    for (i, row) in r.clone().enumerate() {
                        x[i * 3..][..3].fill(row as f32 + 1.0);
                        y[i * 3..][..3].fill(-(row as f32) - 1.0);
                    }
                });
                let want: Vec<f32> = (0..rows).flat_map(|r| [r as f32 + 1.0; 3]).collect();
                assert_eq!(a, want);
                assert!(a.iter().zip(&b).all(|(x, y)| *x == -*y));
            }
        }
    }

    #[test]
    fn split_rows_n_gives_empty_buffers_empty_blocks() {
        let pool = Pool::new(2);
        for n in [0, 1, 7, 65, 1000] {
            let (mut a, mut c) = (vec![0.0f32; n], vec![0.0f32; n]);
            let mut empty: Vec<f32> = Vec::new();
            pool.split_rows_n([&mut a, &mut empty, &mut c], 1, 2, |r, [x, e, z]| {
                assert!(e.is_empty());
                assert_eq!((x.len(), z.len()), (r.len(), r.len()));
                for (i, (x, z)) in r.zip(x.iter_mut().zip(z.iter_mut())) {
                    *x += i as f32;
                    *z += 1.0;
                }
            });
            assert!(a.iter().enumerate().all(|(i, &v)| v == i as f32), "n={n}");
            assert!(c.iter().all(|&v| v == 1.0), "every element once, n={n}");
        }
    }

    /// Runs 2 parts, each waiting (up to 5 s) for the other to start:
    /// true when both ran at once, on two threads.
    fn both_parts_at_once(pool: &Pool) -> bool {
        let started = [AtomicBool::new(false), AtomicBool::new(false)];
        let met = AtomicUsize::new(0);
        pool.run(2, &|i| {
            started[i].store(true, Ordering::Release);
            let t = std::time::Instant::now();
            while !started[1 - i].load(Ordering::Acquire) {
                if t.elapsed().as_secs() >= 5 {
                    return;
                }
                std::hint::spin_loop();
            }
            met.fetch_add(1, Ordering::Relaxed);
        });
        met.load(Ordering::Relaxed) == 2
    }

    #[test]
    fn a_parked_worker_wakes_for_the_next_call() {
        let pool = Pool::new(2);
        assert!(both_parts_at_once(&pool));
        // Long past the spin: the worker waits on the condvar.
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(both_parts_at_once(&pool));
    }

    #[test]
    fn without_split_every_part_runs_on_the_caller() {
        let pool = Pool::new(3);
        pool.set_split(false);
        let caller = std::thread::current().id();
        let elsewhere = AtomicUsize::new(0);
        for _ in 0..20 {
            pool.run(8, &|_| {
                if std::thread::current().id() != caller {
                    elsewhere.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        assert_eq!(elsewhere.load(Ordering::Relaxed), 0);
        pool.set_split(true);
        assert!(both_parts_at_once(&pool));
    }

    #[test]
    fn dropping_a_pool_never_hangs() {
        // A worker that reads the job after `drop` bumped the epoch once
        // parked for good, and `drop` waited on it forever (seen in CI on
        // a loaded machine). Many short-lived pools, with a deadline.
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for i in 0..2000 {
                let pool = Pool::new(2 + i % 3);
                pool.run(2, &|_| {});
                if i % 2 == 0 {
                    // Let the worker reach its park.
                    std::thread::yield_now();
                }
            }
            done.send(()).unwrap();
        });
        let waited = finished.recv_timeout(std::time::Duration::from_secs(60));
        assert!(waited.is_ok(), "a pool's drop hung");
    }

    #[test]
    fn a_panicking_part_is_reported_not_hung() {
        let pool = Pool::new(2);
        let r = catch_unwind(AssertUnwindSafe(|| {
            pool.run(2, &|i| assert!(i != 1, "part 1 fails"))
        }));
        assert!(r.is_err());
        // The pool still works afterwards.
        let n = AtomicUsize::new(0);
        pool.run(4, &|_| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(n.load(Ordering::Relaxed), 4);
    }
}
