//! Who the client is: the socket peer, unless the peer is a trusted proxy,
//! in which case the right-most address of `X-Forwarded-For` /
//! `Forwarded` that is not itself a trusted proxy.
//!
//! The peer comes from a [`PeerAddr`] request extension or, with the
//! `axum` feature (on by default), from axum's `ConnectInfo<SocketAddr>`.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use http::HeaderMap;
use ipnet::IpNet;

/// The peer address of a connection, for hyper users (axum users get it
/// from `ConnectInfo<SocketAddr>`).
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub SocketAddr);

/// The socket peer of `req`, from a [`PeerAddr`] or (with the `axum`
/// feature) axum's `ConnectInfo`.
pub(crate) fn peer_of<B>(req: &http::Request<B>) -> Option<IpAddr> {
    let ext = req.extensions();
    #[cfg(feature = "axum")]
    if let Some(c) = ext.get::<axum::extract::ConnectInfo<SocketAddr>>() {
        return Some(c.0.ip());
    }
    ext.get::<PeerAddr>().map(|p| p.0.ip())
}

/// An entry of a trusted proxy list that is neither an address nor a
/// CIDR.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an IP address or CIDR")]
pub struct BadProxy(pub String);

/// Proxies whose forwarding headers are believed.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    /// No proxy is trusted: the peer is the client.
    pub fn none() -> Self {
        TrustedProxies::default()
    }

    /// Parses CIDRs (`10.0.0.0/8`) or single addresses (`127.0.0.1`).
    pub fn parse<S: AsRef<str>>(list: &[S]) -> Result<Self, BadProxy> {
        let mut nets = Vec::with_capacity(list.len());
        for s in list {
            let s = s.as_ref().trim();
            let net = match IpNet::from_str(s) {
                Ok(n) => n,
                Err(_) => match IpAddr::from_str(s) {
                    Ok(ip) => IpNet::from(ip),
                    Err(_) => return Err(BadProxy(s.to_string())),
                },
            };
            nets.push(net.trunc());
        }
        Ok(TrustedProxies { nets })
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Parses one `X-Forwarded-For` element or `Forwarded` `for=` value:
/// `1.2.3.4`, `1.2.3.4:80`, `[2001:db8::1]:80`, `"[2001:db8::1]"`.
fn parse_node(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_matches('"');
    if let Ok(ip) = IpAddr::from_str(s) {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']')?;
        return IpAddr::from_str(&rest[..end]).ok();
    }
    let (host, port) = s.rsplit_once(':')?;
    if port.bytes().all(|b| b.is_ascii_digit()) {
        return IpAddr::from_str(host).ok().filter(IpAddr::is_ipv4);
    }
    None
}

/// Addresses from the forwarding headers, in hop order (client first).
/// `Forwarded` wins when present; an element that cannot be parsed (an
/// obfuscated or `unknown` node) stops the walk there.
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all(http::header::FORWARDED)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        let mut out = Vec::new();
        for v in forwarded {
            for element in v.split(',') {
                let node = element.split(';').find_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    k.trim().eq_ignore_ascii_case("for").then_some(v)
                });
                out.push(node.and_then(parse_node));
            }
        }
        return out;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(parse_node)
        .collect()
}

/// The client address of a request that arrived from `peer`.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = canonical(peer);
    if !trusted.contains(peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded_chain(headers).into_iter().rev() {
        match hop {
            Some(ip) => {
                client = canonical(ip);
                if !trusted.contains(client) {
                    break;
                }
            }
            // An unparseable hop: the proxy before it vouched for nothing
            // we can use; stop at the last address we trust.
            None => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peers_cannot_spoof() {
        let t = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        let h = headers(&[("x-forwarded-for", "1.1.1.1")]);
        assert_eq!(client_ip(ip("192.0.2.9"), &h, &t), ip("192.0.2.9"));
        assert_eq!(
            client_ip(ip("192.0.2.9"), &h, &TrustedProxies::none()),
            ip("192.0.2.9")
        );
    }

    #[test]
    fn right_most_untrusted_address_is_the_client() {
        let t = TrustedProxies::parse(&["10.0.0.0/8", "127.0.0.1"]).unwrap();
        // The client forged the first element; the proxies appended the rest.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.5, 10.1.1.1")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &t), ip("203.0.113.5"));
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "203.0.113.5:4711"),
        ]);
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &t), ip("203.0.113.5"));
        // Only trusted hops: the left-most one is the best we know.
        let h = headers(&[("x-forwarded-for", "10.9.9.9")]);
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &t), ip("10.9.9.9"));
        // No header: the proxy itself.
        assert_eq!(
            client_ip(ip("10.0.0.2"), &HeaderMap::new(), &t),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn forwarded_header() {
        let t = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        let h = headers(&[(
            "forwarded",
            "for=6.6.6.6, for=\"[2001:db8::7]:443\";proto=https, for=10.0.0.3",
        )]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &t), ip("2001:db8::7"));
        let h = headers(&[("forwarded", "for=unknown, for=10.0.0.3")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &t), ip("10.0.0.3"));
    }

    #[test]
    fn bad_cidrs_are_refused() {
        assert!(TrustedProxies::parse(&["10.0.0.0/33"]).is_err());
        assert!(TrustedProxies::parse(&["proxy.local"]).is_err());
        let t = TrustedProxies::parse(&["::1"]).unwrap();
        assert!(t.contains(ip("::1")));
    }
}
