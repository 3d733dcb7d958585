//! Property tests on random traces: admission bounds per algorithm, exact
//! retry-after, denials that change nothing, and a memory store that agrees
//! with the bare algorithm even when it drops idle keys at every step.
//!
//! A failing case's seed lands in `tests/proptest-regressions/properties.txt`
//! (created on the first failure) and is replayed first on every later run:
//! commit that file with the fix.

use std::time::Duration;

use floodgate_core::algorithm::{self, State};
use floodgate_core::{
    Decision, LeakMode, LimitCheck, MemoryStore, Quota, Rate, RetryAfter, Timestamp,
};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

const BASE: u64 = floodgate_testkit::BASE_US;

fn rate() -> impl Strategy<Value = Rate> {
    let period = prop_oneof![
        Just(1_000u64),
        Just(1_000_000),
        Just(3_000_000),
        1u64..=5_000_000,
    ];
    (1u64..=10, period).prop_map(|(n, p)| Rate::new(n, Duration::from_micros(p)).unwrap())
}

fn window() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::from_secs(1)),
        Just(Duration::from_secs(10)),
        (1u64..=5_000_000).prop_map(Duration::from_micros),
    ]
}

fn quota() -> impl Strategy<Value = Quota> {
    let size = 1u64..=20;
    prop_oneof![
        (size.clone(), rate()).prop_map(|(c, r)| Quota::token_bucket(c, r).unwrap()),
        (size.clone(), rate())
            .prop_map(|(c, r)| Quota::leaky_bucket(c, r, LeakMode::Policing).unwrap()),
        (size.clone(), rate())
            .prop_map(|(c, r)| Quota::leaky_bucket(c, r, LeakMode::Shaping).unwrap()),
        (size.clone(), window()).prop_map(|(l, w)| Quota::fixed_window(l, w).unwrap()),
        (size.clone(), window()).prop_map(|(l, w)| Quota::sliding_log(l, w).unwrap()),
        (size.clone(), window()).prop_map(|(l, w)| Quota::sliding_counter(l, w).unwrap()),
        (rate(), size).prop_map(|(r, b)| Quota::gcra(r, b).unwrap()),
    ]
}

/// Requests as `(gap before it in µs, cost)`; times never decrease.
fn trace() -> impl Strategy<Value = Vec<(u64, u64)>> {
    let gap = prop_oneof![
        2 => Just(0u64),
        3 => 0u64..2_000,
        3 => 0u64..600_000,
        1 => 0u64..6_000_000,
    ];
    let cost = prop_oneof![8 => 1u64..=3, 1 => 1u64..=25];
    prop::collection::vec((gap, cost), 1..80)
}

/// Each request's absolute time, cost and decision under the bare
/// algorithm.
fn replay(q: &Quota, trace: &[(u64, u64)]) -> Vec<(u64, u64, Decision, State)> {
    let start = BASE + 12_345;
    let mut state = State::fresh(q, Timestamp::from_micros(start));
    let mut t = start;
    trace
        .iter()
        .map(|&(gap, cost)| {
            t += gap;
            let before = state.clone();
            let d = algorithm::decide(&mut state, Timestamp::from_micros(t), cost, q);
            (t, cost, d, before)
        })
        .collect()
}

fn admitted(rows: &[(u64, u64, Decision, State)]) -> Vec<(u64, u64)> {
    rows.iter()
        .filter(|r| r.2.allowed)
        .map(|r| (r.0, r.1))
        .collect()
}

/// Admitted cost in every interval [a, b] between two admitted requests is
/// at most `size + rate·(b − a)`.
fn check_rate_bound(size: u64, rate: &Rate, adm: &[(u64, u64)]) -> Result<(), TestCaseError> {
    let (k, p) = (rate.amount() as u128, rate.period_us() as u128);
    for i in 0..adm.len() {
        let mut sum = 0u128;
        for j in i..adm.len() {
            sum += adm[j].1 as u128;
            let span = (adm[j].0 - adm[i].0) as u128;
            // sum ≤ size + span·k/p
            prop_assert!(
                sum * p <= size as u128 * p + span * k,
                "admitted {sum} in [{}, {}] ({span}µs)",
                adm[i].0,
                adm[j].0
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 400,
        // Spelled out: the default looks for a lib.rs above the test, finds
        // none for an integration test and falls back to a file beside it.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/proptest-regressions/properties.txt"
        )))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn token_bucket_and_gcra_admit_at_most_burst_plus_rate(
        q in prop_oneof![
            (1u64..=20, rate()).prop_map(|(c, r)| Quota::token_bucket(c, r).unwrap()),
            (1u64..=20, rate()).prop_map(|(b, r)| Quota::gcra(r, b).unwrap()),
            (1u64..=20, rate())
                .prop_map(|(c, r)| Quota::leaky_bucket(c, r, LeakMode::Policing).unwrap()),
        ],
        tr in trace(),
    ) {
        let adm = admitted(&replay(&q, &tr));
        match q {
            Quota::TokenBucket { capacity, refill } => check_rate_bound(capacity, &refill, &adm)?,
            Quota::Gcra { rate, burst } => check_rate_bound(burst, &rate, &adm)?,
            Quota::LeakyBucket { capacity, leak, mode: LeakMode::Policing } => {
                check_rate_bound(capacity, &leak, &adm)?
            }
            _ => {}
        }
    }

    #[test]
    fn fixed_window_admits_at_most_the_limit_per_window(
        q in (1u64..=20, window()).prop_map(|(l, w)| Quota::fixed_window(l, w).unwrap()),
        tr in trace(),
    ) {
        if let Quota::FixedWindow { limit, window_us } = q {
            let adm = admitted(&replay(&q, &tr));
            let mut per_window = std::collections::HashMap::<u64, u64>::new();
            for (t, cost) in adm {
                *per_window.entry(t / window_us).or_default() += cost;
            }
            for (w, n) in per_window {
                prop_assert!(n <= limit, "window {w}: {n} > {limit}");
            }
        }
    }

    #[test]
    fn sliding_log_admits_at_most_the_limit_in_any_window(
        q in (1u64..=20, window()).prop_map(|(l, w)| Quota::sliding_log(l, w).unwrap()),
        tr in trace(),
    ) {
        if let Quota::SlidingLog { limit, window_us } = q {
            let adm = admitted(&replay(&q, &tr));
            // The busiest windows (t − W, t] end on an admitted request.
            for &(t, _) in &adm {
                let n: u64 = adm
                    .iter()
                    .filter(|&&(x, _)| x + window_us > t && x <= t)
                    .map(|&(_, c)| c)
                    .sum();
                prop_assert!(n <= limit, "({}, {t}]: {n} > {limit}", t - window_us);
            }
        }
    }

    #[test]
    fn shaping_waits_at_most_capacity_intervals(
        q in (1u64..=20, rate())
            .prop_map(|(c, r)| Quota::leaky_bucket(c, r, LeakMode::Shaping).unwrap()),
        tr in trace(),
    ) {
        if let Quota::LeakyBucket { capacity, leak, mode: LeakMode::Shaping } = q {
            let max_wait = (capacity * leak.period_us()).div_ceil(leak.amount());
            let mut last_departure = 0;
            for (t, cost, d, _) in replay(&q, &tr) {
                if !d.allowed {
                    continue;
                }
                let wait = d.delay.as_micros() as u64;
                prop_assert!(wait <= max_wait, "waits {wait}µs > {max_wait}µs");
                // Departures keep their order, and one that waits leaves
                // n/r after the one before (to within the µs rounding).
                let dep = t + wait;
                prop_assert!(dep >= last_departure);
                if wait > 0 {
                    let gap = (cost * leak.period_us()) / leak.amount();
                    prop_assert!(dep + 1 >= last_departure + gap, "spacing {}", dep - last_departure);
                }
                last_departure = dep;
            }
        }
    }

    #[test]
    fn retry_after_is_exact(q in quota(), tr in trace()) {
        for (t, cost, d, before) in replay(&q, &tr) {
            let Some(RetryAfter::After(r)) = d.retry_after else { continue };
            let r = r.as_micros() as u64;
            prop_assert!(r >= 1);
            let mut later = before.clone();
            let at = algorithm::evaluate(&mut later, Timestamp::from_micros(t + r), cost, &q);
            prop_assert!(at.allowed, "{q}: denied at t + retry_after ({r}µs): {at:?}");
            let mut early = before.clone();
            let e = algorithm::evaluate(&mut early, Timestamp::from_micros(t + r - 1), cost, &q);
            prop_assert!(!e.allowed, "{q}: allowed 1µs before t + retry_after ({r}µs)");
        }
    }

    #[test]
    fn cost_above_the_limit_is_never_and_within_it_is_not(q in quota(), tr in trace()) {
        for (_, cost, d, _) in replay(&q, &tr) {
            let capacity = match q {
                // A shaping queue's limit counts the one departing.
                Quota::LeakyBucket { capacity, mode: LeakMode::Shaping, .. } => capacity,
                _ => q.limit(),
            };
            prop_assert_eq!(d.is_never(), cost > capacity, "{} cost {}: {:?}", q, cost, d);
        }
    }

    #[test]
    fn a_denial_leaves_the_state_deciding_as_before(q in quota(), tr in trace(), probe in trace()) {
        // Drop the denied requests from the trace: the others must get the
        // same decisions.
        let rows = replay(&q, &tr);
        let mut state = State::fresh(&q, Timestamp::from_micros(BASE + 12_345));
        for (t, cost, d, _) in &rows {
            if d.allowed {
                let again = algorithm::decide(&mut state, Timestamp::from_micros(*t), *cost, &q);
                prop_assert_eq!(&again, d, "at {}", t);
            }
        }
        // And right after a denial, evaluating (without consuming) changes
        // nothing that any later request could see.
        for (t, cost, d, before) in &rows {
            if d.allowed {
                continue;
            }
            let mut after = before.clone();
            let denied = algorithm::evaluate(&mut after, Timestamp::from_micros(*t), *cost, &q);
            prop_assert!(!denied.allowed);
            let (mut a, mut b) = (before.clone(), after);
            let mut pt = *t;
            for &(gap, c) in &probe {
                pt += gap;
                let now = Timestamp::from_micros(pt);
                prop_assert_eq!(
                    algorithm::decide(&mut a, now, c, &q),
                    algorithm::decide(&mut b, now, c, &q)
                );
            }
        }
    }

    #[test]
    fn memory_store_agrees_with_the_algorithm_even_when_swept(q in quota(), tr in trace()) {
        // Dropping idle keys (reset_after elapsed) must never change a
        // decision.
        let rows = replay(&q, &tr);
        let store = MemoryStore::default();
        let swept = MemoryStore::default();
        let check = |cost| LimitCheck {
            limit_id: "prop".into(),
            identity: "client".into(),
            quota: q,
            cost,
            on_failure: None,
            lease: None,
            sync: None,
            scope: floodgate_core::store::Scope::Region,
        };
        for (t, cost, d, _) in rows {
            let now = Timestamp::from_micros(t);
            prop_assert_eq!(store.check_sync(&[check(cost)], now)[0], d);
            swept.sweep(now);
            prop_assert_eq!(swept.check_sync(&[check(cost)], now)[0], d, "after a sweep at {}", t);
        }
    }
}
