//! Token bucket and leaky bucket (policing and shaping).

use std::time::Duration;

use floodgate_core::Rate;

use super::{after, ms, per_sec, policing, shaping, tb, Key, SEC};

// ---------------------------------------------------------------- token bucket

#[test]
fn token_bucket_refills_at_a_rate_in_lowest_terms() {
    // 5 tokens per 2 s = one token every 400 ms.
    let mut k = Key::new(tb(10, Rate::new(5, Duration::from_secs(2)).unwrap()));
    let d = k.at(0, 10);
    assert!(d.allowed);
    assert_eq!((d.remaining, d.reset_after), (0, Duration::from_secs(4)));
    // 1 s: 2.5 tokens. Cost 3 needs 0.5 more: 200 ms.
    let d = k.at(SEC, 3);
    assert!(!d.allowed);
    assert_eq!(d.remaining, 2);
    assert_eq!(d.retry_after, after(200_000));
    assert_eq!(d.reset_after, Duration::from_secs(3)); // 7.5 tokens × 400 ms
    assert!(!k.at(SEC + 199_999, 3).allowed);
    let d = k.at(SEC + 200_000, 3);
    assert!(d.allowed);
    assert_eq!((d.remaining, d.reset_after), (0, Duration::from_secs(4)));
}

#[test]
fn token_bucket_starts_full_and_never_holds_more_than_capacity() {
    let mut k = Key::new(tb(5, per_sec(1)));
    assert_eq!(k.burst(0, 10), 5);
    // A day later, still 5 (not 86 400).
    assert_eq!(k.burst(86_400 * SEC, 10), 5);
    let d = k.at(86_400 * SEC, 1);
    assert_eq!(d.retry_after, after(SEC));
}

#[test]
fn token_bucket_cost_above_capacity_is_never_and_costs_nothing() {
    let mut k = Key::new(tb(5, per_sec(1)));
    let d = k.at(0, 6);
    assert!(!d.allowed && d.is_never());
    assert_eq!((d.remaining, d.reset_after), (5, Duration::ZERO));
    assert_eq!(k.burst(0, 10), 5);
}

#[test]
fn token_bucket_clock_stepping_back_does_not_refill_twice() {
    let mut k = Key::new(tb(2, per_sec(1)));
    assert!(k.at(10 * SEC, 1).allowed);
    // The clock steps back 5 s: that interval was already refilled.
    let d = k.at(5 * SEC, 1);
    assert!(d.allowed);
    assert_eq!(d.remaining, 0);
    // Refill resumes at 10 s, not 5 s: the next token comes at 11 s, which
    // is 6 s after 5 s.
    let d = k.at(5 * SEC, 1);
    assert!(!d.allowed);
    assert_eq!(d.retry_after, after(6 * SEC));
    assert_eq!(d.reset_after, Duration::from_secs(7));
    assert!(!k.at(11 * SEC - 1, 1).allowed);
    assert_eq!(k.burst(11 * SEC, 5), 1, "refilled 6 s instead of 1 s");
}

// ---------------------------------------------------------------- leaky bucket

#[test]
fn policing_leaks_and_reports_exact_waits() {
    // Capacity 4, leaking 2 per second: 500 ms per unit.
    let mut k = Key::new(policing(4, per_sec(2)));
    let d = k.at(0, 3);
    assert!(d.allowed);
    assert_eq!((d.remaining, d.reset_after), (1, ms(1_500)));
    // 100 ms: level 2.8; cost 2 overflows by 0.8 = 400 ms of leak.
    let d = k.at(100_000, 2);
    assert!(!d.allowed);
    assert_eq!(d.remaining, 1);
    assert_eq!(d.retry_after, after(400_000));
    assert_eq!(d.reset_after, ms(1_400));
    assert!(!k.at(499_999, 2).allowed);
    let d = k.at(500_000, 2);
    assert!(d.allowed);
    assert_eq!((d.remaining, d.reset_after), (0, ms(2_000)));
    let d = k.at(500_000, 5);
    assert!(d.is_never());
}

#[test]
fn policing_clock_stepping_back_does_not_leak_twice() {
    let mut k = Key::new(policing(2, per_sec(1)));
    assert!(k.at(10 * SEC, 1).allowed);
    assert!(k.at(5 * SEC, 1).allowed);
    let d = k.at(5 * SEC, 1);
    assert!(!d.allowed);
    assert_eq!(d.retry_after, after(6 * SEC));
    assert_eq!(k.burst(11 * SEC, 5), 1, "leaked 6 s instead of 1 s");
}

#[test]
fn shaping_spaces_departures_and_bounds_the_wait() {
    // Queue of 3 at 2 per second: departures 500 ms apart; limit 4.
    let mut k = Key::new(shaping(3, per_sec(2)));
    let delays: Vec<_> = (0..4).map(|_| k.at(0, 1)).collect();
    assert!(delays.iter().all(|d| d.allowed && d.limit == 4));
    assert_eq!(
        delays.iter().map(|d| d.delay).collect::<Vec<_>>(),
        [ms(0), ms(500), ms(1_000), ms(1_500)]
    );
    assert_eq!(
        delays.iter().map(|d| d.remaining).collect::<Vec<_>>(),
        [3, 2, 1, 0]
    );
    // Idle once the last departure (1.5 s) is 3 × 500 ms behind.
    assert_eq!(delays[3].reset_after, ms(3_000));
    // The fifth would leave at 2 s, 2 s ahead > 1.5 s.
    let d = k.at(0, 1);
    assert!(!d.allowed);
    assert_eq!(d.retry_after, after(500_000));
    assert!(!k.at(499_999, 1).allowed);
    let d = k.at(500_000, 1);
    assert!(d.allowed);
    assert_eq!(d.delay, ms(1_500));
    // Cost 2 waits 2 × 500 ms behind the last departure (2 s): leaves at 3 s.
    let d = k.at(2_000_000, 2);
    assert!(d.allowed);
    assert_eq!(d.delay, ms(1_000));
    assert!(k.at(2_000_000, 4).is_never());
}

#[test]
fn shaping_is_idle_only_after_capacity_times_interval() {
    // After one request at 0 (leaving at 0), a cost-2 request at 600 ms
    // still waits for 0 + 2 × 500 ms: the key is not idle before 1.5 s.
    let mut k = Key::new(shaping(3, per_sec(2)));
    let d = k.at(0, 1);
    assert_eq!(d.reset_after, ms(1_500));
    let d = k.at(600_000, 2);
    assert!(d.allowed);
    assert_eq!(d.delay, ms(400));
    let mut fresh = Key::new(shaping(3, per_sec(2)));
    assert!(fresh.at(1_500_000, 3).delay.is_zero());
}

/// Regression: a fresh shaping queue used to behave as if a request had
/// left at the epoch, so a trace starting at t = 0 held its first request.
#[test]
fn shaping_first_request_near_the_epoch_leaves_at_once() {
    use floodgate_core::{algorithm, LeakMode, Quota, Rate, Timestamp};
    let q = Quota::leaky_bucket(2, Rate::per_second(1).unwrap(), LeakMode::Shaping).unwrap();
    let t = Timestamp::from_micros(0);
    let mut s = algorithm::State::fresh(&q, t);
    let first = algorithm::decide(&mut s, t, 1, &q);
    assert!(first.allowed);
    assert_eq!(first.delay, std::time::Duration::ZERO);
    let second = algorithm::decide(&mut s, t, 1, &q);
    assert_eq!(second.delay, std::time::Duration::from_secs(1));
    let third = algorithm::decide(&mut s, t, 1, &q);
    assert_eq!(third.delay, std::time::Duration::from_secs(2));
    assert!(!algorithm::decide(&mut s, t, 1, &q).allowed);
}
