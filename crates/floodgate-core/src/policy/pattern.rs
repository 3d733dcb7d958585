//! Descriptor patterns: which descriptors (Envoy's rate limit service
//! API) a rule matches, as the policy holds them.

use std::sync::Arc;

/// Which descriptors a rule matches: its domain and one pattern per entry,
/// in order. A descriptor matches only with as many entries as patterns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescriptorMatch {
    /// The domain (Envoy's `domain` of the rate limit filter).
    pub domain: Arc<str>,
    /// One pattern per entry.
    pub entries: Vec<EntryPattern>,
}

/// A pattern for one descriptor entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryPattern {
    /// The entry's key, exactly.
    pub key: String,
    /// Which values.
    pub value: ValuePattern,
}

/// Which values of an entry match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValuePattern {
    /// Any value (a value-less entry of the reference service: each
    /// distinct value gets its own counters under key `descriptor`).
    Any,
    /// Exactly this value.
    Exact(String),
    /// Values starting with this (written with a trailing `*`).
    Prefix(String),
}

impl ValuePattern {
    /// Parses a value as written: absent is any value, a trailing `*`
    /// makes a prefix, anything else is exact.
    pub fn parse(value: Option<&str>) -> ValuePattern {
        match value {
            None => ValuePattern::Any,
            Some(v) => match v.strip_suffix('*') {
                Some(p) => ValuePattern::Prefix(p.to_string()),
                None => ValuePattern::Exact(v.to_string()),
            },
        }
    }

    /// How specific a match of `value` is, or `None` when it does not
    /// match: exact beats a longer prefix beats a shorter one beats any.
    pub(crate) fn rank(&self, value: &str) -> Option<usize> {
        match self {
            ValuePattern::Any => Some(0),
            ValuePattern::Prefix(p) => value.starts_with(p.as_str()).then_some(1 + p.len()),
            ValuePattern::Exact(v) => (v == value).then_some(usize::MAX),
        }
    }
}

impl std::fmt::Display for ValuePattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ValuePattern::Any => f.write_str("*any*"),
            ValuePattern::Exact(v) => f.write_str(v),
            ValuePattern::Prefix(p) => write!(f, "{p}*"),
        }
    }
}
