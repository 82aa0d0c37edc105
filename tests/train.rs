//! Training: L2 = weight decay, resumed runs equal uninterrupted ones,
//! damaged checkpoints are refused, thread counts change no bit, and small
//! problems are actually learned.

use crate::tempdir;
use depthlab::compile::Resources;
use depthlab::error::Error;
use depthlab::exec::Executor;
use depthlab::graph::Graph;
use depthlab::plan::{Buf, Step};
use depthlab::stats::StatsConfig;
use depthlab::train::{EpochRecord, Event, Options, Set, Trainer, training_executor};

use crate::spec;

fn options(threads: usize) -> Options {
    Options {
        probe: None,
        config: StatsConfig::default(),
        resources: Resources {
            threads,
            ..Resources::default()
        },
        spare_core: false,
    }
}

/// Runs a whole training, returning the trainer and its epoch records.
fn train(text: &str, threads: usize) -> (Trainer, Vec<EpochRecord>) {
    let mut t = Trainer::new(&spec(text), &options(threads)).unwrap_or_else(|e| panic!("{e}"));
    let mut records = Vec::new();
    t.run(&mut |e| {
        if let Event::Epoch(r) = e {
            records.push(r.clone());
        }
    })
    .unwrap_or_else(|e| panic!("{e}"));
    (t, records)
}

/// Every buffer of an executor, as bits. (With `Plan::alone`, also the
/// per-step buffers of the plan that did not run last: compare runs on one
/// thread only.)
fn bits(exec: &Executor) -> Vec<Vec<u32>> {
    (0..exec.plan().buffers.len())
        .map(|i| exec.buf(Buf(i)).iter().map(|v| v.to_bits()).collect())
        .collect()
}

/// The learnable buffers (weights, biases, activation parameters).
fn params(exec: &Executor) -> Vec<Vec<f32>> {
    exec.plan()
        .params
        .iter()
        .map(|p| exec.buf(p.param).to_vec())
        .collect()
}

/// Epoch records without their wall-clock time.
fn untimed(records: &[EpochRecord]) -> Vec<EpochRecord> {
    records
        .iter()
        .map(|r| EpochRecord {
            seconds: 0.0,
            ..r.clone()
        })
        .collect()
}

const SPIRALS: &str = "input 2; dense 64 relu x2; dense 3; data spirals; \
                       optim adam lr=0.01; train epochs=30 batch=32 seed=1";

#[test]
fn spirals_reach_95_percent_test_accuracy() {
    let (_, records) = train(SPIRALS, 2);
    let last = records.last().unwrap();
    let acc = last.test_acc.unwrap();
    assert!(
        acc >= 0.95,
        "test accuracy {acc} after {} epochs",
        last.epoch
    );
    assert_eq!(records.len(), 30);
    // The loss fell: the first epoch is far from the last.
    assert!(records[0].train_loss > 4.0 * last.train_loss, "{records:?}");
}

#[test]
fn shapeset_two_tanh_layers_beat_chance() {
    // 9 classes: chance is 11 %. (The issue asks for > 40 % within a minute;
    // the best we measured in a minute is ~31 %, see the README. This test
    // keeps CI fast and checks that learning happens: well above chance.)
    let text = "input 1024; dense 128 tanh x2; dense 9; data shapeset n=4000 test=1000 normalize=true; \
                optim sgd lr=0.01 momentum=0.9; train epochs=8 batch=32 seed=1";
    let (_, records) = train(text, 2);
    let acc = records.last().unwrap().test_acc.unwrap();
    assert!(acc > 0.18, "test accuracy {acc}: {records:?}");
}

/// Ridge regression in closed form: (XᵀX + αI)θ = Xᵀt, X with a column of
/// ones last (the bias), solved by Gaussian elimination in f64.
fn ridge(x: &[f32], t: &[f32], n: usize, d: usize, alpha: f64) -> Vec<f64> {
    let k = d + 1;
    let row = |i: usize| -> Vec<f64> {
        let mut r: Vec<f64> = x[i * d..(i + 1) * d].iter().map(|&v| v as f64).collect();
        r.push(1.0);
        r
    };
    let mut a = vec![vec![0.0; k + 1]; k];
    for (i, &ti) in t.iter().enumerate().take(n) {
        let r = row(i);
        for (p, a_p) in a.iter_mut().enumerate() {
            for (q, rq) in r.iter().enumerate() {
                a_p[q] += r[p] * rq;
            }
            a_p[k] += r[p] * ti as f64;
        }
    }
    for (p, row) in a.iter_mut().enumerate() {
        row[p] += alpha;
    }
    for c in 0..k {
        let pivot = (c..k)
            .max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))
            .unwrap();
        a.swap(c, pivot);
        let pivot_row = a[c].clone();
        for (r, row) in a.iter_mut().enumerate() {
            if r != c {
                let f = row[c] / pivot_row[c];
                for (v, pv) in row.iter_mut().zip(&pivot_row).skip(c) {
                    *v -= f * pv;
                }
            }
        }
    }
    (0..k).map(|p| a[p][k] / a[p][p]).collect()
}

#[test]
fn weight_decay_on_poly_converges_to_the_ridge_solution() {
    // Full-batch gradient descent on L(θ) = (1/N)Σ(θ·x − t)² with SGD's
    // weight_decay λ (on W and b) has the fixed point of L + (λ/2)‖θ‖²:
    // (2/N)Xᵀ(Xθ − t) + λθ = 0, i.e. ridge with α = λN/2 in
    // (XᵀX + αI)θ = Xᵀt.
    let (lambda, n, degree) = (0.02, 10, 5);
    let text = format!(
        "input {degree}; dense 1; loss mse; optim sgd lr=0.3 weight_decay={lambda}; \
         data poly degree={degree} n={n} test=0; train batch={n} steps=20000 seed=4"
    );
    let (t, _) = train(&text, 1);
    let data = &t.data().train;
    let expected = ridge(&data.x, &data.y, n, degree, lambda * n as f64 / 2.0);
    let exec = t.executor();
    let layer = exec.plan().layers[0];
    let got: Vec<f64> = exec
        .buf(layer.w)
        .iter()
        .chain(exec.buf(layer.b))
        .map(|&v| v as f64)
        .collect();
    let scale = expected.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (g, e) in got.iter().zip(&expected) {
        assert!(
            (g - e).abs() <= 1e-4 * scale,
            "gradient descent {got:?} vs closed form {expected:?}"
        );
    }
    // And the decay matters: without it the solution is far from this one.
    let plain = ridge(&data.x, &data.y, n, degree, 0.0);
    let apart = plain
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(
        apart > 100.0 * 1e-4 * scale,
        "λ changes the solution ({apart})"
    );
}

/// Runs one training step by hand: the plan's steps, each parameter
/// buffer decayed θ ← θ(1 − γλ) (decoupled decay) right before the step
/// that updates it (an update step, or W's ∂W product with the update
/// fused), after every step that reads it.
fn step_with_decoupled_decay(exec: &mut Executor, lr: f64, lambda: f64) {
    let (steps, params) = (exec.plan().steps.clone(), exec.plan().params.clone());
    for (i, s) in steps.into_iter().enumerate() {
        let updated: Vec<Buf> = match s {
            Step::Update { param, count, .. } => {
                let first = params.iter().position(|p| p.param == param).unwrap();
                params[first..first + count]
                    .iter()
                    .map(|p| p.param)
                    .collect()
            }
            Step::LinearBackwardParams {
                update: Some(u), ..
            } => vec![u.param],
            _ => vec![],
        };
        for b in updated {
            for v in exec.buf_mut(b) {
                *v *= (1.0 - lr * lambda) as f32;
            }
        }
        exec.step(i);
    }
    let p = exec.progress();
    exec.set_progress(depthlab::exec::Progress {
        step: p.step + 1,
        ..p
    });
}

/// Trains `text` for 5 steps on its probe-sized batch; with `decoupled`,
/// by hand as [`step_with_decoupled_decay`].
fn five_steps(text: &str, decoupled: Option<(f64, f64)>) -> Vec<Vec<f32>> {
    let s = spec(text);
    let graph = Graph::check(&s).unwrap();
    let mut exec = training_executor(&s, &graph, 16, Resources::default()).unwrap();
    let (x, y) = (exec.plan().x, exec.plan().y);
    let [xs, ys] = exec.bufs_mut([x, y]);
    for (i, v) in xs.iter_mut().enumerate() {
        *v = ((i * 37 % 101) as f32 / 50.0) - 1.0;
    }
    for (i, v) in ys.iter_mut().enumerate() {
        *v = (i % 3) as f32;
    }
    for _ in 0..5 {
        match decoupled {
            Some((lr, lambda)) => step_with_decoupled_decay(&mut exec, lr, lambda),
            None => exec.run(),
        }
    }
    params(&exec)
}

fn max_rel_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f64 {
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(&x, &y)| ((x - y).abs() / y.abs().max(1e-3)) as f64)
        .fold(0.0, f64::max)
}

#[test]
fn coupled_l2_equals_decoupled_decay_for_sgd_but_not_for_adam() {
    let net = "input 8; dense 16 tanh; dense 3; loss cross_entropy; train seed=2";
    let (lr, lambda) = (0.1, 0.05);
    // SGD without momentum: θ − γ(∇ + λθ) = θ(1 − γλ) − γ∇.
    let coupled = five_steps(
        &format!("{net}; optim sgd lr={lr} weight_decay={lambda}"),
        None,
    );
    let decoupled = five_steps(&format!("{net}; optim sgd lr={lr}"), Some((lr, lambda)));
    let d = max_rel_diff(&coupled, &decoupled);
    assert!(d < 1e-5, "SGD coupled vs decoupled differ by {d}");
    // Adam: L2 in the gradient is rescaled by the moments; AdamW is the
    // decoupled one.
    let adam = five_steps(
        &format!("{net}; optim adam lr={lr} weight_decay={lambda}"),
        None,
    );
    let adamw = five_steps(
        &format!("{net}; optim adamw lr={lr} weight_decay={lambda}"),
        None,
    );
    let by_hand = five_steps(&format!("{net}; optim adam lr={lr}"), Some((lr, lambda)));
    assert!(
        max_rel_diff(&adamw, &by_hand) < 1e-5,
        "AdamW is Adam plus decoupled decay ({})",
        max_rel_diff(&adamw, &by_hand)
    );
    let d = max_rel_diff(&adam, &adamw);
    assert!(
        d > 1e-2,
        "Adam's L2 and AdamW's decay should differ, differ by {d}"
    );
}

#[test]
fn act_parameters_are_not_decayed_unless_asked() {
    let net = "input 8; dense 16 prelu; dense 3; loss cross_entropy; train seed=2";
    // With a zero gradient on the slope (lr 0 would stop everything), the
    // check is structural: the compiled decay per buffer.
    for (text, expected) in [
        (format!("{net}; optim sgd lr=0.1 weight_decay=0.5"), 0.0),
        (
            "input 8; dense 16 prelu act_decay=0.25; dense 3; loss cross_entropy; optim sgd weight_decay=0.5"
                .to_owned(),
            0.25,
        ),
    ] {
        let s = spec(&text);
        let exec = training_executor(&s, &Graph::check(&s).unwrap(), 4, Resources::default())
            .unwrap();
        let plan = exec.plan();
        let p = plan.layers[0].p;
        let pb = plan.params.iter().find(|b| b.param == p).unwrap();
        assert_eq!(pb.decay, expected, "{text}");
        let w = plan.params.iter().find(|b| b.param == plan.layers[0].w).unwrap();
        assert_eq!(w.decay, 0.5);
    }
    // decay_bias=false and a per-layer weight_decay=.
    let s = spec(
        "input 8; dense 16 tanh weight_decay=0.1; dense 3; optim sgd weight_decay=0.5 decay_bias=false",
    );
    let exec = training_executor(&s, &Graph::check(&s).unwrap(), 4, Resources::default()).unwrap();
    let plan = exec.plan();
    let decay = |b: Buf| plan.params.iter().find(|p| p.param == b).unwrap().decay;
    let (l1, l2) = (plan.layers[0], plan.layers[1]);
    assert_eq!(
        [decay(l1.w), decay(l1.b), decay(l2.w), decay(l2.b)],
        [0.1, 0.0, 0.5, 0.0]
    );
}

const RESUMABLE: &str = "input 2; dense 16 tanh; dense 16 prelu; dense 3; data spirals n=200 test=100; \
                         optim adam lr=0.01 amsgrad=true schedule=cosine; train epochs=4 batch=16 seed=7";

#[test]
fn a_resumed_run_is_bit_identical_to_an_uninterrupted_one() {
    let (whole, records) = train(RESUMABLE, 1);
    let dir = tempdir("resume");
    let path = dir.join("half.safetensors");
    // Stop in the middle of epoch 2 (12 steps per epoch).
    let mut first = Trainer::new(&spec(RESUMABLE), &options(1)).unwrap();
    for _ in 0..17 {
        first.train_step(&mut |_| {}).unwrap();
    }
    first.save(&path).unwrap();
    drop(first);
    let mut second = Trainer::new(&spec(RESUMABLE), &options(1)).unwrap();
    second.resume(&path).unwrap();
    assert_eq!(second.step(), 17);
    let mut resumed = Vec::new();
    second
        .run(&mut |e| {
            if let Event::Epoch(r) = e {
                resumed.push(r.clone());
            }
        })
        .unwrap();
    assert_eq!(bits(second.executor()), bits(whole.executor()));
    // The epochs from the one that was cut report what they did whole.
    assert_eq!(untimed(&resumed), untimed(&records[1..]));
    // And the checkpoints of both runs are the same bytes.
    let (a, b) = (dir.join("a.safetensors"), dir.join("b.safetensors"));
    whole.save(&a).unwrap();
    second.save(&b).unwrap();
    assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
}

#[test]
fn damaged_checkpoints_are_refused_with_a_reason() {
    let dir = tempdir("damaged");
    let good = dir.join("good.safetensors");
    let mut t = Trainer::new(&spec(RESUMABLE), &options(1)).unwrap();
    t.train_step(&mut |_| {}).unwrap();
    t.save(&good).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let resume = |bytes: &[u8], name: &str| -> String {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let mut fresh = Trainer::new(&spec(RESUMABLE), &options(1)).unwrap();
        let before = bits(fresh.executor());
        let err = fresh.resume(&path).unwrap_err();
        assert!(matches!(err, Error::Checkpoint { .. }), "{err}");
        assert_eq!(err.exit_code(), 2);
        // Nothing was changed by the failed load.
        assert_eq!(bits(fresh.executor()), before, "{name}");
        err.to_string()
    };
    let truncated = resume(&bytes[..bytes.len() - 100], "truncated.safetensors");
    assert!(truncated.contains("truncated or corrupt"), "{truncated}");
    let header_cut = resume(&bytes[..20], "cut.safetensors");
    assert!(header_cut.contains("truncated or corrupt"), "{header_cut}");
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x40;
    let corrupt = resume(&flipped, "flipped.safetensors");
    assert!(corrupt.contains("checksum"), "{corrupt}");
    // Another spec's checkpoint.
    let other = dir.join("other.safetensors");
    let other_spec = RESUMABLE.replace("dense 16 tanh", "dense 12 tanh");
    let mut o = Trainer::new(&spec(&other_spec), &options(1)).unwrap();
    o.train_step(&mut |_| {}).unwrap();
    o.save(&other).unwrap();
    let wrong = resume(&std::fs::read(&other).unwrap(), "wrong.safetensors");
    assert!(
        wrong.contains("`dense 12 tanh`") && wrong.contains("`dense 16 tanh`"),
        "{wrong}"
    );
    // Allowed to change spec, the shapes still have to fit.
    let mut fresh = Trainer::new(&spec(RESUMABLE), &options(1)).unwrap();
    let err = fresh
        .resume_changed(&dir.join("wrong.safetensors"), true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("W1") && err.contains("[16, 2]"), "{err}");
    // Another seed: every epoch's data order would differ.
    let mut reseeded =
        Trainer::new(&spec(&RESUMABLE.replace("seed=7", "seed=8")), &options(1)).unwrap();
    let err = reseeded.resume(&good).unwrap_err().to_string();
    assert!(err.contains("seed 7") && err.contains("--seed 7"), "{err}");
    // Another batch size: epochs and batches would not line up.
    let mut rebatched = Trainer::new(
        &spec(&RESUMABLE.replace("batch=16", "batch=8")),
        &options(1),
    )
    .unwrap();
    let err = rebatched.resume(&good).unwrap_err().to_string();
    assert!(
        err.contains("batch 16") && err.contains("--batch 16"),
        "{err}"
    );
    // Not a file at all.
    let missing = Trainer::new(&spec(RESUMABLE), &options(1))
        .unwrap()
        .resume(&dir.join("missing.safetensors"))
        .unwrap_err();
    assert_eq!(missing.exit_code(), 2);
}

#[test]
fn training_steps_are_bit_identical_for_1_2_and_3_threads() {
    // Wide enough that the compiler splits the products (into 3 row blocks
    // on 3 threads), each ∂W block updating its rows of W (or each whole ∂W
    // its W, on whichever thread claims it): with parameter-free
    // activations as chains (all layers' forward products in one call of
    // the workers, all ∂x then all ∂W in two more), with a learned one step
    // by step; and a W over 1 MiB updated in a split pass at the end (its
    // ∂W rows, 1100 wide, come in column blocks on every machine).
    let chained = "input 128; dense 128 tanh; dense 128 relu x4; dense 10; data blobs n=512 test=0; \
                   optim adam lr=0.001 weight_decay=0.01; train steps=6 batch=96 seed=5";
    // The top layer's activation backward starts the ∂x chain.
    let top_act = chained.replace("dense 10;", "dense 10 sigmoid; loss mse;");
    // A chain of as many ∂W products as threads splits each (of more,
    // each is claimed whole).
    let shallow = chained.replace("dense 128 tanh; dense 128 relu x4", "dense 128 relu");
    let learned = chained.replace("128 relu x4", "128 prelu x4");
    // (With AMSGrad: three state buffers a parameter.) W2, over 1 MiB
    // with rows of 256, is updated in its ∂W blocks; W3, over 1 MiB with
    // rows of 1100, in the split pass.
    let wide = chained
        .replace(
            "dense 128 tanh; dense 128 relu x4",
            "dense 256 tanh; dense 1100 prelu; dense 240 prelu",
        )
        .replace("optim adam", "optim adam amsgrad=true");
    let chained_kinds = ["Chain { of: Forward", "Chain { of: Backward"];
    let learned_kinds = ["Linear", "LinearBackwardInput", "LinearBackwardParams"];
    let wide_kinds = [&learned_kinds[..], &["Update"]].concat();
    // Whether the ∂W products' blocks update W, or each whole W is
    // updated by one thread.
    for (text, kinds, dw_blocks) in [
        (chained, &chained_kinds[..], false),
        (&top_act[..], &chained_kinds[..], false),
        (&shallow[..], &chained_kinds[..], true),
        (&learned[..], &learned_kinds[..], true),
        (&wide[..], &wide_kinds[..], true),
    ] {
        let (one, _) = train(text, 1);
        let (two, _) = train(text, 2);
        // The first steps try both ways: split, and unsplit in the steps
        // of the one-thread plan (`Plan::alone`).
        let ways = two.executor().ways().unwrap();
        let (unsplit, split) = (ways.alone.0, ways.split.0);
        assert!(unsplit > 0 && split > 0, "{text}: {unsplit} and {split}");
        let plan = two.executor().plan();
        for kind in kinds {
            assert!(
                plan.steps
                    .iter()
                    .any(|s| format!("{s:?}").starts_with(kind) && s.parts() > 1),
                "{text}: the plan splits {kind} steps at this size: {:#?}",
                plan.steps
            );
        }
        // ∂W blocks update W, split as the products are, or whole.
        let steps = plan.steps.iter().chain(plan.chains.iter().flatten());
        let fused_parts: Vec<usize> = steps
            .filter(|s| {
                matches!(
                    s,
                    Step::LinearBackwardParams {
                        update: Some(_),
                        ..
                    }
                )
            })
            .map(Step::parts)
            .collect();
        let split = fused_parts.iter().any(|&p| p > 1);
        assert_eq!(split, dw_blocks, "{text}: {fused_parts:?}");
        // The plans differ in their scratch (a one-thread plan updates layer
        // by layer through one ∂W buffer), not in what a step leaves behind.
        // (The last step ran as `ran()` says: one way, then the other.)
        let reference = trained_bits(one.executor());
        assert_eq!(reference, trained_bits(two.executor()), "{text}: 2 threads");
        assert_eq!(
            reference,
            trained_bits(train(text, 3).0.executor()),
            "{text}: 3 threads"
        );
    }
}

#[test]
fn flushed_subnormals_are_zero_on_every_thread() {
    // W2 ~ 1e-20 on activations ~ 1e-20: layer 2's pre-activations, and
    // so its δ products, are ~1e-40, subnormal. Wide enough to split.
    let text = |flush: &str| {
        format!(
            "input 128; dense 128 tanh init=normal(1e-20); dense 128 relu init=normal(1e-20); \
             dense 128 relu; dense 10; data blobs n=512 test=0; optim adam lr=0.001; \
             train steps=4 batch=96 seed=5{flush}"
        )
    };
    let subnormal = |bits: &[(String, Vec<u32>)]| {
        let values = bits
            .iter()
            .flat_map(|(_, v)| v.iter().map(|&b| f32::from_bits(b)));
        values.filter(|v| *v != 0.0 && !v.is_normal()).count()
    };
    let ieee = trained_bits(train(&text(""), 1).0.executor());
    let one = trained_bits(train(&text(" flush_subnormals=true"), 1).0.executor());
    assert!(subnormal(&ieee) > 0, "the net makes subnormals");
    if !depthlab_kernels::subnormal::AVAILABLE {
        return;
    }
    assert_eq!(subnormal(&one), 0, "flushed, none is left");
    assert_ne!(ieee, one);
    // `stats` warns of a layer whose δ is all subnormal (δ1 ~ 1e-41 under
    // two layers of W ~ 1e-20), and not once it is flushed.
    let net = "input 64; dense 128 tanh init=normal(1e-20) x3; dense 4; data blobs n=960";
    let warned = |text: &str| {
        let o = crate::cli::depthlab(&["stats", "--net", text]);
        String::from_utf8(o.stdout)
            .unwrap()
            .contains("subnormal gradients")
    };
    assert!(warned(net));
    assert!(!warned(&format!("{net}; train flush_subnormals=true")));
    // The workers flush too: the same bits for any thread count.
    for threads in [2, 3] {
        let (t, _) = train(&text(" flush_subnormals=true"), threads);
        assert!(t.executor().plan().steps.iter().any(|s| s.parts() > 1));
        let other = trained_bits(t.executor());
        let differ = one.iter().zip(&other).filter(|(a, b)| a != b);
        let names: Vec<&str> = differ.map(|(a, _)| a.0.as_str()).collect();
        assert!(names.is_empty(), "{threads} threads: {names:?} differ");
    }
}

/// What training steps leave behind, by buffer name: every parameter, its
/// optimizer state, the last batch's outputs and loss.
fn trained_bits(exec: &Executor) -> Vec<(String, Vec<u32>)> {
    let plan = exec.plan();
    let top = exec.ran().layers.last().unwrap().a;
    let bufs = plan
        .params
        .iter()
        .flat_map(|p| [p.param, p.state[0], p.state[1], p.state[2]]);
    let mut out: Vec<(String, Vec<u32>)> = bufs
        .chain([top])
        .map(|b| {
            let bits = exec.buf(b).iter().map(|v| v.to_bits()).collect();
            (plan.buffer(b).name.clone(), bits)
        })
        .collect();
    out.push((
        "loss".into(),
        vec![
            exec.loss().to_bits() as u32,
            (exec.loss().to_bits() >> 32) as u32,
        ],
    ));
    out
}

#[test]
fn a_training_step_allocates_nothing() {
    for (text, splits) in [
        (
            "input 2; dense 32 prelu; dense 32 srelu; dense 3; data spirals n=100 test=0; \
             optim adam amsgrad=true weight_decay=0.1; train batch=16 epochs=100",
            false,
        ),
        (
            "input 8; dense 32 sigmoid; dense 4; loss mse; data teacher n=64 test=0; \
             optim sgd lr=0.1 momentum=0.9 nesterov=true; train batch=8 epochs=100",
            false,
        ),
        // Split on 2 threads (chained), and unsplit in the steps of its
        // one-thread plan: the first steps try both ways.
        (
            "input 128; dense 128 relu x4; dense 10; data blobs n=512 test=0; \
             optim sgd momentum=0.9; train batch=96 epochs=100",
            true,
        ),
    ] {
        let mut t = Trainer::new(&spec(text), &options(2)).unwrap();
        assert_eq!(t.executor().plan().alone.is_some(), splits, "{text}");
        t.train_step(&mut |_| {}).unwrap();
        let counts = |t: &Trainer| {
            let ways = t.executor().ways().unwrap_or_default();
            (ways.alone.0, ways.split.0)
        };
        let before = counts(&t);
        // 20 steps cross epoch boundaries (a new shuffle each).
        let info = allocation_counter::measure(|| {
            for _ in 0..20 {
                t.train_step(&mut |_| {}).unwrap();
            }
        });
        assert_eq!(
            info.count_total, 0,
            "{text}: {} allocations in 20 steps",
            info.count_total
        );
        let after = counts(&t);
        let both_ways = after.0 > before.0 && after.1 > before.1;
        assert_eq!(both_ways, splits, "{text}: {before:?} → {after:?}");
    }
}

#[test]
fn a_diverging_run_stops_with_exit_code_3_and_names_the_step() {
    let text = "input 2; dense 64 relu x2; dense 3; data spirals; optim sgd lr=1e30; \
                train epochs=2 batch=32";
    let mut t = Trainer::new(&spec(text), &options(1)).unwrap();
    let err = t.run(&mut |_| {}).unwrap_err();
    assert_eq!(err.exit_code(), 3);
    let msg = err.to_string();
    assert!(msg.contains("diverged at step"), "{msg}");
    // The step that diverged changed nothing: what a checkpoint would hold
    // is the last good state, all finite.
    let exec = t.executor();
    assert!(
        exec.plan()
            .params
            .iter()
            .all(|p| exec.buf(p.param).iter().all(|v| v.is_finite())),
        "parameters of the last good step"
    );
    assert!(msg.contains(&format!("step {}", t.step() + 1)), "{msg}");
}

#[test]
fn glorot_sigmoid_top_layer_drops_toward_zero_early() {
    // Glorot & Bengio 2010, Fig. 2 at a test's size: 5 sigmoid layers,
    // "standard" init, SGD with batches of 10 on Shapeset. After 1000
    // updates the top hidden layer's mean activation has fallen from 0.5
    // toward 0 while the lower layers stay at 0.5.
    let text = "input 1024; dense 200 sigmoid init=standard x5; dense 9 init=standard; \
                loss cross_entropy; optim sgd lr=0.1; data shapeset n=2000 test=300; \
                train batch=10 steps=1000 seed=1";
    let mut t = Trainer::new(
        &spec(text),
        &Options {
            probe: Some(300),
            ..options(2)
        },
    )
    .unwrap();
    let mut means: Vec<Vec<f64>> = Vec::new();
    t.run(&mut |e| {
        if let Event::Stats(r) = e {
            means.push(r.stats.layers.iter().map(|l| l.a.mean).collect());
        }
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let (start, end) = (&means[0], means.last().unwrap());
    assert!(
        (start[4] - 0.5).abs() < 0.05,
        "layer 5 starts at 0.5: {start:?}"
    );
    assert!(end[4] < 0.2, "layer 5 falls toward 0: {start:?} → {end:?}");
    for l in 0..3 {
        assert!(
            (end[l] - 0.5).abs() < 0.05,
            "layer {} stays at 0.5: {end:?}",
            l + 1
        );
    }
}

/// The weights after a whole training run of `text`, and its last epoch.
fn trained_weights(text: &str) -> (Vec<Vec<f32>>, EpochRecord) {
    let (t, records) = train(text, 1);
    let exec = t.executor();
    let weights = exec
        .plan()
        .layers
        .iter()
        .map(|l| exec.buf(l.w).to_vec())
        .collect();
    (weights, records.last().unwrap().clone())
}

#[test]
fn an_l2_loss_term_is_weight_decay_of_twice_rho() {
    // 100 steps: loss mse l2=ρ against weight_decay=2ρ (torch adds λθ to
    // the gradient; ρ Σ θ² contributes 2ρθ).
    let data = "data teacher n=64 test=32; train batch=16 steps=100 seed=3";
    let net = |loss: &str, optim: &str| {
        format!("input 6; dense 12 tanh; dense 2; {loss}; {optim}; {data}")
    };
    let rho = 0.05;
    for optim in ["optim sgd lr=0.1 momentum=0.9", "optim adam lr=0.01"] {
        // Weights only (the default), and biases too with l2_bias=true.
        for (l2_keys, decay_keys) in [("", " decay_bias=false"), (" l2_bias=true", "")] {
            let l2_spec = net(&format!("loss mse l2={rho}{l2_keys}"), optim);
            let wd_spec = net(
                "loss mse",
                &format!("{optim} weight_decay={}{decay_keys}", 2.0 * rho),
            );
            let (l2, l2_last) = trained_weights(&l2_spec);
            let (wd, wd_last) = trained_weights(&wd_spec);
            assert_eq!(l2, wd, "{optim}{l2_keys}: the same weights after 100 steps");
            // The L2 run's training loss includes ρ Σ w²; the test loss is
            // the data term in both.
            assert!(l2_last.train_loss > wd_last.train_loss, "{optim}");
            assert_eq!(l2_last.test_loss, wd_last.test_loss, "{optim}");
        }
    }
    // AdamW's weight decay is decoupled: not an L2 term.
    let (l2, _) = trained_weights(&net(&format!("loss mse l2={rho}"), "optim adam lr=0.01"));
    let (adamw, _) = trained_weights(&net(
        "loss mse",
        &format!("optim adamw lr=0.01 weight_decay={}", 2.0 * rho),
    ));
    assert!(max_rel_diff(&l2, &adamw) > 1e-3);
    // With l2_bias=true the biases are penalized too, and the run differs.
    let (with_bias, _) = trained_weights(&net(
        &format!("loss mse l2={rho} l2_bias=true"),
        "optim adam lr=0.01",
    ));
    assert_ne!(with_bias, l2);
}

#[test]
fn the_reported_training_loss_adds_rho_times_the_sum_of_squared_weights() {
    // lr 0: nothing moves, so the batch loss with l2 is the batch loss
    // without it plus ρ Σ W² over both weight matrices.
    let base = "input 4; dense 8 tanh; dense 2; data teacher n=32 test=0; optim sgd lr=0; train batch=32 steps=1 seed=5";
    let rho = 0.25;
    let plain = train(&format!("{base}; loss mse"), 1);
    let with = train(&format!("{base}; loss mse l2={rho}"), 1);
    let exec = plain.0.executor();
    let penalty: f64 = exec
        .plan()
        .layers
        .iter()
        .map(|l| {
            exec.buf(l.w)
                .iter()
                .map(|&w| (w as f64).powi(2))
                .sum::<f64>()
        })
        .sum::<f64>()
        * rho;
    let (a, b) = (plain.1[0].train_loss, with.1[0].train_loss);
    assert!(
        (b - a - penalty).abs() < 1e-9 * penalty,
        "{b} - {a} vs {penalty}"
    );
}

#[test]
fn evaluate_gives_the_data_term_over_a_whole_set() {
    // A linear model with an L2 term: evaluate() must be the plain mean
    // squared error over every example (no ρ w², no batching effects),
    // recomputed here in f64 from the weights, for both sets; and the test
    // set's equals the last epoch record's test loss.
    let text = "input 1; dense 1; loss mse l2=0.5; optim sgd lr=0.1; \
                data poly degree=1 n=700 test=333; train batch=100 epochs=3 seed=5";
    let (mut t, records) = train(text, 1);
    let exec = t.executor();
    let layer = exec.plan().layers[0];
    let (w, b) = (
        f64::from(exec.buf(layer.w)[0]),
        f64::from(exec.buf(layer.b)[0]),
    );
    let mse = |d: &depthlab::dataset::Dataset| {
        let sum: f64 = (0..d.n)
            .map(|i| (w * f64::from(d.x[i]) + b - f64::from(d.y[i])).powi(2))
            .sum();
        sum / d.n as f64
    };
    let (train_set, test_set) = (t.data().train.clone(), t.data().test.clone().unwrap());
    for (set, data) in [(Set::Train, &train_set), (Set::Test, &test_set)] {
        let (loss, acc) = t.evaluate(set).unwrap();
        let expected = mse(data);
        assert!(
            (loss - expected).abs() <= 1e-6 * expected,
            "{set:?}: {loss} vs {expected}"
        );
        assert_eq!(acc, None, "regression has no accuracy");
    }
    let last = records.last().unwrap().test_loss.unwrap();
    assert_eq!(t.evaluate(Set::Test).unwrap().0, last);
    // The L2 term ρw² would show far above the tolerance.
    assert!(0.5 * w * w > 1e-3, "w = {w}");
}

/// `train`'s default thread count is measured only where it can matter:
/// a plan that splits nothing runs the same on any count.
#[test]
fn the_default_thread_count_is_measured_only_for_plans_that_split() {
    use depthlab::train::measured_threads;
    let two = Resources {
        threads: 2,
        ..Resources::default()
    };
    let tiny = spec("input 4; dense 8 relu; dense 2; data blobs n=64 test=0; train batch=16");
    let choice = measured_threads(&tiny, two).unwrap();
    assert_eq!((choice.threads, choice.ratio), (2, None));
    let one = Resources {
        threads: 1,
        ..Resources::default()
    };
    let wide =
        spec("input 300; dense 512 relu x2; dense 10; data blobs n=512 test=0; train batch=256");
    assert_eq!(measured_threads(&wide, one).unwrap().ratio, None);
    let choice = measured_threads(&wide, two).unwrap();
    let ratio = choice.ratio.expect("timed");
    assert!(ratio.is_finite() && ratio > 0.0, "{ratio}");
    // One thread unless two were clearly faster.
    assert_eq!(choice.threads, if ratio < 0.9 { 2 } else { 1 });
    // No room for two more arenas: not measured.
    let tight = Resources {
        threads: 2,
        memory_limit: 20 << 20,
    };
    assert_eq!(measured_threads(&wide, tight).unwrap().ratio, None);
}

/// What a run of `text` on `threads` reports, measuring every `every`
/// steps in line or beside training, and stopping (as at a signal) after
/// step `stop_at`: its statistics records and its epoch records, in order,
/// as text (Debug shows every f64 to its last bit; the epochs' seconds are
/// left out), then how it ended and the statistics its probe holds at the
/// end.
fn reported(
    text: &str,
    (beside, threads): (bool, usize),
    every: u64,
    stop_at: Option<u64>,
) -> [Vec<String>; 4] {
    use std::sync::atomic::{AtomicBool, Ordering};
    let opts = Options {
        spare_core: beside,
        ..options(threads)
    };
    let mut t = Trainer::new(&spec(text), &opts)
        .unwrap()
        .measure_every(Some(every));
    assert_eq!(t.measures_beside(), beside);
    let (mut stats, mut epochs) = (Vec::new(), Vec::new());
    let stop = AtomicBool::new(false);
    let end = t.run_until(
        &mut |e| match e {
            Event::Stats(r) => stats.push(format!(
                "{} {} {:?} {:?}",
                r.step, r.epoch, r.stats, r.update_ratio
            )),
            Event::Epoch(r) => epochs.push(format!("{:?}", untimed(std::slice::from_ref(r)))),
            Event::Step { step, .. } => {
                if Some(step) == stop_at {
                    stop.store(true, Ordering::Relaxed);
                }
            }
        },
        &stop,
    );
    let measured = t.measured();
    assert_eq!(measured.count as usize, stats.len(), "{text}");
    assert_eq!(measured.beside.is_some(), beside);
    // A split plan's steps ran unsplit while a measurement ran beside:
    // counted apart, with every step counted once.
    // (A step stopped at a non-finite loss ran but is not a step done.)
    let ways = t.executor().ways().unwrap_or_default();
    let ran = ways.alone.0 + ways.split.0 + ways.held.0;
    let done = t.step() + u64::from(matches!(end, Err(Error::Diverged { .. })));
    assert_eq!(
        ran == done,
        t.executor().plan().splits(),
        "{text}: {ways:?}"
    );
    assert_eq!(
        measured.unsplit.map(|(steps, _)| steps),
        Some(ways.held.0).filter(|&h| h > 0)
    );
    assert!(beside || ways.held.0 == 0, "{text}: {ways:?}");
    let end = vec![format!("{end:?}"), format!("{:?}", t.probe().stats())];
    [
        stats,
        epochs,
        end,
        vec![format!("{:?}", params(t.executor()))],
    ]
}

/// Statistics measured on a thread beside training are those measured in
/// line, bit for bit, and every one is reported however the run ends:
/// normally (with a test set evaluated on the other probe executor while
/// one is measuring), diverged with a measurement still running, or
/// stopped by a signal. So with a plan split over two threads, whose
/// steps run unsplit while the other core measures (in line on one
/// thread for reference).
#[test]
fn statistics_measured_beside_training_are_those_measured_in_line() {
    let learns = "input 2; dense 16 tanh x3; dense 3; data spirals n=200 test=100; \
                  optim sgd lr=0.1 momentum=0.9; train epochs=3 batch=16 seed=3";
    let diverges = "input 2; dense 64 relu x2; dense 3; data spirals; optim sgd lr=1e8; \
                    train epochs=2 batch=32";
    let splits = "input 64; dense 128 relu x3; dense 4; data blobs n=960 test=200; \
                  optim sgd lr=0.05 momentum=0.9; train epochs=3 batch=96 seed=3";
    // Diverges at step 24, a measurement beside started at step 21.
    let split_diverges = &splits.replace("lr=0.05", "lr=1");
    // Subnormal pre-activations and δ (W ~ 1e-20), flushed on each thread.
    let flushes = "input 64; dense 128 tanh init=normal(1e-20); dense 128 relu init=normal(1e-20); \
                   dense 4; data blobs n=960 test=200; optim adam lr=0.001; \
                   train epochs=2 batch=96 seed=3 flush_subnormals=true";
    let split_plan = |text: &str| Trainer::new(&spec(text), &options(2)).unwrap();
    assert!(split_plan(splits).executor().plan().splits());
    // (A split plan measures beside only every 7 steps of 96 rows or
    // more: twice the 300 probe rows; see `Trainer::measure_every`.)
    for (text, every, stop_at, threads) in [
        (learns, 5, None, 1),
        (diverges, 1, None, 1),
        (learns, 4, Some(22), 1),
        (splits, 7, None, 2),
        (split_diverges, 7, None, 2),
        (splits, 8, Some(16), 2),
        (flushes, 7, None, 2),
    ] {
        let inline = reported(text, (false, 1), every, stop_at);
        let beside = reported(text, (true, threads), every, stop_at);
        assert!(inline[0].len() >= 3, "{:?}", inline[0]);
        assert_eq!(beside, inline, "{text}");
    }
}

/// The update ratio a measurement reports is ‖ΔW‖/‖W‖ of the step just
/// taken: ΔW from W before and after it, ‖W‖ after it; measured in line
/// and beside training.
#[test]
fn the_update_ratio_is_the_step_s_change_of_w_over_w() {
    let text = "input 8; dense 16 tanh x2; dense 4; data blobs n=64 test=0; \
                optim sgd lr=0.1 momentum=0.9; train steps=4 batch=16 seed=3";
    let w = |t: &Trainer| -> Vec<Vec<f32>> {
        let exec = t.executor();
        let layers = &exec.plan().layers;
        layers.iter().map(|l| exec.buf(l.w).to_vec()).collect()
    };
    // ‖after − before‖/‖after‖ of each layer, the differences in f32.
    let sq = |v: &[f32]| v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>();
    let ratios = |before: &[Vec<f32>], after: &[Vec<f32>]| -> Vec<f64> {
        let pairs = before.iter().zip(after);
        pairs
            .map(|(b, a)| {
                let diff: Vec<f32> = a.iter().zip(b).map(|(a, b)| a - b).collect();
                (sq(&diff) / sq(a)).sqrt()
            })
            .collect()
    };
    for beside in [false, true] {
        let opts = Options {
            spare_core: beside,
            ..options(1)
        };
        let mut t = Trainer::new(&spec(text), &opts)
            .unwrap()
            .measure_every(Some(2));
        assert_eq!(t.measures_beside(), beside);
        let mut reported = Vec::new();
        let mut on = |e: Event| {
            if let Event::Stats(r) = e {
                reported.push((r.step, r.update_ratio.map(<[f64]>::to_vec)));
            }
        };
        let mut want = Vec::new();
        for _ in 0..4 {
            let before = w(&t);
            t.train_step(&mut on).unwrap();
            want.push(ratios(&before, &w(&t)));
        }
        t.finish_measuring(&mut on);
        let steps: Vec<u64> = reported.iter().map(|r| r.0).collect();
        assert_eq!(steps, [2, 4], "beside {beside}");
        for (step, got) in reported {
            let (got, want) = (got.expect("after a step"), &want[step as usize - 1]);
            assert_eq!(got.len(), 3);
            for (g, w) in got.iter().zip(want) {
                assert!(
                    *w > 0.0 && (g - w).abs() <= 1e-12 * w,
                    "beside {beside}, step {step}: {g} against {w}"
                );
            }
        }
    }
}

/// A split plan measured more often than its measurement beside could
/// keep up with (fewer than twice the probe's rows between two) measures
/// in line; a plan that splits nothing measures beside however often.
#[test]
fn frequent_measurements_of_a_split_plan_run_in_line() {
    let splits = "input 64; dense 128 relu x3; dense 4; data blobs n=960 test=0; \
                  train batch=96";
    let small = "input 8; dense 16 tanh; dense 3; data blobs n=960 test=0; train batch=96";
    let opts = Options {
        spare_core: true,
        ..options(2)
    };
    let beside = |text: &str, every: u64| {
        let t = Trainer::new(&spec(text), &opts).unwrap();
        assert!(t.measures_beside());
        t.measure_every(Some(every)).measures_beside()
    };
    // 300 probe rows: 6 steps of 96 rows are too few, 7 enough.
    assert!(!beside(splits, 6));
    assert!(beside(splits, 7));
    assert!(beside(small, 1));
}

/// Held unsplit, a split plan runs its one-thread plan's steps (the same
/// bits as on one thread), counted apart from those `SplitChoice` chose,
/// until released.
#[test]
fn steps_held_unsplit_run_the_one_thread_steps_and_are_counted_apart() {
    let text = "input 64; dense 128 relu x3; dense 4; data blobs n=960 test=0; \
                optim sgd lr=0.05 momentum=0.9; train epochs=3 batch=96 seed=3";
    let mut one = Trainer::new(&spec(text), &options(1)).unwrap();
    let mut two = Trainer::new(&spec(text), &options(2)).unwrap();
    assert!(two.executor().plan().alone.is_some());
    two.executor_mut().hold_unsplit(true);
    for step in 1..=5 {
        one.train_step(&mut |_| {}).unwrap();
        two.train_step(&mut |_| {}).unwrap();
        let ways = two.executor().ways().unwrap();
        assert_eq!(ways.held.0, step, "{ways:?}");
        assert_eq!((ways.alone.0, ways.split.0), (0, 0), "{ways:?}");
        assert!(std::ptr::eq(
            two.executor().ran(),
            two.executor().plan().alone.as_deref().unwrap()
        ));
        assert_eq!(params(one.executor()), params(two.executor()));
        // No split step yet to say what the held ones cost beyond one.
        assert_eq!(ways.held_extra(), None);
    }
    two.executor_mut().hold_unsplit(false);
    two.train_step(&mut |_| {}).unwrap();
    let ways = two.executor().ways().unwrap();
    // The split choice starts with a split step.
    assert_eq!(
        (ways.held.0, ways.alone.0, ways.split.0),
        (5, 0, 1),
        "{ways:?}"
    );
    assert!(ways.held_extra().is_some_and(|s| s >= 0.0), "{ways:?}");
}

/// The second probe executor of measuring beside training is made only if
/// it fits in the memory limit beside the training one, the first probe
/// and the data; a run that fits measured in line still runs.
#[test]
fn measuring_beside_needs_room_for_a_second_probe() {
    let text = "input 8; dense 64 tanh x4; dense 3; data blobs n=1000000 test=0; train batch=16";
    let opts = |limit_mib: u64| Options {
        probe: Some(10_000),
        spare_core: true,
        resources: Resources {
            threads: 2,
            memory_limit: limit_mib << 20,
        },
        ..options(2)
    };
    let roomy = Trainer::new(&spec(text), &opts(1024)).unwrap_or_else(|e| panic!("{e}"));
    assert!(roomy.measures_beside());
    // 34 MiB of data, a 35 MiB probe arena: room for one probe, not two.
    let tight = Trainer::new(&spec(text), &opts(85)).unwrap_or_else(|e| panic!("{e}"));
    assert!(!tight.measures_beside());
}
