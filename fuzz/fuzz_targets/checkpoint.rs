//! Any bytes as a checkpoint for a small fixed spec: `--resume` either
//! loads it or refuses it with an error; no panic, no abort. A checkpoint
//! that loads holds the spec's own tensors (so training can go on).

#![no_main]

use depthlab::commands::load_spec;
use depthlab::spec::Overrides;
use depthlab::train::{Options, Trainer};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const SPEC: &str = "input 2; dense 4 tanh; dense 3 prelu; dense 2; optim adam lr=0.01 amsgrad=true; \
                    data spirals n=16 test=0; train batch=8 epochs=2 seed=3";

fuzz_target!(|data: &[u8]| {
    static PATH: OnceLock<std::path::PathBuf> = OnceLock::new();
    let path = PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("depthlab-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("ck.safetensors")
    });
    std::fs::write(path, data).unwrap();
    let spec = load_spec(None, Some(SPEC), &Overrides::default()).unwrap();
    let mut trainer = Trainer::new(&spec, &Options::default()).unwrap();
    for allow in [false, true] {
        if trainer.resume_changed(path, allow).is_ok() {
            trainer.train_step(&mut |_| {}).ok();
        }
    }
});
