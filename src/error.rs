//! The program-level error: one variant per layer that can fail, each with
//! its context, and the exit code `main` uses.

use crate::dataset::DataError;
use crate::plan::PlanError;
use crate::spec::SpecError;
use std::fmt;
use std::path::PathBuf;

/// Exit code for bad input: specs, flags, files.
pub const EXIT_USAGE: i32 = 2;
/// Exit code for a failure writing output.
pub const EXIT_IO: i32 = 1;
/// Exit code for a training run stopped by SIGINT/SIGTERM (128 + SIGINT).
pub const EXIT_INTERRUPTED: i32 = 130;
/// Exit code for a training run stopped by a NaN or an infinity.
pub const EXIT_DIVERGED: i32 = 3;
/// Exit code for a training run stopped at once by a second signal: no
/// checkpoint of its state (an earlier one at the same path stays).
pub const EXIT_FORCED: i32 = 4;

#[derive(Debug)]
pub enum Error {
    /// The spec text (or a flag that overrides it) is wrong.
    Spec(SpecError),
    /// The spec is valid but cannot be compiled (too large).
    Plan { spec: String, error: PlanError },
    /// A file the user named cannot be read.
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// An output file cannot be written.
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A checkpoint cannot be resumed from (corrupt, truncated, or for
    /// another spec).
    Checkpoint { path: PathBuf, message: String },
    /// Training was stopped by SIGINT/SIGTERM after 1-based `step` (a
    /// checkpoint of that state is written).
    Interrupted { step: u64 },
    /// Training produced a NaN or an infinity at 1-based `step`, first in
    /// tensor `what`.
    Diverged { step: u64, what: String },
    /// A sweep's worker process failed (its own error went to stderr).
    Worker { message: String },
    /// An output would replace what is already at `path` (another run's
    /// folder): refused unless asked for.
    Exists { path: PathBuf, message: String },
}

impl Error {
    /// Maps a failure to write `path` to [`Error::Write`]:
    /// `write_atomic(path, bytes).map_err(Error::writing(path))`.
    pub fn writing(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + use<> {
        let path = path.to_path_buf();
        move |error| Error::Write { path, error }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Spec(_)
            | Error::Plan { .. }
            | Error::Read { .. }
            | Error::Checkpoint { .. }
            | Error::Exists { .. } => EXIT_USAGE,
            Error::Write { .. } | Error::Worker { .. } => EXIT_IO,
            Error::Diverged { .. } => EXIT_DIVERGED,
            Error::Interrupted { .. } => EXIT_INTERRUPTED,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Spec(e) => write!(f, "{e}"),
            Error::Plan { spec, error } => write!(f, "{spec}: {error}"),
            Error::Read { path, error } => write!(f, "cannot read `{}`: {error}", path.display()),
            Error::Write { path, error } => write!(f, "cannot write `{}`: {error}", path.display()),
            Error::Checkpoint { path, message } => {
                write!(f, "cannot resume from `{}`: {message}", path.display())
            }
            Error::Interrupted { step } => write!(
                f,
                "interrupted after step {step}; resume with --resume and the checkpoint"
            ),
            Error::Worker { message } => write!(f, "{message}"),
            Error::Exists { path, message } => write!(f, "`{}`: {message}", path.display()),
            Error::Diverged { step, what } => write!(
                f,
                "training diverged at step {step}: the loss is not finite, first in {what} (lower the learning rate, or check the init)"
            ),
        }
    }
}

impl std::error::Error for Error {}

impl From<SpecError> for Error {
    fn from(e: SpecError) -> Self {
        Error::Spec(e)
    }
}

/// Spec problems stay spec errors; file problems become
/// [`crate::error::Error::Read`] with the position in the message, so every
/// data error exits with the usage code.
impl From<DataError> for Error {
    fn from(e: DataError) -> Self {
        match e {
            DataError::Spec(e) => Error::Spec(e),
            DataError::Io { path, error } => Error::Read { path, error },
            DataError::Csv {
                path,
                line,
                message,
            } => Error::Read {
                path,
                error: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("line {line}: {message}"),
                ),
            },
            DataError::Idx {
                path,
                offset,
                gzip,
                message,
            } => Error::Read {
                path,
                error: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "byte {offset}{}: {message}",
                        if gzip { " (decompressed)" } else { "" }
                    ),
                ),
            },
        }
    }
}
