//! [`Decided`]: a verdict with what the response needs (when it was
//! decided, at what cost), and the response it leads to.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use floodgate_core::policy::CheckError;
use floodgate_core::{Timestamp, Verdict};
use http::{HeaderMap, HeaderValue, Response, StatusCode};

use crate::headers;
use crate::response::{error_body, json_response};
use crate::slots::SlotGuard;

/// The marker an allowed request past a limit's soft share carries in its
/// extensions: each such limit as `(rule, limit)`. The service behind the
/// layer may serve a cheaper answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Degraded(pub Vec<(Arc<str>, Arc<str>)>);

impl Degraded {
    /// `rule/limit, rule/limit`: the `Floodgate-Degraded` value.
    pub fn header_value(&self) -> HeaderValue {
        let text: Vec<String> = self.0.iter().map(|(r, l)| format!("{r}/{l}")).collect();
        // Rule and limit names are checked at load: always a valid value.
        HeaderValue::from_str(&text.join(", ")).unwrap_or(HeaderValue::from_static("degraded"))
    }
}

/// A decision with what the response needs.
pub struct Decided {
    /// The verdict.
    pub result: Result<Verdict, CheckError>,
    /// When it was decided.
    pub now: Timestamp,
    /// The request's cost.
    pub cost: u64,
    /// The concurrency slots an allowed request holds, released when this
    /// is dropped (the service moves it into the response body).
    pub slots: Option<SlotGuard>,
    /// The status of a denial because the store could not decide a
    /// `fail_closed` limit (503 or 429).
    pub unavailable_status: StatusCode,
    /// What a 429's body says beyond the default (the policy's, tier's and
    /// rule's `errors`), set for denials.
    pub text: Option<floodgate_core::policy::DenialText>,
}

impl Decided {
    /// The response for a request that does not go on, or `None` when it
    /// may: a 429 with the rate-limit headers when a limit denies; a 503
    /// (or the status set for it) with `limiter_unavailable` and
    /// `Retry-After` when a `fail_closed` limit could not be decided; a
    /// 401 when the API key is missing or unknown or the token invalid; a
    /// 503 when the store fails.
    pub fn rejection<B: From<Bytes>>(&self) -> Option<Response<B>> {
        match &self.result {
            Ok(v) if v.allowed => None,
            Ok(v) if v.unavailable() => {
                let o = v.deciding().expect("a denial has a denying limit");
                let n = o
                    .decision
                    .retry_after
                    .and_then(floodgate_core::RetryAfter::whole_seconds)
                    .unwrap_or(1);
                let mut r = json_response(self.unavailable_status, headers::unavailable_body(o, n));
                r.headers_mut()
                    .insert(http::header::RETRY_AFTER, HeaderValue::from(n));
                Some(r)
            }
            Ok(v) => {
                let o = v.deciding().expect("a denial has a denying limit");
                let mut r = json_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    headers::too_many_requests_body(
                        o,
                        self.cost,
                        v.tier.as_deref(),
                        self.text.as_ref(),
                        self.now,
                    ),
                );
                headers::apply(r.headers_mut(), o, self.now);
                Some(r)
            }
            Err(
                e @ (CheckError::MissingApiKey
                | CheckError::UnknownApiKey
                | CheckError::InvalidToken(_)),
            ) => Some(json_response(
                StatusCode::UNAUTHORIZED,
                error_body("unauthorized", &e.to_string()),
            )),
            Err(CheckError::Store(_)) => Some(json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                error_body(
                    "rate_limiter_unavailable",
                    "The rate limiter cannot decide right now. Try again shortly.",
                ),
            )),
        }
    }

    /// Adds the rate-limit headers of an allowed request to its response
    /// (and `Floodgate-Degraded` past a soft share).
    pub fn decorate(&self, response_headers: &mut HeaderMap) {
        if let Ok(v) = &self.result {
            if let Some(o) = v.deciding() {
                headers::apply(response_headers, o, self.now);
            }
        }
        // Only Floodgate says it: an upstream's own is replaced or removed.
        match self.degraded() {
            Some(d) => {
                response_headers.insert(headers::FLOODGATE_DEGRADED, d.header_value());
            }
            None => {
                response_headers.remove(headers::FLOODGATE_DEGRADED);
            }
        }
    }

    /// The limits this allowed request went past the soft share of.
    pub fn degraded(&self) -> Option<Degraded> {
        let v = self.result.as_ref().ok()?;
        let past: Vec<_> = v
            .degraded()
            .map(|o| (o.rule.clone(), o.limit.clone()))
            .collect();
        (!past.is_empty()).then_some(Degraded(past))
    }

    /// Marks a request that goes on: the client's own `Floodgate-Degraded`
    /// is removed; past a soft share, the header and the [`Degraded`]
    /// extension are set.
    pub fn mark<B>(&self, req: &mut http::Request<B>) {
        req.headers_mut().remove(headers::FLOODGATE_DEGRADED);
        req.extensions_mut().remove::<Degraded>();
        if let Some(d) = self.degraded() {
            req.headers_mut()
                .insert(headers::FLOODGATE_DEGRADED, d.header_value());
            req.extensions_mut().insert(d);
        }
    }

    /// How long to hold the request before it goes on.
    pub fn delay(&self) -> Duration {
        self.result.as_ref().map_or(Duration::ZERO, |v| v.delay())
    }
}
