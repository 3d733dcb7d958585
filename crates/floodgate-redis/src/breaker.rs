//! The circuit breaker of [`ResilientStore`](crate::ResilientStore).
//!
//! Closed, every request goes to the store. After `failures` consecutive
//! failures it opens: requests skip the store, except one probe at a time.
//! The first probe goes an eighth of `cooldown` after it opened; each
//! failed probe doubles the wait for the next, up to `cooldown`. So a short
//! outage (a freeze, a restart) costs about what it lasts, and a long one
//! one probe per `cooldown`. A probe's success closes it (and the next
//! opening starts again from an eighth). A probe that never reports (its
//! request was dropped) is followed by another one after the same wait.
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

/// The first probe goes this fraction of the cool-down after opening.
const FIRST_PROBE_SHARE: u64 = 8;

const CLOSED: u8 = 0;
const OPEN: u8 = 1;

/// A lock-free circuit breaker.
pub(crate) struct Breaker {
    state: AtomicU8,
    consecutive: AtomicU64,
    /// When the next probe may go (µs on `clock`).
    next_probe_us: AtomicU64,
    /// The wait before the next probe (µs), doubled by each failed probe up
    /// to the cool-down; 0 until the breaker opens.
    wait_us: AtomicU64,
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
            wait_us: AtomicU64::new(0),
            clock,
        }
    }

    fn now_us(&self) -> u64 {
        micros(self.clock.elapsed())
    }

    /// The state.
    #[cfg(test)]
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

    /// On an open breaker: whether this request is the probe now due (at
    /// most one request per wait gets `true`; if it never reports, another
    /// goes after the same wait, at most `cooldown`).
    pub(crate) fn try_probe(&self, cooldown: Duration) -> bool {
        let now = self.now_us();
        let due = self.next_probe_us.load(Ordering::Acquire);
        let wait = self.wait_us.load(Ordering::Acquire).min(micros(cooldown));
        now >= due
            && self
                .next_probe_us
                .compare_exchange(
                    due,
                    now.saturating_add(wait),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
    }

    /// Makes the next probe due now (the store's nodes changed: a probe
    /// may find it back before the wait is over).
    pub(crate) fn probe_now(&self) {
        self.next_probe_us.store(self.now_us(), Ordering::Release);
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

    /// Records a failure (`probe`: of the open breaker's probe); returns
    /// whether this one opened the breaker. While open, only a probe's
    /// failure moves the next probe: calls sent before it opened that fail
    /// late change nothing.
    pub(crate) fn failure(&self, config: &BreakerConfig, probe: bool) -> bool {
        let n = self.consecutive.fetch_add(1, Ordering::AcqRel) + 1;
        let cooldown = micros(config.cooldown);
        let now = self.now_us();
        if self.state.load(Ordering::Acquire) == OPEN {
            if !probe {
                return false;
            }
            // A failed probe: twice the wait, up to the cool-down.
            let wait = self
                .wait_us
                .load(Ordering::Acquire)
                .saturating_mul(2)
                .clamp(1, cooldown.max(1));
            self.wait_us.store(wait, Ordering::Release);
            self.next_probe_us
                .store(now.saturating_add(wait), Ordering::Release);
            return false;
        }
        if n >= u64::from(config.failures) {
            let wait = (cooldown / FIRST_PROBE_SHARE).max(1);
            self.wait_us.store(wait, Ordering::Release);
            self.next_probe_us
                .store(now.saturating_add(wait), Ordering::Release);
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
        assert!(!b.failure(&CONFIG, false));
        assert!(!b.failure(&CONFIG, false));
        assert!(!b.success(), "was closed");
        // The success reset the count: three more are needed.
        assert!(!b.failure(&CONFIG, false));
        assert!(!b.failure(&CONFIG, false));
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.admit(&CONFIG));
        assert!(b.failure(&CONFIG, false), "the third in a row opens it");
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.failure(&CONFIG, false), "already open");
    }

    #[test]
    fn probes_come_sooner_then_back_off_to_the_cool_down() {
        let (b, clock) = breaker();
        for _ in 0..3 {
            b.failure(&CONFIG, false);
        }
        // The first probe: an eighth of the cool-down after opening.
        clock.advance(Duration::from_millis(124));
        assert!(!b.admit(&CONFIG), "not yet");
        clock.advance(Duration::from_millis(1));
        assert!(b.admit(&CONFIG), "the probe");
        assert!(!b.admit(&CONFIG), "one probe only");
        // Each failed probe doubles the wait: 250 ms, 500 ms, then the
        // cool-down at most.
        for wait in [250, 500, 1000, 1000] {
            // A call sent before the breaker opened fails late: no change.
            assert!(!b.failure(&CONFIG, false));
            assert!(!b.failure(&CONFIG, true), "the probe's failure");
            clock.advance(Duration::from_millis(wait - 1));
            assert!(!b.admit(&CONFIG), "before {wait} ms");
            clock.advance(Duration::from_millis(1));
            assert!(b.admit(&CONFIG), "at {wait} ms");
        }
        assert!(b.success(), "the probe's success closes it");
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.admit(&CONFIG) && b.admit(&CONFIG));
        // Open again: from an eighth again.
        for _ in 0..3 {
            b.failure(&CONFIG, false);
        }
        clock.advance(Duration::from_millis(125));
        assert!(b.admit(&CONFIG));
    }

    #[test]
    fn a_lost_probe_is_followed_by_another() {
        let (b, clock) = breaker();
        for _ in 0..3 {
            b.failure(&CONFIG, false);
        }
        clock.advance(Duration::from_millis(125));
        assert!(b.admit(&CONFIG));
        // That probe never reports: another after the same wait.
        clock.advance(Duration::from_millis(124));
        assert!(!b.admit(&CONFIG));
        clock.advance(Duration::from_millis(1));
        assert!(b.admit(&CONFIG));
    }

    #[test]
    fn settings_are_read_at_each_call() {
        let (b, clock) = breaker();
        let one = BreakerConfig {
            failures: 1,
            cooldown: Duration::from_millis(80),
        };
        assert!(b.failure(&one, false), "one failure is enough under `one`");
        // The first probe is due an eighth of that cool-down later...
        clock.advance(Duration::from_millis(9));
        assert!(!b.try_probe(Duration::from_secs(5)));
        clock.advance(Duration::from_millis(1));
        assert!(b.try_probe(Duration::from_secs(5)));
        // ...and a cool-down given later bounds the waits.
        assert!(!b.failure(&one, true));
        clock.advance(Duration::from_millis(20));
        assert!(b.try_probe(Duration::from_millis(5)));
        clock.advance(Duration::from_millis(5));
        assert!(b.try_probe(Duration::from_millis(5)));
    }
}
