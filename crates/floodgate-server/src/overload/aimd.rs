//! The adaptive bound on requests in flight: additive increase while the
//! upstream answers at its unloaded latency and the bound is in use,
//! multiplicative decrease when it slows down (queueing) or fails, at most
//! once per window of requests, as TCP does once per round trip.
//!
//! A pure state machine: it is fed each finished request's latency and the
//! number in flight, and takes no time of its own.

use std::time::Duration;

/// Lower the bound by this factor on congestion.
const DECREASE: f64 = 0.9;
/// Latency below this is never congestion, however low the baseline
/// (loopback answers jitter by more than twice a 50 µs baseline).
const SLACK: Duration = Duration::from_millis(1);
/// How fast the baseline follows latencies above it (per sample taken
/// while the bound is not in use), so that a lasting change of the
/// upstream is learned. Under load the baseline only goes down: samples
/// that include queueing must not teach it.
const DRIFT: f64 = 1.0 / 1024.0;

/// The controller's state.
#[derive(Clone, Debug)]
pub struct Aimd {
    limit: f64,
    min: f64,
    max: f64,
    tolerance: f64,
    /// The upstream's unloaded latency, seconds (`None`: no sample yet).
    baseline: Option<f64>,
    /// Samples still to come from requests already in flight at the last
    /// decrease; they saw the old bound and must not lower it again.
    cooldown: usize,
}

impl Aimd {
    /// Starts at `max` (generous: it only comes down when the upstream
    /// slows down).
    pub fn new(min: usize, max: usize, tolerance: f64) -> Aimd {
        Aimd {
            limit: max as f64,
            min: min as f64,
            max: max as f64,
            tolerance,
            baseline: None,
            cooldown: 0,
        }
    }

    /// The bound in force.
    pub fn limit(&self) -> usize {
        self.limit as usize
    }

    /// The unloaded latency learned so far.
    pub fn baseline(&self) -> Option<Duration> {
        self.baseline.map(Duration::from_secs_f64)
    }

    /// One request finished after `latency` (to its response headers), or
    /// `failed` (timed out or could not connect), with `in_flight` still in
    /// flight. Returns the new bound.
    pub fn on_sample(&mut self, latency: Duration, failed: bool, in_flight: usize) -> usize {
        let l = latency.as_secs_f64();
        let base = *self.baseline.get_or_insert(l);
        let congested = failed
            || (l > base * self.tolerance && latency > SLACK + Duration::from_secs_f64(base));
        let in_use = in_flight as f64 + 1.0 >= self.limit / 2.0;
        if !failed {
            if l < base {
                self.baseline = Some(l);
            } else if !congested && !in_use {
                self.baseline = Some(base + (l - base) * DRIFT);
            }
        }
        self.cooldown = self.cooldown.saturating_sub(1);
        if congested {
            if self.cooldown == 0 {
                self.limit = (self.limit * DECREASE).max(self.min);
                self.cooldown = in_flight.max(1);
            }
        } else if in_use {
            // In use: one more per bound's worth of good answers.
            self.limit = (self.limit + 1.0 / self.limit).min(self.max);
        }
        self.limit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Duration = Duration::from_millis(10);
    const SLOW: Duration = Duration::from_millis(40);

    #[test]
    fn slow_answers_lower_the_bound_once_per_window() {
        let mut a = Aimd::new(16, 1000, 2.0);
        a.on_sample(FAST, false, 500);
        assert_eq!(a.limit(), 1000);
        // The first slow answer lowers it; the 99 others that were in
        // flight with it do not.
        assert_eq!(a.on_sample(SLOW, false, 100), 900);
        for _ in 0..99 {
            assert_eq!(a.on_sample(SLOW, false, 100), 900);
        }
        // The next window lowers it again.
        assert_eq!(a.on_sample(SLOW, false, 100), 810);
    }

    #[test]
    fn the_bound_never_leaves_its_range() {
        let mut a = Aimd::new(16, 64, 2.0);
        a.on_sample(FAST, false, 0);
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
        let mut a = Aimd::new(10, 200, 2.0);
        a.on_sample(FAST, false, 0);
        for _ in 0..200 {
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
            a.on_sample(FAST, false, a.limit());
        }
        assert!(a.limit() > 2 * low, "{} after {low}", a.limit());
    }

    #[test]
    fn failures_count_as_congestion_and_do_not_teach_the_baseline() {
        let mut a = Aimd::new(1, 100, 2.0);
        a.on_sample(FAST, false, 0);
        assert_eq!(a.on_sample(Duration::from_millis(1), true, 0), 90);
        assert_eq!(a.baseline(), Some(FAST));
    }

    #[test]
    fn tiny_latencies_within_the_slack_are_not_congestion() {
        let mut a = Aimd::new(1, 100, 2.0);
        a.on_sample(Duration::from_micros(50), false, 0);
        assert_eq!(a.on_sample(Duration::from_micros(400), false, 0), 100);
        assert!(a.on_sample(Duration::from_millis(5), false, 0) < 100);
    }

    #[test]
    fn a_lasting_change_of_the_upstream_is_learned_while_not_loaded() {
        let mut a = Aimd::new(1, 100, 2.0);
        a.on_sample(FAST, false, 0);
        // 15 ms with the bound in use: may be queueing, not learned.
        for _ in 0..20_000 {
            a.on_sample(Duration::from_millis(15), false, 100);
        }
        assert_eq!(a.baseline(), Some(FAST));
        // 15 ms with few in flight: within tolerance, so the baseline
        // drifts up toward it.
        for _ in 0..20_000 {
            a.on_sample(Duration::from_millis(15), false, 5);
        }
        let b = a.baseline().unwrap();
        assert!(b > Duration::from_millis(14), "{b:?}");
        // And 25 ms is now no congestion.
        let before = a.limit();
        assert!(a.on_sample(Duration::from_millis(25), false, 100) >= before);
    }
}
