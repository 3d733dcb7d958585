//! The adaptive bound on requests in flight: additive increase while the
//! upstream answers at its usual latency and the bound is in use,
//! multiplicative decrease when its recent latency rises well above its
//! unloaded latency (queueing) or it fails, at most once per window of
//! requests, as TCP does once per round trip.
//!
//! Two averages of the latency to response headers are kept, counted in
//! samples (no time of its own): a recent one, and a long one of the
//! unloaded latency, learned from answers taken while the bound is not in
//! use (and, far more slowly, under load, so that a lasting change of the
//! upstream is learned in the end). Averages, not minima: one fast answer
//! (a 404, a health check) does not pin the baseline, and an upstream
//! whose endpoints differ in latency is judged by its usual mix.
//!
//! A pure state machine: it is fed each finished request's latency and the
//! number in flight.

use std::time::Duration;

/// Lower the bound by this factor on congestion.
const DECREASE: f64 = 0.9;
/// Recent latency within this of the unloaded latency is never congestion
/// (loopback answers jitter by more than twice a 50 µs baseline).
const SLACK: f64 = 0.001;
/// Weight of a sample in the recent average.
const RECENT: f64 = 1.0 / 16.0;
/// Weight of a sample in the unloaded average, while the bound is not in
/// use and while it is.
const LEARN_IDLE: f64 = 1.0 / 256.0;
const LEARN_LOADED: f64 = 1.0 / 65_536.0;
/// The first answers, averaged as a plain mean whatever the load.
const WARM_UP: u64 = 256;

/// The controller's state.
#[derive(Clone, Debug)]
pub struct Aimd {
    limit: f64,
    min: f64,
    max: f64,
    tolerance: f64,
    /// Recent average latency, seconds (`None`: no answer yet).
    recent: Option<f64>,
    /// Unloaded average latency, seconds.
    unloaded: Option<f64>,
    /// Answers averaged so far (the first [`WARM_UP`] are weighed equally,
    /// so that the first answer alone does not set the baseline).
    samples: u64,
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
            recent: None,
            unloaded: None,
            samples: 0,
            cooldown: 0,
        }
    }

    /// The bound in force.
    pub fn limit(&self) -> usize {
        self.limit as usize
    }

    /// The unloaded latency learned so far.
    pub fn baseline(&self) -> Option<Duration> {
        self.unloaded.map(Duration::from_secs_f64)
    }

    /// One request finished after `latency` (to its response headers), or
    /// `failed` (timed out or could not connect), with `in_flight` still in
    /// flight. Returns the new bound.
    pub fn on_sample(&mut self, latency: Duration, failed: bool, in_flight: usize) -> usize {
        let in_use = in_flight as f64 + 1.0 >= self.limit / 2.0;
        let congested = if failed {
            true
        } else {
            let l = latency.as_secs_f64();
            self.samples += 1;
            // A plain mean while there are fewer answers than a weight's
            // worth, then the moving average.
            let warm = if self.samples <= WARM_UP {
                1.0 / self.samples as f64
            } else {
                0.0
            };
            let recent = ewma(self.recent, l, RECENT.max(warm));
            self.recent = Some(recent);
            let learn = if in_use { LEARN_LOADED } else { LEARN_IDLE };
            let unloaded = ewma(self.unloaded, l, learn.max(warm));
            self.unloaded = Some(unloaded);
            recent > unloaded * self.tolerance && recent > unloaded + SLACK
        };
        self.cooldown = self.cooldown.saturating_sub(1);
        if congested {
            if self.cooldown == 0 {
                self.limit = (self.limit * DECREASE).max(self.min);
                self.cooldown = in_flight.max(1);
            }
        } else if in_use {
            // One more per bound's worth of timely answers.
            self.limit = (self.limit + 1.0 / self.limit).min(self.max);
        }
        self.limit()
    }
}

fn ewma(avg: Option<f64>, sample: f64, weight: f64) -> f64 {
    match avg {
        None => sample,
        Some(a) => a + (sample - a) * weight,
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
        let mut a = learned(16, 1000);
        assert_eq!(a.limit(), 1000);
        // The recent average needs a few slow answers to rise; then the
        // bound drops once, and the 99 others that were in flight with the
        // first do not lower it again.
        let mut n = 0;
        while a.on_sample(SLOW, false, 100) == 1000 {
            n += 1;
            assert!(n < 50, "never lowered");
        }
        assert_eq!(a.limit(), 900);
        for _ in 0..99 {
            assert_eq!(a.on_sample(SLOW, false, 100), 900);
        }
        assert_eq!(a.on_sample(SLOW, false, 100), 810);
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
        let mut a = Aimd::new(1, 100, 2.0);
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
        let mut a = Aimd::new(1, 100, 2.0);
        a.on_sample(Duration::from_micros(50), false, 0);
        for _ in 0..100 {
            assert_eq!(a.on_sample(Duration::from_micros(400), false, 0), 100);
        }
    }

    #[test]
    fn a_lasting_change_of_the_upstream_is_learned() {
        let mut a = learned(1, 100);
        // 15 ms with few in flight: within tolerance, learned quickly.
        for _ in 0..5_000 {
            a.on_sample(Duration::from_millis(15), false, 5);
        }
        let b = a.baseline().unwrap();
        assert!(b > Duration::from_millis(14), "{b:?}");
        // Under load the baseline moves too, but far more slowly: an
        // overload does not teach it much.
        let mut loaded = learned(1, 100);
        for _ in 0..5_000 {
            loaded.on_sample(Duration::from_millis(15), false, 100);
        }
        let b = loaded.baseline().unwrap();
        assert!(b < Duration::from_millis(11), "{b:?}");
    }
}
