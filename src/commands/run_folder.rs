//! The files a `train` run writes as it goes (the run folder's line files
//! and the TensorBoard event file), written on a thread of their own: a
//! statistics record of a deep net is tens of kB of numbers to format
//! (config A of the speed section: ~0.2 ms a measurement, 4 % of 100 of its
//! steps), which training need not wait for. Records are written in the
//! order they are sent; the first write error is kept and reported when
//! the writer is closed, after training.

use crate::error::Error;
use crate::files::LineFile;
use crate::graph::Graph;
use crate::report::tensorboard::EventFile;
use crate::report::train::{
    drop_epoch_rows_after, epoch_csv, epoch_csv_header, layer_rows, layers_csv_header, stats_line,
};
use crate::stats::NetworkStats;
use crate::train::{EpochRecord, StatsRecord};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// The run folder's line files: `epochs.csv`, `stats.jsonl` and
/// `layers.csv` (the same measurements, one flat row per layer).
pub(super) struct RunFolder {
    epochs: LineFile,
    stats: LineFile,
    layers: LineFile,
}

impl RunFolder {
    /// Creates `dir` if needed and opens its line files: new for a new run;
    /// appended to on resume, after dropping the rows of the epoch the
    /// checkpoint stopped in (the resumed run writes it whole).
    pub(super) fn open(dir: &Path, resumed_epochs: Option<u64>) -> Result<RunFolder, Error> {
        std::fs::create_dir_all(dir).map_err(Error::writing(dir))?;
        let epochs = dir.join("epochs.csv");
        if let Some(completed) = resumed_epochs {
            drop_epoch_rows_after(&epochs, completed).map_err(Error::writing(&epochs))?;
        }
        let append = resumed_epochs.is_some();
        let stats = dir.join("stats.jsonl");
        let layers = dir.join("layers.csv");
        Ok(RunFolder {
            epochs: LineFile::open(epochs.clone(), append, &epoch_csv_header())
                .map_err(Error::writing(&epochs))?,
            stats: LineFile::open(stats.clone(), append, "").map_err(Error::writing(&stats))?,
            layers: LineFile::open(layers.clone(), append, &layers_csv_header())
                .map_err(Error::writing(&layers))?,
        })
    }
}

/// Appends `line` to `file`, keeping the first write error.
fn append(file: Option<&mut LineFile>, line: impl FnOnce() -> String, failure: &mut Option<Error>) {
    // Made only when written: a statistics line of a deep net is tens of
    // kB of numbers.
    if let Some(f) = file {
        let path = f.path().to_path_buf();
        keep_error(f.write(&line()), path, failure);
    }
}

/// Keeps the first write error in `failure` (the run goes on; it is
/// reported once the checkpoint is written).
fn keep_error(result: std::io::Result<()>, path: PathBuf, failure: &mut Option<Error>) {
    if let Err(error) = result {
        failure.get_or_insert(Error::Write { path, error });
    }
}

/// Records sent and not yet written, at most: what a hard kill (SIGKILL,
/// a second signal) can lose beyond what an in-line writer would.
const BACKLOG: usize = 4;

/// A record to write, owned (it crosses to the writing thread).
pub(super) enum Record {
    Epoch(EpochRecord),
    Stats {
        step: u64,
        epoch: usize,
        stats: NetworkStats,
        update_ratio: Option<Vec<f64>>,
    },
}

impl Record {
    pub(super) fn stats(r: &StatsRecord) -> Record {
        Record::Stats {
            step: r.step,
            epoch: r.epoch,
            stats: r.stats.clone(),
            update_ratio: r.update_ratio.map(<[f64]>::to_vec),
        }
    }
}

/// The run's output files and what their lines need.
pub(super) struct Files {
    folder: Option<RunFolder>,
    events: Option<EventFile>,
    graph: Graph,
    /// The spec's label and seed, on every `layers.csv` row.
    label: String,
    seed: u64,
    failure: Option<Error>,
}

impl Files {
    pub(super) fn new(
        folder: Option<RunFolder>,
        events: Option<EventFile>,
        graph: Graph,
        label: String,
        seed: u64,
    ) -> Files {
        Files {
            folder,
            events,
            graph,
            label,
            seed,
            failure: None,
        }
    }

    /// Whether nothing is written at all.
    fn is_empty(&self) -> bool {
        self.folder.is_none() && self.events.is_none()
    }

    fn write(&mut self, record: &Record) {
        let failure = &mut self.failure;
        let (graph, label, seed) = (&self.graph, &self.label, self.seed);
        let folder = &mut self.folder;
        match record {
            Record::Epoch(r) => {
                append(
                    folder.as_mut().map(|f| &mut f.epochs),
                    || epoch_csv(r),
                    failure,
                );
                if let Some(e) = self.events.as_mut() {
                    keep_error(e.epoch(r), e.path(), failure);
                }
            }
            Record::Stats {
                step,
                epoch,
                stats,
                update_ratio,
            } => {
                let r = &StatsRecord {
                    step: *step,
                    epoch: *epoch,
                    stats,
                    update_ratio: update_ratio.as_deref(),
                };
                let line = || stats_line(graph, r);
                append(folder.as_mut().map(|f| &mut f.stats), line, failure);
                let rows = || layer_rows(label, seed, graph, r);
                append(folder.as_mut().map(|f| &mut f.layers), rows, failure);
                if let Some(e) = self.events.as_mut() {
                    keep_error(e.stats(graph, r), e.path(), failure);
                }
            }
        }
    }
}

/// Writes [`Files`] on a thread of its own (here, if the system gives no
/// thread, or there is nothing to write).
pub(super) enum Writer {
    Here(Box<Files>),
    Thread {
        records: SyncSender<Record>,
        thread: JoinHandle<Option<Error>>,
    },
}

impl Writer {
    pub(super) fn start(files: Files) -> Writer {
        if files.is_empty() {
            return Writer::Here(Box::new(files));
        }
        // Bounded: a writer that falls behind (`--stats-every 1` on a fast
        // net) holds training back instead of letting records pile up.
        let (records, received) = sync_channel::<Record>(BACKLOG);
        // Shared only until the thread takes them: they stay here if the
        // system gives no thread.
        let shared = Arc::new(Mutex::new(Some(files)));
        let theirs = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("depthlab-writer".into())
            .spawn(move || {
                let mut files = lock(&theirs).take().expect("left for this thread");
                for record in received {
                    files.write(&record);
                }
                files.failure
            });
        match spawned {
            Ok(thread) => Writer::Thread { records, thread },
            Err(_) => Writer::Here(Box::new(lock(&shared).take().expect("no thread took them"))),
        }
    }

    /// Writes `record` (made only if anything is written).
    pub(super) fn write(&mut self, record: impl FnOnce() -> Record) {
        match self {
            Writer::Here(files) => {
                if !files.is_empty() {
                    files.write(&record());
                }
            }
            Writer::Thread { records, .. } => {
                // The thread ends only after `close`, or by a panic that
                // `close` re-raises.
                let _ = records.send(record());
            }
        }
    }

    /// Waits until every record is written; the first write error, or
    /// the writer's panic (a bug) for the caller to raise once the
    /// checkpoints are safe.
    pub(super) fn close(self) -> std::thread::Result<Option<Error>> {
        match self {
            Writer::Here(files) => Ok(files.failure),
            Writer::Thread { records, thread } => {
                drop(records);
                thread.join()
            }
        }
    }
}

fn lock(files: &Mutex<Option<Files>>) -> MutexGuard<'_, Option<Files>> {
    files.lock().unwrap_or_else(|e| e.into_inner())
}
