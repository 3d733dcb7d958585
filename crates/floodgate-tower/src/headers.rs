//! Rate-limit response headers and the 429 body.
//!
//! - `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset`
//!   (Unix seconds);
//! - `RateLimit-Policy: "name";q=100;w=60` and `RateLimit: "name";r=42;t=58`
//!   (draft-ietf-httpapi-ratelimit-headers-11);
//! - on a denial, `Retry-After` (whole seconds, rounded up) and the JSON body.

use std::fmt::Write as _;

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

/// Adds the headers of the limit that speaks (`outcome`), decided at `now`.
pub fn apply(headers: &mut HeaderMap, outcome: &LimitOutcome, now: Timestamp) {
    each(outcome, now, |name, value| {
        headers.insert(name, value);
    });
}

/// The headers [`apply`] adds, each given to `f` in turn (name, value),
/// without a map in between.
pub fn each(outcome: &LimitOutcome, now: Timestamp, mut f: impl FnMut(HeaderName, HeaderValue)) {
    each_text(outcome, now, |name, text| {
        // Visible ASCII (each_text): always a valid value.
        if let Ok(v) = HeaderValue::from_str(text) {
            f(name.clone(), v);
        }
    });
}

/// The headers [`each`] gives, as each one's name and text (visible
/// ASCII), written in turn into one buffer: no header value is built (the
/// gRPC answer writes them straight into its message).
pub fn each_text(outcome: &LimitOutcome, now: Timestamp, mut f: impl FnMut(&HeaderName, &str)) {
    let d = &outcome.decision;
    let reset_in = ceil_secs(d.reset_after);
    let reset_at = unix_secs_after(now, d.reset_after);
    let mut text = String::with_capacity(outcome.limit.len() + 32);
    let mut put = |name: &HeaderName, text: &mut String| {
        f(name, text);
        text.clear();
    };
    let _ = write!(text, "{}", d.limit);
    put(&X_RATELIMIT_LIMIT, &mut text);
    let _ = write!(text, "{}", d.remaining);
    put(&X_RATELIMIT_REMAINING, &mut text);
    let _ = write!(text, "{reset_at}");
    put(&X_RATELIMIT_RESET, &mut text);
    push_sf_string(&mut text, &outcome.limit);
    let _ = write!(text, ";q={};w={}", d.limit, outcome.quota.window_secs());
    put(&RATELIMIT_POLICY, &mut text);
    push_sf_string(&mut text, &outcome.limit);
    let _ = write!(text, ";r={};t={reset_in}", d.remaining);
    put(&RATELIMIT, &mut text);
    if let Some(RetryAfter::After(r) | RetryAfter::Unavailable(r)) = d.retry_after {
        let _ = write!(text, "{}", ceil_secs(r));
        put(&RETRY_AFTER, &mut text);
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

/// The JSON body of a 429: compact by default (`error`, `message`,
/// `retry_after`; a concurrency limit's also `algorithm` and `limit`),
/// with the documentation and upgrade URLs and the message `text` sets,
/// and with `details: true` a stable `code`, `details` (`limit`, `window`
/// or `rate`, `remaining`, `retry_after`, `reset_at`), `tier`, `rule` and
/// `limit_name`. The same body on the gateway, the tower layer and the
/// decision API's `body`.
pub fn too_many_requests_body(
    outcome: &LimitOutcome,
    cost: u64,
    tier: Option<&str>,
    text: Option<&floodgate_core::policy::DenialText>,
    now: Timestamp,
) -> String {
    let d = &outcome.decision;
    let concurrency = outcome.quota.is_concurrency();
    let retry = match d.retry_after {
        Some(RetryAfter::After(r) | RetryAfter::Unavailable(r)) => Some(ceil_secs(r)),
        _ if concurrency => Some(1),
        _ => None,
    };
    let limit = d.limit;
    let default_message = match retry {
        Some(n) if concurrency => {
            format!(
                "Too many requests in flight: at most {limit} at once. Retry after {n} seconds."
            )
        }
        Some(n) => format!("Too many requests. Retry after {n} seconds."),
        None => format!(
            "This request costs {cost}, more than the limit of {limit}; it can never be allowed."
        ),
    };
    let window = outcome.quota.window_secs();
    let rate = match outcome.quota {
        floodgate_core::Quota::TokenBucket { refill: r, .. }
        | floodgate_core::Quota::LeakyBucket { leak: r, .. }
        | floodgate_core::Quota::Gcra { rate: r, .. } => Some(r.to_string()),
        _ => None,
    };
    let reset_at = unix_secs_after(now, d.reset_after);
    let message = text
        .and_then(|t| t.text.message.as_deref())
        .and_then(|m| {
            floodgate_core::policy::render(m, |name| {
                Some(match name {
                    "limit" => limit.to_string(),
                    "remaining" => d.remaining.to_string(),
                    "retry_after" => retry.map_or_else(|| "never".into(), |n| n.to_string()),
                    "reset_at" => reset_at.to_string(),
                    "window" => rate.clone().unwrap_or_else(|| {
                        floodgate_core::quota::human_micros(window.saturating_mul(1_000_000))
                    }),
                    "tier" => tier.unwrap_or("").to_string(),
                    "rule" => outcome.rule.to_string(),
                    "limit_name" => outcome.limit.to_string(),
                    _ => return None,
                })
            })
            .ok()
        })
        .unwrap_or(default_message);
    let mut body = serde_json::Map::new();
    body.insert("error".into(), "rate_limit_exceeded".into());
    if text.is_some_and(|t| t.details) {
        body.insert("code".into(), "rate_limit_exceeded".into());
    }
    body.insert("message".into(), message.into());
    body.insert("retry_after".into(), retry.into());
    if concurrency {
        body.insert("algorithm".into(), "concurrency".into());
        body.insert("limit".into(), limit.into());
    }
    if let Some(t) = text {
        if let Some(u) = &t.text.documentation_url {
            body.insert("documentation_url".into(), u.as_ref().into());
        }
        if let Some(u) = &t.text.upgrade_url {
            body.insert("upgrade_url".into(), u.as_ref().into());
        }
        if t.details {
            let mut details = serde_json::Map::new();
            details.insert("limit".into(), limit.into());
            match &rate {
                Some(r) => details.insert("rate".into(), r.clone().into()),
                None => details.insert("window".into(), window.into()),
            };
            details.insert("remaining".into(), d.remaining.into());
            details.insert("retry_after".into(), retry.into());
            details.insert("reset_at".into(), reset_at.into());
            body.insert("details".into(), details.into());
            body.insert("tier".into(), tier.into());
            body.insert("rule".into(), outcome.rule.as_ref().into());
            body.insert("limit_name".into(), outcome.limit.as_ref().into());
        }
    }
    serde_json::Value::Object(body).to_string()
}
