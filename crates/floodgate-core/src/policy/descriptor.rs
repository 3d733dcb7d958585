//! Descriptor rules: the requests Envoy's rate limit service API asks
//! about (a domain and descriptors, each a list of `key=value` entries),
//! which rules they match (the most specific, as in the reference
//! service), and the checks they lead to.
//!
//! A rule with a descriptor matcher never matches an HTTP request, and a
//! rule with a path matcher never matches a descriptor.

use std::fmt::Write as _;
use std::sync::Arc;

use super::identity::push_escaped_char;
use super::model::{KeyPart, Policy, Rule};
pub use super::pattern::{DescriptorMatch, EntryPattern, ValuePattern};
use super::plan::Group;
use crate::time::Timestamp;

/// One descriptor of a request: its entries and its cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor<'a> {
    /// `(key, value)` entries, in order.
    pub entries: Vec<(&'a str, &'a str)>,
    /// What it costs (`hits_addend`).
    pub cost: u64,
}

/// The planned checks of one descriptor request: all enforced limits of
/// every descriptor in one group (decided together), each shadow rule in
/// a group of its own; each check knows its descriptor.
#[derive(Clone, Debug, Default)]
pub struct DescriptorPlan {
    /// Enforced limits, decided together.
    pub enforced: Group,
    /// The descriptor of each enforced check.
    pub enforced_of: Vec<usize>,
    /// Shadow rules, each decided on its own, with its descriptor.
    pub shadow: Vec<(Group, usize)>,
}

/// The largest number of entries in one descriptor.
pub const MAX_ENTRIES: usize = 16;
/// The largest key or value of an entry, in bytes.
pub const MAX_ENTRY_LEN: usize = 1024;

/// Escapes what would make two descriptor identities ambiguous: what
/// every identity part escapes, and the separators of entries.
fn push_escaped(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '=' => out.push_str("%3D"),
            ',' => out.push_str("%2C"),
            c => push_escaped_char(out, c),
        }
    }
}

impl Policy {
    /// The rules that apply to `entries` of `domain`: at each entry, the
    /// most specific pattern among the rules still in the running wins
    /// (exact value, then the longest prefix, then any value) and the
    /// others drop out, as the reference service walks its tree; the rules
    /// left whose patterns are exactly as many as the entries apply. Rules
    /// with the same patterns all apply.
    pub fn descriptor_rules(&self, domain: &str, entries: &[(&str, &str)]) -> Vec<&Rule> {
        let mut running: Vec<(&Rule, &DescriptorMatch)> = self
            .rules
            .iter()
            .filter_map(|r| r.matcher.descriptor.as_ref().map(|d| (r, d)))
            .filter(|(_, d)| &*d.domain == domain && d.entries.len() >= entries.len())
            .collect();
        for (i, (key, value)) in entries.iter().enumerate() {
            // On a tie of two patterns, the first rule's wins.
            let mut best: Option<(usize, &EntryPattern)> = None;
            for (_, d) in running.iter().filter(|(_, d)| d.entries[i].key == *key) {
                if let Some(r) = d.entries[i].value.rank(value) {
                    if best.is_none_or(|(b, _)| r > b) {
                        best = Some((r, &d.entries[i]));
                    }
                }
            }
            let Some((_, best)) = best else {
                return Vec::new();
            };
            let best = best.clone();
            running.retain(|(_, d)| d.entries[i] == best);
        }
        running
            .into_iter()
            .filter(|(_, d)| d.entries.len() == entries.len())
            .map(|(r, _)| r)
            .collect()
    }

    /// The identity a descriptor rule keyed by `parts` gives `entries`:
    /// `d:key=value,...` for `descriptor`, `g` for `global`.
    pub fn descriptor_identity(parts: &[KeyPart], entries: &[(&str, &str)]) -> Arc<str> {
        Policy::identity_with(parts, entries, None)
    }

    /// The identity `rule` gives `entries`: as [`Policy::descriptor_identity`],
    /// but an entry whose pattern is shared (`share_threshold`) is written
    /// with the pattern instead of its value, so every value it matches
    /// has the same counters.
    pub fn rule_identity(rule: &Rule, entries: &[(&str, &str)]) -> Arc<str> {
        Policy::identity_with(&rule.key, entries, rule.matcher.descriptor.as_ref())
    }

    fn identity_with(
        parts: &[KeyPart],
        entries: &[(&str, &str)],
        shared: Option<&DescriptorMatch>,
    ) -> Arc<str> {
        let mut out = String::with_capacity(48);
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                out.push('|');
            }
            match p {
                KeyPart::Descriptor => {
                    out.push_str("d:");
                    for (j, (k, v)) in entries.iter().enumerate() {
                        if j > 0 {
                            out.push(',');
                        }
                        push_escaped(&mut out, k);
                        out.push('=');
                        match shared.and_then(|m| m.entries.get(j)).filter(|p| p.shared) {
                            Some(p) => push_escaped(&mut out, &p.value.to_string()),
                            None => push_escaped(&mut out, v),
                        }
                    }
                }
                KeyPart::Global => out.push('g'),
                // Validation allows no other part on a descriptor rule.
                other => {
                    let _ = write!(out, "{other}");
                }
            }
        }
        Arc::from(out)
    }

    /// Which limits apply to `descriptors` of `domain` at `now`, under
    /// which keys.
    pub fn plan_descriptors(
        &self,
        domain: &str,
        descriptors: &[Descriptor<'_>],
        now: Timestamp,
    ) -> DescriptorPlan {
        let mut plan = DescriptorPlan::default();
        let matched: Vec<Vec<&Rule>> = descriptors
            .iter()
            .map(|d| self.descriptor_rules(domain, &d.entries))
            .collect();
        // A rule another applying rule replaces does not apply.
        let replaced: Vec<&str> = matched
            .iter()
            .flatten()
            .flat_map(|r| r.replaces.iter().map(|n| &**n))
            .collect();
        for (i, (d, rules)) in descriptors.iter().zip(matched.iter()).enumerate() {
            for rule in rules {
                if replaced.contains(&&*rule.name) {
                    continue;
                }
                let identity = Policy::rule_identity(rule, &d.entries);
                let limits = match self.override_for(&rule.name, &identity, now) {
                    Some(o) => &o.limits,
                    None => &rule.limits,
                };
                if limits.is_empty() {
                    continue;
                }
                let group = if rule.shadow {
                    plan.shadow.push((Group::default(), i));
                    &mut plan.shadow.last_mut().expect("just pushed").0
                } else {
                    &mut plan.enforced
                };
                for l in limits {
                    group.push(&rule.name, rule.on_store_failure, l, &identity, d.cost);
                    if !rule.shadow {
                        plan.enforced_of.push(i);
                    }
                }
            }
        }
        plan
    }
}
