//! The server's sections of the config file, beside the policy: the
//! listeners, upstream, trusted proxies, logging, shutdown and the store.
//! Ranges are checked here (with the place); turning the text into
//! addresses and URLs is the server's.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, Source};
use crate::locate::Seg;
use crate::store::StoreDocument;
use crate::units::{format_duration, DurationField};

/// The server sections as written.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerDocument {
    /// Where state lives: `kind: memory` (default), `redis` or
    /// `redis_cluster`.
    #[serde(default)]
    pub store: StoreDocument,
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
    /// Bounds on the public listener's connections.
    #[serde(default, skip_serializing_if = "ConnectionsSection::is_empty")]
    pub connections: ConnectionsSection,
}

impl Default for ServerDocument {
    fn default() -> Self {
        ServerDocument {
            store: StoreDocument::default(),
            listen: default_listen(),
            admin: AdminSection::default(),
            upstream: None,
            upstream_timeout: None,
            trusted_proxies: Vec::new(),
            log: LogSection::default(),
            shutdown_grace: None,
            connections: ConnectionsSection::default(),
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

/// `admin:`
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    /// Admin listener address (loopback by default).
    #[serde(default = "default_admin_listen")]
    pub listen: String,
    /// Bearer tokens accepted on admin endpoints (all but `/healthz` and
    /// `/readyz`), each by name, role and the SHA-256 of the token; more
    /// may come from `FLOODGATE_ADMIN_TOKENS`. At least one is required
    /// when `listen` is not a loopback address. Never written back.
    #[serde(default, skip_serializing)]
    pub tokens: Vec<AdminToken>,
    /// Where the live policy is persisted with the memory store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_file: Option<PathBuf>,
    /// `token`, a token in clear as older versions took it: refused by
    /// [`ServerDocument::check`] with how to migrate.
    #[serde(default, rename = "token", skip_serializing)]
    pub legacy_token: Option<LegacyToken>,
    /// Bounds on the admin listener's connections.
    #[serde(default, skip_serializing_if = "ConnectionsSection::is_empty")]
    pub connections: ConnectionsSection,
}

fn default_admin_listen() -> String {
    "127.0.0.1:9090".into()
}

impl Default for AdminSection {
    fn default() -> Self {
        AdminSection {
            listen: default_admin_listen(),
            tokens: Vec::new(),
            state_file: None,
            legacy_token: None,
            connections: ConnectionsSection::default(),
        }
    }
}

/// One admin token: `{ name, role, sha256 }`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminToken {
    /// Who holds it (the audit log names requests by it).
    pub name: String,
    /// What it may do.
    pub role: AdminRole,
    /// The SHA-256 of the token, as 64 lowercase hex characters.
    pub sha256: String,
}

impl std::fmt::Debug for AdminToken {
    /// Leaves the hash out: a short token could be found back from it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminToken")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// What an admin token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminRole {
    /// Read-only endpoints (and those that change nothing).
    Read,
    /// Every endpoint.
    Admin,
}

impl AdminRole {
    /// `read` or `admin`.
    pub fn parse(s: &str) -> Option<AdminRole> {
        match s {
            "read" => Some(AdminRole::Read),
            "admin" => Some(AdminRole::Admin),
            _ => None,
        }
    }
}

/// A clear `admin.token`: its value is ignored (and never kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LegacyToken;

impl<'de> Deserialize<'de> for LegacyToken {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| LegacyToken)
    }
}

/// The digest `hex` spells: 64 lowercase hex characters, or none.
pub fn sha256_digest(hex: &str) -> Option<[u8; 32]> {
    let b = hex.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

/// Why `sha256` is refused (it is never echoed: it may be a clear token
/// written in the wrong place).
pub const SHA256_FORMAT: &str = "must be 64 lowercase hex characters, the SHA-256 of the token \
     (`printf %s TOKEN | sha256sum`), not the token itself";

/// How to migrate from `admin.token`.
const LEGACY_TOKEN: &str = "a token in clear is no longer accepted; use \
     `admin.tokens: [{name: ops, role: admin, sha256: <SHA-256 of the token>}]` \
     (`printf %s TOKEN | sha256sum` prints it)";

impl AdminSection {
    fn check(&self, src: &Source) -> Result<(), ConfigError> {
        let at = |p: &[Seg]| {
            let mut v = vec![Seg::from("admin")];
            v.extend_from_slice(p);
            v
        };
        if self.legacy_token.is_some() {
            return Err(src.error(&at(&["token".into()]), LEGACY_TOKEN));
        }
        for (i, t) in self.tokens.iter().enumerate() {
            let field = |f: &str| at(&["tokens".into(), i.into(), f.into()]);
            floodgate_core::policy::check_name(&t.name)
                .map_err(|m| src.error(&field("name"), m))?;
            if let Some(j) = self.tokens[..i].iter().position(|u| u.name == t.name) {
                return Err(src.error(
                    &field("name"),
                    format!("`{}` is already the name of tokens[{j}]", t.name),
                ));
            }
            if sha256_digest(&t.sha256).is_none() {
                return Err(src.error(&field("sha256"), SHA256_FORMAT));
            }
            if let Some(j) = self.tokens[..i].iter().position(|u| u.sha256 == t.sha256) {
                return Err(src.error(
                    &field("sha256"),
                    format!("the same token as tokens[{j}]: each token once, with one role"),
                ));
            }
        }
        if self
            .state_file
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(src.error(&at(&["state_file".into()]), "must not be empty"));
        }
        self.connections.check(src, &at(&["connections".into()]))
    }
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
/// The longest upstream timeout and shutdown grace.
pub const MAX_SERVER_WAIT: Duration = Duration::from_secs(3_600);

/// Checks that `d`, found at `path`, lies in `(0, max]`.
pub(crate) fn check_wait(
    src: &Source,
    path: &[Seg],
    d: Option<DurationField>,
    max: Duration,
) -> Result<(), ConfigError> {
    match d {
        Some(DurationField(d)) if d.is_zero() || d > max => Err(src.error(
            path,
            format!(
                "must be above 0 and at most {}",
                format_duration(floodgate_core::time::duration_micros(max))
            ),
        )),
        _ => Ok(()),
    }
}

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
        self.admin.check(src)?;
        if self.admin.state_file.is_some() && self.store.kind != crate::store::StoreKind::Memory {
            return Err(src.error(
                &at(&["admin", "state_file"]),
                "applies to the memory store; with Redis the live policy is kept in Redis",
            ));
        }
        self.store.check(src)
    }
}

/// A size in bytes: a whole number (bytes) or a number with a unit, `B`,
/// `KiB`, `MiB` or `GiB` (`16KiB`, `10MiB`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeField(pub u64);

const SIZE_UNITS: [(&str, u64); 4] = [
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
    ("B", 1),
];

/// Parses `16KiB`, `10MiB`, `512B` or `16384` (bytes).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let s = text.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if digits == 0 {
        return Err(format!("`{text}` is not a size (e.g. 16KiB, 10MiB, 1GiB)"));
    }
    let n: u64 = s[..digits]
        .parse()
        .map_err(|_| format!("`{text}`: number too large"))?;
    let unit = s[digits..].trim();
    let per = match unit {
        "" => 1,
        u => SIZE_UNITS
            .iter()
            .find(|(name, _)| *name == u)
            .map(|(_, per)| *per)
            .ok_or_else(|| format!("`{text}`: unknown unit `{u}` (use B, KiB, MiB or GiB)"))?,
    };
    n.checked_mul(per)
        .ok_or_else(|| format!("`{text}`: size too large"))
}

/// Writes `bytes` in the largest unit that divides it (`16KiB`).
pub fn format_size(bytes: u64) -> String {
    for (unit, per) in SIZE_UNITS {
        if bytes >= per && bytes % per == 0 {
            return format!("{}{unit}", bytes / per);
        }
    }
    format!("{bytes}B")
}

impl Serialize for SizeField {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_size(self.0))
    }
}

impl<'de> Deserialize<'de> for SizeField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = SizeField;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a size such as 16KiB, 10MiB or a number of bytes")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SizeField, E> {
                parse_size(v).map(SizeField).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<SizeField, E> {
                Ok(SizeField(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<SizeField, E> {
                Err(E::custom(format!("`{v}` is not a size")))
            }
        }
        d.deserialize_any(V)
    }
}

/// `connections:` and `admin.connections:`: bounds on one listener's
/// connections. Every field is optional; the server fills in its defaults
/// (which differ between the public and the admin listener).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionsSection {
    /// Time a client has to send a whole request head, from the
    /// connection's start or the first byte of a later request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_read_timeout: Option<DurationField>,
    /// A keep-alive connection with no request in flight is closed after
    /// this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<DurationField>,
    /// Open connections at most; a connection past it is closed at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
    /// Open connections from one peer IP at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_ip: Option<u64>,
    /// Largest request head (request line and headers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_head: Option<SizeField>,
    /// Largest request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body: Option<SizeField>,
}

/// The shortest and longest connection timeouts.
pub const CONNECTION_WAITS: (Duration, Duration) =
    (Duration::from_millis(1), Duration::from_secs(3_600));
/// The range of `max` and `max_per_ip`.
pub const CONNECTION_COUNTS: (u64, u64) = (1, 1_000_000);
/// The range of `max_head`: hyper buffers at least 8 KiB, and a head
/// larger than 1 MiB is an attack, not a request.
pub const HEAD_SIZES: (u64, u64) = (8 << 10, 1 << 20);
/// The range of `max_body`.
pub const BODY_SIZES: (u64, u64) = (1 << 10, 1 << 30);

impl ConnectionsSection {
    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        *self == ConnectionsSection::default()
    }

    /// Checks every field's range; `at` is where the section stands.
    pub fn check(&self, src: &Source, at: &[Seg]) -> Result<(), ConfigError> {
        let field = |f: &str| {
            let mut v = at.to_vec();
            v.push(Seg::from(f));
            v
        };
        let (lo, hi) = CONNECTION_WAITS;
        let us = |d: Duration| format_duration(floodgate_core::time::duration_micros(d));
        for (name, d) in [
            ("header_read_timeout", self.header_read_timeout),
            ("idle_timeout", self.idle_timeout),
        ] {
            if let Some(DurationField(d)) = d {
                if d < lo || d > hi {
                    return Err(src.error(
                        &field(name),
                        format!("must be from {} to {}", us(lo), us(hi)),
                    ));
                }
            }
        }
        let (lo, hi) = CONNECTION_COUNTS;
        for (name, n) in [("max", self.max), ("max_per_ip", self.max_per_ip)] {
            if n.is_some_and(|n| n < lo || n > hi) {
                return Err(src.error(&field(name), format!("must be from {lo} to {hi}")));
            }
        }
        for (name, size, (lo, hi)) in [
            ("max_head", self.max_head, HEAD_SIZES),
            ("max_body", self.max_body, BODY_SIZES),
        ] {
            if size.is_some_and(|SizeField(n)| n < lo || n > hi) {
                return Err(src.error(
                    &field(name),
                    format!("must be from {} to {}", format_size(lo), format_size(hi)),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16KiB"), Ok(16 * 1024));
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("512"), Ok(512));
        assert!(parse_size("10MB").unwrap_err().contains("unknown unit"));
        assert!(parse_size("KiB").is_err());
        assert_eq!(format_size(16 * 1024), "16KiB");
        assert_eq!(format_size(1500), "1500B");
    }

    fn check(yaml: &str) -> Result<(), ConfigError> {
        crate::ConfigFile::parse("t.yaml", yaml).map(|_| ())
    }

    #[test]
    fn connection_bounds_are_checked_where_they_stand() {
        check("connections: {max: 5, max_head: 16KiB, max_body: 10MiB, idle_timeout: 1h}\n")
            .unwrap();
        for (yaml, line, field) in [
            ("connections:\n  max: 0\n", 2, "connections.max"),
            (
                "connections:\n  max_per_ip: 1000001\n",
                2,
                "connections.max_per_ip",
            ),
            (
                "connections:\n  idle_timeout: 2h\n",
                2,
                "connections.idle_timeout",
            ),
            (
                "connections:\n  header_read_timeout: 500us\n",
                2,
                "connections.header_read_timeout",
            ),
            (
                "connections:\n  max_head: 4KiB\n",
                2,
                "connections.max_head",
            ),
            (
                "connections:\n  max_body: 2GiB\n",
                2,
                "connections.max_body",
            ),
            (
                "admin:\n  connections:\n    max_body: 512\n",
                3,
                "admin.connections.max_body",
            ),
        ] {
            let e = check(yaml).unwrap_err();
            assert_eq!((e.line, e.field.as_str()), (line, field), "{yaml}: {e}");
        }
        assert!(check("connections: {max_conns: 1}\n").is_err());
    }
}
