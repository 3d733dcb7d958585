//! The settings of a [`ResilientStore`](super::ResilientStore): the
//! failure policy it is built with, the part of it a reload swaps, and
//! its counters.

use std::sync::atomic::AtomicU64;

use floodgate_core::{FailureMode, MemoryStoreConfig};

use crate::config::{BreakerConfig, RedisConfig};

/// The failure policy of a [`ResilientStore`](super::ResilientStore).
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

/// The settings
/// [`ResilientStore::reconfigure`](super::ResilientStore::reconfigure)
/// swaps, always together.
#[derive(Clone, Copy, Debug)]
pub(super) struct Settings {
    pub(super) default: FailureMode,
    pub(super) divisor: u64,
    pub(super) breaker: BreakerConfig,
}
