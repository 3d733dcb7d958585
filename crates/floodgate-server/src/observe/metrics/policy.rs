//! The live policy's metrics, read when scraped (so they follow reloads
//! and admin changes at once): the size of every configured limit and the
//! policy's version.

use floodgate_core::Policy;

use super::primitives::{header, sample, single};

/// Writes `floodgate_limit` for every limit of every rule (and of its
/// tiers) and of the global limits; overrides for one identity are left
/// out, as identities are never labels.
pub fn render_limits(out: &mut String, policy: &Policy) {
    let mut rows: Vec<(&str, &str, &str, u64)> = Vec::new();
    for l in &policy.global {
        rows.push(("global", "", &*l.name, l.quota.limit()));
    }
    for r in &policy.rules {
        for l in &r.limits {
            rows.push((&*r.name, "", &*l.name, l.quota.limit()));
        }
        for (tier, limits) in &r.tiers {
            for l in limits {
                rows.push((&*r.name, &**tier, &*l.name, l.quota.limit()));
            }
        }
    }
    rows.sort_unstable();
    header(
        out,
        "floodgate_limit",
        "Configured size of each limit (capacity, burst or requests per window), by rule, tier (empty: the rule's own limits) and limit.",
        "gauge",
    );
    for (rule, tier, limit, size) in rows {
        sample(
            out,
            "floodgate_limit",
            &[("rule", rule), ("tier", tier), ("limit", limit)],
            size,
        );
    }
}

/// Writes `floodgate_policy_version`.
pub fn render_version(out: &mut String, version: u64) {
    single(
        out,
        "floodgate_policy_version",
        "Version of the live policy (raised by every committed change).",
        "gauge",
        version,
    );
}
