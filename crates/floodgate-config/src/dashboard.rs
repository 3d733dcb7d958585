//! `admin.dashboard:`: the built-in dashboard's near-limit share and the
//! lifetime of its sessions.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, Source};
use crate::locate::Seg;
use crate::units::{format_duration, DurationField};

/// The default `near_limit_share`.
pub const DEFAULT_NEAR_LIMIT_SHARE: f64 = 0.8;
/// The default `session_ttl`.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(8 * 3_600);
/// The range of `session_ttl`.
pub const SESSION_TTLS: (Duration, Duration) =
    (Duration::from_secs(60), Duration::from_secs(7 * 86_400));

/// `admin.dashboard:`
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardSection {
    /// A request that leaves a limit used at or above this share (more
    /// than 0, at most 1) counts as near its limit (default 0.8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub near_limit_share: Option<f64>,
    /// How long a dashboard session lasts after its login (default 8h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_ttl: Option<DurationField>,
}

impl DashboardSection {
    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        *self == DashboardSection::default()
    }

    /// The near-limit share in force.
    pub fn near_limit_share(&self) -> f64 {
        self.near_limit_share.unwrap_or(DEFAULT_NEAR_LIMIT_SHARE)
    }

    /// The session lifetime in force.
    pub fn session_ttl(&self) -> Duration {
        self.session_ttl.map_or(DEFAULT_SESSION_TTL, |d| d.0)
    }

    /// Checks both fields; `at` is where the section stands.
    pub fn check(&self, src: &Source, at: &[Seg]) -> Result<(), ConfigError> {
        let field = |f: &str| {
            let mut v = at.to_vec();
            v.push(Seg::from(f));
            v
        };
        if let Some(s) = self.near_limit_share {
            if !(s > 0.0 && s <= 1.0) {
                return Err(src.error(
                    &field("near_limit_share"),
                    format!("must be more than 0 and at most 1 (a share of the limit), got {s}"),
                ));
            }
        }
        let (lo, hi) = SESSION_TTLS;
        if let Some(DurationField(d)) = self.session_ttl {
            if d < lo || d > hi {
                let us = |d: Duration| format_duration(floodgate_core::time::duration_micros(d));
                return Err(src.error(
                    &field("session_ttl"),
                    format!("must be from {} to {}", us(lo), us(hi)),
                ));
            }
        }
        Ok(())
    }
}
