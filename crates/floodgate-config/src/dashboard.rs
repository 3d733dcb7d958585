//! `admin.dashboard:`: the built-in dashboard's near-limit share, the
//! lifetime of its sessions, and how a replica takes part in the fleet
//! view (its name, how often it publishes, when it counts as gone).

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

/// The default `publish_every`.
pub const DEFAULT_PUBLISH_EVERY: Duration = Duration::from_secs(2);
/// The range of `publish_every`.
pub const PUBLISH_EVERY: (Duration, Duration) =
    (Duration::from_millis(100), Duration::from_secs(60));
/// The default `replica_timeout`.
pub const DEFAULT_REPLICA_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest `replica_timeout`.
pub const MAX_REPLICA_TIMEOUT: Duration = Duration::from_secs(3_600);
/// The longest `replica` name.
pub const MAX_REPLICA_NAME: usize = 128;

/// `admin.dashboard:`
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardSection {
    /// A request that leaves a limit used at or above this share (more
    /// than 0, at most 1) counts as near its limit (default 0.8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub near_limit_share: Option<f64>,
    /// How long a dashboard session lasts after its login (default 8h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_ttl: Option<DurationField>,
    /// This replica's name in the fleet view (default: the host name and
    /// the admin listener's port, `host:port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
    /// How often a replica on Redis publishes its report for the fleet
    /// view (default 2s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_every: Option<DurationField>,
    /// A replica not heard from for this long is shown as gone (default
    /// 10s; at least twice `publish_every`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_timeout: Option<DurationField>,
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

    /// The publication interval in force.
    pub fn publish_every(&self) -> Duration {
        self.publish_every.map_or(DEFAULT_PUBLISH_EVERY, |d| d.0)
    }

    /// The replica timeout in force.
    pub fn replica_timeout(&self) -> Duration {
        self.replica_timeout
            .map_or(DEFAULT_REPLICA_TIMEOUT, |d| d.0)
    }

    /// Checks every field; `at` is where the section stands.
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
        if let Some(name) = &self.replica {
            let ok = name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b));
            if name.is_empty() || name.len() > MAX_REPLICA_NAME || !ok {
                return Err(src.error(
                    &field("replica"),
                    format!(
                        "`{name}` is not a valid replica name: use 1 to {MAX_REPLICA_NAME} of A-Z a-z 0-9 _ - . :"
                    ),
                ));
            }
        }
        let us = |d: Duration| format_duration(floodgate_core::time::duration_micros(d));
        let (lo, hi) = PUBLISH_EVERY;
        let every = self.publish_every();
        if every < lo || every > hi {
            return Err(src.error(
                &field("publish_every"),
                format!("must be from {} to {}", us(lo), us(hi)),
            ));
        }
        let timeout = self.replica_timeout();
        if timeout < every * 2 || timeout > MAX_REPLICA_TIMEOUT {
            return Err(src.error(
                &field(if self.replica_timeout.is_some() {
                    "replica_timeout"
                } else {
                    "publish_every"
                }),
                format!(
                    "replica_timeout ({}) must be at least twice publish_every ({}) and at most {}",
                    us(timeout),
                    us(every),
                    us(MAX_REPLICA_TIMEOUT)
                ),
            ));
        }
        Ok(())
    }
}
