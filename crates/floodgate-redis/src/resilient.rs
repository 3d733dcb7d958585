//! `ResilientStore`: a failure policy and a circuit breaker around any
//! store.
//!
//! When the inner store fails (an error, or its own timeout), each check
//! is decided by its [`FailureMode`](floodgate_core::FailureMode): the check's own
//! ([`LimitCheck::on_failure`], set by the policy from its rule), else the
//! store's default:
//!
//! - `fail_open`: allowed, `remaining` = the limit;
//! - `fail_closed`: denied, retry after the breaker's cool-down;
//! - `local`: decided on an in-memory store, each quota divided by
//!   `local_divisor` (the replicas that share it).
//!
//! A request with a `fail_closed` check is denied as a whole, and then its
//! `local` checks consume nothing (they are reported as if open).
//!
//! The circuit breaker opens after `failures` consecutive
//! failures: requests then skip the inner store and go straight to the
//! policy. Every `cooldown`, one request is let through as a probe; its
//! success closes the breaker. The inner store reconnects on its own, so
//! recovery needs no restart. The log says once when the store goes away
//! and once when it is back.
//!
//! The default mode, the divisor and the breaker's settings can be swapped
//! together on a running store ([`ResilientStore::reconfigure`]); a request
//! on a healthy store reads none of them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use floodgate_core::store::{BoxFuture, FailureSettings, GiveBack, SliceWant, StoreWrapper, Taken};
use floodgate_core::{
    Decision, LeaseOp, LeaseStatus, LimitCheck, MemoryStore, MonotonicClock, Store, StoreError,
    SystemMonotonic, Timestamp,
};

use crate::breaker::Breaker;
pub use crate::breaker::BreakerState;

mod degrade;
mod owed;
mod policy;
#[cfg(test)]
mod tests;

use policy::Counters;
pub use policy::{FailurePolicy, ResilienceStats};

/// A store wrapped in a failure policy and a circuit breaker.
pub struct ResilientStore<S> {
    inner: S,
    local: MemoryStore,
    /// Read only off the healthy path (a failure, an open breaker), so
    /// the lock is never contended by ordinary traffic.
    settings: RwLock<FailureSettings>,
    breaker: Breaker,
    counters: Counters,
    /// Whether the inner store is known to be failing (for logging once).
    down: AtomicBool,
    /// What keys admitted locally while the inner store was away.
    owed: owed::Owed,
}

impl<S: Store> ResilientStore<S> {
    /// Wraps `inner` in `policy`, timing the breaker on the system's
    /// monotonic clock.
    pub fn new(inner: S, policy: FailurePolicy) -> Self {
        ResilientStore::with_clock(inner, policy, Arc::new(SystemMonotonic::default()))
    }

    /// Wraps `inner` in `policy`, timing the breaker on `clock`.
    pub fn with_clock(inner: S, policy: FailurePolicy, clock: Arc<dyn MonotonicClock>) -> Self {
        ResilientStore {
            inner,
            local: MemoryStore::new(policy.local),
            owed: owed::Owed::new(policy.local.max_keys),
            settings: RwLock::new(at_least_one_divisor(policy.settings)),
            breaker: Breaker::new(clock),
            counters: Counters::default(),
            down: AtomicBool::new(false),
        }
    }

    /// Replaces the default failure mode, the local divisor (at least 1)
    /// and the breaker's settings at once, e.g. on a config reload. Every
    /// later decision sees all three new values or none. The breaker keeps
    /// its state: an open breaker stays open, and the new cool-down and
    /// failure count apply from its next probe or failure. The local
    /// store keeps its counts.
    pub fn reconfigure(&self, settings: FailureSettings) {
        *self.settings.write().unwrap_or_else(|e| e.into_inner()) = at_least_one_divisor(settings);
    }

    fn settings(&self) -> FailureSettings {
        // Plain values, never left half-written: ignore poison.
        *self.settings.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The breaker's state.
    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.state()
    }

    /// The counters.
    pub fn stats(&self) -> ResilienceStats {
        let c = &self.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ResilienceStats {
            store_errors: l(&c.store_errors),
            short_circuited: l(&c.short_circuited),
            breaker_opened: l(&c.breaker_opened),
            degraded_open: l(&c.degraded_open),
            degraded_closed: l(&c.degraded_closed),
            degraded_local: l(&c.degraded_local),
            charged_units: l(&self.owed.charged),
            charge_lost_units: l(&self.owed.lost),
            charge_dropped_keys: l(&self.owed.dropped),
            owing_keys: self.owed.keys() as u64,
        }
    }

    /// Whether a call may go to the inner store now: `Some(false)` with
    /// the breaker closed, `Some(true)` as the open breaker's probe,
    /// `None` while it is open.
    fn may_call(&self) -> Option<bool> {
        if self.breaker.is_closed() {
            Some(false)
        } else {
            self.breaker
                .try_probe(self.settings().breaker.cooldown)
                .then_some(true)
        }
    }

    /// Charges what was admitted locally during an outage, before the
    /// first call on the inner store is decided.
    async fn settle(&self, now: Timestamp) -> Result<(), StoreError> {
        if self.owed.any() {
            self.owed.charge(&self.inner, now).await
        } else {
            Ok(())
        }
    }

    /// A failed call; `probe` when it was the open breaker's probe.
    fn on_failure(&self, e: &StoreError, settings: &FailureSettings, probe: bool) {
        self.counters.store_errors.fetch_add(1, Ordering::Relaxed);
        if !self.down.swap(true, Ordering::AcqRel) {
            tracing::warn!(error = %e, transient = e.transient, "store unavailable: deciding by the failure policy until it is back");
        }
        if self.breaker.failure(&settings.breaker, probe) {
            self.counters.breaker_opened.fetch_add(1, Ordering::Relaxed);
            tracing::debug!("circuit breaker open");
        }
    }

    fn on_success(&self) {
        if self.breaker.success() {
            tracing::debug!("circuit breaker closed");
        }
        if self.down.load(Ordering::Acquire) && self.down.swap(false, Ordering::AcqRel) {
            tracing::info!("store is back: deciding on it again");
        }
    }
}

impl<S: Store> StoreWrapper for ResilientStore<S> {
    type Inner = S;

    fn inner(&self) -> &S {
        &self.inner
    }

    fn check<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Decision>, StoreError>> {
        Box::pin(async move {
            let Some(probe) = self.may_call() else {
                self.counters
                    .short_circuited
                    .fetch_add(1, Ordering::Relaxed);
                return Ok(self.degrade(checks, now, self.settings()));
            };
            let decided = match self.settle(now).await {
                Ok(()) => self.inner.check(checks, now).await,
                Err(e) => Err(e),
            };
            match decided {
                Ok(d) => {
                    self.on_success();
                    Ok(d)
                }
                Err(e) => {
                    let settings = self.settings();
                    self.on_failure(&e, &settings, probe);
                    Ok(self.degrade(checks, now, settings))
                }
            }
        })
    }

    // `inspect`, `reset` and `active_keys` go straight to the inner store:
    // an inspection is an admin question, so its error goes back to the
    // caller (no policy, no breaker); a reset leaves the local store's
    // counts (kept while the inner store was away).

    /// On the inner store, and on the local store, which holds the slots
    /// taken while the inner store was away (a lease it never saw is
    /// missing there and changes nothing). An error of the inner store
    /// goes back to the caller (unless the local store held every slot):
    /// its slots end with their lease.
    fn leases<'a>(
        &'a self,
        op: LeaseOp,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<LeaseStatus>, StoreError>> {
        Box::pin(async move {
            let local = self.local.lease_sync(op, checks, now);
            let inner = self.inner.leases(op, checks, now).await;
            merge_leases(inner, local)
        })
    }

    fn leases_expired(&self) -> Option<u64> {
        let local = self.local.leases_expired();
        Some(self.inner.leases_expired().unwrap_or(0) + local)
    }

    /// On the inner store while the breaker lets calls through (a take may
    /// be the open breaker's probe); an error, or an open breaker, goes
    /// back to the caller, which then decides its request by `check`, so
    /// by the failure policy.
    fn take<'a>(
        &'a self,
        wants: &'a [SliceWant],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Taken>, StoreError>> {
        Box::pin(async move {
            let Some(probe) = self.may_call() else {
                return Err(StoreError::transient("the store's circuit breaker is open"));
            };
            let r = match self.settle(now).await {
                Ok(()) => self.inner.take(wants, now).await,
                Err(e) => Err(e),
            };
            match &r {
                Ok(_) => self.on_success(),
                Err(e) => self.on_failure(e, &self.settings(), probe),
            }
            r
        })
    }

    /// On the inner store while its breaker is closed.
    fn give_back<'a>(
        &'a self,
        slices: &'a [GiveBack],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        if !self.breaker.is_closed() {
            return Box::pin(std::future::ready(Err(StoreError::transient(
                "the store's circuit breaker is open",
            ))));
        }
        self.inner.give_back(slices, now)
    }
}

/// `settings` with a local divisor of at least 1.
fn at_least_one_divisor(settings: FailureSettings) -> FailureSettings {
    FailureSettings {
        local_divisor: settings.local_divisor.max(1),
        ..settings
    }
}

/// Per slot, what the store that held it says; an inner error stands
/// unless the local store held every slot.
fn merge_leases(
    inner: Result<Vec<LeaseStatus>, StoreError>,
    local: Vec<LeaseStatus>,
) -> Result<Vec<LeaseStatus>, StoreError> {
    match inner {
        Ok(inner) => Ok(inner
            .into_iter()
            .zip(local)
            .map(|(i, l)| if i == LeaseStatus::Missing { l } else { i })
            .collect()),
        Err(_) if local.iter().all(|l| *l != LeaseStatus::Missing) => Ok(local),
        Err(e) => Err(e),
    }
}
