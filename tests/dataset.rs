//! The data sources: generators are deterministic and shaped as documented;
//! Shapeset-3×2 is what Glorot & Bengio describe; CSV and IDX loaders read
//! what they should and refuse every broken file with its line or byte.

use depthlab::dataset::shapeset::{self, Kind, Scene};
use depthlab::dataset::{DataError, Dataset, Split, Target, load, shuffled_order};
use depthlab::graph::{DEFAULT_MEMORY_LIMIT, Graph};
use depthlab::init::{Rng, Stream};
use depthlab::spec::{Source, parse};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Loads the `data` line of `net` (`;`-separated spec text) with the
/// network's shape and loss, paths relative to `dir`.
// DataError carries its SpecError by value, as the library's errors do.
#[allow(clippy::result_large_err)]
fn load_in(net: &str, dir: &Path) -> Result<Split, DataError> {
    let spec = parse(Source::new("spec.net", net)).map_err(DataError::Spec)?;
    let graph = Graph::check(&spec).unwrap_or_else(|e| panic!("{e}"));
    let data = spec.data.as_ref().expect("the spec has a `data` line");
    load(
        data,
        &spec.source,
        &graph,
        spec.train.seed,
        dir,
        DEFAULT_MEMORY_LIMIT,
    )
}

fn generate(net: &str) -> Split {
    load_in(net, Path::new(".")).unwrap_or_else(|e| panic!("{e}"))
}

fn error(net: &str, dir: &Path) -> String {
    match load_in(net, dir) {
        Ok(_) => panic!("`{net}` loaded, expected an error"),
        Err(e) => e.to_string(),
    }
}

/// The exact bits of a set's inputs and targets.
fn bits(d: &Dataset) -> Vec<u32> {
    d.x.iter().chain(&d.y).map(|v| v.to_bits()).collect()
}

fn mean_std(v: impl Iterator<Item = f32>) -> (f64, f64) {
    let v: Vec<f64> = v.map(f64::from).collect();
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Asserts every class count is within `tol` of n/k.
fn assert_balanced(d: &Dataset, tol: f64) {
    let counts = d.class_counts();
    let expected = d.n as f64 / counts.len() as f64;
    for (c, &count) in counts.iter().enumerate() {
        assert!(
            (count as f64 - expected).abs() <= tol * expected,
            "class {c}: {count} examples, expected {expected:.0} ± {:.0}%: {counts:?}",
            tol * 100.0
        );
    }
}

// ---------------------------------------------------------------- generators

const GENERATORS: &[&str] = &[
    "input 8; dense 3; data gaussian n=200 test=50",
    "input 8; dense 4; loss mse; data gaussian n=200 test=50",
    "input 8; dense 2; loss bce; data gaussian n=200 test=50",
    "input 5; dense 4; data blobs n=200 test=50",
    "input 2; dense 3; data spirals n=200 test=50",
    "input 6; dense 2; data parity n=200 test=50",
    "input 6; dense 1; loss bce; data parity n=200 test=50",
    "input 7; dense 3; data teacher n=200 test=50",
    "input 7; dense 3; loss mse; data teacher n=200 test=50",
    "input 1024; dense 9; data shapeset n=200 test=50",
    "input 1; dense 1; loss mse; data poly n=200 test=50",
];

#[test]
fn generators_are_deterministic_and_seed_dependent() {
    for net in GENERATORS {
        let a = generate(net);
        let b = generate(net);
        assert_eq!(bits(&a.train), bits(&b.train), "{net}: train differs");
        let (ta, tb) = (a.test.as_ref().unwrap(), b.test.as_ref().unwrap());
        assert_eq!(bits(ta), bits(tb), "{net}: test differs");
        // Another train seed, or another `seed=`, gives other data.
        let reseeded = generate(&format!("{net}; train seed=7"));
        assert_ne!(bits(&a.train), bits(&reseeded.train), "{net}: seed ignored");
        let keyed = generate(&format!("{net} seed=7"));
        assert_eq!(
            bits(&reseeded.train),
            bits(&keyed.train),
            "{net}: `seed=` must act as the train seed"
        );
        // Train and test are different draws.
        assert_ne!(bits(&a.train)[..100], bits(ta)[..100], "{net}");
    }
}

#[test]
fn generators_have_the_documented_shapes() {
    let expect = [
        (8, Target::Classes(3)),
        (8, Target::Values(4)),
        (8, Target::Values(2)),
        (5, Target::Classes(4)),
        (2, Target::Classes(3)),
        (6, Target::Classes(2)),
        (6, Target::Values(1)),
        (7, Target::Classes(3)),
        (7, Target::Values(3)),
        (1024, Target::Classes(9)),
        (1, Target::Values(1)),
    ];
    for (net, (inputs, target)) in GENERATORS.iter().zip(expect) {
        let s = generate(net);
        let test = s.test.as_ref().unwrap();
        for (d, n) in [(&s.train, 200), (test, 50)] {
            assert_eq!((d.n, d.inputs, d.target), (n, inputs, target), "{net}");
            assert_eq!(d.x.len(), n * inputs, "{net}");
            assert_eq!(d.y.len(), n * target.width(), "{net}");
            assert!(d.x.iter().chain(&d.y).all(|v| v.is_finite()), "{net}");
            if let Target::Classes(k) = target {
                assert!(
                    d.y.iter()
                        .all(|&c| c >= 0.0 && c < k as f32 && c.fract() == 0.0)
                );
            }
        }
    }
}

#[test]
fn defaults_and_test_zero() {
    let s = generate("input 3; dense 2; data gaussian");
    assert_eq!((s.train.n, s.test.unwrap().n), (1000, 1000));
    let s = generate("input 1; dense 1; loss mse; data poly");
    assert_eq!((s.train.n, s.test.unwrap().n), (10, 100));
    let s = generate("input 1024; dense 9; data shapeset");
    assert_eq!((s.train.n, s.test.unwrap().n), (10_000, 2_000));
    let s = generate("input 3; dense 2; data gaussian n=5 test=0");
    assert!(s.test.is_none());
}

#[test]
fn the_first_examples_do_not_depend_on_n() {
    for net in GENERATORS {
        let long = generate(net);
        let short = generate(&net.replace("n=200", "n=20"));
        let (x, y) = (short.train.x.len(), short.train.y.len());
        assert_eq!(short.train.x, long.train.x[..x], "{net}");
        assert_eq!(short.train.y, long.train.y[..y], "{net}");
    }
}

#[test]
fn gaussian_inputs_are_standard_normal_and_labels_uniform() {
    let s = generate("input 10; dense 4; data gaussian n=20000 test=0");
    let (m, sd) = mean_std(s.train.x.iter().copied());
    assert!(
        m.abs() < 0.01 && (sd - 1.0).abs() < 0.01,
        "mean {m}, std {sd}"
    );
    assert_balanced(&s.train, 0.06);
    let s = generate("input 10; dense 3; loss mse; data gaussian n=20000 test=0");
    let (m, sd) = mean_std(s.train.y.iter().copied());
    assert!(
        m.abs() < 0.02 && (sd - 1.0).abs() < 0.02,
        "mean {m}, std {sd}"
    );
    let s = generate("input 10; dense 3; loss bce; data gaussian n=20000 test=0");
    assert!(s.train.y.iter().all(|&v| v == 0.0 || v == 1.0));
    let (m, _) = mean_std(s.train.y.iter().copied());
    assert!((m - 0.5).abs() < 0.01, "coin flips mean {m}");
}

/// Per-class input means of a classification set.
fn class_means(d: &Dataset, k: usize) -> Vec<Vec<f64>> {
    let mut sums = vec![vec![0.0; d.inputs]; k];
    let mut counts = vec![0.0; k];
    for i in 0..d.n {
        let c = d.y_row(i)[0] as usize;
        counts[c] += 1.0;
        for (s, &v) in sums[c].iter_mut().zip(d.x_row(i)) {
            *s += f64::from(v);
        }
    }
    for (s, n) in sums.iter_mut().zip(counts) {
        s.iter_mut().for_each(|v| *v /= n);
    }
    sums
}

fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt()
}

#[test]
fn blobs_are_clusters_shared_by_train_and_test() {
    let s = generate("input 16; dense 5; data blobs n=20000 test=20000 std=0.5");
    let test = s.test.as_ref().unwrap();
    let (train_means, test_means) = (class_means(&s.train, 5), class_means(test, 5));
    let mut pair_distances = Vec::new();
    for c in 0..5 {
        // Same centres in both sets.
        let d = distance(&train_means[c], &test_means[c]);
        assert!(d < 0.1, "class {c}: train and test centres {d:.3} apart");
        for other in 0..c {
            pair_distances.push(distance(&train_means[c], &train_means[other]));
        }
        // Within-cluster std is `std=`.
        let rows: Vec<f32> = (0..s.train.n)
            .filter(|&i| s.train.y[i] as usize == c)
            .flat_map(|i| {
                s.train
                    .x_row(i)
                    .iter()
                    .zip(&train_means[c])
                    .map(|(&v, &m)| v - m as f32)
                    .collect::<Vec<_>>()
            })
            .collect();
        let (_, sd) = mean_std(rows.into_iter());
        assert!((sd - 0.5).abs() < 0.02, "class {c}: std {sd}");
    }
    // Centres are N(0, 8/d) per coordinate: pairwise distance ≈ 4 on average.
    let mean = pair_distances.iter().sum::<f64>() / pair_distances.len() as f64;
    assert!((2.5..5.5).contains(&mean), "mean centre distance {mean}");
    assert_balanced(&s.train, 0.06);
}

#[test]
fn spirals_follow_the_documented_formula() {
    let s = generate("input 2; dense 3; data spirals n=3000 test=0 noise=0");
    for i in 0..s.train.n {
        let [x, y] = [s.train.x_row(i)[0] as f64, s.train.x_row(i)[1] as f64];
        let r = x.hypot(y);
        assert!(r < 1.0 + 1e-6);
        let class = s.train.y[i] as f64;
        let theta = class * std::f64::consts::TAU / 3.0 + 4.0 * r;
        let (ex, ey) = (r * theta.cos(), r * theta.sin());
        assert!(
            (x - ex).abs() < 1e-5 && (y - ey).abs() < 1e-5,
            "example {i}"
        );
    }
    assert_balanced(&s.train, 0.1);
    // Noise moves points off the arms.
    let noisy = generate("input 2; dense 3; data spirals n=3000 test=0 noise=0.2");
    assert_eq!(noisy.train.y, s.train.y, "noise changes only the angle");
    assert_ne!(noisy.train.x, s.train.x);
}

#[test]
fn parity_labels_are_the_parity_of_plus_ones() {
    for net in [
        "input 9; dense 2; data parity n=2000 test=0",
        "input 9; dense 1; loss bce; data parity n=2000 test=0",
        "input 9; dense 1; loss mse; data parity n=2000 test=0",
        "input 9; dense 2; loss mse; data parity n=2000 test=0",
    ] {
        let s = generate(net);
        let d = &s.train;
        for i in 0..d.n {
            let row = d.x_row(i);
            assert!(row.iter().all(|&v| v == 1.0 || v == -1.0), "{net}");
            let parity = row.iter().filter(|&&v| v == 1.0).count() % 2;
            match d.target {
                Target::Classes(2) | Target::Values(1) => {
                    assert_eq!(d.y_row(i), &[parity as f32], "{net}")
                }
                Target::Values(2) => {
                    let mut onehot = [0.0; 2];
                    onehot[parity] = 1.0;
                    assert_eq!(d.y_row(i), &onehot, "{net}");
                }
                t => panic!("{net}: target {t:?}"),
            }
        }
        let (m, _) = mean_std(d.x.iter().copied());
        assert!(m.abs() < 0.03, "{net}: inputs mean {m}");
    }
    assert!(
        error("input 9; dense 3; data parity", Path::new("."))
            .contains("`data parity` has 2 classes but the last layer has 3 units")
    );
}

#[test]
fn teacher_labels_are_its_argmax_and_use_every_class() {
    let ce = generate("input 12; dense 4; data teacher n=4000 test=0");
    let mse = generate("input 12; dense 4; loss mse; data teacher n=4000 test=0");
    let bce = generate("input 12; dense 4; loss bce; data teacher n=4000 test=0");
    // One teacher, one input stream: the same x under every loss.
    assert_eq!(ce.train.x, mse.train.x);
    assert_eq!(ce.train.x, bce.train.x);
    for i in 0..ce.train.n {
        let o = mse.train.y_row(i);
        let argmax = (0..4).fold(0, |b, j| if o[j] > o[b] { j } else { b });
        assert_eq!(ce.train.y[i] as usize, argmax, "example {i}");
        let signs: Vec<f32> = o.iter().map(|&v| f32::from(v > 0.0)).collect();
        assert_eq!(bce.train.y_row(i), &signs[..]);
    }
    for (c, &count) in ce.train.class_counts().iter().enumerate() {
        assert!(count > 200, "class {c} is nearly empty: {count}");
    }
    let (_, sd) = mean_std(mse.train.y.iter().copied());
    assert!(sd > 0.2, "teacher targets std {sd}");
}

#[test]
fn poly_is_bishops_sine_with_noise() {
    let s = generate("input 1; dense 1; loss mse; data poly n=20000 test=0");
    let residuals: Vec<f32> = (0..s.train.n)
        .map(|i| {
            let x = s.train.x[i];
            assert!((0.0..1.0).contains(&x));
            s.train.y[i] - (std::f32::consts::TAU * x).sin()
        })
        .collect();
    let (m, sd) = mean_std(residuals.into_iter());
    assert!(
        m.abs() < 0.01 && (sd - 0.3).abs() < 0.01,
        "noise mean {m}, std {sd}"
    );
    let clean = generate("input 1; dense 1; loss mse; data poly noise=0");
    for i in 0..clean.train.n {
        let x = clean.train.x[i];
        assert!((clean.train.y[i] - (std::f32::consts::TAU * x).sin()).abs() < 1e-6);
    }
    let (m, _) = mean_std(clean.test.unwrap().x.into_iter());
    assert!((m - 0.5).abs() < 0.1, "test x mean {m}");
    // Degree 0 (ŷ = w0): one constant input.
    let s = generate("input 1; dense 1; loss mse; data poly degree=0 n=5 test=0");
    assert_eq!(s.train.x, [1.0; 5]);
}

#[test]
fn shape_mismatches_are_positioned_errors() {
    let dot = Path::new(".");
    let cases = [
        (
            "input 64; dense 3; data spirals",
            "spec.net:1:25: `data spirals` gives 2 inputs but the spec's `input` is 64",
        ),
        (
            "input 1024; dense 10; data shapeset",
            "spec.net:1:28: `data shapeset` has 9 classes but the last layer has 10 units",
        ),
        (
            "input 64; dense 9; data shapeset",
            "spec.net:1:25: `data shapeset` gives 1024 inputs (32×32 images) but the spec's `input` is 64",
        ),
        (
            "input 1; dense 2; data poly",
            "`data poly` is a regression set (t = sin(2πx) + noise) and needs `loss mse`, not `cross_entropy`",
        ),
        (
            "input 2; dense 1; loss mse; data poly",
            "`data poly` gives 1 input but the spec's `input` is 2",
        ),
        (
            "input 4; dense 2; data gaussian n=1000000000000",
            "spec.net:1:35: 1000000000000 examples of 5 floats need 18.2 TiB, more than the 8.0 GiB the memory limit leaves for data",
        ),
        (
            "input 4; dense 2; data gaussian test=1000000000000",
            "spec.net:1:38: 1000000000000 examples of 5 floats need",
        ),
    ];
    for (net, expected) in cases {
        let e = error(net, dot);
        assert!(e.contains(expected), "`{net}`:\n{e}\nexpected: {expected}");
    }
}

#[test]
fn shuffled_order_is_a_deterministic_permutation() {
    let a = shuffled_order(1000, 3, 0);
    let mut sorted = a.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
    assert_eq!(a, shuffled_order(1000, 3, 0));
    assert_ne!(a, shuffled_order(1000, 3, 1), "epochs differ");
    assert_ne!(a, shuffled_order(1000, 4, 0), "seeds differ");
    assert!(shuffled_order(0, 1, 0).is_empty());
    assert_eq!(shuffled_order(1, 1, 0), [0]);
    // Uniform: where element 0 lands over 3000 epochs of n = 3.
    let mut at = [0usize; 3];
    for epoch in 0..3000 {
        let order = shuffled_order(3, 9, epoch);
        at[order.iter().position(|&v| v == 0).unwrap()] += 1;
    }
    assert!(at.iter().all(|&c| (900..1100).contains(&c)), "{at:?}");
}

// ------------------------------------------------------------------ shapeset

fn kinds(scene: &Scene) -> Vec<Kind> {
    scene.shapes.iter().map(|s| s.kind).collect()
}

/// Whether the point lies inside a convex polygon, far enough from its edges
/// (`margin`) for the answer to be unambiguous; None when too close.
fn inside(vertices: &[[f64; 2]], p: [f64; 2], margin: f64) -> Option<bool> {
    let n = vertices.len();
    let area2: f64 = (0..n)
        .map(|k| {
            let (a, b) = (vertices[k], vertices[(k + 1) % n]);
            a[0] * b[1] - b[0] * a[1]
        })
        .sum();
    let mut min_signed = f64::INFINITY;
    for k in 0..n {
        let (a, b) = (vertices[k], vertices[(k + 1) % n]);
        let len = ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt();
        let cross = (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]);
        min_signed = min_signed.min(area2.signum() * cross / len);
    }
    (min_signed.abs() > margin).then_some(min_signed > 0.0)
}

#[test]
fn shapeset_one_image_per_class() {
    let mut rng = Rng::new(5, Stream::DataTrain);
    let mut pixels = vec![0.0f32; shapeset::PIXELS];
    for class in 0..shapeset::CLASSES {
        let scene = Scene::draw_class(&mut rng, class);
        scene.render(&mut pixels);
        let names: String = kinds(&scene).iter().map(|k| k.letter()).collect();
        let art = shapeset::ascii(&pixels, shapeset::SIZE);
        println!("class {class} ({names}):\n{art}");
        assert_eq!(art.lines().count(), 32);
        assert!(art.lines().all(|l| l.chars().count() == 32));
        assert_eq!(shapeset::class_of(&kinds(&scene)), Some(class));
        assert_eq!(scene.shapes.len(), if class < 3 { 1 } else { 2 });
    }
}

#[test]
fn shapeset_images_are_what_their_scenes_say() {
    let s = generate("input 1024; dense 9; data shapeset n=3000 test=0 seed=11");
    let d = &s.train;
    assert_balanced(d, 0.2);
    // The same stream, scene by scene.
    let mut rng = Rng::new(11, Stream::DataTrain);
    let mut pixels = vec![0.0f32; shapeset::PIXELS];
    let mut swapped = 0;
    for i in 0..d.n {
        let scene = Scene::draw(&mut rng);
        assert_eq!(d.y[i] as usize, scene.class);
        scene.render(&mut pixels);
        assert_eq!(d.x_row(i), &pixels[..], "image {i}");
        assert_eq!(shapeset::class_of(&kinds(&scene)), Some(scene.class));

        // Grey levels: k/255, shapes and background on opposite sides.
        let bg = scene.background;
        let dark = |v: f32| v <= 114.0 / 255.0 + 1e-6;
        let light = |v: f32| v >= 140.0 / 255.0 - 1e-6;
        assert!(dark(bg) || light(bg));
        swapped += usize::from(light(bg));
        for shape in &scene.shapes {
            assert!(if dark(bg) {
                light(shape.grey)
            } else {
                dark(shape.grey)
            });
            assert!(((shape.grey * 255.0).round() - shape.grey * 255.0).abs() < 1e-4);
            // Inside the image with a 1-pixel margin.
            for v in &shape.vertices {
                assert!(v.iter().all(|&c| (1.0 - 1e-9..=31.0 + 1e-9).contains(&c)));
            }
            // The mask is exactly the pixel centres inside the polygon.
            for r in 0..32 {
                for c in 0..32 {
                    let centre = [c as f64 + 0.5, r as f64 + 0.5];
                    if let Some(inside) = inside(&shape.vertices, centre, 1e-6) {
                        assert_eq!(shape.mask.contains(r, c), inside, "image {i} ({r},{c})");
                    }
                }
            }
        }
        assert!(pixels.iter().all(|&v| (0.0..=1.0).contains(&v)));

        // Two-shape classes hold two visible shapes, overlapping ≤ 50 %.
        if scene.shapes.len() == 2 {
            let (a, b) = (&scene.shapes[0].mask, &scene.shapes[1].mask);
            let smaller = a.area().min(b.area());
            assert!(
                2 * a.overlap(b) <= smaller,
                "image {i}: overlap {}",
                a.overlap(b)
            );
            let visible = scene.visible(0);
            assert!(
                2 * visible.area() >= a.area(),
                "image {i}: first shape hidden"
            );
            for r in 0..32 {
                for c in 0..32 {
                    let v = pixels[r * 32 + c];
                    if b.contains(r, c) {
                        assert_eq!(v, scene.shapes[1].grey);
                    } else if a.contains(r, c) {
                        assert_eq!(v, scene.shapes[0].grey);
                    } else {
                        assert_eq!(v, bg);
                    }
                }
            }
        }
    }
    let frac = swapped as f64 / d.n as f64;
    assert!((frac - 0.5).abs() < 0.05, "swapped fraction {frac}");
}

#[test]
fn shapeset_scales_and_rotations_vary() {
    let mut rng = Rng::new(2, Stream::DataTrain);
    let (mut small, mut large) = (u32::MAX, 0);
    for _ in 0..2000 {
        let scene = Scene::draw_class(&mut rng, 2);
        let a = scene.shapes[0].mask.area();
        small = small.min(a);
        large = large.max(a);
    }
    // Ellipse area π/4·sx·sy, s ∈ [6.4, 25.6]: from ~32 to ~515 pixels.
    assert!(small < 60 && large > 350, "areas {small}..{large}");
}

#[test]
#[ignore = "timing: run with `cargo test --release -- --ignored shapeset_timing --nocapture`"]
fn shapeset_timing() {
    let start = std::time::Instant::now();
    let s = generate("input 1024; dense 9; data shapeset n=20000 test=0");
    println!("20000 shapeset images in {:.2?}", start.elapsed());
    assert_eq!(s.train.n, 20000);
}

// ----------------------------------------------------------------- temp files

/// A scratch folder removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("depthlab-dataset-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, bytes: &[u8]) {
        fs::write(self.0.join(name), bytes).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

// ----------------------------------------------------------------------- csv

const CSV: &str = "a,b,label\n1,2,0\n3,4,1\n5,6,2\n7,8,1\n9,10,0\n";

#[test]
fn csv_reads_rows_in_order() {
    let dir = TempDir::new("csv-read");
    dir.write("d.csv", CSV.as_bytes());
    let s = load_in("input 2; dense 3; data csv path=d.csv", &dir.0).unwrap();
    assert_eq!(s.train.n, 5);
    assert_eq!(s.train.target, Target::Classes(3));
    assert_eq!(s.train.x, [1., 2., 3., 4., 5., 6., 7., 8., 9., 10.]);
    assert_eq!(s.train.y, [0., 1., 2., 1., 0.]);
    assert!(s.test.is_none());
    // `label=` picks a column; the others are inputs in file order.
    let s = load_in(
        "input 2; dense 1; loss mse; data csv path=d.csv label=a",
        &dir.0,
    )
    .unwrap();
    assert_eq!(s.train.target, Target::Values(1));
    assert_eq!(s.train.x_row(1), &[4., 1.]);
    assert_eq!(s.train.y, [1., 3., 5., 7., 9.]);
    // CRLF, a BOM, quotes, spaces and blank lines are fine.
    dir.write(
        "w.csv",
        b"\xEF\xBB\xBF\"a\", b ,label\r\n\r\n1, 2,0\r\n\"3\",4 ,1\r\n",
    );
    let s = load_in("input 2; dense 3; data csv path=w.csv", &dir.0).unwrap();
    assert_eq!((s.train.x, s.train.y), (vec![1., 2., 3., 4.], vec![0., 1.]));
}

#[test]
fn csv_split_test_file_and_normalize() {
    let dir = TempDir::new("csv-split");
    dir.write("d.csv", CSV.as_bytes());
    dir.write("t.csv", b"a,b,label\n11,12,2\n");
    // split=0.2 of 5 rows holds out the last ⌈1⌉.
    let s = load_in("input 2; dense 3; data csv path=d.csv split=0.2", &dir.0).unwrap();
    let test = s.test.unwrap();
    assert_eq!((s.train.n, test.n), (4, 1));
    assert_eq!((test.x, test.y), (vec![9., 10.], vec![0.]));
    // split=0.3 → ⌈1.5⌉ = 2.
    let s = load_in("input 2; dense 3; data csv path=d.csv split=0.3", &dir.0).unwrap();
    assert_eq!(s.test.unwrap().x, [7., 8., 9., 10.]);
    let s = load_in("input 2; dense 3; data csv path=d.csv test=t.csv", &dir.0).unwrap();
    assert_eq!(s.test.unwrap().x, [11., 12.]);
    // normalize=true: train inputs standardized, test with train's stats.
    let s = load_in(
        "input 2; dense 3; data csv path=d.csv test=t.csv normalize=true",
        &dir.0,
    )
    .unwrap();
    for col in 0..2 {
        let (m, sd) = mean_std((0..5).map(|i| s.train.x_row(i)[col]));
        assert!(
            m.abs() < 1e-6 && (sd - 1.0).abs() < 1e-6,
            "column {col}: {m} {sd}"
        );
    }
    // Column a: mean 5, population std √8.
    let expected = ((11.0 - 5.0) / 8f64.sqrt()) as f32;
    assert!((s.test.unwrap().x[0] - expected).abs() < 1e-6);
    assert_eq!(s.train.y, [0., 1., 2., 1., 0.], "labels are not normalized");

    let e = error(
        "input 2; dense 3; data csv path=d.csv test=t.csv split=0.2",
        &dir.0,
    );
    assert!(
        e.contains("spec.net:1:56: give either `test=FILE` or `split=`, not both"),
        "{e}"
    );
    dir.write("one.csv", b"a,b,label\n1,2,0\n");
    let e = error("input 2; dense 3; data csv path=one.csv split=0.5", &dir.0);
    assert!(
        e.contains("holding out 1 of 1 examples leaves none to train on"),
        "{e}"
    );
}

#[test]
fn csv_errors_name_the_file_and_line() {
    let dir = TempDir::new("csv-errors");
    let d = dir.0.join("x.csv");
    let d = d.display();
    let cases: &[(&[u8], &str, String)] = &[
        (
            b"",
            "",
            format!("{d}:1: the file is empty; expected a header row"),
        ),
        (b"\n  \n", "", format!("{d}:1: the file is empty")),
        (
            b"a,b,label\n",
            "",
            format!("{d}:1: no data rows after the header"),
        ),
        (
            b"1,2,0\n3,4,1\n",
            "",
            format!("{d}:1: `1,2,0` looks like data: the first row must name the columns"),
        ),
        (
            b"a,b,label\n1,2,0\n3,4\n",
            "",
            format!("{d}:3: expected 3 cells as in the header, found 2"),
        ),
        (
            b"a,b,label\n1,2,0\n\n3,4,1,5\n",
            "",
            format!("{d}:4: expected 3 cells as in the header, found 4"),
        ),
        (
            b"a,b,label\r\n1,2,0\r\n\r\n  \r\n3,4\r\n",
            "",
            format!("{d}:5: expected 3 cells as in the header, found 2"),
        ),
        (
            b"a,b,label\n\"1,5\",2,0\n",
            "",
            format!("{d}:2: column `a`: expected a number, found `1,5`"),
        ),
        (
            b"a,b,label\n1,x,0\n",
            "",
            format!("{d}:2: column `b`: expected a number, found `x`"),
        ),
        (
            b"a,b,label\n1,,0\n",
            "",
            format!("{d}:2: column `b` is empty; expected a number"),
        ),
        (
            b"a,b,label\n1,2,0\n,,\n",
            "",
            format!("{d}:3: column `a` is empty; expected a number"),
        ),
        (
            b"a,b,label\n1,2,0\n1,NaN,0\n",
            "",
            format!("{d}:3: column `b`: expected a finite number, found `NaN`"),
        ),
        (
            b"a,b,label\n1,2,3\n",
            "",
            format!(
                "{d}:2: label `3` in column `label` is not a class index: expected a whole number in [0, 3)"
            ),
        ),
        (
            b"a,b,label\n1,2,0.5\n",
            "",
            format!("{d}:2: label `0.5` in column `label` is not a class index"),
        ),
        (
            b"a,b,label\n1,2,-1\n",
            "",
            format!("{d}:2: label `-1` in column `label` is not a class index"),
        ),
        (
            b"a,b,c,label\n1,2,3,0\n",
            "",
            format!(
                "{d}:1: 3 input columns (a, b, c) besides the label `label`, but the spec's `input` is 2"
            ),
        ),
        (
            b"a,,label\n1,2,0\n",
            "",
            format!("{d}:1: column 2 of the header has no name"),
        ),
        (
            b"a,a,label\n1,2,0\n",
            "",
            format!("{d}:1: column `a` appears twice (columns 1 and 2)"),
        ),
        (
            b"a,b,label\n1,\xFF,0\n",
            "",
            format!("{d}:2: not UTF-8 text"),
        ),
        (
            b"a,b,label\n1,2,0\n",
            " label=lable",
            "spec.net:1:45: `".to_owned(),
        ),
    ];
    for (bytes, extra, expected) in cases {
        dir.write("x.csv", bytes);
        let e = error(
            &format!("input 2; dense 3; data csv path=x.csv{extra}"),
            &dir.0,
        );
        assert!(
            e.contains(expected.as_str()),
            "{:?}:\n{e}\nexpected: {expected}",
            String::from_utf8_lossy(bytes)
        );
    }
    dir.write("x.csv", b"a,b,label\n1,2,0\n");
    let e = error("input 2; dense 3; data csv path=x.csv label=lable", &dir.0);
    assert!(
        e.contains("has no column `lable` (its columns: a, b, label)"),
        "{e}"
    );
    assert!(e.contains("did you mean `label`?"), "{e}");
    // bce targets are probabilities; mse/bce need one output.
    dir.write("p.csv", b"a,b,t\n1,2,0.25\n1,2,1.5\n");
    let e = error("input 2; dense 1; loss bce; data csv path=p.csv", &dir.0);
    assert!(
        e.contains(&format!(
            "{}:3: target `1.5` in column `t` is not a probability",
            dir.0.join("p.csv").display()
        )),
        "{e}"
    );
    let e = error("input 2; dense 2; loss mse; data csv path=p.csv", &dir.0);
    assert!(
        e.contains(
            "`data csv` gives 1 target (column `t`) under `loss mse` but the last layer has 2 units"
        ),
        "{e}"
    );
    // A test file with another header.
    dir.write("t.csv", b"a,c,label\n1,2,0\n");
    let e = error("input 2; dense 3; data csv path=x.csv test=t.csv", &dir.0);
    assert!(
        e.contains(&format!(
            "{}:1: the header `a,c,label` differs from the training file's `a,b,label`",
            dir.0.join("t.csv").display()
        )),
        "{e}"
    );
    // A missing file.
    let e = error("input 2; dense 3; data csv path=missing.csv", &dir.0);
    assert!(
        e.starts_with(&format!(
            "cannot read `{}`",
            dir.0.join("missing.csv").display()
        )),
        "{e}"
    );
}

// --------------------------------------------------------------------- mnist

fn idx_images(n: usize, rows: usize, cols: usize) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 3];
    for d in [n, rows, cols] {
        b.extend((d as u32).to_be_bytes());
    }
    b.extend((0..n * rows * cols).map(|i| (i * 7 % 256) as u8));
    b
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 1];
    b.extend((labels.len() as u32).to_be_bytes());
    b.extend(labels);
    b
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

const MNIST: &str = "input 784; dense 10";

#[test]
fn mnist_reads_plain_and_gzipped_idx() {
    let dir = TempDir::new("mnist-read");
    let (images, labels) = (idx_images(3, 28, 28), idx_labels(&[7, 0, 9]));
    dir.write("train-images-idx3-ubyte", &images);
    dir.write("train-labels-idx1-ubyte", &labels);
    dir.write("t10k-images-idx3-ubyte.gz", &gzip(&idx_images(2, 28, 28)));
    dir.write("t10k-labels-idx1-ubyte.gz", &gzip(&idx_labels(&[1, 2])));
    let plain = load_in(
        &format!("{MNIST}; data mnist path=train-images-idx3-ubyte test=t10k-images-idx3-ubyte.gz"),
        &dir.0,
    )
    .unwrap();
    let d = &plain.train;
    assert_eq!((d.n, d.inputs, d.target), (3, 784, Target::Classes(10)));
    assert_eq!(d.y, [7., 0., 9.]);
    for (i, &v) in d.x.iter().enumerate() {
        assert_eq!(v, (i * 7 % 256) as f32 / 255.0);
    }
    let test = plain.test.unwrap();
    assert_eq!((test.n, test.y.clone()), (2, vec![1., 2.]));
    assert_eq!(test.x[..], d.x[..2 * 784], "same pixel pattern");

    // Gzipped files give the same data; `.gz` is found by content, and a
    // labels file with or without `.gz` is found beside the images.
    dir.write("train-images-idx3-ubyte.gz", &gzip(&images));
    fs::remove_file(dir.0.join("train-labels-idx1-ubyte")).unwrap();
    dir.write("train-labels-idx1-ubyte.gz", &gzip(&labels));
    let gz = load_in(
        &format!("{MNIST}; data mnist path=train-images-idx3-ubyte.gz"),
        &dir.0,
    )
    .unwrap();
    assert_eq!(gz.train, plain.train);
    dir.write("pixels.bin", &gzip(&images));
    dir.write("digits.bin", &labels);
    let named = load_in(
        &format!("{MNIST}; data mnist path=pixels.bin labels=digits.bin"),
        &dir.0,
    )
    .unwrap();
    assert_eq!(named.train, plain.train);

    // One-hot under mse; split and normalize as for CSV.
    let s = load_in(
        &format!("{MNIST}; loss mse; data mnist path=pixels.bin labels=digits.bin split=0.3"),
        &dir.0,
    )
    .unwrap();
    assert_eq!(s.train.target, Target::Values(10));
    assert_eq!(s.train.y_row(0)[7], 1.0);
    assert_eq!(s.train.y_row(0).iter().sum::<f32>(), 1.0);
    assert_eq!((s.train.n, s.test.unwrap().n), (2, 1));
    let s = load_in(
        &format!("{MNIST}; data mnist path=pixels.bin labels=digits.bin normalize=true"),
        &dir.0,
    )
    .unwrap();
    let (m, _) = mean_std((0..3).map(|i| s.train.x_row(i)[100]));
    assert!(m.abs() < 1e-6);
}

#[test]
fn mnist_refuses_corrupt_files_with_their_byte_offset() {
    let dir = TempDir::new("mnist-errors");
    let img = |name: &str| dir.0.join(name).display().to_string();
    let good_images = idx_images(3, 28, 28);
    let good_labels = idx_labels(&[1, 2, 3]);
    let mut truncated = good_images.clone();
    truncated.truncate(16 + 784 + 100);
    let mut trailing = good_images.clone();
    trailing.extend([1, 2, 3]);
    let mut float_type = good_images.clone();
    float_type[2] = 0x0d;
    let mut gz_truncated = gzip(&good_images);
    gz_truncated.truncate(gz_truncated.len() / 2);
    let mut gz_corrupt = gzip(&good_images);
    let mid = gz_corrupt.len() / 2;
    gz_corrupt[10..mid].fill(0xA5);
    let f = img("train-images-idx3-ubyte");
    let cases: Vec<(Vec<u8>, Vec<u8>, String)> = vec![
        (vec![], good_labels.clone(), format!("{f}: byte 0: the file is empty; expected an idx3-ubyte image file (magic number 0x00000803)")),
        (vec![0, 0], good_labels.clone(), format!("{f}: byte 2: the file ends inside the 4-byte magic number")),
        (good_labels.clone(), good_labels.clone(), format!("{f}: byte 0: expected the magic number 0x00000803 of an idx3-ubyte image file, found 0x00000801 (a label file)")),
        (b"P5\n28 28\n255\n".to_vec(), good_labels.clone(), format!("{f}: byte 0: expected the magic number 0x00000803 of an idx3-ubyte image file, found 0x50350a32")),
        (float_type, good_labels.clone(), "found 0x00000d03 (an IDX file whose elements are not unsigned bytes)".to_owned()),
        (good_images[..10].to_vec(), good_labels.clone(), format!("{f}: byte 10: the file ends inside the header (10 of its 16 bytes)")),
        (truncated, good_labels.clone(), format!("{f}: byte 900: the file ends early (truncated?): its header declares 3 images (3×28×28, 2368 bytes in all) but the data stops after 1 of them")),
        (trailing, good_labels.clone(), format!("{f}: byte 2368: 3 unexpected bytes after the last of the 3 images its header declares (3×28×28)")),
        (idx_images(0, 28, 28), good_labels.clone(), format!("{f}: byte 4: the header declares no data (sizes 0×28×28)")),
        (gz_truncated, good_labels.clone(), format!("{f}: byte ")),
        (gz_corrupt, good_labels.clone(), "corrupt or truncated gzip data".to_owned()),
        (good_images.clone(), idx_labels(&[1, 2]), format!("{}: byte 4: the header declares 2 labels but `{f}` holds 3 images", img("train-labels-idx1-ubyte"))),
        (good_images.clone(), idx_labels(&[1, 10, 3]), format!("{}: byte 9: label 10 of example 1 is not a digit class in [0, 10)", img("train-labels-idx1-ubyte"))),
        (good_images.clone(), good_images.clone(), format!("{}: byte 0: expected the magic number 0x00000801 of an idx1-ubyte label file, found 0x00000803 (an image file", img("train-labels-idx1-ubyte"))),
        (good_images.clone(), good_labels[..6].to_vec(), format!("{}: byte 6: the file ends inside the header (6 of its 8 bytes)", img("train-labels-idx1-ubyte"))),
        (idx_images(3, 4, 4), good_labels.clone(), "spec.net:1:27: `data mnist` gives 16 inputs (4×4 images) but the spec's `input` is 784".to_owned()),
    ];
    for (k, (images, labels, expected)) in cases.iter().enumerate() {
        dir.write("train-images-idx3-ubyte", images);
        dir.write("train-labels-idx1-ubyte", labels);
        let e = error(
            &format!("{MNIST}; data mnist path=train-images-idx3-ubyte"),
            &dir.0,
        );
        assert!(
            e.contains(expected.as_str()),
            "case {k}:\n{e}\nexpected: {expected}"
        );
    }
    // Gzip errors count decompressed bytes.
    dir.write("train-images-idx3-ubyte", &cases[9].0);
    let e = error(
        &format!("{MNIST}; data mnist path=train-images-idx3-ubyte"),
        &dir.0,
    );
    assert!(
        e.contains("of the decompressed data: corrupt or truncated gzip data"),
        "{e}"
    );

    // No labels file by name, no `labels=`.
    dir.write("pixels.bin", &good_images);
    let e = error(&format!("{MNIST}; data mnist path=pixels.bin"), &dir.0);
    assert!(
        e.contains("spec.net:1:38: cannot tell the labels file of"),
        "{e}"
    );
    assert!(e.contains("give it with `labels=FILE`"), "{e}");
    // Wrong class count.
    let e = error("input 784; dense 9; data mnist path=pixels.bin", &dir.0);
    assert!(
        e.contains("`data mnist` has 10 classes but the last layer has 9 units"),
        "{e}"
    );
    // A missing labels file.
    dir.write("train-images-idx3-ubyte", &good_images);
    fs::remove_file(dir.0.join("train-labels-idx1-ubyte")).unwrap();
    let e = error(
        &format!("{MNIST}; data mnist path=train-images-idx3-ubyte"),
        &dir.0,
    );
    assert!(
        e.starts_with(&format!("cannot read `{}`", img("train-labels-idx1-ubyte"))),
        "{e}"
    );
}

#[test]
fn data_errors_convert_to_the_program_error() {
    let dir = TempDir::new("convert");
    dir.write("x.csv", b"a,b\n1,x\n");
    let e = load_in("input 1; dense 2; data csv path=x.csv", &dir.0).unwrap_err();
    assert!(matches!(e, DataError::Csv { line: 2, .. }));
    let program: depthlab::error::Error = e.into();
    assert_eq!(program.exit_code(), 2);
    assert!(
        program
            .to_string()
            .contains("line 2: column `b`: expected a number"),
        "{program}"
    );
}
