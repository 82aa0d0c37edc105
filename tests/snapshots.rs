//! Snapshots of the `stats` table and the `check` plan of every built-in
//! example, values at 4 significant digits. A change here is reviewed with
//! `cargo insta review`, never bulk-accepted.

use crate::options;
use depthlab::commands::{Format, StatsOutput, check, load_spec, stats};
use depthlab::compile::Resources;
use depthlab::examples::EXAMPLES;
use depthlab::report::Hist;
use depthlab::spec::Overrides;
use depthlab::train::Options;

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("../snapshots");
    s.set_prepend_module_to_snapshot(false);
    s.set_omit_expression(true);
    s
}

#[test]
fn stats_tables_of_the_examples() {
    let _guard = settings().bind_to_scope();
    for (name, _) in EXAMPLES {
        let spec = load_spec(Some(name), None, &Overrides::default()).unwrap();
        let out = StatsOutput {
            format: Format::Table,
            hist: Some(Hist::Both),
            dump: None,
            svg: None,
        };
        // The default probe: 300 examples, or all the held-out ones if fewer
        // (overfit-poly has 100).
        let opts = Options {
            probe: None,
            ..options(300)
        };
        let table = stats(&spec, &opts, None, &out).unwrap();
        insta::assert_snapshot!(format!("stats-{name}"), table);
    }
}

#[test]
fn check_plans_of_the_examples() {
    let _guard = settings().bind_to_scope();
    for (name, _) in EXAMPLES {
        let spec = load_spec(Some(name), None, &Overrides::default()).unwrap();
        insta::assert_snapshot!(
            format!("check-{name}"),
            check(
                &spec,
                300,
                false,
                Resources {
                    threads: 2,
                    ..Resources::default()
                }
            )
            .unwrap()
        );
    }
}
