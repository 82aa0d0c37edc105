//! `data csv path= label= test= split= normalize=`: numeric CSV files.
//!
//! The format: the first non-blank line is a header naming the columns;
//! every later non-blank line is one example with one cell per column
//! (read by the `csv` crate: cells are trimmed, quoted cells may hold
//! commas, `\r\n` line ends and a UTF-8 byte-order mark are accepted, blank
//! lines are skipped).
//! `label=` names the label column (default: the last); every other column
//! is an input, in file order, and their count must equal the spec's
//! `input`. Under `cross_entropy` a label is a class index, a whole number
//! in [0, outputs); under `mse` it is the single regression target and
//! under `bce` a probability in [0, 1] (the last layer then has 1 unit).
//! Rows keep their file order; no shuffling and no normalization unless
//! asked (see [`super`] for `split=` and `normalize=`).

use super::{DataError, Dataset, Request, Target, read_file};
use crate::spec::{Files, LossKind, Span, did_you_mean};
use std::path::Path;

/// Reads the training file and the `test=` file, if any.
pub(super) fn load(
    req: &Request,
    files: &Files,
    label: Option<&(String, Span)>,
) -> Result<(Dataset, Option<Dataset>), DataError> {
    let path = req.path(&files.path);
    let bytes = read_file(&path, req.memory_limit)?;
    let file = CsvFile::parse(&path, &bytes)?;
    let label = match label {
        None => file.header.len() - 1,
        Some((name, span)) => match file.header.iter().position(|h| h == name) {
            Some(i) => i,
            None => {
                let names: Vec<&str> = file.header.iter().map(String::as_str).collect();
                let mut e = req.error_at(
                    *span,
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
    let test = match &files.test {
        None => None,
        Some(test) => {
            let test_path = req.path(test);
            let bytes = read_file(&test_path, req.memory_limit)?;
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
    Ok((train, test))
}

/// A CSV file read by the `csv` crate into its header and rows of cells
/// (not yet numbers), each with its 1-based line.
struct CsvFile<'a> {
    path: &'a Path,
    header: Vec<String>,
    header_line: usize,
    rows: Vec<(usize, Vec<String>)>,
}

impl<'a> CsvFile<'a> {
    fn parse(path: &'a Path, bytes: &[u8]) -> Result<Self, DataError> {
        let error = |line, message: String| DataError::Csv {
            path: path.to_owned(),
            line,
            message,
        };
        // Rows of unequal length are refused below, with their line.
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(bytes);
        // Line numbers from byte offsets: the reader's own line count
        // leaves out the blank lines it skips, and a record's position is
        // where the previous one ended (before those blank lines and the
        // `\n` of a `\r\n`), so the count starts after any line breaks.
        let mut counted = (0, 1);
        let mut line_at = |byte: u64| {
            let (from, line) = counted;
            let mut to = (byte as usize).clamp(from, bytes.len());
            while to < bytes.len() && matches!(bytes[to], b'\r' | b'\n') {
                to += 1;
            }
            counted = (
                to,
                line + bytes[from..to].iter().filter(|&&b| b == b'\n').count(),
            );
            counted.1
        };
        let mut lines = Vec::new();
        for record in reader.byte_records() {
            let record = record.map_err(|e| {
                let line = e.position().map_or(1, |p| line_at(p.byte()));
                error(line, format!("not a CSV file: {e}"))
            })?;
            let line = record.position().map_or(1, |p| line_at(p.byte()));
            let cells = record
                .iter()
                .enumerate()
                .map(|(i, cell)| {
                    String::from_utf8(cell.to_vec()).map_err(|_| {
                        error(
                            line,
                            format!("not UTF-8 text (invalid byte in cell {})", i + 1),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            // Blank lines (or lines of spaces) are skipped; `,,` is a row
            // of empty cells, refused later with its line.
            if !(cells.len() == 1 && cells[0].is_empty()) {
                lines.push((line, cells));
            }
        }
        let mut lines = lines.into_iter();
        let Some((header_line, header)) = lines.next() else {
            return Err(error(
                1,
                "the file is empty; expected a header row naming the columns, then one row per example"
                    .to_owned(),
            ));
        };
        check_header(path, header_line, &header)?;
        let rows: Vec<_> = lines.collect();
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
        for (line, cells) in &self.rows {
            let line = *line;
            if cells.len() != columns {
                return Err(self.error(
                    line,
                    format!(
                        "expected {columns} cells as in the header, found {}",
                        cells.len()
                    ),
                ));
            }
            for (i, cell) in cells.iter().enumerate() {
                let name = &self.header[i];
                let value = match cell.parse::<f64>() {
                    Ok(v) if (v as f32).is_finite() => v,
                    Ok(v) if v.is_finite() => {
                        return Err(self.error(
                            line,
                            format!(
                                "column `{name}`: `{cell}` is too large for f32 (largest {:e})",
                                f32::MAX
                            ),
                        ));
                    }
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

/// A header names every column, once, and does not look like data.
fn check_header(path: &Path, header_line: usize, header: &[String]) -> Result<(), DataError> {
    let error = |message: String| DataError::Csv {
        path: path.to_owned(),
        line: header_line,
        message,
    };
    if header.iter().all(|h| h.parse::<f64>().is_ok()) {
        return Err(error(format!(
            "`{}` looks like data: the first row must name the columns (e.g. `x1,x2,label`)",
            header.join(",")
        )));
    }
    // Names seen so far and their column: linear in the header's width (a
    // scan of the earlier names per column took 90 s for 10⁶ columns).
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (i, h) in header.iter().enumerate() {
        if h.is_empty() {
            return Err(error(format!("column {} of the header has no name", i + 1)));
        }
        if let Some(j) = seen.insert(h, i) {
            return Err(error(format!(
                "column `{h}` appears twice (columns {} and {})",
                j + 1,
                i + 1
            )));
        }
    }
    Ok(())
}

/// `a, b, c` for a few names, `a, b, c, ..., z` for many.
fn abbreviate(names: &[&str]) -> String {
    if names.len() <= 6 {
        names.join(", ")
    } else {
        format!("{}, ..., {}", names[..4].join(", "), names[names.len() - 1])
    }
}
