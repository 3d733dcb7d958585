//! The validated policy: tiers, clients, identity settings, rules and
//! their limits (names are checked in `names`).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::Hasher;
use std::sync::Arc;

pub use super::names::{check_name, NameError, MAX_NAME_LEN};
use crate::quota::Quota;
use crate::store::FailureMode;

/// A validated policy.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Tier names.
    pub tiers: Vec<Arc<str>>,
    /// Tier of clients without a known API key.
    pub default_tier: Option<Arc<str>>,
    /// Known clients, by the SHA-256 digest of their API key (keys are
    /// never held in clear): a book shared by the policy versions built on
    /// it, and changed in place.
    pub clients: Arc<super::clients::ClientBook>,
    /// Where identities come from.
    pub identity: Identity,
    /// Rules, in file order.
    pub rules: Vec<Rule>,
    /// Limits over all traffic (key `global`).
    pub global: Vec<Limit>,
    /// Limits for one identity of one rule, replacing the rule's (rule
    /// name → identity → override).
    pub overrides: Overrides,
    /// What a 429 says beyond the default (`errors:`).
    pub errors: super::errors::ErrorSettings,
}

/// Overrides by rule name, then identity.
pub type Overrides = HashMap<Arc<str>, HashMap<Arc<str>, Override>>;

pub use super::clients::{Client, KeyDigest};

/// Limits that replace a rule's (and its tiers') for one identity, until
/// they expire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    /// The limits in force instead.
    pub limits: Vec<Limit>,
    /// When the override stops applying (`None`: never).
    pub expires_at: Option<crate::time::Timestamp>,
}

impl Override {
    /// Whether it applies at `now`.
    pub fn live_at(&self, now: crate::time::Timestamp) -> bool {
        self.expires_at.is_none_or(|e| now < e)
    }
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
    /// Who may set the user header.
    pub user_header_from: HeaderTrust,
    /// Verified tokens, when set.
    #[cfg(feature = "jwt")]
    pub jwt: Option<Arc<crate::policy::jwt::Jwt>>,
}

/// Whose plain identity headers count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HeaderTrust {
    /// Anyone's.
    #[default]
    Anyone,
    /// Only those of a socket peer among the trusted proxies.
    TrustedProxies,
}

impl Default for Identity {
    fn default() -> Self {
        Identity {
            api_key_header: "x-api-key".into(),
            user_header: "x-user-id".into(),
            require_api_key: false,
            ipv6_prefix: 64,
            user_header_from: HeaderTrust::Anyone,
            #[cfg(feature = "jwt")]
            jwt: None,
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
    /// Descriptor rules only: rules this one replaces when both apply to
    /// one call (as the reference service's `replaces`).
    pub replaces: Vec<Arc<str>>,
    /// What its 429 says beyond the default (the rule's `error:`).
    pub error: super::errors::ErrorText,
}

/// One limit of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limit {
    /// Name in headers and reports.
    pub name: Arc<str>,
    /// The algorithm.
    pub quota: Quota,
    /// Store identity: rule, name and a fingerprint of the quota's state
    /// shape ([`Quota::hash_state_shape`]), so that a limit whose numbers
    /// change keeps its counters where its algorithm allows, and one whose
    /// algorithm, unit or window changes starts afresh.
    pub id: Arc<str>,
    /// The soft share, in thousandths of the limit (1 to 999): a request
    /// that leaves more of the limit used is allowed but marked degraded.
    /// It changes no counter.
    pub soft: Option<u16>,
    /// Decided from leased slices of its quota, on these terms (`sync:
    /// leased`); `None`: every decision on the store. It changes no
    /// counter: exact and leased replicas share the key.
    pub sync: Option<crate::store::SliceTerms>,
    /// Where it is counted when replicas run in several regions (`scope`
    /// in the policy); it changes no counter's key.
    pub scope: crate::store::Scope,
}

impl Limit {
    /// A limit named `name` of `rule` (of its override for `tier`, if
    /// any). Its id is `rule/name/fingerprint`, or
    /// `rule@tier/name/fingerprint` for a tier override, each part escaped
    /// (`%`, `/`, `@`, `!` as `%25`, `%2F`, `%40`, `%21`), so that no two limits ever
    /// share an id whatever their names. Names of the allowed set (see
    /// [`check_name`]) need no escaping: their ids read as written.
    pub fn new(rule: &str, tier: Option<&str>, name: &str, quota: Quota) -> Limit {
        Limit::build(rule, tier.map(|t| ('@', t)), name, quota)
    }

    /// A limit named `name` of an override of `rule` (for one identity):
    /// its id is `rule!/name/fingerprint`, apart from every limit of the
    /// rule and its tiers.
    pub fn for_override(rule: &str, name: &str, quota: Quota) -> Limit {
        Limit::build(rule, Some(('!', "")), name, quota)
    }

    /// The same limit decided from leased slices on `sync`'s terms (or
    /// exactly, with `None`).
    pub fn with_sync(mut self, sync: Option<crate::store::SliceTerms>) -> Limit {
        self.sync = sync;
        self
    }

    /// The same limit counted in `scope`.
    pub fn with_scope(mut self, scope: crate::store::Scope) -> Limit {
        self.scope = scope;
        self
    }

    /// The same limit with a soft share (thousandths of the limit).
    pub fn with_soft(mut self, soft: Option<u16>) -> Limit {
        self.soft = soft;
        self
    }

    fn build(rule: &str, scope: Option<(char, &str)>, name: &str, quota: Quota) -> Limit {
        let mut h = crate::hash::Fnv1a::default();
        quota.hash_state_shape(&mut h);
        let mut id = String::with_capacity(rule.len() + name.len() + 16);
        push_id_part(&mut id, rule);
        if let Some((mark, scope)) = scope {
            id.push(mark);
            push_id_part(&mut id, scope);
        }
        id.push('/');
        push_id_part(&mut id, name);
        let _ = write!(id, "/{:08x}", h.finish() as u32);
        Limit {
            name: Arc::from(name),
            quota,
            id: Arc::from(id),
            soft: None,
            sync: None,
            scope: crate::store::Scope::Region,
        }
    }
}

fn push_id_part(out: &mut String, part: &str) {
    for c in part.chars() {
        match c {
            '%' => out.push_str("%25"),
            '/' => out.push_str("%2F"),
            '@' => out.push_str("%40"),
            '!' => out.push_str("%21"),
            c => out.push(c),
        }
    }
}

/// A path pattern that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// It does not start with `/`.
    #[error("path `{0}` must start with /")]
    NoSlash(String),
    /// A `*` elsewhere than a final `/*`.
    #[error("path `{0}`: `*` is only allowed at the end, as /*")]
    Star(String),
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
    /// The entries of the descriptor (descriptor rules only).
    Descriptor,
}

/// Request matching: an HTTP request by path and methods, or (with
/// `descriptor`) a descriptor of Envoy's rate limit service API, never
/// both.
#[derive(Clone, Debug)]
pub struct Matcher {
    /// Path pattern.
    pub path: PathPattern,
    /// Methods, upper case (any when empty).
    pub methods: Vec<String>,
    /// Domain and descriptor entries: a descriptor rule.
    pub descriptor: Option<super::pattern::DescriptorMatch>,
}

impl Matcher {
    /// Whether an HTTP request matches (a descriptor rule never does).
    pub fn matches(&self, method: &str, path: &str) -> bool {
        self.descriptor.is_none()
            && self.path.matches(path)
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
            KeyPart::Descriptor => "descriptor",
        })
    }
}

impl PathPattern {
    /// Parses `/exact`, `/prefix/*` or `*`.
    pub fn parse(p: &str) -> Result<PathPattern, PathError> {
        if p == "*" || p == "/*" {
            return Ok(PathPattern::Any);
        }
        if !p.starts_with('/') {
            return Err(PathError::NoSlash(p.to_string()));
        }
        if let Some(prefix) = p.strip_suffix("/*") {
            if prefix.contains('*') {
                return Err(PathError::Star(p.to_string()));
            }
            return Ok(PathPattern::Prefix(prefix.to_string()));
        }
        if p.contains('*') {
            return Err(PathError::Star(p.to_string()));
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn limit_ids_keep_names_apart() {
        let q = Quota::fixed_window(1, Duration::from_secs(1)).unwrap();
        let id = |rule, tier, name| Limit::new(rule, tier, name, q).id;
        // Readable for the allowed names.
        assert!(id("api", None, "daily").starts_with("api/daily/"));
        assert!(id("api", Some("pro"), "daily").starts_with("api@pro/daily/"));
        // Rule `a/b` limit `c` against rule `a` limit `b/c`; rule `api@pro`
        // against rule `api`'s `pro` override.
        assert_ne!(id("a/b", None, "c"), id("a", None, "b/c"));
        assert_ne!(id("api@pro", None, "x"), id("api", Some("pro"), "x"));
        assert_ne!(id("a%2Fb", None, "c"), id("a/b", None, "c"));
        let o = Limit::for_override("api", "daily", q).id;
        assert!(o.starts_with("api!/daily/"), "{o}");
        assert_ne!(o, id("api!", None, "daily"));
        assert_ne!(o, id("api", Some(""), "daily"));
    }

    #[test]
    fn a_limit_keeps_its_id_while_its_state_keeps_its_meaning() {
        use crate::quota::{LeakMode, Rate};
        let id = |q: Quota| Limit::new("api", None, "l", q).id;
        let per = |n, s| Rate::new(n, Duration::from_secs(s)).unwrap();
        let tb = |c, r| Quota::token_bucket(c, r).unwrap();
        // A bucket's capacity: kept; its rate, kept while its unit stays
        // (1 per 100 ms both), else afresh.
        assert_eq!(id(tb(40, per(10, 1))), id(tb(80, per(10, 1))));
        assert_eq!(id(tb(40, per(10, 1))), id(tb(40, per(100, 10))));
        assert_ne!(id(tb(40, per(10, 1))), id(tb(40, per(20, 1))));
        // A window's limit: kept; its window: afresh.
        let fw = |l, s| Quota::fixed_window(l, Duration::from_secs(s)).unwrap();
        assert_eq!(id(fw(10, 60)), id(fw(20, 60)));
        assert_ne!(id(fw(10, 60)), id(fw(10, 3600)));
        let sc = |l| Quota::sliding_counter(l, Duration::from_secs(60)).unwrap();
        assert_eq!(id(sc(10)), id(sc(99)));
        // Another algorithm with the same numbers: afresh.
        assert_ne!(id(fw(10, 60)), id(sc(10)));
        let lb = |m| Quota::leaky_bucket(10, per(1, 1), m).unwrap();
        assert_ne!(id(lb(LeakMode::Policing)), id(lb(LeakMode::Shaping)));
        // GCRA: its burst, kept; its rate's amount, afresh.
        let g = |r, b| Quota::gcra(r, b).unwrap();
        assert_eq!(id(g(per(5, 1), 5)), id(g(per(5, 1), 50)));
        assert_eq!(id(g(per(5, 1), 5)), id(g(per(5, 2), 5)));
        assert_ne!(id(g(per(5, 1), 5)), id(g(per(6, 1), 5)));
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
}
