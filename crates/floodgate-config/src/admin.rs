//! `admin:`: the admin listener's address, its named tokens (kept as
//! SHA-256 digests), the state file and the refusal of a clear token.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::connections::ConnectionsSection;
use crate::dashboard::DashboardSection;
use crate::error::{ConfigError, Source};
use crate::locate::Seg;

/// `admin:`
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
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
    /// [`ServerDocument::check`](crate::server::ServerDocument::check) with how to migrate.
    #[serde(default, rename = "token", skip_serializing)]
    pub legacy_token: Option<LegacyToken>,
    /// Bounds on the admin listener's connections.
    #[serde(default, skip_serializing_if = "ConnectionsSection::is_empty")]
    pub connections: ConnectionsSection,
    /// The built-in dashboard (`/dashboard`).
    #[serde(default, skip_serializing_if = "DashboardSection::is_empty")]
    pub dashboard: DashboardSection,
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
            dashboard: DashboardSection::default(),
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

/// The digest `hex` spells: 64 lowercase hex characters, or none. The
/// output of `printf %s TOKEN | sha256sum` is taken as it is: the `  -`
/// it ends with (the name of standard input) is not part of the digest.
pub fn sha256_digest(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    let hex = match hex.get(64..) {
        Some(rest) if matches!(rest.trim_start(), "-" | "*-") && rest.starts_with(' ') => {
            &hex[..64]
        }
        _ => hex,
    };
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
     (what `printf %s TOKEN | sha256sum` prints, with or without its trailing `  -`), not the token itself";

/// How to migrate from `admin.token`.
const LEGACY_TOKEN: &str = "a token in clear is no longer accepted; use \
     `admin.tokens: [{name: ops, role: admin, sha256: <SHA-256 of the token>}]` \
     (`printf %s TOKEN | sha256sum` prints it)";

impl AdminSection {
    pub(crate) fn check(&self, src: &Source) -> Result<(), ConfigError> {
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
        self.connections.check(src, &at(&["connections".into()]))?;
        self.dashboard.check(src, &at(&["dashboard".into()]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256sum_output_is_taken_as_it_is() {
        // `printf %s s3cret | sha256sum`
        let hex = "7c7f7a87da5b1a70b7d9c8b36bd1a0f1e7d2ca4a9b34c30b5af7b8c37e3d0d4b";
        let digest = sha256_digest(hex).unwrap();
        assert_eq!(sha256_digest(&format!("{hex}  -")), Some(digest));
        assert_eq!(sha256_digest(&format!("{hex} *-")), Some(digest));
        assert_eq!(sha256_digest(&format!("{hex}  -\n")), Some(digest));
        // Anything else after the digest is not a digest.
        assert_eq!(sha256_digest(&format!("{hex}  file.txt")), None);
        assert_eq!(sha256_digest(&format!("{hex}-")), None);
        assert_eq!(sha256_digest(&hex.to_uppercase()), None);
        assert_eq!(sha256_digest("s3cret"), None);
    }
}
