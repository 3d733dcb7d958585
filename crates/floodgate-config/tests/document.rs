//! The policy document and the config file: located errors in YAML and
//! JSON, round trips, and the store section's rules.

use floodgate_config::{parse_policy, parse_policy_json, ConfigFile, PolicyDocument, StoreKind};
use floodgate_core::FailureMode;

const POLICY: &str = "\
tiers: [free, pro]
default_tier: free
clients:
  - { api_key: key-1, tier: pro, name: acme }
rules:
  - name: api.v1
    match: { path: /api/*, methods: [GET, post] }
    key: [api_key, route]
    on_store_failure: fail_closed
    limits:
      - { algorithm: token_bucket, capacity: 10, refill: 100/minute }
      - { name: daily, algorithm: fixed_window, limit: 1000, window: 1d }
    tiers:
      pro:
        - { algorithm: gcra, rate: 5/s, burst: 3 }
global:
  - { algorithm: sliding_window_counter, limit: 100000, window: 1m }
";

#[test]
fn yaml_and_json_give_the_same_policy() {
    let from_yaml = parse_policy("p.yaml", POLICY).unwrap();
    let doc = PolicyDocument::from_yaml("p.yaml", POLICY).unwrap();
    let json = serde_json::to_string_pretty(&doc).unwrap();
    let from_json = parse_policy_json("p.json", &json).unwrap();
    let ids = |p: &floodgate_core::Policy| {
        let mut v: Vec<String> = p
            .rules
            .iter()
            .flat_map(|r| r.limits.iter().chain(r.tiers.values().flatten()))
            .chain(&p.global)
            .map(|l| l.id.to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(ids(&from_yaml), ids(&from_json));
    assert_eq!(
        from_json.rules[0].on_store_failure,
        Some(FailureMode::FailClosed)
    );
    assert_eq!(from_json.rules[0].matcher.methods, ["GET", "POST"]);
    // Written back, the document reads as it was.
    assert_eq!(PolicyDocument::from_json("p.json", &json).unwrap(), doc);
    assert!(json.contains("\"100/m\""), "{json}");
    // Default names: the rule's, numbered when there are several.
    let names: Vec<&str> = from_yaml.rules[0].limits.iter().map(|l| &*l.name).collect();
    assert_eq!(names, ["api.v1-0", "daily"]);
}

#[test]
fn json_errors_name_the_json_path_and_place() {
    let text = "{\"rules\": [{\"name\": \"a\",\n \"limits\": [{\"algorithm\": \"fixed_window\", \"limit\": -3, \"window\": \"1s\"}]}]}";
    let e = parse_policy_json("body", text).unwrap_err();
    assert_eq!(e.field, "rules[0].limits[0].limit", "{e}");
    assert_eq!(e.line, 2, "{e}");
    assert!(e.to_string().starts_with("body:2:"), "{e}");
    // Found after parsing: located in the JSON text too.
    let text = "{\"tiers\": [\"free\"],\n \"default_tier\": \"gold\"}";
    let e = parse_policy_json("body", text).unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (2, "default_tier"), "{e}");
    assert!(e.message.contains("unknown tier `gold`"), "{e}");
}

#[test]
fn names_outside_the_set_are_refused_where_written() {
    for (yaml, field) in [
        ("rules:\n  - name: ok\n    limits: [{algorithm: gcra, rate: 1/s}]\n  - name: a/b\n    limits: [{algorithm: gcra, rate: 1/s}]\n", "rules[1].name"),
        ("rules:\n  - name: a\n    limits:\n      - {name: \"x@y\", algorithm: gcra, rate: 1/s}\n", "rules[0].limits[0].name"),
        ("tiers: [free, \"p ro\"]\n", "tiers[1]"),
    ] {
        let e = parse_policy("n.yaml", yaml).unwrap_err();
        assert_eq!(e.field, field, "{e}");
        assert!(e.line > 0 && e.message.contains("not a valid name"), "{e}");
    }
    let e = parse_policy(
        "n.yaml",
        "rules:\n  - name: global\n    limits: [{algorithm: gcra, rate: 1/s}]\n",
    )
    .unwrap_err();
    assert!(e.message.contains("reserved"), "{e}");
}

#[test]
fn the_file_keeps_policy_and_server_apart() {
    let text = format!(
        "{POLICY}listen: 127.0.0.1:0\nstore:\n  kind: redis\n  url: redis://127.0.0.1:6379\n  max_keys: 5000\n  shards: 8\n  rules: {{ api.v1: local }}\n"
    );
    let f = ConfigFile::parse("f.yaml", &text).unwrap();
    assert_eq!(
        f.document.policy,
        PolicyDocument::from_yaml("p", POLICY).unwrap()
    );
    assert_eq!(f.document.server.store.kind, StoreKind::Redis);
    // The local fallback is sized under Redis.
    assert_eq!((f.memory.max_keys, f.memory.shards), (5000, 8));
    // The rule's own mode wins over `store.rules`.
    assert_eq!(
        f.policy.rules[0].on_store_failure,
        Some(FailureMode::FailClosed)
    );
    let no_own = text.replace("    on_store_failure: fail_closed\n", "");
    let f = ConfigFile::parse("f.yaml", &no_own).unwrap();
    assert_eq!(f.policy.rules[0].on_store_failure, Some(FailureMode::Local));
    // `store.rules` naming no rule is a mistake, located.
    let e = ConfigFile::parse(
        "f.yaml",
        &text.replace("{ api.v1: local }", "{ apiv1: local }"),
    )
    .unwrap_err();
    assert_eq!(e.field, "store.rules.apiv1", "{e}");
    assert_eq!(e.line, text.lines().count(), "{e}");
}

/// A config file with one mistake, the line it is on and what the error
/// says.
const FILE_MISTAKES: &[(&str, usize, &str)] = &[
    (
        "rules: []\nlisten: 127.0.0.1:0\nlistn: x\n",
        3,
        "unknown field `listn`",
    ),
    (
        "store:\n  kind: memory\n  url: redis://x\n",
        3,
        "applies to kind redis",
    ),
    (
        "store:\n  kind: redis\n  url: redis://x\n  timeout: 5\n",
        4,
        "needs a unit",
    ),
    (
        "store:\n  kind: redis\n  url: redis://x\n  timeot: 5ms\n",
        4,
        "unknown field `timeot`",
    ),
    (
        "store:\n  kind: redis_cluster\n  url: redis://x\n",
        3,
        "is for kind: redis",
    ),
    ("store:\n  kind: redis_cluster\n", 2, "needs `nodes`"),
    (
        "store:\n  kind: redis\n  url: http://x:1\n",
        3,
        "not a Redis URL",
    ),
    (
        "rules:\n  - name: a\n    limits: []\n    tiers: {t: [], t: []}\n",
        4,
        "given twice",
    ),
    (
        "store: {kind: redis, url: redis://x, breaker: {failures: 0}}\n",
        1,
        "between 1 and",
    ),
    (
        "log:\n  rejections_per_second: 2000000\n",
        2,
        "at most 1000000",
    ),
    ("upstream_timeout: 5s\n", 1, "without an upstream"),
    (
        "admin:\n  listen: 127.0.0.1:9090\n  token: s3cret-s3cret-s3cret\n",
        3,
        "admin.tokens: [{name: ops, role: admin, sha256: <SHA-256 of the token>}]",
    ),
    (
        "admin:\n  tokens:\n    - { name: ops, role: admin, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 }\n    - { name: ops, role: read, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 }\n",
        4,
        "`ops` is already the name of tokens[0]",
    ),
    (
        "admin:\n  tokens:\n    - { name: 'o ps', role: admin, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 }\n",
        3,
        "not a valid name",
    ),
    (
        "admin:\n  tokens:\n    - name: ops\n      role: admin\n      sha256: s3cret-s3cret-s3cret\n",
        5,
        "64 lowercase hex characters",
    ),
    (
        "admin:\n  tokens:\n    - { name: ops, role: root, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 }\n",
        3,
        "unknown variant `root`",
    ),
    ("admin:\n  state_file: ''\n", 2, "must not be empty"),
];

#[test]
fn file_mistakes_are_located() {
    for &(text, line, msg) in FILE_MISTAKES {
        let e = ConfigFile::parse("c.yaml", text).unwrap_err();
        assert_eq!(e.line, line, "{text}: {e}");
        assert!(e.message.contains(msg), "{text}: {e}");
    }
}

#[test]
fn secrets_are_not_written_back() {
    let f = ConfigFile::parse(
        "t.yaml",
        "admin:\n  tokens:\n    - { name: ops, role: admin, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 }\n",
    )
    .unwrap();
    let out = serde_json::to_string(&f.document.server).unwrap();
    assert!(
        !out.contains("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
        "{out}"
    );
    assert!(!format!("{:?}", f.document.server)
        .contains("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"));
    // The refusal of a clear token does not repeat it.
    let e = ConfigFile::parse("t.yaml", "admin:\n  token: s3cret-s3cret-s3cret\n").unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (2, "admin.token"));
    assert!(!e.to_string().contains("s3cret"), "{e}");
    let e = ConfigFile::parse(
        "t.yaml",
        "admin:\n  tokens: [{ name: ops, role: admin, sha256: s3cret-s3cret-s3cret }]\n",
    )
    .unwrap_err();
    assert_eq!(e.field, "admin.tokens[0].sha256");
    assert!(!e.to_string().contains("s3cret"), "{e}");
}

#[test]
fn every_mistake_is_reported_at_once() {
    let text = "tiers: [free, \"b d\"]\ndefault_tier: gold\nrules:\n  - name: ok\n    limits: [{ algorithm: gcra, rate: 1/s }]\n  - name: a/b\n    limits: [{ algorithm: gcra, rate: 1/s }]\n  - name: c\n    limits: [{ algorithm: fixed_window, limit: 0, window: 1s }]\noverrides:\n  - { rule: nope, identity: g, limits: [{ algorithm: gcra, rate: 1/s }] }\n";
    let doc = PolicyDocument::from_yaml("m.yaml", text).unwrap();
    let errors = doc
        .validate_all(&floodgate_config::Source {
            name: "m.yaml",
            text,
        })
        .unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "tiers[1]",
            "default_tier",
            "rules[1].name",
            "rules[2].limits[0].limit",
            "overrides[0].rule"
        ]
    );
    let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [1, 2, 6, 9, 11]);
    // `validate` gives the first.
    assert_eq!(
        doc.validate(&floodgate_config::Source {
            name: "m.yaml",
            text
        })
        .unwrap_err(),
        errors[0]
    );
}

#[cfg(not(feature = "jwt"))]
#[test]
fn token_settings_need_the_jwt_feature() {
    let e = parse_policy("j.yaml", "identity:\n  jwt:\n    algorithms: [HS256]\n").unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (3, "identity.jwt"), "{e}");
    assert_eq!(e.message, "JWT verification needs the `jwt` feature");
}

#[cfg(feature = "jwt")]
#[test]
fn token_settings_are_refused_where_written_without_echoing_secrets() {
    // The secret's variable is named, never a secret.
    let e = parse_policy(
        "j.yaml",
        "identity:\n  jwt:\n    algorithms: [HS256]\n    hs256_secret_env: FLOODGATE_TEST_UNSET_SECRET\n",
    )
    .unwrap_err();
    assert_eq!(
        (e.line, e.field.as_str()),
        (4, "identity.jwt.hs256_secret_env"),
        "{e}"
    );
    assert!(e.message.contains("FLOODGATE_TEST_UNSET_SECRET"), "{e}");
    std::env::set_var("FLOODGATE_TEST_SET_SECRET", "s3cr3t-value");
    let ok = parse_policy(
        "j.yaml",
        "identity:\n  jwt:\n    algorithms: [HS256]\n    hs256_secret_env: FLOODGATE_TEST_SET_SECRET\n",
    )
    .unwrap();
    assert!(!format!("{:?}", ok.identity).contains("s3cr3t"));
    for (yaml, field, says) in [
        (
            "identity:\n  jwt:\n    algorithms: [RS256]\n    keys:\n      - { alg: RS256, pem: \"-----BEGIN PUBLIC KEY-----\\nnope\\n-----END PUBLIC KEY-----\" }\n",
            "identity.jwt.keys[0].pem",
            "not a RS256 public key",
        ),
        (
            "identity:\n  jwt:\n    algorithms: [RS256, none]\n",
            "identity.jwt.algorithms[1]",
            "`none` is not",
        ),
        (
            "identity:\n  jwt:\n    algorithms: [ES256]\n    jwks_file: /nonexistent/jwks.json\n",
            "identity.jwt.jwks_file",
            "cannot read",
        ),
        (
            "identity:\n  jwt:\n    algorithms: [ES256]\n",
            "identity.jwt.algorithms",
            "no key",
        ),
        (
            "identity:\n  user_header_from: everyone\n",
            "identity.user_header_from",
            "not `anyone`",
        ),
    ] {
        let e = parse_policy("j.yaml", yaml).unwrap_err();
        assert_eq!(e.field, field, "{e}");
        assert!(e.line > 0 && e.message.contains(says), "{e}");
    }
}
