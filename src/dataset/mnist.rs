//! `data mnist path= labels= test= test_labels= split= normalize=`: MNIST in
//! its IDX files, plain or gzipped (detected by the gzip magic bytes
//! 1f 8b, whatever the file name).
//!
//! IDX (LeCun's format): a big-endian magic number `00 00 08 D` (type 08 =
//! unsigned bytes, D dimensions), D big-endian u32 sizes, then the bytes in
//! row-major order. Images are `idx3-ubyte` (magic 0x00000803: count, rows,
//! cols); labels are `idx1-ubyte` (0x00000801: count). A file must hold
//! exactly the bytes its header declares.
//!
//! `path` is the image file. Its labels file is `labels=` if given, else
//! found beside it by MNIST's naming: `images` → `labels` and `idx3` →
//! `idx1` in the file name (`train-images-idx3-ubyte.gz` →
//! `train-labels-idx1-ubyte.gz`, `t10k-images.idx3-ubyte` →
//! `t10k-labels.idx1-ubyte`); when that file does not exist but the same
//! name with `.gz` added or removed does, that one is used. `test=` and
//! `test_labels=` work the same way for the test set. Pixels are scaled to
//! [0, 1] (byte / 255); the spec's `input` must be rows·cols (784) and the
//! last layer must have 10 units (labels 0–9; one-hot rows under `mse` and
//! `bce`).

use super::{DataError, Dataset, Request, read_file};
use crate::graph::{DEFAULT_MEMORY_LIMIT, human_bytes};
use crate::spec::{Files, Span};
use std::io::Read;
use std::path::{Path, PathBuf};

/// MNIST's classes: the digits 0–9.
pub const CLASSES: usize = 10;

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;

/// Reads the training images and labels, and the `test=` pair if any.
pub(super) fn load(
    req: &Request,
    files: &Files,
    labels: Option<&(String, Span)>,
    test_labels: Option<&(String, Span)>,
) -> Result<(Dataset, Option<Dataset>), DataError> {
    req.expect_classes(CLASSES)?;
    let images = req.path(&files.path);
    let labels = labels_path(req, labels, "labels", &images, files.path.1)?;
    let train = read_pair(req, &images, &labels)?;
    let test = match &files.test {
        Some(test) => {
            let images = req.path(test);
            let labels = labels_path(req, test_labels, "test_labels", &images, test.1)?;
            Some(read_pair(req, &images, &labels)?)
        }
        None => None,
    };
    Ok((train, test))
}

/// The labels file of an image file: `given` (written as `key=`), else
/// MNIST's naming beside the images.
fn labels_path(
    req: &Request,
    given: Option<&(String, Span)>,
    key: &str,
    images: &Path,
    span: Span,
) -> Result<PathBuf, DataError> {
    if let Some(given) = given {
        return Ok(req.path(given));
    }
    let name = images.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if !(name.contains("images") && name.contains("idx3")) {
        return Err(req
            .error_at(
                span,
                format!(
                    "cannot tell the labels file of `{}` (MNIST names it like `train-labels-idx1-ubyte` beside `train-images-idx3-ubyte`)",
                    images.display()
                ),
            )
            .with_help(format!("give it with `{key}=FILE`"))
            .into());
    }
    let derived = images.with_file_name(name.replace("images", "labels").replace("idx3", "idx1"));
    if derived.exists() {
        return Ok(derived);
    }
    let other = match derived.to_str().and_then(|p| p.strip_suffix(".gz")) {
        Some(plain) => PathBuf::from(plain),
        None => {
            let mut p = derived.clone().into_os_string();
            p.push(".gz");
            PathBuf::from(p)
        }
    };
    Ok(if other.exists() { other } else { derived })
}

/// Reads an image file and its labels file into one set.
fn read_pair(req: &Request, images: &Path, labels: &Path) -> Result<Dataset, DataError> {
    let img = Idx::read(images, IMAGES_MAGIC, req.memory_limit)?;
    let (n, rows, cols) = (img.dims[0], img.dims[1], img.dims[2]);
    req.expect_inputs(rows * cols, &format!(" ({rows}×{cols} images)"))?;
    let lab = Idx::read(labels, LABELS_MAGIC, req.memory_limit)?;
    if lab.dims[0] != n {
        return Err(lab.error(
            4,
            format!(
                "the header declares {} labels but `{}` holds {n} images",
                lab.dims[0],
                images.display()
            ),
        ));
    }
    let mut set = Dataset::with_capacity(n, rows * cols, req.class_target(CLASSES));
    set.x
        .extend(img.body().iter().map(|&b| f32::from(b) / 255.0));
    for (i, &label) in lab.body().iter().enumerate() {
        if usize::from(label) >= CLASSES {
            return Err(lab.error(
                (lab.header + i) as u64,
                format!("label {label} of example {i} is not a digit class in [0, {CLASSES})"),
            ));
        }
        set.push_class(usize::from(label));
    }
    set.n = n;
    Ok(set)
}

/// One IDX file of unsigned bytes, checked against its header.
struct Idx {
    path: PathBuf,
    gzip: bool,
    bytes: Vec<u8>,
    /// Header length: 4 + 4·dims.
    header: usize,
    dims: Vec<usize>,
}

impl Idx {
    fn read(path: &Path, magic: u32, limit: u64) -> Result<Idx, DataError> {
        let raw = read_file(path, limit)?;
        let gzip = raw.starts_with(&[0x1f, 0x8b]);
        let mut idx = Idx {
            path: path.to_owned(),
            gzip,
            bytes: Vec::new(),
            header: 0,
            dims: Vec::new(),
        };
        idx.bytes = if gzip { idx.gunzip(&raw)? } else { raw };
        idx.check(magic)?;
        Ok(idx)
    }

    fn error(&self, offset: u64, message: String) -> DataError {
        DataError::Idx {
            path: self.path.clone(),
            offset,
            gzip: self.gzip,
            message,
        }
    }

    /// The data after the header.
    fn body(&self) -> &[u8] {
        &self.bytes[self.header..]
    }

    /// Decompresses a gzip file (all members), up to the memory limit.
    fn gunzip(&self, raw: &[u8]) -> Result<Vec<u8>, DataError> {
        let mut out = Vec::new();
        let mut decoder = flate2::read::MultiGzDecoder::new(raw).take(DEFAULT_MEMORY_LIMIT / 4 + 1);
        if let Err(e) = decoder.read_to_end(&mut out) {
            return Err(self.error(
                out.len() as u64,
                format!("corrupt or truncated gzip data: {e}"),
            ));
        }
        if out.len() as u64 > DEFAULT_MEMORY_LIMIT / 4 {
            return Err(self.error(
                out.len() as u64,
                format!(
                    "the file decompresses to more than {}",
                    human_bytes(DEFAULT_MEMORY_LIMIT / 4)
                ),
            ));
        }
        Ok(out)
    }

    /// Checks the magic number, reads the sizes, and checks that the file
    /// holds exactly the bytes they declare.
    fn check(&mut self, magic: u32) -> Result<(), DataError> {
        self.check_magic(magic)?;
        self.read_dims(magic)?;
        self.check_length()
    }

    /// The first 4 bytes must be `magic`.
    fn check_magic(&self, magic: u32) -> Result<(), DataError> {
        let what = if magic == IMAGES_MAGIC {
            "an idx3-ubyte image file"
        } else {
            "an idx1-ubyte label file"
        };
        let len = self.bytes.len();
        if len == 0 {
            return Err(self.error(
                0,
                format!("the file is empty; expected {what} (magic number 0x{magic:08x})"),
            ));
        }
        if len < 4 {
            return Err(self.error(
                len as u64,
                format!("the file ends inside the 4-byte magic number; expected {what}"),
            ));
        }
        let found =
            u32::from_be_bytes([self.bytes[0], self.bytes[1], self.bytes[2], self.bytes[3]]);
        if found != magic {
            let hint = match found {
                IMAGES_MAGIC => " (an image file: give it as `path=` or `test=`)",
                LABELS_MAGIC => " (a label file)",
                _ if found >> 16 == 0 && (found >> 8) & 0xff != 0x08 => {
                    " (an IDX file whose elements are not unsigned bytes)"
                }
                _ => "",
            };
            return Err(self.error(
                0,
                format!(
                    "expected the magic number 0x{magic:08x} of {what}, found 0x{found:08x}{hint}"
                ),
            ));
        }
        Ok(())
    }

    /// The header's sizes (big-endian u32, as many as `magic` says).
    fn read_dims(&mut self, magic: u32) -> Result<(), DataError> {
        let len = self.bytes.len();
        let ndims = (magic & 0xff) as usize;
        self.header = 4 + 4 * ndims;
        if len < self.header {
            return Err(self.error(
                len as u64,
                format!(
                    "the file ends inside the header ({len} of its {} bytes)",
                    self.header
                ),
            ));
        }
        self.dims = (0..ndims)
            .map(|d| {
                let o = 4 + 4 * d;
                u32::from_be_bytes([
                    self.bytes[o],
                    self.bytes[o + 1],
                    self.bytes[o + 2],
                    self.bytes[o + 3],
                ]) as usize
            })
            .collect();
        Ok(())
    }

    /// The body must hold exactly the bytes the sizes declare, within the
    /// memory limit.
    fn check_length(&self) -> Result<(), DataError> {
        let len = self.bytes.len();
        let shape = self
            .dims
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("×");
        let items = if self.dims.len() == 3 {
            "images"
        } else {
            "labels"
        };
        if let Some(d) = self.dims.iter().position(|&d| d == 0) {
            return Err(self.error(
                4 + 4 * d as u64,
                format!("the header declares no data (sizes {shape})"),
            ));
        }
        let body = self
            .dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
            .filter(|&b| b.saturating_mul(4) <= DEFAULT_MEMORY_LIMIT);
        let Some(body) = body else {
            return Err(self.error(
                4,
                format!(
                    "the header declares {shape} bytes, more than fit in the {} memory limit as f32",
                    human_bytes(DEFAULT_MEMORY_LIMIT)
                ),
            ));
        };
        let expected = self.header as u64 + body;
        let len = len as u64;
        if len < expected {
            let per = body / self.dims[0] as u64;
            return Err(self.error(
                len,
                format!(
                    "the file ends early (truncated?): its header declares {} {items} ({shape}, {expected} bytes in all) but the data stops after {} of them",
                    self.dims[0],
                    (len - self.header as u64) / per
                ),
            ));
        }
        if len > expected {
            return Err(self.error(
                expected,
                format!(
                    "{} unexpected bytes after the last of the {} {items} its header declares ({shape})",
                    len - expected,
                    self.dims[0]
                ),
            ));
        }
        Ok(())
    }
}
