//! The outcome of one limit check.

use std::time::Duration;

/// When a denied request may be retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryAfter {
    /// The same request is allowed once this much time has passed (and not
    /// a microsecond earlier), provided nothing else consumes meanwhile.
    After(Duration),
    /// The request can never be allowed: its cost exceeds the capacity.
    Never,
    /// The store could not decide and the limit fails closed: the request
    /// is denied without counting; try again after this much (the
    /// breaker's cool-down, when the store is tried again).
    Unavailable(Duration),
}

impl RetryAfter {
    /// Whole seconds, rounded up, as sent in `Retry-After`. `Never` gives
    /// `None`.
    pub fn whole_seconds(self) -> Option<u64> {
        match self {
            RetryAfter::After(d) | RetryAfter::Unavailable(d) => Some(ceil_secs(d)),
            RetryAfter::Never => None,
        }
    }

    /// The wait, when there is one.
    pub fn duration(self) -> Option<Duration> {
        match self {
            RetryAfter::After(d) | RetryAfter::Unavailable(d) => Some(d),
            RetryAfter::Never => None,
        }
    }
}

/// Whole seconds in `d`, rounded up.
pub fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The Unix second at which something `after` from `now` happens, rounded
/// up (`X-RateLimit-Reset`, the decision API's `reset`): the first whole
/// second by which it has happened.
pub fn unix_secs_after(now: crate::time::Timestamp, after: Duration) -> u64 {
    now.plus(after).as_micros().div_ceil(1_000_000)
}

/// The decision of one limit on one request. Being limited is a value, not
/// an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may go on.
    pub allowed: bool,
    /// The limit's size: capacity, burst or requests per window.
    pub limit: u64,
    /// How many unit-cost requests could still be allowed right now, after
    /// this one (floored).
    pub remaining: u64,
    /// Time until the limiter is back to its idle state.
    pub reset_after: Duration,
    /// Only when denied: when the same request would be allowed.
    pub retry_after: Option<RetryAfter>,
    /// Only for shaping limits: how long to hold the request before
    /// forwarding it.
    pub delay: Duration,
}

impl Decision {
    /// Whether this is a denial that no amount of waiting can lift.
    pub fn is_never(&self) -> bool {
        self.retry_after == Some(RetryAfter::Never)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    #[test]
    fn reset_is_the_first_whole_second_after() {
        let t = |us| Timestamp::from_micros(us);
        // 2.5 s + 37.5 s is 40 s exactly, not 41.
        assert_eq!(
            unix_secs_after(t(2_500_000), Duration::from_millis(37_500)),
            40
        );
        assert_eq!(
            unix_secs_after(t(2_500_000), Duration::from_millis(37_600)),
            41
        );
        assert_eq!(unix_secs_after(t(3_000_000), Duration::ZERO), 3);
        assert_eq!(ceil_secs(Duration::from_millis(1_001)), 2);
    }
}
