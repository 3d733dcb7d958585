//! The config file: the policy document and the server's sections side by
//! side at the top level of one YAML document, read in one pass (so every
//! error keeps its line and column) and kept apart in two types.

use std::fmt;
use std::sync::Arc;

use floodgate_core::{MemoryStoreConfig, Policy};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::document::PolicyDocument;
use crate::error::{ConfigError, Source};
use crate::locate::Seg;
use crate::server::ServerDocument;
use crate::store::StoreDocument;

/// Every top-level key of the file: the policy's, then the server's.
pub const ALL_FIELDS: &[&str] = &[
    "tiers",
    "default_tier",
    "clients",
    "identity",
    "rules",
    "global",
    "overrides",
    "errors",
    "store",
    "region",
    "global_store",
    "listen",
    "admin",
    "upstream",
    "upstream_timeout",
    "trusted_proxies",
    "log",
    "shutdown_grace",
    "threads",
    "connections",
    "overload",
    "websocket",
    "grpc",
    "envoy_ratelimit",
];

/// The top-level keys of [`PolicyDocument`].
pub const POLICY_FIELDS: &[&str] = ALL_FIELDS.split_at(8).0;

/// The top-level keys of [`ServerDocument`].
pub const SERVER_FIELDS: &[&str] = ALL_FIELDS.split_at(8).1;

/// The file as written: the policy and the server settings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FileDocument {
    /// The policy sections.
    pub policy: PolicyDocument,
    /// The server sections.
    pub server: ServerDocument,
}

impl<'de> Deserialize<'de> for FileDocument {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(FileVisitor)
    }
}

struct FileVisitor;

impl<'de> Visitor<'de> for FileVisitor {
    type Value = FileDocument;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping of policy and server sections")
    }

    fn visit_unit<E: de::Error>(self) -> Result<FileDocument, E> {
        Ok(FileDocument::default())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FileDocument, A::Error> {
        let mut doc = FileDocument::default();
        let mut seen: Vec<&'static str> = Vec::new();
        // Keys are read through `Key`, so that an unknown or repeated one is
        // reported where it stands.
        while let Some(key) = map.next_key_seed(Key(&seen))? {
            let p = &mut doc.policy;
            let s = &mut doc.server;
            match key {
                "tiers" => p.tiers = map.next_value()?,
                "default_tier" => p.default_tier = map.next_value()?,
                "clients" => p.clients = map.next_value()?,
                "identity" => p.identity = map.next_value()?,
                "rules" => p.rules = map.next_value()?,
                "global" => p.global = map.next_value()?,
                "overrides" => p.overrides = map.next_value()?,
                "errors" => p.errors = map.next_value()?,
                "store" => s.store = map.next_value()?,
                "region" => s.region = Some(map.next_value()?),
                "global_store" => {
                    s.global_store = Some(map.next_value::<StoreDocument>()?.under("global_store"))
                }
                "listen" => s.listen = map.next_value()?,
                "admin" => s.admin = map.next_value()?,
                "upstream" => s.upstream = map.next_value()?,
                "upstream_timeout" => s.upstream_timeout = map.next_value()?,
                "trusted_proxies" => s.trusted_proxies = map.next_value()?,
                "log" => s.log = map.next_value()?,
                "shutdown_grace" => s.shutdown_grace = map.next_value()?,
                "threads" => s.threads = map.next_value()?,
                "connections" => s.connections = map.next_value()?,
                "overload" => s.overload = map.next_value()?,
                "websocket" => s.websocket = map.next_value()?,
                "grpc" => s.grpc = map.next_value()?,
                "envoy_ratelimit" => s.envoy_ratelimit = map.next_value()?,
                other => return Err(de::Error::unknown_field(other, ALL_FIELDS)),
            }
            seen.push(key);
        }
        Ok(doc)
    }
}

/// Reads a top-level key: known, and not seen before.
struct Key<'a>(&'a [&'static str]);

impl<'de> de::DeserializeSeed<'de> for Key<'_> {
    type Value = &'static str;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<&'static str, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl Visitor<'_> for Key<'_> {
    type Value = &'static str;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a section name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<&'static str, E> {
        let key = ALL_FIELDS
            .iter()
            .find(|f| **f == v)
            .ok_or_else(|| E::unknown_field(v, ALL_FIELDS))?;
        if self.0.contains(key) {
            return Err(E::custom(format!("duplicate field `{key}`")));
        }
        Ok(key)
    }
}

/// A validated config file.
#[derive(Clone, Debug)]
pub struct ConfigFile {
    /// The file it came from.
    pub file: String,
    /// The text it was read from (to locate errors the server finds).
    pub text: String,
    /// The document as written (`store.rules` folded into the policy
    /// part's rules).
    pub document: FileDocument,
    /// The policy, validated; `store.rules` folded into the rules'
    /// failure modes.
    pub policy: Arc<Policy>,
    /// The memory store's settings (the local fallback's under Redis).
    pub memory: MemoryStoreConfig,
    /// What was accepted without its full meaning (fields of
    /// `envoy_ratelimit` files), located: to be logged or shown.
    pub warnings: Vec<ConfigError>,
}

/// Adds the rules of envoyproxy/ratelimit config files at `path`
/// (relative to the config file's folder) to `policy`. Their errors name
/// their file; a file that cannot be read, or a rule name the config file
/// uses already, is an error at `envoy_ratelimit`.
fn import_envoy_ratelimit(
    src: &Source,
    path: &str,
    policy: &mut PolicyDocument,
) -> Result<Vec<ConfigError>, ConfigError> {
    let at = [Seg::from("envoy_ratelimit")];
    let base = std::path::Path::new(src.name)
        .parent()
        .unwrap_or(std::path::Path::new(""));
    let full = base.join(path);
    let imported = match crate::envoy_ratelimit::import_path(&full) {
        Ok(i) => i,
        Err(crate::envoy_ratelimit::ImportError::Invalid(e)) => return Err(e),
        Err(e) => return Err(src.error(&at, e.to_string())),
    };
    for r in imported.rules {
        if policy.rules.iter().any(|x| x.name == r.name) {
            return Err(src.error(
                &at,
                format!(
                    "rule `{}` of {} is a rule of this file too",
                    r.name,
                    full.display()
                ),
            ));
        }
        policy.rules.push(r);
    }
    Ok(imported.warnings)
}

impl ConfigFile {
    /// Parses and validates `text`, naming `file` in errors.
    pub fn parse(file: &str, text: &str) -> Result<ConfigFile, ConfigError> {
        crate::depth::check_depth(file, text)?;
        let mut document: FileDocument =
            serde_yaml_ng::from_str(text).map_err(|e| ConfigError::from_yaml(file, &e))?;
        let src = Source { name: file, text };
        let mut warnings = Vec::new();
        if let Some(path) = document.server.envoy_ratelimit.clone() {
            warnings = import_envoy_ratelimit(&src, &path, &mut document.policy)?;
        }
        let mut policy = document.policy.validate(&src)?;
        document.server.check(&src)?;
        // `store.rules` gives rules without their own `on_store_failure`
        // a mode (in the policy and its document alike, so that the live
        // policy built from the document keeps it); naming a rule that does
        // not exist is a mistake.
        for (name, mode) in &document.server.store.rules {
            let at = [
                Seg::from("store"),
                Seg::from("rules"),
                Seg::from(name.as_str()),
            ];
            match policy.rules.iter_mut().find(|r| *r.name == **name) {
                Some(r) => {
                    r.on_store_failure.get_or_insert(*mode);
                }
                None => return Err(src.error(&at, format!("no rule is named `{name}`"))),
            }
            if let Some(r) = document.policy.rules.iter_mut().find(|r| r.name == *name) {
                r.on_store_failure.get_or_insert(*mode);
            }
        }
        Ok(ConfigFile {
            file: file.to_string(),
            text: text.to_string(),
            memory: document.server.store.memory(),
            document,
            policy: Arc::new(policy),
            warnings,
        })
    }

    /// Reads and validates a file.
    pub fn load(path: &std::path::Path) -> Result<ConfigFile, LoadError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| LoadError::Read {
            file: file.clone(),
            error: e,
        })?;
        Ok(ConfigFile::parse(&file, &text)?)
    }

    /// Where this file's errors are located.
    pub fn source(&self) -> Source<'_> {
        Source {
            name: &self.file,
            text: &self.text,
        }
    }
}

/// A config file that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file cannot be read.
    #[error("{file}: cannot read: {error}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        error: std::io::Error,
    },
    /// The file is not a valid config.
    #[error(transparent)]
    Invalid(#[from] ConfigError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::DurationField;
    use std::time::Duration;

    #[test]
    fn field_lists_match_the_documents() {
        let sorted = |v: serde_json::Value| {
            let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            keys.sort();
            keys
        };
        let want = |fields: &[&str]| {
            let mut v: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
            v.sort();
            v
        };
        let doc = PolicyDocument::from_yaml(
            "p",
            "tiers: [a]\ndefault_tier: a\nclients: [{api_key: k, tier: a}]\n\
             rules: [{name: r, limits: [{algorithm: gcra, rate: 1/s}]}]\n\
             global: [{algorithm: gcra, rate: 1/s}]\n\
             overrides: [{rule: r, identity: g, limits: [{algorithm: gcra, rate: 2/s}]}]\n\
             errors: {details: true}\n",
        )
        .unwrap();
        assert_eq!(
            sorted(serde_json::to_value(doc).unwrap()),
            want(POLICY_FIELDS)
        );
        let server = ServerDocument {
            upstream: Some("http://x:1".into()),
            upstream_timeout: Some(DurationField(Duration::from_secs(1))),
            trusted_proxies: vec!["10.0.0.0/8".into()],
            shutdown_grace: Some(DurationField(Duration::from_secs(1))),
            threads: Some(2),
            connections: crate::server::ConnectionsSection {
                max: Some(1),
                ..Default::default()
            },
            overload: crate::overload::OverloadSection {
                max_in_flight: Some(8),
                ..Default::default()
            },
            websocket: crate::websocket::WebSocketSection {
                max_connections: Some(8),
                ..Default::default()
            },
            grpc: crate::server::GrpcSection {
                listen: Some("127.0.0.1:8081".into()),
                ..Default::default()
            },
            envoy_ratelimit: Some("ratelimit/".into()),
            region: Some(crate::region::RegionSection::default()),
            global_store: Some(StoreDocument::default()),
            ..ServerDocument::default()
        };
        assert_eq!(
            sorted(serde_json::to_value(server).unwrap()),
            want(SERVER_FIELDS)
        );
    }
}
