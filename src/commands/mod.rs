//! The subcommands as library functions, one file each: load the spec,
//! run it, and return what `main` prints. `main.rs` only parses flags.

mod capacity;
mod check;
mod examples;
mod poly;
mod report;
mod stats;
mod sweep;
mod train;
mod values;

pub use capacity::{CapacityOptions, Knob, capacity};
pub use check::check;
pub use examples::{example_text, list_examples};
pub use poly::{PolyOptions, Ridge, poly};
pub use report::{ReportOptions, report};
pub use stats::{Format, StatsOutput, stats};
pub use sweep::{Shard, SweepOptions, sweep};
pub use train::{TrainFiles, train};
pub use values::{non_negative, whole_numbers};

use crate::error::Error;
use crate::examples::{EXAMPLES, find};
use crate::spec::{Overrides, Source, Spec, parse};
use std::path::PathBuf;

/// Reads a spec from a file, a built-in example name, or `--net` text, and
/// applies the command-line overrides.
///
/// ```
/// use depthlab::commands::load_spec;
/// use depthlab::spec::Overrides;
/// let spec = load_spec(Some("relu-he"), None, &Overrides::default()).unwrap();
/// assert_eq!(spec.source.name, "relu-he");
/// ```
pub fn load_spec(
    path: Option<&str>,
    net: Option<&str>,
    overrides: &Overrides,
) -> Result<Spec, Error> {
    let source = match (path, net) {
        (_, Some(text)) => Source::net(text),
        (Some(p), None) => match std::fs::read_to_string(p) {
            Ok(text) => Source::new(p, text),
            Err(error) => match find(p) {
                Some(text) => Source::new(p, text),
                None => {
                    return Err(Error::Read {
                        path: PathBuf::from(p),
                        error,
                    });
                }
            },
        },
        (None, None) => {
            let (name, text) = EXAMPLES[0];
            Source::new(name, text)
        }
    };
    let mut spec = parse(source)?;
    overrides.apply(&mut spec)?;
    Ok(spec)
}
