//! How a limit's decisions are kept in step across replicas (`sync`):
//! `exact` (every decision on the store, the default) or `leased` (each
//! replica decides from slices of the quota it leases from the store), as
//! a word or as a map with the lease's terms.
//!
//! ```yaml
//! sync: leased
//! sync: { mode: leased, lease: 500ms, max_share: 25% }
//! ```

use std::fmt;
use std::time::Duration;

use floodgate_core::algorithm::slice::{leasable, SHARE_UNIT};
use floodgate_core::store::SliceTerms;
use floodgate_core::Quota;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{join, ConfigError, Source};
use crate::locate::Seg;
use crate::units::DurationField;

/// `sync` as written: a mode, or a mode with terms.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SyncDocument {
    /// `exact` or `leased`.
    pub mode: String,
    /// How long a replica decides from one slice (leased; default 1s, 10ms
    /// to 60s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<DurationField>,
    /// The largest part of what a key has left one slice takes (leased;
    /// default 10%, 0.1% to 100%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_share: Option<String>,
}

/// `sync` as a word (`leased`) or a map.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncField(pub SyncDocument);

impl Serialize for SyncField {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.lease.is_none() && self.0.max_share.is_none() {
            s.serialize_str(&self.0.mode)
        } else {
            self.0.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for SyncField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SyncField;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`exact`, `leased`, or a map with `mode`, `lease` and `max_share`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SyncField, E> {
                Ok(SyncField(SyncDocument {
                    mode: v.to_string(),
                    ..SyncDocument::default()
                }))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SyncField, A::Error> {
                SyncDocument::deserialize(de::value::MapAccessDeserializer::new(map)).map(SyncField)
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses `25%` or `12.5%` (0.1% to 100%) into millionths.
pub(crate) fn parse_percent(text: &str) -> Option<u32> {
    let number = text.trim().strip_suffix('%')?.trim();
    let (whole, tenth) = match number.split_once('.') {
        Some((w, t)) if t.len() == 1 => (w, t),
        Some(_) => return None,
        None => (number, "0"),
    };
    if whole.is_empty() || whole.len() > 3 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let permille = whole.parse::<u32>().ok()? * 10 + tenth.parse::<u32>().ok()?;
    (1..=1000)
        .contains(&permille)
        .then_some(permille * (SHARE_UNIT / 1000))
}

/// The terms of `field` for a limit of `quota` (`None`: exact), or where
/// and why it is wrong; `at` is the path of the `sync` field.
pub(crate) fn terms(
    src: &Source,
    at: &[Seg],
    field: Option<&SyncField>,
    quota: &Quota,
) -> Result<Option<SliceTerms>, ConfigError> {
    let Some(SyncField(doc)) = field else {
        return Ok(None);
    };
    let here = |f: &str| join(at, &[f.into()]);
    match doc.mode.as_str() {
        "exact" => {
            if doc.lease.is_some() || doc.max_share.is_some() {
                return Err(src.error(at, "`lease` and `max_share` apply to `mode: leased` only"));
            }
            return Ok(None);
        }
        "leased" => {}
        other => {
            return Err(src.error(
                &here("mode"),
                format!("unknown sync mode `{other}`, expected `exact` or `leased`"),
            ))
        }
    }
    if !leasable(quota) {
        return Err(src.error(
            at,
            "`sync: leased` applies to rate limits: a concurrency limit's slots and a shaping leaky bucket's queue are always decided on the store",
        ));
    }
    let mut terms = SliceTerms::default_terms();
    if let Some(DurationField(lease)) = doc.lease {
        if !(SliceTerms::MIN_LEASE..=SliceTerms::MAX_LEASE).contains(&lease) {
            return Err(src.error(
                &here("lease"),
                format!(
                    "a lease lasts from {} to {}",
                    show(SliceTerms::MIN_LEASE),
                    show(SliceTerms::MAX_LEASE)
                ),
            ));
        }
        terms.lease_us = lease.as_micros() as u64;
    }
    if let Some(s) = &doc.max_share {
        terms.share_ppm = parse_percent(s).ok_or_else(|| {
            src.error(
                &here("max_share"),
                format!("`{s}` is not a share: write a percentage from 0.1% to 100%, e.g. 10%"),
            )
        })?;
    }
    Ok(Some(terms))
}

fn show(d: Duration) -> String {
    if d.as_millis() < 1000 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs())
    }
}

/// How `terms` read in `check-config`: `exact`, or `leased (lease 1s,
/// max share 10%)`.
pub fn describe(terms: Option<SliceTerms>) -> String {
    match terms {
        None => "exact".to_string(),
        Some(t) => {
            let permille = t.share_ppm / (SHARE_UNIT / 1000);
            let share = match permille % 10 {
                0 => format!("{}%", permille / 10),
                d => format!("{}.{d}%", permille / 10),
            };
            format!(
                "leased (lease {}, max share {share})",
                show(Duration::from_micros(t.lease_us))
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_parse_from_a_tenth_of_a_percent_to_all() {
        assert_eq!(parse_percent("10%"), Some(100_000));
        assert_eq!(parse_percent("0.1%"), Some(1_000));
        assert_eq!(parse_percent("100%"), Some(1_000_000));
        for bad in ["0%", "100.1%", "10", "1.25%", "-5%", "x%"] {
            assert_eq!(parse_percent(bad), None, "{bad}");
        }
    }

    #[test]
    fn terms_read_back_as_written() {
        assert_eq!(describe(None), "exact");
        let t = SliceTerms {
            lease_us: 500_000,
            share_ppm: 125_000,
        };
        assert_eq!(describe(Some(t)), "leased (lease 500ms, max share 12.5%)");
    }
}
