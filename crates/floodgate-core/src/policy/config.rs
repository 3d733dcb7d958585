//! The policy part of the YAML config file: raw shapes as written, and
//! their validation into a [`Policy`](super::Policy).
//!
//! Unknown fields are errors. Every error names the file, line and column:
//! syntax and type errors through the YAML parser, and errors found after
//! parsing (an unknown tier, a field that does not apply to an algorithm)
//! through [`locate`](super::locate).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;

use super::locate::{locate, render, Seg};
use super::units::{DurationField, RateField};
use super::{Identity, KeyPart, Limit, Matcher, PathPattern, Policy, Rule};
use crate::quota::{LeakMode, Quota};

/// A config error, located.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (as given).
    pub file: String,
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// 1-based column, 0 when unknown.
    pub column: usize,
    /// The field, as `rules[1].limits[0].refill` (empty for the document).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// An error from the YAML parser (which knows the place).
    pub fn from_yaml(file: &str, err: &serde_yaml_ng::Error) -> ConfigError {
        let (line, column) = err.location().map_or((0, 0), |l| (l.line(), l.column()));
        let mut message = err.to_string();
        if let Some(at) = message.rfind(" at line ") {
            message.truncate(at);
        }
        // serde_yaml_ng prefixes the path: split it off into `field`.
        let (field, message) = match message.split_once(": ") {
            Some((p, m)) if !p.contains(' ') => (p.to_string(), m.to_string()),
            _ => (String::new(), message),
        };
        ConfigError {
            file: file.to_string(),
            line,
            column,
            field,
            message,
        }
    }

    /// An error at `path`, located in `source`.
    pub fn at(file: &str, source: &str, path: &[Seg], message: impl Into<String>) -> ConfigError {
        let (line, column) = locate(source, path).unwrap_or((0, 0));
        ConfigError {
            file: file.to_string(),
            line,
            column,
            field: render(path),
            message: message.into(),
        }
    }
}

/// The policy sections of the config file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Tier names, e.g. `[free, pro, enterprise]`.
    #[serde(default)]
    pub tiers: Vec<String>,
    /// The tier of clients without a known API key.
    #[serde(default)]
    pub default_tier: Option<String>,
    /// API key → tier.
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
    /// Where client identities come from.
    #[serde(default)]
    pub identity: IdentityConfig,
    /// Rules, all of which apply when they match.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    /// Limits over all traffic.
    #[serde(default)]
    pub global: Vec<LimitConfig>,
}

/// One known client.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The API key it sends.
    pub api_key: String,
    /// Its tier.
    pub tier: String,
    /// A name, for humans.
    #[serde(default)]
    pub name: Option<String>,
}

/// Where client identities come from.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
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
}

fn default_api_key_header() -> String {
    "x-api-key".into()
}
fn default_user_header() -> String {
    "x-user-id".into()
}
fn default_ipv6_prefix() -> u8 {
    64
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            api_key_header: default_api_key_header(),
            user_header: default_user_header(),
            require_api_key: false,
            ipv6_prefix: default_ipv6_prefix(),
        }
    }
}

/// A rule as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Unique name.
    pub name: String,
    /// Which requests it applies to (all when absent).
    #[serde(rename = "match", default)]
    pub matcher: MatchConfig,
    /// Whose counter: one part or a list.
    #[serde(default)]
    pub key: Option<KeyConfig>,
    /// Limits, all decided together.
    #[serde(default)]
    pub limits: Vec<LimitConfig>,
    /// Tier name → limits that replace `limits` for that tier.
    #[serde(default)]
    pub tiers: BTreeMap<String, Vec<LimitConfig>>,
    /// Decide and report, never deny.
    #[serde(default)]
    pub shadow: bool,
    /// `fail_open`, `fail_closed` or `local` when the store fails (default:
    /// the store's `on_failure`).
    #[serde(default)]
    pub on_store_failure: Option<super::FailureMode>,
}

/// Request matching.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchConfig {
    /// Exact path, or a prefix ending in `/*` (or `*` for every path).
    #[serde(default)]
    pub path: Option<String>,
    /// Methods (any when absent).
    #[serde(default)]
    pub methods: Vec<String>,
}

/// A key: one part or several.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum KeyConfig {
    /// `key: ip`
    One(String),
    /// `key: [api_key, route]`
    Many(Vec<String>),
}

/// A limit as written: `algorithm` says which other fields apply.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitConfig {
    /// `token_bucket`, `leaky_bucket`, `fixed_window`,
    /// `sliding_window_log`, `sliding_window_counter` or `gcra`.
    pub algorithm: String,
    /// Name in headers and reports.
    #[serde(default)]
    pub name: Option<String>,
    /// Bucket size (token and leaky bucket).
    #[serde(default)]
    pub capacity: Option<u64>,
    /// Refill rate (token bucket).
    #[serde(default)]
    pub refill: Option<RateField>,
    /// Leak rate (leaky bucket) or sustained rate (GCRA).
    #[serde(default)]
    pub rate: Option<RateField>,
    /// `policing` (default) or `shaping` (leaky bucket).
    #[serde(default)]
    pub mode: Option<String>,
    /// Requests per window (window algorithms).
    #[serde(default)]
    pub limit: Option<u64>,
    /// Window length (window algorithms).
    #[serde(default)]
    pub window: Option<DurationField>,
    /// Burst (GCRA, default 1).
    #[serde(default)]
    pub burst: Option<u64>,
}

const ALGORITHMS: &str =
    "token_bucket, leaky_bucket, fixed_window, sliding_window_log, sliding_window_counter, gcra";

/// Parses the policy sections from a YAML document. For a config file
/// with more sections, parse it whole and call [`PolicyConfig::validate`].
pub fn parse_policy(file: &str, source: &str) -> Result<Policy, ConfigError> {
    let raw: PolicyConfig =
        serde_yaml_ng::from_str(source).map_err(|e| ConfigError::from_yaml(file, &e))?;
    raw.validate(file, source)
}

struct Ctx<'a> {
    file: &'a str,
    source: &'a str,
}

impl Ctx<'_> {
    fn err(&self, path: &[Seg], msg: impl Into<String>) -> ConfigError {
        ConfigError::at(self.file, self.source, path, msg)
    }
}

fn path(parts: &[Seg], more: &[Seg]) -> Vec<Seg> {
    parts.iter().chain(more).cloned().collect()
}

impl LimitConfig {
    fn to_limit(
        &self,
        cx: &Ctx,
        at: &[Seg],
        rule: &str,
        default_name: String,
    ) -> Result<Limit, ConfigError> {
        let given = |field: &str| -> bool {
            match field {
                "capacity" => self.capacity.is_some(),
                "refill" => self.refill.is_some(),
                "rate" => self.rate.is_some(),
                "mode" => self.mode.is_some(),
                "limit" => self.limit.is_some(),
                "window" => self.window.is_some(),
                "burst" => self.burst.is_some(),
                _ => false,
            }
        };
        let algo = self.algorithm.as_str();
        let fields: &[&str] = match algo {
            "token_bucket" => &["capacity", "refill"],
            "leaky_bucket" => &["capacity", "rate", "mode"],
            "fixed_window" | "sliding_window_log" | "sliding_window_counter" => {
                &["limit", "window"]
            }
            "gcra" => &["rate", "burst"],
            other => {
                return Err(cx.err(
                    &path(at, &["algorithm".into()]),
                    format!("unknown algorithm `{other}`, expected one of {ALGORITHMS}"),
                ))
            }
        };
        for f in [
            "capacity", "refill", "rate", "mode", "limit", "window", "burst",
        ] {
            if given(f) && !fields.contains(&f) {
                return Err(cx.err(
                    &path(at, &[f.into()]),
                    format!(
                        "`{f}` does not apply to {algo} (it takes {})",
                        fields.join(", ")
                    ),
                ));
            }
        }
        let need = |f: &str| cx.err(&path(at, &[]), format!("{algo} needs `{f}`"));
        let bad =
            |f: &str, e: crate::quota::QuotaError| cx.err(&path(at, &[f.into()]), e.to_string());
        let quota = match algo {
            "token_bucket" => {
                let c = self.capacity.ok_or_else(|| need("capacity"))?;
                let r = self.refill.ok_or_else(|| need("refill"))?.0;
                Quota::token_bucket(c, r).map_err(|e| bad("capacity", e))?
            }
            "leaky_bucket" => {
                let c = self.capacity.ok_or_else(|| need("capacity"))?;
                let r = self.rate.ok_or_else(|| need("rate"))?.0;
                let mode = match self.mode.as_deref() {
                    None | Some("policing") => LeakMode::Policing,
                    Some("shaping") => LeakMode::Shaping,
                    Some(m) => {
                        return Err(cx.err(
                            &path(at, &["mode".into()]),
                            format!("unknown mode `{m}`, expected policing or shaping"),
                        ))
                    }
                };
                Quota::leaky_bucket(c, r, mode).map_err(|e| bad("capacity", e))?
            }
            "gcra" => {
                let r = self.rate.ok_or_else(|| need("rate"))?.0;
                Quota::gcra(r, self.burst.unwrap_or(1)).map_err(|e| bad("burst", e))?
            }
            window_algo => {
                let l = self.limit.ok_or_else(|| need("limit"))?;
                let w = self.window.ok_or_else(|| need("window"))?.0;
                let q = match window_algo {
                    "fixed_window" => Quota::fixed_window(l, w),
                    "sliding_window_log" => Quota::sliding_log(l, w),
                    _ => Quota::sliding_counter(l, w),
                };
                q.map_err(|e| bad("limit", e))?
            }
        };
        let name = self.name.clone().unwrap_or(default_name);
        Ok(Limit::new(rule, &name, quota))
    }
}

fn limits(
    cx: &Ctx,
    at: &[Seg],
    rule: &str,
    base_name: &str,
    list: &[LimitConfig],
) -> Result<Vec<Limit>, ConfigError> {
    let mut out = Vec::with_capacity(list.len());
    let mut names = HashSet::new();
    for (i, l) in list.iter().enumerate() {
        let default_name = if list.len() == 1 {
            base_name.to_string()
        } else {
            format!("{base_name}-{i}")
        };
        let limit = l.to_limit(cx, &path(at, &[i.into()]), rule, default_name)?;
        if !names.insert(limit.name.clone()) {
            return Err(cx.err(
                &path(at, &[i.into(), "name".into()]),
                format!("two limits here are named `{}`", limit.name),
            ));
        }
        out.push(limit);
    }
    Ok(out)
}

fn key_part(cx: &Ctx, at: &[Seg], s: &str) -> Result<KeyPart, ConfigError> {
    Ok(match s {
        "ip" => KeyPart::Ip,
        "api_key" => KeyPart::ApiKey,
        "user" => KeyPart::User,
        "route" => KeyPart::Route,
        "global" => KeyPart::Global,
        other => {
            return Err(cx.err(
                at,
                format!("unknown key `{other}`, expected ip, api_key, user, route or global"),
            ))
        }
    })
}

impl PolicyConfig {
    /// Validates into a policy; errors are located in `source`.
    pub fn validate(&self, file: &str, source: &str) -> Result<Policy, ConfigError> {
        let cx = Ctx { file, source };
        let mut tiers: Vec<Arc<str>> = Vec::new();
        for (i, t) in self.tiers.iter().enumerate() {
            if t.is_empty() || tiers.iter().any(|x| **x == **t) {
                return Err(cx.err(
                    &["tiers".into(), i.into()],
                    format!("tier `{t}` is empty or listed twice"),
                ));
            }
            tiers.push(Arc::from(t.as_str()));
        }
        let tier = |name: &str, at: &[Seg]| -> Result<Arc<str>, ConfigError> {
            tiers
                .iter()
                .find(|t| ***t == *name)
                .cloned()
                .ok_or_else(|| {
                    cx.err(
                        at,
                        format!("unknown tier `{name}` (tiers: {})", self.tiers.join(", ")),
                    )
                })
        };
        let default_tier = match &self.default_tier {
            Some(t) => Some(tier(t, &["default_tier".into()])?),
            None => None,
        };
        let mut clients = HashMap::new();
        for (i, c) in self.clients.iter().enumerate() {
            let at = ["clients".into(), i.into()];
            let t = tier(&c.tier, &path(&at, &["tier".into()]))?;
            if c.api_key.is_empty() {
                return Err(cx.err(&path(&at, &["api_key".into()]), "empty API key"));
            }
            if clients.insert(c.api_key.clone(), t).is_some() {
                return Err(cx.err(
                    &path(&at, &["api_key".into()]),
                    "this API key is listed twice",
                ));
            }
        }
        let id = &self.identity;
        if id.ipv6_prefix == 0 || id.ipv6_prefix > 128 {
            return Err(cx.err(
                &["identity".into(), "ipv6_prefix".into()],
                "must be between 1 and 128",
            ));
        }
        for (f, v) in [
            ("api_key_header", &id.api_key_header),
            ("user_header", &id.user_header),
        ] {
            if v.is_empty()
                || !v
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
            {
                return Err(cx.err(
                    &["identity".into(), f.into()],
                    format!("`{v}` is not a header name"),
                ));
            }
        }
        let identity = Identity {
            api_key_header: id.api_key_header.to_ascii_lowercase(),
            user_header: id.user_header.to_ascii_lowercase(),
            require_api_key: id.require_api_key,
            ipv6_prefix: id.ipv6_prefix,
        };

        let mut rules = Vec::with_capacity(self.rules.len());
        let mut names = HashSet::new();
        for (i, r) in self.rules.iter().enumerate() {
            let at: Vec<Seg> = vec!["rules".into(), i.into()];
            if r.name.is_empty() || r.name == "global" || !names.insert(r.name.clone()) {
                return Err(cx.err(
                    &path(&at, &["name".into()]),
                    format!("rule name `{}` is empty, reserved or used twice", r.name),
                ));
            }
            let path_pat = match &r.matcher.path {
                None => PathPattern::Any,
                Some(p) => PathPattern::parse(p)
                    .map_err(|m| cx.err(&path(&at, &["match".into(), "path".into()]), m))?,
            };
            let mut methods = Vec::new();
            for (j, m) in r.matcher.methods.iter().enumerate() {
                if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()) {
                    return Err(cx.err(
                        &path(&at, &["match".into(), "methods".into(), j.into()]),
                        format!("`{m}` is not an HTTP method"),
                    ));
                }
                methods.push(m.to_ascii_uppercase());
            }
            let key = match &r.key {
                None => vec![KeyPart::Ip],
                Some(KeyConfig::One(s)) => vec![key_part(&cx, &path(&at, &["key".into()]), s)?],
                Some(KeyConfig::Many(list)) => {
                    if list.is_empty() {
                        return Err(cx.err(&path(&at, &["key".into()]), "an empty key list"));
                    }
                    let mut parts = Vec::new();
                    for (j, s) in list.iter().enumerate() {
                        let p = key_part(&cx, &path(&at, &["key".into(), j.into()]), s)?;
                        if !parts.contains(&p) {
                            parts.push(p);
                        }
                    }
                    parts
                }
            };
            if r.limits.is_empty() && r.tiers.is_empty() {
                return Err(cx.err(&at, format!("rule `{}` has no limits", r.name)));
            }
            let base = limits(
                &cx,
                &path(&at, &["limits".into()]),
                &r.name,
                &r.name,
                &r.limits,
            )?;
            let mut by_tier = HashMap::new();
            for (t, list) in &r.tiers {
                let tat = path(&at, &["tiers".into(), t.as_str().into()]);
                let tname = tier(t, &tat)?;
                let scoped = format!("{}@{t}", r.name);
                let l = limits(&cx, &tat, &scoped, &r.name, list)?;
                by_tier.insert(tname, l);
            }
            rules.push(Rule {
                name: Arc::from(r.name.as_str()),
                matcher: Matcher {
                    path: path_pat,
                    methods,
                },
                key,
                limits: base,
                tiers: by_tier,
                shadow: r.shadow,
                on_store_failure: r.on_store_failure,
            });
        }
        let global = limits(&cx, &["global".into()], "global", "global", &self.global)?;
        Ok(Policy {
            tiers,
            default_tier,
            clients,
            identity,
            rules,
            global,
        })
    }
}
