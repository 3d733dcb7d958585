//! Admin authentication: named bearer tokens with a role each, kept only as
//! SHA-256 digests, from `admin.tokens` and `FLOODGATE_ADMIN_TOKENS`.
//!
//! [`require`] is the admin router's middleware: `/healthz` and `/readyz`
//! pass; with no token configured (a loopback listener, as the config
//! enforces) every request passes as `anonymous` with the admin role;
//! otherwise a request needs `Authorization: Bearer <token>` (401), a role
//! that may do what it asks (403), and an address that has not failed too
//! often lately (429). Handlers find the caller as an [`Actor`] extension.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use floodgate_config::server::AdminRole;
use floodgate_core::decision::ceil_secs;
use floodgate_core::gate::LogGate;
use floodgate_core::policy::ip_key;
use floodgate_core::{Clock, LimitCheck, MemoryStore, MemoryStoreConfig, Quota, Rate, RetryAfter};
use http::{HeaderValue, Method, Response, StatusCode};

#[cfg(test)]
mod tests;
mod tokens;

pub use tokens::Tokens;
/// The environment variable that adds tokens: comma-separated
/// `name:role:sha256` entries.
pub const ENV_VAR: &str = "FLOODGATE_ADMIN_TOKENS";

/// Failed attempts an address may make in a burst.
pub const FAILURE_BURST: u64 = 10;
/// One more failed attempt is allowed this often.
pub const FAILURE_REFILL: Duration = Duration::from_secs(6);

/// What a token may do. `Admin` may do everything `Read` may.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Read-only endpoints, and those that change nothing.
    Read,
    /// Every endpoint.
    Admin,
}

impl Role {
    /// Whether this role may do what `needed` may.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }

    /// `read` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Admin => "admin",
        }
    }

    /// The role a request needs: GET and HEAD, the POSTs that change
    /// nothing (`/v1/policy/validate`) and the decision API (`/v1/check`,
    /// `/v1/acquire`, `/v1/release`, `/v1/renew`), need `read`; every other
    /// method needs `admin`.
    pub fn needed_for(method: &Method, path: &str) -> Role {
        match *method {
            Method::GET | Method::HEAD => Role::Read,
            Method::POST
                if matches!(
                    path,
                    "/v1/check"
                        | "/v1/acquire"
                        | "/v1/release"
                        | "/v1/renew"
                        | "/v1/policy/validate"
                ) =>
            {
                Role::Read
            }
            _ => Role::Admin,
        }
    }
}

impl From<AdminRole> for Role {
    fn from(r: AdminRole) -> Role {
        match r {
            AdminRole::Read => Role::Read,
            AdminRole::Admin => Role::Admin,
        }
    }
}

/// Who made an admin request, as the middleware found: a request
/// extension (`axum::Extension<Actor>`) for handlers and the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The token's name, or [`Actor::ANONYMOUS`] when no token is
    /// configured.
    pub name: String,
    /// Its role.
    pub role: Role,
}

impl Actor {
    /// The actor's name when the admin listener needs no token.
    pub const ANONYMOUS: &'static str = "anonymous";
}

/// The admin listener's authentication state: the tokens (swapped by
/// reloads) and the failed attempts of each address.
pub struct Auth {
    tokens: ArcSwap<Tokens>,
    clock: Arc<dyn Clock>,
    failures: MemoryStore,
    failure_quota: Quota,
    log: LogGate,
}

impl Auth {
    /// `tokens`, with failures paced by `clock`.
    pub fn new(tokens: Tokens, clock: Arc<dyn Clock>) -> Auth {
        let refill = Rate::new(1, FAILURE_REFILL).expect("a valid rate");
        Auth {
            tokens: ArcSwap::from_pointee(tokens),
            failures: MemoryStore::new(MemoryStoreConfig {
                max_keys: 100_000,
                shards: 8,
                ..MemoryStoreConfig::default()
            }),
            failure_quota: Quota::token_bucket(FAILURE_BURST, refill).expect("a valid quota"),
            // Logs of failed attempts, themselves limited: bursts of 10,
            // then one a second, with a count of the lines left out.
            log: LogGate::new(10, 1, clock.clone()),
            clock,
        }
    }

    /// The tokens now in force.
    pub fn tokens(&self) -> Arc<Tokens> {
        self.tokens.load_full()
    }

    /// Replaces the tokens (a reload); requests in flight keep their actor.
    pub fn set_tokens(&self, tokens: Tokens) {
        self.tokens.store(Arc::new(tokens));
    }

    fn failure_check(&self, peer: Option<IpAddr>) -> LimitCheck {
        let who = peer.map_or_else(|| "unknown".to_string(), |ip| ip_key(ip, 64).to_string());
        LimitCheck::new(
            "admin-auth-failures".into(),
            who.into(),
            self.failure_quota,
            1,
        )
    }
}

/// The token of `Authorization: Bearer <token>`.
fn bearer(authorization: &HeaderValue) -> Option<&str> {
    let v = authorization.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The admin router's middleware (see the module docs).
pub async fn require(
    State(auth): State<Arc<Auth>>,
    mut req: Request,
    next: Next,
) -> Response<Body> {
    let path = req.uri().path();
    if path == "/healthz" || path == "/readyz" {
        return next.run(req).await;
    }
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    // A token sent to a listener without tokens is not checked: the
    // answer says so, so that nobody believes it was.
    let unchecked =
        req.headers().contains_key(http::header::AUTHORIZATION) && auth.tokens().is_empty();
    match authorize(&auth, peer, req.method(), req.uri().path(), req.headers()) {
        Ok(actor) => {
            req.extensions_mut().insert(actor);
            let mut r = next.run(req).await;
            if unchecked {
                r.headers_mut()
                    .insert(ACTOR_HEADER, HeaderValue::from_static(UNCHECKED));
            }
            r
        }
        Err(refused) => *refused,
    }
}

/// The header an answer carries when the request's token was not checked
/// (no admin tokens are configured).
pub const ACTOR_HEADER: &str = "floodgate-actor";

/// Its value.
pub const UNCHECKED: &str =
    "anonymous; the token was not checked: this listener has no admin tokens";

/// Who is asking for `method` `path` from `peer`, with `headers`, and
/// whether their role allows it: the actor, or the answer that refuses
/// them (401, 403, or 429 after too many failures). Without tokens,
/// everyone is the anonymous admin.
pub fn authorize(
    auth: &Auth,
    peer: Option<IpAddr>,
    method: &Method,
    path: &str,
    headers: &http::HeaderMap,
) -> Result<Actor, Box<Response<Body>>> {
    authorize_header(
        auth,
        peer,
        method,
        path,
        headers.get(http::header::AUTHORIZATION),
    )
}

/// [`authorize`], given the request's `Authorization` header alone.
pub fn authorize_header(
    auth: &Auth,
    peer: Option<IpAddr>,
    method: &Method,
    path: &str,
    authorization: Option<&HeaderValue>,
) -> Result<Actor, Box<Response<Body>>> {
    let tokens = auth.tokens();
    if tokens.is_empty() {
        return Ok(Actor {
            name: Actor::ANONYMOUS.into(),
            role: Role::Admin,
        });
    }
    if let Some(secs) = auth.refused_for(peer) {
        auth.failed(peer, method, path, "too many failed attempts", false);
        return Err(Box::new(too_many_failures(secs)));
    }
    let presented = authorization.and_then(bearer);
    let Some((name, role)) = presented.and_then(|p| tokens.authenticate(p)) else {
        let (reason, message) = match presented {
            None => (
                "no bearer token",
                "this endpoint needs Authorization: Bearer <token>",
            ),
            Some(_) => ("unknown token", "the bearer token is not valid"),
        };
        auth.failed(peer, method, path, reason, true);
        let mut r = crate::response::error(StatusCode::UNAUTHORIZED, "unauthorized", message);
        r.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer"),
        );
        return Err(Box::new(r));
    };
    if !role.allows(Role::needed_for(method, path)) {
        return Err(Box::new(crate::response::error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this endpoint needs the admin role",
        )));
    }
    Ok(Actor {
        name: name.to_string(),
        role,
    })
}

/// The answer to an address that failed too often: 429, retry after
/// `secs`.
pub fn too_many_failures(secs: u64) -> Response<Body> {
    let mut r = crate::response::json(
        StatusCode::TOO_MANY_REQUESTS,
        serde_json::json!({
            "error": "too_many_failed_attempts",
            "message": format!(
                "too many failed authentication attempts from this address; retry after {secs} seconds"
            ),
            "retry_after": secs,
        }),
    );
    r.headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
    r
}

impl Auth {
    /// The seconds `peer` must wait when it failed too often lately.
    pub fn refused_for(&self, peer: Option<IpAddr>) -> Option<u64> {
        let check = self.failure_check(peer);
        let inspected = self
            .failures
            .inspect_sync(std::slice::from_ref(&check), self.clock.now());
        let d = inspected.first().filter(|d| !d.allowed)?;
        Some(match d.retry_after {
            Some(RetryAfter::After(after)) => ceil_secs(after).max(1),
            _ => ceil_secs(FAILURE_REFILL),
        })
    }

    /// A refused attempt of `peer`: counted against it when `count`, and
    /// logged (if the log's own limit allows) with the source address and
    /// never what was presented.
    pub fn failed(
        &self,
        peer: Option<IpAddr>,
        method: &Method,
        path: &str,
        reason: &str,
        count: bool,
    ) {
        if count {
            self.failures
                .check_one(&self.failure_check(peer), self.clock.now());
        }
        let Some(suppressed) = self.log.admit() else {
            return;
        };
        tracing::warn!(
            target: "floodgate::admin_auth",
            client_ip = %peer.map_or_else(|| "unknown".to_string(), |ip| ip.to_string()),
            method = %method,
            path,
            reason,
            suppressed_before = suppressed,
            "admin authentication failed"
        );
    }
}
