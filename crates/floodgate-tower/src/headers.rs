//! Rate-limit response headers and the 429 body.
//!
//! - `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset`
//!   (Unix seconds);
//! - `RateLimit-Policy: "name";q=100;w=60` and `RateLimit: "name";r=42;t=58`
//!   (draft-ietf-httpapi-ratelimit-headers-11);
//! - on a denial, `Retry-After` (whole seconds, rounded up) and the JSON body.

use std::fmt::Write as _;

use bytes::Bytes;
use floodgate_core::decision::{ceil_secs, unix_secs_after};
use floodgate_core::policy::LimitOutcome;
use floodgate_core::{RetryAfter, Timestamp};
use http::header::{HeaderName, HeaderValue, RETRY_AFTER};
use http::HeaderMap;

/// `X-RateLimit-Limit`.
pub const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
/// `X-RateLimit-Remaining`.
pub const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
/// `X-RateLimit-Reset`.
pub const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
/// `RateLimit-Policy`.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`.
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
/// `Floodgate-Degraded`: the limits an allowed request went past the soft
/// share of, `rule/limit` joined by `, `; on the request passed on (the
/// client's own is always removed) and on its response.
pub const FLOODGATE_DEGRADED: HeaderName = HeaderName::from_static("floodgate-degraded");

fn num(n: u64) -> HeaderValue {
    HeaderValue::from(n)
}

/// Writes `s` as a structured-field string: names are validated at
/// config load, but escape anyway.
fn push_sf_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            _ => out.push('_'),
        }
    }
    out.push('"');
}

/// A header value made of `text`, without copying it.
fn value(text: String) -> Option<HeaderValue> {
    HeaderValue::from_maybe_shared(Bytes::from(text)).ok()
}

/// Adds the headers of the limit that speaks (`outcome`), decided at `now`.
pub fn apply(headers: &mut HeaderMap, outcome: &LimitOutcome, now: Timestamp) {
    let d = &outcome.decision;
    let reset_in = ceil_secs(d.reset_after);
    let reset_at = unix_secs_after(now, d.reset_after);
    headers.insert(X_RATELIMIT_LIMIT, num(d.limit));
    headers.insert(X_RATELIMIT_REMAINING, num(d.remaining));
    headers.insert(X_RATELIMIT_RESET, num(reset_at));
    let mut policy = String::with_capacity(outcome.limit.len() + 32);
    push_sf_string(&mut policy, &outcome.limit);
    let mut current = policy.clone();
    let _ = write!(policy, ";q={};w={}", d.limit, outcome.quota.window_secs());
    let _ = write!(current, ";r={};t={reset_in}", d.remaining);
    if let Some(v) = value(policy) {
        headers.insert(RATELIMIT_POLICY, v);
    }
    if let Some(v) = value(current) {
        headers.insert(RATELIMIT, v);
    }
    if let Some(RetryAfter::After(r) | RetryAfter::Unavailable(r)) = d.retry_after {
        headers.insert(RETRY_AFTER, num(ceil_secs(r)));
    }
}

/// The JSON body of a denial because the store could not decide a
/// `fail_closed` limit (`outcome`): `error` and `code` `limiter_unavailable`,
/// a message, `retry_after` (`n` seconds, the breaker's cool-down), and
/// the rule and limit.
pub fn unavailable_body(outcome: &LimitOutcome, n: u64) -> String {
    serde_json::json!({
        "error": "limiter_unavailable",
        "code": "limiter_unavailable",
        "message": format!(
            "The rate limiter cannot reach its store and this limit fails closed. Retry after {n} seconds."
        ),
        "retry_after": n,
        "rule": &*outcome.rule,
        "limit": &*outcome.limit,
    })
    .to_string()
}

/// The JSON body of a 429. A concurrency limit's says so: `"algorithm":
/// "concurrency"`, with the limit and a message about requests in flight.
pub fn too_many_requests_body(outcome: &LimitOutcome, cost: u64) -> String {
    if outcome.quota.is_concurrency() {
        let n = outcome
            .decision
            .retry_after
            .and_then(RetryAfter::whole_seconds)
            .unwrap_or(1);
        let limit = outcome.decision.limit;
        return serde_json::json!({
            "error": "rate_limit_exceeded",
            "message": format!(
                "Too many requests in flight: at most {limit} at once. Retry after {n} seconds."
            ),
            "retry_after": n,
            "algorithm": "concurrency",
            "limit": limit,
        })
        .to_string();
    }
    match outcome.decision.retry_after {
        Some(RetryAfter::After(r)) => {
            let n = ceil_secs(r);
            serde_json::json!({
                "error": "rate_limit_exceeded",
                "message": format!("Too many requests. Retry after {n} seconds."),
                "retry_after": n,
            })
            .to_string()
        }
        _ => serde_json::json!({
            "error": "rate_limit_exceeded",
            "message": format!(
                "This request costs {cost}, more than the limit of {}; it can never be allowed.",
                outcome.decision.limit
            ),
            "retry_after": null,
        })
        .to_string(),
    }
}
