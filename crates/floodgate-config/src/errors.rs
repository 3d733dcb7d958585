//! What a 429 says beyond its default: `errors:` at the top of the policy
//! (a stable `code` and `details` with `details: true`, documentation and
//! upgrade URLs, a message template), per tier (`errors.tiers.<tier>`) and
//! per rule (a rule's `error:`), the rule's winning over the tier's over
//! the policy's, field by field.

use std::collections::BTreeMap;
use std::sync::Arc;

use floodgate_core::policy::{ErrorSettings, ErrorText};
use serde::{Deserialize, Serialize};

use crate::error::{join, ConfigError, Source};
use crate::locate::Seg;

/// The longest URL and message.
const MAX_URL: usize = 2048;
const MAX_MESSAGE: usize = 1024;

/// A 429's documentation and upgrade URLs and message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorTextDocument {
    /// Where the limits are explained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documentation_url: Option<String>,
    /// Where a client gets a larger plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_url: Option<String>,
    /// The message, with `{placeholders}` (see [`PLACEHOLDERS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `errors:`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorsDocument {
    /// Add `code`, `details`, `tier`, `rule` and `limit` to every 429.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub details: bool,
    /// Where the limits are explained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documentation_url: Option<String>,
    /// Where a client gets a larger plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_url: Option<String>,
    /// The message, with `{placeholders}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Per tier.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::unique::unique_map"
    )]
    pub tiers: BTreeMap<String, ErrorTextDocument>,
}

impl ErrorTextDocument {
    /// Checked, as the model holds it; mistakes located under `at`.
    pub fn to_text(&self, src: &Source, at: &[Seg]) -> Result<ErrorText, ConfigError> {
        text(
            src,
            at,
            &self.documentation_url,
            &self.upgrade_url,
            &self.message,
        )
    }
}

impl ErrorsDocument {
    /// Checked against the policy's `tiers`.
    pub fn to_settings(
        &self,
        src: &Source,
        tiers: &[Arc<str>],
    ) -> Result<ErrorSettings, ConfigError> {
        let at = [Seg::from("errors")];
        let base = text(
            src,
            &at,
            &self.documentation_url,
            &self.upgrade_url,
            &self.message,
        )?;
        let mut by_tier = std::collections::HashMap::new();
        for (name, t) in &self.tiers {
            let here = join(&at, &["tiers".into(), name.as_str().into()]);
            let Some(tier) = tiers.iter().find(|x| ***x == **name) else {
                return Err(src.error(&here, format!("unknown tier `{name}`")));
            };
            by_tier.insert(tier.clone(), t.to_text(src, &here)?);
        }
        Ok(ErrorSettings {
            details: self.details,
            base,
            tiers: by_tier,
        })
    }
}

fn text(
    src: &Source,
    at: &[Seg],
    documentation_url: &Option<String>,
    upgrade_url: &Option<String>,
    message: &Option<String>,
) -> Result<ErrorText, ConfigError> {
    let url = |field: &str, v: &Option<String>| -> Result<Option<Arc<str>>, ConfigError> {
        let Some(u) = v else { return Ok(None) };
        let ok = (u.starts_with("https://") || u.starts_with("http://"))
            && u.len() <= MAX_URL
            && !u.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            return Err(src.error(
                &join(at, &[field.into()]),
                format!("`{u}` is not an http(s) URL of at most {MAX_URL} bytes without spaces"),
            ));
        }
        Ok(Some(Arc::from(u.as_str())))
    };
    let message = match message {
        None => None,
        Some(m) => {
            if m.len() > MAX_MESSAGE {
                return Err(src.error(
                    &join(at, &["message".into()]),
                    format!("at most {MAX_MESSAGE} bytes"),
                ));
            }
            if let Err(e) = floodgate_core::policy::check_template(m) {
                return Err(src.error(&join(at, &["message".into()]), e));
            }
            Some(Arc::from(m.as_str()))
        }
    };
    Ok(ErrorText {
        documentation_url: url("documentation_url", documentation_url)?,
        upgrade_url: url("upgrade_url", upgrade_url)?,
        message,
    })
}

#[cfg(test)]
mod tests {
    use crate::error::Source;

    fn check(yaml: &str) -> Result<floodgate_core::Policy, String> {
        let doc: crate::PolicyDocument = serde_yaml_ng::from_str(yaml).unwrap();
        doc.validate_all(&Source {
            name: "p",
            text: yaml,
        })
        .map_err(|e| e[0].to_string())
    }

    #[test]
    fn error_settings_are_checked_and_merged() {
        let p = check("tiers: [free]\nerrors:\n  details: true\n  documentation_url: https://docs.example.com/limits\n  tiers:\n    free: { upgrade_url: https://example.com/upgrade, message: \"Free: {limit} per {window}\" }\nrules:\n  - name: api\n    error: { message: \"API: retry in {retry_after}s\" }\n    limits: [{ algorithm: fixed_window, limit: 5, window: 1h }]\n").unwrap();
        let d = p.denial_text("api", Some("free"));
        assert!(d.details);
        assert_eq!(
            d.text.message.as_deref(),
            Some("API: retry in {retry_after}s")
        );
        assert_eq!(
            d.text.upgrade_url.as_deref(),
            Some("https://example.com/upgrade")
        );
        assert_eq!(
            d.text.documentation_url.as_deref(),
            Some("https://docs.example.com/limits")
        );
        let e = check("errors: { upgrade_url: ftp://x }\n").unwrap_err();
        assert!(e.contains("errors.upgrade_url"), "{e}");
        let e = check("errors: { message: \"{nope}\" }\n").unwrap_err();
        assert!(e.contains("unknown placeholder"), "{e}");
        let e = check("tiers: [free]\nerrors: { tiers: { gold: {} } }\n").unwrap_err();
        assert!(e.contains("unknown tier `gold`"), "{e}");
    }
}
