//! A limit as written into a `Quota`, and a rule's list of limits into
//! `Limit`s with their names and ids.

use std::collections::HashSet;

use floodgate_core::algorithm::slice::leasable;
use floodgate_core::policy::{check_name, Limit};
use floodgate_core::quota::{LeakMode, Quota, DEFAULT_LEASE};

use crate::document::LimitDocument;
use crate::error::{join, ConfigError, Source};
use crate::locate::Seg;

const ALGORITHMS: &str =
    "token_bucket, leaky_bucket, fixed_window, sliding_window_log, sliding_window_counter, gcra, concurrency";

impl LimitDocument {
    /// The quota this limit describes; errors are located under `at`.
    pub fn to_quota(&self, src: &Source, at: &[Seg]) -> Result<Quota, ConfigError> {
        self.check_fields(src, at)?;
        self.build_quota(src, at)
    }

    /// As [`LimitDocument::to_quota`], but a fixed window's `limit` may be
    /// 0, denying every request (envoyproxy/ratelimit's
    /// `requests_per_unit: 0`): for descriptor rules.
    fn to_quota_or_zero(&self, src: &Source, at: &[Seg]) -> Result<Quota, ConfigError> {
        if self.algorithm != "fixed_window" || self.limit != Some(0) {
            return self.to_quota(src, at);
        }
        let one = LimitDocument {
            limit: Some(1),
            ..self.clone()
        };
        match one.to_quota(src, at)? {
            Quota::FixedWindow { window_us, .. } => Ok(Quota::FixedWindow {
                limit: 0,
                window_us,
            }),
            other => Ok(other),
        }
    }

    /// Checks the algorithm is known and every field given applies to it.
    fn check_fields(&self, src: &Source, at: &[Seg]) -> Result<(), ConfigError> {
        let given = |field: &str| -> bool {
            match field {
                "capacity" => self.capacity.is_some(),
                "burst_capacity" => self.burst_capacity.is_some(),
                "refill" => self.refill.is_some(),
                "rate" => self.rate.is_some(),
                "mode" => self.mode.is_some(),
                "limit" => self.limit.is_some(),
                "window" => self.window.is_some(),
                "burst" => self.burst.is_some(),
                "lease" => self.lease.is_some(),
                _ => false,
            }
        };
        let algo = self.algorithm.as_str();
        let fields: &[&str] = match algo {
            "token_bucket" => &["capacity", "refill", "burst_capacity"],
            "leaky_bucket" => &["capacity", "rate", "mode"],
            "fixed_window" | "sliding_window_log" | "sliding_window_counter" => {
                &["limit", "window"]
            }
            "gcra" => &["rate", "burst"],
            "concurrency" => &["limit", "lease"],
            other => {
                return Err(src.error(
                    &join(at, &["algorithm".into()]),
                    format!("unknown algorithm `{other}`, expected one of {ALGORITHMS}"),
                ))
            }
        };
        for f in [
            "capacity",
            "burst_capacity",
            "refill",
            "rate",
            "mode",
            "limit",
            "window",
            "burst",
            "lease",
        ] {
            if given(f) && !fields.contains(&f) {
                return Err(src.error(
                    &join(at, &[f.into()]),
                    format!(
                        "`{f}` does not apply to {algo} (it takes {})",
                        fields.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The quota of an algorithm whose fields were checked.
    fn build_quota(&self, src: &Source, at: &[Seg]) -> Result<Quota, ConfigError> {
        let algo = self.algorithm.as_str();
        let need = |f: &str| src.error(&join(at, &[]), format!("{algo} needs `{f}`"));
        // The quota says which of its parameters is at fault; a token
        // bucket's rate is written `refill`.
        let bad = |e: floodgate_core::quota::QuotaError| {
            let field = match e.field() {
                "rate" if algo == "token_bucket" => "refill",
                f => f,
            };
            src.error(&join(at, &[field.into()]), e.to_string())
        };
        // A shorthand resolved, or the reason it does not map exactly.
        let size = |f: &str,
                    a: crate::amount::AmountField,
                    of: Option<u64>,
                    rate: Option<floodgate_core::Rate>| {
            a.resolve(of, rate)
                .map_err(|m| src.error(&join(at, &[f.into()]), m))
        };
        let quota = match algo {
            "token_bucket" => {
                let r = self.refill.ok_or_else(|| need("refill"))?.0;
                let c = self.capacity.ok_or_else(|| need("capacity"))?;
                let c = size("capacity", c, None, Some(r))?;
                let c = match self.burst_capacity {
                    None => c,
                    Some(b) => {
                        let b = size("burst_capacity", b, Some(c), Some(r))?;
                        if b < c {
                            return Err(src.error(
                                &join(at, &["burst_capacity".into()]),
                                format!("{b} is less than the capacity of {c}: a burst holds at least as much"),
                            ));
                        }
                        b
                    }
                };
                Quota::token_bucket(c, r).map_err(bad)?
            }
            "leaky_bucket" => {
                let r = self.rate.ok_or_else(|| need("rate"))?.0;
                let c = self.capacity.ok_or_else(|| need("capacity"))?;
                let c = size("capacity", c, None, Some(r))?;
                let mode = match self.mode.as_deref() {
                    None | Some("policing") => LeakMode::Policing,
                    Some("shaping") => LeakMode::Shaping,
                    Some(m) => {
                        return Err(src.error(
                            &join(at, &["mode".into()]),
                            format!("unknown mode `{m}`, expected policing or shaping"),
                        ))
                    }
                };
                Quota::leaky_bucket(c, r, mode).map_err(bad)?
            }
            "gcra" => {
                let r = self.rate.ok_or_else(|| need("rate"))?.0;
                let burst = match self.burst {
                    None => 1,
                    Some(b) => size("burst", b, None, Some(r))?,
                };
                Quota::gcra(r, burst).map_err(bad)?
            }
            "concurrency" => {
                let l = self.limit.ok_or_else(|| need("limit"))?;
                let lease = self.lease.map_or(DEFAULT_LEASE, |d| d.0);
                Quota::concurrency(l, lease).map_err(bad)?
            }
            window_algo => {
                let l = self.limit.ok_or_else(|| need("limit"))?;
                let w = self.window.ok_or_else(|| need("window"))?.0;
                let q = match window_algo {
                    "fixed_window" => Quota::fixed_window(l, w),
                    "sliding_window_log" => Quota::sliding_log(l, w),
                    _ => Quota::sliding_counter(l, w),
                };
                q.map_err(bad)?
            }
        };
        Ok(quota)
    }
}

/// Which of a rule's lists of limits: its own, a tier's, or an override's.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Scope<'a> {
    /// The rule's own limits (or the global ones).
    Rule,
    /// The own limits of a descriptor rule: a fixed window of 0 is
    /// allowed there.
    DescriptorRule,
    /// The limits of the rule for one tier.
    Tier(&'a str),
    /// The limits of an override of the rule.
    Override,
}

/// A `global` limit's lease unless its `sync` names one (10 s).
pub const GLOBAL_LEASE: std::time::Duration = std::time::Duration::from_secs(10);

/// What a rule's limits take from the rule unless they say: its `sync`
/// (with the path it is written at) and its `scope`.
#[derive(Clone, Copy, Default)]
pub(crate) struct Inherit<'a> {
    pub sync: Option<(&'a [Seg], &'a crate::sync::SyncField)>,
    pub scope: Option<crate::scope::ScopeField>,
}

/// The limits of `rule` in `scope`, named `rule`, or `rule-0`, `rule-1`…
/// when there are several, unless named.
pub(crate) fn limits(
    src: &Source,
    at: &[Seg],
    rule: &str,
    scope: Scope<'_>,
    list: &[LimitDocument],
    inherit: Inherit<'_>,
) -> Result<Vec<Limit>, ConfigError> {
    let mut out = Vec::with_capacity(list.len());
    let mut names = HashSet::new();
    for (i, l) in list.iter().enumerate() {
        let default_name = if list.len() == 1 {
            rule.to_string()
        } else {
            format!("{rule}-{i}")
        };
        let here = join(at, &[i.into()]);
        let quota = match scope {
            Scope::DescriptorRule => l.to_quota_or_zero(src, &here)?,
            _ => l.to_quota(src, &here)?,
        };
        if let Some(s) = l.soft {
            // At least one request must come before the soft share.
            if quota.limit().saturating_mul(s.0 as u64) < 1000 {
                return Err(src.error(
                    &join(&here, &["soft".into()]),
                    format!(
                        "{} of a limit of {} leaves no request before it: every request would be marked degraded",
                        crate::share::format_share(s.0),
                        quota.limit()
                    ),
                ));
            }
        }
        let name = l.name.clone().unwrap_or(default_name);
        check_name(&name).map_err(|m| src.error(&join(&here, &["name".into()]), m))?;
        let limit = match scope {
            Scope::Rule | Scope::DescriptorRule => Limit::new(rule, None, &name, quota),
            Scope::Tier(t) => Limit::new(rule, Some(t), &name, quota),
            Scope::Override => Limit::for_override(rule, &name, quota),
        }
        .with_soft(l.soft.map(|s| s.0));
        let scope = l
            .scope
            .or(inherit.scope)
            .map(Into::into)
            .unwrap_or_default();
        let global = scope == floodgate_core::store::Scope::Global;
        let written = l.sync.as_ref().or(inherit.sync.map(|(_, s)| s));
        let mut sync = match (&l.sync, inherit.sync) {
            (Some(own), _) => {
                crate::sync::terms(src, &join(&here, &["sync".into()]), Some(own), &quota)?
            }
            (None, Some((rat, rule))) => crate::sync::terms(src, rat, Some(rule), &quota)?,
            // A global limit is leased unless it says otherwise (and can be).
            (None, None) if global && leasable(&quota) => {
                Some(floodgate_core::store::SliceTerms::default_terms())
            }
            (None, None) => None,
        };
        // Across regions a slice is held longer unless `lease` says: a
        // take costs a round trip, and a key seen less than once a lease
        // on a replica would cross for every request.
        if let Some(t) = sync.as_mut() {
            if global && written.is_none_or(|w| w.0.lease.is_none()) {
                t.lease_us = GLOBAL_LEASE.as_micros() as u64;
            }
        }
        let limit = limit.with_sync(sync).with_scope(scope);
        if !names.insert(limit.name.clone()) {
            return Err(src.error(
                &join(at, &[i.into(), "name".into()]),
                format!("two limits here are named `{}`", limit.name),
            ));
        }
        out.push(limit);
    }
    Ok(out)
}
