//! `websocket:`: how the gateway proxies WebSocket connections: how many
//! may be open, how long one may stay silent, how large a message may be,
//! and how many messages a client may send.

use serde::{Deserialize, Serialize};

use floodgate_core::Quota;

use crate::connections::SizeField;
use crate::document::LimitDocument;
use crate::error::{ConfigError, Source};
use crate::locate::Seg;
use crate::units::{format_duration, DurationField};

/// `websocket:` as written; every field optional, defaults below.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebSocketSection {
    /// Proxy WebSocket upgrades at all (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// WebSocket connections open at once at most (default 1024).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u64>,
    /// Close a connection after this long without a message either way
    /// (default 60s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<DurationField>,
    /// The largest message (and frame), either way (default 1MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_message: Option<SizeField>,
    /// How many messages a client may send: one limit, as a rule's
    /// (default: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<LimitDocument>,
    /// Whose budget `messages` is: `connection` (default: each connection
    /// its own), or `ip`, `api_key`, `user` (every connection of one
    /// client shares one, as a rule keyed so counts it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Defaults and ranges, written once.
pub mod defaults {
    use std::time::Duration;

    /// `max_connections`.
    pub const MAX_CONNECTIONS: u64 = 1024;
    /// The range of `max_connections`.
    pub const MAX_CONNECTIONS_RANGE: (u64, u64) = (1, 1_000_000);
    /// `idle_timeout`.
    pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
    /// The range of `idle_timeout`.
    pub const IDLE_TIMEOUT_RANGE: (Duration, Duration) =
        (Duration::from_secs(1), Duration::from_secs(86_400));
    /// `max_message`.
    pub const MAX_MESSAGE: u64 = 1 << 20;
    /// The range of `max_message`.
    pub const MAX_MESSAGE_RANGE: (u64, u64) = (128, 64 << 20);
    /// The values of `key`.
    pub const KEYS: &[&str] = &["connection", "ip", "api_key", "user"];
}

impl WebSocketSection {
    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        *self == WebSocketSection::default()
    }

    /// The quota of `messages`, if set; errors are located under `at`.
    pub fn messages_quota(&self, src: &Source, at: &[Seg]) -> Result<Option<Quota>, ConfigError> {
        let Some(m) = &self.messages else {
            return Ok(None);
        };
        let mut at = at.to_vec();
        at.push(Seg::from("messages"));
        for (field, given) in [("name", m.name.is_some()), ("soft", m.soft.is_some())] {
            if given {
                let mut f = at.clone();
                f.push(Seg::from(field));
                return Err(src.error(
                    &f,
                    format!("`{field}` does not apply to WebSocket messages"),
                ));
            }
        }
        let quota = m.to_quota(src, &at)?;
        if quota.is_concurrency() {
            at.push(Seg::from("algorithm"));
            return Err(src.error(
                &at,
                "`concurrency` does not apply to WebSocket messages: use a rate algorithm",
            ));
        }
        Ok(Some(quota))
    }

    /// Checks every field's range; `at` is where the section stands.
    pub fn check(&self, src: &Source, at: &[Seg]) -> Result<(), ConfigError> {
        let field = |f: &str| {
            let mut v = at.to_vec();
            v.push(Seg::from(f));
            v
        };
        let (lo, hi) = defaults::MAX_CONNECTIONS_RANGE;
        if self
            .max_connections
            .is_some_and(|n| !(lo..=hi).contains(&n))
        {
            return Err(src.error(
                &field("max_connections"),
                format!("must be from {lo} to {hi}"),
            ));
        }
        let (lo, hi) = defaults::IDLE_TIMEOUT_RANGE;
        if self.idle_timeout.is_some_and(|d| !(lo..=hi).contains(&d.0)) {
            let show =
                |d: std::time::Duration| format_duration(floodgate_core::time::duration_micros(d));
            return Err(src.error(
                &field("idle_timeout"),
                format!("must be from {} to {}", show(lo), show(hi)),
            ));
        }
        let (lo, hi) = defaults::MAX_MESSAGE_RANGE;
        if self.max_message.is_some_and(|s| !(lo..=hi).contains(&s.0)) {
            return Err(src.error(
                &field("max_message"),
                format!(
                    "must be from {}B to {}",
                    lo,
                    crate::connections::format_size(hi)
                ),
            ));
        }
        if let Some(k) = &self.key {
            if !defaults::KEYS.contains(&k.as_str()) {
                return Err(src.error(
                    &field("key"),
                    format!(
                        "unknown key `{k}`, expected one of {}",
                        defaults::KEYS.join(", ")
                    ),
                ));
            }
            if self.messages.is_none() {
                return Err(src.error(&field("key"), "set without `messages`"));
            }
        }
        self.messages_quota(src, at).map(|_| ())
    }
}
