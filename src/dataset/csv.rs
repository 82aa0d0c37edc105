//! `data csv path= label= test= split= normalize=`: numeric CSV files.
//!
//! The format: the first non-blank line is a header naming the columns;
//! every later non-blank line is one example with one cell per column
//! (cells are trimmed; a pair of double quotes around a cell or name is
//! dropped; `\r\n` line ends and a UTF-8 byte-order mark are accepted).
//! `label=` names the label column (default: the last); every other column
//! is an input, in file order, and their count must equal the spec's
//! `input`. Under `cross_entropy` a label is a class index, a whole number
//! in [0, outputs); under `mse` it is the single regression target and
//! under `bce` a probability in [0, 1] (the last layer then has 1 unit).
//! Rows keep their file order; no shuffling and no normalization unless
//! asked (see [`super::load`] for `split=` and `normalize=`).

use super::{DataError, Dataset, Request, Split, Target, finish, read_file};
use crate::spec::{LossKind, did_you_mean};
use std::path::Path;

pub(super) fn load(req: &Request) -> Result<Split, DataError> {
    let Some((path, _)) = req.path("path") else {
        return Err(req.error("`data csv` needs `path=FILE`"));
    };
    let bytes = read_file(&path)?;
    let file = CsvFile::parse(&path, &bytes)?;
    let label = match req.param("label") {
        None => file.header.len() - 1,
        Some((name, span)) => match file.header.iter().position(|h| h == name) {
            Some(i) => i,
            None => {
                let names: Vec<&str> = file.header.iter().map(String::as_str).collect();
                let mut e = req.error_at(
                    span,
                    format!(
                        "`{}` has no column `{name}` (its columns: {})",
                        path.display(),
                        names.join(", ")
                    ),
                );
                if let Some(m) = did_you_mean(name, &names) {
                    e = e.with_help(format!("did you mean `{m}`?"));
                }
                return Err(e.into());
            }
        },
    };
    let target = match req.loss {
        LossKind::CrossEntropy => Target::Classes(req.outputs),
        LossKind::Mse | LossKind::Bce => {
            if req.outputs != 1 {
                return Err(req.error(format!(
                    "`data csv` gives 1 target (column `{}`) under `loss {}` but the last layer has {} units",
                    file.header[label],
                    req.loss.name(),
                    req.outputs
                )));
            }
            Target::Values(1)
        }
    };
    let inputs = file.header.len() - 1;
    if inputs != req.inputs {
        let names: Vec<&str> = (0..file.header.len())
            .filter(|&i| i != label)
            .map(|i| file.header[i].as_str())
            .collect();
        return Err(file.error(
            file.header_line,
            format!(
                "{inputs} input columns ({}) besides the label `{}`, but the spec's `input` is {}",
                abbreviate(&names),
                file.header[label],
                req.inputs
            ),
        ));
    }
    let train = file.dataset(label, target, req)?;
    let test = match req.path("test") {
        None => None,
        Some((test_path, _)) => {
            let bytes = read_file(&test_path)?;
            let test_file = CsvFile::parse(&test_path, &bytes)?;
            if test_file.header != file.header {
                return Err(test_file.error(
                    test_file.header_line,
                    format!(
                        "the header `{}` differs from the training file's `{}`",
                        test_file.header.join(","),
                        file.header.join(",")
                    ),
                ));
            }
            Some(test_file.dataset(label, target, req)?)
        }
    };
    finish(req, train, test)
}

/// A CSV file split into its header and data lines (not yet numbers).
struct CsvFile<'a> {
    path: &'a Path,
    header: Vec<String>,
    header_line: usize,
    /// (1-based line number, text) of every non-blank line after the header.
    rows: Vec<(usize, &'a str)>,
}

impl<'a> CsvFile<'a> {
    fn parse(path: &'a Path, bytes: &'a [u8]) -> Result<Self, DataError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let error = |line, message: String| DataError::Csv {
            path: path.to_owned(),
            line,
            message,
        };
        let mut lines = Vec::new();
        for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let text = std::str::from_utf8(raw).map_err(|e| {
                error(
                    i + 1,
                    format!(
                        "not UTF-8 text (invalid byte at column {})",
                        e.valid_up_to() + 1
                    ),
                )
            })?;
            if !text.trim().is_empty() {
                lines.push((i + 1, text));
            }
        }
        let Some(&(header_line, header_text)) = lines.first() else {
            return Err(error(
                1,
                "the file is empty; expected a header row naming the columns, then one row per example"
                    .to_owned(),
            ));
        };
        let header: Vec<String> = header_text
            .split(',')
            .map(|c| unquote(c).to_owned())
            .collect();
        if header.iter().all(|h| h.parse::<f64>().is_ok()) {
            return Err(error(
                header_line,
                format!(
                    "`{}` looks like data: the first row must name the columns (e.g. `x1,x2,label`)",
                    header_text.trim()
                ),
            ));
        }
        for (i, h) in header.iter().enumerate() {
            if h.is_empty() {
                return Err(error(
                    header_line,
                    format!("column {} of the header has no name", i + 1),
                ));
            }
            if let Some(j) = header[..i].iter().position(|g| g == h) {
                return Err(error(
                    header_line,
                    format!(
                        "column `{h}` appears twice (columns {} and {})",
                        j + 1,
                        i + 1
                    ),
                ));
            }
        }
        let rows = lines[1..].to_vec();
        if rows.is_empty() {
            return Err(error(
                header_line,
                "no data rows after the header".to_owned(),
            ));
        }
        Ok(CsvFile {
            path,
            header,
            header_line,
            rows,
        })
    }

    fn error(&self, line: usize, message: String) -> DataError {
        DataError::Csv {
            path: self.path.to_owned(),
            line,
            message,
        }
    }

    /// Parses every row into inputs and the label column's target.
    fn dataset(&self, label: usize, target: Target, req: &Request) -> Result<Dataset, DataError> {
        let columns = self.header.len();
        let mut set = Dataset::with_capacity(self.rows.len(), columns - 1, target);
        for &(line, text) in &self.rows {
            let cells = text.split(',').count();
            if cells != columns {
                return Err(self.error(
                    line,
                    format!("expected {columns} cells as in the header, found {cells}"),
                ));
            }
            for (i, cell) in text.split(',').enumerate() {
                let cell = unquote(cell);
                let name = &self.header[i];
                let value = match cell.parse::<f64>() {
                    Ok(v) if v.is_finite() => v,
                    Ok(_) => {
                        return Err(self.error(
                            line,
                            format!("column `{name}`: expected a finite number, found `{cell}`"),
                        ));
                    }
                    Err(_) if cell.is_empty() => {
                        return Err(self
                            .error(line, format!("column `{name}` is empty; expected a number")));
                    }
                    Err(_) => {
                        return Err(self.error(
                            line,
                            format!("column `{name}`: expected a number, found `{cell}`"),
                        ));
                    }
                };
                if i != label {
                    set.x.push(value as f32);
                    continue;
                }
                match target {
                    Target::Classes(k) => {
                        if value.fract() != 0.0 || value < 0.0 || value >= k as f64 {
                            return Err(self.error(
                                line,
                                format!(
                                    "label `{cell}` in column `{name}` is not a class index: expected a whole number in [0, {k}) (the last layer has {k} units)"
                                ),
                            ));
                        }
                    }
                    Target::Values(_) => {
                        if req.loss == LossKind::Bce && !(0.0..=1.0).contains(&value) {
                            return Err(self.error(
                                line,
                                format!(
                                    "target `{cell}` in column `{name}` is not a probability: `loss bce` needs targets in [0, 1]"
                                ),
                            ));
                        }
                    }
                }
                set.y.push(value as f32);
            }
            set.n += 1;
        }
        Ok(set)
    }
}

/// A cell or name without surrounding spaces and one pair of double quotes.
fn unquote(cell: &str) -> &str {
    let cell = cell.trim();
    cell.strip_prefix('"')
        .and_then(|c| c.strip_suffix('"'))
        .unwrap_or(cell)
}

/// `a, b, c` for a few names, `a, b, c, ..., z` for many.
fn abbreviate(names: &[&str]) -> String {
    if names.len() <= 6 {
        names.join(", ")
    } else {
        format!("{}, ..., {}", names[..4].join(", "), names[names.len() - 1])
    }
}
