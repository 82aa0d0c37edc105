//! What a training run measures besides the probe statistics: the epoch
//! records (losses and accuracies) and the sums they are made of, which a
//! checkpoint carries so a resumed run reports what an uninterrupted one
//! does.

use crate::dataset::{Dataset, Target};
use crate::spec::LossKind;
use serde::{Deserialize, Serialize};

/// One epoch's results; also a row of `epochs.csv` (empty cells for what
/// was not measured).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based.
    pub epoch: usize,
    /// Optimizer steps done at the end of the epoch.
    pub step: u64,
    /// Learning rate used during the epoch.
    pub lr: f64,
    /// Mean of the epoch's batch losses.
    pub train_loss: f64,
    /// Fraction of the epoch's training examples classified right before
    /// their update (classification losses only).
    pub train_acc: Option<f64>,
    pub test_loss: Option<f64>,
    pub test_acc: Option<f64>,
    /// Wall-clock seconds of the epoch (not part of the results' bits).
    #[serde(serialize_with = "milliseconds")]
    pub seconds: f64,
}

/// Seconds to the millisecond: timings are not results worth 17 digits.
fn milliseconds<S: serde::Serializer>(seconds: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((seconds * 1e3).round() / 1e3)
}

/// The sums an epoch's record is made of, kept across a checkpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EpochSums {
    pub loss_sum: f64,
    pub correct: u64,
    pub seen: u64,
    pub steps: u64,
}

impl EpochSums {
    /// Adds one step's batch: its mean loss, right answers and rows.
    pub fn add(&mut self, loss: f64, correct: u64, rows: u64) {
        self.loss_sum += loss;
        self.correct += correct;
        self.seen += rows;
        self.steps += 1;
    }

    /// Mean of the batch losses so far.
    pub fn mean_loss(&self) -> f64 {
        self.loss_sum / self.steps.max(1) as f64
    }

    /// Fraction right so far.
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.seen.max(1) as f64
    }
}

/// Right answers among the first `rows` examples: cross_entropy the arg-max
/// against the class; bce each output thresholded at 0 against its 0/1
/// target; mse with one-hot targets the arg-max against the target's
/// (regression targets count nothing).
pub fn count_correct(loss: LossKind, out: &[f32], y: &[f32], rows: usize, cols: usize) -> u64 {
    let argmax = |v: &[f32]| {
        v.iter()
            .enumerate()
            .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &x)| {
                if x > bv { (i, x) } else { (bi, bv) }
            })
            .0
    };
    let mut correct = 0;
    for r in 0..rows {
        let o = &out[r * cols..(r + 1) * cols];
        correct += match loss {
            LossKind::CrossEntropy => u64::from(argmax(o) == y[r] as usize),
            LossKind::Bce => {
                let t = &y[r * cols..(r + 1) * cols];
                u64::from(o.iter().zip(t).all(|(&z, &t)| (z > 0.0) == (t > 0.5)))
            }
            LossKind::Mse => {
                let t = &y[r * cols..(r + 1) * cols];
                u64::from(argmax(o) == argmax(t))
            }
        };
    }
    correct
}

/// Whether accuracy means something for `set` under `loss`: class
/// indices, or one-hot / 0-1 rows.
pub fn is_classification(set: &Dataset, loss: LossKind) -> bool {
    match (set.target, loss) {
        (Target::Classes(_), _) => true,
        (Target::Values(_), LossKind::Bce) => true,
        (Target::Values(k), LossKind::Mse) => {
            k > 1
                && set.y.chunks_exact(k).all(|r| {
                    r.iter().all(|&v| v == 0.0 || v == 1.0) && r.iter().sum::<f32>() == 1.0
                })
        }
        (Target::Values(_), LossKind::CrossEntropy) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_per_loss() {
        // Two rows of three outputs: arg-max 2 then 0.
        let out = [0.1, 0.2, 0.9, 0.5, -1.0, 0.3];
        assert_eq!(
            count_correct(LossKind::CrossEntropy, &out, &[2.0, 1.0], 2, 3),
            1
        );
        let one_hot = [0.0, 0.0, 1.0, 1.0, 0.0, 0.0];
        assert_eq!(count_correct(LossKind::Mse, &out, &one_hot, 2, 3), 2);
        // bce: every output's sign must match its 0/1 target.
        let bits = [1.0, 1.0, 1.0, 1.0, 0.0, 1.0];
        assert_eq!(count_correct(LossKind::Bce, &out, &bits, 2, 3), 2);
        assert_eq!(count_correct(LossKind::Bce, &out, &[1.0; 6], 2, 3), 1);
    }

    #[test]
    fn epoch_sums_average_their_steps() {
        let mut s = EpochSums::default();
        s.add(2.0, 3, 4);
        s.add(1.0, 1, 4);
        assert_eq!((s.mean_loss(), s.accuracy(), s.steps), (1.5, 0.5, 2));
        assert_eq!(EpochSums::default().mean_loss(), 0.0);
    }
}
