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
//! free core; whether that wins is only known by trying both, so two steps
//! in a while run the other way. (A training step run alone runs the steps
//! of the one-thread plan, `Plan::alone`, which are faster on one thread
//! than the split plan's: see `compile`; a statistics plan runs its own
//! parts in turn.)
//!
//! Only the second of those two counts: the first step after a change of
//! way pays for the change (a parked worker woken; the W, x and δ the
//! other way left in one core's cache fetched by the other). On an Intel
//! Xeon (Sapphire Rapids, 2 vCPUs), config D forced through runs of 8
//! steps each way: the first split step of a run took 2803 µs (median of
//! 58), the later ones 2338–2380; the first alone 2824, the later ones
//! 2665–2773. Timed by such first steps, the split lost to the caller
//! alone for good in 3 of 8 runs of `bench --threads 2` (split on 3–52 of
//! 200 steps, 2626–2663 µs a step against 2162–2263 in the runs that
//! split); counting second steps, in 1 of 8, whose split steps were
//! slower indeed at first (3207–3261 µs against 2700–2900 alone, then
//! faster after 270 steps, and split again).

/// Steps of each way kept; the decision compares their medians.
const KEEP: usize = 3;
/// A split step must take at most this share of a step on the caller
/// alone to be preferred (equal speed: the caller alone, which leaves a
/// core free).
const MARGIN: f64 = 0.95;
/// Steps between two tries of the other way: the first gap, and the
/// longest (a try that confirms the choice doubles the gap). At 128, a
/// split that is twice as slow costs 1.5 % while the caller runs alone
/// (a try is two steps).
const FIRST_GAP: u64 = 8;
const LONGEST_GAP: u64 = 128;

/// The running choice between split steps and steps on the caller alone.
///
/// ```
/// use depthlab::arena::SplitChoice;
/// let mut choice = SplitChoice::new();
/// for _ in 0..100 {
///     let split = choice.split_next();
///     // A split step takes 1 ms, a step on the caller alone 3 ms.
///     choice.record(split, if split { 1e-3 } else { 3e-3 });
/// }
/// // The caller alone ran the start's steps and a few tries.
/// let (alone, split) = choice.counts();
/// assert!(split > 6 * alone, "{alone} alone, {split} split");
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
    /// The way of the last step, if the choice saw it (`None` at the start
    /// and after a step it must not learn from).
    last: Option<bool>,
    /// The way the next step must take: the last one changed way, and its
    /// time was not kept.
    again: Option<bool>,
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
            last: None,
            again: None,
        }
    }

    /// Whether the next step should split.
    pub fn split_next(&mut self) -> bool {
        if let Some(way) = self.again {
            return way;
        }
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
    /// the choice; the first step of a run of one way is counted, but its
    /// time is not kept (see the module's doc).
    pub fn record(&mut self, split: bool, seconds: f64) {
        self.counts[usize::from(split)] += 1;
        self.seconds[usize::from(split)] += seconds;
        let changed = self.last != Some(split);
        self.last = Some(split);
        // A step that changed way is not kept; the next one goes the same way.
        self.again = changed.then_some(split);
        if changed {
            return;
        }
        let was_try = self.times[0].full() && self.times[1].full() && split != self.prefer_split;
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

    /// A step ran that the choice must not learn from (on the caller alone
    /// while the other cores did other work): the next step, either way,
    /// starts a new run of its way, and its time is not kept.
    pub fn skip(&mut self) {
        self.last = None;
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

    /// The runs of one way in `ways[from..]`: (first step, length).
    fn runs_of(ways: &[bool], way: bool, from: usize) -> Vec<(usize, usize)> {
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for i in (from..ways.len()).filter(|&i| ways[i] == way) {
            match runs.last_mut() {
                Some((start, len)) if *start + *len == i => *len += 1,
                _ => runs.push((i, 1)),
            }
        }
        runs
    }

    #[test]
    fn a_faster_split_is_kept_and_the_caller_alone_tried_ever_less_often() {
        let mut c = SplitChoice::new();
        let ways = drive(&mut c, 1000, |_, split| if split { 1.0 } else { 1.8 });
        // The start alternates, two steps a way (the first not kept), until
        // each way has 3 kept.
        let start = [true, true, false, false];
        assert_eq!(&ways[..12], &start.repeat(3)[..]);
        // Tries of the caller alone, two steps each, their gaps doubling
        // to LONGEST_GAP (kept steps, plus a try and a change back).
        let tries = runs_of(&ways, false, 12);
        assert!(tries.iter().all(|&(_, len)| len == 2), "{tries:?}");
        let gaps: Vec<usize> = tries.windows(2).map(|w| w[1].0 - w[0].0).collect();
        assert_eq!(&gaps[..4], &[19, 35, 67, 131]);
        assert!(gaps[4..].iter().all(|&g| g == 131), "{gaps:?}");
        assert_eq!(c.counts().0 as usize, 6 + 2 * tries.len());
    }

    #[test]
    fn a_slower_split_is_dropped_and_tried_ever_less_often() {
        let mut c = SplitChoice::new();
        let ways = drive(&mut c, 500, |_, split| if split { 2.0 } else { 1.0 });
        // Tries of two steps, 8, 16, 32, 64 and 128 kept steps apart.
        let tries = runs_of(&ways, true, 12);
        assert!(tries.iter().all(|&(_, len)| len == 2), "{tries:?}");
        assert!(tries.len() <= 6, "{tries:?}");
        assert!(!c.split_next());
    }

    /// The first step after a change of way pays for the change (here 3×
    /// a split step, a little more for the caller alone), and is not
    /// taken for the way's speed: the faster split is found and kept.
    #[test]
    fn the_step_after_a_change_of_way_is_not_taken_for_its_speed() {
        let mut c = SplitChoice::new();
        let mut last = None;
        let mut split_steps = 0;
        for _ in 0..1000 {
            let split = c.split_next();
            let changed = last != Some(split);
            let seconds = match (split, changed) {
                (true, false) => 1.0,
                (true, true) => 3.0,
                (false, false) => 1.5,
                (false, true) => 1.6,
            };
            c.record(split, seconds);
            last = Some(split);
            split_steps += usize::from(split);
        }
        assert!(split_steps > 950, "{split_steps} of 1000 split");
        assert!(c.split_next());
    }

    /// A step the choice is told to skip (run while held unsplit) is not
    /// kept, nor the next one, which may change way.
    #[test]
    fn a_skipped_step_and_the_one_after_are_not_kept() {
        let mut c = SplitChoice::new();
        drive(&mut c, 100, |_, split| if split { 1.0 } else { 2.0 });
        let before = c.times.clone();
        c.skip();
        let split = c.split_next();
        c.record(split, 50.0);
        assert_eq!(
            c.times[usize::from(split)].values,
            before[usize::from(split)].values
        );
        assert_eq!(c.split_next(), split, "the next step goes the same way");
        c.record(split, 50.0);
        assert!(c.times[usize::from(split)].values.contains(&50.0));
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
        // Back to split once two tries (≤ LONGEST_GAP + 3 steps apart: the
        // kept steps, the try's two and the change back) say so.
        let back = (600..900).find(|&i| ways[i..i + 10].iter().all(|&s| s));
        let back = back.expect("split again");
        assert!(
            back - 600 <= 2 * (LONGEST_GAP as usize + 3),
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
