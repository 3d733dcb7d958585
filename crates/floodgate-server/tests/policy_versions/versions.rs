//! The two policy versions, and how an answer names its version.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    A,
    B,
}

use Version::{A, B};

impl Version {
    pub(crate) const BOTH: [Version; 2] = [A, B];

    pub(crate) fn tag(self) -> &'static str {
        match self {
            A => "a",
            B => "b",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            A => 0,
            B => 1,
        }
    }

    /// The version live after `changes` changes (A first).
    pub(crate) fn after(changes: u64) -> Version {
        if changes % 2 == 0 {
            A
        } else {
            B
        }
    }

    /// The HTTP rule's limit for its pro clients.
    pub(crate) fn pro_limit(self) -> u64 {
        match self {
            A => 1_000_011,
            B => 1_000_021,
        }
    }

    /// The HTTP rule's limit for everyone else (free).
    pub(crate) fn free_limit(self) -> u64 {
        match self {
            A => 1_000_012,
            B => 1_000_022,
        }
    }

    /// The tier a request carrying both keys is under this version's
    /// identity: A reads `x-key-a` (a pro client), B `x-key-b` (unknown).
    pub(crate) fn tier(self) -> &'static str {
        match self {
            A => "pro",
            B => "free",
        }
    }

    /// The limit such a request gets: its tier's, in this version.
    pub(crate) fn http_limit(self) -> u64 {
        match self {
            A => A.pro_limit(),
            B => B.free_limit(),
        }
    }

    /// The limit of descriptor rule `i` (0: `one`, 1: `two`).
    pub(crate) fn descriptor_limit(self, i: usize) -> u64 {
        match self {
            A => 1_000_031 + i as u64,
            B => 1_000_041 + i as u64,
        }
    }

    pub(crate) fn rule(self) -> String {
        format!("http-{}", self.tag())
    }

    pub(crate) fn limit_names(self) -> [String; 2] {
        let t = self.tag();
        [format!("{t}-first"), format!("{t}-second")]
    }

    pub(crate) fn shadow_names(self) -> [String; 2] {
        let t = self.tag();
        [
            format!("shadow-{t}-1/{t}-s1"),
            format!("shadow-{t}-2/{t}-s2"),
        ]
    }

    /// The descriptor rules' limits.
    pub(crate) fn descriptor_limit_names(self) -> [String; 2] {
        let t = self.tag();
        [format!("{t}-one"), format!("{t}-two")]
    }

    /// The descriptor rules' limits as a `ShouldRateLimit` status names
    /// them (`rule/limit`).
    pub(crate) fn descriptor_names(self) -> [String; 2] {
        let t = self.tag();
        self.descriptor_limit_names()
            .map(|limit| format!("grpc-{t}-{}/{limit}", &limit[2..]))
    }

    /// The version's policy document (YAML).
    pub(crate) fn policy(self) -> String {
        let t = self.tag();
        let (pro, free) = (self.pro_limit(), self.free_limit());
        let (one, two) = (self.descriptor_limit(0), self.descriptor_limit(1));
        let pem = std::fs::read_to_string(format!("{DATA}/jwt_ec1.pub.pem")).unwrap();
        let pem = serde_json::to_string(&pem).unwrap();
        format!(
            r#"tiers: [free, pro]
default_tier: free
clients:
  - {{ api_key: key-pro, tier: pro }}
identity:
  api_key_header: x-key-{t}
  jwt:
    algorithms: [ES256]
    keys: [ {{ kid: e1, alg: ES256, pem: {pem} }} ]
rules:
  - name: http-{t}
    match: {{ path: /api/v1/data }}
    key: api_key
    limits:
      - {{ name: {t}-first, algorithm: fixed_window, limit: {free}, window: 1h }}
      - {{ name: {t}-second, algorithm: fixed_window, limit: {free}, window: 1h }}
    tiers:
      pro:
        - {{ name: {t}-first, algorithm: fixed_window, limit: {pro}, window: 1h }}
        - {{ name: {t}-second, algorithm: fixed_window, limit: {pro}, window: 1h }}
  - name: shadow-{t}-1
    match: {{ path: /api/v1/data }}
    key: global
    shadow: true
    limits: [ {{ name: {t}-s1, algorithm: fixed_window, limit: 1, window: 1h }} ]
  - name: shadow-{t}-2
    match: {{ path: /api/v1/data }}
    key: global
    shadow: true
    limits: [ {{ name: {t}-s2, algorithm: fixed_window, limit: 1, window: 1h }} ]
  - name: grpc-{t}-one
    match: {{ domain: edge, descriptors: [ {{ key: one }} ] }}
    limits: [ {{ name: {t}-one, algorithm: fixed_window, limit: {one}, window: 1h }} ]
  - name: grpc-{t}-two
    match: {{ domain: edge, descriptors: [ {{ key: two }} ] }}
    limits: [ {{ name: {t}-two, algorithm: fixed_window, limit: {two}, window: 1h }} ]
"#
        )
    }

    /// The version a name of `names(v)` belongs to.
    pub(crate) fn owning<const N: usize>(
        name: &str,
        names: fn(Version) -> [String; N],
    ) -> Option<Version> {
        Version::BOTH
            .into_iter()
            .find(|v| names(*v).iter().any(|n| n == name))
    }
}
