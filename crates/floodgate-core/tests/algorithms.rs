//! Per-algorithm unit tests on exact numbers, worked out by hand from the
//! algorithm table in DESIGN.md: remaining, reset_after, retry_after and
//! delay; denials that consume nothing; clocks that step back.

use std::time::Duration;

use floodgate_core::algorithm::{self, State};
use floodgate_core::{Decision, LeakMode, Quota, Rate, RetryAfter, Timestamp};

/// Day-aligned base time (see floodgate-testkit).
const BASE: u64 = floodgate_testkit::BASE_US;
const SEC: u64 = 1_000_000;

fn t(offset_us: u64) -> Timestamp {
    Timestamp::from_micros(BASE + offset_us)
}

fn after(us: u64) -> Option<RetryAfter> {
    Some(RetryAfter::After(Duration::from_micros(us)))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A key under one quota, driven by `decide`.
struct Key {
    quota: Quota,
    state: State,
}

impl Key {
    fn new(quota: Quota) -> Key {
        Key {
            state: State::fresh(&quota, t(0)),
            quota,
        }
    }

    fn at(&mut self, offset_us: u64, cost: u64) -> Decision {
        algorithm::decide(&mut self.state, t(offset_us), cost, &self.quota)
    }

    /// `n` requests of cost 1 at `offset_us`; how many were allowed.
    fn burst(&mut self, offset_us: u64, n: u64) -> u64 {
        (0..n).filter(|_| self.at(offset_us, 1).allowed).count() as u64
    }
}

fn tb(c: u64, r: Rate) -> Quota {
    Quota::token_bucket(c, r).unwrap()
}

fn policing(c: u64, r: Rate) -> Quota {
    Quota::leaky_bucket(c, r, LeakMode::Policing).unwrap()
}

fn shaping(c: u64, r: Rate) -> Quota {
    Quota::leaky_bucket(c, r, LeakMode::Shaping).unwrap()
}

fn per_sec(n: u64) -> Rate {
    Rate::per_second(n).unwrap()
}

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

// ---------------------------------------------------------------- fixed window

#[test]
fn fixed_window_is_epoch_aligned() {
    // 7 s windows: BASE is a multiple of 86 400 s but not of 7 s.
    let w = 7 * SEC;
    let mut k = Key::new(Quota::fixed_window(2, Duration::from_secs(7)).unwrap());
    let start_offset = w - BASE % w; // the first window boundary after BASE
    let d = k.at(start_offset - 1, 2);
    assert!(d.allowed);
    assert_eq!(d.reset_after, Duration::from_micros(1));
    let d = k.at(start_offset - 1, 1);
    assert_eq!(d.retry_after, after(1));
    let d = k.at(start_offset, 2);
    assert!(d.allowed);
    assert_eq!(d.reset_after, Duration::from_secs(7));
}

#[test]
fn fixed_window_clock_stepping_back_stays_in_the_counted_window() {
    let mut k = Key::new(Quota::fixed_window(2, Duration::from_secs(10)).unwrap());
    assert_eq!(k.burst(15 * SEC, 2), 2);
    // Back to the previous window: it must not start a fresh count there.
    let d = k.at(5 * SEC, 1);
    assert!(!d.allowed);
    assert_eq!(d.retry_after, after(15 * SEC)); // until 20 s
    assert_eq!(k.burst(20 * SEC, 5), 2);
}

// ---------------------------------------------------------------- sliding log

#[test]
fn sliding_log_retry_waits_for_enough_entries_to_expire() {
    let mut k = Key::new(Quota::sliding_log(5, Duration::from_secs(10)).unwrap());
    assert!(k.at(0, 2).allowed);
    assert!(k.at(SEC, 1).allowed);
    assert!(k.at(2 * SEC, 2).allowed);
    // Cost 3 needs 3 free: the entries at 0 (2) and 1 s (1) must go: 11 s.
    let d = k.at(3 * SEC, 3);
    assert!(!d.allowed);
    assert_eq!(d.remaining, 0);
    assert_eq!(d.retry_after, after(8 * SEC));
    assert_eq!(d.reset_after, Duration::from_secs(9)); // last entry at 2 s
    assert!(!k.at(11 * SEC - 1, 3).allowed);
    assert!(k.at(11 * SEC, 3).allowed);
}

#[test]
fn sliding_log_clock_stepping_back_keeps_entries_in_order() {
    let mut k = Key::new(Quota::sliding_log(2, Duration::from_secs(10)).unwrap());
    assert!(k.at(10 * SEC, 1).allowed);
    assert!(k.at(5 * SEC, 1).allowed); // recorded at 10 s, not 5 s
    assert!(
        !k.at(15 * SEC, 1).allowed,
        "the entry stepped back expired early"
    );
    assert_eq!(k.burst(20 * SEC, 5), 2);
}

// ---------------------------------------------------------------- sliding counter

#[test]
fn sliding_counter_weights_the_previous_window() {
    let mut k = Key::new(Quota::sliding_counter(100, Duration::from_secs(60)).unwrap());
    assert!(k.at(30 * SEC, 80).allowed);
    // 15 s into the next window: est = 80·45/60 + 0 = 60.
    let d = k.at(75 * SEC, 40);
    assert!(d.allowed);
    assert_eq!(d.remaining, 0); // 60 + 40
    assert_eq!(d.reset_after, Duration::from_secs(105)); // end of the window after
                                                         // 30 s in: est = 80·30/60 + 40 = 80.
    let d = k.at(90 * SEC, 21);
    assert!(!d.allowed);
    assert_eq!(d.remaining, 20);
    // 80·(60 − e)/60 + 40 + 21 ≤ 100 once e ≥ 30.75 s.
    assert_eq!(d.retry_after, after(750_000));
    let d = k.at(90 * SEC, 20);
    assert!(d.allowed);
    assert_eq!(d.remaining, 0);
}

// ---------------------------------------------------------------- GCRA

#[test]
fn gcra_spaces_requests_by_the_emission_interval() {
    // 10 per second (T = 100 ms), burst 2.
    let mut k = Key::new(Quota::gcra(per_sec(10), 2).unwrap());
    assert_eq!(k.burst(0, 5), 2);
    let d = k.at(0, 1);
    assert_eq!(d.retry_after, after(100_000));
    assert_eq!(d.reset_after, ms(200));
    // Steady state: one every 100 ms.
    for i in 1..=10 {
        assert!(k.at(i * 100_000, 1).allowed, "request {i}");
        assert!(!k.at(i * 100_000, 1).allowed, "request {i} twice");
    }
    // Idle after 200 ms: the full burst again.
    assert_eq!(k.burst(1_200_000, 5), 2);
}

#[test]
fn gcra_clock_stepping_back_keeps_the_theoretical_arrival_time() {
    let mut k = Key::new(Quota::gcra(per_sec(1), 2).unwrap());
    assert_eq!(k.burst(10 * SEC, 2), 2); // tat = 12 s
    let d = k.at(5 * SEC, 1);
    assert!(!d.allowed);
    assert_eq!(d.retry_after, after(6 * SEC)); // 12 + 1 − 2 = 11 s
    assert_eq!(k.burst(11 * SEC, 3), 1);
}

// ---------------------------------------------------------------- all algorithms

fn all_quotas() -> Vec<Quota> {
    let w = Duration::from_secs(10);
    vec![
        tb(3, per_sec(1)),
        policing(3, per_sec(1)),
        shaping(3, per_sec(1)),
        Quota::fixed_window(3, w).unwrap(),
        Quota::sliding_log(3, w).unwrap(),
        Quota::sliding_counter(3, w).unwrap(),
        Quota::gcra(per_sec(1), 3).unwrap(),
    ]
}

#[test]
fn denied_requests_consume_nothing() {
    // The same trace with and without extra requests that are denied (too
    // costly right now, or never) gives the same decisions.
    let trace: Vec<(u64, u64)> = (0..40).map(|i| (i * 700_000, 1 + i % 2)).collect();
    for q in all_quotas() {
        let mut plain = Key::new(q);
        let mut noisy = Key::new(q);
        for &(at, cost) in &trace {
            let want = plain.at(at, cost);
            // Probe with a cost that the current state cannot take; it must
            // be denied, or it would not be a probe.
            for probe in [q.limit() + 1, u64::MAX] {
                let d = noisy.at(at, probe);
                assert!(d.is_never(), "{q}: {d:?}");
            }
            if !want.allowed {
                // Also a denied request of the same cost, twice.
                assert_eq!(noisy.at(at, cost), want, "{q} at {at}");
            }
            assert_eq!(noisy.at(at, cost), want, "{q} at {at}");
        }
    }
}

#[test]
fn every_algorithm_reports_its_limit_and_denies_with_a_retry() {
    for q in all_quotas() {
        let mut k = Key::new(q);
        let mut allowed = 0;
        let denied = loop {
            let d = k.at(0, 1);
            assert_eq!(d.limit, q.limit(), "{q}");
            if !d.allowed {
                break d;
            }
            assert_eq!(d.retry_after, None, "{q}");
            allowed += 1;
            assert!(allowed <= 4, "{q} never denies");
        };
        let expected = if q.algorithm_name() == "leaky_bucket_shaping" {
            4
        } else {
            3
        };
        assert_eq!(allowed, expected, "{q}");
        assert_eq!(denied.remaining, 0, "{q}");
        match denied.retry_after {
            Some(RetryAfter::After(r)) => assert!(r > Duration::ZERO, "{q}"),
            other => panic!("{q}: {other:?}"),
        }
    }
}

#[test]
fn a_state_of_another_algorithm_is_replaced() {
    let mut state = State::fresh(&tb(1, per_sec(1)), t(0));
    let gcra = Quota::gcra(per_sec(1), 2).unwrap();
    assert!(algorithm::decide(&mut state, t(0), 2, &gcra).allowed);
    assert!(state.fits(&gcra));
}

#[test]
fn a_state_from_a_larger_quota_does_not_panic() {
    // Counters carried over from a larger limit of the same algorithm hold
    // more than the new limit allows: deny, without underflowing.
    for (big, small) in [
        (
            Quota::fixed_window(10, Duration::from_secs(10)).unwrap(),
            Quota::fixed_window(2, Duration::from_secs(10)).unwrap(),
        ),
        (policing(10, per_sec(1)), policing(2, per_sec(1))),
        (tb(10, per_sec(1)), tb(2, per_sec(1))),
        (
            Quota::sliding_log(10, Duration::from_secs(10)).unwrap(),
            Quota::sliding_log(2, Duration::from_secs(10)).unwrap(),
        ),
    ] {
        let mut state = State::fresh(&big, t(0));
        assert!(algorithm::decide(&mut state, t(0), 8, &big).allowed);
        let d = algorithm::decide(&mut state, t(0), 1, &small);
        if big.algorithm_name() != "token_bucket" {
            assert!(!d.allowed, "{small}: {d:?}");
            assert_eq!(d.remaining, 0, "{small}");
        }
        assert!(algorithm::decide(&mut state, t(0), 3, &small).is_never());
    }
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

/// A key's state is 32 bytes (the memory-per-key figures in
/// docs/benchmarks.md rest on it), and the fresh GCRA and shaping states
/// are the ones the Lua scripts start from.
#[test]
fn a_key_state_is_32_bytes_and_starts_as_the_lua_scripts_do() {
    assert_eq!(std::mem::size_of::<State>(), 32);
    let gcra = Quota::gcra(per_sec(3), 2).unwrap();
    assert_eq!(
        State::fresh(&gcra, t(5)),
        State::Gcra(algorithm::gcra::Tat { at: 0, frac: 0 })
    );
    let shaping = Quota::leaky_bucket(2, per_sec(1), LeakMode::Shaping).unwrap();
    assert_eq!(
        State::fresh(&shaping, t(5)),
        State::Shaping(algorithm::leaky_bucket::Queue {
            at: 0,
            frac: u64::MAX
        })
    );
}
