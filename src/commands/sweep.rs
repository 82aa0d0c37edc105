//! `depthlab sweep`: runs every point of a grid (or of one shard of it),
//! skipping the points already in the results file, in this process or in
//! `--jobs N` worker processes, and appends one JSON line per point.

use crate::error::Error;
use crate::graph::Graph;
use crate::spec::Spec;
use crate::sweep::{Axis, Point, Record, append_line, points, read, run_point, spec_at};
use crate::train::Options;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

/// One shard of N: every N-th point, starting at point `index` (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// `--shard I/N`, I from 1 to N.
    ///
    /// ```
    /// use depthlab::commands::Shard;
    /// assert_eq!(Shard::parse("2/3"), Ok(Shard { index: 1, count: 3 }));
    /// assert!(Shard::parse("0/3").is_err() && Shard::parse("4/3").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Shard, String> {
        let parsed = text.split_once('/').and_then(|(i, n)| {
            Some((
                i.trim().parse::<usize>().ok()?,
                n.trim().parse::<usize>().ok()?,
            ))
        });
        match parsed {
            Some((i, n)) if n >= 1 && (1..=n).contains(&i) => Ok(Shard {
                index: i - 1,
                count: n,
            }),
            _ => Err(format!(
                "`{text}` is not a shard: write I/N with 1 ≤ I ≤ N, e.g. 2/4"
            )),
        }
    }

    /// The shard of a Slurm job array task, from `SLURM_ARRAY_TASK_ID`,
    /// `SLURM_ARRAY_TASK_COUNT` and `SLURM_ARRAY_TASK_MIN` (default 0), as
    /// `env` gives them; `None` outside an array.
    pub fn from_slurm(env: impl Fn(&str) -> Option<String>) -> Result<Option<Shard>, String> {
        let (Some(id), Some(count)) = (env("SLURM_ARRAY_TASK_ID"), env("SLURM_ARRAY_TASK_COUNT"))
        else {
            return Ok(None);
        };
        let min = env("SLURM_ARRAY_TASK_MIN").unwrap_or_else(|| "0".into());
        let number = |name: &str, v: &str| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| format!("{name}=`{v}` is not a whole number"))
        };
        let (id, count, min) = (
            number("SLURM_ARRAY_TASK_ID", &id)?,
            number("SLURM_ARRAY_TASK_COUNT", &count)?,
            number("SLURM_ARRAY_TASK_MIN", &min)?,
        );
        // A stepped (--array=1-15:2) or listed (--array=3,5) array has
        // holes: its tasks cannot number the shards 1..COUNT, so every task
        // refuses, not only those past the end.
        if let Some(step) = env("SLURM_ARRAY_TASK_STEP")
            && number("SLURM_ARRAY_TASK_STEP", &step)? != 1
        {
            return Err(format!(
                "SLURM_ARRAY_TASK_STEP={step}: sweep shards need a contiguous array without a step, \
                 e.g. --array={min}-{}",
                min + count.saturating_sub(1)
            ));
        }
        if let Some(max) = env("SLURM_ARRAY_TASK_MAX")
            && number("SLURM_ARRAY_TASK_MAX", &max)? + 1 != min + count
        {
            return Err(format!(
                "the job array (MIN {min}, MAX {max}, COUNT {count}) is not contiguous: sweep shards \
                 need --array=MIN-MAX; to redo some points, re-run the whole array (done points are skipped)"
            ));
        }
        match id.checked_sub(min) {
            Some(index) if index < count => Ok(Some(Shard { index, count })),
            _ => Err(format!(
                "SLURM_ARRAY_TASK_ID={id} is outside the array (MIN {min}, COUNT {count}): \
                 sweep shards need a contiguous array, e.g. --array=0-{}",
                count.saturating_sub(1)
            )),
        }
    }
}

/// What `depthlab sweep` runs and writes.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    pub axes: Vec<Axis>,
    /// Also train every point (`--train`).
    pub train: bool,
    /// The results file; lines go to stdout without one.
    pub out: Option<PathBuf>,
    /// Worker processes.
    pub jobs: usize,
    pub shard: Option<Shard>,
    /// A worker's points (grid indices): run exactly these, lines to
    /// stdout, nothing else.
    pub worker_points: Option<Vec<usize>>,
    /// The command line to start a worker with (`depthlab sweep ...` as
    /// given); a worker gets it plus its points.
    pub worker_args: Vec<String>,
    pub quiet: bool,
}

/// `depthlab sweep`: returns the closing summary (the lines went to the
/// results file or, as they came, to stdout).
pub fn sweep(spec: &Spec, opts: &Options, s: &SweepOptions) -> Result<String, Error> {
    let grid = points(&s.axes);
    if let Some(mine) = &s.worker_points {
        let chosen: Vec<&Point> = mine.iter().filter_map(|&i| grid.get(i)).collect();
        for p in chosen {
            let record = run_point(&spec_at(spec, p)?, &spec.label(), p, opts, s.train)?;
            print_line(&to_line(&record))
                .map_err(Error::writing(Path::new(crate::files::STDOUT)))?;
        }
        return Ok(String::new());
    }
    let in_shard: Vec<&Point> = grid
        .iter()
        .filter(|p| s.shard.is_none_or(|sh| p.index % sh.count == sh.index))
        .collect();
    // Every point's spec before any runs: a bad value stops the sweep now.
    let mut todo = Vec::new();
    for p in &in_shard {
        let at = spec_at(spec, p)?;
        Graph::check(&at).map_err(|mut e| {
            e.message = format!("at {p}: {}", e.message);
            Error::Spec(e)
        })?;
        todo.push((*p, at.to_string()));
    }
    let done = done_runs(s)?;
    let mode = if s.train { "train" } else { "stats" };
    todo.retain(|(_, text)| !done.contains(&(text.clone(), mode.to_owned(), opts.probe)));
    let skipped = in_shard.len() - todo.len();
    let started = Instant::now();
    let mut progress = Progress::new(todo.len(), s.quiet);
    let points: Vec<&Point> = todo.iter().map(|(p, _)| *p).collect();
    let ran = run(spec, opts, s, &points, &mut progress);
    progress.finish();
    ran.map(|()| summary(s, in_shard.len(), grid.len(), skipped, started))
}

/// Runs `points` here or in workers, each line to the results file or
/// stdout as it comes.
fn run(
    spec: &Spec,
    opts: &Options,
    s: &SweepOptions,
    points: &[&Point],
    progress: &mut Progress,
) -> Result<(), Error> {
    let mut write = |line: &str| -> Result<(), Error> {
        match &s.out {
            Some(path) => append_line(path, line).map_err(Error::writing(path))?,
            None => print_line(line).map_err(Error::writing(Path::new(crate::files::STDOUT)))?,
        }
        progress.tick();
        Ok(())
    };
    if s.jobs > 1 && points.len() > 1 {
        let indices: Vec<usize> = points.iter().map(|p| p.index).collect();
        return run_workers(s, &indices, &mut write);
    }
    for p in points {
        let record = run_point(&spec_at(spec, p)?, &spec.label(), p, opts, s.train)?;
        write(&to_line(&record))?;
    }
    Ok(())
}

/// The runs already in the results file: (effective spec, mode, probe).
fn done_runs(s: &SweepOptions) -> Result<HashSet<(String, String, Option<usize>)>, Error> {
    let Some(path) = &s.out else {
        return Ok(HashSet::new());
    };
    let results = read(path).map_err(|error| Error::Read {
        path: path.clone(),
        error,
    })?;
    if !results.skipped_lines.is_empty() && !s.quiet {
        eprintln!(
            "sweep: {} line(s) of {} are not sweep results (line {}), left as they are",
            results.skipped_lines.len(),
            path.display(),
            results
                .skipped_lines
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(results
        .records
        .iter()
        .map(|r| (r.effective_spec.clone(), r.mode.clone(), r.probe))
        .collect())
}

/// A record as its JSON line.
fn to_line(record: &Record) -> String {
    serde_json::to_string(record).expect("a record always serializes")
}

/// Writes one line to stdout. A closed pipe is an error: for a worker it
/// means its parent is gone (killed), and its points would go nowhere.
fn print_line(line: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}

/// Runs `indices` in `s.jobs` worker processes (round-robin), passing each
/// line they print to `write` as it comes.
fn run_workers(
    s: &SweepOptions,
    indices: &[usize],
    write: &mut dyn FnMut(&str) -> Result<(), Error>,
) -> Result<(), Error> {
    let exe = std::env::current_exe().map_err(|error| Error::Read {
        path: PathBuf::from("depthlab"),
        error,
    })?;
    let jobs = s.jobs.min(indices.len());
    let (send, receive) = mpsc::channel::<String>();
    let mut children = Vec::new();
    for k in 0..jobs {
        let mine: Vec<String> = indices
            .iter()
            .skip(k)
            .step_by(jobs)
            .map(usize::to_string)
            .collect();
        let mut child = Command::new(&exe)
            .args(&s.worker_args)
            .arg(format!("--worker-points={}", mine.join(",")))
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .map_err(|error| Error::Read {
                path: exe.clone(),
                error,
            })?;
        let stdout = child.stdout.take().expect("piped");
        let send = send.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        children.push(child);
    }
    drop(send);
    for line in receive {
        write(&line)?;
    }
    for (k, mut child) in children.into_iter().enumerate() {
        let status = child.wait().map_err(|error| Error::Read {
            path: exe.clone(),
            error,
        })?;
        if !status.success() {
            return Err(Error::Worker {
                message: format!(
                    "worker {} of {jobs} failed ({status}); its error is above",
                    k + 1
                ),
            });
        }
    }
    Ok(())
}

/// The closing lines.
fn summary(
    s: &SweepOptions,
    mine: usize,
    total: usize,
    skipped: usize,
    started: Instant,
) -> String {
    let shard = s.shard.map_or(String::new(), |sh| {
        format!(
            " (shard {}/{}: {mine} of the grid's {total})",
            sh.index + 1,
            sh.count
        )
    });
    let ran = mine - skipped;
    let already = match (&s.out, skipped) {
        (Some(path), 1..) => format!(", {skipped} already in {}", path.display()),
        _ => String::new(),
    };
    let secs = started.elapsed().as_secs_f64();
    let line = format!("sweep: {ran} point(s) run in {secs:.1} s{already}{shard}");
    match &s.out {
        Some(path) => format!(
            "{line}\nsee them with: depthlab report {}\n",
            path.display()
        ),
        None => {
            if !s.quiet {
                eprintln!("{line}");
            }
            String::new()
        }
    }
}

/// Points done / total on stderr: a bar on a terminal, a line every 10 %
/// otherwise, nothing with `quiet`.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: usize,
    done: usize,
    next_plain: usize,
    quiet: bool,
    started: Instant,
}

impl Progress {
    fn new(total: usize, quiet: bool) -> Progress {
        let bar = (!quiet && total > 0 && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            let style = indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} points  {elapsed} (eta {eta})",
            )
            .expect("a valid template");
            bar.set_style(style);
            bar
        });
        Progress {
            bar,
            total,
            done: 0,
            next_plain: total.div_ceil(10).max(1),
            quiet,
            started: Instant::now(),
        }
    }

    fn tick(&mut self) {
        self.done += 1;
        match &self.bar {
            Some(bar) => bar.set_position(self.done as u64),
            None if !self.quiet && (self.done >= self.next_plain || self.done == self.total) => {
                let secs = self.started.elapsed().as_secs_f64();
                let eta = secs / self.done as f64 * (self.total - self.done) as f64;
                eprintln!(
                    "sweep: {}/{} points, {secs:.1} s, eta {eta:.0} s",
                    self.done, self.total
                );
                self.next_plain = self.done + self.total.div_ceil(10).max(1);
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Shard;

    /// The shard Slurm's variables give, `vars` as NAME=value.
    fn slurm(vars: &[(&str, &str)]) -> Result<Option<Shard>, String> {
        Shard::from_slurm(|name| {
            vars.iter()
                .find(|(k, _)| format!("SLURM_ARRAY_TASK_{k}") == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn slurm_arrays_number_the_shards_from_min() {
        let vars = [
            ("ID", "4"),
            ("COUNT", "4"),
            ("MIN", "1"),
            ("MAX", "4"),
            ("STEP", "1"),
        ];
        assert_eq!(slurm(&vars), Ok(Some(Shard { index: 3, count: 4 })));
        assert_eq!(
            slurm(&[("ID", "0"), ("COUNT", "2")]),
            Ok(Some(Shard { index: 0, count: 2 }))
        );
        assert_eq!(slurm(&[("COUNT", "2")]), Ok(None), "not an array task");
    }

    #[test]
    fn arrays_with_holes_are_refused_by_every_task() {
        // --array=1-7:2 is tasks 1, 3, 5, 7: task 1 would claim shard 1/4.
        let stepped = [
            ("ID", "1"),
            ("COUNT", "4"),
            ("MIN", "1"),
            ("MAX", "7"),
            ("STEP", "2"),
        ];
        assert!(slurm(&stepped).unwrap_err().contains("without a step"));
        // --array=3,5: task 3 would claim shard 1/2.
        let listed = [("ID", "3"), ("COUNT", "2"), ("MIN", "3"), ("MAX", "5")];
        assert!(slurm(&listed).unwrap_err().contains("not contiguous"));
        let outside = [("ID", "9"), ("COUNT", "3"), ("MIN", "1")];
        assert!(slurm(&outside).unwrap_err().contains("outside the array"));
        assert!(
            slurm(&[("ID", "x"), ("COUNT", "3")])
                .unwrap_err()
                .contains("whole number")
        );
    }
}
