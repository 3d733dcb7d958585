//! The policy document as written, in YAML or JSON: tiers, clients,
//! identity, rules and global limits. Unknown fields are errors.

use std::collections::BTreeMap;

use floodgate_core::policy::Identity;
use floodgate_core::FailureMode;
use serde::{Deserialize, Serialize};

use crate::units::{DurationField, RateField};

/// The policy: the part of the config file (and of the admin API) that
/// says who gets how much. Server settings live beside it, in
/// [`ServerDocument`](crate::ServerDocument).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDocument {
    /// Tier names, e.g. `[free, pro, enterprise]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<String>,
    /// The tier of clients without a known API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_tier: Option<String>,
    /// API key → tier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<ClientDocument>,
    /// Where client identities come from.
    #[serde(default)]
    pub identity: IdentityDocument,
    /// Rules, all of which apply when they match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleDocument>,
    /// Limits for one identity of one rule, replacing the rule's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<OverrideDocument>,
    /// Limits over all traffic.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub global: Vec<LimitDocument>,
    /// What a 429 says beyond the default: details, URLs, a message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<crate::errors::ErrorsDocument>,
}

/// One known client.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientDocument {
    /// The API key it sends, in clear (a file may say it so; it is held
    /// only as its digest once loaded). Give this or `api_key_sha256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// The SHA-256 of the API key, 64 lowercase hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_sha256: Option<String>,
    /// Its tier.
    pub tier: String,
    /// A name, for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Where client identities come from.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityDocument {
    /// Header carrying the API key.
    #[serde(default = "default_api_key_header")]
    pub api_key_header: String,
    /// Header carrying the user id.
    #[serde(default = "default_user_header")]
    pub user_header: String,
    /// Refuse requests without a known API key.
    #[serde(default)]
    pub require_api_key: bool,
    /// IPv6 clients are keyed by this prefix length.
    #[serde(default = "default_ipv6_prefix")]
    pub ipv6_prefix: u8,
    /// `anyone` (default) or `trusted_proxies`: whose user header counts.
    #[serde(default = "default_user_header_from")]
    pub user_header_from: String,
    /// Verified tokens (JWT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<JwtDocument>,
}

/// Verified tokens as written.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JwtDocument {
    /// Header carrying `Bearer <token>`.
    #[serde(default = "default_jwt_header")]
    pub header: String,
    /// Algorithms accepted: `HS256`, `RS256`, `ES256`.
    pub algorithms: Vec<String>,
    /// Environment variable holding the HS256 secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hs256_secret_env: Option<String>,
    /// RS256/ES256 public keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<JwtKeyDocument>,
    /// A JWKS file, read at load and at every reload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_file: Option<String>,
    /// The claim naming the user.
    #[serde(default = "default_user_claim")]
    pub user_claim: String,
    /// The claim naming a tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier_claim: Option<String>,
    /// Required `iss`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Required `aud`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// Clock leeway for `exp` and `nbf` (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leeway: Option<DurationField>,
    /// `reject` (default) or `anonymous`.
    #[serde(default = "default_on_invalid")]
    pub on_invalid: String,
}

/// One public key as written.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JwtKeyDocument {
    /// Key id, matched against a token's `kid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// `RS256` or `ES256`.
    pub alg: String,
    /// The public key in PEM.
    pub pem: String,
}

fn default_user_header_from() -> String {
    "anyone".into()
}
fn default_jwt_header() -> String {
    "authorization".into()
}
fn default_user_claim() -> String {
    "sub".into()
}
fn default_on_invalid() -> String {
    "reject".into()
}

// The defaults are core's, written once.
fn default_api_key_header() -> String {
    Identity::default().api_key_header
}
fn default_user_header() -> String {
    Identity::default().user_header
}
fn default_ipv6_prefix() -> u8 {
    Identity::default().ipv6_prefix
}

impl Default for IdentityDocument {
    fn default() -> Self {
        IdentityDocument {
            api_key_header: default_api_key_header(),
            user_header: default_user_header(),
            require_api_key: false,
            ipv6_prefix: default_ipv6_prefix(),
            user_header_from: default_user_header_from(),
            jwt: None,
        }
    }
}

/// A rule as written.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDocument {
    /// Unique name.
    pub name: String,
    /// Which requests it applies to (all when absent).
    #[serde(rename = "match", default)]
    pub matcher: MatchDocument,
    /// Whose counter: one part or a list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<KeyDocument>,
    /// Limits, all decided together.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<LimitDocument>,
    /// Tier name → limits that replace `limits` for that tier.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::unique::unique_map"
    )]
    pub tiers: BTreeMap<String, Vec<LimitDocument>>,
    /// Decide and report, never deny.
    #[serde(default)]
    pub shadow: bool,
    /// `fail_open`, `fail_closed` or `local` when the store fails (default:
    /// the store's `on_failure`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_store_failure: Option<FailureMode>,
    /// How its limits (and its tiers') are kept in step across replicas,
    /// unless a limit says: `exact` (default) or `leased`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<crate::sync::SyncField>,
    /// Where its limits (and its tiers') are counted when replicas run in
    /// several regions, unless a limit says: `region` (default),
    /// `region_weighted` or `global` (see [`scope`](crate::scope)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<crate::scope::ScopeField>,
    /// Descriptor rules only: matches, and limits nothing (the reference
    /// service's `unlimited`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unlimited: bool,
    /// Descriptor rules only: names of rules this one replaces when both
    /// apply to one call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaces: Vec<String>,
    /// What this rule's 429 says beyond the default: URLs, a message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::errors::ErrorTextDocument>,
}

/// Request matching: HTTP requests by `path` and `methods`, or (with
/// `domain` and `descriptors`) descriptors of Envoy's rate limit service
/// API, never both.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MatchDocument {
    /// Exact path, or a prefix ending in `/*` (or `*` for every path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Methods (any when absent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// The rate limit domain (Envoy's `domain`): a descriptor rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// One pattern per descriptor entry, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub descriptors: Vec<EntryDocument>,
}

/// A descriptor entry pattern as written.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EntryDocument {
    /// The entry's key.
    pub key: String,
    /// The value: exact, or a wildcard pattern (each `*` matches any run
    /// of characters); any value when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Every value a wildcard `value` matches shares one counter.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub share_threshold: bool,
}

/// A key: one part or several.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum KeyDocument {
    /// `key: ip`
    One(String),
    /// `key: [api_key, route]`
    Many(Vec<String>),
}

/// A limit as written: `algorithm` says which other fields apply.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitDocument {
    /// `token_bucket`, `leaky_bucket`, `fixed_window`,
    /// `sliding_window_log`, `sliding_window_counter`, `gcra` or
    /// `concurrency`.
    pub algorithm: String,
    /// Name in headers and reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Bucket size (token and leaky bucket): a count, or a multiple of
    /// the rate over a span (`2x for 10s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<crate::amount::AmountField>,
    /// A token bucket's size when it holds more than `capacity` (its
    /// bursts): a count, or a multiple of `capacity` (`2x`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst_capacity: Option<crate::amount::AmountField>,
    /// Refill rate (token bucket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refill: Option<RateField>,
    /// Leak rate (leaky bucket) or sustained rate (GCRA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<RateField>,
    /// `policing` (default) or `shaping` (leaky bucket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Requests per window (window algorithms), or in flight at once
    /// (concurrency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// How long a concurrency slot stays held without its holder renewing
    /// it (concurrency, default 60s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<DurationField>,
    /// Window length (window algorithms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<DurationField>,
    /// Burst (GCRA, default 1): a count, or a multiple of the rate over a
    /// span (`2x for 10s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<crate::amount::AmountField>,
    /// Soft share (`80%`): past it requests are allowed but marked
    /// degraded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft: Option<crate::share::ShareField>,
    /// `exact` (default) or `leased` (with its terms): see
    /// [`sync`](crate::sync). Wins over its rule's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<crate::sync::SyncField>,
    /// `region` (default), `region_weighted` or `global`: see
    /// [`scope`](crate::scope). Wins over its rule's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<crate::scope::ScopeField>,
}

/// Limits for one identity of one rule, instead of the rule's (and its
/// tiers'), until they expire.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideDocument {
    /// The rule.
    pub rule: String,
    /// The identity, as the rule's key gives it (`i:203.0.113.7`,
    /// `k:<key fingerprint>`, `u:alice`, parts joined by `|`).
    pub identity: String,
    /// The limits in force instead.
    pub limits: Vec<LimitDocument>,
    /// When it stops applying, Unix seconds (never when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}
