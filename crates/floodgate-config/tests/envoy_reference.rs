//! envoyproxy/ratelimit's fields beyond the basics, read as the reference
//! service reads them: `share_threshold` (one counter for every value a
//! wildcard matches), `requests_per_unit: 0` (always over the limit),
//! wildcards anywhere in a value, the fields accepted with a warning
//! (`quota_mode`, `detailed_metric`, `value_to_metric`), and what it
//! refuses (`replaces` naming itself, `unit` beside `unlimited`).

use std::sync::Arc;

use floodgate_config::envoy_ratelimit::Imported;
use floodgate_config::{PolicyDocument, Source};
use floodgate_core::policy::Descriptor;
use floodgate_core::{Limiter, MemoryStore, MemoryStoreConfig, Policy, Timestamp};

fn imported(text: &str) -> Imported {
    let mut i = Imported::default();
    i.add("ratelimit.yaml", text).unwrap();
    i
}

/// The policy of `text`, through the policy file `import` prints.
fn policy(text: &str) -> Policy {
    let doc = PolicyDocument {
        rules: imported(text).rules,
        ..PolicyDocument::default()
    };
    let yaml = serde_yaml_ng::to_string(&doc).unwrap();
    let back = PolicyDocument::from_yaml("imported.yaml", &yaml).unwrap();
    assert_eq!(back, doc);
    back.validate(&Source {
        name: "imported.yaml",
        text: &yaml,
    })
    .unwrap()
}

fn limiter(text: &str) -> Limiter {
    Limiter::new(
        Arc::new(policy(text)),
        Arc::new(MemoryStore::new(MemoryStoreConfig::default())),
    )
}

/// Whether one call of `domain` with one descriptor `[key=value]` is
/// allowed.
async fn allowed(l: &Limiter, domain: &str, key: &str, value: &str) -> bool {
    let d = Descriptor {
        entries: vec![(key, value)],
        cost: 1,
    };
    let now = Timestamp::from_micros(1_000_000_000);
    l.check_descriptors(domain, &[d], now)
        .await
        .unwrap()
        .verdict
        .allowed
}

const SHARED: &str = "\
domain: example11
descriptors:
  - key: files
    value: files/*
    share_threshold: true
    rate_limit: { unit: hour, requests_per_unit: 10 }
  - key: files_no_share
    value: files_no_share/*
    share_threshold: false
    rate_limit: { unit: hour, requests_per_unit: 10 }
";

#[tokio::test]
async fn share_threshold_gives_every_matching_value_one_counter() {
    // The reference's README, example 11.
    let l = limiter(SHARED);
    for v in ["files/a.pdf", "files/b.csv"] {
        for _ in 0..5 {
            assert!(allowed(&l, "example11", "files", v).await);
        }
    }
    assert!(!allowed(&l, "example11", "files", "files/c.txt").await);
    for _ in 0..10 {
        assert!(allowed(&l, "example11", "files_no_share", "files_no_share/a.pdf").await);
    }
    assert!(!allowed(&l, "example11", "files_no_share", "files_no_share/a.pdf").await);
    assert!(allowed(&l, "example11", "files_no_share", "files_no_share/b.csv").await);
}

#[test]
fn share_threshold_shares_at_its_own_level_when_the_limit_is_deeper() {
    let p = policy(
        "domain: d\ndescriptors:\n  - key: route\n    value: api/*\n    share_threshold: true\n    descriptors:\n      - key: method\n        rate_limit: { unit: minute, requests_per_unit: 60 }\n",
    );
    let r = p.descriptor_rules("d", &[("route", "api/v1"), ("method", "GET")])[0];
    assert_eq!(
        &*Policy::rule_identity(r, &[("route", "api/v1"), ("method", "GET")]),
        "d:route=api/*,method=GET"
    );
    assert_eq!(
        Policy::rule_identity(r, &[("route", "api/v2"), ("method", "GET")]),
        Policy::rule_identity(r, &[("route", "api/v1"), ("method", "GET")])
    );
}

#[tokio::test]
async fn requests_per_unit_zero_is_always_over_the_limit() {
    // The reference's README, example 3: a blocked address.
    let l = limiter(
        "domain: edge\ndescriptors:\n  - key: remote_address\n    rate_limit: { unit: second, requests_per_unit: 10 }\n  - key: remote_address\n    value: 50.0.0.5\n    rate_limit: { unit: second, requests_per_unit: 0 }\n",
    );
    assert!(!allowed(&l, "edge", "remote_address", "50.0.0.5").await);
    assert!(!allowed(&l, "edge", "remote_address", "50.0.0.5").await);
    assert!(allowed(&l, "edge", "remote_address", "50.0.0.1").await);
}

#[test]
fn a_star_in_the_middle_is_a_wildcard() {
    let p = policy(
        "domain: d\ndescriptors:\n  - key: foo\n    value: bar*b\n    rate_limit: { name: mid, unit: minute, requests_per_unit: 1 }\n  - key: foo\n    value: foo*bar*baz\n    rate_limit: { name: multi, unit: minute, requests_per_unit: 1 }\n  - key: foo\n    value: '*'\n    rate_limit: { name: star, unit: minute, requests_per_unit: 1 }\n  - key: foo\n    value: barxb\n    rate_limit: { name: exact, unit: minute, requests_per_unit: 1 }\n",
    );
    let rule = |v: &str| -> Vec<String> {
        p.descriptor_rules("d", &[("foo", v)])
            .iter()
            .map(|r| r.name.to_string())
            .collect()
    };
    assert_eq!(rule("bar-anything-b"), ["mid"]);
    assert_eq!(rule("barb"), ["mid"]);
    assert_eq!(rule("foo1bar2baz"), ["multi"]);
    assert_eq!(rule("foobarbaz"), ["multi"]);
    // Not matched by the middle patterns: the bare `*` takes them.
    assert_eq!(rule("bar*bx"), ["star"]);
    assert_eq!(rule("foobazbar"), ["star"]);
    // An exact value still wins over any pattern.
    assert_eq!(rule("barxb"), ["exact"]);
}

#[test]
fn metric_and_quota_fields_are_accepted_with_a_located_warning() {
    let i = imported(
        "domain: d\ndescriptors:\n  - key: a\n    detailed_metric: true\n    value_to_metric: true\n    rate_limit: { unit: second, requests_per_unit: 1 }\n  - key: b\n    quota_mode: true\n    rate_limit: { unit: second, requests_per_unit: 1 }\n  - key: c\n    detailed_metric: false\n    quota_mode: false\n    rate_limit: { unit: second, requests_per_unit: 1 }\n",
    );
    assert_eq!(i.rules.len(), 3);
    let w: Vec<(usize, &str)> = i
        .warnings
        .iter()
        .map(|w| (w.line, w.field.as_str()))
        .collect();
    assert_eq!(
        w,
        [
            (4, "descriptors[0].detailed_metric"),
            (5, "descriptors[0].value_to_metric"),
            (8, "descriptors[1].quota_mode"),
        ]
    );
    assert!(i.warnings.iter().all(|w| w.file == "ratelimit.yaml"));
    assert!(
        i.warnings[2].message.contains("not supported"),
        "{}",
        i.warnings[2]
    );
    assert!(
        i.warnings[0].message.contains("ignored"),
        "{}",
        i.warnings[0]
    );
}

#[test]
fn what_the_reference_refuses_is_refused_with_its_place() {
    let cases = [
        ("domain: d\ndescriptors:\n  - key: a\n    rate_limit:\n      name: a\n      unit: second\n      requests_per_unit: 1\n      replaces: [ { name: a } ]\n", 8, "descriptors[0].rate_limit.replaces[0].name", "replaces itself"),
        ("domain: d\ndescriptors:\n  - key: a\n    rate_limit:\n      unlimited: true\n      unit: second\n", 6, "descriptors[0].rate_limit.unit", "unlimited"),
        ("domain: d\ndescriptors:\n  - key: a\n    value: b\n    share_threshold: true\n    rate_limit: { unit: second, requests_per_unit: 1 }\n", 5, "descriptors[0].share_threshold", "wildcard"),
        ("domain: d\ndescriptors:\n  - key: a\n    share_threshold: true\n", 4, "descriptors[0].share_threshold", "wildcard"),
    ];
    for (text, line, field, msg) in cases {
        let e = Imported::default().add("rl/config.yaml", text).unwrap_err();
        assert_eq!(e.file, "rl/config.yaml");
        assert_eq!((e.line, e.field.as_str()), (line, field), "{text}: {e}");
        assert!(e.message.contains(msg), "{text}: {e}");
    }
}
