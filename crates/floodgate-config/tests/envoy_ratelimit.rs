//! envoyproxy/ratelimit configuration read into descriptor rules: nested
//! descriptors, wildcards, `replaces`, `unlimited`, `shadow_mode`,
//! directories, and invalid files named by file, line and field; the rules
//! decide as the reference service matches.

use std::sync::Arc;

use floodgate_config::envoy_ratelimit::{import_path, ImportError, Imported};
use floodgate_config::{PolicyDocument, Source};
use floodgate_core::policy::Descriptor;
use floodgate_core::{Limiter, MemoryStore, MemoryStoreConfig, Policy, Timestamp};

/// In the style of the reference service's examples.
const REFERENCE: &str = "\
domain: mongo_cps
descriptors:
  - key: database
    value: users
    rate_limit:
      unit: second
      requests_per_unit: 500
  - key: database
    value: default
    rate_limit:
      unit: second
      requests_per_unit: 500
  - key: message_type
    value: marketing
    descriptors:
      - key: to_number
        rate_limit:
          unit: day
          requests_per_unit: 5
  - key: to_number
    rate_limit:
      unit: day
      requests_per_unit: 100
  - key: to_number
    value: '2061111111'
    rate_limit:
      unlimited: true
  - key: path
    value: /api/*
    rate_limit:
      name: api-paths
      unit: minute
      requests_per_unit: 2
  - key: path
    value: /api/v2/*
    shadow_mode: true
    detailed_metric: true
    rate_limit:
      name: api-v2-watch
      unit: minute
      requests_per_unit: 1
  - key: client
    rate_limit:
      name: per-client
      unit: hour
      requests_per_unit: 3
  - key: client_tier
    value: gold
    rate_limit:
      name: gold
      unit: hour
      requests_per_unit: 10
      replaces:
        - name: per-client
";

fn imported(text: &str) -> Imported {
    let mut i = Imported::default();
    i.add("ratelimit.yaml", text).unwrap();
    i
}

fn policy(text: &str) -> (PolicyDocument, Policy) {
    let doc = PolicyDocument {
        rules: imported(text).rules,
        ..PolicyDocument::default()
    };
    // The policy file `import` prints reads back as it was.
    let yaml = serde_yaml_ng::to_string(&doc).unwrap();
    let back = PolicyDocument::from_yaml("imported.yaml", &yaml).unwrap();
    assert_eq!(back, doc);
    let p = back
        .validate(&Source {
            name: "imported.yaml",
            text: &yaml,
        })
        .unwrap();
    (doc, p)
}

fn rules(p: &Policy, entries: &[(&str, &str)]) -> Vec<String> {
    p.descriptor_rules("mongo_cps", entries)
        .iter()
        .map(|r| r.name.to_string())
        .collect()
}

#[test]
fn each_limit_becomes_a_rule_with_its_path() {
    let (doc, p) = policy(REFERENCE);
    let names: Vec<&str> = doc.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "mongo_cps.database_users",
            "mongo_cps.database_default",
            "mongo_cps.message_type_marketing.to_number",
            "mongo_cps.to_number",
            "mongo_cps.to_number_2061111111",
            "api-paths",
            "api-v2-watch",
            "per-client",
            "gold",
        ]
    );
    let nested = &doc.rules[2];
    assert_eq!(nested.matcher.domain.as_deref(), Some("mongo_cps"));
    assert_eq!(nested.matcher.descriptors.len(), 2);
    assert_eq!(nested.matcher.descriptors[1].value, None);
    let l = &nested.limits[0];
    assert_eq!((l.algorithm.as_str(), l.limit), ("fixed_window", Some(5)));
    assert_eq!(l.window.unwrap().0.as_secs(), 86_400);
    assert!(doc.rules[4].unlimited && doc.rules[4].limits.is_empty());
    assert!(doc.rules[6].shadow);
    assert_eq!(doc.rules[8].replaces, ["per-client"]);
    assert_eq!(p.rules.len(), 9);
}

#[test]
fn matching_is_the_reference_services() {
    let (_, p) = policy(REFERENCE);
    assert_eq!(
        rules(&p, &[("database", "users")]),
        ["mongo_cps.database_users"]
    );
    assert!(rules(&p, &[("database", "other")]).is_empty());
    assert_eq!(
        rules(&p, &[("message_type", "marketing"), ("to_number", "1")]),
        ["mongo_cps.message_type_marketing.to_number"]
    );
    assert!(rules(&p, &[("message_type", "marketing")]).is_empty());
    assert_eq!(rules(&p, &[("to_number", "1")]), ["mongo_cps.to_number"]);
    // The exact value wins over any value, and limits nothing.
    assert_eq!(
        rules(&p, &[("to_number", "2061111111")]),
        ["mongo_cps.to_number_2061111111"]
    );
    // Wildcards: the longer prefix wins.
    assert_eq!(rules(&p, &[("path", "/api/v1/x")]), ["api-paths"]);
    assert_eq!(rules(&p, &[("path", "/api/v2/x")]), ["api-v2-watch"]);
}

#[tokio::test]
async fn unlimited_shadow_and_replaces_decide_as_written() {
    let (_, p) = policy(REFERENCE);
    let l = Limiter::new(
        Arc::new(p),
        Arc::new(MemoryStore::new(MemoryStoreConfig::default())),
    );
    let now = Timestamp::from_micros(1_000_000_000);
    let d = |e: &[(&'static str, &'static str)]| Descriptor {
        entries: e.to_vec(),
        cost: 1,
    };
    // Unlimited: never denied.
    for _ in 0..200 {
        let v = l
            .check_descriptors("mongo_cps", &[d(&[("to_number", "2061111111")])], now)
            .await
            .unwrap();
        assert!(v.verdict.allowed && v.verdict.outcomes.is_empty());
    }
    // Shadow mode: counted, never denies.
    for _ in 0..3 {
        let v = l
            .check_descriptors("mongo_cps", &[d(&[("path", "/api/v2/x")])], now)
            .await
            .unwrap();
        assert!(v.verdict.allowed);
    }
    let v = l
        .check_descriptors("mongo_cps", &[d(&[("path", "/api/v2/x")])], now)
        .await
        .unwrap();
    assert_eq!(v.verdict.shadow_denials().count(), 1);
    // `gold` replaces `per-client` when both apply to one call.
    let both = [d(&[("client", "c1")]), d(&[("client_tier", "gold")])];
    for _ in 0..10 {
        let v = l.check_descriptors("mongo_cps", &both, now).await.unwrap();
        assert!(v.verdict.allowed);
        assert!(v.verdict.outcomes.iter().all(|o| &*o.rule == "gold"));
    }
    assert!(
        !l.check_descriptors("mongo_cps", &both, now)
            .await
            .unwrap()
            .verdict
            .allowed
    );
    // Alone, per-client applies: 3 an hour, none spent so far.
    for _ in 0..3 {
        let v = l
            .check_descriptors("mongo_cps", &[d(&[("client", "c1")])], now)
            .await
            .unwrap();
        assert!(v.verdict.allowed);
    }
    let v = l
        .check_descriptors("mongo_cps", &[d(&[("client", "c1")])], now)
        .await
        .unwrap();
    assert!(!v.verdict.allowed);
}

#[test]
fn long_or_unusual_names_stay_valid_and_unique() {
    let long = "x".repeat(80);
    let text = format!(
        "domain: d\ndescriptors:\n  - key: 'a/b'\n    rate_limit: {{ unit: second, requests_per_unit: 1 }}\n  - key: 'a-b'\n    rate_limit: {{ unit: second, requests_per_unit: 1 }}\n  - key: {long}\n    rate_limit: {{ unit: second, requests_per_unit: 1 }}\n"
    );
    let (doc, _) = {
        let doc = PolicyDocument {
            rules: imported(&text).rules,
            ..PolicyDocument::default()
        };
        let yaml = serde_yaml_ng::to_string(&doc).unwrap();
        let p = floodgate_config::parse_policy("i.yaml", &yaml).unwrap();
        (doc, p)
    };
    let names: Vec<&str> = doc.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names[1], "d.a-b");
    assert!(
        names[0].starts_with("d.a-b-") && names[0] != names[1],
        "{names:?}"
    );
    assert!(names[2].len() <= 64, "{names:?}");
}

#[test]
fn invalid_files_name_file_line_and_field() {
    let cases = [
        ("domain: ''\n", 1, "domain", "empty domain"),
        ("descriptors: []\n", 1, "", "domain"),
        ("domain: d\ndescriptors:\n  - key: a\n    rate_limit: { unit: fortnight, requests_per_unit: 1 }\n", 4, "descriptors[0].rate_limit.unit", "unknown unit"),
        ("domain: d\ndescriptors:\n  - key: a\n    rate_limit: { unit: second }\n", 4, "descriptors[0].rate_limit", "requests_per_unit"),
        ("domain: d\ndescriptors:\n  - key: a\n    descriptors:\n      - key: ''\n", 5, "descriptors[0].descriptors[0].key", "empty key"),
        ("domain: d\ndescriptors:\n  - key: a\n  - key: a\n", 4, "descriptors[1].key", "twice"),
        ("domain: d\ndescriptors:\n  - key: a\n    rate_limit: { unit: second, requests_per_unit: 1, name: 'a b' }\n", 4, "descriptors[0].rate_limit.name", "not a valid name"),
        ("domain: d\ndescriptors:\n  - key: a\n    colour: red\n", 4, "descriptors[0]", "unknown field"),
        ("domain: d\ndescriptors:\n  - key: a\n    rate_limit: { unit: second, requests_per_unit: 1, replaces: [ { name: 'x/y' } ] }\n", 4, "descriptors[0].rate_limit.replaces[0].name", "not a valid name"),
    ];
    for (text, line, field, msg) in cases {
        let e = Imported::default().add("rl/config.yaml", text).unwrap_err();
        assert_eq!(e.file, "rl/config.yaml");
        assert_eq!((e.line, e.field.as_str()), (line, field), "{text}: {e}");
        assert!(e.message.contains(msg), "{text}: {e}");
    }
}

#[test]
fn a_directory_is_read_file_by_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yaml"), "domain: a\ndescriptors:\n  - key: k\n    rate_limit: { unit: minute, requests_per_unit: 1 }\n").unwrap();
    std::fs::write(dir.path().join("b.yml"), "domain: b\ndescriptors:\n  - key: k\n    rate_limit: { unit: minute, requests_per_unit: 2 }\n").unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a config").unwrap();
    let i = import_path(dir.path()).unwrap();
    let names: Vec<&str> = i.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["a.k", "b.k"]);
    // Two files of one domain: an error naming the second.
    std::fs::write(dir.path().join("c.yaml"), "domain: a\n").unwrap();
    match import_path(dir.path()) {
        Err(ImportError::Invalid(e)) => {
            assert!(e.file.ends_with("c.yaml") && e.field == "domain", "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        import_path(&dir.path().join("missing")),
        Err(ImportError::Read { .. })
    ));
}
