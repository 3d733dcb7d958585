//! The circuit breaker of [`ResilientStore`](crate::ResilientStore).
//!
//! Closed, every request goes to the store. After `failures` consecutive
//! failures it opens: requests skip the store, except one probe per
//! `cooldown`. A probe's success closes it; its failure waits another full
//! cool-down. A probe that never reports (its request was dropped) is
//! simply followed by another one after the cool-down.
//!
//! Time comes from an injected [`MonotonicClock`]; the settings are passed
//! in by the caller on each call, so a reload can swap them without
//! touching the breaker's state.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use floodgate_core::MonotonicClock;

use crate::config::BreakerConfig;

/// The breaker's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go to the inner store.
    Closed,
    /// Calls skip the inner store, except one probe per cool-down.
    Open,
}

const CLOSED: u8 = 0;
const OPEN: u8 = 1;

/// A lock-free circuit breaker.
pub(crate) struct Breaker {
    state: AtomicU8,
    consecutive: AtomicU64,
    /// When the next probe may go (µs on `clock`).
    next_probe_us: AtomicU64,
    clock: Arc<dyn MonotonicClock>,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Breaker {
    /// A closed breaker on `clock`.
    pub(crate) fn new(clock: Arc<dyn MonotonicClock>) -> Breaker {
        Breaker {
            state: AtomicU8::new(CLOSED),
            consecutive: AtomicU64::new(0),
            next_probe_us: AtomicU64::new(0),
            clock,
        }
    }

    fn now_us(&self) -> u64 {
        micros(self.clock.elapsed())
    }

    /// The state.
    pub(crate) fn state(&self) -> BreakerState {
        match self.state.load(Ordering::Acquire) {
            CLOSED => BreakerState::Closed,
            _ => BreakerState::Open,
        }
    }

    /// Whether the breaker is closed (one atomic load: the hot path).
    pub(crate) fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) == CLOSED
    }

    /// On an open breaker: whether this request is the probe of the
    /// current cool-down (at most one request per cool-down gets `true`).
    pub(crate) fn try_probe(&self, cooldown: Duration) -> bool {
        let now = self.now_us();
        let due = self.next_probe_us.load(Ordering::Acquire);
        now >= due
            && self
                .next_probe_us
                .compare_exchange(
                    due,
                    now.saturating_add(micros(cooldown)),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
    }

    /// Whether a request may call the store: always when closed, else
    /// only as the cool-down's probe.
    #[cfg(test)]
    pub(crate) fn admit(&self, config: &BreakerConfig) -> bool {
        self.is_closed() || self.try_probe(config.cooldown)
    }

    /// Records a success; returns whether the breaker was open.
    pub(crate) fn success(&self) -> bool {
        self.consecutive.store(0, Ordering::Release);
        self.state.swap(CLOSED, Ordering::AcqRel) == OPEN
    }

    /// Records a failure; returns whether this one opened the breaker.
    pub(crate) fn failure(&self, config: &BreakerConfig) -> bool {
        let n = self.consecutive.fetch_add(1, Ordering::AcqRel) + 1;
        let next = self.now_us().saturating_add(micros(config.cooldown));
        if self.state.load(Ordering::Acquire) == OPEN {
            // A failed probe: wait a full cool-down again.
            self.next_probe_us.store(next, Ordering::Release);
            return false;
        }
        if n >= u64::from(config.failures) {
            self.next_probe_us.store(next, Ordering::Release);
            return self
                .state
                .compare_exchange(CLOSED, OPEN, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use floodgate_core::{ManualClock, Timestamp};

    const CONFIG: BreakerConfig = BreakerConfig {
        failures: 3,
        cooldown: Duration::from_secs(1),
    };

    fn breaker() -> (Breaker, ManualClock) {
        let clock = ManualClock::new(Timestamp::from_micros(1_000_000));
        (Breaker::new(Arc::new(clock.clone())), clock)
    }

    #[test]
    fn opens_after_consecutive_failures_only() {
        let (b, _clock) = breaker();
        assert!(!b.failure(&CONFIG));
        assert!(!b.failure(&CONFIG));
        assert!(!b.success(), "was closed");
        // The success reset the count: three more are needed.
        assert!(!b.failure(&CONFIG));
        assert!(!b.failure(&CONFIG));
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.admit(&CONFIG));
        assert!(b.failure(&CONFIG), "the third in a row opens it");
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.failure(&CONFIG), "already open");
    }

    #[test]
    fn one_probe_per_cooldown_and_a_failed_probe_waits_again() {
        let (b, clock) = breaker();
        for _ in 0..3 {
            b.failure(&CONFIG);
        }
        assert!(!b.admit(&CONFIG));
        clock.advance(Duration::from_millis(999));
        assert!(!b.admit(&CONFIG), "cool-down not over");
        clock.advance(Duration::from_millis(1));
        assert!(b.admit(&CONFIG), "the probe");
        assert!(!b.admit(&CONFIG), "one probe only");
        // The probe fails: a full cool-down from now.
        clock.advance(Duration::from_millis(500));
        assert!(!b.failure(&CONFIG));
        clock.advance(Duration::from_millis(999));
        assert!(!b.admit(&CONFIG));
        clock.advance(Duration::from_millis(1));
        assert!(b.admit(&CONFIG));
        assert!(b.success(), "the probe's success closes it");
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.admit(&CONFIG) && b.admit(&CONFIG));
    }

    #[test]
    fn a_lost_probe_is_followed_by_another() {
        let (b, clock) = breaker();
        for _ in 0..3 {
            b.failure(&CONFIG);
        }
        clock.advance(Duration::from_secs(1));
        assert!(b.admit(&CONFIG));
        // That probe never reports.
        clock.advance(Duration::from_millis(999));
        assert!(!b.admit(&CONFIG));
        clock.advance(Duration::from_millis(1));
        assert!(b.admit(&CONFIG));
    }

    #[test]
    fn settings_are_read_at_each_call() {
        let (b, clock) = breaker();
        let one = BreakerConfig {
            failures: 1,
            cooldown: Duration::from_millis(10),
        };
        assert!(b.failure(&one), "one failure is enough under `one`");
        // The first probe is due after the cool-down of the failure...
        clock.advance(Duration::from_millis(9));
        assert!(!b.try_probe(Duration::from_secs(5)));
        clock.advance(Duration::from_millis(1));
        assert!(b.try_probe(Duration::from_secs(5)));
        // ...and the next one after the cool-down given with that probe.
        clock.advance(Duration::from_millis(4_999));
        assert!(!b.try_probe(Duration::from_secs(5)));
        clock.advance(Duration::from_millis(1));
        assert!(b.try_probe(Duration::from_secs(5)));
    }
}
