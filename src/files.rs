//! Writing output files so that nothing half-written is ever left: whole
//! files through a temporary name and a rename ([`write_atomic`]), logs one
//! whole line at a time ([`LineFile`]), and the safetensors bytes of the
//! weight, probe and checkpoint files ([`serialize`], deterministic).

use safetensors::Dtype;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// An f32 tensor to write, from its values.
pub fn f32s(name: String, shape: Vec<usize>, data: &[f32]) -> Tensor {
    Tensor {
        name,
        shape,
        bytes: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        dtype: Dtype::F32,
    }
}

/// A tensor to write: name, shape, little-endian bytes, dtype.
pub struct Tensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
    pub dtype: Dtype,
}

/// The safetensors bytes of `tensors` with `meta`, deterministic: the
/// header lists the metadata then the tensors in name order (the
/// safetensors crate writes its metadata map in hash order, so two saves
/// of the same state would differ), padded with spaces to a multiple of 8
/// bytes as the format recommends; the data follows in the same order.
pub fn serialize(tensors: &[Tensor], meta: BTreeMap<String, String>) -> Vec<u8> {
    let mut order: Vec<&Tensor> = tensors.iter().collect();
    order.sort_by(|a, b| a.name.cmp(&b.name));
    let mut header = serde_json::Map::new();
    if !meta.is_empty() {
        header.insert("__metadata__".into(), serde_json::json!(meta));
    }
    let mut offset = 0;
    for t in &order {
        let dtype = match t.dtype {
            Dtype::I64 => "I64",
            _ => "F32",
        };
        header.insert(
            t.name.clone(),
            serde_json::json!({ "dtype": dtype, "shape": t.shape, "data_offsets": [offset, offset + t.bytes.len()] }),
        );
        offset += t.bytes.len();
    }
    let mut text = serde_json::to_string(&header).expect("a JSON value always serializes");
    while !text.len().is_multiple_of(8) {
        text.push(' ');
    }
    let mut out = Vec::with_capacity(8 + text.len() + offset);
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    for t in &order {
        out.extend_from_slice(&t.bytes);
    }
    out
}

/// How errors name standard output.
pub const STDOUT: &str = "(standard output)";

/// Reads a whole regular file of at most `limit` bytes (`what` names it in
/// errors: "a spec file"). Anything else is refused before it is opened:
/// a directory, a FIFO (whose open would block until a writer comes), a
/// device such as /dev/zero (which never ends). A file that grows past the
/// limit while it is read is refused too.
pub fn read_limited(path: &Path, limit: u64, what: &str) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let refuse = |message: String| io::Error::new(io::ErrorKind::InvalidInput, message);
    let kind = std::fs::metadata(path)?.file_type();
    if !kind.is_file() {
        let is = if kind.is_dir() {
            "a directory"
        } else {
            "not a regular file (a FIFO, socket or device)"
        };
        return Err(refuse(format!("{is}; expected {what}")));
    }
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let too_big = |len: u64| {
        refuse(format!(
            "{what} of {len} bytes or more, over the limit of {limit} bytes"
        ))
    };
    if len > limit {
        return Err(too_big(len));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_big(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Writes `bytes` to `path` through a temporary file in the same folder and
/// a rename, so readers never see a partial file. The temporary file has an
/// unpredictable name, is created exclusively (no link is followed) and is
/// removed if anything fails (a full disk). Only a regular file is
/// replaced: a link, a device, a directory at `path` is refused.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    regular_or_absent(path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // 0666 less the umask, as for any new file (tempfile's default, 0600,
    // would hide results from the group on a shared cluster folder).
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o666);
    let mut tmp = tempfile::Builder::new()
        .prefix(".depthlab-")
        .suffix(".tmp")
        .permissions(mode)
        .tempfile_in(dir)?;
    tmp.as_file_mut().write_all(bytes)?;
    tmp.as_file().sync_data()?;
    tmp.persist(path).map(drop).map_err(|e| e.error)
}

/// Refuses `path` when something other than a regular file is there.
pub fn regular_or_absent(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_file() => Ok(()),
        Ok(m) => {
            let is = if m.file_type().is_symlink() {
                "a symbolic link"
            } else if m.file_type().is_dir() {
                "a directory"
            } else {
                "a FIFO, socket or device"
            };
            Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{is} is there; depthlab writes only regular files (remove it or pick another path)"
                ),
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// An output file written one whole line (or record) at a time, appended,
/// so a killed run never leaves half a line.
pub struct LineFile {
    path: PathBuf,
    file: std::fs::File,
}

impl LineFile {
    /// Opens `path`: truncated and started with `header` for a new run,
    /// appended to (header kept) when `append` and the file exists.
    pub fn open(path: PathBuf, append: bool, header: &str) -> io::Result<LineFile> {
        regular_or_absent(&path)?;
        let existed = path.exists();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .read(append)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(&path)?;
        let continuing = append && existed;
        if continuing {
            cut_torn_tail(&file)?;
        }
        let mut f = LineFile { path, file };
        let empty = f.file.metadata()?.len() == 0;
        if (!continuing || empty) && !header.is_empty() {
            f.write(header)?;
        }
        Ok(f)
    }

    /// Appends `line` (which ends with a newline) in one write. A write is
    /// whole unless the process is killed inside it: Linux stops a write to
    /// a file at a page boundary for SIGKILL, so a record (a `stats.jsonl`
    /// line is ~10 KiB) can be cut short; only the last line, and
    /// [`LineFile::open`] cuts it off before a resumed run appends.
    pub fn write(&mut self, line: &str) -> io::Result<()> {
        self.write_bytes(line.as_bytes())
    }

    /// Appends a whole record (a line, or a binary record such as an event
    /// file's) in one write. If the write fails part-way (a full disk), the
    /// file is cut back to where it was, so it never ends in half a record.
    pub fn write_bytes(&mut self, record: &[u8]) -> io::Result<()> {
        use std::io::Write as _;
        let before = self.file.metadata()?.len();
        self.file.write_all(record).inspect_err(|_| {
            let _ = self.file.set_len(before);
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Cuts `file` back to just after its last newline: a record a killed
/// writer left unfinished (or nothing, if the file ends in a newline).
fn cut_torn_tail(file: &std::fs::File) -> io::Result<()> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let len = file.metadata()?.len();
    let mut reader = file;
    let mut at = len;
    let mut chunk = [0u8; 4096];
    while at > 0 {
        let start = at.saturating_sub(chunk.len() as u64);
        let part = &mut chunk[..(at - start) as usize];
        reader.seek(SeekFrom::Start(start))?;
        reader.read_exact(part)?;
        if let Some(i) = part.iter().rposition(|&b| b == b'\n') {
            let end = start + i as u64 + 1;
            if end < len {
                file.set_len(end)?;
            }
            return Ok(());
        }
        at = start;
    }
    // No newline at all: the whole file is one unfinished record.
    file.set_len(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("depthlab-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn appending_cuts_a_record_a_killed_writer_left_unfinished() {
        let d = dir("torn");
        let long = "x".repeat(9000);
        for (before, after) in [
            (format!("h\n{long}\n{{\"half"), format!("h\n{long}\n")),
            (format!("h\n{long}\n"), format!("h\n{long}\n")),
            (format!("h\n{long}"), "h\n".to_string()),
            ("torn header".to_string(), "h\n".to_string()),
        ] {
            let path = d.join("lines");
            std::fs::write(&path, &before).unwrap();
            let mut f = LineFile::open(path.clone(), true, "h\n").unwrap();
            assert_eq!(std::fs::read_to_string(&path).unwrap(), after);
            f.write("next\n").unwrap();
            assert_eq!(std::fs::read_to_string(&path).unwrap(), after + "next\n");
        }
    }

    #[test]
    fn atomic_writes_get_the_permissions_of_any_new_file() {
        let d = dir("mode");
        write_atomic(&d.join("a"), b"x").unwrap();
        std::fs::write(d.join("b"), b"x").unwrap();
        let mode = |n: &str| std::fs::metadata(d.join(n)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("a"), mode("b"));
        // Replacing a file leaves only the new one.
        write_atomic(&d.join("a"), b"yz").unwrap();
        assert_eq!(std::fs::read(d.join("a")).unwrap(), b"yz");
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 2);
    }

    #[test]
    fn reads_refuse_what_is_not_a_regular_file_or_too_big() {
        let d = dir("read");
        let err = |p: &Path, limit| {
            read_limited(p, limit, "a test file")
                .unwrap_err()
                .to_string()
        };
        assert!(err(&d, 10).contains("a directory"));
        assert!(err(Path::new("/dev/zero"), 10).contains("not a regular file"));
        std::fs::write(d.join("f"), b"12345").unwrap();
        assert!(err(&d.join("f"), 4).contains("over the limit of 4 bytes"));
        assert_eq!(
            read_limited(&d.join("f"), 5, "a test file").unwrap(),
            b"12345"
        );
    }
}
