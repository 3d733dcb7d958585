//! `POST /v1/check`: the decision API for other gateways. The caller
//! states the request's attributes (its client IP already resolved); the
//! answer is the decision (`DecisionView`, API style) with the rate-limit
//! headers, 200 when allowed and 429 when not. `POST /v1/acquire` takes
//! the same body and answers the same way, and an allowed request also
//! takes its concurrency slots (see [`lease`](crate::decide::lease)).

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use floodgate_core::policy::{check_cost, Attributes, DecisionView, Origin, RequestError};
use floodgate_core::Clock as _;
use floodgate_tower::response::{error_body, json_response};
use floodgate_tower::{headers, Decided};
use http::{Response, StatusCode};
use serde::Deserialize;

use floodgate_tower::LimiterHandle;

use crate::net::fast::{self, FastRoute};

/// `POST /v1/check` body. Its strings borrow from the body unless they
/// hold escapes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckRequest<'a> {
    #[serde(borrow)]
    attributes: Stated<'a>,
    #[serde(default)]
    cost: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stated<'a> {
    #[serde(default)]
    ip: Option<IpAddr>,
    #[serde(default, borrow)]
    method: Option<Text<'a>>,
    #[serde(borrow)]
    path: Text<'a>,
    #[serde(default, borrow)]
    api_key: Option<Text<'a>>,
    #[serde(default, borrow)]
    user: Option<Text<'a>>,
    #[serde(default)]
    headers: HashMap<String, String>,
}

/// The wire's attributes as the engine takes them.
impl<'b> From<&'b Stated<'_>> for Attributes<'b> {
    fn from(a: &'b Stated<'_>) -> Attributes<'b> {
        Attributes {
            ip: a.ip,
            method: a.method.as_deref(),
            path: &a.path,
            api_key: a.api_key.as_deref(),
            user: a.user.as_deref(),
            headers: a.headers.iter().map(|(k, v)| (k, v.as_str())).collect(),
        }
    }
}

/// A JSON string, borrowed from the body when it has no escapes (serde's
/// own `Cow` borrows only outside an `Option`).
#[derive(Debug, Default)]
struct Text<'a>(Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(Visit)
    }
}

fn bad_request(reason: String) -> Response<Body> {
    json_response(StatusCode::BAD_REQUEST, error_body("bad_request", &reason))
}

/// The largest cost one check may carry.
pub use floodgate_core::policy::MAX_COST;

pub(crate) async fn check(State(handle): State<LimiterHandle>, body: Bytes) -> Response<Body> {
    match decide(&handle, &body, false).await {
        Ok(decided) => answer(&decided, None),
        Err(refused) => refused,
    }
}

/// `POST /v1/check` as the admin listener's fast route: what the router
/// would do (`admit`, the admin tokens, then the decision) without the
/// router, for the endpoint other gateways call on every request.
pub fn fast_route(handle: LimiterHandle, admit: fast::Admit) -> FastRoute {
    let handler: fast::Handler = Arc::new(move |head: fast::Head, body, peer| {
        let handle = handle.clone();
        let admit = admit.clone();
        Box::pin(async move {
            if let Err(refused) = admit(peer.ip(), head.authorization.as_ref()) {
                return *refused;
            }
            let body = match body.bytes().await {
                Ok(b) => b,
                Err(refused) => return refused,
            };
            check(State(handle), body).await
        })
    });
    FastRoute::new(http::Method::POST, "/v1/check", handler)
}

/// Decides the request a check body describes; with `acquire`, an
/// allowed one takes its concurrency slots. A request that cannot be
/// decided gets its answer as the error.
pub(crate) async fn decide(
    handle: &LimiterHandle,
    body: &Bytes,
    acquire: bool,
) -> Result<Decided, Response<Body>> {
    let req: CheckRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => return Err(bad_request(format!("invalid check request: {e}"))),
    };
    let cost = check_cost(req.cost.unwrap_or(1)).map_err(|e| bad_request(e.to_string()))?;
    let attributes = Attributes::from(&req.attributes);
    // One load: the request is built from this limiter's identity
    // settings and decided on this limiter, whatever changes meanwhile.
    let limiter = handle.limiter();
    // The caller (a gateway) states the client IP: no proxy walk here. It
    // is trusted for the user header; a token in `attributes.headers` is
    // verified as the public listener verifies one.
    let origin = Origin {
        peer_trusted: true,
        now: handle.clock().now(),
    };
    Ok(
        match limiter.policy().identity.request_from(&attributes, origin) {
            Ok(request) => handle.decide_with(&limiter, &request, cost, acquire).await,
            Err(RequestError::Attributes(e)) => return Err(bad_request(e.to_string())),
            Err(RequestError::Refused(e)) => Decided {
                result: Err(e),
                now: origin.now,
                cost,
                slots: None,
                unavailable_status: handle.unavailable_status(),
                text: None,
            },
        },
    )
}

/// The answer to a decided request: the decision (with `lease` when one
/// is given), 200 or 429, with the rate-limit headers.
pub(crate) fn answer(decided: &Decided, lease: Option<Option<String>>) -> Response<Body> {
    let verdict = match &decided.result {
        Ok(v) => v,
        Err(_) => return decided.rejection().expect("errors are rejections"),
    };
    let body = DecisionView::api(verdict, decided.now);
    let status = if verdict.allowed {
        StatusCode::OK
    } else {
        StatusCode::TOO_MANY_REQUESTS
    };
    // A denial carries the body the gateway would answer it with.
    let denial_body = match verdict.deciding() {
        Some(o) if !verdict.allowed && !verdict.unavailable() => {
            let b = headers::too_many_requests_body(
                o,
                decided.cost,
                verdict.tier.as_deref(),
                decided.text.as_ref(),
                decided.now,
            );
            serde_json::from_str::<serde_json::Value>(&b).ok()
        }
        _ => None,
    };
    let text = match (lease, denial_body) {
        (None, None) => {
            // About the size of a decision: no regrowing on the way.
            let mut text = Vec::with_capacity(256);
            serde_json::to_writer(&mut text, &body).expect("serialisable");
            Bytes::from(text)
        }
        (lease, denial) => {
            let mut v = serde_json::to_value(&body).expect("serialisable");
            if let Some(lease) = lease {
                v["lease"] = lease.into();
            }
            if let Some(d) = denial {
                v["body"] = d;
            }
            Bytes::from(v.to_string())
        }
    };
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    if let Some(o) = verdict.deciding() {
        headers::apply(response.headers_mut(), o, decided.now);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_borrow_from_the_body_unless_escaped() {
        let body = br#"{"attributes":{"path":"/a\u0062","api_key":"k1","method":"POST"}}"#;
        let req: CheckRequest = serde_json::from_slice(body).unwrap();
        let a = req.attributes;
        assert!(matches!(a.path.0, Cow::Owned(ref p) if p == "/ab"), "{a:?}");
        assert!(
            matches!(a.api_key, Some(Text(Cow::Borrowed("k1")))),
            "{a:?}"
        );
        assert!(
            matches!(a.method, Some(Text(Cow::Borrowed("POST")))),
            "{a:?}"
        );
        let e = serde_json::from_slice::<CheckRequest>(br#"{"attributes":{"path":5}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected a string"), "{e}");
    }
}
