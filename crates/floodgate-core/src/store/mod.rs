//! Stores keep the state of every key and decide all limits of one request
//! together: when one denies, none consumes.

mod failure;
mod join;
mod lease;
pub mod leased;
pub mod memory;
mod scoped;
mod slices;
mod url;
mod wrapper;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::decision::Decision;
use crate::quota::Quota;
use crate::time::Timestamp;

pub use failure::{BreakerConfig, FailureSettings};
pub use lease::{BadLeaseId, LeaseId, LeaseOp, LeaseStatus};
pub use leased::{LeasedStats, LeasedStore, LeasedStoreConfig};
pub use memory::{MemoryStore, MemoryStoreConfig};
pub use scoped::{RegionShare, Scope, ScopedStore};
pub use slices::{GiveBack, SliceTerms, SliceWant, Taken};
pub use url::redacted_url;
pub use wrapper::StoreWrapper;

/// One limit to decide for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitCheck {
    /// Which limit: stable while the limit's definition is unchanged (it
    /// holds a fingerprint of the quota), so a reload that leaves a limit
    /// alone keeps its counters.
    pub limit_id: Arc<str>,
    /// Whose counter: the client identity (already free of secrets).
    pub identity: Arc<str>,
    /// The algorithm and its parameters.
    pub quota: Quota,
    /// The request's cost (default 1).
    pub cost: u64,
    /// What a failure-policy wrapper does with this check when the store
    /// cannot decide; `None`: the wrapper's default. The plan sets it from
    /// the rule, so no store ever parses it back out of `limit_id`.
    pub on_failure: Option<FailureMode>,
    /// For a concurrency limit: the lease the request holds its slot under
    /// once allowed. `None`: the check tells whether a slot is free and
    /// takes none. Rate limits ignore it.
    pub lease: Option<LeaseId>,
    /// For a limit decided from leased slices of its quota (`sync: leased`
    /// in the policy): the lease's terms. `None`: every decision on the
    /// store (exact). Only [`LeasedStore`] reads it; other stores decide
    /// exactly whatever it says.
    pub sync: Option<SliceTerms>,
    /// Where the limit is counted when replicas run in several regions:
    /// the region's store, or the store all regions share. Only
    /// [`ScopedStore`] reads it; other stores decide every check alike.
    pub scope: Scope,
}

impl LimitCheck {
    /// A check of `cost` against `quota` for `identity` under `limit_id`,
    /// with the store's default failure mode.
    pub fn new(limit_id: Arc<str>, identity: Arc<str>, quota: Quota, cost: u64) -> LimitCheck {
        LimitCheck {
            limit_id,
            identity,
            quota,
            cost,
            on_failure: None,
            lease: None,
            sync: None,
            scope: crate::store::Scope::Region,
        }
    }

    /// The same check holding a concurrency slot under `lease`.
    pub fn with_lease(mut self, lease: Option<LeaseId>) -> LimitCheck {
        self.lease = lease;
        self
    }
}

/// What a check does when its store cannot decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureMode {
    /// Allow the request.
    FailOpen,
    /// Deny the request.
    FailClosed,
    /// Decide on a local in-memory store.
    Local,
}

impl FailureMode {
    /// The name as written in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureMode::FailOpen => "fail_open",
            FailureMode::FailClosed => "fail_closed",
            FailureMode::Local => "local",
        }
    }
}

/// A store that could not decide.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    /// What went wrong.
    pub message: String,
    /// Whether trying again later may work (a timeout, a lost connection),
    /// as opposed to a fault that will repeat (a script error).
    pub transient: bool,
}

impl StoreError {
    /// A transient error.
    pub fn transient(message: impl Into<String>) -> Self {
        StoreError {
            message: message.into(),
            transient: true,
        }
    }

    /// A permanent error.
    pub fn permanent(message: impl Into<String>) -> Self {
        StoreError {
            message: message.into(),
            transient: false,
        }
    }
}

/// Failure domains a store may have ([`Store::failure_domain`] answers
/// below this).
pub const MAX_FAILURE_DOMAINS: usize = 64;

/// A boxed future, as returned by [`Store::check`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where limit state lives. Implemented by [`MemoryStore`] and by the Redis
/// store.
pub trait Store: Send + Sync + 'static {
    /// Decides every check at `now`, atomically: either every check allows
    /// and each consumes its cost, or nothing is consumed. Returns one
    /// decision per check, in order.
    fn check<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Decision>, StoreError>>;

    /// What each check would decide at `now`, consuming nothing (the admin
    /// API's counter inspection). Stores that cannot say answer a
    /// permanent error.
    fn inspect<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Decision>, StoreError>> {
        let _ = (checks, now);
        Box::pin(std::future::ready(Err(StoreError::permanent(
            "this store cannot inspect counters",
        ))))
    }

    /// Forgets the state of every check's key: each starts afresh. Returns
    /// how many keys held state.
    fn reset<'a>(&'a self, checks: &'a [LimitCheck]) -> BoxFuture<'a, Result<u64, StoreError>> {
        let _ = checks;
        Box::pin(std::future::ready(Err(StoreError::permanent(
            "this store cannot reset counters",
        ))))
    }

    /// The number of keys the store holds, when it knows cheaply.
    fn active_keys(&self) -> Option<u64> {
        None
    }

    /// Releases (gives back) or renews (extends by its limit's lease from
    /// `now`, if still held) the concurrency slot each check's lease holds
    /// at `now`; checks of rate limits or without a lease are answered
    /// [`LeaseStatus::Missing`] and change nothing. One status per check.
    fn leases<'a>(
        &'a self,
        op: LeaseOp,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<LeaseStatus>, StoreError>> {
        let _ = (op, checks, now);
        Box::pin(std::future::ready(Err(StoreError::permanent(
            "this store cannot hold concurrency slots",
        ))))
    }

    /// [`Store::leases`] with [`LeaseOp::Release`].
    fn release<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<LeaseStatus>, StoreError>> {
        self.leases(LeaseOp::Release, checks, now)
    }

    /// [`Store::leases`] with [`LeaseOp::Renew`].
    fn renew<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<LeaseStatus>, StoreError>> {
        self.leases(LeaseOp::Renew, checks, now)
    }

    /// Concurrency slots whose lease ended before their holder released
    /// them, found and freed since start, when the store counts them.
    fn leases_expired(&self) -> Option<u64> {
        None
    }

    /// The failure domain `check`'s key lives in: a small index (below
    /// [`MAX_FAILURE_DOMAINS`]) naming the part of the store that fails on
    /// its own, e.g. the Redis Cluster shard that holds the key's slot. A
    /// failure-policy wrapper keeps one circuit breaker per domain, so one
    /// node's outage sends only its own keys to the failure policy. Cheap
    /// (no I/O). Default 0: the store is one domain.
    fn failure_domain(&self, check: &LimitCheck) -> usize {
        let _ = check;
        0
    }

    /// What to call failure domain `domain` in logs (a node's address),
    /// when the store has several; `None`: the store as a whole.
    fn domain_name(&self, domain: usize) -> Option<String> {
        let _ = domain;
        None
    }

    /// A count that moves when the store's failure domains move to other
    /// nodes (a Redis Cluster replica promoted in a failed primary's
    /// place), so that a failure-policy wrapper probes its open breakers
    /// at once rather than at their next probe time. Cheap (an atomic
    /// load). Default 0: it never moves.
    fn domains_epoch(&self) -> u64 {
        0
    }

    /// Takes a slice of each key's quota at `now`, each on its own (not
    /// all or nothing): see [`algorithm::slice`](crate::algorithm::slice).
    /// One answer per slice asked for, in order.
    fn take<'a>(
        &'a self,
        wants: &'a [SliceWant],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Taken>, StoreError>> {
        let _ = (wants, now);
        Box::pin(std::future::ready(Err(StoreError::permanent(
            "this store cannot hand out slices",
        ))))
    }

    /// Gives back what is left of slices (see
    /// [`algorithm::slice::give_back`](crate::algorithm::slice::give_back)).
    fn give_back<'a>(
        &'a self,
        slices: &'a [GiveBack],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let _ = (slices, now);
        Box::pin(std::future::ready(Err(StoreError::permanent(
            "this store cannot take slices back",
        ))))
    }
}
