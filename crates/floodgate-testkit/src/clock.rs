//! A base time and `ManualClock` helpers.

use std::time::Duration;

use floodgate_core::{ManualClock, Timestamp};

/// The base of every conformance case, in µs since the epoch: a multiple of
/// 86 400 s (2023-11-15T00:00:00Z), so windows of any length dividing a day
/// start exactly on it.
pub const BASE_US: u64 = 1_700_006_400_000_000;

/// [`BASE_US`] as a timestamp.
pub const BASE: Timestamp = Timestamp::from_micros(BASE_US);

/// The timestamp `offset_us` after [`BASE`].
pub fn at(offset_us: u64) -> Timestamp {
    Timestamp::from_micros(BASE_US + offset_us)
}

/// A manual clock set to [`BASE`].
pub fn base_clock() -> ManualClock {
    ManualClock::new(BASE)
}

/// One second in µs, for writing offsets.
pub const SEC: u64 = 1_000_000;

/// `d` in whole µs (test durations are small).
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).expect("a test duration fits in u64 µs")
}

#[cfg(test)]
mod tests {
    use super::*;
    use floodgate_core::Clock;

    #[test]
    fn base_is_day_aligned() {
        assert_eq!(BASE_US % (86_400 * SEC), 0);
        assert_eq!(base_clock().now(), BASE);
        assert_eq!(at(5), Timestamp::from_micros(BASE_US + 5));
    }
}
