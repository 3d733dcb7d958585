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
use floodgate_config::server::{sha256_digest, AdminRole, AdminSection, SHA256_FORMAT};
use floodgate_config::ConfigError;
use floodgate_core::algorithm::{self, State as Level};
use floodgate_core::decision::ceil_secs;
use floodgate_core::policy::{check_name, ip_key, MAX_NAME_LEN};
use floodgate_core::{Clock, LimitCheck, MemoryStore, MemoryStoreConfig, Quota, Rate, RetryAfter};
use floodgate_tower::response::{error_body, json_response};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

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

    /// The role a request needs: GET and HEAD, and the POSTs that change
    /// nothing (`/v1/check`, `/v1/policy/validate`), need `read`; every
    /// other method needs `admin`.
    pub fn needed_for(method: &Method, path: &str) -> Role {
        match *method {
            Method::GET | Method::HEAD => Role::Read,
            Method::POST if matches!(path, "/v1/check" | "/v1/policy/validate") => Role::Read,
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

#[derive(Clone)]
struct Entry {
    name: String,
    role: Role,
    digest: [u8; 32],
}

/// The admin tokens: name, role and the SHA-256 of each; never the token.
#[derive(Clone, Default)]
pub struct Tokens {
    entries: Vec<Entry>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|(n, r)| format!("{n} ({})", r.as_str())))
            .finish()
    }
}

impl Tokens {
    /// The tokens of a checked `admin:` section, then those of `env` (the
    /// value of [`ENV_VAR`]). A bad entry of `env` is located by its index
    /// and column, and never echoed.
    pub fn from_config(admin: &AdminSection, env: Option<&str>) -> Result<Tokens, ConfigError> {
        let mut entries: Vec<Entry> = admin
            .tokens
            .iter()
            .map(|t| Entry {
                name: t.name.clone(),
                role: t.role.into(),
                digest: sha256_digest(&t.sha256).expect("checked with the admin section"),
            })
            .collect();
        let env = env.filter(|v| !v.trim().is_empty());
        let mut column = 1;
        for (i, raw) in env.into_iter().flat_map(|v| v.split(',')).enumerate() {
            let at = column + raw.chars().take_while(|c| c.is_whitespace()).count();
            column += raw.chars().count() + 1;
            let entry = parse_entry(raw.trim(), &entries).map_err(|message| ConfigError {
                file: ENV_VAR.into(),
                line: 1,
                column: at,
                field: format!("[{i}]"),
                message,
            })?;
            entries.push(entry);
        }
        Ok(Tokens { entries })
    }

    /// The value of [`ENV_VAR`], if set.
    pub fn env_value() -> Result<Option<String>, ConfigError> {
        match std::env::var(ENV_VAR) {
            Ok(v) => Ok(Some(v)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError {
                file: ENV_VAR.into(),
                line: 0,
                column: 0,
                field: String::new(),
                message: "is not valid UTF-8".into(),
            }),
        }
    }

    /// Whether no token is configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many tokens there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Each token's name and role, in order (file first, then the
    /// environment).
    pub fn iter(&self) -> impl Iterator<Item = (&str, Role)> {
        self.entries.iter().map(|e| (e.name.as_str(), e.role))
    }

    /// The name and role of the token `presented` is, if any. Its SHA-256
    /// is compared with every stored digest, each comparison over all 32
    /// bytes, so the time taken says neither how much of a digest matched
    /// nor which token did.
    pub fn authenticate(&self, presented: &str) -> Option<(&str, Role)> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut hit = usize::MAX;
        for (i, e) in self.entries.iter().enumerate() {
            // All ones when equal, else zero: selects `i` without a branch.
            let mask = usize::from(same_digest(&digest, &e.digest)).wrapping_neg();
            hit = (hit & !mask) | (i & mask);
        }
        self.entries.get(hit).map(|e| (e.name.as_str(), e.role))
    }
}

/// Compares all 32 bytes, whatever the first difference.
fn same_digest(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// One `name:role:sha256` entry of the environment variable. Messages
/// never repeat what was written: a token in clear may have been put there.
fn parse_entry(raw: &str, taken: &[Entry]) -> Result<Entry, String> {
    let mut parts = raw.split(':');
    let (Some(name), Some(role), Some(sha), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("expected name:role:sha256 (entries are separated by commas)".into());
    };
    if check_name(name).is_err() {
        return Err(format!(
            "the name must be 1 to {MAX_NAME_LEN} of A-Z a-z 0-9 _ - . starting with a letter or digit"
        ));
    }
    if taken.iter().any(|e| e.name == name) {
        return Err(format!("`{name}` names another token already"));
    }
    let Some(role) = AdminRole::parse(role) else {
        return Err("the role must be `read` or `admin`".into());
    };
    let Some(digest) = sha256_digest(sha) else {
        return Err(format!("the sha256 {SHA256_FORMAT}"));
    };
    Ok(Entry {
        name: name.to_string(),
        role: role.into(),
        digest,
    })
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
            log: LogGate::new(clock.now()),
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

/// Logs of failed attempts, themselves limited: bursts of 10, then one a
/// second, with a count of the lines left out.
struct LogGate {
    quota: Quota,
    state: Mutex<(Level, u64)>,
}

impl LogGate {
    fn new(now: floodgate_core::Timestamp) -> LogGate {
        let quota = Quota::token_bucket(10, Rate::per_second(1).expect("nonzero")).expect("valid");
        LogGate {
            state: Mutex::new((Level::fresh(&quota, now), 0)),
            quota,
        }
    }

    /// The lines suppressed before this one, or none if this one is too.
    fn admit(&self, now: floodgate_core::Timestamp) -> Option<u64> {
        let mut g = self.state.lock();
        if algorithm::decide(&mut g.0, now, 1, &self.quota).allowed {
            Some(std::mem::take(&mut g.1))
        } else {
            g.1 += 1;
            None
        }
    }
}

/// The token of `Authorization: Bearer <token>`.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
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
    let tokens = auth.tokens();
    if tokens.is_empty() {
        req.extensions_mut().insert(Actor {
            name: Actor::ANONYMOUS.into(),
            role: Role::Admin,
        });
        return next.run(req).await;
    }
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let check = auth.failure_check(peer);
    let now = auth.clock.now();
    let inspected = auth
        .failures
        .inspect_sync(std::slice::from_ref(&check), now);
    if let Some(d) = inspected.first().filter(|d| !d.allowed) {
        let secs = match d.retry_after {
            Some(RetryAfter::After(after)) => ceil_secs(after).max(1),
            _ => ceil_secs(FAILURE_REFILL),
        };
        log_failure(&auth, peer, &req, "too many failed attempts");
        let mut r = json_response(
            StatusCode::TOO_MANY_REQUESTS,
            serde_json::json!({
                "error": "too_many_failed_attempts",
                "message": format!(
                    "too many failed authentication attempts from this address; retry after {secs} seconds"
                ),
                "retry_after": secs,
            })
            .to_string(),
        );
        r.headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
        return r;
    }
    let presented = bearer(req.headers());
    let Some((name, role)) = presented.and_then(|p| tokens.authenticate(p)) else {
        auth.failures.check_one(&check, now);
        let (reason, message) = match presented {
            None => (
                "no bearer token",
                "this endpoint needs Authorization: Bearer <token>",
            ),
            Some(_) => ("unknown token", "the bearer token is not valid"),
        };
        log_failure(&auth, peer, &req, reason);
        let mut r = json_response(
            StatusCode::UNAUTHORIZED,
            error_body("unauthorized", message),
        );
        r.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer"),
        );
        return r;
    };
    if !role.allows(Role::needed_for(req.method(), req.uri().path())) {
        return json_response(
            StatusCode::FORBIDDEN,
            error_body("forbidden", "this endpoint needs the admin role"),
        );
    }
    req.extensions_mut().insert(Actor {
        name: name.to_string(),
        role,
    });
    next.run(req).await
}

/// A warning for a refused attempt (if the log's own limit allows), with
/// the source address and never what was presented.
fn log_failure(auth: &Auth, peer: Option<IpAddr>, req: &Request, reason: &str) {
    let Some(suppressed) = auth.log.admit(auth.clock.now()) else {
        return;
    };
    tracing::warn!(
        target: "floodgate::admin_auth",
        client_ip = %peer.map_or_else(|| "unknown".to_string(), |ip| ip.to_string()),
        method = %req.method(),
        path = req.uri().path(),
        reason,
        suppressed_before = suppressed,
        "admin authentication failed"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use floodgate_config::server::AdminToken;

    fn hex(token: &str) -> String {
        Sha256::digest(token.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn section(tokens: &[(&str, AdminRole, &str)]) -> AdminSection {
        AdminSection {
            tokens: tokens
                .iter()
                .map(|(name, role, token)| AdminToken {
                    name: name.to_string(),
                    role: *role,
                    sha256: hex(token),
                })
                .collect(),
            ..AdminSection::default()
        }
    }

    #[test]
    fn roles_follow_the_method_and_the_two_posts_that_change_nothing() {
        let read = [
            (Method::GET, "/metrics"),
            (Method::HEAD, "/v1/policy"),
            (Method::POST, "/v1/check"),
            (Method::POST, "/v1/policy/validate"),
        ];
        for (m, p) in read {
            assert_eq!(Role::needed_for(&m, p), Role::Read, "{m} {p}");
        }
        let admin = [
            (Method::POST, "/v1/policy"),
            (Method::PUT, "/v1/check"),
            (Method::DELETE, "/v1/anything"),
            (Method::PATCH, "/metrics"),
            (Method::POST, "/v1/check/"),
        ];
        for (m, p) in admin {
            assert_eq!(Role::needed_for(&m, p), Role::Admin, "{m} {p}");
        }
        assert!(Role::Admin.allows(Role::Read) && Role::Admin.allows(Role::Admin));
        assert!(Role::Read.allows(Role::Read) && !Role::Read.allows(Role::Admin));
    }

    #[test]
    fn authenticate_finds_the_token_by_its_digest() {
        let s = section(&[
            ("ops", AdminRole::Admin, "ops-token-0123456789"),
            ("grafana", AdminRole::Read, "grafana-token-0123456789"),
        ]);
        let t = Tokens::from_config(&s, None).unwrap();
        assert_eq!(
            t.authenticate("grafana-token-0123456789"),
            Some(("grafana", Role::Read))
        );
        assert_eq!(
            t.authenticate("ops-token-0123456789"),
            Some(("ops", Role::Admin))
        );
        for wrong in [
            "",
            "ops",
            "ops-token-012345678",
            "ops-token-01234567890",
            &hex("ops-token-0123456789"),
        ] {
            assert_eq!(t.authenticate(wrong), None, "{wrong}");
        }
        assert_eq!(Tokens::default().authenticate(""), None);
        // Debug shows names and roles only.
        let shown = format!("{t:?}");
        assert_eq!(shown, r#"["ops (admin)", "grafana (read)"]"#);
    }

    #[test]
    fn the_environment_adds_tokens_and_a_bad_entry_is_located_not_echoed() {
        let s = section(&[("ops", AdminRole::Admin, "ops-token-0123456789")]);
        let env = format!("ci:read:{}, deploy:admin:{}", hex("ci-1"), hex("deploy-1"));
        let t = Tokens::from_config(&s, Some(&env)).unwrap();
        let names: Vec<_> = t.iter().collect();
        assert_eq!(
            names,
            [
                ("ops", Role::Admin),
                ("ci", Role::Read),
                ("deploy", Role::Admin)
            ]
        );
        assert_eq!(t.authenticate("deploy-1"), Some(("deploy", Role::Admin)));
        assert!(Tokens::from_config(&s, Some("")).unwrap().len() == 1);

        let good = format!("ci:read:{}", hex("ci-1"));
        let secret = "s3cret-s3cret-s3cret";
        for (entry, col_of_bad, msg) in [
            (
                format!("{good},ci:admin:{}", hex("x")),
                1,
                "`ci` names another token",
            ),
            (
                format!("{good},ops:read:{}", hex("x")),
                1,
                "`ops` names another token",
            ),
            (format!("{good}, {secret}"), 1, "expected name:role:sha256"),
            (format!("{good},x:root:{secret}"), 1, "the role must be"),
            (format!("{good},x:read:{secret}"), 1, "64 lowercase hex"),
            (
                format!("{good},{secret}!:read:{}", hex("x")),
                1,
                "the name must be",
            ),
            (format!("{good},"), 1, "expected name:role:sha256"),
        ] {
            let e = Tokens::from_config(&s, Some(&entry)).unwrap_err();
            assert_eq!(e.field, format!("[{col_of_bad}]"), "{entry}");
            assert_eq!(e.file, ENV_VAR);
            let shown = e.to_string();
            assert!(shown.contains(msg), "{shown}");
            assert!(!shown.contains(secret), "{shown}");
            assert!(shown.starts_with(&format!("{ENV_VAR}:1:")), "{shown}");
        }
        let e = Tokens::from_config(&s, Some(&format!("{good},  {secret}"))).unwrap_err();
        assert_eq!(e.column, good.len() + 4);
    }

    #[test]
    fn bearer_takes_the_scheme_in_any_case() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        for (v, want) in [
            ("Bearer abc", Some("abc")),
            ("bearer abc", Some("abc")),
            ("Bearer  abc ", Some("abc")),
            ("Bearer ", None),
            ("Basic abc", None),
            ("abc", None),
        ] {
            h.insert(http::header::AUTHORIZATION, HeaderValue::from_static(v));
            assert_eq!(bearer(&h), want, "{v}");
        }
    }
}
