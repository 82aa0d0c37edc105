//! The subcommands as library functions, one file each: load the spec,
//! run it, and return what `main` prints. `main.rs` only parses flags.

mod bench;
mod capacity;
mod check;
mod examples;
mod poly;
mod report;
mod run_folder;
mod stats;
mod sweep;
mod train;
mod values;

pub use bench::{BenchOptions, bench};
pub use capacity::{CapacityOptions, Knob, capacity};
pub use check::check;
pub use examples::{example_text, list_examples};
pub use poly::{PolyOptions, Ridge, poly};
pub use report::{ReportOptions, report};
pub use stats::{Format, StatsOutput, stats};
pub use sweep::{Shard, SweepOptions, sweep};
pub use train::{TrainFiles, train};
pub use values::{gibibytes, non_negative, whole_numbers};

use crate::error::Error;
use crate::examples::{EXAMPLES, find};
use crate::files::read_limited;
use crate::spec::{Overrides, Source, Spec, parse};
use std::path::{Path, PathBuf};

/// The largest spec file read (a spec is a few lines; this is a guard
/// against a wrong path, such as a data file or /dev/zero).
const SPEC_LIMIT: u64 = 16 << 20;

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
        (Some(p), None) => match read_limited(Path::new(p), SPEC_LIMIT, "a spec file") {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => Source::new(p, text),
                Err(_) => {
                    let error = std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "not UTF-8 text; expected a spec file",
                    );
                    return Err(Error::Read {
                        path: PathBuf::from(p),
                        error,
                    });
                }
            },
            // A built-in example only where no file of that name exists:
            // a directory or an unreadable file called `relu-he` is an
            // error, not the example.
            Err(error) => match (error.kind(), find(p)) {
                // (A dangling link is a path that exists.)
                (std::io::ErrorKind::NotFound, Some(text))
                    if std::fs::symlink_metadata(p).is_err() =>
                {
                    Source::new(p, text)
                }
                _ => {
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
