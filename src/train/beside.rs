//! Probe measurements on a thread of their own, beside the training steps.
//!
//! At the default 300 rows the probe's forward and backward alone are
//! 300 ÷ batch training steps' worth of products (about 19 for a batch of
//! 16), so measuring every 100 steps in line costs a small-batch run a
//! fifth of its time or more. When training leaves a core idle (it runs on
//! one thread, or its plan splits nothing), the trainer instead copies the
//! parameters into a second probe executor, hands it to this thread and
//! goes on training; the statistics are reported once they are done (at
//! the next measurement or at the end of the run at the latest). A plan
//! split over two threads frees a core for it: its steps run unsplit until
//! [`Beside::done`] says the measurement is over. They are the same bits
//! as measured in line: the same plan on the same rows, with a copy of the
//! same parameters.

use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::arena::WORKER_STACK;
use crate::exec::Executor;

/// A measuring thread and the probe executor it runs.
pub(super) struct Beside {
    /// The executor, while no measurement runs.
    idle: Option<Executor>,
    /// The measurement running, if any.
    running: Option<Launch>,
    jobs: Option<Sender<Executor>>,
    done: Receiver<(Executor, Duration)>,
    thread: Option<JoinHandle<()>>,
    /// What the measurements took on their thread.
    took: Duration,
}

/// What a running measurement is of.
#[derive(Clone, Copy, Debug)]
pub(super) struct Launch {
    pub step: u64,
    pub after_step: bool,
}

impl Beside {
    /// Starts the thread that will run `probe`; `None` when the system
    /// gives no thread (the trainer then measures in line).
    pub fn start(probe: Executor) -> Option<Beside> {
        let (jobs, work) = channel::<Executor>();
        let (finished, done) = channel();
        let thread = std::thread::Builder::new()
            .name("depthlab-probe".into())
            .stack_size(WORKER_STACK)
            .spawn(move || {
                while let Ok(mut probe) = work.recv() {
                    let started = Instant::now();
                    probe.run();
                    if finished.send((probe, started.elapsed())).is_err() {
                        break;
                    }
                }
            })
            .ok()?;
        Some(Beside {
            idle: Some(probe),
            running: None,
            jobs: Some(jobs),
            done,
            thread: Some(thread),
            took: Duration::ZERO,
        })
    }

    /// The executor to load with the parameters of the next measurement
    /// (`None` while one runs and is not [`Beside::done`]: [`Beside::finish`]
    /// it first).
    pub fn idle_mut(&mut self) -> Option<&mut Executor> {
        self.idle.as_mut()
    }

    /// The executor holding the last finished measurement (`None` while
    /// one runs and is not [`Beside::done`]).
    pub fn idle(&self) -> Option<&Executor> {
        self.idle.as_ref()
    }

    /// Hands the idle executor, its parameters loaded, to the thread.
    pub fn launch(&mut self, launch: Launch) {
        let probe = self.idle.take().expect("no measurement running");
        let jobs = self.jobs.as_ref().expect("the thread runs until drop");
        if jobs.send(probe).is_err() {
            // The thread ended: only a panic ends it while `jobs` is open.
            self.rethrow();
        }
        self.running = Some(launch);
    }

    /// Whether the running measurement is done, without waiting (false
    /// when none runs). Once it is, the executor is idle again, holding its
    /// statistics; [`Beside::finish`] still reports it.
    pub fn done(&mut self) -> bool {
        if self.running.is_none() {
            return false;
        }
        if self.idle.is_some() {
            return true;
        }
        match self.done.try_recv() {
            Ok(finished) => {
                self.finished(finished);
                true
            }
            Err(TryRecvError::Empty) => false,
            Err(TryRecvError::Disconnected) => self.rethrow(),
        }
    }

    /// Waits for the running measurement, if any, and says what it was
    /// of; the executor is idle again, holding its statistics.
    pub fn finish(&mut self) -> Option<Launch> {
        let launch = self.running.take()?;
        if self.idle.is_none() {
            match self.done.recv() {
                Ok(finished) => self.finished(finished),
                Err(_) => self.rethrow(),
            }
        }
        Some(launch)
    }

    fn finished(&mut self, (probe, took): (Executor, Duration)) {
        self.idle = Some(probe);
        self.took += took;
    }

    /// The time measurements took on their thread.
    pub fn took(&self) -> Duration {
        self.took
    }

    /// Re-raises the measuring thread's panic here (a bug: running a plan
    /// does not fail).
    fn rethrow(&mut self) -> ! {
        self.jobs = None;
        match self.thread.take().map(JoinHandle::join) {
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            _ => panic!("the probe's thread stopped"),
        }
    }
}

impl Drop for Beside {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop.
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
