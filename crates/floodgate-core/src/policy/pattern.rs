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
    /// Every value the (wildcard) pattern matches counts as the pattern
    /// itself in the rule's identity, so they share one counter (the
    /// reference service's `share_threshold`).
    pub shared: bool,
}

/// Which values of an entry match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValuePattern {
    /// Any value (a value-less entry of the reference service: each
    /// distinct value gets its own counters under key `descriptor`).
    Any,
    /// Exactly this value.
    Exact(String),
    /// Values starting with this (written with a single, trailing `*`).
    Prefix(String),
    /// Values matching a pattern with a `*` elsewhere or more than one:
    /// each `*` matches any run of characters, the empty one too.
    Glob(Glob),
}

/// A wildcard pattern, split on its `*`s once when the policy is built:
/// `parts` holds at least two literal pieces (the first and last may be
/// empty), and a match needs no allocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glob {
    text: String,
    parts: Vec<String>,
    fixed: usize,
}

impl Glob {
    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `value` matches: it starts with the first piece, ends with
    /// the last, and holds the pieces between in order, none overlapping.
    pub fn matches(&self, value: &str) -> bool {
        let (first, rest) = self.parts.split_first().expect("two parts at least");
        let (last, middle) = rest.split_last().expect("two parts at least");
        if value.len() < self.fixed || !value.starts_with(first.as_str()) {
            return false;
        }
        if !value.ends_with(last.as_str()) {
            return false;
        }
        let mut left = &value[first.len()..value.len() - last.len()];
        for p in middle {
            match left.find(p.as_str()) {
                Some(i) => left = &left[i + p.len()..],
                None => return false,
            }
        }
        true
    }
}

impl ValuePattern {
    /// Parses a value as written: absent is any value, a single trailing
    /// `*` makes a prefix, any other `*` a wildcard pattern, anything else
    /// is exact.
    pub fn parse(value: Option<&str>) -> ValuePattern {
        let Some(v) = value else {
            return ValuePattern::Any;
        };
        match v.strip_suffix('*') {
            None if !v.contains('*') => ValuePattern::Exact(v.to_string()),
            Some(p) if !p.contains('*') => ValuePattern::Prefix(p.to_string()),
            _ => {
                let parts: Vec<String> = v.split('*').map(str::to_string).collect();
                let fixed = parts.iter().map(String::len).sum();
                ValuePattern::Glob(Glob {
                    text: v.to_string(),
                    parts,
                    fixed,
                })
            }
        }
    }

    /// How specific a match of `value` is, or `None` when it does not
    /// match: exact beats a wildcard pattern with more literal bytes
    /// (a prefix's are its length) beats one with fewer beats any.
    pub(crate) fn rank(&self, value: &str) -> Option<usize> {
        match self {
            ValuePattern::Any => Some(0),
            ValuePattern::Prefix(p) => value.starts_with(p.as_str()).then_some(1 + p.len()),
            ValuePattern::Glob(g) => g.matches(value).then_some(1 + g.fixed),
            ValuePattern::Exact(v) => (v == value).then_some(usize::MAX),
        }
    }

    /// Whether the pattern has a `*` (a prefix or a wildcard pattern).
    pub fn is_wildcard(&self) -> bool {
        matches!(self, ValuePattern::Prefix(_) | ValuePattern::Glob(_))
    }
}

impl std::fmt::Display for ValuePattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ValuePattern::Any => f.write_str("*any*"),
            ValuePattern::Exact(v) => f.write_str(v),
            ValuePattern::Prefix(p) => write!(f, "{p}*"),
            ValuePattern::Glob(g) => f.write_str(&g.text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, v: &str) -> bool {
        ValuePattern::parse(Some(p)).rank(v).is_some()
    }

    #[test]
    fn a_star_anywhere_matches_any_run() {
        assert!(matches!(
            ValuePattern::parse(Some("a*")),
            ValuePattern::Prefix(_)
        ));
        assert!(m("bar*b", "barb") && m("bar*b", "bar-xyz-b"));
        assert!(!m("bar*b", "bar") && !m("bar*b", "barbx") && !m("bar*b", "xbarb"));
        assert!(m("foo*bar*baz", "foobarbaz") && m("foo*bar*baz", "foo1bar2baz"));
        assert!(!m("foo*bar*baz", "foobaz") && !m("foo*bar*baz", "foobazbar"));
        // Pieces do not overlap: `aba` needs `ab` then `a` after it.
        assert!(!m("ab*ba", "aba") && m("ab*ba", "abba"));
        assert!(m("*b", "b") && m("*b", "ab") && !m("*b", "ba"));
        assert!(m("*", "") && m("**", "x") && m("a**", "a"));
        assert!(m("/api/*/resource/*/action", "/api/v1/resource/123/action"));
        assert!(!m("/api/*/action", "/api/123/other"));
    }

    #[test]
    fn more_literal_bytes_rank_higher() {
        let r = |p: &str, v: &str| ValuePattern::parse(Some(p)).rank(v).unwrap();
        assert!(r("foo*bar*baz", "foo1bar2baz") > r("foo*", "foo1bar2baz"));
        assert!(r("foo*baz", "foo1baz") > r("foo1*", "foo1baz"));
        assert_eq!(r("foo1baz", "foo1baz"), usize::MAX);
        assert_eq!(ValuePattern::parse(None).rank("x"), Some(0));
        assert_eq!(ValuePattern::parse(Some("a*b*")).to_string(), "a*b*");
    }
}
