//! `ResilientStore`: a failure policy and a circuit breaker around any
//! store.
//!
//! When the inner store fails (an error, or its own timeout), each check
//! is decided by its [`FailureMode`]: the check's own
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
use std::time::Duration;

use floodgate_core::store::BoxFuture;
use floodgate_core::{
    Decision, FailureMode, LimitCheck, MemoryStore, MemoryStoreConfig, MonotonicClock, RetryAfter,
    Store, StoreError, SystemMonotonic, Timestamp,
};

use crate::breaker::Breaker;
pub use crate::breaker::BreakerState;
use crate::config::{BreakerConfig, RedisConfig};

/// The failure policy of a [`ResilientStore`].
#[derive(Clone, Debug)]
pub struct FailurePolicy {
    /// Mode of checks without their own (`on_failure: None`).
    pub default: FailureMode,
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
            local_divisor: config.local_divisor.max(1),
            breaker: config.breaker,
            local: MemoryStoreConfig::default(),
        }
    }
}

impl Default for FailurePolicy {
    fn default() -> Self {
        FailurePolicy {
            default: RedisConfig::DEFAULT_ON_FAILURE,
            local_divisor: RedisConfig::DEFAULT_LOCAL_DIVISOR,
            breaker: BreakerConfig::default(),
            local: MemoryStoreConfig::default(),
        }
    }
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

/// The settings [`ResilientStore::reconfigure`] swaps, always together.
#[derive(Clone, Copy, Debug)]
struct Settings {
    default: FailureMode,
    divisor: u64,
    breaker: BreakerConfig,
}

/// A store wrapped in a failure policy and a circuit breaker.
pub struct ResilientStore<S> {
    inner: S,
    local: MemoryStore,
    /// Read only off the healthy path (a failure, an open breaker), so
    /// the lock is never contended by ordinary traffic.
    settings: RwLock<Settings>,
    breaker: Breaker,
    counters: Counters,
    /// Whether the inner store is known to be failing (for logging once).
    down: AtomicBool,
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
            settings: RwLock::new(Settings {
                default: policy.default,
                divisor: policy.local_divisor.max(1),
                breaker: policy.breaker,
            }),
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
    pub fn reconfigure(&self, default: FailureMode, local_divisor: u64, breaker: BreakerConfig) {
        *self.settings.write().unwrap_or_else(|e| e.into_inner()) = Settings {
            default,
            divisor: local_divisor.max(1),
            breaker,
        };
    }

    fn settings(&self) -> Settings {
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
        }
    }

    /// Decides `checks` without the inner store, by the failure policy.
    fn degrade(&self, checks: &[LimitCheck], now: Timestamp, settings: Settings) -> Vec<Decision> {
        let modes: Vec<FailureMode> = checks
            .iter()
            .map(|c| c.on_failure.unwrap_or(settings.default))
            .collect();
        let closed = modes.contains(&FailureMode::FailClosed);
        let local_checks: Vec<LimitCheck> = if closed {
            Vec::new()
        } else {
            checks
                .iter()
                .zip(&modes)
                .filter(|(_, &m)| m == FailureMode::Local)
                .map(|(c, _)| LimitCheck {
                    quota: c.quota.divided(settings.divisor),
                    ..c.clone()
                })
                .collect()
        };
        let mut local = self.local.check_sync(&local_checks, now).into_iter();
        let c = &self.counters;
        checks
            .iter()
            .zip(&modes)
            .map(|(check, mode)| match mode {
                FailureMode::FailClosed => {
                    c.degraded_closed.fetch_add(1, Ordering::Relaxed);
                    Decision {
                        allowed: false,
                        limit: check.quota.limit(),
                        remaining: 0,
                        reset_after: Duration::ZERO,
                        retry_after: Some(RetryAfter::After(settings.breaker.cooldown)),
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

    fn on_failure(&self, e: &StoreError, settings: &Settings) {
        self.counters.store_errors.fetch_add(1, Ordering::Relaxed);
        if !self.down.swap(true, Ordering::AcqRel) {
            tracing::warn!(error = %e, transient = e.transient, "store unavailable: deciding by the failure policy until it is back");
        }
        if self.breaker.failure(&settings.breaker) {
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
            if !self.breaker.is_closed() {
                let settings = self.settings();
                if !self.breaker.try_probe(settings.breaker.cooldown) {
                    self.counters
                        .short_circuited
                        .fetch_add(1, Ordering::Relaxed);
                    return Ok(self.degrade(checks, now, settings));
                }
            }
            match self.inner.check(checks, now).await {
                Ok(d) => {
                    self.on_success();
                    Ok(d)
                }
                Err(e) => {
                    let settings = self.settings();
                    self.on_failure(&e, &settings);
                    Ok(self.degrade(checks, now, settings))
                }
            }
        })
    }

    fn active_keys(&self) -> Option<u64> {
        self.inner.active_keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use floodgate_core::{ManualClock, Quota};

    /// An inner store that is up (allows everything) or down (fails), and
    /// counts its calls.
    #[derive(Default)]
    struct Switch {
        down: AtomicBool,
        calls: AtomicU64,
    }

    impl Store for Switch {
        fn check<'a>(
            &'a self,
            checks: &'a [LimitCheck],
            _now: Timestamp,
        ) -> BoxFuture<'a, Result<Vec<Decision>, StoreError>> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            let r = if self.down.load(Ordering::Relaxed) {
                Err(StoreError::transient("down"))
            } else {
                Ok(checks
                    .iter()
                    .map(|c| Decision {
                        allowed: true,
                        limit: c.quota.limit(),
                        remaining: 0,
                        reset_after: Duration::ZERO,
                        retry_after: None,
                        delay: Duration::ZERO,
                    })
                    .collect())
            };
            Box::pin(std::future::ready(r))
        }
    }

    const NOW: Timestamp = Timestamp::from_micros(1_700_006_400_000_000);

    fn check(limit_id: &str, limit: u64, mode: Option<FailureMode>) -> LimitCheck {
        LimitCheck {
            on_failure: mode,
            ..LimitCheck::new(
                limit_id.into(),
                "client".into(),
                Quota::fixed_window(limit, Duration::from_secs(3_600)).unwrap(),
                1,
            )
        }
    }

    fn store(policy: FailurePolicy) -> (ResilientStore<Switch>, ManualClock) {
        let clock = ManualClock::new(Timestamp::from_micros(1_000_000));
        let inner = Switch::default();
        inner.down.store(true, Ordering::Relaxed);
        let s = ResilientStore::with_clock(inner, policy, Arc::new(clock.clone()));
        (s, clock)
    }

    fn allowed(d: &[Decision]) -> Vec<bool> {
        d.iter().map(|d| d.allowed).collect()
    }

    async fn run(s: &ResilientStore<Switch>, checks: &[LimitCheck]) -> Vec<Decision> {
        s.check(checks, NOW).await.unwrap()
    }

    #[tokio::test]
    async fn each_check_takes_its_own_mode_or_the_default() {
        let (s, _clock) = store(FailurePolicy {
            default: FailureMode::FailOpen,
            local_divisor: 2,
            ..FailurePolicy::default()
        });
        let open = check("a", 1, None);
        let local = check("b", 4, Some(FailureMode::Local));
        let closed = check("c", 100, Some(FailureMode::FailClosed));

        // Local: 4 divided by 2 replicas; the default (open) allows all.
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(allowed(&run(&s, &[open.clone(), local.clone()]).await));
        }
        assert_eq!(seen, [[true, true], [true, true], [true, false]]);

        // A fail_closed check denies, its request's local checks
        // consume nothing, and it retries after the cool-down.
        let other_local = check("d", 2, Some(FailureMode::Local));
        let d = run(&s, &[open.clone(), other_local.clone(), closed]).await;
        assert!(!d[2].allowed);
        assert_eq!(
            d[2].retry_after,
            Some(RetryAfter::After(BreakerConfig::DEFAULT_COOLDOWN))
        );
        assert_eq!(
            (d[1].allowed, d[1].remaining),
            (true, 2),
            "reported as open"
        );
        let d = run(&s, std::slice::from_ref(&other_local)).await;
        assert_eq!(
            (d[0].allowed, d[0].remaining),
            (true, 0),
            "2 / 2 = 1, untouched"
        );

        let st = s.stats();
        assert_eq!(
            (st.degraded_open, st.degraded_local, st.degraded_closed),
            (3 + 2, 3 + 1, 1),
            "{st:?}"
        );
    }

    #[tokio::test]
    async fn reconfigure_swaps_mode_divisor_and_breaker() {
        let (s, clock) = store(FailurePolicy {
            default: FailureMode::FailOpen,
            breaker: BreakerConfig {
                failures: 2,
                cooldown: Duration::from_secs(1),
            },
            ..FailurePolicy::default()
        });
        let plain = check("a", 10, None);
        assert!(run(&s, std::slice::from_ref(&plain)).await[0].allowed);

        s.reconfigure(
            FailureMode::FailClosed,
            1,
            BreakerConfig {
                failures: 2,
                cooldown: Duration::from_secs(7),
            },
        );
        let d = run(&s, std::slice::from_ref(&plain)).await;
        assert!(!d[0].allowed, "the new default");
        assert_eq!(
            d[0].retry_after,
            Some(RetryAfter::After(Duration::from_secs(7)))
        );
        assert_eq!(s.breaker_state(), BreakerState::Open, "two failures");
        assert_eq!(s.inner().calls.load(Ordering::Relaxed), 2);

        // The next probe is 7 s after the failure that opened the breaker.
        clock.advance(Duration::from_millis(6_999));
        run(&s, std::slice::from_ref(&plain)).await;
        assert_eq!(
            s.inner().calls.load(Ordering::Relaxed),
            2,
            "short-circuited"
        );
        clock.advance(Duration::from_millis(1));
        run(&s, std::slice::from_ref(&plain)).await;
        assert_eq!(s.inner().calls.load(Ordering::Relaxed), 3, "the probe");

        // Local with a divisor of 5: a limit of 10 allows 2.
        s.reconfigure(FailureMode::Local, 5, BreakerConfig::default());
        let mut n = 0;
        for _ in 0..4 {
            n += usize::from(run(&s, std::slice::from_ref(&plain)).await[0].allowed);
        }
        assert_eq!(n, 2);
        assert_eq!(s.stats().degraded_local, 4);

        // A divisor of 0 means 1.
        s.reconfigure(FailureMode::Local, 0, BreakerConfig::default());
        let d = run(&s, &[check("fresh", 3, None)]).await;
        assert_eq!((d[0].allowed, d[0].limit), (true, 3));
    }

    #[tokio::test]
    async fn an_open_breaker_keeps_calls_away_until_a_probe_succeeds() {
        let (s, clock) = store(FailurePolicy {
            default: FailureMode::FailOpen,
            breaker: BreakerConfig {
                failures: 3,
                cooldown: Duration::from_secs(1),
            },
            ..FailurePolicy::default()
        });
        let c = [check("a", 1, None)];
        let calls = || s.inner().calls.load(Ordering::Relaxed);
        for _ in 0..3 {
            run(&s, &c).await;
        }
        assert_eq!(s.breaker_state(), BreakerState::Open);
        for _ in 0..10 {
            assert!(run(&s, &c).await[0].allowed);
        }
        assert_eq!(calls(), 3);
        let st = s.stats();
        assert_eq!(
            (st.store_errors, st.short_circuited, st.breaker_opened),
            (3, 10, 1)
        );

        s.inner().down.store(false, Ordering::Relaxed);
        run(&s, &c).await;
        assert_eq!(calls(), 3, "still in the cool-down");
        clock.advance(Duration::from_secs(1));
        run(&s, &c).await;
        assert_eq!(calls(), 4, "the probe");
        assert_eq!(s.breaker_state(), BreakerState::Closed);
        run(&s, &c).await;
        assert_eq!(calls(), 5, "closed: every call goes through");
        assert_eq!(s.stats().degraded(), 3 + 11);
    }
}
