//! `depthlab poly` and the polynomial library: the exact fits it prints
//! are what the CSV holds and what depthlab's own optimizer converges to
//! where the problem is well conditioned, with and without `loss l2=`.

use crate::cli::{depthlab, refused};
use crate::tempdir;
use depthlab::linalg::singular_values;
use depthlab::poly::{Setting, fit, optimizer_fit, points, ridge_matrix};

fn relative_gap(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let diff: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let norm: f64 = b.iter().map(|y| y * y).sum();
    (diff / norm).sqrt()
}

#[test]
fn adam_on_the_spec_reaches_the_exact_fits_where_they_are_well_conditioned() {
    let s = Setting::default();
    let (train, test) = points(&s).unwrap();
    for degree in 1..=3 {
        let exact = fit(&train, &test, degree, 0.0).unwrap();
        let adam = optimizer_fit(&s, degree, 0.0, "adam lr=0.01", 20_000).unwrap();
        let gap = relative_gap(&adam, &exact.w);
        assert!(gap < 1e-4, "D = {degree}: ‖w−w*‖/‖w*‖ = {gap}");
    }
}

#[test]
fn loss_l2_over_n_gives_the_exact_ridge_fit() {
    // `loss mse l2=ρ/N` has the ridge objective's minimizer (w_0, the
    // bias, unpenalized in both). Plain gradient descent at lr = 1/L, L the
    // largest eigenvalue of the loss's Hessian (2/N)(AᵀA + ρP), shrinks the
    // error by 1 − 1/κ per step: κ ln(1e5) steps reach 1e-5.
    let s = Setting::default();
    let (train, test) = points(&s).unwrap();
    for (degree, ln_rho) in [(3, -3.0), (9, 0.0)] {
        let rho = f64::exp(ln_rho);
        let sv = singular_values(&ridge_matrix(&train.x, degree, rho));
        let (top, bottom) = (sv[0], sv[sv.len() - 1]);
        let kappa = (top / bottom).powi(2);
        let steps = (kappa * 1e5f64.ln()).ceil() as u64;
        assert!(steps < 10_000, "D = {degree}: κ = {kappa}");
        let lr = s.n as f64 / (2.0 * top * top);
        let sgd = optimizer_fit(&s, degree, rho, &format!("sgd lr={lr}"), steps).unwrap();
        let exact = fit(&train, &test, degree, rho).unwrap();
        let gap = relative_gap(&sgd, &exact.w);
        assert!(gap < 1e-4, "D = {degree}, ln ρ = {ln_rho}: gap {gap}");
        // Far from the unregularized fit: the term did something.
        let plain = fit(&train, &test, degree, 0.0).unwrap();
        assert!(relative_gap(&plain.w, &exact.w) > 0.1);
    }
}

#[test]
fn the_csv_holds_every_fit_exactly() {
    let dir = tempdir("csv");
    let csv = dir.join("fits.csv");
    let o = depthlab(&[
        "poly",
        "--csv",
        csv.to_str().unwrap(),
        "--degrees",
        "0,1,3,9",
        "--ln-rho=-inf,-18,0",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8(o.stdout).unwrap();
    assert!(stdout.contains("PRML Table 1.1") && stdout.contains("PRML Table 1.2"));
    let (train, test) = points(&Setting::default()).unwrap();
    let mut reader = csv::Reader::from_path(&csv).unwrap();
    let header = reader.headers().unwrap().clone();
    let head: Vec<&str> = header.iter().take(4).collect();
    assert_eq!(head, ["degree", "ln_rho", "train_e_rms", "test_e_rms"]);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    // 4 degrees, then 3 ridge fits of D = 9.
    assert_eq!(rows.len(), 7);
    for row in &rows {
        let degree: usize = row[0].parse().unwrap();
        let ln_rho: f64 = row[1].parse().unwrap();
        let w: Vec<f64> = (4..row.len())
            .filter(|&j| !row[j].is_empty())
            .map(|j| row[j].parse().unwrap())
            .collect();
        assert_eq!(w.len(), degree + 1, "{row:?}");
        let exact = fit(&train, &test, degree, ln_rho.exp()).unwrap();
        // Written with shortest round-trip formatting: read back exactly.
        assert_eq!(w, exact.w, "{row:?}");
        assert_eq!(row[2].parse::<f64>().unwrap(), exact.train_e_rms);
        assert_eq!(row[3].parse::<f64>().unwrap(), exact.test_e_rms);
    }
    assert_eq!(&rows[4][1], "-inf");
}

#[test]
fn the_figures_are_written_and_show_the_points() {
    let dir = tempdir("svg");
    let o = depthlab(&["poly", "--svg", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (name, title) in [
        ("fits.svg", "the fits"),
        ("erms.svg", "PRML Fig. 1.5"),
        ("rho.svg", "PRML Fig. 1.8"),
    ] {
        let svg = std::fs::read_to_string(dir.join(name)).unwrap();
        let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
        assert!(svg.contains(title), "{name}");
        let circles = doc
            .descendants()
            .filter(|n| n.has_tag_name("circle"))
            .count();
        // fits: 10 points in each of 4 panels, one legend circle each;
        // erms: a dot per degree on 2 lines.
        match name {
            "fits.svg" => assert_eq!(circles, 4 * (10 + 1)),
            "erms.svg" => assert_eq!(circles, 2 * 10),
            _ => assert_eq!(circles, 0),
        }
    }
}

#[test]
fn bad_flags_are_refused_with_exit_2() {
    for (args, needle) in [
        (&["poly", "--degrees", "5..2"][..], "empty"),
        (&["poly", "--degrees", "31"], "above the largest"),
        (&["poly", "--degrees", "x"], "not a whole number"),
        (&["poly", "--ln-rho=abc"], "not an ln ρ"),
        (&["poly", "--ln-rho=nan"], "not an ln ρ"),
        (&["poly", "--n", "0"], "--n"),
        (&["poly", "--noise=-1"], "noise"),
        (&["poly", "--train", "0"], "--train"),
    ] {
        refused(args, &[needle]);
    }
}

#[test]
fn too_many_coefficients_say_so_instead_of_failing() {
    let o = depthlab(&["poly", "--n", "4", "--degrees", "2..5", "--ln-rho=-inf,0"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).unwrap();
    assert_eq!(
        out.matches("more coefficients than points").count(),
        2,
        "{out}"
    );
}
