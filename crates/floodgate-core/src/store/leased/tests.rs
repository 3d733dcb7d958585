//! The leased store's own behaviour, on a memory store under a manual
//! clock.

use std::sync::Arc;
use std::time::Duration;

use super::{LeasedStore, LeasedStoreConfig};
use crate::quota::{Quota, Rate};
use crate::store::{LimitCheck, MemoryStore, SliceTerms, Store};
use crate::time::Timestamp;
use floodgate_testkit::block_on;

pub(super) const BASE: u64 = 1_000_000_000_000;

pub(super) fn at(ms: u64) -> Timestamp {
    Timestamp::from_micros(BASE + ms * 1_000)
}

pub(super) fn bucket() -> Quota {
    Quota::token_bucket(1_000, Rate::new(100, Duration::from_secs(1)).unwrap()).unwrap()
}

pub(super) fn leased(q: Quota, id: &str, cost: u64) -> LimitCheck {
    let mut c = LimitCheck::new(Arc::from("r/l"), Arc::from(id), q, cost);
    c.sync = Some(SliceTerms {
        lease_us: 1_000_000,
        share_ppm: 100_000,
    });
    c
}

pub(super) fn store() -> (Arc<MemoryStore>, LeasedStore<Arc<MemoryStore>>) {
    let shared = Arc::new(MemoryStore::default());
    let s = LeasedStore::new(Arc::clone(&shared), LeasedStoreConfig::default());
    (shared, s)
}

#[test]
fn slices_grow_with_demand_and_calls_fall() {
    let (_, s) = store();
    let c = [leased(bucket(), "a", 1)];
    for i in 0..400 {
        assert!(block_on(s.check(&c, at(i))).unwrap()[0].allowed);
    }
    let st = s.stats();
    assert_eq!(st.decided_locally, 400);
    // A tenth of what is left each time (100, 90, 81…): far fewer calls
    // than requests, and every admitted request came out of a slice.
    assert!(st.take_calls < 20, "{st:?}");
    assert!(st.units_taken >= 400, "{st:?}");
}

#[test]
fn a_denial_is_kept_until_its_retry_time() {
    let (_, s) = store();
    let q = Quota::fixed_window(3, Duration::from_secs(10)).unwrap();
    let c = [leased(q, "a", 1)];
    let allowed = (0..10)
        .filter(|&i| block_on(s.check(&c, at(i))).unwrap()[0].allowed)
        .count();
    assert_eq!(allowed, 3);
    let calls = s.stats().take_calls;
    for i in 10..100 {
        assert!(!block_on(s.check(&c, at(i))).unwrap()[0].allowed);
    }
    assert_eq!(s.stats().take_calls, calls, "denials cost no call");
}

#[test]
fn a_denied_request_consumes_nothing_of_its_other_limits() {
    let (shared, s) = store();
    let small = Quota::fixed_window(2, Duration::from_secs(10)).unwrap();
    let c = [leased(bucket(), "a", 1), leased(small, "a2", 1)];
    let allowed = (0..6)
        .filter(|&i| {
            block_on(s.check(&c, at(i))).unwrap()[0..2]
                .iter()
                .all(|d| d.allowed)
        })
        .count();
    assert_eq!(allowed, 2);
    block_on(s.give_back_all(at(10)));
    // Everything the bucket's slices held went back: only the 2 admitted
    // are spent on the shared store.
    let d = shared.inspect_sync(&[leased(bucket(), "a", 1)], at(10));
    // 2 admitted, 1 refilled in 10 ms, 1 for the inspected request.
    assert_eq!(d[0].remaining, 1_000 - 2 + 1 - 1, "{d:?}");
}

#[test]
fn an_exact_denial_gives_the_leased_reservations_back() {
    let (shared, s) = store();
    let exact = LimitCheck::new(
        Arc::from("r/x"),
        Arc::from("a"),
        Quota::fixed_window(1, Duration::from_secs(10)).unwrap(),
        1,
    );
    let c = [leased(bucket(), "a", 1), exact];
    assert!(block_on(s.check(&c, at(0)))
        .unwrap()
        .iter()
        .all(|d| d.allowed));
    let d = block_on(s.check(&c, at(1))).unwrap();
    assert!(d[0].allowed && !d[1].allowed);
    block_on(s.give_back_all(at(2)));
    let d = shared.inspect_sync(&[leased(bucket(), "a", 1)], at(2));
    assert_eq!(d[0].remaining, 1_000 - 1 - 1, "{d:?}");
}

#[test]
fn leases_end_and_idle_keys_hold_nothing() {
    let (shared, s) = store();
    let c = [leased(bucket(), "a", 1)];
    for i in 0..50 {
        assert!(block_on(s.check(&c, at(i))).unwrap()[0].allowed);
    }
    assert!(s.held(at(50)) > 0);
    block_on(s.tick(at(1_100)));
    assert_eq!(s.held(at(1_100)), 0);
    let st = s.stats();
    // What went back, less what the bucket refilled while the last slice
    // was held past its lease (at most 100 ms at 100/s).
    assert_eq!(
        st.units_taken,
        st.units_returned + st.units_wasted + 50,
        "{st:?}"
    );
    assert!(st.units_wasted <= 10, "{st:?}");
    block_on(s.tick(at(3_500)));
    assert_eq!(s.keys(), 0);
    // The store counts only what was admitted (and has refilled since).
    assert_eq!(shared.inspect_sync(&c, at(3_500))[0].remaining, 999);
}

#[test]
fn the_table_is_bounded() {
    let shared = Arc::new(MemoryStore::default());
    let s = LeasedStore::new(
        Arc::clone(&shared),
        LeasedStoreConfig {
            max_keys: 10,
            ..LeasedStoreConfig::default()
        },
    );
    for i in 0..50 {
        let c = [leased(bucket(), &format!("k{i}"), 1)];
        assert!(block_on(s.check(&c, at(i))).unwrap()[0].allowed);
    }
    assert_eq!(s.keys(), 10);
    assert_eq!(s.stats().table_full, 40);
    assert_eq!(s.stats().decided_on_store, 40);
}

/// Requests on a busy key every 10 ms over 3 s, a tick every 50 ms:
/// how many of them had to take a slice themselves (waiting for the
/// store), with slices renewed `ahead_ms` before they run out.
fn own_takes(ahead_ms: u64) -> (u64, u64) {
    let shared = Arc::new(MemoryStore::default());
    let s = LeasedStore::new(
        shared,
        LeasedStoreConfig {
            renew_ahead: Duration::from_millis(ahead_ms),
            ..LeasedStoreConfig::default()
        },
    );
    let q = Quota::fixed_window(1_000_000, Duration::from_secs(3_600)).unwrap();
    let c = [leased(q, "busy", 1)];
    for ms in (0..3_000).step_by(10) {
        assert!(block_on(s.check(&c, at(ms))).unwrap()[0].allowed);
        if ms % 50 == 0 {
            block_on(s.tick(at(ms + 1)));
        }
    }
    let st = s.stats();
    (st.take_calls, st.renew_calls)
}

#[test]
fn a_busy_key_renewed_ahead_never_waits_for_a_take() {
    let (takes, renews) = own_takes(200);
    assert_eq!(takes, 1, "only the first request took its slice");
    assert!(renews >= 2, "{renews} renewals");
    // Without it, a request takes each time a lease ends.
    let (takes, _) = own_takes(0);
    assert!(takes >= 3, "{takes} takes without renewing ahead");
}
