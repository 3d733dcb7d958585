//! Per-algorithm unit tests on exact numbers, worked out by hand from the
//! algorithm table in DESIGN.md: remaining, reset_after, retry_after and
//! delay; denials that consume nothing; clocks that step back.
//!
//! Each family has its file under `algorithms/` (buckets, windows, GCRA);
//! the helpers and the tests that run every algorithm are here.

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

#[path = "algorithms/buckets.rs"]
mod buckets;
#[path = "algorithms/gcra.rs"]
mod gcra;
#[path = "algorithms/windows.rs"]
mod windows;

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
