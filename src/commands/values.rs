//! Parsers of flag values that several commands take: lists of whole
//! numbers and of non-negative numbers.

/// A list of whole numbers up to `max`: `0..9` (inclusive) or `0,1,3,9`.
///
/// ```
/// use depthlab::commands::whole_numbers;
/// assert_eq!(whole_numbers("2..4", 9), Ok(vec![2, 3, 4]));
/// assert_eq!(whole_numbers("0,1,3", 9), Ok(vec![0, 1, 3]));
/// assert!(whole_numbers("4..2", 9).is_err());
/// assert!(whole_numbers("10", 9).is_err());
/// ```
pub fn whole_numbers(text: &str, max: usize) -> Result<Vec<usize>, String> {
    let number = |t: &str| match t.trim().parse::<usize>() {
        Ok(d) if d <= max => Ok(d),
        Ok(d) => Err(format!("{d} is above the largest, {max}")),
        Err(_) => Err(format!("`{t}` is not a whole number 0..={max}")),
    };
    match text.split_once("..") {
        Some((a, b)) => {
            let (a, b) = (number(a)?, number(b.trim_start_matches('='))?);
            if a > b {
                return Err(format!("the range {a}..{b} is empty"));
            }
            Ok((a..=b).collect())
        }
        None => text.split(',').map(number).collect(),
    }
}

/// A finite number ≥ 0.
///
/// ```
/// use depthlab::commands::non_negative;
/// assert_eq!(non_negative(" 1e-3"), Ok(1e-3));
/// assert!(non_negative("-1").is_err() && non_negative("nan").is_err());
/// ```
pub fn non_negative(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!("`{}` is not a number ≥ 0", text.trim())),
    }
}

/// A memory limit in GiB: a finite number > 0 (`nan` used to become 0,
/// `inf` a panic).
///
/// ```
/// use depthlab::commands::gibibytes;
/// assert_eq!(gibibytes("0.5"), Ok(0.5));
/// assert!(gibibytes("nan").is_err() && gibibytes("inf").is_err() && gibibytes("0").is_err());
/// ```
pub fn gibibytes(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!("`{}` is not a size in GiB > 0", text.trim())),
    }
}
