//! docs/reproductions.md at test size: each paper's qualitative claim, run
//! through `depthlab sweep` as the document runs it, on a smaller grid.

use crate::sweep::sweep;
use depthlab::sweep::{Metric, Record, parse};

/// The records of a sweep run to stdout.
fn records(args: &[&str]) -> Vec<Record> {
    let results = parse(&sweep(args));
    assert!(results.skipped_lines.is_empty());
    results.records
}

/// The records at `point` (every `key=value` given).
fn at<'a>(records: &'a [Record], point: &[(&str, &str)]) -> Vec<&'a Record> {
    records
        .iter()
        .filter(|r| point.iter().all(|(k, v)| r.point[*k] == *v))
        .collect()
}

/// `metric` of the one record at `point`.
fn value(records: &[Record], point: &[(&str, &str)], metric: &str) -> Option<f64> {
    let found = at(records, point);
    assert_eq!(found.len(), 1, "{point:?}");
    Metric::parse(metric).unwrap().of(found[0])
}

/// σ' ≤ 1/4: every sigmoid hidden gain is at most √(n·Var W)/4, whatever
/// the init, and the hidden factor at most that to the power of the gaps.
#[test]
fn sigmoid_gains_stay_under_a_quarter_of_the_weight_gain() {
    let runs = records(&[
        "sigmoid-vanishing",
        "--vary",
        "init=standard,glorot_uniform,he_normal",
        "--vary",
        "depth=5,10",
    ]);
    assert_eq!(runs.len(), 6);
    // n·Var(W) between hidden layers of 256: U[±1/√n] gives 1/3,
    // glorot_uniform 2n/(n+n) = 1, he_normal 2.
    for (init, n_var) in [
        ("standard", 1.0 / 3.0),
        ("glorot_uniform", 1.0),
        ("he_normal", 2.0),
    ] {
        let bound = f64::sqrt(n_var) / 4.0;
        for r in at(&runs, &[("init", init)]) {
            let hidden = &r.stats.layers[..r.stats.layers.len() - 2];
            for (l, layer) in hidden.iter().enumerate() {
                let g = layer.gain.unwrap();
                // 10 % for the sampled weights (n = 256).
                assert!(
                    g < 1.1 * bound,
                    "{init} layer {}: gain {g:.4} vs {bound:.4}",
                    l + 1
                );
            }
            let gaps = hidden.len() as i32;
            let factor = r.stats.hidden_factor.unwrap();
            assert!(
                factor < (1.1 * bound).powi(gaps),
                "{init}: {factor:e} over {gaps} gaps"
            );
        }
    }
}

/// Glorot & Bengio 2010, Table 1's order on Shapeset-3×2: sigmoid worst
/// (at chance), normalized init better than standard for tanh and softsign.
#[test]
fn shapeset_order_of_glorot_table_1() {
    let runs = records(&[
        "glorot-table1-shapeset",
        "--width",
        "128",
        "--vary",
        "data.n=4000",
        "--vary",
        "epochs=5",
        "--vary",
        "act=sigmoid,tanh,softsign",
        "--vary",
        "init=standard,glorot_uniform",
        "--vary",
        "seed=1..2",
        "--train",
    ]);
    assert_eq!(runs.len(), 12);
    for seed in ["1", "2"] {
        let loss = |act, init| {
            value(
                &runs,
                &[("act", act), ("init", init), ("seed", seed)],
                "train_loss",
            )
            .unwrap()
        };
        for act in ["tanh", "softsign"] {
            let (standard, normalized) = (loss(act, "standard"), loss(act, "glorot_uniform"));
            assert!(
                normalized < standard - 0.05,
                "seed {seed} {act}: N {normalized} vs {standard}"
            );
            for init in ["standard", "glorot_uniform"] {
                assert!(
                    loss("sigmoid", init) > loss(act, "standard"),
                    "seed {seed}: sigmoid/{init} vs {act}"
                );
            }
        }
        for init in ["standard", "glorot_uniform"] {
            let acc = value(
                &runs,
                &[("act", "sigmoid"), ("init", init), ("seed", seed)],
                "test_acc",
            )
            .unwrap();
            assert!(
                acc < 15.0,
                "sigmoid/{init} seed {seed}: {acc} % (chance: 11.1 %)"
            );
        }
    }
}

/// He et al. 2015, Fig. 3: 30 ReLU layers train with he_normal and stall
/// at ln 10 with fan-in "Xavier" (lecun_normal), whose δ vanishes.
#[test]
fn thirty_relu_layers_train_with_he_init_and_stall_with_xavier() {
    let runs = records(&[
        "he-30-layers",
        "--width",
        "64",
        "--vary",
        "data.n=1000",
        "--vary",
        "epochs=10",
        "--vary",
        "init=he_normal,lecun_normal",
        "--vary",
        "seed=1..3",
        "--train",
    ]);
    for seed in ["1", "2", "3"] {
        let he = [("init", "he_normal"), ("seed", seed)];
        let xavier = [("init", "lecun_normal"), ("seed", seed)];
        let he_loss = value(&runs, &he, "train_loss").unwrap();
        let xavier_loss = value(&runs, &xavier, "train_loss").unwrap();
        assert!(he_loss < 2.0, "seed {seed}: He {he_loss}");
        assert!(
            xavier_loss > 2.25,
            "seed {seed}: Xavier {xavier_loss} (ln 10 = 2.303)"
        );
        let he_db = value(&runs, &he, "hidden_db").unwrap();
        let xavier_db = value(&runs, &xavier, "hidden_db").unwrap();
        assert!(he_db.abs() < 15.0, "seed {seed}: He {he_db} dB");
        assert!(xavier_db < -60.0, "seed {seed}: Xavier {xavier_db} dB");
    }
}

/// Klambauer et al. 2017: 50 SELU layers keep mean ≈ 0 and std ≈ 1 with
/// lecun_normal; a gain of √2 (he_normal) blows them up, √(1/3) (standard)
/// lets them die out.
#[test]
fn selu_self_normalizes_only_at_the_lecun_gain() {
    let runs = records(&[
        "selu-lecun",
        "--vary",
        "init=lecun_normal,he_normal,standard",
        "--vary",
        "seed=1..2",
    ]);
    for seed in ["1", "2"] {
        let top = |init, m| value(&runs, &[("init", init), ("seed", seed)], m).unwrap();
        let (mean, std) = (
            top("lecun_normal", "top_a_mean"),
            top("lecun_normal", "top_a_std"),
        );
        assert!(
            mean.abs() < 0.1 && (std - 1.0).abs() < 0.1,
            "seed {seed}: {mean} ± {std}"
        );
        assert!(top("he_normal", "top_a_std") > 5.0);
        assert!(top("standard", "top_a_std") < 1e-3);
    }
}

/// Krizhevsky et al. 2012, Fig. 1: ReLU reaches 25 % training error in
/// fewer epochs than tanh (paper 6×; here 2-3×), seed by seed.
#[test]
fn relu_reaches_75_percent_train_accuracy_sooner_than_tanh() {
    let runs = records(&[
        "krizhevsky-relu-tanh",
        "--vary",
        "act=relu,tanh",
        "--vary",
        "seed=1..3",
        "--train",
    ]);
    let epoch = |act, seed| {
        value(
            &runs,
            &[("act", act), ("seed", seed)],
            "epoch_to_train_acc=0.75",
        )
        .unwrap_or_else(|| panic!("{act} seed {seed} never reached 75 %"))
    };
    let (mut relu, mut tanh) = (0.0, 0.0);
    for seed in ["1", "2", "3"] {
        assert!(epoch("relu", seed) < epoch("tanh", seed), "seed {seed}");
        relu += epoch("relu", seed);
        tanh += epoch("tanh", seed);
    }
    assert!(tanh / relu > 2.0, "{tanh} / {relu}");
}

/// Dying ReLU: the dead fraction after training grows with Adam's learning
/// rate; LeakyReLU and ELU units cannot die (no dead count), though as many
/// sit on the negative side.
#[test]
fn dead_relu_units_grow_with_the_learning_rate() {
    let runs = records(&[
        "dying-relu",
        "--vary",
        "act=relu,leaky_relu,elu",
        "--vary",
        "lr=0.001,0.03",
        "--vary",
        "seed=1..2",
        "--train",
    ]);
    for seed in ["1", "2"] {
        let get = |act, lr, m| value(&runs, &[("act", act), ("lr", lr), ("seed", seed)], m);
        let (low, high) = (
            get("relu", "0.001", "dead_end").unwrap(),
            get("relu", "0.03", "dead_end").unwrap(),
        );
        assert!(
            high > 30.0 && high > 5.0 * low,
            "seed {seed}: {low} % → {high} %"
        );
        assert_eq!(
            get("relu", "0.03", "off_end"),
            Some(high),
            "dead = off for a ReLU"
        );
        for act in ["leaky_relu", "elu"] {
            assert_eq!(get(act, "0.03", "dead_end"), None);
            assert!(
                get(act, "0.03", "off_end").unwrap() > 20.0,
                "{act} seed {seed}"
            );
        }
    }
}
