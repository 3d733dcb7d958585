//! Trusted identities: a JWT verified against configured keys names the
//! user (and possibly the tier) of a request.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

/// What happens to a request whose token is invalid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnInvalid {
    /// Refused with a 401.
    #[default]
    Reject,
    /// Decided as a request without a token.
    Anonymous,
}

/// One verification key.
#[derive(Clone)]
pub struct JwtKey {
    /// Its key id (any token `kid` matches a key without one).
    pub kid: Option<String>,
    /// The algorithm it verifies.
    pub alg: Algorithm,
    /// The key.
    pub key: DecodingKey,
}

/// How tokens are verified.
#[derive(Clone)]
pub struct Jwt {
    /// Header carrying `Bearer <token>` (lower case).
    pub header: String,
    /// Algorithms accepted.
    pub algorithms: Vec<Algorithm>,
    /// Keys: the HS256 secret and the public keys.
    pub keys: Vec<JwtKey>,
    /// The claim naming the user.
    pub user_claim: String,
    /// The claim naming the tier, if any.
    pub tier_claim: Option<String>,
    /// Required issuer.
    pub issuer: Option<String>,
    /// Required audience.
    pub audience: Option<String>,
    /// Clock leeway for `exp` and `nbf`, seconds.
    pub leeway_secs: u64,
    /// What an invalid token does.
    pub on_invalid: OnInvalid,
    /// Known tiers (a tier claim naming another is ignored).
    pub tiers: Vec<Arc<str>>,
}

impl fmt::Debug for Jwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwt")
            .field("header", &self.header)
            .field("algorithms", &self.algorithms)
            .field("keys", &self.keys.len())
            .field("user_claim", &self.user_claim)
            .field("tier_claim", &self.tier_claim)
            .field("on_invalid", &self.on_invalid)
            .finish_non_exhaustive()
    }
}

/// Why a token is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The header value is not `Bearer <token>`.
    #[error("not a Bearer token")]
    NotBearer,
    /// Not a JWT.
    #[error("malformed token: {0}")]
    Malformed(jsonwebtoken::errors::Error),
    /// Signed with an algorithm not accepted.
    #[error("algorithm {0:?} is not accepted")]
    Algorithm(Algorithm),
    /// No key of its algorithm (and key id).
    #[error("no key for this token")]
    NoKey,
    /// No key verifies it (the last key's answer).
    #[error("invalid token: {0}")]
    Invalid(jsonwebtoken::errors::Error),
    /// No `exp` claim.
    #[error("the token has no exp")]
    NoExp,
    /// Past its `exp`.
    #[error("the token has expired")]
    Expired,
    /// An `nbf` claim that is not a number.
    #[error("nbf is not a number")]
    NbfNotNumber,
    /// Before its `nbf`.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// No user claim.
    #[error("the token has no `{0}` claim")]
    NoUser(String),
}

/// A verification key that cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// A PEM key for an algorithm other than RS256 or ES256.
    #[error("a PEM key is RS256 or ES256")]
    PemAlgorithm,
    /// Not a public key of its algorithm.
    #[error("not a {alg:?} public key in PEM: {source}")]
    Pem {
        /// Its algorithm.
        alg: Algorithm,
        /// Why.
        source: jsonwebtoken::errors::Error,
    },
    /// Not a JWKS document.
    #[error("not a JWKS: {0}")]
    NotJwks(String),
    /// A JWKS key of another algorithm.
    #[error("key {0}: only RS256 and ES256 keys are supported")]
    Unsupported(usize),
    /// A JWKS key that cannot be read.
    #[error("key {index}: {source}")]
    Jwk {
        /// Its place in the set.
        index: usize,
        /// Why.
        source: jsonwebtoken::errors::Error,
    },
}

/// What a valid token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The user.
    pub user: String,
    /// The tier, when the claim names a known one.
    pub tier: Option<Arc<str>>,
}

impl Jwt {
    /// The token of a header value `Bearer <token>`.
    pub fn bearer(value: &str) -> Option<&str> {
        let (scheme, token) = value.trim().split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
    }

    /// Verifies `token` at `now_secs` (Unix seconds): its signature by one
    /// of the keys under an accepted algorithm, `exp` (required) and `nbf`
    /// within the leeway, the issuer and audience when set, and the user
    /// claim.
    pub fn verify(&self, token: &str, now_secs: u64) -> Result<Verified, TokenError> {
        let header = decode_header(token).map_err(TokenError::Malformed)?;
        if !self.algorithms.contains(&header.alg) {
            return Err(TokenError::Algorithm(header.alg));
        }
        let mut validation = Validation::new(header.alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.required_spec_claims = HashSet::new();
        validation.validate_aud = self.audience.is_some();
        if let Some(a) = &self.audience {
            validation.set_audience(&[a]);
        }
        if let Some(i) = &self.issuer {
            validation.set_issuer(&[i]);
        }
        let mut last = TokenError::NoKey;
        let mut claims = None;
        for k in self.keys.iter().filter(|k| {
            k.alg == header.alg && (k.kid.is_none() || header.kid.is_none() || k.kid == header.kid)
        }) {
            match decode::<Map<String, Value>>(token, &k.key, &validation) {
                Ok(d) => {
                    claims = Some(d.claims);
                    break;
                }
                Err(e) => last = TokenError::Invalid(e),
            }
        }
        let claims = claims.ok_or(last)?;
        let exp = claims
            .get("exp")
            .and_then(Value::as_u64)
            .ok_or(TokenError::NoExp)?;
        if now_secs > exp.saturating_add(self.leeway_secs) {
            return Err(TokenError::Expired);
        }
        if let Some(nbf) = claims.get("nbf") {
            let nbf = nbf.as_u64().ok_or(TokenError::NbfNotNumber)?;
            if now_secs.saturating_add(self.leeway_secs) < nbf {
                return Err(TokenError::NotYetValid);
            }
        }
        let user = match claims.get(&self.user_claim) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(TokenError::NoUser(self.user_claim.clone())),
        };
        let tier = self
            .tier_claim
            .as_ref()
            .and_then(|c| claims.get(c))
            .and_then(Value::as_str)
            .and_then(|t| self.tiers.iter().find(|k| &***k == t).cloned());
        Ok(Verified { user, tier })
    }
}

pub use jsonwebtoken::Algorithm as JwtAlgorithm;

/// The accepted algorithm named `name` (`HS256`, `RS256` or `ES256`).
pub fn algorithm(name: &str) -> Option<Algorithm> {
    match name {
        "HS256" => Some(Algorithm::HS256),
        "RS256" => Some(Algorithm::RS256),
        "ES256" => Some(Algorithm::ES256),
        _ => None,
    }
}

impl JwtKey {
    /// A public key from its PEM (`RS256` or `ES256`).
    pub fn from_pem(kid: Option<String>, alg: Algorithm, pem: &str) -> Result<JwtKey, KeyError> {
        let key = match alg {
            Algorithm::RS256 => DecodingKey::from_rsa_pem(pem.as_bytes()),
            Algorithm::ES256 => DecodingKey::from_ec_pem(pem.as_bytes()),
            _ => return Err(KeyError::PemAlgorithm),
        }
        .map_err(|source| KeyError::Pem { alg, source })?;
        Ok(JwtKey { kid, alg, key })
    }

    /// The HS256 key of `secret`.
    pub fn hs256(secret: &[u8]) -> JwtKey {
        JwtKey {
            kid: None,
            alg: Algorithm::HS256,
            key: DecodingKey::from_secret(secret),
        }
    }

    /// The RS256 and ES256 keys of a JWKS document.
    pub fn from_jwks(text: &str) -> Result<Vec<JwtKey>, KeyError> {
        use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm};
        let set: JwkSet =
            serde_json::from_str(text).map_err(|e| KeyError::NotJwks(e.to_string()))?;
        let mut out = Vec::with_capacity(set.keys.len());
        for (i, jwk) in set.keys.iter().enumerate() {
            let alg = match (&jwk.common.key_algorithm, &jwk.algorithm) {
                (Some(KeyAlgorithm::RS256), _) | (None, AlgorithmParameters::RSA(_)) => {
                    Algorithm::RS256
                }
                (Some(KeyAlgorithm::ES256), _) | (None, AlgorithmParameters::EllipticCurve(_)) => {
                    Algorithm::ES256
                }
                _ => return Err(KeyError::Unsupported(i)),
            };
            let key =
                DecodingKey::from_jwk(jwk).map_err(|source| KeyError::Jwk { index: i, source })?;
            out.push(JwtKey {
                kid: jwk.common.key_id.clone(),
                alg,
                key,
            });
        }
        Ok(out)
    }
}
