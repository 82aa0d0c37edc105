//! Whatever the text, the pipeline answers with a result or a positioned
//! error, never a panic: thousands of mutated specs through parse, check,
//! compile and (when small) a full run.

use depthlab::compile::Resources;
use depthlab::examples::EXAMPLES;
use depthlab::spec::{Source, parse};
use depthlab::stats::StatsConfig;
use depthlab::train::{Options, measure};

/// Tokens worth inserting: keywords, names, numbers and punctuation that
/// stress every branch of the parser.
const TOKENS: &[&str] = &[
    "input",
    "dense",
    "loss",
    "optim",
    "data",
    "train",
    "x3",
    "x0",
    "x",
    "0",
    "1",
    "-1",
    "1e309",
    "nan",
    "2.5",
    "(",
    ")",
    "=",
    ",",
    ";",
    "#",
    "\"",
    "\n",
    " ",
    "relu",
    "srelu(tl=1,tr=0)",
    "prelu(",
    "init=",
    "bias=orthogonal",
    "normal(",
    "gain=auto",
    "sgd",
    "adam",
    "nesterov=true",
    "é",
    "\t",
];

/// A small deterministic generator (SplitMix64).
struct Mix(u64);
impl Mix {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

fn mutate(text: &str, rng: &mut Mix) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..1 + rng.next(4) {
        let at = rng.next(chars.len() + 1);
        match rng.next(3) {
            0 if !chars.is_empty() => {
                let end = (at + 1 + rng.next(8)).min(chars.len());
                chars.drain(at.min(end)..end);
            }
            _ => {
                let tok = TOKENS[rng.next(TOKENS.len())];
                chars.splice(at..at, tok.chars());
            }
        }
    }
    chars.into_iter().collect()
}

#[test]
fn mutated_specs_never_panic() {
    let mut rng = Mix(42);
    let opts = Options {
        probe: Some(2),
        config: StatsConfig::default(),
        resources: Resources {
            memory_limit: 16 << 20,
            threads: 2,
        },
        spare_core: false,
    };
    let (mut ok, mut refused) = (0, 0);
    for i in 0..1500 {
        let (_, base) = EXAMPLES[i % EXAMPLES.len()];
        let text = mutate(base, &mut rng);
        match parse(Source::new("fuzz.net", text.as_str())) {
            Ok(spec) => match measure(&spec, &opts) {
                Ok(_) => ok += 1,
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    refused += 1;
                }
            },
            Err(e) => {
                // Positioned errors point inside the text.
                if let Some(span) = e.span {
                    assert!(span.line >= 1 && span.col >= 1, "{e}");
                    assert!(span.line <= text.lines().count().max(1), "{e}\n{text}");
                }
                refused += 1;
            }
        }
    }
    // Both paths were exercised.
    assert!(ok > 50 && refused > 50, "ok {ok}, refused {refused}");
}
