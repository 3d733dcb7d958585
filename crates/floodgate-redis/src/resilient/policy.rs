//! The settings of a [`ResilientStore`](super::ResilientStore): the
//! failure policy it is built with, the part of it a reload swaps, and
//! its counters.

use std::sync::atomic::AtomicU64;

use floodgate_core::store::FailureSettings;
use floodgate_core::MemoryStoreConfig;

use crate::config::RedisConfig;

/// The failure policy of a [`ResilientStore`](super::ResilientStore).
#[derive(Clone, Debug, Default)]
pub struct FailurePolicy {
    /// The default mode (of checks without their own), the local divisor
    /// and the circuit breaker.
    pub settings: FailureSettings,
    /// The local store's settings.
    pub local: MemoryStoreConfig,
}

impl From<FailureSettings> for FailurePolicy {
    fn from(settings: FailureSettings) -> FailurePolicy {
        FailurePolicy {
            settings,
            local: MemoryStoreConfig::default(),
        }
    }
}

/// The policy `config` describes.
impl From<&RedisConfig> for FailurePolicy {
    fn from(config: &RedisConfig) -> FailurePolicy {
        FailurePolicy::from(config.failure)
    }
}

/// Counters of a [`ResilientStore`](super::ResilientStore), since it was
/// built.
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
    /// Units admitted locally during outages and charged to the inner
    /// store when it answered again.
    pub charged_units: u64,
    /// Units admitted locally that could not be charged (the key's state
    /// was spent meanwhile, or its debt was dropped): over-admission.
    pub charge_lost_units: u64,
    /// Keys whose debt was dropped because too many keys owed.
    pub charge_dropped_keys: u64,
    /// Keys owing now.
    pub owing_keys: u64,
}

impl ResilienceStats {
    /// All checks decided in degraded mode.
    pub fn degraded(&self) -> u64 {
        self.degraded_open + self.degraded_closed + self.degraded_local
    }
}
#[derive(Default)]
pub(super) struct Counters {
    pub(super) store_errors: AtomicU64,
    pub(super) short_circuited: AtomicU64,
    pub(super) breaker_opened: AtomicU64,
    pub(super) degraded_open: AtomicU64,
    pub(super) degraded_closed: AtomicU64,
    pub(super) degraded_local: AtomicU64,
}
