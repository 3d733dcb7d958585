//! [`Tokens`]: the admin tokens from the config and the environment, kept
//! as SHA-256 digests, and their constant-time check.

use floodgate_config::server::{sha256_digest, AdminRole, AdminSection, SHA256_FORMAT};
use floodgate_config::ConfigError;
use floodgate_core::policy::{check_name, MAX_NAME_LEN};
use sha2::{Digest, Sha256};

use super::{Role, ENV_VAR};

#[derive(Clone)]
struct Entry {
    name: String,
    role: Role,
    digest: [u8; 32],
}

/// The admin tokens: name, role and the SHA-256 of each; never the token.
#[derive(Clone, Default)]
pub struct Tokens {
    entries: Vec<Entry>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|(n, r)| format!("{n} ({})", r.as_str())))
            .finish()
    }
}

impl Tokens {
    /// The tokens of a checked `admin:` section, then those of `env` (the
    /// value of [`ENV_VAR`]). A bad entry of `env` is located by its index
    /// and column, and never echoed.
    pub fn from_config(admin: &AdminSection, env: Option<&str>) -> Result<Tokens, ConfigError> {
        let mut entries: Vec<Entry> = admin
            .tokens
            .iter()
            .map(|t| Entry {
                name: t.name.clone(),
                role: t.role.into(),
                digest: sha256_digest(&t.sha256).expect("checked with the admin section"),
            })
            .collect();
        let env = env.filter(|v| !v.trim().is_empty());
        let mut column = 1;
        for (i, raw) in env.into_iter().flat_map(|v| v.split(',')).enumerate() {
            let at = column + raw.chars().take_while(|c| c.is_whitespace()).count();
            column += raw.chars().count() + 1;
            let entry = parse_entry(raw.trim(), &entries).map_err(|e| ConfigError {
                file: ENV_VAR.into(),
                line: 1,
                column: at,
                field: format!("[{i}]"),
                message: e.to_string(),
            })?;
            entries.push(entry);
        }
        Ok(Tokens { entries })
    }

    /// The value of [`ENV_VAR`], if set.
    pub fn env_value() -> Result<Option<String>, ConfigError> {
        match std::env::var(ENV_VAR) {
            Ok(v) => Ok(Some(v)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError {
                file: ENV_VAR.into(),
                line: 0,
                column: 0,
                field: String::new(),
                message: "is not valid UTF-8".into(),
            }),
        }
    }

    /// Whether no token is configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many tokens there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Each token's name and role, in order (file first, then the
    /// environment).
    pub fn iter(&self) -> impl Iterator<Item = (&str, Role)> {
        self.entries.iter().map(|e| (e.name.as_str(), e.role))
    }

    /// The name and role of the token `presented` is, if any. Its SHA-256
    /// is compared with every stored digest, each comparison over all 32
    /// bytes, so the time taken says neither how much of a digest matched
    /// nor which token did.
    pub fn authenticate(&self, presented: &str) -> Option<(&str, Role)> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut hit = usize::MAX;
        for (i, e) in self.entries.iter().enumerate() {
            // All ones when equal, else zero: selects `i` without a branch.
            let mask = usize::from(same_digest(&digest, &e.digest)).wrapping_neg();
            hit = (hit & !mask) | (i & mask);
        }
        self.entries.get(hit).map(|e| (e.name.as_str(), e.role))
    }
}

/// Compares all 32 bytes, whatever the first difference.
fn same_digest(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Why an entry of the environment variable is refused. Messages never
/// repeat what was written: a token in clear may have been put there.
#[derive(Debug, thiserror::Error)]
enum BadEntry {
    #[error("expected name:role:sha256 (entries are separated by commas)")]
    Shape,
    #[error(
        "the name must be 1 to {MAX_NAME_LEN} of A-Z a-z 0-9 _ - . starting with a letter or digit"
    )]
    Name,
    #[error("`{0}` names another token already")]
    Taken(String),
    #[error("the role must be `read` or `admin`")]
    Role,
    #[error("the sha256 {SHA256_FORMAT}")]
    Digest,
}

/// One `name:role:sha256` entry of the environment variable.
fn parse_entry(raw: &str, taken: &[Entry]) -> Result<Entry, BadEntry> {
    let mut parts = raw.split(':');
    let (Some(name), Some(role), Some(sha), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(BadEntry::Shape);
    };
    if check_name(name).is_err() {
        return Err(BadEntry::Name);
    }
    if taken.iter().any(|e| e.name == name) {
        return Err(BadEntry::Taken(name.to_string()));
    }
    let Some(role) = AdminRole::parse(role) else {
        return Err(BadEntry::Role);
    };
    let Some(digest) = sha256_digest(sha) else {
        return Err(BadEntry::Digest);
    };
    Ok(Entry {
        name: name.to_string(),
        role: role.into(),
        digest,
    })
}
