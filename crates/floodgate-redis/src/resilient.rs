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
//! recovery needs no restart. There is one breaker per failure domain of
//! the inner store ([`Store::failure_domain`]; on Redis Cluster, one per
//! shard, in `resilient/domains.rs`): a request whose keys live on
//! healthy nodes is decided on them while another node is down. The log
//! says once when the store (or a node) goes away and once when it is
//! back.
//!
//! The default mode, the divisor and the breaker's settings can be swapped
//! together on a running store ([`ResilientStore::reconfigure`]); a request
//! on a healthy store reads none of them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use floodgate_core::store::{BoxFuture, FailureSettings, GiveBack, SliceWant, StoreWrapper, Taken};
use floodgate_core::{
    Decision, LeaseOp, LeaseStatus, LimitCheck, MemoryStore, MonotonicClock, Store, StoreError,
    SystemMonotonic, Timestamp,
};

pub use crate::breaker::BreakerState;

mod degrade;
#[cfg(test)]
mod domain_tests;
mod domains;
mod owed;
mod policy;
#[cfg(test)]
mod tests;

use domains::{mask_of, Domains};
use policy::Counters;
pub use policy::{FailurePolicy, ResilienceStats};

/// A store wrapped in a failure policy and a circuit breaker.
pub struct ResilientStore<S> {
    inner: S,
    local: MemoryStore,
    /// Read only off the healthy path (a failure, an open breaker), so
    /// the lock is never contended by ordinary traffic.
    settings: RwLock<FailureSettings>,
    /// One breaker per failure domain of the inner store.
    domains: Domains,
    counters: Counters,
    /// What keys admitted locally while the inner store was away.
    owed: owed::Owed,
    /// In `local` mode, the share of each (divided) limit decided here,
    /// in millionths: a region's weight of a global limit.
    local_share_ppm: u32,
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
            domains: Domains::new(clock),
            counters: Counters::default(),
            local_share_ppm: 1_000_000,
        }
    }

    /// The same store deciding, in `local` mode, `ppm` millionths of each
    /// limit (after `local_divisor`): a region's static share of a global
    /// limit while the global store is out of reach.
    pub fn with_local_share(mut self, ppm: u32) -> Self {
        self.local_share_ppm = ppm.clamp(1, 1_000_000);
        self
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

    /// The breakers' state: open if any failure domain's breaker is open
    /// (on Redis Cluster, any shard's).
    pub fn breaker_state(&self) -> BreakerState {
        self.domains.state()
    }

    /// The failure domains whose breaker is open, named as the inner
    /// store names them (on Redis Cluster, the address of the shard's
    /// primary; `"store"` for a store that is one domain).
    pub fn open_domains(&self) -> Vec<String> {
        self.domains
            .open()
            .into_iter()
            .map(|d| self.inner.domain_name(d).unwrap_or_else(|| "store".into()))
            .collect()
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

    /// Whether a call on the domains `mask` may go to the inner store
    /// now: `Some(false)` with their breakers closed, `Some(true)` as the
    /// open breakers' probe, `None` while they are open.
    fn may_call(&self, mask: u64) -> Option<bool> {
        self.domains
            .may_call(mask, || self.settings(), || self.inner.domains_epoch())
    }

    /// Charges what was admitted locally on the domains `mask` during an
    /// outage, before the first call on them is decided.
    async fn settle(&self, now: Timestamp, mask: u64) -> Result<(), StoreError> {
        if self.owed.any(mask) {
            self.owed.charge(&self.inner, now, mask).await
        } else {
            Ok(())
        }
    }

    /// A failed call on the domains `mask`; `probe` when it was the open
    /// breakers' probe.
    fn on_failure(&self, mask: u64, e: &StoreError, settings: &FailureSettings, probe: bool) {
        self.counters.store_errors.fetch_add(1, Ordering::Relaxed);
        let opened = self
            .domains
            .failure(mask, e, settings, probe, |d| self.inner.domain_name(d));
        if opened > 0 {
            self.counters
                .breaker_opened
                .fetch_add(opened, Ordering::Relaxed);
        }
    }

    fn on_success(&self, mask: u64) {
        self.domains.success(mask, |d| self.inner.domain_name(d));
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
            let mask = mask_of(&self.inner, checks.iter());
            let Some(probe) = self.may_call(mask) else {
                self.counters
                    .short_circuited
                    .fetch_add(1, Ordering::Relaxed);
                return Ok(self.degrade(checks, now, self.settings()));
            };
            let decided = match self.settle(now, mask).await {
                Ok(()) => self.inner.check(checks, now).await,
                Err(e) => Err(e),
            };
            match decided {
                Ok(d) => {
                    self.on_success(mask);
                    Ok(d)
                }
                Err(e) => {
                    let settings = self.settings();
                    self.on_failure(mask, &e, &settings, probe);
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

    /// On the inner store while the breakers of the slices' domains let
    /// calls through (a take may be an open breaker's probe); an error, or
    /// an open breaker, goes
    /// back to the caller, which then decides its request by `check`, so
    /// by the failure policy.
    fn take<'a>(
        &'a self,
        wants: &'a [SliceWant],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Taken>, StoreError>> {
        Box::pin(async move {
            let mask = mask_of(&self.inner, wants.iter().map(|w| &w.check));
            let Some(probe) = self.may_call(mask) else {
                return Err(StoreError::transient("the store's circuit breaker is open"));
            };
            let r = match self.settle(now, mask).await {
                Ok(()) => self.inner.take(wants, now).await,
                Err(e) => Err(e),
            };
            match &r {
                Ok(_) => self.on_success(mask),
                Err(e) => self.on_failure(mask, e, &self.settings(), probe),
            }
            r
        })
    }

    /// On the inner store while the breakers of the slices' domains are
    /// closed.
    fn give_back<'a>(
        &'a self,
        slices: &'a [GiveBack],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let mask = mask_of(&self.inner, slices.iter().map(|g| &g.check));
        if !self.domains.closed(mask) {
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
