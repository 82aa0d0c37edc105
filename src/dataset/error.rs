//! The data layer's error: spec problems stay positioned at the `data`
//! line; file problems name the file and the line (CSV) or byte (IDX).

use crate::spec::SpecError;
use std::fmt;
use std::path::PathBuf;

/// The data layer's error. Problems with the spec's `data` line are
/// [`SpecError`]s positioned at the offending key; problems inside a file
/// name the file and the line (CSV) or byte offset (IDX).
#[derive(Debug)]
pub enum DataError {
    /// The `data` line asks for something the source cannot give.
    Spec(SpecError),
    /// A file cannot be opened or read.
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A CSV file's content is wrong at a 1-based line.
    Csv {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// An IDX file's content is wrong at a byte offset; for a gzipped file
    /// the offset counts decompressed bytes.
    Idx {
        path: PathBuf,
        offset: u64,
        gzip: bool,
        message: String,
    },
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::Spec(e) => write!(f, "{e}"),
            DataError::Io { path, error } => write!(f, "cannot read `{}`: {error}", path.display()),
            DataError::Csv {
                path,
                line,
                message,
            } => write!(f, "{}:{line}: {message}", path.display()),
            DataError::Idx {
                path,
                offset,
                gzip,
                message,
            } => {
                let where_ = if *gzip {
                    " of the decompressed data"
                } else {
                    ""
                };
                write!(f, "{}: byte {offset}{where_}: {message}", path.display())
            }
        }
    }
}

impl std::error::Error for DataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DataError::Spec(e) => Some(e),
            DataError::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}

impl From<SpecError> for DataError {
    fn from(e: SpecError) -> Self {
        DataError::Spec(e)
    }
}
