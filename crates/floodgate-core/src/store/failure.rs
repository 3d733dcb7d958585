//! What a store wrapped in a failure policy does when its inner store
//! cannot decide: the settings that flow, one type, from the config file
//! through the Redis store's config to the policy, and that a reload swaps
//! together.

use std::time::Duration;

use super::FailureMode;

/// Circuit breaker settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker (at least 1).
    pub failures: u32,
    /// How long an open breaker keeps requests away from the store before
    /// it lets one probe through.
    pub cooldown: Duration,
}

impl BreakerConfig {
    /// Default of `failures`.
    pub const DEFAULT_FAILURES: u32 = 5;
    /// Default of `cooldown`.
    pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(1);
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failures: BreakerConfig::DEFAULT_FAILURES,
            cooldown: BreakerConfig::DEFAULT_COOLDOWN,
        }
    }
}

/// The failure settings of a store: its default mode, the local divisor
/// and the circuit breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailureSettings {
    /// What to do with a check that carries no failure mode of its own
    /// ([`LimitCheck::on_failure`](super::LimitCheck::on_failure)) when
    /// the store cannot decide.
    pub on_failure: FailureMode,
    /// In `local` mode, each limit is divided by this (the number of
    /// replicas that share it; at least 1).
    pub local_divisor: u64,
    /// Circuit breaker.
    pub breaker: BreakerConfig,
}

impl FailureSettings {
    /// Default of `on_failure`.
    pub const DEFAULT_ON_FAILURE: FailureMode = FailureMode::Local;
    /// Default of `local_divisor`.
    pub const DEFAULT_LOCAL_DIVISOR: u64 = 1;
}

impl Default for FailureSettings {
    fn default() -> Self {
        FailureSettings {
            on_failure: FailureSettings::DEFAULT_ON_FAILURE,
            local_divisor: FailureSettings::DEFAULT_LOCAL_DIVISOR,
            breaker: BreakerConfig::default(),
        }
    }
}
