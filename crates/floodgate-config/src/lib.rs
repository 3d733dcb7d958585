//! Floodgate's configuration: the policy document, in YAML or JSON, shared
//! by the config file, `check-config`, `simulate`, the load generator and
//! the admin API; and the config file's server sections, kept beside it.
//!
//! Unknown fields are errors, and every error names the place: file, line
//! and column, and the field as `rules[1].limits[0].refill`.
//!
//! # Layout
//!
//! - [`document`]: `PolicyDocument` and its parts, as written (serde).
//! - [`envoy_ratelimit`]: envoyproxy/ratelimit's config files into
//!   descriptor rules.
//! - [`validate`]: a `PolicyDocument` into a core `Policy`.
//! - `descriptor`: a descriptor rule's matcher (`match.domain`,
//!   `match.descriptors`) and the keys it may have.
//! - [`limit`]: a limit as written into a `Quota` and `Limit`.
//! - [`admin`]: the `admin:` section (tokens by digest, state file).
//! - [`connections`]: `connections:` and `admin.connections:`.
//! - [`grpc`]: the `grpc:` section (Envoy's rate limit service).
//! - [`websocket`]: the `websocket:` section (the gateway's WebSocket
//!   proxying: bounds and message limits).
//! - [`server`]: `ServerDocument`, the server's sections, and their ranges.
//! - [`store`]: `StoreDocument`, the `store:` section.
//! - [`url`]: `UrlError`, the form of a Redis URL.
//! - [`file`](mod@file): `ConfigFile`, both read from one file.
//! - [`error`]: `ConfigError` and `Source` (locating errors).
//! - [`depth`]: a linear pre-scan refusing deeply nested documents.
//! - [`locate`]: finds a node of a YAML (or JSON) text by path.
//! - [`unique`]: maps that refuse a key given twice.
//! - [`units`]: durations (`1m30s`) and rates (`100/minute`).
//!
//! # Example
//!
//! ```
//! let policy = floodgate_config::parse_policy("inline", r#"
//! rules:
//!   - name: per-ip
//!     key: ip
//!     limits: [ { algorithm: token_bucket, capacity: 100, refill: 1/s } ]
//! "#).unwrap();
//! assert_eq!(&*policy.rules[0].name, "per-ip");
//!
//! let err = floodgate_config::parse_policy("inline", "rules:\n  - name: a/b\n").unwrap_err();
//! assert_eq!((err.line, err.field.as_str()), (2, "rules[0].name"));
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod amount;
pub mod connections;
pub mod dashboard;
pub mod depth;
mod descriptor;
pub mod document;
pub mod envoy_ratelimit;
pub mod error;
pub mod errors;
pub mod file;
pub mod grpc;
#[cfg(feature = "jwt")]
mod jwt;
pub mod limit;
pub mod locate;
pub mod overload;
mod overrides;
#[cfg(feature = "redis")]
pub mod redis;
pub mod region;
pub mod scope;
pub mod server;
pub mod share;
pub mod store;
pub mod sync;
pub mod unique;
pub mod units;
pub mod url;
pub mod validate;
pub mod websocket;

use floodgate_core::Policy;

pub use document::{
    ClientDocument, EntryDocument, IdentityDocument, KeyDocument, LimitDocument, MatchDocument,
    OverrideDocument, PolicyDocument, RuleDocument,
};
pub use error::{ConfigError, Source};
pub use file::{ConfigFile, FileDocument, LoadError};
pub use server::{AdminSection, LogFormat, LogSection, ServerDocument};
pub use store::{
    BreakerDocument, ScriptingName, StoreDocument, StoreKind, TimeSourceName, TlsDocument,
};

impl PolicyDocument {
    /// Reads a policy document from YAML.
    pub fn from_yaml(name: &str, text: &str) -> Result<PolicyDocument, ConfigError> {
        depth::check_depth(name, text)?;
        serde_yaml_ng::from_str(text).map_err(|e| ConfigError::from_yaml(name, &e))
    }

    /// Reads a policy document from JSON; errors carry the JSON path.
    pub fn from_json(name: &str, text: &str) -> Result<PolicyDocument, ConfigError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| ConfigError::from_json(name, &e))
    }
}

/// Parses and validates a policy from YAML.
pub fn parse_policy(name: &str, text: &str) -> Result<Policy, ConfigError> {
    PolicyDocument::from_yaml(name, text)?.validate(&Source { name, text })
}

/// Parses and validates a policy from JSON.
pub fn parse_policy_json(name: &str, text: &str) -> Result<Policy, ConfigError> {
    PolicyDocument::from_json(name, text)?.validate(&Source { name, text })
}
