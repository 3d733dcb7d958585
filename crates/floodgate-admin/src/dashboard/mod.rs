//! The built-in dashboard at `/dashboard` on the admin listener.
//!
//! Without admin tokens (a loopback listener) it is open, like the rest
//! of the admin listener. Otherwise `GET /dashboard` answers a login page
//! until an admin token (`read` or `admin`) is posted to
//! `POST /dashboard/login`, which opens a session ([`session`]) kept in
//! an `HttpOnly`, `SameSite=Strict` cookie (`Secure` when the request
//! came over HTTPS, as `X-Forwarded-Proto` or `Forwarded` says). Failed
//! logins count against the address like failed bearer tokens.
//! `POST /dashboard/logout` closes it. `GET /dashboard/data` is what the
//! page polls every second ([`data`]); without a session it is a 401.
//! The page, its script and style are embedded in the binary.
//!
//! # Layout
//!
//! - [`session`]: session ids, kept as digests, bounded and expiring;
//! - [`data`]: the JSON the page shows;
//! - [`state`]: what the dashboard keeps;
//! - `assets/`: the page, script and style.

pub mod data;
pub mod session;
pub mod state;

use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};

use crate::auth::Role;
use crate::control::Control;
use session::COOKIE;
pub use state::Dashboard;

const DASHBOARD_HTML: &str = include_str!("assets/dashboard.html");
const LOGIN_HTML: &str = include_str!("assets/login.html");
const APP_JS: &str = include_str!("assets/app.js");
const CHARTS_JS: &str = include_str!("assets/charts.js");
const POLICY_JS: &str = include_str!("assets/policy.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// Whether the request may see the dashboard's data: no tokens
/// configured, or an open session.
fn allowed(admin: &Control, headers: &HeaderMap) -> bool {
    admin.auth.tokens().is_empty() || admin.dashboard.sessions.actor(headers).is_some()
}

fn page(status: StatusCode, html: String) -> Response<Body> {
    let mut r = Response::new(Body::from(html));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

/// Puts the [`guard`] headers on a dashboard answer (a layer over every
/// dashboard route, so that no answer goes without them, a 405 included).
async fn guarded(mut r: Response<Body>) -> Response<Body> {
    guard(r.headers_mut());
    r
}

/// Headers every dashboard answer carries: no caching, no framing, no
/// script but its own.
fn guard(h: &mut HeaderMap) {
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    h.insert(
        http::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        http::header::X_FRAME_OPTIONS,
        HeaderValue::from_static("DENY"),
    );
    h.insert(
        http::header::REFERRER_POLICY,
        // Not `no-referrer`: that makes a form post's `Origin` null.
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

fn login_page(status: StatusCode, message: &str) -> Response<Body> {
    page(status, LOGIN_HTML.replace("{{message}}", message))
}

async fn index(State(admin): State<Control>, headers: HeaderMap) -> Response<Body> {
    if allowed(&admin, &headers) {
        page(StatusCode::OK, DASHBOARD_HTML.to_string())
    } else {
        login_page(StatusCode::OK, "")
    }
}

fn asset(kind: &'static str, text: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::from(text));
    r.headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static(kind));
    r
}

/// A POST from another site (its `Origin` is not this host) is refused.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(http::header::ORIGIN) else {
        return true;
    };
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok());
    let origin = origin.to_str().unwrap_or("");
    let origin_host = origin.split_once("://").map_or("", |(_, h)| h);
    host.is_some_and(|h| h.eq_ignore_ascii_case(origin_host))
}

/// Whether the request reached the proxy in front over HTTPS.
fn over_https(headers: &HeaderMap) -> bool {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    get("x-forwarded-proto").eq_ignore_ascii_case("https")
        || get("forwarded")
            .to_ascii_lowercase()
            .contains("proto=https")
}

fn redirect(cookie: Option<String>) -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SEE_OTHER;
    let h = r.headers_mut();
    h.insert(
        http::header::LOCATION,
        HeaderValue::from_static("/dashboard"),
    );
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.insert(http::header::SET_COOKIE, c);
    }
    r
}

fn cookie(value: &str, max_age: u64, secure: bool) -> String {
    format!(
        "{COOKIE}={value}; Path=/dashboard; Max-Age={max_age}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

async fn login(
    State(admin): State<Control>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    if !same_origin(&headers) {
        return login_page(
            StatusCode::FORBIDDEN,
            "Refused: the form came from another site.",
        );
    }
    let peer = Some(peer.ip());
    let path = "/dashboard/login";
    if let Some(secs) = admin.auth.refused_for(peer) {
        admin
            .auth
            .failed(peer, &Method::POST, path, "too many failed attempts", false);
        let mut r = login_page(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many failed attempts from this address: retry after {secs} seconds."),
        );
        r.headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
        return r;
    }
    let token = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    let tokens = admin.auth.tokens();
    let Some((name, role)) = (!token.is_empty())
        .then(|| tokens.authenticate(&token))
        .flatten()
    else {
        admin
            .auth
            .failed(peer, &Method::POST, path, "unknown token", true);
        return login_page(StatusCode::UNAUTHORIZED, "That token is not valid.");
    };
    debug_assert!(role.allows(Role::Read));
    match admin.dashboard.sessions.open(name, role) {
        Ok(id) => {
            tracing::info!(target: "floodgate::audit", actor = name, "dashboard login");
            let ttl = admin.dashboard.sessions.ttl().as_secs();
            redirect(Some(cookie(&id, ttl, over_https(&headers))))
        }
        Err(e) => {
            tracing::error!(error = %e, "no randomness for a session id");
            login_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "No session could be opened.",
            )
        }
    }
}

async fn logout(State(admin): State<Control>, headers: HeaderMap) -> Response<Body> {
    if !same_origin(&headers) {
        return login_page(
            StatusCode::FORBIDDEN,
            "Refused: the form came from another site.",
        );
    }
    admin.dashboard.sessions.close(&headers);
    redirect(Some(cookie("", 0, over_https(&headers))))
}

/// The seconds of series a query asks for (`seconds=N`, 1 to
/// [`HISTORY_SECS`](crate::analytics::HISTORY_SECS); else
/// [`data::WINDOW_SECS`]).
fn seconds(query: Option<&str>) -> usize {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "seconds")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .map_or(data::WINDOW_SECS, |n| {
            n.clamp(1, crate::analytics::HISTORY_SECS)
        })
}

async fn data(
    State(admin): State<Control>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response<Body> {
    if !allowed(&admin, &headers) {
        return crate::response::error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "log in at /dashboard first",
        );
    }
    let seconds = seconds(query.as_deref());
    crate::response::json(StatusCode::OK, data::build(&admin, seconds).await)
}

/// A dashboard route asked with a method it does not answer: the admin
/// listener's 405, here so that it carries the [`guard`] headers too.
async fn wrong_method(method: Method) -> Response<Body> {
    crate::response::error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        &format!("this admin endpoint does not answer {method}"),
    )
}

/// An embedded asset's route.
fn static_asset(kind: &'static str, text: &'static str) -> MethodRouter<Control> {
    get(move || async move { asset(kind, text) }).fallback(wrong_method)
}

/// The dashboard's routes, every answer with the [`guard`] headers.
pub fn router() -> Router<Control> {
    const JS: &str = "text/javascript; charset=utf-8";
    Router::new()
        .route("/dashboard", get(index).fallback(wrong_method))
        .route("/dashboard/login", post(login).fallback(wrong_method))
        .route("/dashboard/logout", post(logout).fallback(wrong_method))
        .route("/dashboard/data", get(data).fallback(wrong_method))
        .route("/dashboard/assets/app.js", static_asset(JS, APP_JS))
        .route("/dashboard/assets/charts.js", static_asset(JS, CHARTS_JS))
        .route("/dashboard/assets/policy.js", static_asset(JS, POLICY_JS))
        .route(
            "/dashboard/assets/app.css",
            static_asset("text/css; charset=utf-8", APP_CSS),
        )
        .layer(axum::middleware::map_response(guarded))
}
