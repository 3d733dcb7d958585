//! `StoreWrapper`: a store around another writes only what it changes;
//! every other call goes to the inner store.

use std::sync::Arc;

use super::{
    BoxFuture, GiveBack, LeaseOp, LeaseStatus, LimitCheck, SliceWant, Store, StoreError, Taken,
};
use crate::decision::Decision;
use crate::time::Timestamp;

/// A store that wraps another: each method forwards to [`inner`] unless
/// the wrapper overrides it. Every `StoreWrapper` is a [`Store`].
///
/// ```
/// use floodgate_core::store::{BoxFuture, LimitCheck, StoreError, StoreWrapper};
/// use floodgate_core::{Decision, MemoryStore, Store, Timestamp};
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// /// Counts checks; inspect, reset and leases go straight through.
/// struct Counted {
///     inner: MemoryStore,
///     checks: AtomicU64,
/// }
///
/// impl StoreWrapper for Counted {
///     type Inner = MemoryStore;
///
///     fn inner(&self) -> &MemoryStore {
///         &self.inner
///     }
///
///     fn check<'a>(
///         &'a self,
///         checks: &'a [LimitCheck],
///         now: Timestamp,
///     ) -> BoxFuture<'a, Result<Vec<Decision>, StoreError>> {
///         self.checks.fetch_add(1, Ordering::Relaxed);
///         self.inner.check(checks, now)
///     }
/// }
/// ```
///
/// [`inner`]: StoreWrapper::inner
pub trait StoreWrapper: Send + Sync + 'static {
    /// The wrapped store.
    type Inner: Store + ?Sized;

    /// The wrapped store.
    fn inner(&self) -> &Self::Inner;

    /// [`Store::check`].
    fn check<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Decision>, StoreError>> {
        self.inner().check(checks, now)
    }

    /// [`Store::inspect`].
    fn inspect<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Decision>, StoreError>> {
        self.inner().inspect(checks, now)
    }

    /// [`Store::reset`].
    fn reset<'a>(&'a self, checks: &'a [LimitCheck]) -> BoxFuture<'a, Result<u64, StoreError>> {
        self.inner().reset(checks)
    }

    /// [`Store::active_keys`].
    fn active_keys(&self) -> Option<u64> {
        self.inner().active_keys()
    }

    /// [`Store::leases`].
    fn leases<'a>(
        &'a self,
        op: LeaseOp,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<LeaseStatus>, StoreError>> {
        self.inner().leases(op, checks, now)
    }

    /// [`Store::leases_expired`].
    fn leases_expired(&self) -> Option<u64> {
        self.inner().leases_expired()
    }

    /// [`Store::failure_domain`].
    fn failure_domain(&self, check: &LimitCheck) -> usize {
        self.inner().failure_domain(check)
    }

    /// [`Store::domain_name`].
    fn domain_name(&self, domain: usize) -> Option<String> {
        self.inner().domain_name(domain)
    }

    /// [`Store::domains_epoch`].
    fn domains_epoch(&self) -> u64 {
        self.inner().domains_epoch()
    }

    /// [`Store::take`].
    fn take<'a>(
        &'a self,
        wants: &'a [SliceWant],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Taken>, StoreError>> {
        self.inner().take(wants, now)
    }

    /// [`Store::give_back`].
    fn give_back<'a>(
        &'a self,
        slices: &'a [GiveBack],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.inner().give_back(slices, now)
    }
}

impl<W: StoreWrapper> Store for W {
    fn check<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Decision>, StoreError>> {
        StoreWrapper::check(self, checks, now)
    }

    fn inspect<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Decision>, StoreError>> {
        StoreWrapper::inspect(self, checks, now)
    }

    fn reset<'a>(&'a self, checks: &'a [LimitCheck]) -> BoxFuture<'a, Result<u64, StoreError>> {
        StoreWrapper::reset(self, checks)
    }

    fn active_keys(&self) -> Option<u64> {
        StoreWrapper::active_keys(self)
    }

    fn leases<'a>(
        &'a self,
        op: LeaseOp,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<LeaseStatus>, StoreError>> {
        StoreWrapper::leases(self, op, checks, now)
    }

    fn leases_expired(&self) -> Option<u64> {
        StoreWrapper::leases_expired(self)
    }

    fn failure_domain(&self, check: &LimitCheck) -> usize {
        StoreWrapper::failure_domain(self, check)
    }

    fn domain_name(&self, domain: usize) -> Option<String> {
        StoreWrapper::domain_name(self, domain)
    }

    fn domains_epoch(&self) -> u64 {
        StoreWrapper::domains_epoch(self)
    }

    fn take<'a>(
        &'a self,
        wants: &'a [SliceWant],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Taken>, StoreError>> {
        StoreWrapper::take(self, wants, now)
    }

    fn give_back<'a>(
        &'a self,
        slices: &'a [GiveBack],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        StoreWrapper::give_back(self, slices, now)
    }
}

/// A shared store is the store it shares.
impl<S: Store + ?Sized> StoreWrapper for Arc<S> {
    type Inner = S;

    fn inner(&self) -> &S {
        self
    }
}
