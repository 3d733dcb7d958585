//! The policy engine: which rules and limits apply to a request, under
//! which key, and the verdict over all of them.
//!
//! Every matching rule applies, plus the global limits. All enforced limits
//! of one request go to the store in one atomic call: if one denies, none
//! consumes. Each shadow rule is decided in a call of its own, so it is
//! counted as if it were enforced but never changes the verdict.

pub mod config;
pub mod locate;
pub mod units;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::decision::{Decision, RetryAfter};
use crate::quota::Quota;
pub use crate::store::FailureMode;
use crate::store::{LimitCheck, Store, StoreError};
use crate::time::Timestamp;

pub use config::{parse_policy, ConfigError, PolicyConfig};

/// A validated policy.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Tier names.
    pub tiers: Vec<Arc<str>>,
    /// Tier of clients without a known API key.
    pub default_tier: Option<Arc<str>>,
    /// API key → tier.
    pub clients: HashMap<String, Arc<str>>,
    /// Where identities come from.
    pub identity: Identity,
    /// Rules, in file order.
    pub rules: Vec<Rule>,
    /// Limits over all traffic (key `global`).
    pub global: Vec<Limit>,
}

/// Where client identities come from.
#[derive(Clone, Debug)]
pub struct Identity {
    /// Header carrying the API key (lower case).
    pub api_key_header: String,
    /// Header carrying the user id (lower case).
    pub user_header: String,
    /// Refuse requests without a known API key.
    pub require_api_key: bool,
    /// IPv6 clients are keyed by this prefix length.
    pub ipv6_prefix: u8,
}

impl Default for Identity {
    fn default() -> Self {
        Identity {
            api_key_header: "x-api-key".into(),
            user_header: "x-user-id".into(),
            require_api_key: false,
            ipv6_prefix: 64,
        }
    }
}

impl Identity {
    /// The one way to build the request the engine decides from what is
    /// known of it: the client IP (already resolved), method, path (a query
    /// is cut off) and a header lookup (`header` gets a lower-case name;
    /// empty values count as absent), which gives the API key and user.
    pub fn request<'a>(
        &self,
        ip: Option<IpAddr>,
        method: &'a str,
        path: &'a str,
        header: impl Fn(&str) -> Option<&'a str>,
    ) -> Request<'a> {
        let present = |name: &str| header(name).filter(|v| !v.is_empty());
        Request {
            ip,
            method,
            path: path.split('?').next().unwrap_or(path),
            api_key: present(&self.api_key_header),
            user: present(&self.user_header),
        }
    }
}

/// A rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Unique name.
    pub name: Arc<str>,
    /// Which requests.
    pub matcher: Matcher,
    /// Whose counter.
    pub key: Vec<KeyPart>,
    /// Limits for clients whose tier has no override.
    pub limits: Vec<Limit>,
    /// Per-tier limits replacing `limits`.
    pub tiers: HashMap<Arc<str>, Vec<Limit>>,
    /// Decide and report, never deny.
    pub shadow: bool,
    /// What to do when the store fails (the store's default when `None`).
    pub on_store_failure: Option<FailureMode>,
}

/// The rule a limit id belongs to (limit ids are `rule/name/hash`, or
/// `rule@tier/name/hash` for tier overrides).
pub fn rule_of_limit_id(limit_id: &str) -> &str {
    let end = limit_id.find(['/', '@']).unwrap_or(limit_id.len());
    &limit_id[..end]
}

/// One limit of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limit {
    /// Name in headers and reports.
    pub name: Arc<str>,
    /// The algorithm.
    pub quota: Quota,
    /// Store identity: rule, name and a fingerprint of the quota, so that a
    /// changed limit starts afresh and an unchanged one keeps its counters.
    pub id: Arc<str>,
}

impl Limit {
    /// A limit of `rule` named `name`.
    pub fn new(rule: &str, name: &str, quota: Quota) -> Limit {
        let mut h = crate::hash::Fnv1a::default();
        quota.hash(&mut h);
        Limit {
            name: Arc::from(name),
            quota,
            id: Arc::from(format!("{rule}/{name}/{:08x}", h.finish() as u32)),
        }
    }
}

/// One part of a rule's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyPart {
    /// The client IP (IPv6 by prefix).
    Ip,
    /// The API key (stored as a fingerprint); the IP when there is none.
    ApiKey,
    /// The user id; the IP when there is none.
    User,
    /// Method and path of the request.
    Route,
    /// Everyone together.
    Global,
}

/// Request matching.
#[derive(Clone, Debug)]
pub struct Matcher {
    /// Path pattern.
    pub path: PathPattern,
    /// Methods, upper case (any when empty).
    pub methods: Vec<String>,
}

impl Matcher {
    /// Whether a request matches.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        self.path.matches(path)
            && (self.methods.is_empty()
                || self.methods.iter().any(|m| m.eq_ignore_ascii_case(method)))
    }
}

/// A path pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathPattern {
    /// Every path.
    Any,
    /// Exactly this path.
    Exact(String),
    /// `/api/*`: `/api` itself and everything under `/api/`.
    Prefix(String),
}

impl std::fmt::Display for PathPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathPattern::Any => f.write_str("*"),
            PathPattern::Exact(p) => f.write_str(p),
            PathPattern::Prefix(p) => write!(f, "{p}/*"),
        }
    }
}

impl std::fmt::Display for KeyPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyPart::Ip => "ip",
            KeyPart::ApiKey => "api_key",
            KeyPart::User => "user",
            KeyPart::Route => "route",
            KeyPart::Global => "global",
        })
    }
}

impl PathPattern {
    /// Parses `/exact`, `/prefix/*` or `*`.
    pub fn parse(p: &str) -> Result<PathPattern, String> {
        if p == "*" || p == "/*" {
            return Ok(PathPattern::Any);
        }
        if !p.starts_with('/') {
            return Err(format!("path `{p}` must start with /"));
        }
        if let Some(prefix) = p.strip_suffix("/*") {
            if prefix.contains('*') {
                return Err(format!("path `{p}`: `*` is only allowed at the end, as /*"));
            }
            return Ok(PathPattern::Prefix(prefix.to_string()));
        }
        if p.contains('*') {
            return Err(format!("path `{p}`: `*` is only allowed at the end, as /*"));
        }
        Ok(PathPattern::Exact(p.to_string()))
    }

    /// Whether `path` (without query) matches.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathPattern::Any => true,
            PathPattern::Exact(p) => p == path,
            PathPattern::Prefix(p) => {
                path.starts_with(p.as_str())
                    && (path.len() == p.len() || path.as_bytes()[p.len()] == b'/')
            }
        }
    }
}

/// What the engine knows of a request.
#[derive(Clone, Debug, Default)]
pub struct Request<'a> {
    /// Client IP (already resolved through trusted proxies).
    pub ip: Option<IpAddr>,
    /// HTTP method.
    pub method: &'a str,
    /// Path, without the query.
    pub path: &'a str,
    /// API key, if sent.
    pub api_key: Option<&'a str>,
    /// User id, if sent.
    pub user: Option<&'a str>,
}

/// One limit's part in a verdict.
#[derive(Clone, Debug)]
pub struct LimitOutcome {
    /// The rule (`global` for global limits).
    pub rule: Arc<str>,
    /// The limit's name.
    pub limit: Arc<str>,
    /// Its quota.
    pub quota: Quota,
    /// Whether it belongs to a shadow rule.
    pub shadow: bool,
    /// Its decision.
    pub decision: Decision,
}

/// The verdict on one request.
#[derive(Clone, Debug)]
pub struct Verdict {
    /// Whether the request may go on.
    pub allowed: bool,
    /// The client's tier.
    pub tier: Option<Arc<str>>,
    /// Every limit decided, enforced ones first.
    pub outcomes: Vec<LimitOutcome>,
}

impl Verdict {
    /// The limit that speaks for the request: when denied, the enforced
    /// limit that denied with the longest wait; when allowed, the enforced
    /// limit with the least remaining. `None` when no enforced limit
    /// applied.
    pub fn deciding(&self) -> Option<&LimitOutcome> {
        let enforced = self.outcomes.iter().filter(|o| !o.shadow);
        if self.allowed {
            enforced.min_by_key(|o| {
                (
                    o.decision.remaining,
                    std::cmp::Reverse(o.decision.reset_after),
                )
            })
        } else {
            enforced
                .filter(|o| !o.decision.allowed)
                .max_by_key(|o| match o.decision.retry_after {
                    Some(RetryAfter::Never) => Duration::MAX,
                    Some(RetryAfter::After(d)) => d,
                    None => Duration::ZERO,
                })
        }
    }

    /// How long to hold the request (shaping limits).
    pub fn delay(&self) -> Duration {
        if !self.allowed {
            return Duration::ZERO;
        }
        self.outcomes
            .iter()
            .filter(|o| !o.shadow)
            .map(|o| o.decision.delay)
            .max()
            .unwrap_or(Duration::ZERO)
    }

    /// Shadow rules that would have denied this request.
    pub fn shadow_denials(&self) -> impl Iterator<Item = &LimitOutcome> {
        self.outcomes
            .iter()
            .filter(|o| o.shadow && !o.decision.allowed)
    }
}

/// Why a request was not decided.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The policy requires an API key and the request has none.
    #[error("an API key is required")]
    MissingApiKey,
    /// The policy requires a known API key and this one is not.
    #[error("unknown API key")]
    UnknownApiKey,
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// A short, stable fingerprint of an API key: safe to log and to use in
/// store keys, useless for calling the API.
pub fn fingerprint(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let mut out = String::with_capacity(16);
    for b in &digest[..8] {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The IP as keyed: IPv4 as is, IPv6 masked to `prefix` bits.
pub fn ip_key(ip: IpAddr, ipv6_prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let bits = u128::from(v6);
            let p = u32::from(ipv6_prefix.min(128));
            let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
            IpAddr::V6((bits & mask).into())
        }
    }
}

/// Escapes what would make two identities ambiguous (`|`), or break Redis
/// hash tags (`{`, `}`).
fn push_escaped(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '%' => out.push_str("%25"),
            '|' => out.push_str("%7C"),
            '{' => out.push_str("%7B"),
            '}' => out.push_str("%7D"),
            c => out.push(c),
        }
    }
}

/// The planned checks of one request.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// The client's tier.
    pub tier: Option<Arc<str>>,
    /// Enforced limits, decided together.
    pub enforced: Group,
    /// Shadow rules, each decided on its own.
    pub shadow: Vec<Group>,
}

/// Checks decided in one store call, with the rule and limit name of each.
#[derive(Clone, Debug, Default)]
pub struct Group {
    /// What the store decides.
    pub checks: Vec<LimitCheck>,
    /// `(rule, limit name)` of each check, in the same order.
    pub owners: Vec<(Arc<str>, Arc<str>)>,
}

impl Group {
    fn push(
        &mut self,
        rule: &Arc<str>,
        on_failure: Option<FailureMode>,
        limit: &Limit,
        identity: &Arc<str>,
        cost: u64,
    ) {
        self.checks.push(LimitCheck {
            limit_id: limit.id.clone(),
            identity: identity.clone(),
            quota: limit.quota,
            cost,
            on_failure,
        });
        self.owners.push((rule.clone(), limit.name.clone()));
    }

    /// Pairs the store's decisions with their owners.
    fn outcomes(
        self,
        decisions: Vec<Decision>,
        shadow: bool,
    ) -> impl Iterator<Item = LimitOutcome> {
        self.owners.into_iter().zip(self.checks).zip(decisions).map(
            move |(((rule, limit), check), decision)| LimitOutcome {
                rule,
                limit,
                quota: check.quota,
                shadow,
                decision,
            },
        )
    }
}

/// The rule name and identity of global limits, shared by every request.
static GLOBAL: std::sync::LazyLock<(Arc<str>, Arc<str>)> =
    std::sync::LazyLock::new(|| (Arc::from("global"), Arc::from("g")));

impl Policy {
    /// The tier of a request, or why it is refused.
    pub fn tier_of(&self, api_key: Option<&str>) -> Result<Option<Arc<str>>, CheckError> {
        match api_key.and_then(|k| self.clients.get(k)) {
            Some(t) => Ok(Some(t.clone())),
            None if self.identity.require_api_key => Err(match api_key {
                None => CheckError::MissingApiKey,
                Some(_) => CheckError::UnknownApiKey,
            }),
            None => Ok(self.default_tier.clone()),
        }
    }

    fn identity(&self, parts: &[KeyPart], req: &Request<'_>) -> Arc<str> {
        let mut out = String::with_capacity(48);
        let ip = |out: &mut String| match req.ip {
            Some(ip) => {
                let _ = write!(out, "i:{}", ip_key(ip, self.identity.ipv6_prefix));
            }
            None => out.push_str("i:unknown"),
        };
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                out.push('|');
            }
            match p {
                KeyPart::Ip => ip(&mut out),
                KeyPart::ApiKey => match req.api_key {
                    Some(k) => {
                        out.push_str("k:");
                        out.push_str(&fingerprint(k));
                    }
                    None => ip(&mut out),
                },
                KeyPart::User => match req.user {
                    Some(u) => {
                        out.push_str("u:");
                        push_escaped(&mut out, u);
                    }
                    None => ip(&mut out),
                },
                KeyPart::Route => {
                    out.push_str("r:");
                    push_escaped(&mut out, &req.method.to_ascii_uppercase());
                    out.push(' ');
                    push_escaped(&mut out, req.path);
                }
                KeyPart::Global => out.push('g'),
            }
        }
        Arc::from(out)
    }

    /// Which limits apply to `req`, under which keys.
    pub fn plan(&self, req: &Request<'_>, cost: u64) -> Result<Plan, CheckError> {
        let tier = self.tier_of(req.api_key)?;
        let mut plan = Plan {
            tier: tier.clone(),
            ..Plan::default()
        };
        for rule in &self.rules {
            if !rule.matcher.matches(req.method, req.path) {
                continue;
            }
            let limits = tier
                .as_ref()
                .and_then(|t| rule.tiers.get(t))
                .unwrap_or(&rule.limits);
            if limits.is_empty() {
                continue;
            }
            let identity = self.identity(&rule.key, req);
            let group = if rule.shadow {
                plan.shadow.push(Group::default());
                plan.shadow.last_mut().expect("just pushed")
            } else {
                &mut plan.enforced
            };
            for l in limits {
                group.push(&rule.name, rule.on_store_failure, l, &identity, cost);
            }
        }
        let (global, identity) = &*GLOBAL;
        for l in &self.global {
            plan.enforced.push(global, None, l, identity, cost);
        }
        Ok(plan)
    }
}

/// A policy and a store: decides requests.
pub struct Limiter {
    policy: Arc<Policy>,
    store: Arc<dyn Store>,
}

impl Limiter {
    /// A limiter deciding `policy` on `store`.
    pub fn new(policy: Arc<Policy>, store: Arc<dyn Store>) -> Limiter {
        Limiter { policy, store }
    }

    /// The policy.
    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Decides `req` of `cost` at `now`.
    pub async fn check(
        &self,
        req: &Request<'_>,
        cost: u64,
        now: Timestamp,
    ) -> Result<Verdict, CheckError> {
        let plan = self.policy.plan(req, cost)?;
        let mut outcomes = Vec::with_capacity(plan.enforced.checks.len());
        let mut allowed = true;
        if !plan.enforced.checks.is_empty() {
            let decisions = self.store.check(&plan.enforced.checks, now).await?;
            allowed = decisions.iter().all(|d| d.allowed);
            outcomes.extend(plan.enforced.outcomes(decisions, false));
        }
        for group in plan.shadow {
            let decisions = self.store.check(&group.checks, now).await?;
            outcomes.extend(group.outcomes(decisions, true));
        }
        Ok(Verdict {
            allowed,
            tier: plan.tier,
            outcomes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_ids_name_their_rule() {
        let q = Quota::fixed_window(1, Duration::from_secs(1)).unwrap();
        assert_eq!(rule_of_limit_id(&Limit::new("api", "daily", q).id), "api");
        assert_eq!(
            rule_of_limit_id(&Limit::new("api@pro", "daily", q).id),
            "api"
        );
        assert_eq!(rule_of_limit_id("global/global/0"), "global");
    }

    #[test]
    fn path_patterns() {
        let p = PathPattern::parse("/api/*").unwrap();
        assert!(p.matches("/api"));
        assert!(p.matches("/api/v1/x"));
        assert!(!p.matches("/apix"));
        assert!(!p.matches("/other"));
        let e = PathPattern::parse("/login").unwrap();
        assert!(e.matches("/login"));
        assert!(!e.matches("/login/x"));
        assert!(PathPattern::parse("login").is_err());
        assert!(PathPattern::parse("/a*/b").is_err());
        assert_eq!(PathPattern::parse("*").unwrap(), PathPattern::Any);
    }

    #[test]
    fn ipv6_is_keyed_by_prefix() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ip_key(a, 64), ip_key(b, 64));
        assert_ne!(ip_key(a, 64), ip_key(c, 64));
        let v4: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(ip_key(v4, 64), "10.0.0.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn fingerprints_hide_keys() {
        let f = fingerprint("key-abc");
        assert_eq!(f.len(), 16);
        assert!(!f.contains("abc"));
        assert_eq!(f, fingerprint("key-abc"));
        assert_ne!(f, fingerprint("key-abd"));
    }
}
