//! `depthlab sweep` and `depthlab report`: the grid, shards and worker
//! processes give the same points as one run, a killed sweep resumes with
//! only the missing points, and the report shows what the lecture says.

use crate::cli::{depthlab, refused};
use crate::tempdir;
use depthlab::sweep::{Record, read};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

/// The lecture's grid: 3 activations × 3 inits × 4 depths.
const GRID: [&str; 7] = [
    "sigmoid-vanishing",
    "--vary",
    "act=sigmoid,tanh,relu",
    "--vary",
    "init=standard,glorot_uniform,he_normal",
    "--vary",
    "depth=5,10,20,40",
];

pub fn sweep(args: &[&str]) -> String {
    crate::cli::succeeds(&[&["sweep", "--quiet"][..], args].concat())
}

/// A file's records by effective spec, timings left out.
fn runs(path: &Path) -> BTreeMap<String, Record> {
    runs_and_cut_lines(path, &[])
}

/// [`runs`] of a file whose lines `cut` (1-based) are records a killed
/// writer left unfinished; no other line may fail to parse.
fn runs_and_cut_lines(path: &Path, cut: &[usize]) -> BTreeMap<String, Record> {
    let results = read(path).unwrap();
    assert_eq!(results.skipped_lines, cut);
    let mut out = BTreeMap::new();
    for mut r in results.records {
        r.seconds = 0.0;
        assert!(
            out.insert(r.effective_spec.clone(), r).is_none(),
            "a point twice"
        );
    }
    out
}

#[test]
fn shards_in_parallel_processes_and_workers_give_the_points_of_one_run() {
    let dir = tempdir("sweep-shards");
    let (whole, shards, workers) = (
        dir.join("whole.jsonl"),
        dir.join("shards.jsonl"),
        dir.join("workers.jsonl"),
    );
    sweep(&[&GRID[..], &["--out", whole.to_str().unwrap()]].concat());
    let children: Vec<_> = (1..=3)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_depthlab"))
                .args(["sweep", "--quiet"])
                .args(GRID)
                .args([
                    "--out",
                    shards.to_str().unwrap(),
                    "--shard",
                    &format!("{i}/3"),
                ])
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    sweep(
        &[
            &GRID[..],
            &["--out", workers.to_str().unwrap(), "--jobs", "3"],
        ]
        .concat(),
    );
    let one = runs(&whole);
    assert_eq!(one.len(), 36);
    assert_eq!(runs(&shards), one);
    assert_eq!(runs(&workers), one);
}

#[test]
fn slurm_array_variables_pick_the_shard() {
    let out = Command::new(env!("CARGO_BIN_EXE_depthlab"))
        .args([
            "sweep",
            "--quiet",
            "sigmoid-vanishing",
            "--vary",
            "depth=2..7",
        ])
        .env("SLURM_ARRAY_TASK_ID", "3")
        .env("SLURM_ARRAY_TASK_COUNT", "3")
        .env("SLURM_ARRAY_TASK_MIN", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records = depthlab::sweep::parse(&String::from_utf8(out.stdout).unwrap()).records;
    // Task 3 of 1..3 is shard 3/3: grid points 2 and 5 (depths 4 and 7).
    let depths: Vec<&str> = records.iter().map(|r| r.point["depth"].as_str()).collect();
    assert_eq!(depths, ["4", "7"]);
    let bad = Command::new(env!("CARGO_BIN_EXE_depthlab"))
        .args(["sweep", "sigmoid-vanishing", "--vary", "depth=2..7"])
        .env("SLURM_ARRAY_TASK_ID", "9")
        .env("SLURM_ARRAY_TASK_COUNT", "3")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn a_killed_sweep_resumes_with_only_the_missing_points() {
    let dir = tempdir("sweep-killed");
    let out = dir.join("runs.jsonl");
    // Points slow enough to kill the sweep between two of them.
    let args = [
        "sweep",
        "--quiet",
        "--net",
        "input 2; dense 64 tanh x3; dense 3; data spirals n=2000 test=500; train batch=20 epochs=8 seed=1",
        "--vary",
        "seed=1..8",
        "--train",
        "--out",
        out.to_str().unwrap(),
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_depthlab"))
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Whole lines: a line being written is not one yet.
    let text = || std::fs::read_to_string(&out).unwrap_or_default();
    let lines = || {
        text()
            .split_inclusive('\n')
            .filter(|l| l.ends_with('\n'))
            .count()
    };
    while lines() < 2 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sweep ended before it was killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // SIGKILL inside the write of a record longer than a page cuts it
    // short (Linux stops the write at a page boundary): then the last line
    // is unfinished, and stays so, left out by every reader.
    let whole = lines();
    let cut: Vec<usize> = if text().ends_with('\n') {
        vec![]
    } else {
        vec![whole + 1]
    };
    let before = runs_and_cut_lines(&out, &cut).len();
    assert!((2..8).contains(&before), "{before} points before the kill");
    let o = depthlab(&args[..]);
    assert!(o.status.success());
    let summary = String::from_utf8(o.stdout).unwrap();
    let expected = format!("{} point(s) run", 8 - before);
    assert!(
        summary.contains(&expected) && summary.contains(&format!("{before} already in")),
        "{summary}"
    );
    let all = runs_and_cut_lines(&out, &cut);
    assert_eq!(all.len(), 8);
    assert!(all.values().all(|r| r.train.is_some()));
}

#[test]
fn the_report_shows_vanishing_growing_with_depth_for_sigmoid_and_not_for_relu_he() {
    let dir = tempdir("sweep-report");
    let (out, csv) = (dir.join("grid.jsonl"), dir.join("runs.csv"));
    sweep(&[&GRID[..], &["--out", out.to_str().unwrap()]].concat());
    // The same file twice: every run a duplicate, dropped.
    let o = depthlab(&[
        "report",
        out.to_str().unwrap(),
        out.to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
        "--svg",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("36 run(s) from 2 file(s), 36 duplicate(s) dropped"),
        "{text}"
    );
    let mut reader = csv::Reader::from_path(&csv).unwrap();
    let db = |act: &str, init: &str| -> Vec<(u32, f64)> {
        let mut v: Vec<(u32, f64)> = csv::Reader::from_path(&csv)
            .unwrap()
            .deserialize::<BTreeMap<String, String>>()
            .map(Result::unwrap)
            .filter(|r| r["act"] == act && r["init"] == init)
            .map(|r| (r["depth"].parse().unwrap(), r["hidden_db"].parse().unwrap()))
            .collect();
        v.sort_by_key(|p| p.0);
        v
    };
    assert_eq!(reader.records().count(), 36);
    let sigmoid = db("sigmoid", "standard");
    assert_eq!(sigmoid.len(), 4);
    assert!(
        sigmoid.windows(2).all(|w| w[1].1 < w[0].1 - 50.0),
        "{sigmoid:?}"
    );
    let relu = db("relu", "he_normal");
    assert!(relu.iter().all(|(_, d)| d.abs() <= 3.0), "{relu:?}");
    // The figure: a line of 4 depths per activation × init.
    let svg = std::fs::read_to_string(dir.join("hidden_db.svg")).unwrap();
    assert_eq!(crate::figures::lines_by_points(&svg).get(&4), Some(&9));
}

#[test]
fn seeds_fold_into_mean_and_std_and_spec_lines_can_vary() {
    let text = sweep(&[
        "--net",
        "input 2; dense 16 relu x2; dense 3; optim sgd lr=0.1; data spirals n=300 test=300; train batch=30 epochs=3 seed=1",
        "--vary",
        "optim.momentum=0,0.9",
        "--vary",
        "seed=1..3",
        "--train",
    ]);
    let records = depthlab::sweep::parse(&text).records;
    assert_eq!(records.len(), 6);
    assert!(
        records[3]
            .effective_spec
            .contains("optim sgd lr=0.1 momentum=0.9"),
        "{}",
        records[3].effective_spec
    );
    let dir = tempdir("sweep-seeds");
    let file = dir.join("runs.jsonl");
    std::fs::write(&file, &text).unwrap();
    let o = depthlab(&["report", file.to_str().unwrap(), "--metric", "test_acc"]);
    let report = String::from_utf8(o.stdout).unwrap();
    let acc: Vec<f64> = records
        .iter()
        .filter(|r| r.point["optim.momentum"] == "0.9")
        .map(|r| 100.0 * r.train.as_ref().unwrap().last.test_acc.unwrap())
        .collect();
    let cell = depthlab::report::mean_pm_std(depthlab::stats::mean_std(&acc), 3);
    assert!(report.contains(&cell), "{cell} in\n{report}");
}

#[test]
fn bad_grids_and_files_are_refused() {
    refused(
        &["sweep", "relu-he", "--vary", "colour=red"],
        &["cannot be varied"],
    );
    refused(&["sweep", "relu-he", "--vary", "depth=3..1"], &["empty"]);
    refused(&["sweep", "relu-he", "--vary", "depth=2,2"], &["twice"]);
    refused(
        &["sweep", "relu-he", "--vary", "act=relu,bogus"],
        &["at act=bogus"],
    );
    refused(
        &["sweep", "relu-he", "--vary", "optim.momentum=0.9"],
        &["no `optim` line"],
    );
    refused(
        &["sweep", "relu-he", "--vary", "depth=2", "--shard", "4/3"],
        &["not a shard"],
    );
    refused(&["sweep", "relu-he"], &["--vary"]);
    let dir = tempdir("sweep-bad");
    let junk = dir.join("junk.jsonl");
    std::fs::write(&junk, "not json\n").unwrap();
    refused(&["report", junk.to_str().unwrap()], &["no sweep results"]);
    refused(
        &["report", dir.join("missing.jsonl").to_str().unwrap()],
        &["missing.jsonl"],
    );
    refused(
        &["report", junk.to_str().unwrap(), "--metric", "speed"],
        &["not a metric"],
    );
}

#[test]
fn runs_of_different_sweeps_in_one_report_are_never_averaged() {
    let net = "input 2; dense 8 relu x2; dense 3; optim sgd lr=0.1; data spirals n=60 test=60; train batch=30 epochs=1 seed=1";
    let grid = ["--net", net, "--vary", "depth=1,2"];
    let stats = sweep(&grid);
    let train = sweep(&[&grid[..], &["--train"]].concat());
    let tanh = sweep(&[&grid[..], &["--act", "tanh"]].concat());
    let dir = tempdir("sweep-mixed");
    let file = dir.join("mixed.jsonl");
    std::fs::write(&file, [stats, train, tanh].concat()).unwrap();
    let o = depthlab(&["report", file.to_str().unwrap(), "--metric", "hidden_db"]);
    let report = String::from_utf8(o.stdout).unwrap();
    // One run per cell: the stats and train runs of a point, and the tanh
    // sweep's, stay apart under the keys `spec` and `mode`.
    assert!(!report.contains('±'), "{report}");
    let header = |key: &str| {
        report
            .lines()
            .find(|l| l.trim_start().starts_with(key))
            .unwrap_or_else(|| panic!("no {key} row in\n{report}"))
            .to_owned()
    };
    assert!(header("spec ").contains("--act tanh"), "{report}");
    assert!(header("mode ").contains("stats") && header("mode ").contains("train"));
    assert!(
        report.contains("varied: spec (2), mode (2), depth (2)"),
        "{report}"
    );
}
