//! A client change checked before it is kept: digests in hex, tiers of the
//! live policy, names within bounds, no key twice; and what an import did.

use std::collections::HashSet;

use floodgate_config::ConfigError;
use floodgate_core::policy::{fingerprint_of, Policy};

use super::{digest_of_hex, ClientRecord};
use crate::live::LiveError;

/// A name is at most this long.
pub const MAX_NAME: usize = 256;

/// What an import did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Imported {
    /// Clients new to the book.
    pub created: usize,
    /// Known clients whose tier or name changed.
    pub updated: usize,
    /// Known clients left as they were.
    pub unchanged: usize,
    /// The clients' sequence number after it.
    pub seq: u64,
}

/// A mistake in a client, named by its place in the request.
fn invalid(at: &str, field: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        file: "request body".into(),
        line: 0,
        column: 0,
        field: if at.is_empty() {
            field.into()
        } else {
            format!("{at}.{field}")
        },
        message: message.into(),
    }
}

/// Checks `records` against the tiers of `policy`: digests in hex, known
/// tiers, names within [`MAX_NAME`], no key twice.
pub fn check(records: &[ClientRecord], policy: &Policy, many: bool) -> Result<(), LiveError> {
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for (i, r) in records.iter().enumerate() {
        let at = if many {
            format!("clients[{i}]")
        } else {
            String::new()
        };
        if digest_of_hex(&r.api_key_sha256).is_none() {
            errors.push(invalid(
                &at,
                "api_key_sha256",
                "must be 64 lowercase hex digits",
            ));
        } else if !seen.insert(r.api_key_sha256.as_str()) {
            errors.push(invalid(&at, "api_key", "this API key is listed twice"));
        }
        if !policy.tiers.iter().any(|t| **t == *r.tier) {
            let tiers: Vec<&str> = policy.tiers.iter().map(|t| &**t).collect();
            errors.push(invalid(
                &at,
                "tier",
                format!("unknown tier `{}` (tiers: {})", r.tier, tiers.join(", ")),
            ));
        }
        if r.name.as_ref().is_some_and(|n| n.len() > MAX_NAME) {
            errors.push(invalid(&at, "name", format!("at most {MAX_NAME} bytes")));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(LiveError::Invalid(errors))
    }
}

pub(crate) fn fingerprint_hex(hex: &str) -> String {
    digest_of_hex(hex).map_or_else(|| hex.chars().take(16).collect(), |d| fingerprint_of(&d))
}
