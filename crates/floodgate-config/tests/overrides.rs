//! Clients known by the digest of their key, and overrides for one
//! identity, from the document to decisions.

use std::sync::Arc;

use floodgate_config::parse_policy;
use floodgate_core::policy::{fingerprint, key_digest};
use floodgate_core::{Limiter, MemoryStore, Request, Timestamp};

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

const T: u64 = 1_764_028_800;

fn limiter(yaml: &str) -> Limiter {
    Limiter::new(
        Arc::new(parse_policy("o.yaml", yaml).unwrap()),
        Arc::new(MemoryStore::default()),
    )
}

async fn allowed(l: &Limiter, key: Option<&str>, at: u64) -> Vec<bool> {
    let mut out = Vec::new();
    for _ in 0..4 {
        let req = Request {
            ip: Some("203.0.113.7".parse().unwrap()),
            method: "GET",
            path: "/api",
            api_key: key,
            user: None,
            tier: None,
        };
        let v = l
            .check(&req, 1, Timestamp::from_micros(at * 1_000_000))
            .await
            .unwrap();
        out.push(v.allowed);
    }
    out
}

#[tokio::test]
async fn a_client_is_known_by_its_key_or_its_digest_alike() {
    let digest = hex(&key_digest("secret-1"));
    let yaml = format!(
        "tiers: [free, pro]\ndefault_tier: free\nrequire_api_key: false\nclients:\n  - {{ api_key_sha256: {digest}, tier: pro, name: acme }}\nrules:\n  - name: api\n    key: api_key\n    limits: [{{ algorithm: fixed_window, limit: 1, window: 1h }}]\n    tiers:\n      pro: [{{ algorithm: fixed_window, limit: 3, window: 1h }}]\n"
    )
    .replace("require_api_key: false\n", "");
    let p = parse_policy("o.yaml", &yaml).unwrap();
    let c = &p.clients.get(&key_digest("secret-1")).unwrap();
    assert_eq!((&*c.tier, c.name.as_deref()), ("pro", Some("acme")));
    let same = parse_policy(
        "o.yaml",
        &yaml.replace(&format!("api_key_sha256: {digest}"), "api_key: secret-1"),
    )
    .unwrap();
    assert_eq!(same.clients.snapshot(), p.clients.snapshot());
    let l = limiter(&yaml);
    assert_eq!(
        allowed(&l, Some("secret-1"), T).await,
        [true, true, true, false]
    );
    assert_eq!(
        allowed(&l, Some("other"), T).await,
        [true, false, false, false]
    );
    for (bad, msg) in [
        ("api_key_sha256: ABC", "64 lowercase hex"),
        (
            &*format!("api_key_sha256: {}", digest.to_uppercase()),
            "64 lowercase hex",
        ),
        (
            &*format!("api_key: k, api_key_sha256: {digest}"),
            "not both",
        ),
        ("nickname: nokey", "unknown field `nickname`"),
    ] {
        let text = yaml.replace(&format!("api_key_sha256: {digest}"), bad);
        let e = parse_policy("o.yaml", &text).unwrap_err();
        assert!(e.message.contains(msg), "{bad}: {e}");
        assert_eq!(e.line, 4, "{bad}: {e}");
    }
}

#[tokio::test]
async fn an_override_replaces_a_rules_limits_for_one_identity_until_it_expires() {
    let who = format!("k:{}", fingerprint("key-a"));
    let yaml = format!(
        "rules:\n  - name: api\n    key: api_key\n    limits: [{{ algorithm: fixed_window, limit: 1, window: 1h }}]\noverrides:\n  - rule: api\n    identity: \"{who}\"\n    limits: [{{ algorithm: fixed_window, limit: 3, window: 1h }}]\n    expires_at: {}\n",
        T + 60
    );
    let l = limiter(&yaml);
    assert_eq!(
        allowed(&l, Some("key-a"), T).await,
        [true, true, true, false]
    );
    assert_eq!(
        allowed(&l, Some("key-b"), T).await,
        [true, false, false, false]
    );
    // Expired: the rule's own limit again, on its own counter, which the
    // override's requests never touched.
    let later = allowed(&l, Some("key-a"), T + 60).await;
    assert_eq!(later, [true, false, false, false]);
    let p = l.policy();
    assert!(p
        .override_for("api", &who, Timestamp::from_micros((T + 59) * 1_000_000))
        .is_some());
    assert!(p
        .override_for("api", &who, Timestamp::from_micros((T + 60) * 1_000_000))
        .is_none());
}

#[test]
fn override_mistakes_are_located() {
    let base = "rules:\n  - name: api\n    limits: [{ algorithm: gcra, rate: 1/s }]\noverrides:\n  - rule: RULE\n    identity: ID\n    limits: LIMITS\n";
    for (rule, id, limits, line, msg) in [
        (
            "nope",
            "i:1.2.3.4",
            "[{ algorithm: gcra, rate: 2/s }]",
            5,
            "no rule is named",
        ),
        (
            "api",
            "\"\"",
            "[{ algorithm: gcra, rate: 2/s }]",
            6,
            "1 to 512 bytes",
        ),
        ("api", "i:1.2.3.4", "[]", 7, "needs limits"),
        (
            "api",
            "i:1.2.3.4",
            "[{ algorithm: gcra, rate: 0/s }]",
            7,
            "at least 1",
        ),
    ] {
        let text = base
            .replace("RULE", rule)
            .replace("ID", id)
            .replace("LIMITS", limits);
        let e = parse_policy("o.yaml", &text).unwrap_err();
        assert!(e.message.contains(msg), "{text}: {e}");
        assert_eq!(e.line, line, "{text}: {e}");
    }
    let twice = base
        .replace("RULE", "api")
        .replace("ID", "g")
        .replace("LIMITS", "[{ algorithm: gcra, rate: 2/s }]");
    let twice = format!(
        "{twice}  - {{ rule: api, identity: g, limits: [{{ algorithm: gcra, rate: 3/s }}] }}\n"
    );
    let e = parse_policy("o.yaml", &twice).unwrap_err();
    assert!(e.message.contains("second override"), "{e}");
}
