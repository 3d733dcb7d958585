//! One envoyproxy/ratelimit config file as written, and what each
//! `rate_limit` becomes: the fields the reference service reads, its
//! units, its refusals, and the fields Floodgate accepts with a warning.

use serde::Deserialize;

use crate::document::LimitDocument;
use crate::error::{ConfigError, Source};
use crate::locate::Seg;
use crate::units::DurationField;

/// One file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RefFile {
    pub domain: String,
    #[serde(default)]
    pub descriptors: Vec<RefDescriptor>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RefDescriptor {
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub rate_limit: Option<RefLimit>,
    #[serde(default)]
    pub descriptors: Vec<RefDescriptor>,
    #[serde(default)]
    pub shadow_mode: bool,
    #[serde(default)]
    pub share_threshold: bool,
    #[serde(default)]
    pub quota_mode: bool,
    #[serde(default)]
    pub detailed_metric: bool,
    #[serde(default)]
    pub value_to_metric: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RefLimit {
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub requests_per_unit: Option<u64>,
    #[serde(default)]
    pub unlimited: bool,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub replaces: Vec<RefReplace>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RefReplace {
    pub name: String,
}

/// The reference service's units, in seconds (a month is 30 days, a year
/// 365, as there).
const UNITS: [(&str, u64); 7] = [
    ("second", 1),
    ("minute", 60),
    ("hour", 3_600),
    ("day", 86_400),
    ("week", 604_800),
    ("month", 2_592_000),
    ("year", 31_536_000),
];

fn with(at: &[Seg], f: &str) -> Vec<Seg> {
    at.iter().cloned().chain([f.into()]).collect()
}

/// The fields of descriptor `d` (at `at`) that Floodgate accepts without
/// doing what the reference service does with them, as warnings.
pub(super) fn warnings(src: &Source, d: &RefDescriptor, at: &[Seg]) -> Vec<ConfigError> {
    let mut out = Vec::new();
    if d.quota_mode {
        out.push(src.error(
            &with(at, "quota_mode"),
            "quota_mode is not supported: this limit is enforced as an ordinary one (a call \
             is denied when it is over, even if another quota_mode descriptor of the call is \
             under its limit)",
        ));
    }
    for (f, set) in [
        ("detailed_metric", d.detailed_metric),
        ("value_to_metric", d.value_to_metric),
    ] {
        if set {
            out.push(src.error(
                &with(at, f),
                format!(
                    "{f} is ignored: Floodgate's metrics are by rule \
                     (floodgate_requests_total{{rule}}), never by descriptor value"
                ),
            ));
        }
    }
    out
}

/// Checks what the reference service refuses in `rate_limit` `l` at
/// `lat`: a `unit` beside `unlimited: true`, and `replaces` naming the
/// limit's own `name`.
pub(super) fn check(src: &Source, l: &RefLimit, lat: &[Seg]) -> Result<(), ConfigError> {
    if l.unlimited && l.unit.is_some() {
        return Err(src.error(
            &with(lat, "unit"),
            "an unlimited rate_limit has no `unit` (as in the reference service)",
        ));
    }
    for (j, r) in l.replaces.iter().enumerate() {
        if l.name.as_deref() == Some(r.name.as_str()) {
            let rat: Vec<Seg> = with(lat, "replaces")
                .into_iter()
                .chain([Seg::Index(j), "name".into()])
                .collect();
            return Err(src.error(
                &rat,
                format!("`{}` replaces itself: replaces names other limits", r.name),
            ));
        }
    }
    Ok(())
}

/// The fixed window of a reference `rate_limit`: `requests_per_unit` per
/// `unit` (0: every request is over the limit).
pub(super) fn limit(src: &Source, l: &RefLimit, lat: &[Seg]) -> Result<LimitDocument, ConfigError> {
    let unit = l
        .unit
        .as_deref()
        .ok_or_else(|| src.error(lat, "a rate_limit needs `unit` (or `unlimited: true`)"))?;
    let secs = UNITS
        .iter()
        .find(|(u, _)| u.eq_ignore_ascii_case(unit))
        .map(|(_, s)| *s)
        .ok_or_else(|| {
            src.error(
                &with(lat, "unit"),
                format!("unknown unit `{unit}`: second, minute, hour, day, week, month or year"),
            )
        })?;
    let n = l
        .requests_per_unit
        .ok_or_else(|| src.error(lat, "a rate_limit needs `requests_per_unit`"))?;
    Ok(LimitDocument {
        algorithm: "fixed_window".into(),
        name: Some(unit.to_ascii_lowercase()),
        limit: Some(n),
        window: Some(DurationField(std::time::Duration::from_secs(secs))),
        ..LimitDocument::default()
    })
}
