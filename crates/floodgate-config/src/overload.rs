//! `overload:`: how the gateway protects itself and its upstream when more
//! requests arrive than the upstream can serve.

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, Source};
use crate::locate::Seg;

/// `overload:` as written; every field optional, defaults below.
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OverloadSection {
    /// Shed load at all (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Requests in flight toward the upstream at most (default 1024).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u64>,
    /// Lower the bound while the upstream's latency rises (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptive: Option<bool>,
    /// The adaptive bound never goes below this (default 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_limit: Option<u64>,
    /// A response slower than `tolerance` × the upstream's unloaded
    /// latency counts as congestion (default 1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<f64>,
}

/// Defaults and ranges, written once.
pub mod defaults {
    /// `max_in_flight`.
    pub const MAX_IN_FLIGHT: u64 = 1024;
    /// `min_limit`.
    pub const MIN_LIMIT: u64 = 16;
    /// `tolerance`.
    pub const TOLERANCE: f64 = 1.2;
    /// The range of `max_in_flight` and `min_limit`.
    pub const IN_FLIGHT_RANGE: (u64, u64) = (1, 1_000_000);
    /// The range of `tolerance`.
    pub const TOLERANCE_RANGE: (f64, f64) = (1.1, 100.0);
}

impl OverloadSection {
    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        *self == OverloadSection::default()
    }

    /// Checks every field's range; `at` is where the section stands.
    pub fn check(&self, src: &Source, at: &[Seg]) -> Result<(), ConfigError> {
        let field = |f: &str| {
            let mut v = at.to_vec();
            v.push(Seg::from(f));
            v
        };
        let (lo, hi) = defaults::IN_FLIGHT_RANGE;
        for (name, n) in [
            ("max_in_flight", self.max_in_flight),
            ("min_limit", self.min_limit),
        ] {
            if n.is_some_and(|n| !(lo..=hi).contains(&n)) {
                return Err(src.error(&field(name), format!("must be from {lo} to {hi}")));
            }
        }
        let max = self.max_in_flight.unwrap_or(defaults::MAX_IN_FLIGHT);
        if self.min_limit.unwrap_or(defaults::MIN_LIMIT.min(max)) > max {
            return Err(src.error(
                &field("min_limit"),
                format!("must be at most max_in_flight ({max})"),
            ));
        }
        let (lo, hi) = defaults::TOLERANCE_RANGE;
        if self
            .tolerance
            .is_some_and(|t| !(t.is_finite() && (lo..=hi).contains(&t)))
        {
            return Err(src.error(&field("tolerance"), format!("must be from {lo} to {hi}")));
        }
        Ok(())
    }
}
