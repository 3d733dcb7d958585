//! The adaptive bound on requests in flight: additive increase while the
//! upstream answers at its usual latency and the bound is in use,
//! multiplicative decrease when its recent latency rises well above its
//! unloaded latency (queueing) or it fails, at most once per window of
//! requests, as TCP does once per round trip.
//!
//! The recent latency (a moving average of the last answers) is compared
//! with the unloaded latency: the lowest mean latency of the windows of
//! 256 answers seen over the last 1024 windows. Window means, not single
//! answers: one fast answer (a 404, a health check) does not pin the
//! baseline, and an upstream whose endpoints differ in latency is judged by
//! its usual mix. The lowest over a long span: an overload, whose answers
//! are all slow, does not teach it, and a lasting change of the upstream is
//! learned once the span has passed (262,144 answers).
//!
//! A pure state machine, counted in answers (no time of its own): it is fed
//! each finished request's latency and the number in flight.

use std::collections::VecDeque;
use std::time::Duration;

/// On congestion the bound is multiplied by `tolerance × unloaded /
/// recent` (how far latency is past the threshold), kept within these.
const DECREASE: (f64, f64) = (0.5, 0.9);
/// Recent latency within this of the unloaded latency is never congestion
/// (loopback answers jitter by more than twice a 50 µs baseline).
const SLACK: f64 = 0.001;
/// Weight of an answer in the recent average.
const RECENT: f64 = 1.0 / 16.0;
/// Answers per window.
const WINDOW: u32 = 256;
/// Windows whose lowest mean is the unloaded latency.
const WINDOWS: usize = 1024;

/// The controller's state.
#[derive(Clone, Debug)]
pub struct Aimd {
    limit: f64,
    min: f64,
    max: f64,
    tolerance: f64,
    /// Recent average latency, seconds (`None`: no answer yet).
    recent: Option<f64>,
    /// Answers seen (the recent average is a plain mean of the first
    /// ones).
    answers: u64,
    /// The window being filled: sum of latencies and answers.
    window: (f64, u32),
    /// Means of the last windows, seconds.
    means: VecDeque<f64>,
    /// Samples still to come from requests already in flight at the last
    /// decrease; they saw the old bound and must not lower it again.
    cooldown: usize,
    /// Before the first congestion the bound doubles per window in use
    /// (slow start, as TCP); after it, it grows by one per window.
    slow_start: bool,
}

impl Aimd {
    /// Starts at four times `min` (at most `max`) and grows while the
    /// bound is in use and the upstream keeps its latency: an overload
    /// that arrives at once meets a bound near the upstream's pace, not
    /// `max`.
    pub fn new(min: usize, max: usize, tolerance: f64) -> Aimd {
        Aimd {
            limit: (4 * min).clamp(min.max(1), max) as f64,
            min: min as f64,
            max: max as f64,
            tolerance,
            recent: None,
            answers: 0,
            window: (0.0, 0),
            means: VecDeque::with_capacity(WINDOWS),
            cooldown: 0,
            slow_start: true,
        }
    }

    /// The bound in force.
    pub fn limit(&self) -> usize {
        self.limit as usize
    }

    /// The unloaded latency learned so far: the lowest window mean, or
    /// the mean of the answers so far before the first window is full.
    pub fn baseline(&self) -> Option<Duration> {
        self.unloaded().map(Duration::from_secs_f64)
    }

    fn unloaded(&self) -> Option<f64> {
        let lowest = self.means.iter().copied().reduce(f64::min);
        match (lowest, self.window) {
            (Some(m), _) => Some(m),
            (None, (_, 0)) => None,
            (None, (sum, n)) => Some(sum / n as f64),
        }
    }

    /// One request finished after `latency` (to its response headers), or
    /// `failed` (timed out or could not connect), with `in_flight` still in
    /// flight. Returns the new bound.
    pub fn on_sample(&mut self, latency: Duration, failed: bool, in_flight: usize) -> usize {
        let mut factor = DECREASE.1;
        let congested = failed || {
            let l = latency.as_secs_f64();
            self.answers = self.answers.saturating_add(1);
            let weight = RECENT.max(1.0 / self.answers as f64);
            let recent = match self.recent {
                None => l,
                Some(r) => r + (l - r) * weight,
            };
            self.recent = Some(recent);
            self.window.0 += l;
            self.window.1 += 1;
            if self.window.1 == WINDOW {
                if self.means.len() == WINDOWS {
                    self.means.pop_front();
                }
                self.means.push_back(self.window.0 / WINDOW as f64);
                self.window = (0.0, 0);
            }
            let unloaded = self.unloaded().unwrap_or(l);
            factor = (self.tolerance * unloaded / recent).clamp(DECREASE.0, DECREASE.1);
            recent > unloaded * self.tolerance && recent > unloaded + SLACK
        };
        self.cooldown = self.cooldown.saturating_sub(1);
        if congested {
            if self.cooldown == 0 {
                self.limit = (self.limit * factor).max(self.min);
                self.cooldown = in_flight.max(1);
                self.slow_start = false;
            }
        } else if in_flight as f64 + 1.0 >= self.limit / 2.0 {
            // In use: one more per timely answer in slow start, else one
            // more per bound's worth of them.
            let step = if self.slow_start {
                1.0
            } else {
                1.0 / self.limit
            };
            self.limit = (self.limit + step).min(self.max);
        }
        self.limit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Duration = Duration::from_millis(10);
    const SLOW: Duration = Duration::from_millis(60);

    /// A controller that has learned a 10 ms upstream while idle.
    fn learned(min: usize, max: usize) -> Aimd {
        let mut a = Aimd::new(min, max, 2.0);
        for _ in 0..1000 {
            a.on_sample(FAST, false, 0);
        }
        a
    }

    #[test]
    fn slow_answers_lower_the_bound_once_per_window() {
        let mut a = learned(250, 1000);
        assert_eq!(a.limit(), 1000);
        // The recent average needs a few slow answers to rise; then the
        // bound drops, by 10% while latency is just past the threshold,
        // and the 99 others that were in flight with that answer do not
        // lower it again.
        let mut n = 0;
        while a.on_sample(SLOW, false, 100) == 1000 {
            n += 1;
            assert!(n < 50, "never lowered");
        }
        assert_eq!(a.limit(), 900);
        for _ in 0..99 {
            assert_eq!(a.on_sample(SLOW, false, 100), 900);
        }
        // Far past it (60 ms against 2 x 10 ms), the next window halves it
        // at most.
        assert_eq!(a.on_sample(SLOW, false, 100), 450);
    }

    #[test]
    fn it_starts_low_and_doubles_per_window_until_the_first_congestion() {
        let mut a = learned(16, 1024);
        assert_eq!(a.limit(), 64);
        // In use and timely: one more per answer.
        for _ in 0..64 {
            let n = a.limit();
            a.on_sample(FAST, false, n);
        }
        assert_eq!(a.limit(), 128);
        // After a congestion, one more per window.
        while a.on_sample(SLOW, false, 128) >= 128 {}
        let after = a.limit();
        for _ in 0..2_000 {
            a.on_sample(FAST, false, after);
        }
        assert!(a.limit() < after + 20, "{} from {after}", a.limit());
    }

    #[test]
    fn the_bound_never_leaves_its_range() {
        let mut a = learned(16, 64);
        for _ in 0..10_000 {
            a.on_sample(SLOW, true, 0);
        }
        assert_eq!(a.limit(), 16);
        for _ in 0..100_000 {
            a.on_sample(FAST, false, 64);
        }
        assert_eq!(a.limit(), 64);
    }

    #[test]
    fn it_grows_back_only_while_in_use() {
        let mut a = learned(10, 200);
        for _ in 0..2_000 {
            a.on_sample(SLOW, false, 0);
        }
        let low = a.limit();
        assert!(low < 50, "{low}");
        // Idle: answers are fast but nobody needs a higher bound.
        for _ in 0..10_000 {
            a.on_sample(FAST, false, 1);
        }
        assert_eq!(a.limit(), low);
        // Busy and fast: it climbs back.
        for _ in 0..10_000 {
            let n = a.limit();
            a.on_sample(FAST, false, n);
        }
        assert!(a.limit() > 2 * low, "{} after {low}", a.limit());
    }

    #[test]
    fn failures_count_as_congestion_and_teach_nothing() {
        let mut a = Aimd::new(25, 100, 2.0);
        // A failure first: no latency is learned from it.
        assert_eq!(a.on_sample(Duration::from_micros(100), true, 0), 90);
        assert_eq!(a.baseline(), None);
        a.on_sample(FAST, false, 0);
        assert_eq!(a.baseline(), Some(FAST));
    }

    #[test]
    fn one_fast_answer_does_not_pin_the_baseline() {
        let mut a = Aimd::new(16, 1000, 2.0);
        // A 0.1 ms answer (a 404, say), then a steady 20 ms endpoint.
        a.on_sample(Duration::from_micros(100), false, 0);
        for _ in 0..5_000 {
            let n = a.limit();
            a.on_sample(Duration::from_millis(20), false, n / 2);
        }
        assert!(a.limit() > 500, "stuck at {}", a.limit());
    }

    #[test]
    fn a_mix_of_fast_and_slow_endpoints_is_no_congestion() {
        let mut a = Aimd::new(16, 1000, 2.0);
        for i in 0..20_000 {
            let l = if i % 4 == 0 { 40 } else { 2 };
            let n = a.limit();
            a.on_sample(Duration::from_millis(l), false, n / 2);
        }
        assert_eq!(a.limit(), 1000);
    }

    #[test]
    fn tiny_latencies_within_the_slack_are_not_congestion() {
        let mut a = Aimd::new(25, 100, 2.0);
        a.on_sample(Duration::from_micros(50), false, 0);
        for _ in 0..100 {
            assert_eq!(a.on_sample(Duration::from_micros(400), false, 0), 100);
        }
    }

    #[test]
    fn an_overload_does_not_teach_the_baseline_but_a_lasting_change_does() {
        let mut a = learned(1, 100);
        // 20,000 slow answers (an overload): the lowest window is still
        // the unloaded one.
        for _ in 0..20_000 {
            a.on_sample(Duration::from_millis(40), false, 100);
        }
        assert_eq!(a.baseline(), Some(FAST));
        // A lasting change outlives every window that remembers 10 ms.
        for _ in 0..(WINDOW as usize * WINDOWS) {
            a.on_sample(Duration::from_millis(15), false, 5);
        }
        let b = a.baseline().unwrap();
        assert!(b > Duration::from_millis(14), "{b:?}");
        // And 25 ms is now no congestion.
        let before = a.limit();
        assert!(a.on_sample(Duration::from_millis(25), false, 100) >= before);
    }
}
