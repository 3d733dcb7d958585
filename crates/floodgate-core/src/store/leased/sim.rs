//! N replicas deciding from slices of one shared store, under a manual
//! clock and any interleaving of requests, lease ends, give-backs and
//! shutdowns: what they admit together never passes the stated bounds,
//! and one replica taking slices of one decides exactly as the store.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;

use super::{LeasedStore, LeasedStoreConfig};
use crate::algorithm::slice::size;
use crate::quota::{LeakMode, Quota, Rate};
use crate::store::{LimitCheck, MemoryStore, SliceTerms, Store};
use crate::time::Timestamp;
use floodgate_testkit::block_on;

const BASE: u64 = 1_000_000_000_000;

fn quota(i: usize) -> Quota {
    let rate = Rate::new(10, Duration::from_secs(1)).unwrap();
    match i {
        0 => Quota::token_bucket(20, rate).unwrap(),
        1 => Quota::Gcra { rate, burst: 20 },
        2 => Quota::leaky_bucket(20, rate, LeakMode::Policing).unwrap(),
        3 => Quota::FixedWindow {
            limit: 30,
            window_us: 2_000_000,
        },
        4 => Quota::SlidingCounter {
            limit: 30,
            window_us: 2_000_000,
        },
        _ => Quota::SlidingLog {
            limit: 30,
            window_us: 2_000_000,
        },
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// A request on `replica` for `key` costing `cost`, `after` µs after
    /// the previous step.
    Request {
        replica: usize,
        key: usize,
        cost: u64,
        after: u64,
    },
    /// A replica's lease ends and give-backs.
    Tick { replica: usize },
    /// A replica gives everything back (shutdown, policy change).
    GiveBackAll { replica: usize },
}

fn ops(replicas: usize) -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        8 => (0..replicas, 0usize..2, 1u64..3, prop_oneof![Just(0u64), 0u64..5_000, 0u64..400_000])
            .prop_map(|(replica, key, cost, after)| Op::Request { replica, key, cost, after }),
        2 => (0..replicas).prop_map(|replica| Op::Tick { replica }),
        1 => (0..replicas).prop_map(|replica| Op::GiveBackAll { replica }),
    ];
    prop::collection::vec(op, 1..400)
}

fn check(q: Quota, key: usize, cost: u64, terms: Option<SliceTerms>) -> LimitCheck {
    let mut c = LimitCheck::new(Arc::from("rule/l"), Arc::from(format!("k{key}")), q, cost);
    c.sync = terms;
    c
}

/// Runs `ops` on `n` replicas (whose ticks renew spent slices when
/// `renew`, and those about to run out `ahead_us` early); returns what
/// was admitted: (µs, key, cost).
fn run(
    q: Quota,
    terms: SliceTerms,
    n: usize,
    ops: &[Op],
    renew: bool,
    ahead_us: u64,
) -> Vec<(u64, usize, u64)> {
    let shared = Arc::new(MemoryStore::default());
    let config = LeasedStoreConfig {
        renew,
        renew_ahead: std::time::Duration::from_micros(ahead_us),
        ..LeasedStoreConfig::default()
    };
    let replicas: Vec<_> = (0..n)
        .map(|_| LeasedStore::new(Arc::clone(&shared), config))
        .collect();
    let mut t = BASE;
    let mut admitted = Vec::new();
    for op in ops {
        match *op {
            Op::Request {
                replica,
                key,
                cost,
                after,
            } => {
                t += after;
                let c = [check(q, key, cost, Some(terms))];
                let d = block_on(replicas[replica].check(&c, Timestamp::from_micros(t))).unwrap();
                if d[0].allowed {
                    admitted.push((t, key, cost));
                }
            }
            Op::Tick { replica } => block_on(replicas[replica].tick(Timestamp::from_micros(t))),
            Op::GiveBackAll { replica } => {
                block_on(replicas[replica].give_back_all(Timestamp::from_micros(t)))
            }
        }
    }
    admitted
}

/// The most a bucket-like limit (size `c`, `k` per `p` µs) may admit in
/// `[a, b]` when slices live `lease` µs: `c + k·(b − a + lease)/p`.
fn bucket_bound(c: u64, k: u64, p: u64, a: u64, b: u64, lease: u64) -> u64 {
    c + (k as u128 * (b - a + lease) as u128).div_ceil(p as u128) as u64
}

fn assert_bounds(q: Quota, terms: SliceTerms, admitted: &[(u64, usize, u64)]) {
    for key in 0..2 {
        let a: Vec<(u64, u64)> = admitted
            .iter()
            .filter(|e| e.1 == key)
            .map(|e| (e.0, e.2))
            .collect();
        match q {
            Quota::TokenBucket { refill: r, .. }
            | Quota::Gcra { rate: r, .. }
            | Quota::LeakyBucket { leak: r, .. } => {
                for i in 0..a.len() {
                    let mut sum = 0;
                    for j in i..a.len() {
                        sum += a[j].1;
                        let bound = bucket_bound(
                            size(&q),
                            r.amount(),
                            r.period_us(),
                            a[i].0,
                            a[j].0,
                            terms.lease_us,
                        );
                        assert!(
                            sum <= bound,
                            "{q}: {sum} admitted in [{}, {}], bound {bound}",
                            a[i].0,
                            a[j].0
                        );
                    }
                }
            }
            Quota::FixedWindow { limit, window_us } => {
                let mut per: std::collections::HashMap<u64, u64> = Default::default();
                for &(t, c) in &a {
                    *per.entry(t / window_us).or_default() += c;
                }
                for (w, sum) in per {
                    assert!(sum <= limit, "{q}: {sum} admitted in window {w}");
                }
            }
            Quota::SlidingCounter { limit, window_us } => {
                // Each admission keeps the estimate, over what was
                // admitted, within the limit (as an exact check does).
                for (i, &(t, c)) in a.iter().enumerate() {
                    let start = t - t % window_us;
                    let (mut prev, mut curr) = (0u64, 0u64);
                    for &(x, cx) in &a[..i] {
                        if x >= start {
                            curr += cx;
                        } else if x + window_us >= start {
                            prev += cx;
                        }
                    }
                    let e = (t - start) as f64;
                    let w = window_us as f64;
                    let est = prev as f64 * (w - e) / w + curr as f64;
                    assert!(
                        est + c as f64 <= limit as f64,
                        "{q}: estimate {est} + {c} at {t}"
                    );
                }
            }
            Quota::SlidingLog { limit, window_us } => {
                // At most the limit plus what was taken in the lease time
                // before a window: here, at most twice the limit.
                for i in 0..a.len() {
                    let sum: u64 = a[i..]
                        .iter()
                        .take_while(|e| e.0 < a[i].0 + window_us)
                        .map(|e| e.1)
                        .sum();
                    assert!(sum <= 2 * limit, "{q}: {sum} in a window from {}", a[i].0);
                }
            }
            Quota::Concurrency { .. } => unreachable!(),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn replicas_together_stay_within_the_bounds(
        qi in 0usize..6,
        n in 1usize..5,
        lease_ms in prop_oneof![Just(50u64), Just(300), Just(1_000)],
        share in prop_oneof![Just(100_000u32), Just(500_000), Just(1_000_000)],
        ahead_ms in prop_oneof![Just(0u64), Just(20), Just(200)],
        ops in ops(4),
    ) {
        let q = quota(qi);
        let terms = SliceTerms { lease_us: lease_ms * 1_000, share_ppm: share };
        let ops: Vec<Op> = ops.into_iter().map(|op| match op {
            Op::Request { replica, key, cost, after } => Op::Request { replica: replica % n, key, cost, after },
            Op::Tick { replica } => Op::Tick { replica: replica % n },
            Op::GiveBackAll { replica } => Op::GiveBackAll { replica: replica % n },
        }).collect();
        let admitted = run(q, terms, n, &ops, true, ahead_ms * 1_000);
        assert_bounds(q, terms, &admitted);
    }

    /// One replica whose slices are one request decides every request
    /// as the store alone would (when its ticks renew nothing: a renewal
    /// takes at the tick's time, not the request's).
    #[test]
    fn one_replica_with_slices_of_one_is_exact(qi in 0usize..6, ops in ops(1)) {
        let q = quota(qi);
        let terms = SliceTerms { lease_us: 1_000_000, share_ppm: 1 };
        let leased = run(q, terms, 1, &ops, false, 0);
        let exact = MemoryStore::default();
        let mut t = BASE;
        let mut expected = Vec::new();
        for op in &ops {
            if let Op::Request { key, cost, after, .. } = *op {
                t += after;
                let d = exact.check_sync(&[check(q, key, cost, None)], Timestamp::from_micros(t));
                if d[0].allowed {
                    expected.push((t, key, cost));
                }
            }
        }
        prop_assert_eq!(leased, expected);
    }
}
