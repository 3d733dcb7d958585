//! The admin listener: `POST /v1/check` (the decision API), `/metrics`,
//! `/healthz`, `/readyz`. With `admin.token` set, every endpoint but the
//! health checks wants `Authorization: Bearer <token>`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::routing::{get, post};
use axum::Router;
use floodgate_core::decision::ceil_secs;
use floodgate_core::policy::CheckError;
use floodgate_core::RetryAfter;
use floodgate_tower::headers::{self, error_body, json_response};
use floodgate_tower::Limits;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::metrics::Metrics;

/// The admin listener's state.
#[derive(Clone)]
pub struct Admin {
    /// The limits the public listener uses.
    pub limits: Limits,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Required bearer token.
    pub token: Option<Arc<str>>,
    /// False once shutdown has begun.
    pub ready: Arc<AtomicBool>,
}

/// `POST /v1/check` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckRequest {
    attributes: Attributes,
    #[serde(default)]
    cost: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Attributes {
    #[serde(default)]
    ip: Option<IpAddr>,
    #[serde(default)]
    method: Option<String>,
    path: String,
    #[serde(default)]
    api_key: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    headers: HashMap<String, String>,
}

/// The decision API's answer.
#[derive(serde::Serialize)]
struct CheckAnswer<'a> {
    allowed: bool,
    rule: Option<&'a str>,
    limit_name: Option<&'a str>,
    limit: Option<u64>,
    remaining: Option<u64>,
    reset: Option<u64>,
    reset_after: Option<f64>,
    retry_after: Option<Retry>,
    delay: f64,
    tier: Option<&'a str>,
    shadow_limited: Vec<String>,
}

#[derive(serde::Serialize)]
#[serde(untagged)]
enum Retry {
    Seconds(u64),
    Never(&'static str),
}

fn bad_request(reason: String) -> Response<Body> {
    json_response(StatusCode::BAD_REQUEST, error_body("bad_request", &reason))
}

/// The largest cost one check may carry.
const MAX_COST: u64 = 1 << 40;

async fn check(State(admin): State<Admin>, body: Bytes) -> Response<Body> {
    let req: CheckRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(format!("invalid check request: {e}")),
    };
    let a = req.attributes;
    let cost = req.cost.unwrap_or(1);
    if cost == 0 || cost > MAX_COST {
        return bad_request(format!("cost must be between 1 and {MAX_COST}"));
    }
    if !a.path.starts_with('/') {
        return bad_request(format!(
            "attributes.path must start with /, got `{}`",
            a.path
        ));
    }
    let method = a.method.unwrap_or_else(|| "GET".into());
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return bad_request(format!(
            "attributes.method `{method}` is not an HTTP method"
        ));
    }
    let limiter = admin.limits.limiter();
    let identity = &limiter.policy().identity;
    let mut hm = HeaderMap::new();
    for (k, v) in &a.headers {
        let name = match HeaderName::from_bytes(k.as_bytes()) {
            Ok(n) => n,
            Err(_) => {
                return bad_request(format!("attributes.headers: `{k}` is not a header name"))
            }
        };
        let value = match HeaderValue::from_str(v) {
            Ok(v) => v,
            Err(_) => {
                return bad_request(format!("attributes.headers.{k}: not a valid header value"))
            }
        };
        hm.insert(name, value);
    }
    // Explicit attributes win over headers.
    for (name, value) in [
        (&identity.api_key_header, &a.api_key),
        (&identity.user_header, &a.user),
    ] {
        if let Some(v) = value {
            match (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                (Ok(n), Ok(v)) => {
                    hm.insert(n, v);
                }
                _ => return bad_request(format!("`{v}` is not a valid {name} value")),
            }
        }
    }
    let path = a.path.split('?').next().unwrap_or("/");
    // The caller (a gateway) states the client IP: no proxy walk here.
    let decided = admin
        .limits
        .decide_for(a.ip, &method, path, &hm, cost)
        .await;
    let mut response = match &decided.result {
        Err(CheckError::Store(_))
        | Err(CheckError::MissingApiKey)
        | Err(CheckError::UnknownApiKey) => {
            return decided.rejection().expect("errors are rejections");
        }
        Ok(v) => {
            let speaking = v.deciding();
            let d = speaking.map(|o| o.decision);
            let now_s = decided.now.as_micros().div_ceil(1_000_000);
            let body = CheckAnswer {
                allowed: v.allowed,
                rule: speaking.map(|o| &*o.rule),
                limit_name: speaking.map(|o| &*o.limit),
                limit: d.map(|d| d.limit),
                remaining: d.map(|d| d.remaining),
                reset: d.map(|d| now_s + ceil_secs(d.reset_after)),
                reset_after: d.map(|d| d.reset_after.as_secs_f64()),
                retry_after: d.and_then(|d| d.retry_after).map(|r| match r {
                    RetryAfter::After(x) => Retry::Seconds(ceil_secs(x)),
                    RetryAfter::Never => Retry::Never("never"),
                }),
                delay: v.delay().as_secs_f64(),
                tier: v.tier.as_deref(),
                shadow_limited: v
                    .shadow_denials()
                    .map(|o| format!("{}/{}", o.rule, o.limit))
                    .collect(),
            };
            let status = if v.allowed {
                StatusCode::OK
            } else {
                StatusCode::TOO_MANY_REQUESTS
            };
            let text = serde_json::to_string(&body).expect("serialisable");
            json_response(status, text)
        }
    };
    if let Ok(v) = &decided.result {
        if let Some(o) = v.deciding() {
            headers::apply(response.headers_mut(), o, decided.now);
        }
    }
    response
}

async fn metrics(State(admin): State<Admin>) -> Response<Body> {
    let mut r = Response::new(Body::from(admin.metrics.render()));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

async fn healthz() -> Response<Body> {
    json_response(StatusCode::OK, json!({"status": "ok"}).to_string())
}

async fn readyz(State(admin): State<Admin>) -> Response<Body> {
    if admin.ready.load(Ordering::SeqCst) {
        json_response(StatusCode::OK, json!({"status": "ready"}).to_string())
    } else {
        json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "shutting_down"}).to_string(),
        )
    }
}

/// Compares without leaking the position of the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn authenticate(State(admin): State<Admin>, req: Request, next: Next) -> Response<Body> {
    if let Some(token) = &admin.token {
        let given = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| same(g.as_bytes(), token.as_bytes())) {
            let mut r = json_response(
                StatusCode::UNAUTHORIZED,
                error_body(
                    "unauthorized",
                    "this endpoint wants Authorization: Bearer <admin token>",
                ),
            );
            r.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer"),
            );
            return r;
        }
    }
    next.run(req).await
}

/// The admin router.
pub fn router(admin: Admin) -> Router {
    let protected = Router::new()
        .route("/v1/check", post(check))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(admin.clone(), authenticate));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(protected)
        .fallback(|| async {
            json_response::<Body>(
                StatusCode::NOT_FOUND,
                error_body("not_found", "no such admin endpoint"),
            )
        })
        .with_state(admin)
}
