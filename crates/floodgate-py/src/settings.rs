//! What a limiter is built from: the policy, the `store:` section and the
//! trusted proxies, read from one document as the server reads its config
//! file (a server's file works as it is; its other sections are read and
//! checked, and not used here).

use std::path::Path;
use std::sync::Arc;

use floodgate_config::{ConfigError, ConfigFile, Source, StoreDocument};
use floodgate_core::{MemoryStoreConfig, Policy};
use floodgate_tower::TrustedProxies;
use serde::Deserialize;

use crate::error::SetupError;

/// The parts of a limiter, checked.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The policy.
    pub policy: Arc<Policy>,
    /// The `store:` section (memory by default).
    pub store: StoreDocument,
    /// The memory store's size (also the local fallback's under Redis).
    pub memory: MemoryStoreConfig,
    /// The proxies whose `X-Forwarded-For` / `Forwarded` are believed.
    pub proxies: TrustedProxies,
}

impl Settings {
    /// Reads a config file (YAML or JSON): errors name the file, line,
    /// column and field.
    pub fn from_file(path: &Path) -> Result<Settings, SetupError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| SetupError::Read {
            file: file.clone(),
            error,
        })?;
        Settings::from_text(&file, &text)
    }

    /// Reads a document (YAML or JSON), naming it `name` in errors.
    pub fn from_text(name: &str, text: &str) -> Result<Settings, SetupError> {
        let file = ConfigFile::parse(name, text)?;
        let proxies =
            TrustedProxies::parse(&file.document.server.trusted_proxies).map_err(|e| {
                file.source()
                    .error(&["trusted_proxies".into()], e.to_string())
            })?;
        Ok(Settings {
            policy: file.policy.clone(),
            store: file.document.server.store.clone(),
            memory: file.memory,
            proxies,
        })
    }

    /// Replaces the store with the `store:` section of `text` (a document
    /// holding only `store:`, JSON or YAML), checked as the config file's.
    /// Per-rule failure modes belong on the rules (`on_store_failure`):
    /// the section's `rules` is refused here.
    pub fn with_store(mut self, name: &str, text: &str) -> Result<Settings, SetupError> {
        let store = store_section(name, text)?;
        self.memory = store.memory();
        self.store = store;
        Ok(self)
    }

    /// The same store, proxies and memory size with the policy of `text`
    /// (YAML or JSON) instead: a limiter of its own on the same counters'
    /// store (per-route limits declared in code).
    pub fn with_policy(mut self, name: &str, text: &str) -> Result<Settings, SetupError> {
        self.policy = Arc::new(floodgate_config::parse_policy(name, text)?);
        Ok(self)
    }

    /// The status of a request denied because a `fail_closed` limit could
    /// not be decided (`store.fail_closed_status`): 503 unless set.
    pub fn fail_closed_status(&self) -> http::StatusCode {
        self.store
            .fail_closed_status
            .and_then(|s| http::StatusCode::from_u16(s).ok())
            .unwrap_or(http::StatusCode::SERVICE_UNAVAILABLE)
    }

    /// Replaces the trusted proxies (CIDRs or addresses).
    pub fn with_proxies<S: AsRef<str>>(mut self, list: &[S]) -> Result<Settings, SetupError> {
        self.proxies = TrustedProxies::parse(list).map_err(|e| ConfigError {
            file: "trusted_proxies".into(),
            line: 0,
            column: 0,
            field: "trusted_proxies".into(),
            message: e.to_string(),
        })?;
        Ok(self)
    }
}

/// A document of one section, `store:`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreOnly {
    #[serde(default)]
    store: StoreDocument,
}

fn store_section(name: &str, text: &str) -> Result<StoreDocument, ConfigError> {
    let doc: StoreOnly =
        serde_yaml_ng::from_str(text).map_err(|e| ConfigError::from_yaml(name, &e))?;
    let src = Source { name, text };
    doc.store.check(&src)?;
    if !doc.store.rules.is_empty() {
        return Err(src.error(
            &["store".into(), "rules".into()],
            "set `on_store_failure` on the rules instead",
        ));
    }
    Ok(doc.store)
}

#[cfg(test)]
mod tests {
    use super::*;
    use floodgate_config::StoreKind;

    const POLICY: &str = "rules:\n  - name: per-ip\n    key: ip\n    limits: [ { algorithm: token_bucket, capacity: 2, refill: 1/s } ]\n";

    #[test]
    fn a_bad_policy_names_the_file_line_and_field() {
        let text = "rules:\n  - name: per-ip\n    key: ip\n    limits: [ { algorithm: token_bucket, capacity: 2, refill: 0/s } ]\n";
        let e = Settings::from_text("policy.yaml", text)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("policy.yaml:4:"), "{e}");
        assert!(e.contains("rules[0].limits[0]"), "{e}");
    }

    #[test]
    fn a_store_section_replaces_the_files_and_is_checked() {
        let s = Settings::from_text("p", POLICY).unwrap();
        assert_eq!(s.store.kind, StoreKind::Memory);
        let s = s
            .with_store(
                "store",
                r#"{"store": {"kind": "redis", "url": "redis://127.0.0.1:1"}}"#,
            )
            .unwrap();
        assert_eq!(s.store.kind, StoreKind::Redis);
        let e = s
            .with_store("store", "store:\n  kind: redis\n  nodes: [redis://a:1]\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("store:3:"), "{e}");
        assert!(e.contains("store.nodes"), "{e}");
    }

    #[test]
    fn trusted_proxies_come_from_the_file_or_the_caller() {
        let text = format!("{POLICY}trusted_proxies: [10.0.0.0/8]\n");
        let s = Settings::from_text("p", &text).unwrap();
        assert!(s.proxies.contains("10.1.2.3".parse().unwrap()));
        let e = s.with_proxies(&["nonsense"]).unwrap_err().to_string();
        assert!(e.contains("`nonsense` is not an IP address or CIDR"), "{e}");
        let e = Settings::from_text("p", &format!("{POLICY}trusted_proxies: [x]\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("trusted_proxies"), "{e}");
    }
}
