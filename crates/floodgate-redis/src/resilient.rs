//! `ResilientStore`: a failure policy and a circuit breaker around any
//! store.
//!
//! When the inner store fails (an error, or its own timeout), each check
//! is decided by its rule's [`FailureMode`] (the rule is read from the
//! check's `limit_id`; rules without one use the default):
//!
//! - `fail_open`: allowed, `remaining` = the limit;
//! - `fail_closed`: denied, retry after the breaker's cool-down;
//! - `local`: decided on an in-memory store, each quota divided by
//!   `local_divisor` (the replicas that share it).
//!
//! A request with a `fail_closed` check is denied as a whole, and then its
//! `local` checks consume nothing (they are reported as if open).
//!
//! The breaker opens after `failures` consecutive failures: requests then
//! skip the inner store and go straight to the policy. Every `cooldown`, one
//! request is let through as a probe; its success closes the breaker. The
//! inner store reconnects on its own, so recovery needs no restart. The log
//! says once when the store goes away and once when it is back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use floodgate_core::policy::{rule_of_limit_id, FailureMode};
use floodgate_core::store::BoxFuture;
use floodgate_core::{
    Decision, LimitCheck, MemoryStore, MemoryStoreConfig, RetryAfter, Store, StoreError, Timestamp,
};

use crate::config::{BreakerConfig, RedisConfig};

/// The failure policy of a [`ResilientStore`].
#[derive(Clone, Debug)]
pub struct FailurePolicy {
    /// Mode of rules without their own.
    pub default: FailureMode,
    /// Per-rule modes (rule name → mode).
    pub rules: HashMap<String, FailureMode>,
    /// In `local` mode, quotas are divided by this (at least 1).
    pub local_divisor: u64,
    /// The circuit breaker.
    pub breaker: BreakerConfig,
    /// The local store's settings.
    pub local: MemoryStoreConfig,
}

impl FailurePolicy {
    /// The policy `config` describes.
    pub fn from_config(config: &RedisConfig) -> FailurePolicy {
        FailurePolicy {
            default: config.on_failure,
            rules: config.rules.clone(),
            local_divisor: config.local_divisor.max(1),
            breaker: config.breaker,
            local: MemoryStoreConfig::default(),
        }
    }
}

impl Default for FailurePolicy {
    fn default() -> Self {
        FailurePolicy {
            default: FailureMode::Local,
            rules: HashMap::new(),
            local_divisor: 1,
            breaker: BreakerConfig::default(),
            local: MemoryStoreConfig::default(),
        }
    }
}

/// The breaker's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go to the inner store.
    Closed,
    /// Calls skip the inner store, except one probe per cool-down.
    Open,
}

/// Counters of a [`ResilientStore`], since it was built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResilienceStats {
    /// Calls to the inner store that failed (errors and timeouts).
    pub store_errors: u64,
    /// Requests that skipped the inner store because the breaker was open.
    pub short_circuited: u64,
    /// Times the breaker opened.
    pub breaker_opened: u64,
    /// Checks decided as `fail_open`.
    pub degraded_open: u64,
    /// Checks decided as `fail_closed`.
    pub degraded_closed: u64,
    /// Checks decided on the local store.
    pub degraded_local: u64,
}

impl ResilienceStats {
    /// All checks decided in degraded mode.
    pub fn degraded(&self) -> u64 {
        self.degraded_open + self.degraded_closed + self.degraded_local
    }
}

#[derive(Default)]
struct Counters {
    store_errors: AtomicU64,
    short_circuited: AtomicU64,
    breaker_opened: AtomicU64,
    degraded_open: AtomicU64,
    degraded_closed: AtomicU64,
    degraded_local: AtomicU64,
}

const CLOSED: u8 = 0;
const OPEN: u8 = 1;

struct Breaker {
    config: BreakerConfig,
    state: AtomicU8,
    consecutive: AtomicU64,
    /// When the next probe may go (ms since `epoch`).
    next_probe_ms: AtomicU64,
    epoch: Instant,
}

impl Breaker {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn cooldown_ms(&self) -> u64 {
        self.config.cooldown.0.as_millis() as u64
    }

    /// Whether this request may call the inner store.
    fn admit(&self) -> bool {
        if self.state.load(Ordering::Acquire) == CLOSED {
            return true;
        }
        // Open: one probe per cool-down. A probe that never reports (its
        // request was dropped) is simply followed by another one.
        let now = self.now_ms();
        let due = self.next_probe_ms.load(Ordering::Acquire);
        now >= due
            && self
                .next_probe_ms
                .compare_exchange(
                    due,
                    now + self.cooldown_ms(),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
    }

    /// Records a success; returns whether the breaker was open.
    fn success(&self) -> bool {
        self.consecutive.store(0, Ordering::Release);
        self.state.swap(CLOSED, Ordering::AcqRel) == OPEN
    }

    /// Records a failure; returns whether this one opened the breaker.
    fn failure(&self) -> bool {
        let n = self.consecutive.fetch_add(1, Ordering::AcqRel) + 1;
        let next = self.now_ms() + self.cooldown_ms();
        if self.state.load(Ordering::Acquire) == OPEN {
            // A failed probe: wait a full cool-down again.
            self.next_probe_ms.store(next, Ordering::Release);
            return false;
        }
        if n >= u64::from(self.config.failures) {
            self.next_probe_ms.store(next, Ordering::Release);
            return self
                .state
                .compare_exchange(CLOSED, OPEN, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
        }
        false
    }
}

/// A store wrapped in a failure policy and a circuit breaker.
pub struct ResilientStore<S> {
    inner: S,
    local: MemoryStore,
    default: FailureMode,
    rules: RwLock<HashMap<String, FailureMode>>,
    divisor: u64,
    breaker: Breaker,
    counters: Counters,
    /// Whether the inner store is known to be failing (for logging once).
    down: AtomicBool,
}

impl<S: Store> ResilientStore<S> {
    /// Wraps `inner` in `policy`.
    pub fn new(inner: S, policy: FailurePolicy) -> Self {
        ResilientStore {
            inner,
            local: MemoryStore::new(policy.local),
            default: policy.default,
            rules: RwLock::new(policy.rules),
            divisor: policy.local_divisor.max(1),
            breaker: Breaker {
                config: policy.breaker,
                state: AtomicU8::new(CLOSED),
                consecutive: AtomicU64::new(0),
                next_probe_ms: AtomicU64::new(0),
                epoch: Instant::now(),
            },
            counters: Counters::default(),
            down: AtomicBool::new(false),
        }
    }

    /// Replaces the per-rule modes (e.g. from a reloaded policy's
    /// `on_store_failure`).
    pub fn set_rule_modes(&self, rules: HashMap<String, FailureMode>) {
        *self.rules.write().unwrap_or_else(|e| e.into_inner()) = rules;
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The breaker's state.
    pub fn breaker_state(&self) -> BreakerState {
        match self.breaker.state.load(Ordering::Acquire) {
            CLOSED => BreakerState::Closed,
            _ => BreakerState::Open,
        }
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
        }
    }

    fn mode_of(&self, rules: &HashMap<String, FailureMode>, check: &LimitCheck) -> FailureMode {
        rules
            .get(rule_of_limit_id(&check.limit_id))
            .copied()
            .unwrap_or(self.default)
    }

    /// Decides `checks` without the inner store, by the failure policy.
    fn degrade(&self, checks: &[LimitCheck], now: Timestamp) -> Vec<Decision> {
        let modes: Vec<FailureMode> = {
            let rules = self.rules.read().unwrap_or_else(|e| e.into_inner());
            checks.iter().map(|c| self.mode_of(&rules, c)).collect()
        };
        let closed = modes.contains(&FailureMode::FailClosed);
        let local_idx: Vec<usize> = if closed {
            Vec::new()
        } else {
            (0..checks.len())
                .filter(|&i| modes[i] == FailureMode::Local)
                .collect()
        };
        let local_checks: Vec<LimitCheck> = local_idx
            .iter()
            .map(|&i| LimitCheck {
                quota: checks[i].quota.divided(self.divisor),
                ..checks[i].clone()
            })
            .collect();
        let mut local = self.local.check_sync(&local_checks, now).into_iter();
        let c = &self.counters;
        checks
            .iter()
            .zip(&modes)
            .map(|(check, mode)| match mode {
                FailureMode::FailClosed => {
                    c.degraded_closed.fetch_add(1, Ordering::Relaxed);
                    let limit = check.quota.limit();
                    Decision {
                        allowed: false,
                        limit,
                        remaining: 0,
                        reset_after: Duration::ZERO,
                        retry_after: Some(RetryAfter::After(self.breaker.config.cooldown.0)),
                        delay: Duration::ZERO,
                    }
                }
                FailureMode::Local if !closed => {
                    c.degraded_local.fetch_add(1, Ordering::Relaxed);
                    local.next().expect("one local decision per local check")
                }
                _ => {
                    c.degraded_open.fetch_add(1, Ordering::Relaxed);
                    let limit = check.quota.limit();
                    Decision {
                        allowed: true,
                        limit,
                        remaining: limit,
                        reset_after: Duration::ZERO,
                        retry_after: None,
                        delay: Duration::ZERO,
                    }
                }
            })
            .collect()
    }

    fn on_failure(&self, e: &StoreError) {
        self.counters.store_errors.fetch_add(1, Ordering::Relaxed);
        if !self.down.swap(true, Ordering::AcqRel) {
            tracing::warn!(error = %e, transient = e.transient, "store unavailable: deciding by the failure policy until it is back");
        }
        if self.breaker.failure() {
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

impl<S: Store> Store for ResilientStore<S> {
    fn check<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Decision>, StoreError>> {
        Box::pin(async move {
            if !self.breaker.admit() {
                self.counters
                    .short_circuited
                    .fetch_add(1, Ordering::Relaxed);
                return Ok(self.degrade(checks, now));
            }
            match self.inner.check(checks, now).await {
                Ok(d) => {
                    self.on_success();
                    Ok(d)
                }
                Err(e) => {
                    self.on_failure(&e);
                    Ok(self.degrade(checks, now))
                }
            }
        })
    }

    fn active_keys(&self) -> Option<u64> {
        self.inner.active_keys()
    }
}
