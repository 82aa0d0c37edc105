//! The `depthlab` binary: every kind of bad input gets a positioned message
//! and exit code 2, never a panic; good input works for each subcommand.

use crate::tempdir;
use std::process::{Command, Output};

pub fn depthlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_depthlab"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// The `step` of every line of a run folder's `stats.jsonl`.
pub fn stats_steps(path: &std::path::Path) -> Vec<u64> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

/// Runs depthlab, asserts it succeeded, and returns its stdout.
pub fn succeeds(args: &[&str]) -> String {
    let o = depthlab(args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    String::from_utf8(o.stdout).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts exit code 2, no panic, and that stderr contains every `needle`.
pub fn refused(args: &[&str], needles: &[&str]) {
    let o = depthlab(args);
    let err = stderr(&o);
    assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
    assert_eq!(
        o.status.code(),
        Some(2),
        "{args:?}: exit {:?}\n{err}",
        o.status.code()
    );
    for n in needles {
        assert!(err.contains(n), "{args:?}: expected {n:?} in:\n{err}");
    }
}

/// A bad `--net` spec: exit 2 with `--net:1:COL: MESSAGE` and a caret line.
fn bad_net(net: &str, col: usize, message: &str) {
    refused(
        &["check", "--net", net],
        &[&format!("--net:1:{col}: "), message, "^"],
    );
}

#[test]
fn every_malformed_line_kind_is_positioned() {
    // input
    bad_net("input; dense 3", 6, "expected the input size");
    bad_net("input 4 5; dense 3", 9, "unexpected `5`");
    bad_net(
        "input four; dense 3",
        7,
        "expected a whole number ≥ 1, found `four`",
    );
    bad_net(
        "input 99999999999999999999999; dense 3",
        7,
        "expected a whole number",
    );
    bad_net("input 4; input 5; dense 3", 10, "duplicate `input` line");
    bad_net("dense 3 relu; input 4", 15, "`input` must come before");
    // dense
    bad_net("input 4; dense", 15, "expected the number of units");
    bad_net(
        "input 4; dense relu",
        16,
        "expected a whole number ≥ 1, found `relu`",
    );
    bad_net(
        "input 4; dense 3 sigmod; dense 2",
        18,
        "did you mean `sigmoid`?",
    );
    bad_net(
        "input 4; dense 3 relu tanh; dense 2",
        23,
        "the activation is already given",
    );
    bad_net(
        "input 4; dense 3 relu foo=1; dense 2",
        23,
        "expected a dense key",
    );
    bad_net(
        "input 4; dense 3 relu x0; dense 2",
        23,
        "repeat count of at least 1",
    );
    bad_net("input 4; dense 3 relu x2 x3; dense 2", 26, "given twice");
    bad_net(
        "input 4; dense 3 relu init=he_normall; dense 2",
        28,
        "did you mean `he_normal`?",
    );
    bad_net(
        "input 4; dense 3 relu init=normal; dense 2",
        28,
        "`normal` needs its `std`",
    );
    bad_net(
        "input 4; dense 3 relu init=normal(-1); dense 2",
        35,
        "expected a number ≥ 0",
    );
    bad_net(
        "input 4; dense 3 relu init=normal(1,2); dense 2",
        37,
        "takes at most 1 argument",
    );
    bad_net(
        "input 4; dense 3 relu bias=orthogonal; dense 2",
        28,
        "initializer for weight matrices",
    );
    bad_net(
        "input 4; dense 3 relu weight_decay=-1; dense 2",
        36,
        "expected a number ≥ 0",
    );
    bad_net(
        "input 4; dense 3 leaky_relu(b=2); dense 2",
        29,
        "has no parameter `b`",
    );
    bad_net(
        "input 4; dense 3 leaky_relu(a=x); dense 2",
        31,
        "expected a number, found `x`",
    );
    bad_net(
        "input 4; dense 3 elu(a=1; dense 2",
        25,
        "expected `,` or `)`",
    );
    bad_net(
        "input 4; dense 3 relu(1); dense 2",
        23,
        "`relu` takes no arguments",
    );
    bad_net("input 4; dense 3 srelu(tl=2,tr=1); dense 2", 18, "tl ≤ tr");
    bad_net(
        "input 4; dense 3 \"relu; dense 2",
        18,
        "unterminated string",
    );
    // loss
    bad_net("input 4; dense 3; loss", 23, "expected a loss");
    bad_net(
        "input 4; dense 3; loss crossentropy",
        24,
        "did you mean `cross_entropy`?",
    );
    bad_net(
        "input 4; dense 1; loss cross_entropy",
        24,
        "at least 2 output units",
    );
    // optim
    bad_net("input 4; dense 3; optim", 24, "expected an optimizer");
    bad_net("input 4; dense 3; optim sgdd", 25, "did you mean `sgd`?");
    bad_net(
        "input 4; dense 3; optim sgd lr=abc",
        32,
        "expected a number, found `abc`",
    );
    bad_net(
        "input 4; dense 3; optim adam momentum=0.9",
        30,
        "expected an `optim adam` key",
    );
    bad_net("input 4; dense 3; optim adam beta1=1.5", 36, "in [0, 1)");
    bad_net(
        "input 4; dense 3; optim sgd nesterov=yes",
        38,
        "expected `true` or `false`",
    );
    bad_net(
        "input 4; dense 3; optim sgd nesterov=true",
        19,
        "nesterov momentum needs momentum > 0",
    );
    bad_net(
        "input 4; dense 3; optim sgd 0.1",
        29,
        "expected `key=value`",
    );
    // data
    bad_net("input 4; dense 3; data", 23, "expected a data source");
    bad_net(
        "input 4; dense 3; data spirls",
        24,
        "did you mean `spirals`?",
    );
    bad_net(
        "input 4; dense 3; data gaussian n=-5",
        35,
        "expected a whole number ≥ 1",
    );
    bad_net(
        "input 4; dense 3; data gaussian path=x",
        33,
        "expected a `data gaussian` key",
    );
    bad_net("input 4; dense 3; data csv", 24, "needs `path=FILE`");
    // train
    bad_net(
        "input 4; dense 3; train epochs=0",
        32,
        "expected a whole number ≥ 1, found `0`",
    );
    bad_net(
        "input 4; dense 3; train batch=1.5",
        31,
        "expected a whole number ≥ 1",
    );
    bad_net("input 4; dense 3; train seed=-1", 30, "expected a seed");
    bad_net(
        "input 4; dense 3; train foo=1",
        25,
        "expected a `train` key",
    );
    bad_net(
        "input 4; dense 3; train epochs=1 epochs=2",
        34,
        "given twice",
    );
    // unknown line kind
    bad_net("inptu 4; dense 3", 1, "did you mean `input`?");
    // structure
    bad_net("input 0; dense 3", 7, "found `0`");
    bad_net("input 4; dense 0", 16, "found `0`");
    bad_net(
        "input 4; dense 3; dense 2",
        10,
        "a hidden `dense` layer needs an activation",
    );
}

#[test]
fn whole_spec_errors_name_the_source() {
    refused(
        &["check", "--net", "dense 3 relu; dense 2"],
        &["--net: the spec has no `input` line"],
    );
    refused(
        &["check", "--net", "input 4"],
        &["--net:1:1: the spec has no `dense` layer"],
    );
    refused(
        &["check", "--net", " ; # nothing"],
        &["--net: the spec is empty"],
    );
    let dir = tempdir("empty");
    let path = dir.join("empty.net");
    std::fs::write(&path, "").unwrap();
    refused(
        &["stats", path.to_str().unwrap()],
        &["empty.net: the spec is empty"],
    );
}

#[test]
fn errors_in_a_file_give_its_path_line_and_column() {
    let dir = tempdir("file");
    let path = dir.join("bad.net");
    std::fs::write(&path, "# comment\ninput 8\ndense 16 sigmod x3\ndense 2\n").unwrap();
    let p = path.to_str().unwrap();
    refused(
        &["stats", p],
        &[
            &format!("{p}:3:10: expected an activation, found `sigmod`"),
            "3 | dense 16 sigmod x3",
            "  |          ^^^^^^ did you mean `sigmoid`?",
        ],
    );
}

#[test]
fn absurd_sizes_are_refused_before_allocating() {
    refused(
        &[
            "stats",
            "--net",
            "input 100000; dense 100000 relu x100; dense 10",
        ],
        &["needs 7.3 TiB of memory, more than the limit of 8.0 GiB"],
    );
    refused(
        &["check", "--net", "input 4; dense 3 relu x100001; dense 2"],
        &["more than depthlab supports"],
    );
    refused(
        &[
            "stats",
            "--net",
            "input 4; dense 3 relu; dense 2",
            "--memory-limit",
            "0",
        ],
        // A limit of 0 refuses every network: a bad flag, not a limit.
        &["`0` is not a size in GiB > 0"],
    );
    refused(
        &[
            "stats",
            "--net",
            "input 4; dense 3 relu; dense 2",
            "--memory-limit",
            "1e-9",
        ],
        &["more than the limit of 1 B"],
    );
    // The data a spec generates counts too: the probe plan (300 rows of 2M
    // inputs, 2.3 GiB) fits in 4 GiB, which leaves 1.7 GiB for data; 1000
    // training rows do not fit in it, and are refused before any is drawn.
    refused(
        &[
            "stats",
            "--net",
            "input 2000000; dense 2 relu; dense 2",
            "--memory-limit",
            "4",
        ],
        &[
            "1000 examples of 2000001 floats need 7.5 GiB, more than the 1.7 GiB the memory limit leaves for data",
        ],
    );
}

#[test]
fn bad_flags_and_files() {
    refused(
        &["stats", "relu-he", "--act", "sigmod"],
        &[
            "--act:1:1: expected an activation, found `sigmod`",
            "did you mean `sigmoid`?",
        ],
    );
    refused(
        &["stats", "relu-he", "--act", "relu x"],
        &["--act:1:6: expected one value"],
    );
    refused(
        &["stats", "relu-he", "--init", "normal(std=)"],
        &["--init:1:"],
    );
    refused(&["stats", "relu-he", "--depth", "0"], &["--depth"]);
    refused(
        &["stats", "relu-he", "--width=-3"],
        &["invalid value '-3' for '--width <N>'"],
    );
    refused(&["stats", "relu-he", "--probe", "0"], &["--probe"]);
    refused(&["stats", "relu-he", "--format", "xml"], &["--format"]);
    refused(
        &["stats", "relu-he", "--saturation", "2"],
        &["--saturation must be in [0.5, 1)"],
    );
    refused(
        &["stats", "--net", "input 4; dense 2", "--depth", "3"],
        &["`--depth` needs a hidden `dense` line"],
    );
    refused(
        &["stats", "no/such/file.net"],
        &["cannot read `no/such/file.net`"],
    );
    refused(
        &[
            "stats",
            "--net",
            "input 4; dense 3 relu; dense 2; data spirals",
        ],
        &["--net:1:38: `data spirals` gives 2 inputs but the spec's `input` is 4"],
    );
    refused(
        &[
            "stats",
            "--net",
            "input 2; dense 3 relu; dense 2; data spirals test=50",
            "--probe",
            "300",
        ],
        &[
            "the probe needs 300 examples but `data spirals` has 50 held-out ones",
            "--probe 50",
        ],
    );
    refused(&["frobnicate"], &["unrecognized subcommand"]);
}

#[test]
fn stats_and_check_work_and_overrides_apply() {
    let o = depthlab(&[
        "stats",
        "--net",
        "input 8; dense 16 tanh x3; dense 4",
        "--act",
        "relu",
        "--init",
        "he_normal",
        "--depth",
        "5",
        "--width",
        "12",
        "--probe",
        "20",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("6 layers, probe 20×8"), "{out}");
    assert!(out.contains("    5     12  relu"), "{out}");
    assert!(!out.contains("tanh"), "{out}");

    let o = depthlab(&["check", "relu-he", "--batch", "7"]);
    assert!(o.status.success());
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        out.contains("batch:        7 rows") && out.contains("parameters:   1318410"),
        "{out}"
    );

    let o = depthlab(&["examples"]);
    assert!(
        String::from_utf8(o.stdout)
            .unwrap()
            .contains("sigmoid-vanishing")
    );
    let o = depthlab(&["--version"]);
    assert!(String::from_utf8(o.stdout).unwrap().contains("simd:"));
}

#[test]
fn the_probe_comes_from_the_data_line() {
    // Shapeset pixels lie in [0, 1] with grey levels on k/255 and 9 classes;
    // the default Gaussian probe would have negative inputs.
    let exec = crate::run(
        "input 1024; dense 64 tanh x2; dense 9; data shapeset test=300",
        300,
    );
    let x = exec.buf(exec.plan().x);
    assert!(
        x.iter()
            .all(|&v| (0.0..=1.0).contains(&v) && (v * 255.0 - (v * 255.0).round()).abs() < 1e-3)
    );
    let y = exec.buf(exec.plan().y);
    assert!(y.iter().all(|&c| c == c.round() && (0.0..9.0).contains(&c)));
    assert!(exec.loss().is_finite());
    let o = depthlab(&[
        "stats",
        "--net",
        "input 2; dense 16 tanh; dense 3; data spirals",
        "--probe",
        "100",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn json_and_csv_are_well_formed() {
    let o = depthlab(&["stats", "tanh-glorot", "--format", "json", "--probe", "50"]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    assert_eq!(v["schema"], "depthlab.stats/2");
    // The headline: hidden layers 1..5 apart from the output step 5 → 6.
    let summary = &v["summary"];
    let std = |l: usize| v["layers"][l]["delta"]["std"].as_f64().unwrap();
    assert_eq!(summary["hidden_factor"].as_f64().unwrap(), std(0) / std(4));
    assert_eq!(summary["output_step"].as_f64().unwrap(), std(4) / std(5));
    let per = summary["db_per_layer"].as_f64().unwrap();
    assert!((per - 20.0 * (std(0) / std(4)).log10() / 4.0).abs() < 1e-12);
    let layers = v["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 6);
    let hist = layers[0]["delta"]["histogram"].as_array().unwrap();
    let total: f64 = hist.iter().map(|x| x.as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-12, "histogram sums to {total}");
    let act: f64 = layers[0]["a"]["histogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .sum();
    assert!(
        (act - 1.0).abs() < 1e-12,
        "activation histogram sums to {act}"
    );
    assert!(layers[5]["gain"].is_null() && layers[0]["gain"]["predicted"].is_f64());

    let o = depthlab(&["stats", "tanh-glorot", "--format", "csv", "--probe", "50"]);
    let csv = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 7);
    let cols = lines[0].split(',').count();
    assert!(lines.iter().all(|l| l.split(',').count() == cols), "{csv}");
}

/// With a core to spare, `train` measures the probe beside the training
/// steps and says so; the statistics are the same bytes as measured in
/// line on one thread. So too when the steps split over two threads (they
/// run unsplit while the other core measures), unless the measurements
/// come too often for that (then in line, split).
#[test]
fn train_measures_the_probe_beside_training_when_a_core_is_free() {
    let dir = crate::tempdir("cli-beside");
    let net = "input 8; dense 32 tanh x4; dense 3; data blobs n=320 test=0; \
               optim sgd lr=0.05; train epochs=2 batch=16 seed=2";
    let splits = "input 128; dense 128 relu x4; dense 10; data blobs n=960 test=0; \
                  optim sgd lr=0.05; train epochs=4 batch=96 seed=2";
    // Both 40 steps: every 3 steps 15 measurements (13, the start and the
    // end), every 7 steps 7.
    let run = |net: &str, every: &str, threads: &str, out: &str| {
        let out = dir.join(out);
        let args = ["train", "--net", net, "--stats-every", every, "-q"];
        let threads = ["--threads", threads, "--out", out.to_str().unwrap()];
        let o = depthlab(&[&args[..], &threads].concat());
        assert!(o.status.success(), "{}", stderr(&o));
        let count = if every == "3" { 15 } else { 7 };
        let line = String::from_utf8(o.stdout)
            .unwrap()
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!(
                    "probe statistics: {count} measurements of 300 rows took "
                ))
                .map(str::to_owned)
            })
            .unwrap_or_else(|| panic!("no probe statistics line"));
        (line, std::fs::read(out.join("stats.jsonl")).unwrap())
    };
    let beside = |line: &str| line.contains(" on a thread beside training, and ");
    let (line, in_line) = run(net, "3", "1", "one");
    assert!(line.ends_with("% of the run") && !beside(&line), "{line}");
    let (line, two) = run(net, "3", "2", "two");
    assert!(beside(&line), "{line}");
    assert!(two == in_line, "stats.jsonl differs");
    for (every, measured_beside) in [("7", true), ("3", false)] {
        let (_, in_line) = run(splits, every, "1", &format!("split-one-{every}"));
        let (line, two) = run(splits, every, "2", &format!("split-two-{every}"));
        assert_eq!(beside(&line), measured_beside, "every {every}: {line}");
        assert!(two == in_line, "stats.jsonl differs on a split plan");
    }
}

/// On two threads a net that splits says how many steps ran split, how
/// many ran on one thread while the probe statistics were measured on the
/// other (the first, measured beside from the start), and how many its
/// split choice ran on one (both run its one-thread plan's steps, as
/// `check --train` says); on one thread nothing is split and nothing is
/// said.
#[test]
fn train_on_two_threads_says_how_many_steps_ran_split() {
    let net = "input 128; dense 128 relu x4; dense 10; data blobs n=512 test=0; \
               train steps=12 batch=96";
    let summary = |threads: &str| {
        let o = depthlab(&["train", "--net", net, "-q", "--threads", threads]);
        assert!(o.status.success(), "{}", stderr(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    let two = summary("2");
    let line = two
        .lines()
        .find_map(|l| l.strip_prefix("split over 2 threads: "))
        .unwrap_or_else(|| panic!("no split line in:\n{two}"));
    let number = |s: &str| {
        s.parse::<u64>()
            .unwrap_or_else(|_| panic!("{s:?} in {line}"))
    };
    let (split, rest) = line.split_once(" of 12 steps (the other").unwrap();
    let measuring = " while the probe statistics were measured on another";
    let why = |s: &str| {
        s == "faster lately: another busy process on a core?)"
            || s == "to check that it is still slower)"
    };
    // How many were held while measuring, and how many ran alone.
    let (held, alone) = if let Some(rest) = rest.strip_prefix("s ran on one thread, ") {
        assert!(why(rest), "{line}");
        (0, 12 - number(split))
    } else if let Some(rest) = rest.strip_prefix("s ran on one thread: ") {
        let (held, rest) = rest.split_once(&format!("{measuring}, ")).unwrap();
        let (alone, rest) = rest.split_once(' ').unwrap();
        assert!(why(rest), "{line}");
        (number(held), number(alone))
    } else {
        let rest = rest.strip_prefix(' ').unwrap();
        let (held, rest) = rest.split_once(" ran on one thread").unwrap();
        assert_eq!(rest, format!("{measuring})"), "{line}");
        (number(held), 0)
    };
    let split = number(split);
    assert_eq!(split + held + alone, 12, "{line}");
    // After the measurement, the first steps try both ways, split first:
    // two split steps (the first changes way, so its time is not kept and
    // the next goes the same way), then one alone.
    assert!(held == 12 || split >= 1, "{line}");
    assert!(held >= 10 || alone >= 1, "{line}");
    assert!(!summary("1").contains("split over"));
    check_train_lists(
        &net.replace("train steps=12", "train"),
        "2",
        &["(a step run unsplit runs the steps of `--threads 1` instead, on the same parameters)"],
    );
}

#[test]
fn train_runs_writes_its_files_and_refuses_bad_input() {
    let dir = std::env::temp_dir().join(format!("depthlab-cli-train-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let net =
        "input 2; dense 16 tanh; dense 3; data spirals n=200 test=100; train epochs=3 batch=20";
    let out = dir.to_str().unwrap();
    let o = depthlab(&[
        "train",
        "--net",
        net,
        "--stats-every",
        "5",
        "--out",
        out,
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8(o.stdout).unwrap();
    assert!(
        stdout.contains("train loss") && stdout.contains("final: train loss"),
        "{stdout}"
    );
    let csv = std::fs::read_to_string(dir.join("epochs.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4, "header + 3 epochs:\n{csv}");
    // Measured at step 0, every 5 steps (10 per epoch) and at the end.
    let steps = stats_steps(&dir.join("stats.jsonl"));
    assert_eq!(steps, [0, 5, 10, 15, 20, 25, 30]);
    // What they cost is said: seven measurements of the 100 held-out rows.
    assert!(
        stdout.contains("probe statistics: 7 measurements of 100 rows took "),
        "{stdout}"
    );
    assert!(dir.join("summary.txt").exists() && dir.join("checkpoint.safetensors").exists());

    // Resume from the final checkpoint with more epochs: it continues.
    let ck = dir.join("checkpoint.safetensors");
    let o = depthlab(&[
        "train",
        "--net",
        net,
        "--epochs",
        "4",
        "--resume",
        ck.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        String::from_utf8(o.stdout)
            .unwrap()
            .contains("resumed at step 30")
    );

    refused(
        &[
            "train",
            "--net",
            net,
            "--resume",
            dir.join("nope.safetensors").to_str().unwrap(),
        ],
        &["nope.safetensors"],
    );
    std::fs::write(dir.join("junk.safetensors"), b"not a checkpoint").unwrap();
    refused(
        &[
            "train",
            "--net",
            net,
            "--resume",
            dir.join("junk.safetensors").to_str().unwrap(),
        ],
        &["cannot resume", "truncated or corrupt"],
    );
    refused(
        &[
            "train",
            "--net",
            "input 2; dense 3; data spirals n=10 test=0; train batch=20",
        ],
        &[
            "--net:1:",
            "`batch=20` is more than the 10 training examples",
        ],
    );
    refused(&["train", "--net", net, "--lr=-1"], &["--lr"]);
    refused(
        &["train", "--net", net, "--stats-every", "0"],
        &["--stats-every"],
    );
    refused(
        &[
            "train",
            "--net",
            "input 2; dense 3; optim sgd schedule=linear",
        ],
        &["--net:1:", "schedule"],
    );
    refused(
        &["train", "--net", "input 2; dense 3; optim sgd gamma=0.5"],
        &["`gamma` needs `schedule=step`"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigterm_finishes_the_step_writes_the_checkpoint_and_exits_130() {
    interrupted_run_keeps_its_checkpoint(false);
}

#[test]
fn sigterm_from_timeout_still_writes_the_checkpoint() {
    // `timeout` sends SIGTERM to the child and then to its whole process
    // group: the child gets it twice, a moment apart. That is one request
    // to stop (it used to count as the second, "kill now", one and lost the
    // checkpoint).
    interrupted_run_keeps_its_checkpoint(true);
}

/// Stops a training run with SIGTERM (`kill`, or `timeout -s TERM 3`), then
/// checks the exit code, the message and a whole, resumable checkpoint.
fn interrupted_run_keeps_its_checkpoint(via_timeout: bool) {
    let dir = std::env::temp_dir().join(format!(
        "depthlab-cli-sigterm-{via_timeout}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let train = [
        "train",
        "-q",
        "--net",
        "input 2; dense 64 relu x2; dense 3; data spirals; train epochs=100000 batch=32",
        "--out",
        dir.to_str().unwrap(),
    ];
    let exe = env!("CARGO_BIN_EXE_depthlab");
    let mut command = if via_timeout {
        let mut c = Command::new("timeout");
        c.args(["-s", "TERM", "3", exe]);
        c
    } else {
        Command::new(exe)
    };
    let child = command
        .args(train)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if !via_timeout {
        // Wait until training has started (the first epoch row is written).
        let csv = dir.join("epochs.csv");
        for _ in 0..200 {
            if std::fs::read_to_string(&csv).is_ok_and(|s| s.lines().count() > 1) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
    }
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    // timeout exits 124 when it had to signal, whatever the child returned.
    assert_eq!(
        o.status.code(),
        Some(if via_timeout { 124 } else { 130 }),
        "{err}"
    );
    assert!(err.contains("interrupted after step"), "{err}");
    // The checkpoint is whole and resumable.
    let ck = dir.join("checkpoint.safetensors");
    let o = depthlab(&[
        "train",
        "-q",
        "--net",
        "input 2; dense 64 relu x2; dense 3; data spirals; train epochs=100000 batch=32",
        "--resume",
        ck.to_str().unwrap(),
        "--steps",
        "1",
    ]);
    // --steps 1 is behind the checkpoint: refused with the reason, exit 2.
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("only 1 steps"), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stats_after_training_steps() {
    let o = depthlab(&[
        "stats",
        "--net",
        "input 2; dense 16 tanh; dense 3; data spirals n=200 test=100; optim adam lr=0.01",
        "--steps",
        "50",
        "--probe",
        "100",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("after 50 training steps"), "{out}");
}

/// `depthlab check --train --net NET --threads THREADS` succeeds and lists
/// every one of `lines`.
fn check_train_lists(net: &str, threads: &str, lines: &[&str]) {
    let o = depthlab(&["check", "--train", "--net", net, "--threads", threads]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    for line in lines {
        assert!(out.contains(line), "expected {line:?} in:\n{out}");
    }
}

#[test]
fn check_train_lists_the_fused_updates_with_their_decay() {
    // Two threads and a batch that splits the products (a learned
    // activation: no chains): each W of at most 1 MiB updated in its ∂W
    // product, split as it is; a larger one whose ∂W rows (1100 wide)
    // come in column blocks, and the biases and the activation's
    // parameters, in a pass at the end.
    check_train_lists(
        "input 1100; dense 300 prelu; dense 8 prelu; dense 2; optim sgd lr=0.1 momentum=0.9 weight_decay=0.01 decay_bias=false; train batch=64",
        "2",
        &[
            "linear ∂W+upd dW2 = delta2ᵀ·a1, db2 = Σ delta2; tile by tile W2 ← sgd(W2, dW2, W2.momentum_buffer), weight_decay 0.01 coupled (L2, torch Adam/SGD weight_decay)   (64×8)ᵀ·(64×300)",
            "linear ∂W,∂b  dW1 = delta1ᵀ·x, db1 = Σ delta1   (64×300)ᵀ·(64×1100)  ×2",
            "update        W1 ← sgd(W1, dW1, W1.momentum_buffer), weight_decay 0.01 coupled (L2, torch Adam/SGD weight_decay)   330000  ×2",
            // Not decayed, so not with the weights.
            "update        b1 ← sgd(b1, db1, b1.momentum_buffer)   300",
            "update        p1 ← sgd(p1, dp1, p1.momentum_buffer)   300",
        ],
    );
    // A W over 1 MiB whose ∂W rows are 256 wide (whole rows on every
    // machine) is updated in its product too.
    check_train_lists(
        "input 256; dense 1100 prelu; dense 2; optim sgd lr=0.1 momentum=0.9; train batch=64",
        "2",
        &[
            "linear ∂W+upd dW1 = delta1ᵀ·x, db1 = Σ delta1; tile by tile W1 ← sgd(W1, dW1, W1.momentum_buffer)   (64×1100)ᵀ·(64×256)  ×2",
        ],
    );
    check_train_lists(
        "input 4; dense 8 prelu; dense 2; optim sgd lr=0.1 momentum=0.9 weight_decay=0.01 decay_bias=false; train batch=40000",
        "2",
        &[
            "batch:        40000 rows",
            "linear ∂W+upd dW1 = delta1ᵀ·x, db1 = Σ delta1; tile by tile W1 ← sgd(W1, dW1, W1.momentum_buffer), weight_decay 0.01 coupled (L2, torch Adam/SGD weight_decay)   (40000×8)ᵀ·(40000×4)  ×2",
        ],
    );
    // AdamW's decay is decoupled; the loss's L2 term is coupled, and its
    // value is a step of its own. The layers chain (parameter-free
    // activations, small products): each W's update in its ∂W blocks, the
    // biases' at the end.
    check_train_lists(
        "input 4; dense 8 relu; dense 2; loss mse l2=0.5; optim adamw weight_decay=0.1; train batch=40000",
        "2",
        &[
            "loss mse + 0.5·Σ w² (l2, over the weights)",
            "l2 penalty    loss += 0.5·Σ W1²   32",
            "5.3  linear ∂W+upd dW1 = delta1ᵀ·x, db1 = Σ delta1; tile by tile W1 ← adamw(W1, dW1, W1.exp_avg, W1.exp_avg_sq), weight_decay 0.1 decoupled (AdamW), l2 2ρ=1 coupled (the loss's L2 term)   (40000×8)ᵀ·(40000×4)  ×2",
            "b1 ← adamw(b1, db1, b1.exp_avg, b1.exp_avg_sq), weight_decay 0.1 decoupled (AdamW)   8",
        ],
    );
    // One thread, a layer over 32 KiB: each layer's ∂x, then its ∂W with
    // W's update fused, then the other updates, the top layer first.
    check_train_lists(
        "input 4; dense 128 relu; dense 128 tanh; dense 2; optim sgd momentum=0.9 weight_decay=0.01 decay_bias=false; train batch=5",
        "1",
        &[
            "   5  linear ∂x     delta2 = delta3·W3 ⊙ tanh'(a2)   (5×2)·(2×128)",
            "   6  linear ∂W+upd dW3 = delta3ᵀ·a2, db3 = Σ delta3; tile by tile W3 ← sgd(W3, dW3, W3.momentum_buffer), weight_decay 0.01 coupled (L2, torch Adam/SGD weight_decay)   (5×2)ᵀ·(5×128)",
            "   7  update        b3 ← sgd(b3, db3, b3.momentum_buffer)   2",
            "   8  linear ∂x     delta1 = delta2·W2 ⊙ relu'(a1)   (5×128)·(128×128)",
            "  11  linear ∂W+upd dW1 = delta1ᵀ·x, db1 = Σ delta1; tile by tile W1 ← sgd(W1, dW1, W1.momentum_buffer), weight_decay 0.01 coupled (L2, torch Adam/SGD weight_decay)   (5×128)ᵀ·(5×4)",
        ],
    );
    // Two threads with nothing split: the one-thread plan's steps.
    check_train_lists(
        "input 4; dense 8 relu; dense 2; loss mse l2=0.5; optim adamw weight_decay=0.1",
        "2",
        &[
            "   7  linear ∂W+upd dW2 = delta2ᵀ·a1, db2 = Σ delta2; tile by tile W2 ← adamw(W2, dW2, W2.exp_avg, W2.exp_avg_sq), weight_decay 0.1 decoupled (AdamW), l2 2ρ=1 coupled (the loss's L2 term)   (32×2)ᵀ·(32×8)",
        ],
    );
}

#[test]
fn resuming_replaces_the_partial_epoch_row() {
    // A run stopped mid-epoch (here by --steps 15 with 10 steps per epoch)
    // wrote epoch 2's row so far; resuming writes the whole row, once.
    let base = std::env::temp_dir().join(format!("depthlab-cli-rows-{}", std::process::id()));
    let (stopped, whole) = (base.join("stopped"), base.join("whole"));
    let _ = std::fs::remove_dir_all(&base);
    let net =
        "input 2; dense 16 relu; dense 3; data spirals n=320 test=100; train epochs=3 batch=32";
    let run = |dir: &std::path::Path, extra: &[&str]| {
        let mut args = vec!["train", "-q", "--net", net, "--out", dir.to_str().unwrap()];
        args.extend_from_slice(extra);
        let o = depthlab(&args);
        assert!(o.status.success(), "{}", stderr(&o));
    };
    run(&stopped, &["--steps", "15"]);
    let ck = stopped.join("checkpoint.safetensors");
    run(&stopped, &["--resume", ck.to_str().unwrap()]);
    run(&whole, &[]);
    // Every column but the seconds.
    let rows = |dir: &std::path::Path| -> Vec<String> {
        std::fs::read_to_string(dir.join("epochs.csv"))
            .unwrap()
            .lines()
            .map(|l| l.rsplit_once(',').unwrap().0.to_string())
            .collect()
    };
    let (got, want) = (rows(&stopped), rows(&whole));
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(got, want);
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn every_output_records_what_ran() {
    // examples NAME prints the spec to copy; the list is not cut off.
    let o = depthlab(&["examples", "relu-he"]);
    assert!(o.status.success());
    let text = std::fs::read_to_string("examples/relu-he.net").unwrap();
    assert_eq!(String::from_utf8(o.stdout).unwrap(), text);
    refused(&["examples", "relu-hee"], &["did you mean `relu-he`?"]);
    let list = String::from_utf8(depthlab(&["examples"]).stdout).unwrap();
    assert!(
        list.contains("shrinks ~7× per layer toward the input."),
        "{list}"
    );

    // JSON names the flags and holds the effective spec, which parses back
    // to the network measured.
    let o = depthlab(&[
        "stats",
        "tanh-glorot",
        "--act",
        "relu",
        "--depth",
        "3",
        "--format",
        "json",
        "--probe",
        "20",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["spec"], "tanh-glorot --act relu --depth 3");
    let effective = v["effective_spec"].as_str().unwrap();
    assert!(
        effective.contains("dense 256 relu init=glorot_uniform x3"),
        "{effective}"
    );
    let again = depthlab(&[
        "stats", "--net", effective, "--format", "json", "--probe", "20",
    ]);
    let w: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(
        v["layers"], w["layers"],
        "the effective spec measures the same"
    );

    // CSV rows carry spec, seed, activation and init.
    let o = depthlab(&[
        "stats",
        "tanh-glorot",
        "--seed",
        "3",
        "--format",
        "csv",
        "--probe",
        "20",
    ]);
    let csv = String::from_utf8(o.stdout).unwrap();
    assert!(
        csv.starts_with("spec,seed,layer,fan_in,units,activation,init,"),
        "{csv}"
    );
    assert!(
        csv.lines()
            .nth(1)
            .unwrap()
            .starts_with("tanh-glorot --seed 3,3,1,256,256,tanh,glorot_uniform,")
    );

    // train --out: layers.csv has a row per layer per measurement, the
    // summary file the effective spec, and the summary the end's warnings.
    let dir = std::env::temp_dir().join(format!("depthlab-cli-record-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let o = depthlab(&[
        "train",
        "--net",
        "input 2; dense 64 relu x2; dense 3; data spirals; optim sgd lr=0.2 momentum=0.9; train epochs=4 batch=32 seed=1",
        "--stats-every",
        "31",
        "-q",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("warning at the end: dead units"), "{out}");
    let layers = std::fs::read_to_string(dir.join("layers.csv")).unwrap();
    // 3 layers × 5 measurements (steps 0, 31, 62, 93, 124) + the header.
    assert_eq!(layers.lines().count(), 1 + 3 * 5, "{layers}");
    let summary = std::fs::read_to_string(dir.join("summary.txt")).unwrap();
    assert!(summary.contains("effective spec: input 2; dense 64 relu x2; dense 3; optim sgd lr=0.2 momentum=0.9; data spirals;"), "{summary}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn long_runs_print_about_fifty_epoch_rows() {
    let net = "input 1; dense 1; loss mse; data poly degree=0; optim sgd lr=0.1; train epochs=200 batch=10";
    let rows = |extra: &[&str]| {
        let mut args = vec!["train", "--net", net, "-q"];
        args.extend(extra);
        let o = depthlab(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let out = String::from_utf8(o.stdout).unwrap();
        // Epoch rows: the epoch number then the step, both whole numbers.
        out.lines()
            .filter(|l| {
                let mut w = l.split_whitespace();
                w.next().is_some_and(|e| e.parse::<u32>().is_ok())
                    && w.next().is_some_and(|s| s.parse::<u32>().is_ok())
                    && l.contains("0.1000")
            })
            .count()
    };
    // Epoch 1, every 4th (50 rows), the last being one of them.
    assert_eq!(rows(&[]), 51);
    assert_eq!(rows(&["--print-every", "1"]), 200);
    assert_eq!(rows(&["--print-every", "100"]), 3);
}
