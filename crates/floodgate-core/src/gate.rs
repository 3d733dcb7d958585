//! A log gate: the rate limiter applied to log lines, so that a flood of
//! refused requests, bad connections or failed logins does not flood the
//! log too. Each line written says how many were left out before it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::algorithm::{self, State};
use crate::quota::{Quota, Rate};
use crate::time::Clock;

/// Lets lines through at `per_second` with bursts of `burst`, on the
/// clock it is given.
pub struct LogGate {
    clock: Arc<dyn Clock>,
    /// `None`: every line goes through.
    quota: Option<Quota>,
    /// The bucket, and the lines left out since the last one written.
    state: Mutex<(State, u64)>,
    suppressed_total: AtomicU64,
}

impl LogGate {
    /// A gate of `burst` lines refilled at `per_second`; a `per_second`
    /// of 0 lets every line through.
    pub fn new(burst: u64, per_second: u64, clock: Arc<dyn Clock>) -> LogGate {
        let bucket = Quota::token_bucket(
            burst.max(1),
            Rate::per_second(per_second.max(1)).expect("nonzero"),
        )
        .expect("a valid log quota");
        let state = State::fresh(&bucket, clock.now());
        let quota = (per_second > 0).then_some(bucket);
        LogGate {
            clock,
            quota,
            state: Mutex::new((state, 0)),
            suppressed_total: AtomicU64::new(0),
        }
    }

    /// One line a second at most.
    pub fn once_a_second(clock: Arc<dyn Clock>) -> LogGate {
        LogGate::new(1, 1, clock)
    }

    /// Whether a line may be written now: the count of lines left out
    /// since the last one written, or `None` when this one is left out
    /// too.
    pub fn admit(&self) -> Option<u64> {
        let Some(q) = &self.quota else {
            return Some(0);
        };
        let mut g = self.state.lock();
        if algorithm::decide(&mut g.0, self.clock.now(), 1, q).allowed {
            Some(std::mem::take(&mut g.1))
        } else {
            g.1 += 1;
            self.suppressed_total.fetch_add(1, Ordering::Relaxed);
            None
        }
    }

    /// Lines left out since the gate was made.
    pub fn suppressed_total(&self) -> u64 {
        self.suppressed_total.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::time::{ManualClock, Timestamp};

    #[test]
    fn bursts_then_the_rate_with_the_count_left_out() {
        let clock = ManualClock::new(Timestamp::from_micros(1_000_000));
        let gate = LogGate::new(2, 2, Arc::new(clock.clone()));
        assert_eq!(gate.admit(), Some(0));
        assert_eq!(gate.admit(), Some(0));
        assert_eq!(gate.admit(), None);
        assert_eq!(gate.admit(), None);
        assert_eq!(gate.suppressed_total(), 2);
        clock.advance(Duration::from_millis(500));
        // The next line written says how many were dropped before it.
        assert_eq!(gate.admit(), Some(2));
        let open = LogGate::new(1, 0, Arc::new(clock));
        assert!((0..100).all(|_| open.admit() == Some(0)));
    }

    #[test]
    fn once_a_second() {
        let clock = ManualClock::new(Timestamp::from_micros(1_000_000));
        let gate = LogGate::once_a_second(Arc::new(clock.clone()));
        assert_eq!(gate.admit(), Some(0));
        clock.advance(Duration::from_millis(10));
        assert_eq!(gate.admit(), None);
        clock.advance(Duration::from_millis(989));
        assert_eq!(gate.admit(), None);
        clock.advance(Duration::from_millis(1));
        assert_eq!(gate.admit(), Some(2));
        clock.advance(Duration::from_millis(500));
        assert_eq!(gate.admit(), None);
    }
}
