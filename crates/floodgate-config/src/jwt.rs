//! `identity.jwt` validated: algorithms, keys (PEM, a JWKS file, the
//! HS256 secret from the environment) and claims.

use std::sync::Arc;

use floodgate_core::policy::jwt::{algorithm, Jwt, JwtAlgorithm, JwtKey, OnInvalid};

use crate::document::JwtDocument;
use crate::error::{ConfigError, Source};
use crate::locate::Seg;

/// Validates `identity.jwt`: algorithms, keys (PEM, JWKS file, HS256
/// secret from the environment) and claims.
pub(crate) fn jwt(src: &Source, j: &JwtDocument, tiers: &[Arc<str>]) -> Result<Jwt, ConfigError> {
    let algorithms = algorithms(src, j)?;
    let keys = keys(src, j, &algorithms)?;
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

/// The path of `identity.jwt.<f>`.
fn at(f: &[Seg]) -> Vec<Seg> {
    let mut p: Vec<Seg> = vec!["identity".into(), "jwt".into()];
    p.extend_from_slice(f);
    p
}

/// The header checked, and the algorithms accepted.
fn algorithms(src: &Source, j: &JwtDocument) -> Result<Vec<JwtAlgorithm>, ConfigError> {
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
    Ok(algorithms)
}

/// The keys: the HS256 secret from the environment, PEM keys and a JWKS
/// file; one for each algorithm accepted, none for another.
fn keys(
    src: &Source,
    j: &JwtDocument,
    algorithms: &[JwtAlgorithm],
) -> Result<Vec<JwtKey>, ConfigError> {
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
    for alg in algorithms {
        if !keys.iter().any(|k| k.alg == *alg) {
            return Err(src.error(
                &at(&["algorithms".into()]),
                format!("{alg:?} is accepted but no key is given for it"),
            ));
        }
    }
    Ok(keys)
}
