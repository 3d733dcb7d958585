//! Reservations rolled back while the key's slice changed under them:
//! they go back where they were taken, never into a later slice, and
//! count for nothing after a reset.

use std::sync::Arc;
use std::time::Duration;

use super::tests::{at, bucket, leased};
use super::{LeasedStore, LeasedStoreConfig};
use crate::quota::{Quota, Rate};
use crate::store::{LimitCheck, MemoryStore, Store};
use crate::time::Timestamp;
use floodgate_testkit::block_on;

/// A memory store whose exact checks wait until the test opens `release`.
struct SlowCheck {
    inner: MemoryStore,
    release: Arc<super::gate::Gate>,
}

impl crate::store::StoreWrapper for SlowCheck {
    type Inner = MemoryStore;

    fn inner(&self) -> &MemoryStore {
        &self.inner
    }

    fn check<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> crate::store::BoxFuture<'a, Result<Vec<crate::Decision>, crate::StoreError>> {
        let release = self.release.clone();
        Box::pin(async move {
            release.wait().await;
            self.inner.check(checks, now).await
        })
    }
}

/// A leased store on a [`SlowCheck`] store, its gate, and a request of a
/// leased bucket and an exact limit already spent (its check waits for
/// the gate, then denies).
fn slow_store() -> (
    LeasedStore<SlowCheck>,
    Arc<super::gate::Gate>,
    [LimitCheck; 2],
) {
    let release = Arc::new(super::gate::Gate::default());
    let s = LeasedStore::new(
        SlowCheck {
            inner: MemoryStore::default(),
            release: release.clone(),
        },
        LeasedStoreConfig::default(),
    );
    let spent = LimitCheck::new(
        Arc::from("r/x"),
        Arc::from("a"),
        Quota::fixed_window(1, Duration::from_secs(10)).unwrap(),
        1,
    );
    block_on(s.inner.inner.check(std::slice::from_ref(&spent), at(0))).unwrap();
    (s, release, [leased(bucket(), "a", 1), spent])
}

/// A reservation rolled back after its key's slice was replaced (the
/// limit changed meanwhile) goes back to the store, never into the new
/// slice, even when the new slice is the key's first since.
#[test]
fn a_rolled_back_reservation_never_lands_in_a_later_slice() {
    use std::future::Future;
    use std::task::{Context, Waker};

    let (s, release, c) = slow_store();
    // Reserves one of its slice, then waits for the exact check (denied).
    let mut cx = Context::from_waker(Waker::noop());
    let mut first = Box::pin(s.check(&c, at(1)));
    assert!(first.as_mut().poll(&mut cx).is_pending());
    // The limit changes: the key's slice is replaced (its first since).
    let bigger =
        Quota::token_bucket(2_000, Rate::new(100, Duration::from_secs(1)).unwrap()).unwrap();
    let before = s.stats().units_taken;
    assert!(block_on(s.check(&[leased(bigger, "a", 1)], at(2))).unwrap()[0].allowed);
    let taken = s.stats().units_taken - before;
    assert_eq!(s.held_units(), taken - 1);
    release.open();
    let d = match first.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(d) => d.unwrap(),
        std::task::Poll::Pending => panic!("decided once released"),
    };
    assert!(!d[1].allowed);
    // The new slice holds what it held: the old reservation went back.
    assert_eq!(s.held_units(), taken - 1);
}

/// A reservation rolled back after its key was reset (and taken afresh
/// meanwhile) is dropped: the store's state since the reset owes it
/// nothing.
#[test]
fn a_reservation_from_before_a_reset_is_dropped() {
    use std::future::Future;
    use std::task::{Context, Waker};

    let (s, release, c) = slow_store();
    let mut cx = Context::from_waker(Waker::noop());
    let mut first = Box::pin(s.check(&c, at(1)));
    assert!(first.as_mut().poll(&mut cx).is_pending());
    block_on(s.reset(&c[..1])).unwrap();
    assert!(block_on(s.check(&c[..1], at(2))).unwrap()[0].allowed);
    release.open();
    assert!(matches!(
        first.as_mut().poll(&mut cx),
        std::task::Poll::Ready(Ok(_))
    ));
    // Nothing waits to go back (the new slice's lease still runs).
    block_on(s.tick(at(3)));
    assert_eq!(s.stats().give_back_calls, 0, "{:?}", s.stats());
}
