//! `depthlab bench`: the report's lines and a profile that adds up (speed
//! itself is never asserted in a test).

use crate::cli::depthlab;

#[test]
fn bench_reports_the_step_against_the_peak_and_by_kind() {
    let o = depthlab(&[
        "bench",
        "--net",
        "input 8; dense 16 tanh x2; dense 3; optim sgd lr=0.1 momentum=0.9 weight_decay=1e-4; data blobs n=64 test=0; train batch=16",
        "--threads",
        "1",
        "--steps",
        "20",
    ]);
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.contains("batch 16, 1 thread(s), 20 timed steps"),
        "{out}"
    );
    // 6 · 16 · (8·16 + 16·16 + 16·3) = 41 472 FLOP a step.
    assert!(out.contains("= 0.041 MFLOP a step"), "{out}");
    assert!(out.contains("% of the FMA peak of 1 thread ("), "{out}");
    let shares: Vec<f64> = out
        .lines()
        .skip_while(|l| !l.starts_with("kind"))
        .skip(1)
        .map(|l| {
            l.trim_end_matches(" %")
                .rsplit(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    let total: f64 = shares.iter().sum();
    assert!((95.0..=100.5).contains(&total), "{total}: {out}");
    for kind in [
        "gemm forward",
        "gemm ∂W",
        "gemm ∂x",
        "loss",
        "optimizer update",
        "dispatch",
    ] {
        assert!(out.contains(kind), "{kind}: {out}");
    }
    crate::cli::refused(&["bench", "relu-he", "--steps", "0"], &["--steps"]);
}

#[test]
fn bench_on_two_threads_says_how_many_steps_were_split() {
    // 2·64·256·256 = 8.4 MFLOP a product: the compiler splits it.
    let net = "input 256; dense 256 relu; dense 4; data blobs n=64 test=0; train batch=64";
    let o = depthlab(&["bench", "--net", net, "--threads", "2", "--steps", "12"]);
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let first = out.lines().next().unwrap();
    let split: u32 = first
        .split_once("12 timed steps (split on ")
        .and_then(|(_, rest)| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{first}"));
    assert!(split <= 12, "{first}");
    // Nothing to split: no such note.
    let small = "input 8; dense 16 relu; dense 3; data blobs n=64 test=0; train batch=16";
    let o = depthlab(&["bench", "--net", small, "--threads", "2", "--steps", "5"]);
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("2 thread(s), 5 timed steps after"), "{out}");
}

/// `--statistics` times probe measurements as `train` makes them in line:
/// per measurement, in training steps and per 100 steps (the same ratio
/// twice), with a profile that adds up; `--probe` only with it.
#[test]
fn bench_statistics_times_a_probe_measurement() {
    let net = "input 8; dense 16 tanh x2; dense 3; data blobs n=200 test=50; train batch=16";
    let args = ["bench", "--net", net, "--threads", "1", "--steps", "10"];
    let o = depthlab(&[&args[..], &["--statistics", "--probe", "40"]].concat());
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let line = out
        .lines()
        .find_map(|l| {
            l.strip_prefix(
                "probe statistics of 40 rows, in line on these threads at the initial weights: median ",
            )
        })
        .unwrap_or_else(|| panic!("{out}"));
    let number = |s: &str| s.parse::<f64>().unwrap_or_else(|_| panic!("{s:?}: {line}"));
    let (_, rest) = line.split_once("), ").unwrap();
    let (steps, rest) = rest
        .split_once(" training steps; every 100 steps ")
        .unwrap();
    let share = rest.strip_suffix(" % of their time").unwrap();
    // A measurement of s steps costs s % of 100 steps.
    let (steps, share) = (number(steps), number(share));
    assert!(steps > 0.0 && (steps - share).abs() <= 0.051, "{line}");
    let profile: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("time by step kind (") || !l.contains("measurements"))
        .skip(2)
        .collect();
    let total: f64 = profile
        .iter()
        .map(|l| number(l.trim_end_matches(" %").rsplit(' ').next().unwrap()))
        .sum();
    assert!((95.0..=100.5).contains(&total), "{total}: {out}");
    for kind in ["statistics", "gemm forward", "gemm ∂W", "loss"] {
        assert!(profile.iter().any(|l| l.starts_with(kind)), "{kind}: {out}");
    }
    let o = depthlab(&args);
    assert!(
        !String::from_utf8(o.stdout)
            .unwrap()
            .contains("probe statistics")
    );
    crate::cli::refused(&[&args[..], &["--probe", "40"]].concat(), &["--statistics"]);
}

/// A step that meets subnormal numbers (W ~ 1e-20 kept there by a learning
/// rate of 0: layer 2's products are ~1e-40) gets a line saying what
/// flushing them does (its ratio, a time, is not asserted); a spec that
/// flushes them, and a net held at its initial weights, get none. (A net
/// that trains can fit this small data set in the warm-up's thousands of
/// steps, and then meet them too.)
#[test]
fn bench_reports_subnormal_numbers_the_step_meets() {
    let note = |net: &str| {
        let o = depthlab(&["bench", "--net", net, "--threads", "1", "--steps", "5"]);
        let out = String::from_utf8(o.stdout).unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out.lines()
            .find(|l| l.starts_with("subnormal numbers: "))
            .map(str::to_owned)
    };
    let initial = "input 8; dense 16 tanh x2; dense 3; optim sgd lr=0; data blobs n=64 test=0";
    assert_eq!(note(initial), None);
    let tiny = "input 64; dense 128 tanh init=normal(1e-20) x3; dense 4; optim sgd lr=0; \
                data blobs n=960";
    if !depthlab_kernels::subnormal::AVAILABLE {
        assert_eq!(note(tiny), None, "nothing to flush them with");
        return;
    }
    // Which of its two phrasings depends on the time flushing saves.
    let line = note(tiny).expect("a note");
    assert!(line.contains("`train flush_subnormals=true`"), "{line}");
    assert!(line.contains("× the time (medians of "), "{line}");
    assert_eq!(note(&format!("{tiny}; train flush_subnormals=true")), None);
}
