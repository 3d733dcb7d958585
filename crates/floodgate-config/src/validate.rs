//! Validation of a policy document into a core `Policy`: names, tiers,
//! clients, identity settings, matchers, keys and limits, each error
//! located in the document's text.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use floodgate_core::policy::jwt::{algorithm, Jwt, JwtAlgorithm, JwtKey, OnInvalid};
use floodgate_core::policy::{
    check_name, key_digest, Client, HeaderTrust, Identity, KeyDigest, KeyPart, Matcher, Override,
    Overrides, PathPattern, Policy, Rule,
};
use floodgate_core::Timestamp;

use crate::document::{
    ClientDocument, JwtDocument, KeyDocument, OverrideDocument, PolicyDocument, RuleDocument,
};
use crate::error::{join, ConfigError, Source};
use crate::limit::{limits, Scope};
use crate::locate::Seg;

fn key_part(src: &Source, at: &[Seg], s: &str) -> Result<KeyPart, ConfigError> {
    Ok(match s {
        "ip" => KeyPart::Ip,
        "api_key" => KeyPart::ApiKey,
        "user" => KeyPart::User,
        "route" => KeyPart::Route,
        "global" => KeyPart::Global,
        other => {
            return Err(src.error(
                at,
                format!("unknown key `{other}`, expected ip, api_key, user, route or global"),
            ))
        }
    })
}

impl PolicyDocument {
    /// Validates into a policy; the first error, located in `src`, the
    /// text this document was read from.
    pub fn validate(&self, src: &Source) -> Result<Policy, ConfigError> {
        self.validate_all(src)
            .map_err(|mut errors| errors.swap_remove(0))
    }

    /// Validates into a policy, or every error found (at least one): each
    /// tier, client, identity field, rule, global list and override is
    /// checked even when an earlier one is wrong (within one of them, the
    /// first mistake is reported).
    pub fn validate_all(&self, src: &Source) -> Result<Policy, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut keep = |r: Result<(), ConfigError>| {
            if let Err(e) = r {
                errors.push(e);
            }
        };
        let mut tiers: Vec<Arc<str>> = Vec::new();
        for (i, t) in self.tiers.iter().enumerate() {
            let at = ["tiers".into(), i.into()];
            keep(check_name(t).map_err(|m| src.error(&at, m)).and_then(|()| {
                if tiers.iter().any(|x| **x == **t) {
                    return Err(src.error(&at, format!("tier `{t}` is listed twice")));
                }
                tiers.push(Arc::from(t.as_str()));
                Ok(())
            }));
        }
        let tier = |name: &str, at: &[Seg]| -> Result<Arc<str>, ConfigError> {
            tiers
                .iter()
                .find(|t| ***t == *name)
                .cloned()
                .ok_or_else(|| {
                    src.error(
                        at,
                        format!("unknown tier `{name}` (tiers: {})", self.tiers.join(", ")),
                    )
                })
        };
        let mut default_tier = None;
        if let Some(t) = &self.default_tier {
            keep(tier(t, &["default_tier".into()]).map(|t| default_tier = Some(t)));
        }
        let mut clients = HashMap::new();
        for (i, c) in self.clients.iter().enumerate() {
            keep(self.client(src, i, c, &tier, &mut clients));
        }
        let identity = self.identity(src, &tiers).unwrap_or_else(|e| {
            errors.push(e);
            Identity::default()
        });
        let mut rules = Vec::with_capacity(self.rules.len());
        let mut names = HashSet::new();
        for (i, r) in self.rules.iter().enumerate() {
            match rule(src, i, r, &tier, &mut names) {
                Ok(rule) => rules.push(rule),
                Err(e) => errors.push(e),
            }
        }
        let global = limits(src, &["global".into()], "global", Scope::Rule, &self.global)
            .unwrap_or_else(|e| {
                errors.push(e);
                Vec::new()
            });
        let overrides = overrides(src, &self.overrides, &rules, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Policy {
            tiers,
            default_tier,
            clients,
            identity,
            rules,
            global,
            overrides,
        })
    }

    fn client(
        &self,
        src: &Source,
        i: usize,
        c: &ClientDocument,
        tier: &TierLookup<'_>,
        clients: &mut HashMap<KeyDigest, Client>,
    ) -> Result<(), ConfigError> {
        let at = ["clients".into(), i.into()];
        let t = tier(&c.tier, &join(&at, &["tier".into()]))?;
        let (field, digest) =
            client_digest(c).map_err(|(f, m)| src.error(&join(&at, &[f.into()]), m))?;
        let client = Client {
            tier: t,
            name: c.name.as_deref().map(Arc::from),
        };
        if clients.insert(digest, client).is_some() {
            return Err(src.error(&join(&at, &[field.into()]), "this API key is listed twice"));
        }
        Ok(())
    }

    fn identity(&self, src: &Source, tiers: &[Arc<str>]) -> Result<Identity, ConfigError> {
        let id = &self.identity;
        if id.ipv6_prefix == 0 || id.ipv6_prefix > 128 {
            return Err(src.error(
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
                return Err(src.error(
                    &["identity".into(), f.into()],
                    format!("`{v}` is not a header name"),
                ));
            }
        }
        let user_header_from = match id.user_header_from.as_str() {
            "anyone" => HeaderTrust::Anyone,
            "trusted_proxies" => HeaderTrust::TrustedProxies,
            other => {
                return Err(src.error(
                    &["identity".into(), "user_header_from".into()],
                    format!("`{other}` is not `anyone` or `trusted_proxies`"),
                ))
            }
        };
        let jwt = match &id.jwt {
            Some(j) => Some(Arc::new(jwt(src, j, tiers)?)),
            None => None,
        };
        Ok(Identity {
            api_key_header: id.api_key_header.to_ascii_lowercase(),
            user_header: id.user_header.to_ascii_lowercase(),
            require_api_key: id.require_api_key,
            ipv6_prefix: id.ipv6_prefix,
            user_header_from,
            jwt,
        })
    }
}

/// Validates `identity.jwt`: algorithms, keys (PEM, JWKS file, HS256
/// secret from the environment) and claims.
fn jwt(src: &Source, j: &JwtDocument, tiers: &[Arc<str>]) -> Result<Jwt, ConfigError> {
    let at = |f: &[Seg]| {
        let mut p: Vec<Seg> = vec!["identity".into(), "jwt".into()];
        p.extend_from_slice(f);
        p
    };
    if j.header.is_empty()
        || !j
            .header
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
    {
        return Err(src.error(
            &at(&["header".into()]),
            format!("`{}` is not a header name", j.header),
        ));
    }
    if j.algorithms.is_empty() {
        return Err(src.error(
            &at(&["algorithms".into()]),
            "name at least one of HS256, RS256, ES256",
        ));
    }
    let mut algorithms = Vec::new();
    for (i, a) in j.algorithms.iter().enumerate() {
        match algorithm(a) {
            Some(alg) => algorithms.push(alg),
            None => {
                return Err(src.error(
                    &at(&["algorithms".into(), i.into()]),
                    format!("`{a}` is not HS256, RS256 or ES256"),
                ))
            }
        }
    }
    let mut keys = Vec::new();
    let hs = algorithms.contains(&JwtAlgorithm::HS256);
    match (&j.hs256_secret_env, hs) {
        (Some(var), true) => match std::env::var(var) {
            Ok(secret) if !secret.is_empty() => keys.push(JwtKey::hs256(secret.as_bytes())),
            _ => {
                return Err(src.error(
                    &at(&["hs256_secret_env".into()]),
                    format!("the environment variable `{var}` holding the HS256 secret is not set"),
                ))
            }
        },
        (None, true) => {
            return Err(src.error(&at(&["algorithms".into()]), "HS256 needs hs256_secret_env"))
        }
        (Some(_), false) => {
            return Err(src.error(
                &at(&["hs256_secret_env".into()]),
                "set only when algorithms include HS256",
            ))
        }
        (None, false) => {}
    }
    for (i, k) in j.keys.iter().enumerate() {
        let alg = match algorithm(&k.alg) {
            Some(a @ (JwtAlgorithm::RS256 | JwtAlgorithm::ES256)) => a,
            _ => {
                return Err(src.error(
                    &at(&["keys".into(), i.into(), "alg".into()]),
                    format!("`{}` is not RS256 or ES256", k.alg),
                ))
            }
        };
        let key = JwtKey::from_pem(k.kid.clone(), alg, &k.pem)
            .map_err(|e| src.error(&at(&["keys".into(), i.into(), "pem".into()]), e))?;
        keys.push(key);
    }
    if let Some(file) = &j.jwks_file {
        let text = std::fs::read_to_string(file).map_err(|e| {
            src.error(
                &at(&["jwks_file".into()]),
                format!("cannot read `{file}`: {e}"),
            )
        })?;
        let set = JwtKey::from_jwks(&text)
            .map_err(|e| src.error(&at(&["jwks_file".into()]), format!("`{file}`: {e}")))?;
        keys.extend(set);
    }
    if let Some(k) = keys.iter().find(|k| !algorithms.contains(&k.alg)) {
        return Err(src.error(
            &at(&["algorithms".into()]),
            format!("a {:?} key is given but {:?} is not accepted", k.alg, k.alg),
        ));
    }
    for alg in &algorithms {
        if !keys.iter().any(|k| k.alg == *alg) {
            return Err(src.error(
                &at(&["algorithms".into()]),
                format!("{alg:?} is accepted but no key is given for it"),
            ));
        }
    }
    if j.user_claim.is_empty() {
        return Err(src.error(&at(&["user_claim".into()]), "must not be empty"));
    }
    let leeway = j.leeway.map_or(std::time::Duration::from_secs(30), |d| d.0);
    if leeway > std::time::Duration::from_secs(3600) {
        return Err(src.error(&at(&["leeway".into()]), "must be at most 1h"));
    }
    let on_invalid = match j.on_invalid.as_str() {
        "reject" => OnInvalid::Reject,
        "anonymous" => OnInvalid::Anonymous,
        other => {
            return Err(src.error(
                &at(&["on_invalid".into()]),
                format!("`{other}` is not `reject` or `anonymous`"),
            ))
        }
    };
    Ok(Jwt {
        header: j.header.to_ascii_lowercase(),
        algorithms,
        keys,
        user_claim: j.user_claim.clone(),
        tier_claim: j.tier_claim.clone(),
        issuer: j.issuer.clone(),
        audience: j.audience.clone(),
        leeway_secs: leeway.as_secs(),
        on_invalid,
        tiers: tiers.to_vec(),
    })
}

/// Finds a tier by name, or says where it is unknown.
type TierLookup<'a> = dyn Fn(&str, &[Seg]) -> Result<Arc<str>, ConfigError> + 'a;

/// Rule `i`, validated.
fn rule(
    src: &Source,
    i: usize,
    r: &RuleDocument,
    tier: &TierLookup<'_>,
    names: &mut HashSet<String>,
) -> Result<Rule, ConfigError> {
    let at: Vec<Seg> = vec!["rules".into(), i.into()];
    let name_at = join(&at, &["name".into()]);
    check_name(&r.name).map_err(|m| src.error(&name_at, m))?;
    if r.name == "global" || !names.insert(r.name.clone()) {
        return Err(src.error(
            &name_at,
            format!("rule name `{}` is reserved or used twice", r.name),
        ));
    }
    let path_pat = match &r.matcher.path {
        None => PathPattern::Any,
        Some(p) => PathPattern::parse(p)
            .map_err(|m| src.error(&join(&at, &["match".into(), "path".into()]), m))?,
    };
    let mut methods = Vec::new();
    for (j, m) in r.matcher.methods.iter().enumerate() {
        if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(src.error(
                &join(&at, &["match".into(), "methods".into(), j.into()]),
                format!("`{m}` is not an HTTP method"),
            ));
        }
        methods.push(m.to_ascii_uppercase());
    }
    let key = match &r.key {
        None => vec![KeyPart::Ip],
        Some(KeyDocument::One(s)) => vec![key_part(src, &join(&at, &["key".into()]), s)?],
        Some(KeyDocument::Many(list)) => {
            if list.is_empty() {
                return Err(src.error(&join(&at, &["key".into()]), "an empty key list"));
            }
            let mut parts = Vec::new();
            for (j, s) in list.iter().enumerate() {
                let p = key_part(src, &join(&at, &["key".into(), j.into()]), s)?;
                if !parts.contains(&p) {
                    parts.push(p);
                }
            }
            parts
        }
    };
    if r.limits.is_empty() && r.tiers.is_empty() {
        return Err(src.error(&at, format!("rule `{}` has no limits", r.name)));
    }
    let base = limits(
        src,
        &join(&at, &["limits".into()]),
        &r.name,
        Scope::Rule,
        &r.limits,
    )?;
    let mut by_tier = HashMap::new();
    for (t, list) in &r.tiers {
        let tat = join(&at, &["tiers".into(), t.as_str().into()]);
        let tname = tier(t, &tat)?;
        let l = limits(src, &tat, &r.name, Scope::Tier(t), list)?;
        by_tier.insert(tname, l);
    }
    Ok(Rule {
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
    })
}

/// The longest identity an override may name.
pub const MAX_IDENTITY_LEN: usize = 512;

/// The digest of a client's key, and the field it came from.
fn client_digest(c: &ClientDocument) -> Result<(&'static str, KeyDigest), (&'static str, String)> {
    match (&c.api_key, &c.api_key_sha256) {
        (Some(k), None) if k.is_empty() => Err(("api_key", "empty API key".into())),
        (Some(k), None) => Ok(("api_key", key_digest(k))),
        (None, Some(h)) => parse_digest(h).map(|d| ("api_key_sha256", d)).ok_or((
            "api_key_sha256",
            "not a SHA-256 digest: 64 lowercase hex digits".into(),
        )),
        (Some(_), Some(_)) => Err(("api_key", "give api_key or api_key_sha256, not both".into())),
        (None, None) => Err(("api_key", "a client needs api_key or api_key_sha256".into())),
    }
}

/// 64 lowercase hex digits into a digest.
pub fn parse_digest(hex: &str) -> Option<KeyDigest> {
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Overrides, by rule and identity.
fn overrides(
    src: &Source,
    list: &[OverrideDocument],
    rules: &[Rule],
    errors: &mut Vec<ConfigError>,
) -> Overrides {
    let mut out = Overrides::new();
    for (i, o) in list.iter().enumerate() {
        if let Err(e) = one_override(src, i, o, rules, &mut out) {
            errors.push(e);
        }
    }
    out
}

fn one_override(
    src: &Source,
    i: usize,
    o: &OverrideDocument,
    rules: &[Rule],
    out: &mut Overrides,
) -> Result<(), ConfigError> {
    {
        let at: Vec<Seg> = vec!["overrides".into(), i.into()];
        let Some(rule) = rules.iter().find(|r| *r.name == *o.rule) else {
            return Err(src.error(
                &join(&at, &["rule".into()]),
                format!("no rule is named `{}`", o.rule),
            ));
        };
        if o.identity.is_empty() || o.identity.len() > MAX_IDENTITY_LEN {
            return Err(src.error(
                &join(&at, &["identity".into()]),
                format!("an identity has 1 to {MAX_IDENTITY_LEN} bytes"),
            ));
        }
        if o.limits.is_empty() {
            return Err(src.error(&join(&at, &["limits".into()]), "an override needs limits"));
        }
        let limits = limits(
            src,
            &join(&at, &["limits".into()]),
            &rule.name,
            Scope::Override,
            &o.limits,
        )?;
        let expires_at = match o.expires_at {
            Some(s) if s > MAX_EXPIRY_SECS => {
                return Err(src.error(
                    &join(&at, &["expires_at".into()]),
                    "not a Unix time in seconds",
                ))
            }
            s => s.map(|s| Timestamp::from_micros(s * 1_000_000)),
        };
        let by_identity = out.entry(rule.name.clone()).or_default();
        if by_identity
            .insert(
                Arc::from(o.identity.as_str()),
                Override { limits, expires_at },
            )
            .is_some()
        {
            return Err(src.error(
                &join(&at, &["identity".into()]),
                format!("a second override of `{}` for `{}`", o.rule, o.identity),
            ));
        }
    }
    Ok(())
}

/// The latest expiry an override may have (the year 9999).
const MAX_EXPIRY_SECS: u64 = 253_402_300_799;
