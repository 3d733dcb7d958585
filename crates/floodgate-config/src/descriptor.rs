//! Validation of a descriptor rule's matcher (`match.domain` and
//! `match.descriptors`) and of the keys such a rule may have.

use std::sync::Arc;

use floodgate_core::policy::descriptor::{MAX_ENTRIES, MAX_ENTRY_LEN};
use floodgate_core::policy::{check_name, DescriptorMatch, EntryPattern, KeyPart, ValuePattern};

use crate::document::RuleDocument;
use crate::error::{join, ConfigError, Source};
use crate::locate::Seg;

/// The descriptor matcher of rule `r` at `at`, `None` for an HTTP rule.
pub(crate) fn descriptor_match(
    src: &Source,
    at: &[Seg],
    r: &RuleDocument,
) -> Result<Option<DescriptorMatch>, ConfigError> {
    let m = &r.matcher;
    let field = |f: &str| join(at, &["match".into(), f.into()]);
    let Some(domain) = &m.domain else {
        if !m.descriptors.is_empty() {
            return Err(src.error(
                &field("descriptors"),
                "descriptors need a `domain` beside them",
            ));
        }
        return Ok(None);
    };
    if m.path.is_some() || !m.methods.is_empty() {
        let f = if m.path.is_some() { "path" } else { "methods" };
        return Err(src.error(
            &field(f),
            "a rule matches HTTP requests (path, methods) or descriptors (domain, descriptors), not both",
        ));
    }
    if domain.is_empty() || domain.len() > MAX_ENTRY_LEN {
        return Err(src.error(
            &field("domain"),
            format!("a domain has 1 to {MAX_ENTRY_LEN} bytes"),
        ));
    }
    if m.descriptors.is_empty() || m.descriptors.len() > MAX_ENTRIES {
        return Err(src.error(
            &field("descriptors"),
            format!("a descriptor rule has 1 to {MAX_ENTRIES} entries"),
        ));
    }
    let mut entries = Vec::with_capacity(m.descriptors.len());
    for (j, e) in m.descriptors.iter().enumerate() {
        let eat = join(at, &["match".into(), "descriptors".into(), j.into()]);
        if e.key.is_empty() || e.key.len() > MAX_ENTRY_LEN {
            return Err(src.error(
                &join(&eat, &["key".into()]),
                format!("an entry key has 1 to {MAX_ENTRY_LEN} bytes"),
            ));
        }
        if let Some(v) = &e.value {
            if v.is_empty() || v.len() > MAX_ENTRY_LEN {
                return Err(src.error(
                    &join(&eat, &["value".into()]),
                    format!(
                        "an entry value has 1 to {MAX_ENTRY_LEN} bytes (each `*` matches any run of characters); leave it out for any value"
                    ),
                ));
            }
        }
        let value = ValuePattern::parse(e.value.as_deref());
        if e.share_threshold && !value.is_wildcard() {
            return Err(src.error(
                &join(&eat, &["share_threshold".into()]),
                "share_threshold needs a value with `*` (a wildcard) beside it",
            ));
        }
        entries.push(EntryPattern {
            key: e.key.clone(),
            value,
            shared: e.share_threshold,
        });
    }
    if !r.tiers.is_empty() {
        return Err(src.error(
            &join(at, &["tiers".into()]),
            "a descriptor rule has no tiers: no client tier is known for a descriptor",
        ));
    }
    Ok(Some(DescriptorMatch {
        domain: Arc::from(domain.as_str()),
        entries,
    }))
}

/// Checks that `key` fits the rule's kind: `descriptor` only on
/// descriptor rules; on those, only `descriptor` and `global`.
pub(crate) fn check_key(
    src: &Source,
    at: &[Seg],
    descriptor_rule: bool,
    key: &[KeyPart],
) -> Result<(), ConfigError> {
    for p in key {
        let fits = match p {
            KeyPart::Descriptor => descriptor_rule,
            KeyPart::Global => true,
            _ => !descriptor_rule,
        };
        if !fits {
            let msg = if descriptor_rule {
                format!("key `{p}` does not apply to a descriptor rule: use descriptor or global")
            } else {
                "key `descriptor` applies only to descriptor rules (match.domain)".to_string()
            };
            return Err(src.error(&join(at, &["key".into()]), msg));
        }
    }
    Ok(())
}

/// Checks `unlimited` and `replaces` (descriptor rules only; an
/// unlimited rule has no limits) and gives the names replaced.
pub(crate) fn descriptor_extras(
    src: &Source,
    at: &[Seg],
    descriptor_rule: bool,
    r: &RuleDocument,
) -> Result<Vec<Arc<str>>, ConfigError> {
    for (field, set) in [
        ("unlimited", r.unlimited),
        ("replaces", !r.replaces.is_empty()),
    ] {
        if set && !descriptor_rule {
            return Err(src.error(
                &join(at, &[field.into()]),
                format!("`{field}` applies only to descriptor rules (match.domain)"),
            ));
        }
    }
    if r.unlimited && !r.limits.is_empty() {
        return Err(src.error(
            &join(at, &["limits".into()]),
            "an unlimited rule has no limits",
        ));
    }
    let mut names = Vec::with_capacity(r.replaces.len());
    for (j, n) in r.replaces.iter().enumerate() {
        check_name(n).map_err(|m| src.error(&join(at, &["replaces".into(), j.into()]), m))?;
        names.push(Arc::from(n.as_str()));
    }
    Ok(names)
}
