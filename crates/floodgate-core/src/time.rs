//! Time: timestamps in microseconds since the Unix epoch, and clocks.
//!
//! Microseconds, not nanoseconds: every timestamp of this century fits in
//! 2^53, so the Redis Lua scripts (whose numbers are doubles) do the same
//! integer arithmetic as this crate, exactly.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A point in time: microseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// A timestamp from microseconds since the epoch.
    pub const fn from_micros(us: u64) -> Self {
        Timestamp(us)
    }

    /// A timestamp from (real-valued) seconds since the epoch, rounded to
    /// the nearest microsecond. Negative and non-finite values give the epoch.
    pub fn from_secs_f64(secs: f64) -> Self {
        if !secs.is_finite() || secs <= 0.0 {
            return Timestamp(0);
        }
        Timestamp((secs * 1e6).round().min(u64::MAX as f64) as u64)
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Seconds since the epoch, as a real number.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }

    /// This timestamp moved forward by `d` (saturating).
    pub fn plus(self, d: Duration) -> Self {
        Timestamp(self.0.saturating_add(duration_micros(d)))
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

/// A duration in whole microseconds, saturating at `u64::MAX`.
pub fn duration_micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// A source of the current time. Core logic never reads the system time
/// itself: it is handed a `Timestamp` taken from a `Clock`.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Timestamp(duration_micros(d))
    }
}

/// A clock that only moves when told to. Clones share one time, so a test
/// can hand a clone to the code under test and advance it from outside.
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    now: Arc<AtomicU64>,
}

impl ManualClock {
    /// A manual clock set to `start`.
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            now: Arc::new(AtomicU64::new(start.0)),
        }
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        self.now.fetch_add(duration_micros(d), Ordering::SeqCst);
    }

    /// Sets the clock to `t` (which may be earlier than now).
    pub fn set(&self, t: Timestamp) {
        self.now.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.now.load(Ordering::SeqCst))
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

/// Monotonic time, for pacing and timeouts (circuit breakers, reconnect
/// attempts): unlike the wall clock it never goes back. Code that waits on
/// it takes it as a parameter, so tests drive it with a [`ManualClock`]
/// instead of sleeping.
pub trait MonotonicClock: Send + Sync + 'static {
    /// Time elapsed since a fixed origin of this clock's choosing.
    fn elapsed(&self) -> Duration;
}

/// The system's monotonic clock (`Instant`), counted from its creation.
#[derive(Clone, Copy, Debug)]
pub struct SystemMonotonic {
    origin: Instant,
}

impl Default for SystemMonotonic {
    fn default() -> Self {
        SystemMonotonic {
            origin: Instant::now(),
        }
    }
}

impl MonotonicClock for SystemMonotonic {
    fn elapsed(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// A manual clock is also a monotonic one: time since the epoch (tests
/// only move it forward when they use it this way).
impl MonotonicClock for ManualClock {
    fn elapsed(&self) -> Duration {
        Duration::from_micros(self.now.load(Ordering::SeqCst))
    }
}

impl<C: MonotonicClock + ?Sized> MonotonicClock for Arc<C> {
    fn elapsed(&self) -> Duration {
        (**self).elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_clones_share_time() {
        let a = ManualClock::new(Timestamp(10));
        let b = a.clone();
        a.advance(Duration::from_millis(2));
        assert_eq!(b.now(), Timestamp(2_010));
        b.set(Timestamp(5));
        assert_eq!(a.now(), Timestamp(5));
        assert_eq!(MonotonicClock::elapsed(&a), Duration::from_micros(5));
    }

    #[test]
    fn seconds_round_trip() {
        assert_eq!(Timestamp::from_secs_f64(1.5), Timestamp(1_500_000));
        assert_eq!(Timestamp::from_secs_f64(-3.0), Timestamp(0));
        assert_eq!(Timestamp(2_500_000).to_string(), "2.500000");
    }
}
