//! `overrides:` validated: each names a rule and an identity, with limits
//! and an expiry.

use std::sync::Arc;

use floodgate_core::policy::{Override, Overrides, Rule};
use floodgate_core::Timestamp;

use crate::document::OverrideDocument;
use crate::error::{join, ConfigError, Source};
use crate::limit::{limits, Scope};
use crate::locate::Seg;

/// The longest identity an override may name.
pub const MAX_IDENTITY_LEN: usize = 512;

/// Overrides, by rule and identity.
pub(crate) fn overrides(
    src: &Source,
    list: &[OverrideDocument],
    rules: &[Rule],
    errors: &mut Vec<ConfigError>,
) -> Overrides {
    let mut out = Overrides::new();
    for (i, o) in list.iter().enumerate() {
        if let Err(e) = one_override(src, i, o, rules, &mut out) {
            errors.push(e);
        }
    }
    out
}

fn one_override(
    src: &Source,
    i: usize,
    o: &OverrideDocument,
    rules: &[Rule],
    out: &mut Overrides,
) -> Result<(), ConfigError> {
    {
        let at: Vec<Seg> = vec!["overrides".into(), i.into()];
        let Some(rule) = rules.iter().find(|r| *r.name == *o.rule) else {
            return Err(src.error(
                &join(&at, &["rule".into()]),
                format!("no rule is named `{}`", o.rule),
            ));
        };
        if o.identity.is_empty() || o.identity.len() > MAX_IDENTITY_LEN {
            return Err(src.error(
                &join(&at, &["identity".into()]),
                format!("an identity has 1 to {MAX_IDENTITY_LEN} bytes"),
            ));
        }
        if o.limits.is_empty() {
            return Err(src.error(&join(&at, &["limits".into()]), "an override needs limits"));
        }
        let limits = limits(
            src,
            &join(&at, &["limits".into()]),
            &rule.name,
            Scope::Override,
            &o.limits,
            crate::limit::Inherit::default(),
        )?;
        let expires_at = match o.expires_at {
            Some(s) if s > MAX_EXPIRY_SECS => {
                return Err(src.error(
                    &join(&at, &["expires_at".into()]),
                    "not a Unix time in seconds",
                ))
            }
            s => s.map(|s| Timestamp::from_micros(s * 1_000_000)),
        };
        let by_identity = out.entry(rule.name.clone()).or_default();
        if by_identity
            .insert(
                Arc::from(o.identity.as_str()),
                Override { limits, expires_at },
            )
            .is_some()
        {
            return Err(src.error(
                &join(&at, &["identity".into()]),
                format!("a second override of `{}` for `{}`", o.rule, o.identity),
            ));
        }
    }
    Ok(())
}

/// The latest expiry an override may have (the year 9999).
const MAX_EXPIRY_SECS: u64 = 253_402_300_799;
