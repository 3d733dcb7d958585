//! Descriptor rules (Envoy's rate limit service API): the document,
//! its errors, the most specific match, and decisions over descriptors.

use std::sync::Arc;

use floodgate_config::parse_policy;
use floodgate_core::policy::Descriptor;
use floodgate_core::{Limiter, MemoryStore, MemoryStoreConfig, Policy, Timestamp};

const POLICY: &str = "\
rules:
  - name: http
    match: { path: /api/* }
    limits: [ { algorithm: fixed_window, limit: 1, window: 1m } ]
  - name: per-key
    match:
      domain: edge
      descriptors: [ { key: api_key } ]
    limits: [ { algorithm: fixed_window, limit: 3, window: 1m } ]
  - name: vip
    match:
      domain: edge
      descriptors: [ { key: api_key, value: vip } ]
    limits: [ { algorithm: fixed_window, limit: 100, window: 1m } ]
  - name: partners
    match:
      domain: edge
      descriptors: [ { key: api_key, value: partner-* } ]
    limits: [ { algorithm: token_bucket, capacity: 5, refill: 1/s } ]
  - name: partners-eu
    match:
      domain: edge
      descriptors: [ { key: api_key, value: partner-eu-* } ]
    limits: [ { algorithm: token_bucket, capacity: 7, refill: 1/s } ]
  - name: login
    match:
      domain: edge
      descriptors: [ { key: remote_address }, { key: path, value: /login } ]
    limits: [ { algorithm: fixed_window, limit: 2, window: 1m } ]
  - name: login-all
    match:
      domain: edge
      descriptors: [ { key: remote_address }, { key: path, value: /login } ]
    key: global
    limits: [ { algorithm: fixed_window, limit: 4, window: 1m } ]
  - name: login-watch
    match:
      domain: edge
      descriptors: [ { key: remote_address }, { key: path, value: /login } ]
    shadow: true
    limits: [ { algorithm: fixed_window, limit: 1, window: 1m } ]
  - name: other-domain
    match:
      domain: internal
      descriptors: [ { key: api_key } ]
    limits: [ { algorithm: fixed_window, limit: 1, window: 1m } ]
";

fn policy() -> Policy {
    parse_policy("p.yaml", POLICY).unwrap()
}

fn names(p: &Policy, domain: &str, entries: &[(&str, &str)]) -> Vec<String> {
    p.descriptor_rules(domain, entries)
        .iter()
        .map(|r| r.name.to_string())
        .collect()
}

#[test]
fn the_most_specific_rule_wins() {
    let p = policy();
    assert_eq!(names(&p, "edge", &[("api_key", "k1")]), ["per-key"]);
    assert_eq!(names(&p, "edge", &[("api_key", "vip")]), ["vip"]);
    assert_eq!(
        names(&p, "edge", &[("api_key", "partner-us-1")]),
        ["partners"]
    );
    // The longer prefix is the more specific.
    assert_eq!(
        names(&p, "edge", &[("api_key", "partner-eu-1")]),
        ["partners-eu"]
    );
    // Rules with the same patterns all apply.
    assert_eq!(
        names(
            &p,
            "edge",
            &[("remote_address", "10.0.0.1"), ("path", "/login")]
        ),
        ["login", "login-all", "login-watch"]
    );
    assert_eq!(
        names(&p, "internal", &[("api_key", "k1")]),
        ["other-domain"]
    );
}

#[test]
fn a_descriptor_matches_with_all_its_entries_in_order_or_not_at_all() {
    let p = policy();
    // Too few, too many, out of order, unknown key or value, other domain.
    assert!(names(&p, "edge", &[("remote_address", "10.0.0.1")]).is_empty());
    assert!(names(&p, "edge", &[("api_key", "k1"), ("x", "y")]).is_empty());
    assert!(names(&p, "edge", &[("path", "/login"), ("remote_address", "1")]).is_empty());
    assert!(names(&p, "edge", &[("remote_address", "1"), ("path", "/x")]).is_empty());
    assert!(names(&p, "nowhere", &[("api_key", "k1")]).is_empty());
    assert!(names(&p, "edge", &[]).is_empty());
}

#[test]
fn a_more_specific_branch_that_ends_short_does_not_fall_back() {
    // As the reference service walks its tree: `a=x` is taken over `a`,
    // and its branch has no limit for one entry alone.
    let p = parse_policy(
        "p.yaml",
        "\
rules:
  - name: any-a
    match: { domain: d, descriptors: [ { key: a } ] }
    limits: [ { algorithm: fixed_window, limit: 1, window: 1s } ]
  - name: a-x-b
    match: { domain: d, descriptors: [ { key: a, value: x }, { key: b } ] }
    limits: [ { algorithm: fixed_window, limit: 1, window: 1s } ]
",
    )
    .unwrap();
    assert!(names(&p, "d", &[("a", "x")]).is_empty());
    assert_eq!(names(&p, "d", &[("a", "y")]), ["any-a"]);
    assert_eq!(names(&p, "d", &[("a", "x"), ("b", "1")]), ["a-x-b"]);
}

#[test]
fn http_and_descriptor_rules_never_match_each_other() {
    let p = policy();
    assert!(
        p.rules
            .iter()
            .filter(|r| r.matcher.matches("GET", "/api/x"))
            .count()
            == 1
    );
    assert!(names(&p, "edge", &[("path", "/api/x")]).is_empty());
    let plan = p
        .plan(
            &floodgate_core::Request {
                method: "GET",
                path: "/other",
                ..Default::default()
            },
            1,
            Timestamp::EPOCH,
        )
        .unwrap();
    assert!(plan.enforced.checks.is_empty());
}

#[test]
fn descriptor_values_key_the_counters() {
    let p = policy();
    let id = |rule: &str, e: &[(&str, &str)]| {
        let r = p.rules.iter().find(|r| &*r.name == rule).unwrap();
        Policy::descriptor_identity(&r.key, e).to_string()
    };
    assert_eq!(id("per-key", &[("api_key", "k1")]), "d:api_key=k1");
    assert_ne!(
        id("per-key", &[("api_key", "k1")]),
        id("per-key", &[("api_key", "k2")])
    );
    assert_eq!(
        id("login-all", &[("remote_address", "1"), ("path", "/login")]),
        "g"
    );
    // Separators inside keys and values cannot make two descriptors one.
    assert_ne!(
        id("per-key", &[("api_key", "a,b=c")]),
        Policy::descriptor_identity(&p.rules[1].key, &[("api_key", "a"), ("b", "c")]).to_string()
    );
}

fn limiter() -> Limiter {
    let store = MemoryStore::new(MemoryStoreConfig::default());
    Limiter::new(Arc::new(policy()), Arc::new(store))
}

fn d<'a>(entries: &[(&'a str, &'a str)], cost: u64) -> Descriptor<'a> {
    Descriptor {
        entries: entries.to_vec(),
        cost,
    }
}

#[tokio::test]
async fn one_call_is_all_or_nothing_with_a_status_per_descriptor() {
    let l = limiter();
    let now = Timestamp::from_micros(1_000_000_000);
    let key = [("api_key", "k1")];
    let login = [("remote_address", "10.0.0.1"), ("path", "/login")];
    // k1 has 3, the login 2: two calls pass.
    for _ in 0..2 {
        let v = l
            .check_descriptors("edge", &[d(&key, 1), d(&login, 1)], now)
            .await
            .unwrap();
        assert!(v.verdict.allowed);
    }
    // The third: the login denies, so k1 consumes nothing.
    let v = l
        .check_descriptors("edge", &[d(&key, 1), d(&login, 1)], now)
        .await
        .unwrap();
    assert!(!v.verdict.allowed);
    assert!(v.of(0).allowed);
    assert!(!v.of(1).allowed);
    let k1 = v.of(0);
    let o = k1.deciding().unwrap();
    assert_eq!((&*o.rule, o.decision.limit), ("per-key", 3));
    // k1 alone still has its third hit.
    let v = l
        .check_descriptors("edge", &[d(&key, 1)], now)
        .await
        .unwrap();
    assert!(v.verdict.allowed);
    assert_eq!(v.of(0).deciding().unwrap().decision.remaining, 0);
    let v = l
        .check_descriptors("edge", &[d(&key, 1)], now)
        .await
        .unwrap();
    assert!(!v.verdict.allowed);
}

#[tokio::test]
async fn shadow_rules_are_counted_and_never_deny_and_costs_add() {
    let l = limiter();
    let now = Timestamp::from_micros(1_000_000_000);
    let login = [("remote_address", "10.0.0.2"), ("path", "/login")];
    let v = l
        .check_descriptors("edge", &[d(&login, 1)], now)
        .await
        .unwrap();
    assert!(v.verdict.allowed);
    let v = l
        .check_descriptors("edge", &[d(&login, 1)], now)
        .await
        .unwrap();
    // The shadow rule (limit 1) would deny; the verdict stands.
    assert!(v.verdict.allowed);
    assert_eq!(v.verdict.shadow_denials().count(), 1);
    assert!(v.of(0).allowed);
    // The global key counted both calls: 2 of 4 left; a cost of 3 is too much.
    let other = [("remote_address", "10.0.0.3"), ("path", "/login")];
    let v = l
        .check_descriptors("edge", &[d(&other, 3)], now)
        .await
        .unwrap();
    assert!(!v.verdict.allowed);
    let v = l
        .check_descriptors("edge", &[d(&other, 2)], now)
        .await
        .unwrap();
    assert!(v.verdict.allowed);
    // A descriptor no rule matches has no outcome and stays OK.
    let v = l
        .check_descriptors("edge", &[d(&[("nothing", "x")], 1)], now)
        .await
        .unwrap();
    assert!(v.verdict.allowed && v.of(0).outcomes.is_empty());
}

#[test]
fn errors_name_the_field() {
    let err = |yaml: &str| parse_policy("p.yaml", yaml).unwrap_err();
    let limits = "    limits: [ { algorithm: fixed_window, limit: 1, window: 1s } ]\n";
    let cases = [
        (
            "match: { descriptors: [ { key: a } ] }",
            "rules[0].match.descriptors",
            "domain",
        ),
        (
            "match: { domain: d }",
            "rules[0].match.descriptors",
            "1 to 16",
        ),
        (
            "match: { domain: '', descriptors: [ { key: a } ] }",
            "rules[0].match.domain",
            "1 to 1024",
        ),
        (
            "match: { domain: d, path: /x, descriptors: [ { key: a } ] }",
            "rules[0].match.path",
            "not both",
        ),
        (
            "match: { domain: d, descriptors: [ { key: '' } ] }",
            "rules[0].match.descriptors[0].key",
            "1 to 1024",
        ),
        (
            "match: { domain: d, descriptors: [ { key: a, value: ab, share_threshold: true } ] }",
            "rules[0].match.descriptors[0].share_threshold",
            "wildcard",
        ),
        (
            "match: { domain: d, descriptors: [ { key: a, value: '' } ] }",
            "rules[0].match.descriptors[0].value",
            "1 to 1024",
        ),
        (
            "match: { domain: d, descriptors: [ { key: a } ] }\n    key: ip",
            "rules[0].key",
            "does not apply",
        ),
        (
            "match: { path: /x }\n    key: descriptor",
            "rules[0].key",
            "only to descriptor rules",
        ),
        (
            "match: { domain: d, descriptors: [ { key: a, flavour: x } ] }",
            "rules[0].match.descriptors[0]",
            "unknown field",
        ),
    ];
    for (m, field, msg) in cases {
        let yaml = format!("rules:\n  - name: r\n    {m}\n{limits}");
        let e = err(&yaml);
        assert!(e.field.starts_with(field), "{m}: {e}");
        assert!(e.message.contains(msg), "{m}: {e}");
        assert!(e.line >= 2, "{m}: {e}");
    }
    for (yaml, field, msg) in [
        ("rules:\n  - name: r\n    match: { path: /x }\n    unlimited: true\n", "rules[0].unlimited", "only to descriptor rules"),
        ("rules:\n  - name: r\n    match: { path: /x }\n    replaces: [a]\n    limits: [ { algorithm: gcra, rate: 1/s } ]\n", "rules[0].replaces", "only to descriptor rules"),
        ("rules:\n  - name: r\n    match: { domain: d, descriptors: [ { key: a } ] }\n    unlimited: true\n    limits: [ { algorithm: gcra, rate: 1/s } ]\n", "rules[0].limits", "no limits"),
        ("rules:\n  - name: r\n    match: { domain: d, descriptors: [ { key: a } ] }\n    replaces: ['a b']\n    limits: [ { algorithm: gcra, rate: 1/s } ]\n", "rules[0].replaces[0]", "not a valid name"),
    ] {
        let e = err(yaml);
        assert_eq!(e.field, field, "{e}");
        assert!(e.message.contains(msg), "{e}");
    }
    // An unlimited descriptor rule needs no limits.
    parse_policy("p.yaml", "rules:\n  - name: r\n    match: { domain: d, descriptors: [ { key: a } ] }\n    unlimited: true\n").unwrap();
    let e = err("tiers: [pro]\nrules:\n  - name: r\n    match: { domain: d, descriptors: [ { key: a } ] }\n    tiers: { pro: [ { algorithm: gcra, rate: 1/s } ] }\n");
    assert_eq!((e.field.as_str(), e.line), ("rules[0].tiers", 5), "{e}");
}

#[test]
fn a_value_may_hold_a_star_anywhere_and_share_its_counter() {
    let p = parse_policy(
        "p.yaml",
        "rules:\n  - name: r\n    match: { domain: d, descriptors: [ { key: a, value: 'a*b*', share_threshold: true } ] }\n    limits: [ { algorithm: gcra, rate: 1/s } ]\n",
    )
    .unwrap();
    assert_eq!(p.descriptor_rules("d", &[("a", "a1b2")]).len(), 1);
    assert_eq!(p.descriptor_rules("d", &[("a", "ab")]).len(), 1);
    assert!(p.descriptor_rules("d", &[("a", "a1")]).is_empty());
    let r = &p.rules[0];
    assert_eq!(&*Policy::rule_identity(r, &[("a", "a1b2")]), "d:a=a*b*");
}
