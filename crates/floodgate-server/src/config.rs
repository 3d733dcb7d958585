//! The config file: one YAML document with the policy sections (see
//! `floodgate_core::policy::config`) and the server's own.

use std::path::Path;
use std::sync::Arc;

use floodgate_core::policy::config::{
    ClientConfig, ConfigError, IdentityConfig, LimitConfig, PolicyConfig, RuleConfig,
};
use floodgate_core::policy::locate::Seg;
use floodgate_core::{MemoryStoreConfig, Policy};
use serde::Deserialize;

/// The file as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Tier names.
    #[serde(default)]
    pub tiers: Vec<String>,
    /// Tier of clients without a known API key.
    #[serde(default)]
    pub default_tier: Option<String>,
    /// API key → tier.
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
    /// Where identities come from.
    #[serde(default)]
    pub identity: IdentityConfig,
    /// Rules.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    /// Limits over all traffic.
    #[serde(default)]
    pub global: Vec<LimitConfig>,
    /// Where state lives.
    #[serde(default)]
    pub store: StoreSection,
}

/// `store:`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// `memory`.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// Most keys the memory store holds.
    #[serde(default = "default_max_keys")]
    pub max_keys: usize,
    /// Memory store shards.
    #[serde(default = "default_shards")]
    pub shards: usize,
}

fn default_kind() -> String {
    "memory".into()
}
fn default_max_keys() -> usize {
    MemoryStoreConfig::default().max_keys
}
fn default_shards() -> usize {
    MemoryStoreConfig::default().shards
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            kind: default_kind(),
            max_keys: default_max_keys(),
            shards: default_shards(),
        }
    }
}

/// A validated config.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file it came from.
    pub file: String,
    /// The policy.
    pub policy: Arc<Policy>,
    /// Memory store settings.
    pub memory: MemoryStoreConfig,
}

impl Config {
    /// Parses and validates `source`, naming `file` in errors.
    pub fn parse(file: &str, source: &str) -> Result<Config, ConfigError> {
        let raw: FileConfig =
            serde_yaml_ng::from_str(source).map_err(|e| ConfigError::from_yaml(file, &e))?;
        let policy = PolicyConfig {
            tiers: raw.tiers,
            default_tier: raw.default_tier,
            clients: raw.clients,
            identity: raw.identity,
            rules: raw.rules,
            global: raw.global,
        }
        .validate(file, source)?;
        let store = &raw.store;
        if store.kind != "memory" {
            return Err(ConfigError::at(
                file,
                source,
                &[Seg::from("store"), Seg::from("kind")],
                format!("unknown store kind `{}`, expected memory", store.kind),
            ));
        }
        if store.max_keys == 0 {
            return Err(ConfigError::at(
                file,
                source,
                &[Seg::from("store"), Seg::from("max_keys")],
                "must be at least 1",
            ));
        }
        Ok(Config {
            file: file.to_string(),
            policy: Arc::new(policy),
            memory: MemoryStoreConfig {
                max_keys: store.max_keys,
                shards: store.shards,
                ..MemoryStoreConfig::default()
            },
        })
    }

    /// Reads and validates a file.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let file = path.display().to_string();
        let source = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{file}: cannot read: {e}"))?;
        Ok(Config::parse(&file, &source)?)
    }

    /// A human summary, as printed by `check-config`.
    pub fn summary(&self) -> String {
        use std::fmt::Write as _;
        let p = &self.policy;
        let mut out = String::new();
        let _ = writeln!(out, "{}: ok", self.file);
        let _ = writeln!(
            out,
            "tiers: {} (default: {}); clients: {}",
            if p.tiers.is_empty() {
                "none".to_string()
            } else {
                p.tiers
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            p.default_tier.as_deref().unwrap_or("none"),
            p.clients.len()
        );
        for r in &p.rules {
            let _ = writeln!(
                out,
                "rule {}{}: {} {} by {}",
                r.name,
                if r.shadow { " (shadow)" } else { "" },
                r.matcher.path,
                if r.matcher.methods.is_empty() {
                    "any method".to_string()
                } else {
                    r.matcher.methods.join(",")
                },
                r.key
                    .iter()
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
                    .join("+")
            );
            for l in &r.limits {
                let _ = writeln!(out, "  {}: {}", l.name, l.quota);
            }
            let mut tiers: Vec<_> = r.tiers.iter().collect();
            tiers.sort_by(|a, b| a.0.cmp(b.0));
            for (t, ls) in tiers {
                if ls.is_empty() {
                    let _ = writeln!(out, "  tier {t}: unlimited");
                }
                for l in ls {
                    let _ = writeln!(out, "  tier {t}: {}: {}", l.name, l.quota);
                }
            }
        }
        for l in &p.global {
            let _ = writeln!(out, "global {}: {}", l.name, l.quota);
        }
        let _ = writeln!(out, "store: memory, at most {} keys", self.memory.max_keys);
        out
    }
}
