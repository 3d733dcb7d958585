//! `DecisionView`: the one rendering of a verdict, shared by the decision
//! API (`POST /v1/check`), `simulate` and the rejection log.
//!
//! Two styles of the same fields: the API's (retry-after in whole seconds
//! rounded up, as in the `Retry-After` header; every field present, `null`
//! when it does not apply) and the trace's (exact seconds; fields that do
//! not apply left out).

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::verdict::Verdict;
use crate::decision::{ceil_secs, unix_secs_after, RetryAfter};
use crate::time::Timestamp;

/// When the same request could be allowed again.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RetryView {
    /// After this many whole seconds, rounded up (the API style).
    Whole(u64),
    /// After this many seconds, exactly (the trace style).
    Seconds(f64),
    /// Never: the request costs more than the limit's capacity.
    Never,
}

impl Serialize for RetryView {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RetryView::Whole(x) => s.serialize_u64(*x),
            RetryView::Seconds(x) => s.serialize_f64(*x),
            RetryView::Never => s.serialize_str("never"),
        }
    }
}

/// A verdict as reported: the limit that speaks (see
/// [`Verdict::deciding`]) and what it says.
#[derive(Clone, Debug, PartialEq)]
pub struct DecisionView<'a> {
    /// Whether the request may go on.
    pub allowed: bool,
    /// The client's tier.
    pub tier: Option<&'a str>,
    /// The speaking limit's rule (`global` for global limits).
    pub rule: Option<&'a str>,
    /// The speaking limit's name.
    pub limit_name: Option<&'a str>,
    /// Its algorithm.
    pub algorithm: Option<&'static str>,
    /// Its limit.
    pub limit: Option<u64>,
    /// What it could still allow now.
    pub remaining: Option<u64>,
    /// When it is back to idle, Unix seconds (rounded up).
    pub reset: Option<u64>,
    /// Seconds until it is back to idle.
    pub reset_after: Option<f64>,
    /// Only when denied: when the same request could be allowed.
    pub retry_after: Option<RetryView>,
    /// Seconds to hold the request (shaping limits).
    pub delay: Option<f64>,
    /// `rule/limit` of each shadow limit that would have denied.
    pub shadow_limited: Vec<String>,
    /// `rule/limit` of each limit this allowed request went past the soft
    /// share of.
    pub degraded: Vec<String>,
    /// A denial because the store could not decide (a `fail_closed`
    /// limit): written as `"error": "limiter_unavailable"`, only then.
    pub unavailable: bool,
    omit_absent: bool,
}

impl<'a> DecisionView<'a> {
    /// The decision API's style: retry-after in whole seconds, every field
    /// present.
    pub fn api(v: &'a Verdict, now: Timestamp) -> DecisionView<'a> {
        let mut view = DecisionView::build(v, now, true);
        view.delay = Some(v.delay().as_secs_f64());
        view
    }

    /// The trace style (`simulate`): exact seconds, absent fields left out.
    pub fn trace(v: &'a Verdict, now: Timestamp) -> DecisionView<'a> {
        DecisionView {
            omit_absent: true,
            ..DecisionView::build(v, now, false)
        }
    }

    /// The trace style of a request refused before any limit (no verdict).
    pub fn refused() -> DecisionView<'static> {
        DecisionView {
            allowed: false,
            tier: None,
            rule: None,
            limit_name: None,
            algorithm: None,
            limit: None,
            remaining: None,
            reset: None,
            reset_after: None,
            retry_after: None,
            delay: None,
            shadow_limited: Vec::new(),
            degraded: Vec::new(),
            unavailable: false,
            omit_absent: true,
        }
    }

    fn build(v: &'a Verdict, now: Timestamp, whole: bool) -> DecisionView<'a> {
        let speaking = v.deciding();
        let d = speaking.map(|o| &o.decision);
        DecisionView {
            allowed: v.allowed,
            tier: v.tier.as_deref(),
            rule: speaking.map(|o| &*o.rule),
            limit_name: speaking.map(|o| &*o.limit),
            algorithm: speaking.map(|o| o.quota.algorithm_name()),
            limit: d.map(|d| d.limit),
            remaining: d.map(|d| d.remaining),
            reset: d.map(|d| unix_secs_after(now, d.reset_after)),
            reset_after: d.map(|d| d.reset_after.as_secs_f64()),
            retry_after: d.and_then(|d| d.retry_after).map(|r| match r {
                RetryAfter::Never => RetryView::Never,
                RetryAfter::After(x) | RetryAfter::Unavailable(x) if whole => {
                    RetryView::Whole(ceil_secs(x))
                }
                RetryAfter::After(x) | RetryAfter::Unavailable(x) => {
                    RetryView::Seconds(x.as_secs_f64())
                }
            }),
            unavailable: v.unavailable(),
            delay: speaking.map(|_| v.delay().as_secs_f64()),
            shadow_limited: v
                .shadow_denials()
                .map(|o| format!("{}/{}", o.rule, o.limit))
                .collect(),
            degraded: v
                .degraded()
                .map(|o| format!("{}/{}", o.rule, o.limit))
                .collect(),
            omit_absent: false,
        }
    }

    /// Writes the fields into a map being serialised (for records that
    /// carry a view among fields of their own).
    pub fn write_fields<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
        m.serialize_entry("allowed", &self.allowed)?;
        macro_rules! opt {
            ($name:literal, $v:expr) => {
                if !(self.omit_absent && $v.is_none()) {
                    m.serialize_entry($name, &$v)?;
                }
            };
        }
        opt!("tier", self.tier);
        opt!("rule", self.rule);
        opt!("limit_name", self.limit_name);
        opt!("algorithm", self.algorithm);
        opt!("limit", self.limit);
        opt!("remaining", self.remaining);
        opt!("reset", self.reset);
        opt!("reset_after", self.reset_after);
        opt!("retry_after", self.retry_after);
        opt!("delay", self.delay);
        if !(self.omit_absent && self.shadow_limited.is_empty()) {
            m.serialize_entry("shadow_limited", &self.shadow_limited)?;
        }
        if !(self.omit_absent && self.degraded.is_empty()) {
            m.serialize_entry("degraded", &self.degraded)?;
        }
        if self.unavailable {
            m.serialize_entry("error", "limiter_unavailable")?;
        }
        Ok(())
    }
}

impl Serialize for DecisionView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        self.write_fields(&mut m)?;
        m.end()
    }
}
