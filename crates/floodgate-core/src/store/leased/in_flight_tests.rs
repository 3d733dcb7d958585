//! The leased store with calls in flight: takes and renewals that wait,
//! are dropped or fail, and what requests meanwhile see.

use std::sync::Arc;
use std::time::Duration;

use super::tests::{at, bucket, leased, store};
use super::{LeasedStore, LeasedStoreConfig};
use crate::quota::Quota;
use crate::store::{LimitCheck, MemoryStore, Store};
use crate::time::Timestamp;
use floodgate_testkit::block_on;

/// A store whose takes never answer.
struct Stuck;

impl Store for Stuck {
    fn check<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> crate::store::BoxFuture<'a, Result<Vec<crate::Decision>, crate::store::StoreError>> {
        let d = MemoryStore::default().check_sync(checks, now);
        Box::pin(std::future::ready(Ok(d)))
    }

    fn take<'a>(
        &'a self,
        _wants: &'a [crate::store::SliceWant],
        _now: Timestamp,
    ) -> crate::store::BoxFuture<'a, Result<Vec<crate::store::Taken>, crate::store::StoreError>>
    {
        Box::pin(std::future::pending())
    }
}

#[test]
fn a_request_dropped_while_it_takes_a_slice_leaves_no_mark() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    let s = LeasedStore::new(Stuck, LeasedStoreConfig::default());
    let c = [leased(bucket(), "a", 1)];
    {
        let mut f = std::pin::pin!(s.check(&c, at(0)));
        let polled = f.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        assert!(matches!(polled, Poll::Pending), "the take waits");
    }
    // Dropped mid-take: the next request on the key takes a slice itself
    // (and waits too), rather than being sent to the store for good.
    let mut f = std::pin::pin!(s.check(&c, at(1)));
    let polled = f.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    assert!(
        matches!(polled, Poll::Pending),
        "a take, not the store: {:?}",
        s.stats()
    );
    assert_eq!(s.stats().take_calls, 2);
    assert_eq!(s.stats().decided_on_store, 0);
}

/// A memory store whose takes wait until the test opens `release`.
struct Held {
    inner: MemoryStore,
    release: Arc<super::gate::Gate>,
    checks: std::sync::atomic::AtomicU64,
}

impl crate::store::StoreWrapper for Held {
    type Inner = MemoryStore;

    fn inner(&self) -> &MemoryStore {
        &self.inner
    }

    fn check<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> crate::store::BoxFuture<'a, Result<Vec<crate::Decision>, crate::StoreError>> {
        self.checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.check(checks, now)
    }

    fn take<'a>(
        &'a self,
        wants: &'a [crate::store::SliceWant],
        now: Timestamp,
    ) -> crate::store::BoxFuture<'a, Result<Vec<crate::store::Taken>, crate::StoreError>> {
        let release = self.release.clone();
        Box::pin(async move {
            release.wait().await;
            self.inner.take(wants, now).await
        })
    }
}

/// A leased store on a [`Held`] store, and the gate its takes wait on.
fn held() -> (LeasedStore<Held>, Arc<super::gate::Gate>) {
    let release = Arc::new(super::gate::Gate::default());
    let s = LeasedStore::new(
        Held {
            inner: MemoryStore::default(),
            release: release.clone(),
            checks: Default::default(),
        },
        LeasedStoreConfig::default(),
    );
    (s, release)
}

/// Single flight: while one request takes a key's slice, the others on
/// that key wait for it and are then decided from the new slice, with no
/// call of their own; dropping the taking request wakes them too.
#[test]
fn requests_wait_for_the_take_under_way() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    let (s, release) = held();
    let c = [leased(bucket(), "a", 1)];
    let mut cx = Context::from_waker(Waker::noop());
    let mut first = Box::pin(s.check(&c, at(0)));
    assert!(first.as_mut().poll(&mut cx).is_pending(), "taking");
    let mut others: Vec<_> = (0..3).map(|_| Box::pin(s.check(&c, at(0)))).collect();
    for o in &mut others {
        assert!(
            o.as_mut().poll(&mut cx).is_pending(),
            "waiting, not on the store"
        );
    }
    assert_eq!(s.inner.checks.load(std::sync::atomic::Ordering::Relaxed), 0);
    release.open();
    let Poll::Ready(d) = first.as_mut().poll(&mut cx) else {
        panic!("the take came back");
    };
    assert!(d.unwrap()[0].allowed);
    for o in &mut others {
        let Poll::Ready(d) = o.as_mut().poll(&mut cx) else {
            panic!("woken and decided");
        };
        assert!(d.unwrap()[0].allowed);
    }
    let st = s.stats();
    assert_eq!(
        (st.take_calls, st.waited, st.decided_on_store),
        (1, 3, 0),
        "{st:?}"
    );
    assert_eq!(st.decided_locally, 4, "{st:?}");
    assert_eq!(s.inner.checks.load(std::sync::atomic::Ordering::Relaxed), 0);
}

/// A taking request dropped (its client went away) wakes the waiters; one
/// of them takes the slice in its place.
#[test]
fn a_dropped_take_wakes_the_waiters() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    let (s, release) = held();
    let c = [leased(bucket(), "b", 1)];
    let mut cx = Context::from_waker(Waker::noop());
    let mut first = Box::pin(s.check(&c, at(0)));
    assert!(first.as_mut().poll(&mut cx).is_pending());
    let mut waiter = Box::pin(s.check(&c, at(0)));
    assert!(waiter.as_mut().poll(&mut cx).is_pending());
    drop(first);
    // Woken, it takes the slice itself (held until released).
    assert!(waiter.as_mut().poll(&mut cx).is_pending());
    release.open();
    let Poll::Ready(d) = waiter.as_mut().poll(&mut cx) else {
        panic!("decided");
    };
    assert!(d.unwrap()[0].allowed);
    assert_eq!(s.stats().take_calls, 2);
}

#[test]
fn the_tick_renews_spent_slices_of_keys_in_use_in_one_call() {
    let (_, s) = store();
    let q = Quota::fixed_window(1_000, Duration::from_secs(10)).unwrap();
    let (a, b) = ([leased(q, "a", 1)], [leased(q, "b", 1)]);
    // The first slices: a tenth of 1,000 each; both spent in 100 ms.
    for i in 0..100 {
        assert!(block_on(s.check(&a, at(i))).unwrap()[0].allowed);
        assert!(block_on(s.check(&b, at(i))).unwrap()[0].allowed);
    }
    assert_eq!(s.stats().take_calls, 2);
    assert_eq!(s.held(at(100)), 0);
    block_on(s.tick(at(100)));
    let st = s.stats();
    assert_eq!((st.renew_calls, st.renewed), (1, 2), "{st:?}");
    assert!(s.held(at(100)) >= 2, "both renewed");
    // Their next requests decide from the renewed slices: no call.
    assert!(block_on(s.check(&a, at(101))).unwrap()[0].allowed);
    assert!(block_on(s.check(&b, at(101))).unwrap()[0].allowed);
    assert_eq!(s.stats().take_calls, 2);
    // Nothing spent since: the next tick renews nothing.
    block_on(s.tick(at(150)));
    assert_eq!(s.stats().renew_calls, 1);
}

#[test]
fn the_tick_renews_nothing_at_the_edge_past_the_lease_or_when_told_not_to() {
    let q = Quota::fixed_window(1, Duration::from_secs(10)).unwrap();
    let c = [leased(q, "a", 1)];
    // The store had nothing left after the slice: the next request's
    // take says so, not the tick's.
    let (_, s) = store();
    assert!(block_on(s.check(&c, at(0))).unwrap()[0].allowed);
    block_on(s.tick(at(10)));
    assert_eq!(s.stats().renew_calls, 0);

    let big = Quota::fixed_window(1_000, Duration::from_secs(10)).unwrap();
    let c = [leased(big, "a", 100)];
    // Spent, but its lease is over: the key may be idle.
    let (_, s) = store();
    assert!(block_on(s.check(&c, at(0))).unwrap()[0].allowed);
    block_on(s.tick(at(1_000)));
    assert_eq!(s.stats().renew_calls, 0);

    let shared = Arc::new(MemoryStore::default());
    let config = LeasedStoreConfig {
        renew: false,
        ..LeasedStoreConfig::default()
    };
    let s = LeasedStore::new(shared, config);
    assert!(block_on(s.check(&c, at(0))).unwrap()[0].allowed);
    block_on(s.tick(at(10)));
    assert_eq!(s.stats().renew_calls, 0);
}

/// A memory store whose takes never come back while `hang` is set.
struct Hang {
    inner: Arc<MemoryStore>,
    hang: std::sync::atomic::AtomicBool,
}

impl crate::store::StoreWrapper for Hang {
    type Inner = MemoryStore;

    fn inner(&self) -> &MemoryStore {
        &self.inner
    }

    fn take<'a>(
        &'a self,
        wants: &'a [crate::store::SliceWant],
        now: Timestamp,
    ) -> crate::store::BoxFuture<'a, Result<Vec<crate::store::Taken>, crate::StoreError>> {
        if self.hang.load(std::sync::atomic::Ordering::Relaxed) {
            return Box::pin(std::future::pending());
        }
        Store::take(&*self.inner, wants, now)
    }
}

/// A request on a key being renewed waits for the renewal; a tick
/// dropped mid-renewal wakes it, and it takes the slice itself.
#[test]
fn a_request_waits_for_a_renewal_and_a_dropped_tick_leaves_no_mark() {
    use std::future::Future;
    use std::task::{Context, Waker};

    let shared = Arc::new(MemoryStore::default());
    let s = LeasedStore::new(
        Hang {
            inner: shared,
            hang: Default::default(),
        },
        LeasedStoreConfig::default(),
    );
    let q = Quota::fixed_window(1_000, Duration::from_secs(10)).unwrap();
    let c = [leased(q, "a", 100)];
    assert!(block_on(s.check(&c, at(0))).unwrap()[0].allowed, "spent");
    s.inner
        .hang
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let mut cx = Context::from_waker(Waker::noop());
    let mut tick = Box::pin(s.tick(at(10)));
    assert!(tick.as_mut().poll(&mut cx).is_pending(), "renewing");
    let mut req = Box::pin(s.check(&c, at(11)));
    assert!(req.as_mut().poll(&mut cx).is_pending());
    let st = s.stats();
    assert_eq!(
        (st.take_calls, st.renew_calls, st.waited),
        (1, 1, 1),
        "{st:?}"
    );
    drop(tick);
    // Woken, the request takes its own slice (which hangs too).
    assert!(req.as_mut().poll(&mut cx).is_pending());
    let st = s.stats();
    assert_eq!((st.take_calls, st.decided_on_store), (2, 0), "{st:?}");
}

/// A renewal the store refuses (others spent the key meanwhile) keeps
/// the store's denial: the key's next request is denied with no call.
#[test]
fn a_refused_renewal_keeps_the_denial() {
    let (shared, s) = store();
    let q = Quota::fixed_window(1_000, Duration::from_secs(10)).unwrap();
    let c = [leased(q, "a", 100)];
    assert!(block_on(s.check(&c, at(0))).unwrap()[0].allowed);
    // Another replica (here, an exact check) spends the rest.
    let mut rest = leased(q, "a", 900);
    rest.sync = None;
    assert!(shared.check_sync(&[rest], at(1))[0].allowed);
    block_on(s.tick(at(10)));
    assert_eq!(s.stats().renew_calls, 1);
    let c1 = [leased(q, "a", 1)];
    assert!(!block_on(s.check(&c1, at(11))).unwrap()[0].allowed);
    let st = s.stats();
    assert_eq!((st.take_calls, st.decided_locally), (1, 2), "{st:?}");
}
