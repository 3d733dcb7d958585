//! Validation of a policy document into a core `Policy`: names, tiers,
//! clients, identity settings, matchers, keys and limits, each error
//! located in the document's text.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use floodgate_core::policy::{
    check_name, key_digest, Client, HeaderTrust, Identity, KeyDigest, KeyPart, Matcher,
    PathPattern, Policy, Rule,
};

use crate::descriptor::{check_key, descriptor_extras, descriptor_match};
use crate::document::{ClientDocument, KeyDocument, LimitDocument, PolicyDocument, RuleDocument};
use crate::error::{join, ConfigError, Source};
#[cfg(feature = "jwt")]
use crate::jwt::jwt;
use crate::limit::{limits, Inherit, Scope};
use crate::locate::Seg;
use crate::overrides::overrides;
pub use crate::overrides::MAX_IDENTITY_LEN;

fn key_part(src: &Source, at: &[Seg], s: &str) -> Result<KeyPart, ConfigError> {
    Ok(match s {
        "ip" => KeyPart::Ip,
        "api_key" => KeyPart::ApiKey,
        "user" => KeyPart::User,
        "route" => KeyPart::Route,
        "global" => KeyPart::Global,
        "descriptor" => KeyPart::Descriptor,
        other => {
            return Err(src.error(
                at,
                format!(
                "unknown key `{other}`, expected ip, api_key, user, route, global or descriptor"
            ),
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
        let global = limits(
            src,
            &["global".into()],
            "global",
            Scope::Rule,
            &self.global,
            Inherit::default(),
        )
        .unwrap_or_else(|e| {
            errors.push(e);
            Vec::new()
        });
        let overrides = overrides(src, &self.overrides, &rules, &mut errors);
        let error_settings = match &self.errors {
            Some(e) => e.to_settings(src, &tiers).unwrap_or_else(|e| {
                errors.push(e);
                Default::default()
            }),
            None => Default::default(),
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Policy {
            tiers,
            default_tier,
            clients: Arc::new(floodgate_core::policy::ClientBook::new(clients)),
            identity,
            rules,
            global,
            overrides,
            errors: error_settings,
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
        #[cfg(feature = "jwt")]
        let jwt = match &id.jwt {
            Some(j) => Some(Arc::new(jwt(src, j, tiers)?)),
            None => None,
        };
        #[cfg(not(feature = "jwt"))]
        let _ = tiers; // only a token's claim names a tier here
        #[cfg(not(feature = "jwt"))]
        if id.jwt.is_some() {
            return Err(src.error(&["identity".into(), "jwt".into()], JWT_DISABLED));
        }
        Ok(Identity {
            api_key_header: id.api_key_header.to_ascii_lowercase(),
            user_header: id.user_header.to_ascii_lowercase(),
            require_api_key: id.require_api_key,
            ipv6_prefix: id.ipv6_prefix,
            user_header_from,
            #[cfg(feature = "jwt")]
            jwt,
        })
    }
}

/// The error for a policy that sets `identity.jwt` in a build without
/// the `jwt` feature.
#[cfg(not(feature = "jwt"))]
pub const JWT_DISABLED: &str = "JWT verification needs the `jwt` feature";

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
    let descriptor = descriptor_match(src, &at, r)?;
    let path_pat = match &r.matcher.path {
        None => PathPattern::Any,
        Some(p) => PathPattern::parse(p)
            .map_err(|m| src.error(&join(&at, &["match".into(), "path".into()]), m))?,
    };
    let methods = methods(src, &at, r)?;
    let key = rule_key(src, &at, r, descriptor.is_some())?;
    check_key(src, &at, descriptor.is_some(), &key)?;
    let replaces = descriptor_extras(src, &at, descriptor.is_some(), r)?;
    if r.limits.is_empty() && r.tiers.is_empty() && !r.unlimited {
        return Err(src.error(&at, format!("rule `{}` has no limits", r.name)));
    }
    let sync_at = join(&at, &["sync".into()]);
    let inherit = Inherit {
        sync: r.sync.as_ref().map(|s| (&sync_at[..], s)),
        scope: r.scope,
    };
    let base = limits(
        src,
        &join(&at, &["limits".into()]),
        &r.name,
        if descriptor.is_some() {
            Scope::DescriptorRule
        } else {
            Scope::Rule
        },
        &r.limits,
        inherit,
    )?;
    if descriptor.is_some() {
        no_concurrency(src, &join(&at, &["limits".into()]), &r.limits)?;
    }
    let mut by_tier = HashMap::new();
    for (t, list) in &r.tiers {
        let tat = join(&at, &["tiers".into(), t.as_str().into()]);
        let tname = tier(t, &tat)?;
        if descriptor.is_some() {
            no_concurrency(src, &tat, list)?;
        }
        let l = limits(src, &tat, &r.name, Scope::Tier(t), list, inherit)?;
        by_tier.insert(tname, l);
    }
    Ok(Rule {
        name: Arc::from(r.name.as_str()),
        matcher: Matcher {
            path: path_pat,
            methods,
            descriptor,
        },
        key,
        limits: base,
        tiers: by_tier,
        shadow: r.shadow,
        on_store_failure: r.on_store_failure,
        replaces,
        error: match &r.error {
            Some(e) => e.to_text(src, &join(&at, &["error".into()]))?,
            None => Default::default(),
        },
    })
}

/// A rule's methods, upper-cased.
fn methods(src: &Source, at: &[Seg], r: &RuleDocument) -> Result<Vec<String>, ConfigError> {
    let mut methods = Vec::new();
    for (j, m) in r.matcher.methods.iter().enumerate() {
        if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(src.error(
                &join(at, &["match".into(), "methods".into(), j.into()]),
                format!("`{m}` is not an HTTP method"),
            ));
        }
        methods.push(m.to_ascii_uppercase());
    }
    Ok(methods)
}

/// A rule's key: as written, else the descriptor's entries for a
/// descriptor rule, else the IP.
fn rule_key(
    src: &Source,
    at: &[Seg],
    r: &RuleDocument,
    descriptor: bool,
) -> Result<Vec<KeyPart>, ConfigError> {
    Ok(match &r.key {
        None if descriptor => vec![KeyPart::Descriptor],
        None => vec![KeyPart::Ip],
        Some(KeyDocument::One(s)) => vec![key_part(src, &join(at, &["key".into()]), s)?],
        Some(KeyDocument::Many(list)) => {
            if list.is_empty() {
                return Err(src.error(&join(at, &["key".into()]), "an empty key list"));
            }
            let mut parts = Vec::new();
            for (j, s) in list.iter().enumerate() {
                let p = key_part(src, &join(at, &["key".into(), j.into()]), s)?;
                if !parts.contains(&p) {
                    parts.push(p);
                }
            }
            parts
        }
    })
}

/// Refuses concurrency limits in a descriptor rule: Envoy's rate limit
/// service API has no release, so a slot taken there would only ever come
/// back at the end of its lease.
fn no_concurrency(src: &Source, at: &[Seg], list: &[LimitDocument]) -> Result<(), ConfigError> {
    match list.iter().position(|l| l.algorithm == "concurrency") {
        Some(i) => Err(src.error(
            &join(at, &[i.into(), "algorithm".into()]),
            "a descriptor rule cannot hold a concurrency limit: Envoy's rate limit API never releases a slot",
        )),
        None => Ok(()),
    }
}

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
