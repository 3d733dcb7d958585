//! Who a request is: the request the engine decides, built one way from
//! its attributes, and the identity string each rule's key gives it
//! (secrets replaced by fingerprints, IPv6 by prefix).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use sha2::{Digest, Sha256};

#[cfg(feature = "jwt")]
use super::jwt::{Jwt, OnInvalid, TokenError};
use super::model::{HeaderTrust, Identity, KeyDigest, KeyPart, Policy};
use super::verdict::CheckError;
use crate::time::Timestamp;

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
    /// User id: a verified token's user claim, else the user header.
    pub user: Option<Cow<'a, str>>,
    /// Tier named by a verified token's tier claim (a known tier), which
    /// wins over the API key's client tier.
    pub tier: Option<Arc<str>>,
}

/// What is known of where a request comes from, beyond its headers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Origin {
    /// The socket peer is one of the trusted proxies (or the caller states
    /// the attributes, as the decision API does).
    pub peer_trusted: bool,
    /// Now, for the `exp` and `nbf` of tokens.
    pub now: Timestamp,
}

impl Identity {
    /// The one way to build the request the engine decides from what is
    /// known of it: the client IP (already resolved), method, path (a query
    /// is cut off), a header lookup (`header` gets a lower-case name;
    /// empty values count as absent), which gives the API key, the user and
    /// the token, and its origin. The user header counts only from a
    /// trusted peer under `user_header_from: trusted_proxies`. With `jwt`
    /// set, a valid token's claims name the user (and tier); an invalid one
    /// is refused, or ignored under `on_invalid: anonymous`. Without `jwt`
    /// no header is parsed.
    pub fn request<'a>(
        &self,
        ip: Option<IpAddr>,
        method: &'a str,
        path: &'a str,
        header: impl Fn(&str) -> Option<&'a str>,
        origin: Origin,
    ) -> Result<Request<'a>, CheckError> {
        let present = |name: &str| header(name).filter(|v| !v.is_empty());
        let mut req = Request {
            ip,
            method,
            path: path.split('?').next().unwrap_or(path),
            api_key: present(&self.api_key_header),
            user: None,
            tier: None,
        };
        #[cfg(feature = "jwt")]
        if let Some(jwt) = &self.jwt {
            if let Some(value) = present(&jwt.header) {
                let verified = Jwt::bearer(value)
                    .ok_or(TokenError::NotBearer)
                    .and_then(|t| jwt.verify(t, origin.now.0 / 1_000_000));
                match verified {
                    Ok(v) => {
                        req.user = Some(Cow::Owned(v.user));
                        req.tier = v.tier;
                        return Ok(req);
                    }
                    Err(e) if jwt.on_invalid == OnInvalid::Reject => {
                        return Err(CheckError::InvalidToken(e.to_string()));
                    }
                    Err(_) => {}
                }
            }
        }
        if self.user_header_from == HeaderTrust::Anyone || origin.peer_trusted {
            req.user = present(&self.user_header).map(Cow::Borrowed);
        }
        Ok(req)
    }
}

/// The SHA-256 digest of an API key: how clients are known (keys are
/// never held in clear).
pub fn key_digest(api_key: &str) -> KeyDigest {
    Sha256::digest(api_key.as_bytes()).into()
}

/// A short, stable fingerprint of an API key: safe to log and to use in
/// store keys, useless for calling the API. The first 8 bytes of its
/// SHA-256 digest, in hex.
pub fn fingerprint(secret: &str) -> String {
    fingerprint_of(&key_digest(secret))
}

/// The fingerprint of a key whose digest is `digest`.
pub fn fingerprint_of(digest: &KeyDigest) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(16);
    for b in &digest[..8] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
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

/// `v4` in dotted decimal, as its `Display` writes it, without the
/// formatting machinery (it is on every decision keyed by IP).
fn push_ipv4(out: &mut String, v4: Ipv4Addr) {
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        if octet >= 100 {
            out.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            out.push(char::from(b'0' + octet / 10 % 10));
        }
        out.push(char::from(b'0' + octet % 10));
    }
}

/// Escapes what would make two identities ambiguous (`|`), or break Redis
/// hash tags (`{`, `}`).
fn push_escaped(out: &mut String, v: &str) {
    for c in v.chars() {
        push_escaped_char(out, c);
    }
}

/// One character of an identity part, escaped as [`push_escaped`] does.
pub(crate) fn push_escaped_char(out: &mut String, c: char) {
    match c {
        '%' => out.push_str("%25"),
        '|' => out.push_str("%7C"),
        '{' => out.push_str("%7B"),
        '}' => out.push_str("%7D"),
        c => out.push(c),
    }
}

impl Policy {
    /// The identity string of `req` under a rule keyed by `parts`;
    /// `key_digest` is the digest of its API key, if it has one.
    pub fn identity(
        &self,
        parts: &[KeyPart],
        req: &Request<'_>,
        key_digest: Option<&KeyDigest>,
    ) -> Arc<str> {
        let mut out = String::with_capacity(48);
        let ip = |out: &mut String| match req.ip.map(|ip| ip_key(ip, self.identity.ipv6_prefix)) {
            Some(IpAddr::V4(v4)) => {
                out.push_str("i:");
                push_ipv4(out, v4);
            }
            Some(ip) => {
                let _ = write!(out, "i:{ip}");
            }
            None => out.push_str("i:unknown"),
        };
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                out.push('|');
            }
            match p {
                KeyPart::Ip => ip(&mut out),
                KeyPart::ApiKey => match key_digest {
                    Some(d) => {
                        out.push_str("k:");
                        out.push_str(&fingerprint_of(d));
                    }
                    None => ip(&mut out),
                },
                KeyPart::User => match req.user.as_deref() {
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
                // Descriptor rules never match an HTTP request.
                KeyPart::Descriptor => out.push_str("d:"),
            }
        }
        Arc::from(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_is_written_as_its_display_writes_it() {
        for o in 0..=255u8 {
            let v4 = Ipv4Addr::new(o, 255 - o, o / 2, o % 10);
            let mut out = String::new();
            push_ipv4(&mut out, v4);
            assert_eq!(out, v4.to_string());
        }
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

    #[test]
    fn requests_are_built_from_headers_one_way() {
        let id = Identity::default();
        let headers = [("x-api-key", "k1"), ("x-user-id", "")];
        let look = |n: &str| headers.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
        let r = id
            .request(None, "GET", "/a?x=1", look, Origin::default())
            .unwrap();
        assert_eq!(r.path, "/a");
        assert_eq!(r.api_key, Some("k1"));
        // An empty header is no user.
        assert_eq!(r.user, None);
    }
}
