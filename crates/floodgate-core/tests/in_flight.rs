//! Concurrency limits on the memory store and through the limiter: slots
//! held until released, leases that end on a manual clock, renewals, and
//! all-or-nothing with rate limits. Time is stepped by hand; nothing
//! sleeps.

use std::future::Future;
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use floodgate_core::policy::{KeyPart, Limit, Matcher, PathPattern, Rule};
use floodgate_core::{
    Clock, LeaseId, LeaseOp, LeaseStatus, LimitCheck, Limiter, ManualClock, MemoryStore, Policy,
    Quota, Rate, Request, RetryAfter, Store, Timestamp,
};

fn clock() -> ManualClock {
    ManualClock::new(Timestamp::from_micros(floodgate_testkit::BASE_US))
}

fn slots(limit: u64, lease_ms: u64) -> Quota {
    Quota::concurrency(limit, Duration::from_millis(lease_ms)).unwrap()
}

fn held(quota: Quota, lease: LeaseId) -> LimitCheck {
    LimitCheck::new("api/slots".into(), "client".into(), quota, 1).with_lease(Some(lease))
}

/// The memory store answers at once: its futures are ready when made.
fn ready<T>(f: impl Future<Output = T>) -> T {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the memory store never waits"),
    }
}

#[test]
fn n_slots_then_denied_until_one_is_released() {
    let store = MemoryStore::default();
    let c = clock();
    let q = slots(3, 10_000);
    let leases: Vec<LeaseId> = (0..4).map(|_| LeaseId::random()).collect();
    for (i, l) in leases[..3].iter().enumerate() {
        let d = store.check_one(&held(q, *l), c.now());
        assert!(d.allowed, "slot {i}");
        assert_eq!(d.remaining, 2 - i as u64);
    }
    let d = store.check_one(&held(q, leases[3]), c.now());
    assert!(!d.allowed);
    assert_eq!(d.remaining, 0);
    // At most one second: a slot may come back any moment.
    assert_eq!(
        d.retry_after,
        Some(RetryAfter::After(Duration::from_secs(1)))
    );

    let status = store.lease_sync(LeaseOp::Release, &[held(q, leases[1])], c.now());
    assert_eq!(status, vec![LeaseStatus::Held]);
    assert!(store.check_one(&held(q, leases[3]), c.now()).allowed);
    assert!(
        !store
            .check_one(&held(q, LeaseId::random()), c.now())
            .allowed
    );
    // Released twice: nothing held any more.
    let status = store.lease_sync(LeaseOp::Release, &[held(q, leases[1])], c.now());
    assert_eq!(status, vec![LeaseStatus::Missing]);
}

#[test]
fn a_check_without_a_lease_takes_no_slot() {
    let store = MemoryStore::default();
    let c = clock();
    let q = slots(1, 10_000);
    let peek = LimitCheck::new("api/slots".into(), "client".into(), q, 1);
    for _ in 0..5 {
        assert!(store.check_one(&peek, c.now()).allowed);
    }
    assert!(store.is_empty(), "a check holds nothing");
    assert!(
        store
            .check_one(&held(q, LeaseId::random()), c.now())
            .allowed
    );
    assert!(!store.check_one(&peek, c.now()).allowed);
}

#[test]
fn a_lease_that_is_never_released_ends_after_its_length() {
    let store = MemoryStore::default();
    let c = clock();
    let q = slots(2, 2_000);
    let (a, b) = (LeaseId::random(), LeaseId::random());
    assert!(store.check_one(&held(q, a), c.now()).allowed);
    c.advance(Duration::from_millis(500));
    assert!(store.check_one(&held(q, b), c.now()).allowed);
    let third = held(q, LeaseId::random());
    let d = store.check_one(&third, c.now());
    assert!(!d.allowed);
    // `a` ends 1.5 s from now, so the hint is its one-second cap; `b`
    // ends at 2.5 s, when the key is idle again.
    assert_eq!(d.reset_after, Duration::from_millis(2_000));

    // `a` ends at 2 s: a microsecond before, still held.
    c.advance(Duration::from_micros(1_499_999));
    assert!(!store.check_one(&third, c.now()).allowed);
    let d = store.check_one(&held(q, LeaseId::random()), c.now());
    assert_eq!(
        d.retry_after,
        Some(RetryAfter::After(Duration::from_micros(1)))
    );
    c.advance(Duration::from_micros(1));
    assert!(store.check_one(&third, c.now()).allowed);
    assert_eq!(store.leases_expired(), 1);
    // Its holder comes back too late.
    assert_eq!(
        store.lease_sync(LeaseOp::Release, &[held(q, a)], c.now()),
        vec![LeaseStatus::Missing]
    );
}

#[test]
fn renewing_keeps_the_slot_past_its_first_lease() {
    let store = MemoryStore::default();
    let c = clock();
    let q = slots(1, 3_000);
    let a = LeaseId::random();
    assert!(store.check_one(&held(q, a), c.now()).allowed);
    for _ in 0..10 {
        c.advance(Duration::from_millis(1_000));
        assert_eq!(
            store.lease_sync(LeaseOp::Renew, &[held(q, a)], c.now()),
            vec![LeaseStatus::Held]
        );
        assert!(
            !store
                .check_one(&held(q, LeaseId::random()), c.now())
                .allowed
        );
    }
    // The sweep keeps a renewed key: it is not idle.
    store.sweep(c.now());
    assert!(
        !store
            .check_one(&held(q, LeaseId::random()), c.now())
            .allowed
    );
    // Left alone, it ends 3 s after the last renewal, and the sweep
    // counts it.
    c.advance(Duration::from_millis(3_000));
    store.sweep(c.now());
    assert!(store.is_empty());
    assert_eq!(store.leases_expired(), 1);
    assert_eq!(
        store.lease_sync(LeaseOp::Renew, &[held(q, a)], c.now()),
        vec![LeaseStatus::Missing]
    );
}

#[test]
fn an_expired_lease_that_is_released_is_said_expired() {
    let store = MemoryStore::default();
    let c = clock();
    let q = slots(2, 1_000);
    let a = LeaseId::random();
    assert!(store.check_one(&held(q, a), c.now()).allowed);
    assert!(
        store
            .check_one(&held(q, LeaseId::random()), c.now())
            .allowed
    );
    c.advance(Duration::from_millis(1_000));
    assert_eq!(
        store.lease_sync(LeaseOp::Release, &[held(q, a)], c.now()),
        vec![LeaseStatus::Expired]
    );
    assert_eq!(
        store.lease_sync(LeaseOp::Renew, &[held(q, a)], c.now()),
        vec![LeaseStatus::Missing]
    );
}

#[test]
fn concurrency_and_rate_limits_are_all_or_nothing() {
    let store = MemoryStore::default();
    let c = clock();
    let bucket = Quota::token_bucket(2, Rate::per_second(1).unwrap()).unwrap();
    let rate = |cost| LimitCheck::new("api/rate".into(), "client".into(), bucket, cost);
    let q = slots(1, 10_000);
    let first = LeaseId::random();
    // Both allow: a token and a slot taken.
    let d = store.check_sync(&[rate(1), held(q, first)], c.now());
    assert!(d.iter().all(|d| d.allowed));
    // The slot is taken: the token bucket gives nothing.
    let d = store.check_sync(&[rate(1), held(q, LeaseId::random())], c.now());
    assert!(d[0].allowed && !d[1].allowed);
    assert_eq!(store.inspect_sync(&[rate(1)], c.now())[0].remaining, 0);
    // The bucket denies (cost 2 > 1 left): no slot taken.
    store.lease_sync(LeaseOp::Release, &[held(q, first)], c.now());
    let second = LeaseId::random();
    let d = store.check_sync(&[rate(2), held(q, second)], c.now());
    assert!(!d[0].allowed && d[1].allowed);
    assert_eq!(
        store.lease_sync(LeaseOp::Release, &[held(q, second)], c.now()),
        vec![LeaseStatus::Missing]
    );
    assert!(store.check_one(&held(q, second), c.now()).allowed);
}

#[test]
fn threads_racing_for_slots_get_exactly_the_limit() {
    const THREADS: usize = 32;
    let store = Arc::new(MemoryStore::default());
    let now = clock().now();
    let q = slots(5, 10_000);
    let bucket = Quota::token_bucket(1_000, Rate::per_second(1).unwrap()).unwrap();
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (store, start) = (store.clone(), start.clone());
            thread::spawn(move || {
                let rate = LimitCheck::new("api/rate".into(), "client".into(), bucket, 1);
                start.wait();
                let d = store.check_sync(&[rate, held(q, LeaseId::random())], now);
                d.iter().all(|d| d.allowed)
            })
        })
        .collect();
    let allowed = handles
        .into_iter()
        .filter(|_| true)
        .map(|h| h.join().unwrap())
        .filter(|&a| a)
        .count();
    assert_eq!(allowed, 5);
    // Only the five allowed took a token.
    let rate = LimitCheck::new("api/rate".into(), "client".into(), bucket, 1);
    assert_eq!(store.inspect_sync(&[rate], now)[0].remaining, 1_000 - 5 - 1);
}

fn policy(limits: Vec<Limit>) -> Policy {
    shadowed(limits, false)
}

fn shadowed(limits: Vec<Limit>, shadow: bool) -> Policy {
    Policy {
        rules: vec![Rule {
            name: "api".into(),
            matcher: Matcher {
                path: PathPattern::Any,
                methods: Vec::new(),
                descriptor: None,
            },
            key: vec![KeyPart::Ip],
            limits,
            tiers: Default::default(),
            shadow,
            on_store_failure: None,
            replaces: Vec::new(),
            error: Default::default(),
        }],
        ..Policy::default()
    }
}

#[test]
fn the_limiter_holds_slots_under_one_lease_until_released() {
    let c = clock();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let bucket = Quota::token_bucket(100, Rate::per_second(1).unwrap()).unwrap();
    let limiter = Limiter::new(
        Arc::new(policy(vec![
            Limit::new("api", None, "rate", bucket),
            Limit::new("api", None, "slots", slots(2, 30_000)),
        ])),
        store,
    );
    let req = Request {
        ip: Some("192.0.2.1".parse().unwrap()),
        method: "GET",
        path: "/x",
        ..Request::default()
    };
    let (v1, h1) = ready(limiter.acquire(&req, 1, c.now())).unwrap();
    let (v2, h2) = ready(limiter.acquire(&req, 1, c.now())).unwrap();
    assert!(v1.allowed && v2.allowed);
    let (h1, h2) = (h1.expect("a slot held"), h2.expect("a slot held"));
    assert_ne!(h1.lease, h2.lease);
    assert_eq!(h1.checks.len(), 1);
    assert_eq!(h1.lease_length(), Duration::from_secs(30));
    let (v3, h3) = ready(limiter.acquire(&req, 1, c.now())).unwrap();
    assert!(!v3.allowed && h3.is_none());
    let deciding = v3.deciding().unwrap();
    assert_eq!(deciding.quota.algorithm_name(), "concurrency");
    // A plain check takes no slot and says the limit is full.
    assert!(!ready(limiter.check(&req, 1, c.now())).unwrap().allowed);

    assert_eq!(
        ready(limiter.release(&h1, c.now())).unwrap(),
        vec![LeaseStatus::Held]
    );
    let (v4, h4) = ready(limiter.acquire(&req, 1, c.now())).unwrap();
    assert!(v4.allowed && h4.is_some());
    // Two allowed, one denied, one allowed again: the denied request took
    // no token.
    let rate = &v4.outcomes[0];
    assert_eq!(rate.decision.remaining, 100 - 3);
    assert_eq!(
        ready(limiter.renew(&h2, c.now())).unwrap(),
        vec![LeaseStatus::Held]
    );
}

#[test]
fn a_policy_without_concurrency_limits_holds_nothing() {
    let c = clock();
    let bucket = Quota::token_bucket(100, Rate::per_second(1).unwrap()).unwrap();
    let limiter = Limiter::new(
        Arc::new(policy(vec![Limit::new("api", None, "rate", bucket)])),
        Arc::new(MemoryStore::default()),
    );
    let (v, h) = ready(limiter.acquire(&Request::default(), 1, c.now())).unwrap();
    assert!(v.allowed);
    assert!(h.is_none());
}

#[test]
fn a_shadow_concurrency_limit_counts_slots_but_never_denies() {
    let c = clock();
    let limiter = Limiter::new(
        Arc::new(shadowed(
            vec![Limit::new("api", None, "slots", slots(1, 30_000))],
            true,
        )),
        Arc::new(MemoryStore::default()),
    );
    let req = Request::default();
    let (v1, h1) = ready(limiter.acquire(&req, 1, c.now())).unwrap();
    assert!(
        v1.allowed && h1.is_some(),
        "a shadow slot is held while in flight"
    );
    let (v2, h2) = ready(limiter.acquire(&req, 1, c.now())).unwrap();
    assert!(v2.allowed, "shadow rules never deny");
    assert!(h2.is_none(), "its shadow limit was full: no slot taken");
    assert_eq!(v2.shadow_denials().count(), 1);
    ready(limiter.release(&h1.unwrap(), c.now())).unwrap();
    let (v3, h3) = ready(limiter.acquire(&req, 1, c.now())).unwrap();
    assert!(v3.allowed && h3.is_some());
    assert_eq!(v3.shadow_denials().count(), 0);
}
