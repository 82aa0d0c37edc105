//! Any text as a spec (file or `--net`): parse, check, print back and
//! parse again, compile for stats and for training. No panic; a printed
//! spec reparses to the same text; a compiled plan's buffers fit its arena.

#![no_main]

use depthlab::compile::{Purpose, Resources, compile};
use depthlab::graph::Graph;
use depthlab::spec::{Source, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let net = data.first().is_some_and(|b| b & 1 == 1);
    let source = if net {
        Source::net(text.as_ref())
    } else {
        Source::new("fuzz.net", text.as_ref())
    };
    let Ok(spec) = parse(source) else { return };
    let printed = spec.to_string();
    let again = parse(Source::net(printed.as_str()))
        .unwrap_or_else(|e| panic!("the printed spec does not parse: {printed}\n{e}"));
    assert_eq!(again.to_string(), printed, "print → parse → print changed the spec");
    let Ok(graph) = Graph::check(&spec) else { return };
    // Small limits: the fuzzer must not allocate gigabytes.
    let resources = Resources {
        memory_limit: 64 << 20,
        threads: 1,
    };
    if let Ok(plan) = compile(&graph, 4, Purpose::Stats, resources) {
        assert!(plan.arena_bytes() <= resources.memory_limit);
    }
    let optim = spec.optimizer();
    let _ = compile(&graph, spec.train.batch, Purpose::Train(&optim), resources);
});
