//! Regressions from the hostile battery of issue 13: each test reproduces
//! one finding (silent wrong results, lost output, resource exhaustion)
//! and checks the fix.

use crate::cli::depthlab;

fn stdout(args: &[&str]) -> String {
    let o = depthlab(args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// `#` in `--net` commented out every later `;` line: the net below had
/// 64 ReLU outputs and exit code 0.
#[test]
fn a_comment_in_net_text_ends_at_the_next_semicolon() {
    let plan = stdout(&[
        "check",
        "--net",
        "input 64; dense 64 relu x3 # hidden; dense 10",
    ]);
    assert!(plan.contains("64 inputs → 4 layers → 10 outputs"), "{plan}");
}

/// The spec of `--net` text.
fn net(text: &str) -> depthlab::spec::Spec {
    depthlab::commands::load_spec(None, Some(text), &depthlab::spec::Overrides::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A signal that landed just after an epoch closed wrote a second row for
/// that epoch, with train loss 0 and accuracy 0, which resume kept.
#[test]
fn a_stop_at_an_epoch_boundary_adds_no_empty_epoch() {
    use depthlab::train::{Event, Trainer};
    use std::sync::atomic::{AtomicBool, Ordering};
    let spec = net(
        "input 2; dense 8 relu; dense 3; data blobs n=64 test=16; train batch=32 epochs=3 seed=1",
    );
    let mut t = Trainer::new(&spec, &crate::options(16)).unwrap();
    let stop = AtomicBool::new(false);
    let mut epochs = Vec::new();
    let outcome = t.run_until(
        &mut |e| {
            if let Event::Epoch(r) = e {
                epochs.push(r.clone());
                // The signal arrives as epoch 1 closes.
                stop.store(true, Ordering::Relaxed);
            }
        },
        &stop,
    );
    assert!(matches!(
        outcome,
        Err(depthlab::error::Error::Interrupted { step: 2 })
    ));
    assert_eq!(epochs.len(), 1, "{epochs:?}");
    assert_eq!((epochs[0].epoch, epochs[0].step), (1, 2));
    assert!(epochs[0].train_loss > 0.0);
}
