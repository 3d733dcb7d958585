//! What a 429 says beyond its default: a policy's error settings, a rule's
//! and a tier's URLs and message, merged for one denial (the rule's over
//! the tier's over the policy's, field by field), and the message template.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

/// Documentation and upgrade URLs and a message template.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorText {
    /// Where the limits are explained.
    pub documentation_url: Option<Arc<str>>,
    /// Where a client gets a larger plan.
    pub upgrade_url: Option<Arc<str>>,
    /// The message, with `{placeholders}`.
    pub message: Option<Arc<str>>,
}

impl ErrorText {
    /// `self`'s fields, each else `other`'s.
    pub fn or(&self, other: &ErrorText) -> ErrorText {
        ErrorText {
            documentation_url: self
                .documentation_url
                .clone()
                .or_else(|| other.documentation_url.clone()),
            upgrade_url: self
                .upgrade_url
                .clone()
                .or_else(|| other.upgrade_url.clone()),
            message: self.message.clone().or_else(|| other.message.clone()),
        }
    }

    /// Whether it says nothing.
    pub fn is_empty(&self) -> bool {
        self.documentation_url.is_none() && self.upgrade_url.is_none() && self.message.is_none()
    }
}

/// The policy's error settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorSettings {
    /// Add `code`, `details`, `tier`, `rule` and `limit` to every 429.
    pub details: bool,
    /// The policy's own.
    pub base: ErrorText,
    /// Per tier.
    pub tiers: HashMap<Arc<str>, ErrorText>,
}

/// What one denial's body says beyond its default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DenialText {
    /// Add `code`, `details`, `tier`, `rule` and `limit`.
    pub details: bool,
    /// The merged text.
    pub text: ErrorText,
}

/// The placeholders a message may hold.
pub const PLACEHOLDERS: &[&str] = &[
    "limit",
    "remaining",
    "retry_after",
    "reset_at",
    "window",
    "tier",
    "rule",
    "limit_name",
];

/// Checks a template: braces closed, placeholders known (`{{` and `}}` are
/// a brace).
pub fn check_template(t: &str) -> Result<(), String> {
    render(t, |_| Some(String::new())).map(|_| ())
}

/// `t` with each `{name}` replaced by `value(name)`; `None` from `value`
/// is an unknown placeholder.
pub fn render(t: &str, value: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(t.len() + 16);
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => name.push(c),
                        None => return Err("a `{` is not closed (write `{{` for a brace)".into()),
                    }
                }
                if !PLACEHOLDERS.contains(&name.as_str()) {
                    return Err(format!(
                        "unknown placeholder `{{{name}}}` (known: {})",
                        PLACEHOLDERS.join(", ")
                    ));
                }
                match value(&name) {
                    Some(v) => out.push_str(&v),
                    None => {
                        let _ = write!(out, "{{{name}}}");
                    }
                }
            }
            '}' => return Err("a `}` is not opened (write `}}` for a brace)".into()),
            c => out.push(c),
        }
    }
    Ok(out)
}

impl super::Policy {
    /// What a denial by `rule` for `tier` says beyond the default body.
    pub fn denial_text(&self, rule: &str, tier: Option<&str>) -> DenialText {
        let rule_text = self
            .rules
            .iter()
            .find(|r| *r.name == *rule)
            .map(|r| r.error.clone())
            .unwrap_or_default();
        let tier_text = tier
            .and_then(|t| self.errors.tiers.get(t))
            .cloned()
            .unwrap_or_default();
        DenialText {
            details: self.errors.details,
            text: rule_text.or(&tier_text).or(&self.errors.base),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_known_placeholders_and_braces() {
        let v = |n: &str| Some(format!("<{n}>"));
        assert_eq!(
            render("Only {limit} per {window}. {{ok}}", v).unwrap(),
            "Only <limit> per <window>. {ok}"
        );
        assert!(render("{nope}", v)
            .unwrap_err()
            .contains("unknown placeholder `{nope}`"));
        assert!(render("{limit", v).is_err());
        assert!(render("limit}", v).is_err());
        assert!(check_template("Retry in {retry_after}s").is_ok());
    }

    #[test]
    fn the_rule_s_text_wins_over_the_tier_s_over_the_policy_s() {
        let t = |d: Option<&str>, u: Option<&str>, m: Option<&str>| ErrorText {
            documentation_url: d.map(Arc::from),
            upgrade_url: u.map(Arc::from),
            message: m.map(Arc::from),
        };
        let merged = t(None, None, Some("rule"))
            .or(&t(None, Some("tier-up"), Some("tier")))
            .or(&t(Some("docs"), Some("up"), None));
        assert_eq!(merged, t(Some("docs"), Some("tier-up"), Some("rule")));
    }
}
