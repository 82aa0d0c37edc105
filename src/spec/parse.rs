//! From statements to a validated [`Spec`]: every name, number and key is
//! checked here, with a positioned error and a "did you mean" for typos.

use super::error::{Source, Span, SpecError, did_you_mean};
use super::syntax::{Item, Statement, Value, Word, statements};
use super::{
    ActSpec, Data, DataSource, Dense, Files, Gain, Generated, Generator, InitSpec, Input, L2,
    LossKind, Optim, OptimKind, Schedule, Spec, Train,
};

/// Every activation name the spec language knows.
pub const ACTIVATIONS: &[&str] = &[
    "identity",
    "sigmoid",
    "tanh",
    "softsign",
    "relu",
    "leaky_relu",
    "prelu",
    "elu",
    "selu",
    "srelu",
    "softplus",
    "gelu",
    "silu",
];

/// Every initializer name the spec language knows.
pub const INITS: &[&str] = &[
    "normal",
    "uniform",
    "standard",
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_normal",
    "lecun_uniform",
    "orthogonal",
    "torch",
    "zeros",
    "const",
];

const KEYWORDS: &[&str] = &["input", "dense", "loss", "optim", "data", "train"];
const LOSSES: &[&str] = &["mse", "cross_entropy", "bce"];
const LOSS_KEYS: &[&str] = &["l2", "l2_bias"];
const OPTIMS: &[&str] = &["sgd", "adam", "adamw"];
const SGD_KEYS: &[&str] = &[
    "lr",
    "momentum",
    "dampening",
    "nesterov",
    "weight_decay",
    "maximize",
    "decay_bias",
    "schedule",
    "step_size",
    "gamma",
    "min_lr",
];
const ADAM_KEYS: &[&str] = &[
    "lr",
    "beta1",
    "beta2",
    "eps",
    "weight_decay",
    "amsgrad",
    "maximize",
    "decay_bias",
    "schedule",
    "step_size",
    "gamma",
    "min_lr",
];
const SCHEDULES: &[&str] = &["constant", "step", "cosine"];
const DENSE_KEYS: &[&str] = &["init", "bias", "weight_decay", "act_decay"];
const TRAIN_KEYS: &[&str] = &["epochs", "batch", "seed", "steps", "flush_subnormals"];
/// Data sources and the keys each accepts.
const DATA: &[(&str, &[&str])] = &[
    ("gaussian", &["n", "test", "seed", "normalize"]),
    ("blobs", &["n", "test", "seed", "std", "normalize"]),
    ("spirals", &["n", "test", "seed", "noise", "normalize"]),
    ("parity", &["n", "test", "seed", "normalize"]),
    ("teacher", &["n", "test", "seed", "normalize"]),
    ("shapeset", &["n", "test", "seed", "normalize"]),
    (
        "poly",
        &["n", "test", "seed", "noise", "degree", "grid", "normalize"],
    ),
    ("csv", &["path", "label", "test", "split", "normalize"]),
    (
        "mnist",
        &[
            "path",
            "labels",
            "test",
            "test_labels",
            "split",
            "normalize",
        ],
    ),
];

/// Parses and validates a whole spec.
///
/// ```
/// use depthlab::spec::{Source, parse};
/// let spec = parse(Source::new("--net", "input 64; dense 64 tanh x10; dense 10")).unwrap();
/// assert_eq!(spec.dense[0].repeat, 10);
/// let err = parse(Source::new("--net", "input 64; dense 64 sigmod")).unwrap_err();
/// assert_eq!(err.help.as_deref(), Some("did you mean `sigmoid`?"));
/// ```
pub fn parse(source: Source) -> Result<Spec, SpecError> {
    let mut spec = Spec {
        source: source.clone(),
        input: None,
        dense: Vec::new(),
        loss: None,
        optim: None,
        data: None,
        train: Train::default(),
        l2: L2::default(),
        overrides: Vec::new(),
    };
    let src = &source;
    let mut seen: Vec<(&str, Span)> = Vec::new();
    for st in statements(src)? {
        let kw = st.keyword;
        if kw.text != "dense"
            && let Some((_, first)) = seen.iter().find(|(k, _)| *k == kw.text)
        {
            return Err(src.error(
                kw.span,
                format!(
                    "duplicate `{}` line (the first is on line {})",
                    kw.text, first.line
                ),
            ));
        }
        match kw.text {
            "input" => {
                if !spec.dense.is_empty() {
                    return Err(
                        src.error(kw.span, "`input` must come before the first `dense` line")
                    );
                }
                let [item] = exactly::<1>(src, &st, "the input size, e.g. `input 784`")?;
                spec.input = Some(Input {
                    size: count(src, bare(src, item, "the input size")?)?,
                    span: kw.span,
                });
            }
            "dense" => spec.dense.push(dense(src, &st)?),
            "loss" => (spec.loss, spec.l2) = loss(src, &st)?,
            "optim" => spec.optim = Some(optim(src, &st)?),
            "data" => spec.data = Some(data(src, &st)?),
            "train" => spec.train = train(src, &st)?,
            _ => return Err(unknown(src, kw, "a line kind", KEYWORDS)),
        }
        seen.push((kw.text, kw.span));
    }
    Ok(spec)
}

/// Parses an activation such as `tanh` or `leaky_relu(a=0.1)`.
pub fn parse_activation(src: &Source, v: &Value) -> Result<ActSpec, SpecError> {
    let args = |names: &[&str]| call_args(src, v, names);
    Ok(match v.name.text {
        "identity" | "linear" => no_args(src, v, ActSpec::Identity)?,
        "sigmoid" => no_args(src, v, ActSpec::Sigmoid)?,
        "tanh" => no_args(src, v, ActSpec::Tanh)?,
        "softsign" => no_args(src, v, ActSpec::Softsign)?,
        "relu" => no_args(src, v, ActSpec::Relu)?,
        "selu" => no_args(src, v, ActSpec::Selu)?,
        "softplus" => no_args(src, v, ActSpec::Softplus)?,
        "gelu" => no_args(src, v, ActSpec::Gelu)?,
        "silu" | "swish" => no_args(src, v, ActSpec::Silu)?,
        "leaky_relu" => {
            let a = args(&["a"])?;
            ActSpec::LeakyRelu {
                a: opt_number(src, a[0], 0.01)?,
            }
        }
        "prelu" => {
            let a = args(&["init"])?;
            ActSpec::Prelu {
                init: opt_number(src, a[0], 0.25)?,
            }
        }
        "elu" => {
            let a = args(&["a"])?;
            ActSpec::Elu {
                a: opt_number(src, a[0], 1.0)?,
            }
        }
        "srelu" => {
            let a = args(&["tl", "al", "tr", "ar"])?;
            let (tl, tr) = (opt_number(src, a[0], 0.0)?, opt_number(src, a[2], 1.0)?);
            if tl > tr {
                return Err(src.error(
                    v.span,
                    format!("srelu needs tl ≤ tr, found tl={tl} > tr={tr}"),
                ));
            }
            ActSpec::Srelu {
                tl,
                al: opt_number(src, a[1], 0.2)?,
                tr,
                ar: opt_number(src, a[3], 1.0)?,
            }
        }
        _ => return Err(unknown(src, v.name, "an activation", ACTIVATIONS)),
    })
}

/// Parses an initializer such as `he_normal`, `normal(0.01)` or
/// `glorot_uniform(gain=auto)`.
pub fn parse_init(src: &Source, v: &Value) -> Result<InitSpec, SpecError> {
    let args = |names: &[&str]| call_args(src, v, names);
    Ok(match v.name.text {
        "normal" => {
            let a = args(&["std"])?;
            InitSpec::Normal {
                std: non_negative(src, required(src, v, a[0], "std")?)?,
            }
        }
        "uniform" => {
            let a = args(&["a"])?;
            InitSpec::Uniform {
                a: non_negative(src, required(src, v, a[0], "a")?)?,
            }
        }
        "const" => {
            let a = args(&["c"])?;
            InitSpec::Const {
                c: number(src, required(src, v, a[0], "c")?)?,
            }
        }
        "glorot_uniform" | "xavier_uniform" => InitSpec::GlorotUniform {
            gain: gain(src, args(&["gain"])?[0])?,
        },
        "glorot_normal" | "xavier_normal" => InitSpec::GlorotNormal {
            gain: gain(src, args(&["gain"])?[0])?,
        },
        "orthogonal" => InitSpec::Orthogonal {
            gain: gain(src, args(&["gain"])?[0])?,
        },
        "standard" => no_args(src, v, InitSpec::Standard)?,
        "he_uniform" | "kaiming_uniform" => no_args(src, v, InitSpec::HeUniform)?,
        "he_normal" | "kaiming_normal" => no_args(src, v, InitSpec::HeNormal)?,
        "lecun_normal" => no_args(src, v, InitSpec::LecunNormal)?,
        "lecun_uniform" => no_args(src, v, InitSpec::LecunUniform)?,
        "torch" => no_args(src, v, InitSpec::Torch)?,
        "zeros" => no_args(src, v, InitSpec::Zeros)?,
        _ => return Err(unknown(src, v.name, "an initializer", INITS)),
    })
}

fn dense(src: &Source, st: &Statement) -> Result<Dense, SpecError> {
    let Some(first) = st.items.first() else {
        return Err(src.error(
            after(st.keyword.span),
            "expected the number of units, e.g. `dense 100 relu`, found the end of the line",
        ));
    };
    let units_word = bare(src, first, "the number of units")?;
    let mut d = Dense {
        units: count(src, units_word)?,
        units_span: units_word.span,
        act: None,
        init: None,
        bias: None,
        weight_decay: None,
        act_decay: None,
        repeat: 1,
        repeat_span: None,
        span: st.keyword.span,
    };
    for item in &st.items[1..] {
        match item.key {
            Some(key) => dense_key(src, &mut d, key, item)?,
            None => dense_word(src, &mut d, item)?,
        }
    }
    Ok(d)
}

/// A `key=value` item of a `dense` line.
fn dense_key(src: &Source, d: &mut Dense, key: Word, item: &Item) -> Result<(), SpecError> {
    match key.text {
        "init" => {
            let init = parse_init(src, &item.value)?;
            set_once(src, &mut d.init, (init, item.value.span), item)
        }
        "bias" => {
            let init = parse_init(src, &item.value)?;
            if !init.fits_bias() {
                return Err(src.error(item.value.span, format!("`{init}` is an initializer for weight matrices; a bias takes zeros, const(c), normal(std), uniform(a), standard or torch")));
            }
            set_once(src, &mut d.bias, (init, item.value.span), item)
        }
        "weight_decay" | "act_decay" => {
            if !item.value.args.is_empty() {
                return Err(src.error(
                    item.value.span,
                    format!("`{}` takes a plain number", key.text),
                ));
            }
            let v = non_negative(src, item.value.name)?;
            let slot = if key.text == "weight_decay" {
                &mut d.weight_decay
            } else {
                &mut d.act_decay
            };
            set_once(src, slot, v, item)
        }
        _ => Err(unknown(
            src,
            key,
            "a dense key (init, bias, weight_decay, act_decay)",
            DENSE_KEYS,
        )),
    }
}

/// A plain item of a `dense` line: the repeat count `xK` or the activation.
fn dense_word(src: &Source, d: &mut Dense, item: &Item) -> Result<(), SpecError> {
    let text = item.value.name.text;
    if let Some(k) = text
        .strip_prefix('x')
        .filter(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
    {
        if d.repeat_span.is_some() {
            return Err(src.error(item.span(), "the repeat count `xK` is given twice"));
        }
        d.repeat = k.parse().ok().filter(|&k| k > 0).ok_or_else(|| {
            src.error(
                item.span(),
                format!("expected a repeat count of at least 1, found `{text}`"),
            )
        })?;
        d.repeat_span = Some(item.span());
    } else if d.act.is_some() {
        return Err(src.error(item.span(), format!("expected `key=value` or a repeat count `xK`, found `{text}` (the activation is already given)")));
    } else {
        d.act = Some((parse_activation(src, &item.value)?, item.value.span));
    }
    Ok(())
}

/// `loss mse|cross_entropy|bce [l2=ρ] [l2_bias=true]`.
fn loss(src: &Source, st: &Statement) -> Result<(Option<(LossKind, Span)>, L2), SpecError> {
    let Some(first) = st.items.first() else {
        return Err(src.error(
            after(st.keyword.span),
            "expected a loss (mse, cross_entropy, bce), found the end of the line",
        ));
    };
    let w = bare(src, first, "a loss")?;
    let kind = match w.text {
        "mse" => LossKind::Mse,
        "cross_entropy" => LossKind::CrossEntropy,
        "bce" => LossKind::Bce,
        _ => return Err(unknown(src, w, "a loss", LOSSES)),
    };
    let mut l2 = L2::default();
    for (key, value) in keyed(src, &st.items[1..], LOSS_KEYS, "a `loss` key")? {
        match key.text {
            "l2" => {
                l2.rho = non_negative(src, value)?;
                l2.span = key.span;
            }
            "l2_bias" => l2.bias = boolean(src, value)?,
            _ => unreachable!("keys are checked by `keyed`"),
        }
    }
    Ok((Some((kind, w.span)), l2))
}

fn optim(src: &Source, st: &Statement) -> Result<Optim, SpecError> {
    let Some(first) = st.items.first() else {
        return Err(src.error(
            after(st.keyword.span),
            "expected an optimizer (sgd, adam, adamw), found the end of the line",
        ));
    };
    let name = bare(src, first, "an optimizer")?;
    let (kind, keys) = match name.text {
        "sgd" => (OptimKind::Sgd, SGD_KEYS),
        "adam" => (OptimKind::Adam, ADAM_KEYS),
        "adamw" => (OptimKind::AdamW, ADAM_KEYS),
        _ => return Err(unknown(src, name, "an optimizer", OPTIMS)),
    };
    let mut o = Optim::torch_defaults(kind, st.keyword.span);
    let (mut schedule, mut step_size, mut gamma, mut min_lr) = (None, None, None, None);
    for (key, value) in keyed(
        src,
        &st.items[1..],
        keys,
        &format!("an `optim {}` key", kind.name()),
    )? {
        match key.text {
            "lr" => o.lr = non_negative(src, value)?,
            "momentum" => o.momentum = non_negative(src, value)?,
            "dampening" => o.dampening = number(src, value)?,
            "weight_decay" => o.weight_decay = non_negative(src, value)?,
            "eps" => o.eps = non_negative(src, value)?,
            "beta1" => o.beta1 = unit_interval(src, value)?,
            "beta2" => o.beta2 = unit_interval(src, value)?,
            "nesterov" => o.nesterov = boolean(src, value)?,
            "amsgrad" => o.amsgrad = boolean(src, value)?,
            "maximize" => o.maximize = boolean(src, value)?,
            "decay_bias" => o.decay_bias = boolean(src, value)?,
            "schedule" => {
                if !SCHEDULES.contains(&value.text) {
                    return Err(unknown(src, value, "a schedule", SCHEDULES));
                }
                schedule = Some((value.text, value.span));
            }
            "step_size" => step_size = Some((count(src, value)? as f64, key.span)),
            "gamma" => gamma = Some((non_negative(src, value)?, key.span)),
            "min_lr" => min_lr = Some((non_negative(src, value)?, key.span)),
            _ => unreachable!("keys are checked by `keyed`"),
        }
    }
    // Keys of another schedule are an error rather than silently ignored.
    let stray = |key: Option<(_, Span)>, name: &str, needs: &str| match key {
        Some((_, span)) => Err(src.error(span, format!("`{name}` needs `schedule={needs}`"))),
        None => Ok(()),
    };
    o.schedule = match schedule.map(|(name, _)| name) {
        Some("step") => {
            stray(min_lr, "min_lr", "cosine")?;
            Schedule::Step {
                step_size: step_size.map_or(10, |(v, _)| v as usize),
                gamma: gamma.map_or(0.1, |(v, _)| v),
            }
        }
        Some("cosine") => {
            stray(step_size, "step_size", "step")?;
            stray(gamma, "gamma", "step")?;
            Schedule::Cosine {
                min_lr: min_lr.map_or(0.0, |(v, _)| v),
            }
        }
        _ => {
            stray(step_size, "step_size", "step")?;
            stray(gamma, "gamma", "step")?;
            stray(min_lr, "min_lr", "cosine")?;
            Schedule::Constant
        }
    };
    if o.nesterov && (o.momentum <= 0.0 || o.dampening != 0.0) {
        return Err(src.error(
            st.keyword.span,
            "nesterov momentum needs momentum > 0 and dampening = 0 (as torch.optim.SGD)",
        ));
    }
    Ok(o)
}

fn data(src: &Source, st: &Statement) -> Result<Data, SpecError> {
    let Some(first) = st.items.first() else {
        return Err(src.error(
            after(st.keyword.span),
            "expected a data source (gaussian, spirals, csv, ...), found the end of the line",
        ));
    };
    let name = bare(src, first, "a data source")?;
    let names: Vec<&str> = DATA.iter().map(|(n, _)| *n).collect();
    let Some((_, keys)) = DATA.iter().find(|(n, _)| *n == name.text) else {
        return Err(unknown(src, name, "a data source", &names));
    };
    let what = format!("a `data {}` key", name.text);
    let items = keyed(src, &st.items[1..], keys, &what)?;
    let get = |key: &str| items.iter().find(|(k, _)| k.text == key).map(|&(_, v)| v);
    let file = |key: &str| get(key).map(|v| (v.text.to_owned(), v.span));
    let normalize = get("normalize").map(|v| boolean(src, v)).transpose()?;
    let source = match name.text {
        "csv" | "mnist" => {
            let path = file("path").ok_or_else(|| {
                src.error(name.span, format!("`data {}` needs `path=FILE`", name.text))
            })?;
            let files = Files {
                path,
                test: file("test"),
                split: spanned(src, get("split"), fraction)?,
            };
            if let (Some(_), Some((_, span))) = (&files.test, files.split) {
                return Err(src.error(span, "give either `test=FILE` or `split=`, not both"));
            }
            if name.text == "csv" {
                DataSource::Csv {
                    files,
                    label: file("label"),
                }
            } else {
                let test_labels = file("test_labels");
                if let (Some((_, span)), None) = (&test_labels, &files.test) {
                    return Err(
                        src.error(*span, "`test_labels=` needs `test=FILE` (the test images)")
                    );
                }
                DataSource::Mnist {
                    files,
                    labels: file("labels"),
                    test_labels,
                }
            }
        }
        _ => {
            let generator = generator(src, name.text, &items)?;
            DataSource::Generated(Generated {
                generator,
                n: spanned(src, get("n"), count)?,
                test: spanned(src, get("test"), whole)?,
                seed: get("seed").map(|v| seed(src, v)).transpose()?,
            })
        }
    };
    Ok(Data {
        source,
        span: name.span,
        normalize: normalize.unwrap_or(false),
    })
}

/// The generator `name` with its own keys, from a `data` line's `items`.
fn generator(src: &Source, name: &str, items: &[(Word, Word)]) -> Result<Generator, SpecError> {
    let get = |key: &str| items.iter().find(|(k, _)| k.text == key).map(|&(_, v)| v);
    let number = |key: &str| get(key).map(|v| non_negative(src, v)).transpose();
    Ok(match name {
        "gaussian" => Generator::Gaussian,
        "blobs" => Generator::Blobs {
            std: number("std")?,
        },
        "spirals" => Generator::Spirals {
            noise: number("noise")?,
        },
        "parity" => Generator::Parity,
        "teacher" => Generator::Teacher,
        "shapeset" => Generator::Shapeset,
        "poly" => Generator::Poly {
            noise: number("noise")?,
            degree: get("degree").map(|v| whole(src, v)).transpose()?,
            grid: get("grid").map(|v| boolean(src, v)).transpose()? == Some(true),
        },
        _ => unreachable!("names are checked against DATA"),
    })
}

fn train(src: &Source, st: &Statement) -> Result<Train, SpecError> {
    let mut t = Train {
        span: Some(st.keyword.span),
        ..Train::default()
    };
    for (key, value) in keyed(src, &st.items, TRAIN_KEYS, "a `train` key")? {
        match key.text {
            "epochs" => t.epochs = count(src, value)?,
            "batch" => t.batch = count(src, value)?,
            "seed" => t.seed = seed(src, value)?,
            "steps" => t.steps = Some(count(src, value)?),
            "flush_subnormals" => t.flush_subnormals = boolean(src, value)?,
            _ => unreachable!("keys are checked by `keyed`"),
        }
    }
    Ok(t)
}

// ---- item helpers ----

/// The span just after `s` (where a missing token would go).
fn after(s: Span) -> Span {
    Span {
        line: s.line,
        col: s.col + s.len,
        len: 1,
    }
}

fn unknown(src: &Source, w: Word, what: &str, candidates: &[&str]) -> SpecError {
    let e = src.error(w.span, format!("expected {what}, found `{}`", w.text));
    match did_you_mean(w.text, candidates) {
        Some(s) => e.with_help(format!("did you mean `{s}`?")),
        None => e.with_help(format!("one of: {}", candidates.join(", "))),
    }
}

fn exactly<'s, 'a, const N: usize>(
    src: &Source,
    st: &'s Statement<'a>,
    what: &str,
) -> Result<&'s [Item<'a>; N], SpecError> {
    match <&[Item; N]>::try_from(st.items.as_slice()) {
        Ok(items) => Ok(items),
        Err(_) if st.items.len() < N => Err(src.error(
            after(st.keyword.span),
            format!("expected {what}, found the end of the line"),
        )),
        Err(_) => Err(src.error(
            st.items[N].span(),
            format!(
                "unexpected `{}`: `{}` takes {what}",
                st.items[N].value.name.text, st.keyword.text
            ),
        )),
    }
}

/// The item as a plain word: no key, no arguments.
fn bare<'a>(src: &Source, item: &Item<'a>, what: &str) -> Result<Word<'a>, SpecError> {
    if item.key.is_some() {
        return Err(src.error(item.span(), format!("expected {what}, found `key=value`")));
    }
    if !item.value.args.is_empty() {
        return Err(src.error(
            item.value.span,
            format!("expected {what}, found a call with arguments"),
        ));
    }
    Ok(item.value.name)
}

fn set_once<T>(src: &Source, slot: &mut Option<T>, value: T, item: &Item) -> Result<(), SpecError> {
    if slot.is_some() {
        let key = item.key.map_or("", |k| k.text);
        return Err(src.error(item.span(), format!("`{key}` is given twice")));
    }
    *slot = Some(value);
    Ok(())
}

/// Checks that every item is `key=value` with a known, unrepeated key and a
/// plain value.
fn keyed<'a>(
    src: &Source,
    items: &[Item<'a>],
    keys: &[&str],
    what: &str,
) -> Result<Vec<(Word<'a>, Word<'a>)>, SpecError> {
    let mut out: Vec<(Word, Word)> = Vec::new();
    for item in items {
        let Some(key) = item.key else {
            return Err(src.error(
                item.span(),
                format!(
                    "expected `key=value` ({}), found `{}`",
                    keys.join(", "),
                    item.value.name.text
                ),
            ));
        };
        if !keys.contains(&key.text) {
            return Err(unknown(src, key, what, keys));
        }
        if out.iter().any(|(k, _)| k.text == key.text) {
            return Err(src.error(key.span, format!("`{}` is given twice", key.text)));
        }
        if !item.value.args.is_empty() {
            return Err(src.error(
                item.value.span,
                format!(
                    "`{}` takes a plain value, found a call with arguments",
                    key.text
                ),
            ));
        }
        out.push((key, item.value.name));
    }
    Ok(out)
}

/// Matches a call's arguments to parameter `names` (positional in order,
/// or by name); absent ones are `None`.
fn call_args<'a>(
    src: &Source,
    v: &Value<'a>,
    names: &[&str],
) -> Result<Vec<Option<Word<'a>>>, SpecError> {
    let mut out = vec![None; names.len()];
    for (i, arg) in v.args.iter().enumerate() {
        let idx = match arg.key {
            Some(k) => names.iter().position(|n| *n == k.text).ok_or_else(|| {
                let e = src.error(
                    k.span,
                    format!("`{}` has no parameter `{}`", v.name.text, k.text),
                );
                e.with_help(format!("parameters: {}", names.join(", ")))
            })?,
            None if i < names.len() => i,
            None => {
                return Err(src.error(
                    arg.value.span,
                    format!(
                        "`{}` takes at most {} argument(s)",
                        v.name.text,
                        names.len()
                    ),
                ));
            }
        };
        if out[idx].is_some() {
            return Err(src.error(arg.value.span, format!("`{}` is given twice", names[idx])));
        }
        out[idx] = Some(arg.value);
    }
    Ok(out)
}

fn no_args<T>(src: &Source, v: &Value, value: T) -> Result<T, SpecError> {
    match v.args.first() {
        None => Ok(value),
        Some(a) => Err(src.error(
            a.key.unwrap_or(a.value).span,
            format!("`{}` takes no arguments", v.name.text),
        )),
    }
}

fn required<'a>(
    src: &Source,
    v: &Value,
    w: Option<Word<'a>>,
    name: &str,
) -> Result<Word<'a>, SpecError> {
    w.ok_or_else(|| {
        src.error(
            v.span,
            format!(
                "`{}` needs its `{name}`, e.g. `{}(0.01)`",
                v.name.text, v.name.text
            ),
        )
    })
}

fn opt_number(src: &Source, w: Option<Word>, default: f64) -> Result<f64, SpecError> {
    w.map_or(Ok(default), |w| number(src, w))
}

fn gain(src: &Source, w: Option<Word>) -> Result<Gain, SpecError> {
    match w {
        None => Ok(Gain::Value(1.0)),
        Some(w) if w.text == "auto" => Ok(Gain::Auto),
        Some(w) => Ok(Gain::Value(non_negative(src, w)?)),
    }
}

/// A finite number that stays finite in f32, where the network computes
/// (`const(1e39)` would be an infinite weight).
fn number(src: &Source, w: Word) -> Result<f64, SpecError> {
    match w.text.parse::<f64>() {
        Ok(v) if (v as f32).is_finite() => Ok(v),
        Ok(v) if v.is_finite() => Err(src.error(
            w.span,
            format!(
                "`{}` is too large: the network computes in f32, whose largest value is {:e}",
                w.text,
                f32::MAX
            ),
        )),
        _ => Err(src.error(w.span, format!("expected a number, found `{}`", w.text))),
    }
}

fn non_negative(src: &Source, w: Word) -> Result<f64, SpecError> {
    let v = number(src, w)?;
    if v < 0.0 {
        return Err(src.error(w.span, format!("expected a number ≥ 0, found `{}`", w.text)));
    }
    Ok(v)
}

/// A value checked by `check`, with its span.
fn spanned<T>(
    src: &Source,
    w: Option<Word>,
    check: fn(&Source, Word) -> Result<T, SpecError>,
) -> Result<Option<(T, Span)>, SpecError> {
    w.map(|w| check(src, w).map(|v| (v, w.span))).transpose()
}

/// A fraction in [0, 1) (`split=`).
fn fraction(src: &Source, w: Word) -> Result<f64, SpecError> {
    let v = number(src, w)?;
    if !(0.0..1.0).contains(&v) {
        return Err(src.error(
            w.span,
            format!("expected a fraction in [0, 1), found `{}`", w.text),
        ));
    }
    Ok(v)
}

fn unit_interval(src: &Source, w: Word) -> Result<f64, SpecError> {
    let v = number(src, w)?;
    if !(0.0..1.0).contains(&v) {
        return Err(src.error(
            w.span,
            format!("expected a number in [0, 1), found `{}`", w.text),
        ));
    }
    Ok(v)
}

/// A whole number ≥ 0.
fn whole(src: &Source, w: Word) -> Result<usize, SpecError> {
    w.text.parse::<usize>().map_err(|_| {
        src.error(
            w.span,
            format!("expected a whole number, found `{}`", w.text),
        )
    })
}

/// A whole number ≥ 1 (a size or count).
fn count(src: &Source, w: Word) -> Result<usize, SpecError> {
    match whole(src, w) {
        Ok(0) => Err(src.error(w.span, "expected a whole number ≥ 1, found `0`")),
        Ok(n) => Ok(n),
        Err(_) => Err(src.error(
            w.span,
            format!("expected a whole number ≥ 1, found `{}`", w.text),
        )),
    }
}

fn seed(src: &Source, w: Word) -> Result<u64, SpecError> {
    w.text.parse::<u64>().map_err(|_| {
        src.error(
            w.span,
            format!("expected a seed (a whole number), found `{}`", w.text),
        )
    })
}

fn boolean(src: &Source, w: Word) -> Result<bool, SpecError> {
    match w.text {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(src.error(
            w.span,
            format!("expected `true` or `false`, found `{}`", w.text),
        )),
    }
}
