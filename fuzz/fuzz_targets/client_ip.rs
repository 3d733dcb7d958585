//! Who the client is: `client_ip(peer, headers, trusted)` with arbitrary
//! `X-Forwarded-For` and `Forwarded` values.
//!
//! Input: the first byte picks the peer and the trusted-proxy set; the
//! rest is lines, one header each: a line starting with `F` is a
//! `Forwarded` value (the rest of the line), any other line an
//! `X-Forwarded-For` value. Values that are not valid header bytes are
//! skipped.
#![no_main]

use std::net::IpAddr;
use std::sync::OnceLock;

use floodgate_tower::{client_ip, TrustedProxies};
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

const PEERS: [&str; 6] = [
    "127.0.0.1",
    "10.1.2.3",
    "192.0.2.9",
    "::1",
    "::ffff:10.0.0.1",
    "2001:db8::7",
];

fn trusted() -> &'static [TrustedProxies; 4] {
    static SETS: OnceLock<[TrustedProxies; 4]> = OnceLock::new();
    SETS.get_or_init(|| {
        [
            TrustedProxies::none(),
            TrustedProxies::parse(&["127.0.0.1", "::1"]).unwrap(),
            TrustedProxies::parse(&["10.0.0.0/8", "127.0.0.0/8", "2001:db8::/32"]).unwrap(),
            TrustedProxies::parse(&["0.0.0.0/0", "::/0"]).unwrap(),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let peer: IpAddr = PEERS[usize::from(pick & 0x0f) % PEERS.len()]
        .parse()
        .unwrap();
    let trusted = &trusted()[usize::from(pick >> 4) % 4];
    let mut headers = HeaderMap::new();
    for line in rest.split(|b| *b == b'\n') {
        let (name, value) = match line.split_first() {
            Some((b'F', v)) => (http::header::FORWARDED, v),
            _ => (http::HeaderName::from_static("x-forwarded-for"), line),
        };
        if let Ok(v) = HeaderValue::from_bytes(value) {
            headers.append(name, v);
        }
    }
    let ip = client_ip(peer, &headers, trusted);
    // The answer is the peer or an address the headers named, and the
    // peer unless it is a trusted proxy.
    if !trusted.contains(peer) {
        assert_eq!(ip, canonical(peer));
    }
});

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}
