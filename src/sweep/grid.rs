//! The grid of a sweep: `--vary KEY=V1,V2,...` flags, their cartesian
//! product in a fixed order, and the spec of each point.

use crate::error::Error;
use crate::spec::{Overrides, Source, Spec, parse};
use std::fmt;

/// What a `--vary` flag sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    /// One of the command-line overrides (`act`, `init`, `depth`, `width`,
    /// `seed`, `lr`, `weight_decay`, `l2`, `epochs`, `steps`, `batch`).
    Override(&'static str),
    /// `LINE.KEY`: a key of the spec's `optim`, `data`, `train` or `loss`
    /// line (`optim.momentum`, `data.n`, `loss.l2_bias`).
    Line { line: &'static str, key: String },
}

/// The override keys, and whether their values are whole numbers.
const OVERRIDES: [(&str, bool); 11] = [
    ("act", false),
    ("init", false),
    ("depth", true),
    ("width", true),
    ("seed", true),
    ("lr", false),
    ("weight_decay", false),
    ("l2", false),
    ("epochs", true),
    ("steps", true),
    ("batch", true),
];

/// The spec lines whose keys `LINE.KEY` can set.
const LINES: [&str; 4] = ["optim", "data", "train", "loss"];

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Override(name) => f.write_str(name),
            Key::Line { line, key } => write!(f, "{line}.{key}"),
        }
    }
}

/// One `--vary KEY=V1,V2,...`: the key and its values as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Axis {
    pub key: Key,
    pub values: Vec<String>,
}

impl Axis {
    /// Parses a `--vary` value. Values are split at commas outside
    /// parentheses (`act=relu,leaky_relu(a=0.1)`); a whole-number key takes
    /// ranges (`seed=1..5`, `depth=5..40` inclusive).
    ///
    /// ```
    /// use depthlab::sweep::Axis;
    /// let a = Axis::parse("act=relu,srelu(tl=-0.3,al=0.1,tr=0.4,ar=0.5)").unwrap();
    /// assert_eq!(a.values.len(), 2);
    /// assert_eq!(Axis::parse("seed=1..3").unwrap().values, ["1", "2", "3"]);
    /// assert!(Axis::parse("colour=red").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Axis, String> {
        let Some((name, values)) = text.split_once('=') else {
            return Err(format!(
                "`{text}`: write KEY=V1,V2,... (e.g. `depth=5,10,20`)"
            ));
        };
        let name = name.trim();
        let (key, whole) = match OVERRIDES.iter().find(|(n, _)| *n == name) {
            Some(&(n, whole)) => (Key::Override(n), whole),
            None => match name.split_once('.') {
                Some((line, key)) if LINES.contains(&line) && !key.is_empty() => {
                    let line = LINES.iter().find(|l| **l == line).expect("checked");
                    (
                        Key::Line {
                            line,
                            key: key.into(),
                        },
                        false,
                    )
                }
                _ => {
                    return Err(format!(
                        "`{name}` cannot be varied: use one of {} or LINE.KEY for a key of the \
                         optim, data, train or loss line (e.g. optim.momentum)",
                        OVERRIDES.map(|(n, _)| n).join(", ")
                    ));
                }
            },
        };
        let mut out = Vec::new();
        for v in split_top_level(values) {
            match v.split_once("..") {
                Some((a, b)) if whole => {
                    out.extend(range(a, b).map_err(|e| format!("`{text}`: {e}"))?)
                }
                _ if v.is_empty() => return Err(format!("`{text}` has an empty value")),
                _ => out.push(v),
            }
        }
        if let Some(dup) = out.iter().enumerate().find(|(i, v)| out[..*i].contains(v)) {
            return Err(format!("`{text}` lists `{}` twice", dup.1));
        }
        Ok(Axis { key, values: out })
    }
}

/// `a..b` inclusive, as strings.
fn range(a: &str, b: &str) -> Result<Vec<String>, String> {
    let n = |t: &str| {
        t.trim()
            .parse::<u64>()
            .map_err(|_| format!("`{t}` is not a whole number"))
    };
    let (a, b) = (n(a)?, n(b)?);
    if a > b {
        return Err(format!("the range {a}..{b} is empty"));
    }
    if b - a >= 100_000 {
        return Err(format!("the range {a}..{b} has more than 100000 values"));
    }
    Ok((a..=b).map(|v| v.to_string()).collect())
}

/// `text` split at commas outside parentheses, each part trimmed.
fn split_top_level(text: &str) -> Vec<String> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(text[start..i].trim().to_owned());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(text[start..].trim().to_owned());
    parts
}

/// A point of the grid: one value per axis, in the axes' order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Point {
    /// Its place in the grid (0-based), the same in every shard.
    pub index: usize,
    pub values: Vec<(Key, String)>,
}

impl fmt::Display for Point {
    /// `act=relu depth=20`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .values
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        f.write_str(&parts.join(" "))
    }
}

/// Every point of the grid, the first axis varying slowest.
///
/// ```
/// use depthlab::sweep::{Axis, points};
/// let axes = [Axis::parse("act=relu,tanh").unwrap(), Axis::parse("depth=5,10").unwrap()];
/// let p = points(&axes);
/// assert_eq!(p.len(), 4);
/// assert_eq!(p[1].to_string(), "act=relu depth=10");
/// ```
pub fn points(axes: &[Axis]) -> Vec<Point> {
    let total: usize = axes.iter().map(|a| a.values.len()).product();
    (0..total)
        .map(|index| {
            let mut rest = index;
            let mut values = vec![(Key::Override("act"), String::new()); axes.len()];
            for (slot, axis) in values.iter_mut().zip(axes).rev() {
                let n = axis.values.len();
                *slot = (axis.key.clone(), axis.values[rest % n].clone());
                rest /= n;
            }
            Point { index, values }
        })
        .collect()
}

/// `spec` at `point`: the overrides applied, then the `LINE.KEY` values
/// written into the spec's text, which is parsed again. Errors name the
/// point.
pub fn spec_at(spec: &Spec, point: &Point) -> Result<Spec, Error> {
    let mut o = Overrides::default();
    let mut lines = Vec::new();
    for (key, value) in &point.values {
        let number = || -> Result<f64, Error> {
            value
                .parse::<f64>()
                .map_err(|_| bad_value(spec, point, key, value))
        };
        let whole = || -> Result<usize, Error> {
            value
                .parse::<usize>()
                .map_err(|_| bad_value(spec, point, key, value))
        };
        match key {
            Key::Override("act") => o.act = Some(value.clone()),
            Key::Override("init") => o.init = Some(value.clone()),
            Key::Override("depth") => o.depth = Some(whole()?),
            Key::Override("width") => o.width = Some(whole()?),
            Key::Override("seed") => o.seed = Some(whole()? as u64),
            Key::Override("lr") => o.lr = Some(number()?),
            Key::Override("weight_decay") => o.weight_decay = Some(number()?),
            Key::Override("l2") => o.l2 = Some(number()?),
            Key::Override("epochs") => o.epochs = Some(whole()?),
            Key::Override("steps") => o.steps = Some(whole()?),
            Key::Override("batch") => o.batch = Some(whole()?),
            Key::Override(other) => unreachable!("no override `{other}`"),
            Key::Line { line, key } => lines.push((*line, key.as_str(), value.as_str())),
        }
    }
    let mut at = spec.clone();
    o.apply(&mut at).map_err(|mut e| {
        e.message = format!("at {point}: {}", e.message);
        Error::Spec(e)
    })?;
    if lines.is_empty() {
        return Ok(at);
    }
    let mut items: Vec<String> = at.to_string().split("; ").map(String::from).collect();
    for (line, key, value) in lines {
        let Some(item) = items.iter_mut().find(|i| i.split(' ').next() == Some(line)) else {
            return Err(Error::Spec(
                spec.source
                    .error_whole(format!(
                        "`--vary {line}.{key}`: the spec has no `{line}` line to set `{key}` on"
                    ))
                    .with_help(format!("add a `{line}` line to the spec")),
            ));
        };
        let words: Vec<&str> = item.split(' ').collect();
        let kept = words.iter().filter(|w| w.split('=').next() != Some(key));
        *item = kept
            .copied()
            .chain([&*format!("{key}={value}")])
            .collect::<Vec<_>>()
            .join(" ");
    }
    let text = items.join("; ");
    let mut reparsed = parse(Source::new(
        format!("{} at {point}", spec.source.name),
        text,
    ))?;
    reparsed.overrides = at.overrides;
    Ok(reparsed)
}

fn bad_value(spec: &Spec, point: &Point, key: &Key, value: &str) -> Error {
    Error::Spec(spec.source.error_whole(format!(
        "at {point}: `{value}` is not a valid value for `{key}`"
    )))
}
