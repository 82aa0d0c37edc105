//! Training checkpoints (`train --save FILE`, `--resume FILE`): one
//! safetensors file holding everything a run needs to continue with the
//! same bits as if it had never stopped.
//!
//! Tensors (f32, layers numbered from 1):
//! - the parameters under the `--dump` weights names: `W{l}` (units,
//!   fan_in), `b{l}` (units), `prelu{l}` (units), `srelu{l}` (4, units);
//! - the optimizer state as `{param}.{name}` with torch.optim's state
//!   names: `W1.momentum_buffer` (SGD with momentum), `W1.exp_avg`,
//!   `W1.exp_avg_sq`, `W1.max_exp_avg_sq` (Adam/AdamW; the last with
//!   amsgrad).
//!
//! Metadata (strings): `format` = `depthlab.checkpoint/2`, `step` (optimizer
//! steps done), `seed` (the data order of every epoch derives from it and
//! the epoch number, so it is the whole RNG state), `optimizer`, `batch`,
//! the running sums of the current epoch (`epoch_loss_sum` as the f64's
//! bits in hex, `epoch_correct`, `epoch_seen`, `epoch_steps`), `spec` (the
//! effective spec, every flag applied), and `checksum`: FNV-1a 64 over
//! every tensor's bytes in name order and then every other metadata entry
//! (`key\0value\0` in key order), so a corrupted file, tensors or
//! metadata, is refused rather than loaded.
//!
//! A checkpoint resumes only the spec it was written for: the effective
//! specs must match apart from the run's length (`train epochs=`/`steps=`),
//! unless the caller allows a change (`train --allow-spec-change`).

use super::metrics::EpochSums;
use crate::error::Error;
use crate::exec::Executor;
use crate::files::{f32s, read_limited, serialize, write_atomic};
use crate::plan::Buf;
use crate::spec::Spec;
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::path::Path;

/// Version tag of the checkpoint format.
pub const FORMAT: &str = "depthlab.checkpoint/2";

/// The run-time state stored beside the tensors.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Checkpoint {
    pub step: u64,
    pub seed: u64,
    /// Rows per step of the run that wrote it.
    pub batch: u64,
    pub sums: EpochSums,
}

/// Every tensor a checkpoint of `exec` holds: name, buffer, shape.
fn tensors(exec: &Executor) -> Vec<(String, Buf, Vec<usize>)> {
    let plan = exec.plan();
    let mut out = Vec::new();
    for t in plan.param_tensors() {
        let (name, buf, shape) = (t.name, t.param, t.shape);
        let state = plan.params.iter().find(|p| p.param == buf).map(|p| p.state);
        for s in state.into_iter().flatten() {
            let info = plan.buffer(s);
            if info.len > 0 {
                let suffix = info.name.rsplit('.').next().unwrap_or_default();
                out.push((format!("{name}.{suffix}"), s, shape.clone()));
            }
        }
        out.push((name, buf, shape));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Whether every value a checkpoint of `exec` would hold is finite (after
/// a divergence the update before the non-finite loss may already have
/// written NaN or infinity into the weights or the optimizer state).
pub fn finite(exec: &Executor) -> bool {
    tensors(exec)
        .iter()
        .all(|(_, b, _)| exec.buf(*b).iter().all(|v| v.is_finite()))
}

/// FNV-1a, 64 bits: a checksum, not a cryptographic hash.
fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// Continues `hash` over the metadata entries other than `checksum`, in
/// key order.
fn meta_checksum<'m>(hash: u64, meta: impl IntoIterator<Item = (&'m String, &'m String)>) -> u64 {
    let mut entries: Vec<_> = meta.into_iter().filter(|(k, _)| *k != "checksum").collect();
    entries.sort();
    entries.into_iter().fold(hash, |h, (k, v)| {
        let h = fnv1a(fnv1a(h, k.as_bytes()), &[0]);
        fnv1a(fnv1a(h, v.as_bytes()), &[0])
    })
}

/// What a checkpoint must agree with: the effective spec without the
/// run's length, which a resumed run may extend, and without the seed and
/// batch, which [`crate::train::Trainer::resume`] checks with a hint of
/// its own.
fn resumable_as(spec: &Spec) -> String {
    let mut same = spec.clone();
    same.train.epochs = 0;
    same.train.steps = None;
    same.train.seed = 0;
    same.train.batch = 0;
    same.to_string()
}

/// Writes the checkpoint of `exec` to `path`, atomically (temporary file
/// and rename).
pub fn save(path: &Path, exec: &Executor, ck: &Checkpoint, spec: &Spec) -> Result<(), Error> {
    let plan = exec.plan();
    // In name order, the order `load` checks the sum in.
    let tensors: Vec<_> = tensors(exec)
        .into_iter()
        .map(|(name, b, shape)| f32s(name, shape, exec.buf(b)))
        .collect();
    let o = plan.optim.as_ref().expect("a training plan");
    let mut meta = BTreeMap::from([
        ("format".to_owned(), FORMAT.to_owned()),
        ("step".to_owned(), ck.step.to_string()),
        ("seed".to_owned(), ck.seed.to_string()),
        ("optimizer".to_owned(), o.kind.name().to_owned()),
        ("batch".to_owned(), ck.batch.to_string()),
        (
            "epoch_loss_sum".to_owned(),
            format!("{:016x}", ck.sums.loss_sum.to_bits()),
        ),
        ("epoch_correct".to_owned(), ck.sums.correct.to_string()),
        ("epoch_seen".to_owned(), ck.sums.seen.to_string()),
        ("epoch_steps".to_owned(), ck.sums.steps.to_string()),
        ("spec".to_owned(), spec.to_string()),
        ("resumable_as".to_owned(), resumable_as(spec)),
    ]);
    let checksum = tensors.iter().fold(FNV_START, |h, t| fnv1a(h, &t.bytes));
    let checksum = meta_checksum(checksum, &meta);
    meta.insert("checksum".to_owned(), format!("{checksum:016x}"));
    write_atomic(path, &serialize(&tensors, meta)).map_err(Error::writing(path))
}

/// Reads a checkpoint into `exec`, compiled from `spec`: the file must be
/// whole (checksum), written for the same spec (unless `allow_change`),
/// hold exactly the tensors `exec` has, with their shapes, and a
/// consistent state; otherwise nothing is changed and the error says what
/// is wrong.
pub fn load(
    path: &Path,
    exec: &mut Executor,
    spec: &Spec,
    allow_change: bool,
) -> Result<Checkpoint, Error> {
    let list = tensors(exec);
    // No bigger than this network's tensors and a generous header.
    let expected: usize = list.iter().map(|(_, b, _)| 4 * exec.buf(*b).len()).sum();
    let limit = expected as u64 + (16 << 20);
    let data = read_limited(path, limit, "a checkpoint").map_err(|error| Error::Read {
        path: path.to_path_buf(),
        error,
    })?;
    let unreadable = |e| {
        bad(
            path,
            format!("not a readable safetensors file ({e}); truncated or corrupt?"),
        )
    };
    let (_, header) = SafeTensors::read_metadata(&data).map_err(unreadable)?;
    let file = SafeTensors::deserialize(&data).map_err(unreadable)?;
    let meta = Meta {
        path,
        map: header.metadata().clone().unwrap_or_default(),
    };
    let format = meta.get("format")?;
    if format != FORMAT {
        return Err(bad(
            path,
            format!(
                "its format is `{format}`, expected `{FORMAT}` (written by another depthlab version?)"
            ),
        ));
    }
    // The whole file first: a flipped bit anywhere is corruption, not a
    // different spec.
    let mut names: Vec<&str> = file.names();
    names.sort_unstable();
    let mut checksum = FNV_START;
    for name in &names {
        checksum = fnv1a(checksum, file.tensor(name).map_err(unreadable)?.data());
    }
    let checksum = meta_checksum(checksum, &meta.map);
    let expected = meta.get("checksum")?;
    if format!("{checksum:016x}") != expected {
        return Err(bad(
            path,
            format!(
                "its checksum is {checksum:016x}, the file says {expected}: the file is corrupt"
            ),
        ));
    }
    if !allow_change {
        same_spec(path, meta.get("resumable_as")?, &resumable_as(spec))?;
    }
    let kind = exec.plan().optim.as_ref().map_or("", |o| o.kind.name());
    let optimizer = meta.get("optimizer")?;
    if optimizer != kind {
        return Err(bad(
            path,
            format!(
                "it was written by `optim {optimizer}` but this spec trains with `optim {kind}`"
            ),
        ));
    }
    if let Some(extra) = names
        .iter()
        .find(|n| !list.iter().any(|(name, ..)| name == *n))
    {
        return Err(bad(
            path,
            format!(
                "it holds a tensor `{extra}` that this network does not have; was it written for another spec or optimizer settings?"
            ),
        ));
    }
    let loaded = read_tensors(path, &file, &list)?;
    let ck = meta.state()?;
    for (buf, bytes) in loaded {
        for (v, b) in exec.buf_mut(buf).iter_mut().zip(bytes.chunks_exact(4)) {
            *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
    }
    Ok(ck)
}

/// Refuses a checkpoint written for another spec, naming the lines that
/// differ.
fn same_spec(path: &Path, written: &str, this: &str) -> Result<(), Error> {
    if written == this {
        return Ok(());
    }
    let lines = |text: &str| text.split("; ").map(str::to_owned).collect::<Vec<_>>();
    let (was, now) = (lines(written), lines(this));
    let only = |a: &[String], b: &[String]| {
        a.iter()
            .filter(|l| !b.contains(l))
            .map(|l| format!("`{l}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (was_only, now_only) = (only(&was, &now), only(&now, &was));
    let what = match (was_only.is_empty(), now_only.is_empty()) {
        (false, false) => format!("it was written for {was_only} where this spec has {now_only}"),
        (false, true) => format!("it was written with {was_only}, which this spec lacks"),
        (true, false) => format!("this spec has {now_only}, which it was written without"),
        (true, true) => "its spec lists the same lines in another order".to_owned(),
    };
    Err(bad(
        path,
        format!(
            "{what}; resume it with that spec, or pass --allow-spec-change to load its weights into this one"
        ),
    ))
}

fn bad(path: &Path, message: String) -> Error {
    Error::Checkpoint {
        path: path.to_path_buf(),
        message,
    }
}

/// The bytes to load into each buffer.
type Loaded<'f> = Vec<(Buf, &'f [u8])>;

/// Every tensor of `list` from `file`, checked for its shape.
fn read_tensors<'f>(
    path: &Path,
    file: &SafeTensors<'f>,
    list: &[(String, Buf, Vec<usize>)],
) -> Result<Loaded<'f>, Error> {
    let mut loaded = Vec::with_capacity(list.len());
    for (name, buf, shape) in list {
        let t = file.tensor(name).map_err(|_| {
            bad(
                path,
                format!("it has no tensor `{name}`; was it written for another spec or optimizer settings?"),
            )
        })?;
        if t.dtype() != Dtype::F32 || t.shape() != shape.as_slice() {
            return Err(bad(
                path,
                format!(
                    "tensor `{name}` is {:?} {:?}, this spec needs F32 {shape:?}",
                    t.dtype(),
                    t.shape()
                ),
            ));
        }
        loaded.push((*buf, t.data()));
    }
    Ok(loaded)
}

/// A checkpoint's metadata, with errors that name the file.
struct Meta<'a> {
    path: &'a Path,
    map: std::collections::HashMap<String, String>,
}

impl Meta<'_> {
    fn get(&self, key: &str) -> Result<&str, Error> {
        self.map.get(key).map(String::as_str).ok_or_else(|| {
            bad(
                self.path,
                format!("its metadata has no `{key}`; not a depthlab checkpoint?"),
            )
        })
    }

    fn number(&self, key: &str) -> Result<u64, Error> {
        let v = self.get(key)?;
        v.parse().map_err(|_| {
            bad(
                self.path,
                format!("metadata `{key}` is `{v}`, not a whole number"),
            )
        })
    }

    /// The run-time state: step, seed, batch and the epoch's sums.
    fn state(&self) -> Result<Checkpoint, Error> {
        let loss_bits = self.get("epoch_loss_sum")?;
        let loss_sum = u64::from_str_radix(loss_bits, 16)
            .map(f64::from_bits)
            .map_err(|_| {
                bad(
                    self.path,
                    format!("metadata `epoch_loss_sum` is `{loss_bits}`, not 16 hex digits"),
                )
            })?;
        let ck = Checkpoint {
            step: self.number("step")?,
            seed: self.number("seed")?,
            batch: self.number("batch")?,
            sums: EpochSums {
                loss_sum,
                correct: self.number("epoch_correct")?,
                seen: self.number("epoch_seen")?,
                steps: self.number("epoch_steps")?,
            },
        };
        // What the checksum cannot catch: a file written consistently
        // with a wrong state.
        let s = ck.sums;
        let consistent = s.seen == s.steps.saturating_mul(ck.batch)
            && s.correct <= s.seen
            && s.steps <= ck.step
            && s.loss_sum.is_finite()
            && (s.loss_sum >= 0.0 || s.steps == 0);
        if !consistent {
            return Err(bad(
                self.path,
                format!(
                    "its epoch state is inconsistent (loss sum {}, {} right of {} seen in {} steps of {} at step {})",
                    s.loss_sum, s.correct, s.seen, s.steps, ck.batch, ck.step
                ),
            ));
        }
        Ok(ck)
    }
}
