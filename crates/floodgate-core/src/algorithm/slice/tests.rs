use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::algorithm::{decide, State};
use crate::quota::Rate;

fn quotas() -> Vec<Quota> {
    let rate = Rate::new(10, Duration::from_secs(1)).unwrap();
    vec![
        Quota::token_bucket(40, rate).unwrap(),
        Quota::leaky_bucket(40, rate, LeakMode::Policing).unwrap(),
        Quota::FixedWindow {
            limit: 40,
            window_us: 4_000_000,
        },
        Quota::SlidingLog {
            limit: 40,
            window_us: 4_000_000,
        },
        Quota::SlidingCounter {
            limit: 40,
            window_us: 4_000_000,
        },
        Quota::Gcra { rate, burst: 40 },
    ]
}

/// A state of `q` after `spent` unit requests at `t`.
fn spent(q: &Quota, t: Timestamp, spent: u64) -> State {
    let mut s = State::fresh(q, t);
    for _ in 0..spent {
        decide(&mut s, t, 1, q);
    }
    s
}

proptest! {
    /// A slice is never more than asked for, never less than the least
    /// asked for, never more than the share of what is left (unless that
    /// share is below the least), and nothing only when the least does not
    /// fit; the state is consumed by exactly what was taken.
    #[test]
    fn takes_what_the_terms_say(
        qi in 0usize..6, used in 0u64..45, need in 1u64..4, want in 1u64..50,
        share in 1u32..=SHARE_UNIT, at in 0u64..10_000_000,
    ) {
        let q = quotas()[qi];
        let t = Timestamp::from_micros(1_000_000_000 + at);
        let before = spent(&q, t, used);
        let mut avail = 0;
        while avail < size(&q) && evaluate(&mut before.clone(), t, avail + 1, &q).allowed {
            avail += 1;
        }
        let mut s = before.clone();
        let (n, d) = take(&mut s, t, need, want.max(need), share, &q);
        if avail < need {
            prop_assert_eq!(n, 0);
            prop_assert!(!d.allowed);
            prop_assert_eq!(&s, &before);
        } else {
            prop_assert!(d.allowed);
            prop_assert_eq!(n, want.max(need).min(need.max(share_of(avail, share))));
            let mut expect = before.clone();
            consume(&mut expect, t, n, &q);
            prop_assert_eq!(&s, &expect);
        }
    }

    /// Giving back a whole slice at once leaves every later decision as
    /// it would have been without the slice.
    #[test]
    fn a_whole_slice_given_back_changes_nothing(
        qi in 0usize..6, used in 0u64..30, want in 1u64..20, later in 0u64..3_000_000,
    ) {
        let q = quotas()[qi];
        let t = Timestamp::from_micros(1_000_000_000);
        let before = spent(&q, t, used);
        let mut s = before.clone();
        let (n, _) = take(&mut s, t, 1, want, SHARE_UNIT, &q);
        prop_assume!(n > 0);
        prop_assert!(give_back(&mut s, t, n, &q));
        let t2 = Timestamp::from_micros(1_000_000_000 + later);
        for cost in 1..=40 {
            prop_assert_eq!(
                evaluate(&mut s.clone(), t2, cost, &q).allowed,
                evaluate(&mut before.clone(), t2, cost, &q).allowed,
                "cost {} at +{}µs", cost, later
            );
        }
    }
}

#[test]
fn near_the_edge_a_slice_is_one_request() {
    for q in quotas() {
        let t = Timestamp::from_micros(1_000_000_000);
        let mut s = spent(&q, t, 35);
        // 5 left, a tenth of it is 0: the least asked for.
        let (n, d) = take(&mut s, t, 1, 30, 100_000, &q);
        assert_eq!(n, 1, "{q}");
        assert_eq!(d.remaining, 4, "{q}");
    }
}

#[test]
fn a_window_takes_nothing_back_once_it_ended() {
    let q = Quota::FixedWindow {
        limit: 40,
        window_us: 4_000_000,
    };
    let t = Timestamp::from_micros(4_000_000_000);
    let mut s = State::fresh(&q, t);
    let (n, _) = take(&mut s, t, 1, 10, SHARE_UNIT, &q);
    assert_eq!(n, 10);
    consume(&mut s, Timestamp::from_micros(4_004_000_000), 1, &q);
    assert!(!give_back(&mut s, t, 10, &q));
}

#[test]
fn leasable_is_every_rate_algorithm_but_shaping() {
    let rate = Rate::new(1, Duration::from_secs(1)).unwrap();
    assert!(quotas().iter().all(leasable));
    assert!(!leasable(
        &Quota::leaky_bucket(5, rate, LeakMode::Shaping).unwrap()
    ));
    assert!(!leasable(&Quota::Concurrency {
        limit: 5,
        lease_us: 1_000_000
    }));
}
