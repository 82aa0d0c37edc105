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
//! free core; whether that wins is only known by trying both, so now and
//! then two steps run the other way. Only the second is compared: a step
//! right after a change of way pays for the change (a parked worker's
//! wake-up, caches filled for the other way). On a 2-vCPU Intel Xeon
//! (KVM) comparing every step kept config B on the caller alone at 1.6×
//! the time of split steps, since every split step timed was such a
//! first. (A training step run alone runs the steps of the one-thread
//! plan, `Plan::alone`, which are faster on one thread than the split
//! plan's: see `compile`; a statistics plan runs its own parts in turn.)

/// Steps of each way kept; the decision compares their medians.
const KEEP: usize = 3;
/// A split step must take at most this share of a step on the caller
/// alone to be preferred (equal speed: the caller alone, which leaves a
/// core free).
const MARGIN: f64 = 0.95;
/// Steps between two tries of the other way: the first gap, and the
/// longest (a try that confirms the choice doubles the gap). At 64, a
/// split that is twice as slow costs 3 % while the caller runs alone (a
/// try is two steps).
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
    /// The way the last step ran, if any.
    previous: Option<bool>,
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
    /// Starts by running split, then alone, until each way has [`KEEP`]
    /// times of steps after a step of the same way.
    pub fn new() -> Self {
        SplitChoice {
            times: Default::default(),
            prefer_split: true,
            until_try: FIRST_GAP,
            gap: FIRST_GAP,
            counts: [0; 2],
            seconds: [0.0; 2],
            previous: None,
        }
    }

    /// Whether the next step should split.
    pub fn split_next(&mut self) -> bool {
        let [alone, split] = &self.times;
        if !(alone.full() && split.full()) {
            // Split first, each way until it has its times.
            return !split.full();
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
        self.counts[usize::from(split)] += 1;
        self.seconds[usize::from(split)] += seconds;
        if self.previous.replace(split) != Some(split) {
            // The first step of a way: not compared (nor counted down).
            return;
        }
        self.times[usize::from(split)].push(seconds);
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

    /// Notes a step run `split` (or not) whose time is not for the
    /// choice: the next step's way is compared with it.
    pub fn ran_untimed(&mut self, split: bool) {
        self.previous = Some(split);
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

    /// The first step of each run of steps taken `way` after the start
    /// (8 steps: a first step and 3 timed ones each way), and each run's
    /// length.
    fn runs(ways: &[bool], way: bool) -> Vec<(usize, usize)> {
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for (i, &w) in ways.iter().enumerate().skip(8) {
            if w == way {
                match runs.last_mut() {
                    Some((start, len)) if *start + *len == i => *len += 1,
                    _ => runs.push((i, 1)),
                }
            }
        }
        runs
    }

    #[test]
    fn a_faster_split_is_kept_and_the_caller_alone_tried_ever_less_often() {
        let mut c = SplitChoice::new();
        let ways = drive(&mut c, 1000, |_, split| if split { 1.0 } else { 1.8 });
        // The start: 4 steps split, then 4 alone.
        assert_eq!(
            &ways[..8],
            &[true, true, true, true, false, false, false, false]
        );
        let tries = runs(&ways, false);
        // Each try of the caller alone is two steps (the second timed);
        // the gaps double to LONGEST_GAP steps timed split, plus the try
        // and the first split step after it.
        assert!(tries.iter().all(|&(_, len)| len == 2), "{tries:?}");
        let gaps: Vec<usize> = tries.windows(2).map(|w| w[1].0 - w[0].0).collect();
        assert_eq!(&gaps[..3], &[19, 35, 67], "{tries:?}");
        assert!(gaps[3..].iter().all(|&g| g == 67), "{gaps:?}");
        assert_eq!(c.counts().0 as usize, 4 + 2 * tries.len());
    }

    #[test]
    fn a_slower_split_is_dropped_and_tried_ever_less_often() {
        let mut c = SplitChoice::new();
        let ways = drive(&mut c, 500, |_, split| if split { 2.0 } else { 1.0 });
        let tries = runs(&ways, true);
        assert!(tries.iter().all(|&(_, len)| len == 2), "{tries:?}");
        let gaps: Vec<usize> = tries.windows(2).map(|w| w[1].0 - w[0].0).collect();
        assert_eq!(&gaps[..3], &[19, 35, 67], "{tries:?}");
        assert!(!c.split_next());
    }

    #[test]
    fn the_first_step_of_a_way_is_not_compared() {
        // Split steps are slow for 100 steps (another process), so the
        // caller runs alone; then a split step after a step alone pays 3×
        // for the change (a parked worker's wake-up, cold caches) and one
        // after a split step is faster than the caller alone. The tries
        // must find it: split again within two of the longest gaps.
        let mut c = SplitChoice::new();
        let previous = std::cell::Cell::new(None);
        let ways = drive(&mut c, 400, |i, split| {
            match (split, previous.replace(Some(split))) {
                (true, _) if i < 100 => 3.0,
                (true, Some(false)) => 3.0,
                (true, _) => 1.0,
                (false, _) => 1.5,
            }
        });
        assert!(ways[90..100].iter().all(|&s| !s), "{:?}", &ways[90..100]);
        let back = (100..390).find(|&i| ways[i..i + 10].iter().all(|&s| s));
        let back = back.expect("split again");
        assert!(
            back - 100 <= 2 * (LONGEST_GAP as usize + 3),
            "back at {back}"
        );
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
