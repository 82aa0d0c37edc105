//! A sweep's results file: JSON lines appended whole under an exclusive
//! lock, so shards in other processes (or on other machines of a cluster,
//! where the file system honours locks) can share one file; and read back,
//! to skip what is done and to report.

use super::record::{Record, SCHEMA};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Appends `line` (one JSON document, no newline) to `path` as one line:
/// under an exclusive lock, after a newline if the file does not end with
/// one (a line cut short by a killed writer stays alone on its line).
pub fn append_line(path: &Path, line: &str) -> io::Result<()> {
    crate::files::regular_or_absent(path)?;
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)?;
    file.lock()?;
    let result = (|| {
        let mut bytes = Vec::with_capacity(line.len() + 2);
        if ends_without_newline(&mut file)? {
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        // A write that fails part-way (a full disk) is cut back off.
        let before = file.metadata()?.len();
        file.write_all(&bytes)
            .and_then(|()| file.flush())
            .inspect_err(|_| {
                let _ = file.set_len(before);
            })
    })();
    let unlocked = file.unlock();
    result.and(unlocked)
}

/// Whether the file is non-empty and its last byte is not a newline.
fn ends_without_newline(file: &mut File) -> io::Result<bool> {
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(false);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8];
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

/// What a results file holds.
#[derive(Debug, Default)]
pub struct Results {
    pub records: Vec<Record>,
    /// 1-based numbers of the lines that are not sweep records (cut short
    /// by a killed writer, or another file's lines).
    pub skipped_lines: Vec<usize>,
}

/// The largest results file read: 1 GiB, some 200 000 trained points.
const LIMIT: u64 = 1 << 30;

/// Reads the records of `path` (none if it does not exist).
pub fn read(path: &Path) -> io::Result<Results> {
    match read_text(path) {
        Ok(text) => Ok(parse(&text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Results::default()),
        Err(e) => Err(e),
    }
}

/// The text of a results file. Bytes that are not UTF-8 (a line cut inside
/// a character by a killed writer) become U+FFFD, so only that line is
/// lost, not the file.
pub fn read_text(path: &Path) -> io::Result<String> {
    let bytes = crate::files::read_limited(path, LIMIT, "a sweep results file")?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The records of a results file's text.
pub fn parse(text: &str) -> Results {
    let mut out = Results::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(line) {
            Ok(r) if r.schema == SCHEMA => out.records.push(r),
            _ => out.skipped_lines.push(i + 1),
        }
    }
    out
}
