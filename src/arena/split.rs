//! Whether a training step should hand its split parts to the workers,
//! decided from the times of the steps themselves.
//!
//! Claimed parts keep a late worker from slowing a call down, but not a
//! slow caller: when another busy process shares the caller's core, every
//! step runs at half speed, and a worker spinning on the other core keeps
//! the system from moving the caller there. Measured on a 2-vCPU AMD EPYC
//! (Zen 4) with a busy loop pinned to one core, `depthlab bench --threads
//! 2` took 1.9–2.3× the one-thread time on config D of `bench/peers` (50
//! layers of 128 units) and 1.3–1.6× on B. Running the step on the caller
//! alone lets the workers park and the system schedule the caller on the
//! free core; whether that wins is only known by trying both, so one step
//! in a while runs the other way. (A training step run alone runs the
//! steps of the one-thread plan, `Plan::alone`, which are faster on one
//! thread than the split plan's: see `compile`; a statistics plan runs its
//! own parts in turn.)

/// Steps of each way kept; the decision compares their medians.
const KEEP: usize = 3;
/// A split step must take at most this share of a step on the caller
/// alone to be preferred (equal speed: the caller alone, which leaves a
/// core free).
const MARGIN: f64 = 0.95;
/// Steps between two tries of the other way: the first gap, and the
/// longest (a try that confirms the choice doubles the gap). At 64, a
/// split that is twice as slow costs 1.6 % while the caller runs alone.
const FIRST_GAP: u64 = 8;
const LONGEST_GAP: u64 = 64;

/// The running choice between split steps and steps on the caller alone.
///
/// ```
/// use depthlab::arena::SplitChoice;
/// let mut choice = SplitChoice::new();
/// for _ in 0..20 {
///     let split = choice.split_next();
///     // A split step takes 1 ms, a step on the caller alone 3 ms.
///     choice.record(split, if split { 1e-3 } else { 3e-3 });
/// }
/// assert!(choice.split_next());
/// ```
#[derive(Clone, Debug)]
pub struct SplitChoice {
    /// The last step times (seconds) of each way: `[alone, split]`.
    times: [Recent; 2],
    /// The way chosen from the times.
    prefer_split: bool,
    /// Steps until the other way is tried again.
    until_try: u64,
    gap: u64,
    /// Steps run each way, and their seconds: `[alone, split]`.
    counts: [u64; 2],
    seconds: [f64; 2],
}

/// The last [`KEEP`] values of a series.
#[derive(Clone, Debug, Default)]
struct Recent {
    values: [f64; KEEP],
    len: usize,
    next: usize,
}

impl Recent {
    fn push(&mut self, v: f64) {
        self.values[self.next] = v;
        self.next = (self.next + 1) % KEEP;
        self.len = (self.len + 1).min(KEEP);
    }

    fn full(&self) -> bool {
        self.len == KEEP
    }

    fn median(&self) -> f64 {
        let mut v = self.values;
        let v = &mut v[..self.len];
        v.sort_by(f64::total_cmp);
        v[self.len / 2]
    }
}

impl Default for SplitChoice {
    fn default() -> Self {
        Self::new()
    }
}

impl SplitChoice {
    /// Starts by alternating the two ways until each has `KEEP` times.
    pub fn new() -> Self {
        SplitChoice {
            times: Default::default(),
            prefer_split: true,
            until_try: FIRST_GAP,
            gap: FIRST_GAP,
            counts: [0; 2],
            seconds: [0.0; 2],
        }
    }

    /// Whether the next step should split.
    pub fn split_next(&mut self) -> bool {
        let [alone, split] = &self.times;
        if !(alone.full() && split.full()) {
            // Alternate, split first.
            return split.len <= alone.len;
        }
        if self.until_try == 0 {
            !self.prefer_split
        } else {
            self.prefer_split
        }
    }

    /// Records how long a step took (seconds), split or not, and updates
    /// the choice.
    pub fn record(&mut self, split: bool, seconds: f64) {
        let was_try = self.times[0].full() && self.times[1].full() && split != self.prefer_split;
        self.times[usize::from(split)].push(seconds);
        self.counts[usize::from(split)] += 1;
        self.seconds[usize::from(split)] += seconds;
        let [alone, split_times] = &self.times;
        if !(alone.full() && split_times.full()) {
            return;
        }
        let before = self.prefer_split;
        self.prefer_split = split_times.median() <= MARGIN * alone.median();
        if was_try {
            // A try that confirms the choice waits twice as long for the
            // next; one that changes it starts over.
            self.gap = if self.prefer_split == before {
                (self.gap * 2).min(LONGEST_GAP)
            } else {
                FIRST_GAP
            };
            self.until_try = self.gap;
        } else if self.prefer_split != before {
            self.gap = FIRST_GAP;
            self.until_try = FIRST_GAP;
        } else {
            self.until_try = self.until_try.saturating_sub(1);
        }
    }

    /// Steps run on the caller alone and split, so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.counts[0], self.counts[1])
    }

    /// The seconds those steps took: on the caller alone, split.
    pub fn seconds(&self) -> (f64, f64) {
        (self.seconds[0], self.seconds[1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `steps` steps whose time each way `time(step, split)` gives;
    /// returns the ways taken.
    fn drive(
        choice: &mut SplitChoice,
        steps: usize,
        time: impl Fn(usize, bool) -> f64,
    ) -> Vec<bool> {
        (0..steps)
            .map(|i| {
                let split = choice.split_next();
                choice.record(split, time(i, split));
                split
            })
            .collect()
    }

    #[test]
    fn a_faster_split_is_kept_and_the_caller_alone_tried_ever_less_often() {
        let mut c = SplitChoice::new();
        let ways = drive(&mut c, 1000, |_, split| if split { 1.0 } else { 1.8 });
        // The start alternates: 3 steps each way.
        assert_eq!(&ways[..6], &[true, false, true, false, true, false]);
        let alone: Vec<usize> = (6..1000).filter(|&i| !ways[i]).collect();
        // Tries of the caller alone, gaps doubling to LONGEST_GAP.
        let gaps: Vec<usize> = alone.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(&gaps[..3], &[17, 33, 65]);
        assert!(gaps[3..].iter().all(|&g| g == 65), "{gaps:?}");
        assert_eq!(c.counts().0 as usize, 3 + alone.len());
    }

    #[test]
    fn a_slower_split_is_dropped_and_tried_ever_less_often() {
        let mut c = SplitChoice::new();
        let ways = drive(&mut c, 500, |_, split| if split { 2.0 } else { 1.0 });
        let split_after_start = ways[6..].iter().filter(|&&s| s).count();
        // 494 steps, tries at most every 8, then 16, 32, 64 steps.
        assert!(split_after_start <= 12, "{split_after_start}");
        assert!(!c.split_next());
    }

    #[test]
    fn equal_speeds_leave_the_worker_idle() {
        let mut c = SplitChoice::new();
        drive(&mut c, 100, |_, _| 1.0);
        assert!(!c.split_next());
    }

    #[test]
    fn a_change_of_speed_is_followed_within_a_bounded_number_of_steps() {
        // Split is faster, then (another process takes the caller's core)
        // twice as slow from step 300, then faster again from step 600.
        let mut c = SplitChoice::new();
        let time = |i: usize, split: bool| match (split, (300..600).contains(&i)) {
            (true, false) => 1.0,
            (true, true) => 3.0,
            (false, _) => 1.5,
        };
        let ways = drive(&mut c, 900, time);
        // Two slow split steps move the median: the third runs alone.
        assert!(ways[300..303].iter().filter(|&&s| s).count() <= 2);
        assert!(ways[303..310].iter().all(|&s| !s), "{:?}", &ways[300..310]);
        // Back to split once two tries (≤ LONGEST_GAP + 1 apart) say so.
        let back = (600..900).find(|&i| ways[i..i + 10].iter().all(|&s| s));
        let back = back.expect("split again");
        assert!(
            back - 600 <= 2 * (LONGEST_GAP as usize + 1),
            "back at {back}"
        );
    }

    #[test]
    fn one_outlier_does_not_flip_the_choice() {
        let mut c = SplitChoice::new();
        let ways = drive(&mut c, 200, |i, split| match (split, i) {
            (true, 100) => 50.0,
            (true, _) => 1.0,
            (false, _) => 2.0,
        });
        assert!(ways[101..110].iter().all(|&s| s));
    }
}
