//! The server's sections of the config file, beside the policy: the
//! listeners, upstream, trusted proxies, logging, shutdown and the store.
//! Ranges are checked here (with the place); turning the text into
//! addresses and URLs is the server's.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, Source};
use crate::locate::Seg;
use crate::overload::OverloadSection;
use crate::store::StoreDocument;
use crate::websocket::WebSocketSection;

pub use crate::admin::{
    sha256_digest, AdminRole, AdminSection, AdminToken, LegacyToken, SHA256_FORMAT,
};
pub use crate::connections::*;
pub use crate::grpc::GrpcSection;
use crate::units::{check_wait, DurationField};

/// The server sections as written.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerDocument {
    /// Where state lives: `kind: memory` (default), `redis` or
    /// `redis_cluster`.
    #[serde(default)]
    pub store: StoreDocument,
    /// This replica's region, when it runs in one of several (see
    /// [`region`](crate::region)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<crate::region::RegionSection>,
    /// The store every region shares, for `global` limits: a Redis or a
    /// Redis Cluster (the fields of `store:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_store: Option<StoreDocument>,
    /// Public listener address.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Admin listener.
    #[serde(default)]
    pub admin: AdminSection,
    /// Forward allowed requests here (`http://host:port`); without it the
    /// public listener serves the built-in demo endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// How long to wait for the upstream's response headers (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_timeout: Option<DurationField>,
    /// Proxies whose `X-Forwarded-For` / `Forwarded` are believed (CIDRs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxies: Vec<String>,
    /// Logging.
    #[serde(default)]
    pub log: LogSection,
    /// Time allowed to finish in-flight requests on shutdown (default 10s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown_grace: Option<DurationField>,
    /// Threads serving the listeners' connections (default: one per CPU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<u64>,
    /// Bounds on the public listener's connections.
    #[serde(default, skip_serializing_if = "ConnectionsSection::is_empty")]
    pub connections: ConnectionsSection,
    /// Load shedding in front of the upstream (gateway only).
    #[serde(default, skip_serializing_if = "OverloadSection::is_empty")]
    pub overload: OverloadSection,
    /// WebSocket proxying (gateway only).
    #[serde(default, skip_serializing_if = "WebSocketSection::is_empty")]
    pub websocket: WebSocketSection,
    /// The gRPC listener (Envoy's rate limit service), off by default.
    #[serde(default, skip_serializing_if = "GrpcSection::is_empty")]
    pub grpc: GrpcSection,
    /// envoyproxy/ratelimit config files (a file or a directory, relative
    /// to this file) whose descriptors become rules of the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_ratelimit: Option<String>,
}

impl Default for ServerDocument {
    fn default() -> Self {
        ServerDocument {
            store: StoreDocument::default(),
            region: None,
            global_store: None,
            listen: default_listen(),
            admin: AdminSection::default(),
            upstream: None,
            upstream_timeout: None,
            trusted_proxies: Vec::new(),
            log: LogSection::default(),
            shutdown_grace: None,
            threads: None,
            connections: ConnectionsSection::default(),
            overload: OverloadSection::default(),
            websocket: WebSocketSection::default(),
            grpc: GrpcSection::default(),
            envoy_ratelimit: None,
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `log:`
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// `text` or `json`.
    #[serde(default = "default_log_format")]
    pub format: LogFormat,
    /// `error`, `warn`, `info`, `debug`, `trace` (or a tracing filter).
    #[serde(default = "default_log_level")]
    pub level: String,
    /// Rejection log lines per second at most (0: every rejection).
    #[serde(default = "default_rejections_per_second")]
    pub rejections_per_second: u64,
}

fn default_log_format() -> LogFormat {
    LogFormat::Text
}
fn default_log_level() -> String {
    "info".into()
}
fn default_rejections_per_second() -> u64 {
    10
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            format: default_log_format(),
            level: default_log_level(),
            rejections_per_second: default_rejections_per_second(),
        }
    }
}

/// The most rejection log lines a second that may be asked for.
pub const MAX_REJECTIONS_PER_SECOND: u64 = 1_000_000;
/// The most serving threads that may be asked for.
pub const MAX_THREADS: u64 = 1024;
/// The longest upstream timeout and shutdown grace.
pub const MAX_SERVER_WAIT: Duration = Duration::from_secs(3_600);

impl ServerDocument {
    /// Checks ranges and the fields that depend on each other.
    pub fn check(&self, src: &Source) -> Result<(), ConfigError> {
        let at = |p: &[&str]| p.iter().map(|s| Seg::from(*s)).collect::<Vec<_>>();
        check_wait(
            src,
            &at(&["upstream_timeout"]),
            self.upstream_timeout,
            MAX_SERVER_WAIT,
        )?;
        check_wait(
            src,
            &at(&["shutdown_grace"]),
            self.shutdown_grace,
            MAX_SERVER_WAIT,
        )?;
        if self.threads.is_some_and(|n| n == 0 || n > MAX_THREADS) {
            return Err(src.error(
                &at(&["threads"]),
                format!("must be between 1 and {MAX_THREADS}"),
            ));
        }
        if self.upstream.is_none() && self.upstream_timeout.is_some() {
            return Err(src.error(&at(&["upstream_timeout"]), "set without an upstream"));
        }
        if self.log.rejections_per_second > MAX_REJECTIONS_PER_SECOND {
            return Err(src.error(
                &at(&["log", "rejections_per_second"]),
                format!("must be at most {MAX_REJECTIONS_PER_SECOND} (0 logs every rejection)"),
            ));
        }
        self.connections.check(src, &at(&["connections"]))?;
        if self.upstream.is_none() && !self.overload.is_empty() {
            return Err(src.error(
                &at(&["overload"]),
                "applies to the gateway: set without an upstream",
            ));
        }
        self.overload.check(src, &at(&["overload"]))?;
        if self.upstream.is_none() && !self.websocket.is_empty() {
            return Err(src.error(
                &at(&["websocket"]),
                "applies to the gateway: set without an upstream",
            ));
        }
        self.websocket.check(src, &at(&["websocket"]))?;
        self.admin.check(src)?;
        self.grpc.check(src)?;
        if self.admin.state_file.is_some() && self.store.kind != crate::store::StoreKind::Memory {
            return Err(src.error(
                &at(&["admin", "state_file"]),
                "applies to the memory store; with Redis the live policy is kept in Redis",
            ));
        }
        self.store.check(src)?;
        if let Some(g) = &self.global_store {
            if self.region.is_none() {
                return Err(src.error(
                    &at(&["global_store"]),
                    "applies with `region:` (the regions that share it)",
                ));
            }
            if g.kind == crate::store::StoreKind::Memory {
                return Err(src.error(
                    &at(&["global_store", "kind"]),
                    "the global store is shared by the regions: `redis`, `redis_cluster` or `redis_sentinel`",
                ));
            }
            g.check(src)?;
            if !g.rules.is_empty() {
                return Err(src.error(
                    &at(&["global_store", "rules"]),
                    "set a rule's failure mode in `store.rules` or the rule's `on_store_failure`",
                ));
            }
        }
        Ok(())
    }
}
