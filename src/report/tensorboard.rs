//! `train --tensorboard DIR`: TensorBoard event files (`tensorboard --logdir
//! DIR` opens them). Scalars per epoch (`loss/train`, `loss/test`,
//! `accuracy/train`, `accuracy/test`, `lr`) and per probe measurement
//! (`layer3/delta_std`, `layer3/update_ratio`, `layer3/dead_fraction`,
//! `layer3/saturated_fraction`, `hidden_factor`, `probe_loss`), and
//! histograms per layer (`layer3/activations`, `layer3/delta`,
//! `layer3/weights`), named the way PyTorch users name them.
//!
//! The format: a file of records, each `u64` length (little-endian), the
//! masked CRC-32C of those 8 bytes, the data, the masked CRC-32C of the
//! data; each record's data is an `Event` protocol buffer (TensorFlow's
//! `event.proto` / `summary.proto`, the fields used here declared below
//! with prost). The first event holds the file version `brain.Event:2`.

use crate::files::LineFile;
use crate::graph::Graph;
use crate::stats::{HIST_BINS, LayerStats, NetworkStats};
use crate::train::{EpochRecord, StatsRecord};
use depthlab_kernels::reduce::Moments;
use prost::Message;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// tensorflow.Event, the fields written here.
#[derive(Clone, PartialEq, Message)]
pub struct Event {
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    #[prost(int64, tag = "2")]
    pub step: i64,
    #[prost(oneof = "What", tags = "3, 5")]
    pub what: Option<What>,
}

/// What an event holds.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum What {
    #[prost(string, tag = "3")]
    FileVersion(String),
    #[prost(message, tag = "5")]
    Summary(Summary),
}

/// tensorflow.Summary.
#[derive(Clone, PartialEq, Message)]
pub struct Summary {
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<SummaryValue>,
}

/// tensorflow.Summary.Value: a tag and a scalar or a histogram.
#[derive(Clone, PartialEq, Message)]
pub struct SummaryValue {
    #[prost(string, tag = "1")]
    pub tag: String,
    #[prost(oneof = "Kind", tags = "2, 5")]
    pub kind: Option<Kind>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Kind {
    #[prost(float, tag = "2")]
    SimpleValue(f32),
    #[prost(message, tag = "5")]
    Histo(HistogramProto),
}

/// tensorflow.HistogramProto: bucket i counts the values in
/// (bucket_limit\[i-1\], bucket_limit\[i\]\].
#[derive(Clone, PartialEq, Message)]
pub struct HistogramProto {
    #[prost(double, tag = "1")]
    pub min: f64,
    #[prost(double, tag = "2")]
    pub max: f64,
    #[prost(double, tag = "3")]
    pub num: f64,
    #[prost(double, tag = "4")]
    pub sum: f64,
    #[prost(double, tag = "5")]
    pub sum_squares: f64,
    #[prost(double, repeated, tag = "6")]
    pub bucket_limit: Vec<f64>,
    #[prost(double, repeated, tag = "7")]
    pub bucket: Vec<f64>,
}

/// TensorFlow's masked CRC-32C of a record's parts.
pub fn masked_crc(bytes: &[u8]) -> u32 {
    let crc = crc32c::crc32c(bytes);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// One framed record: length, its CRC, the data, its CRC.
pub fn record(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
    out
}

fn scalar(tag: String, v: f64) -> SummaryValue {
    SummaryValue {
        tag,
        kind: Some(Kind::SimpleValue(v as f32)),
    }
}

/// A histogram of `counts` over the equal bins of [lo, hi], with the
/// moments of all the values.
fn histogram(tag: String, counts: &[u64], (lo, hi): (f64, f64), s: &Moments) -> SummaryValue {
    let width = (hi - lo) / counts.len().max(1) as f64;
    let histo = HistogramProto {
        min: s.min,
        max: s.max,
        num: s.count as f64,
        sum: s.mean * s.count as f64,
        sum_squares: s.sq_sum,
        bucket_limit: (1..=counts.len()).map(|i| lo + i as f64 * width).collect(),
        bucket: counts.iter().map(|&c| c as f64).collect(),
    };
    SummaryValue {
        tag,
        kind: Some(Kind::Histo(histo)),
    }
}

/// An event file being written (appended one whole record at a time).
pub struct EventFile {
    file: LineFile,
}

impl EventFile {
    /// A new event file in `dir` (created if missing), named as TensorBoard
    /// expects (`events.out.tfevents.<seconds>.<host>`), started with the
    /// file-version event. A resumed run adds a new file beside the old.
    pub fn create(dir: &Path) -> io::Result<EventFile> {
        std::fs::create_dir_all(dir)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let name = format!(
            "events.out.tfevents.{}.depthlab.{}",
            now.as_secs(),
            std::process::id()
        );
        let mut f = EventFile {
            file: LineFile::open(dir.join(name), false, "")?,
        };
        f.write(0, What::FileVersion("brain.Event:2".into()))?;
        Ok(f)
    }

    pub fn path(&self) -> PathBuf {
        self.file.path().to_path_buf()
    }

    fn write(&mut self, step: u64, what: What) -> io::Result<()> {
        let wall_time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let event = Event {
            wall_time,
            step: step as i64,
            what: Some(what),
        };
        self.file.write_bytes(&record(&event.encode_to_vec()))
    }

    fn summary(&mut self, step: u64, value: Vec<SummaryValue>) -> io::Result<()> {
        self.write(step, What::Summary(Summary { value }))
    }

    /// An epoch's losses, accuracies and learning rate, at its last step.
    pub fn epoch(&mut self, r: &EpochRecord) -> io::Result<()> {
        let mut v = vec![
            scalar("loss/train".into(), r.train_loss),
            scalar("lr".into(), r.lr),
        ];
        let optional = [
            ("loss/test", r.test_loss),
            ("accuracy/train", r.train_acc),
            ("accuracy/test", r.test_acc),
        ];
        v.extend(
            optional
                .into_iter()
                .filter_map(|(t, x)| x.map(|x| scalar(t.into(), x))),
        );
        self.summary(r.step, v)
    }

    /// A probe measurement: per layer scalars and histograms.
    pub fn stats(&mut self, graph: &Graph, r: &StatsRecord) -> io::Result<()> {
        let mut v = vec![scalar("probe_loss".into(), r.stats.loss)];
        if let Some(f) = r.stats.hidden_factor() {
            v.push(scalar("hidden_factor".into(), f));
        }
        for (i, (l, s)) in graph.layers.iter().zip(&r.stats.layers).enumerate() {
            let name = format!("layer{}", l.index);
            v.extend(layer_scalars(
                &name,
                l.units,
                s,
                r.update_ratio.map(|u| u[i]),
            ));
            v.extend(layer_histograms(&name, s, r.stats));
        }
        self.summary(r.step, v)
    }
}

fn layer_scalars(
    name: &str,
    units: usize,
    s: &LayerStats,
    update: Option<f64>,
) -> Vec<SummaryValue> {
    let mut v = vec![
        scalar(format!("{name}/delta_std"), s.delta.std()),
        scalar(format!("{name}/activation_mean"), s.a.mean),
        scalar(format!("{name}/weight_norm"), s.w.norm()),
    ];
    if let Some(u) = update {
        v.push(scalar(format!("{name}/update_ratio"), u));
    }
    if let Some(d) = s.dead {
        v.push(scalar(
            format!("{name}/dead_fraction"),
            d as f64 / units.max(1) as f64,
        ));
    }
    if let Some(sat) = s.saturated {
        v.push(scalar(format!("{name}/saturated_fraction"), sat));
    }
    v
}

/// The layer's activation, δ and weight histograms. The activation and δ
/// ones leave exact zeros out of their bins (as `stats` does): those go
/// into one more bucket at 0, so every value is counted.
fn layer_histograms(name: &str, s: &LayerStats, net: &NetworkStats) -> Vec<SummaryValue> {
    let with_zeros = |counts: &[u64; HIST_BINS], zeros: u64, (lo, hi): (f64, f64)| {
        let mut bins = counts.to_vec();
        let width = (hi - lo) / HIST_BINS as f64;
        let zero_bin = ((0.0 - lo) / width)
            .floor()
            .clamp(0.0, (HIST_BINS - 1) as f64) as usize;
        bins[zero_bin] += zeros;
        bins
    };
    let r = net.hist_range;
    vec![
        histogram(
            format!("{name}/activations"),
            &with_zeros(&s.act_hist, s.act_zeros, net.act_range),
            net.act_range,
            &s.a,
        ),
        histogram(
            format!("{name}/delta"),
            &with_zeros(&s.hist, s.delta_zeros, (-r, r)),
            (-r, r),
            &s.delta,
        ),
        histogram(
            format!("{name}/weights"),
            &s.w_hist,
            (s.w.min, s.w.max),
            &s.w,
        ),
    ]
}
