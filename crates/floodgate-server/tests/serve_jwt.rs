//! End-to-end: trusted identities. Verified JWT claims key the limits
//! and name the tier; invalid tokens are refused or anonymous; the user
//! header counts only from trusted proxies when so configured; a changed
//! JWKS file applies at reload.

mod common;

use std::time::Duration;

use common::*;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;

const SECRET: &str = "test-secret-for-hs256-tokens";
const ENV: &str = "FLOODGATE_TEST_JWT_SECRET";
const NOW: u64 = T0 / 1_000_000;

fn config(on_invalid: &str) -> String {
    std::env::set_var(ENV, SECRET);
    format!(
        r#"
listen: 127.0.0.1:0
admin: {{ listen: 127.0.0.1:0 }}
tiers: [free, pro]
default_tier: free
identity:
  jwt:
    algorithms: [HS256]
    hs256_secret_env: {ENV}
    tier_claim: plan
    leeway: 0s
    on_invalid: {on_invalid}
rules:
  - name: per-user
    match: {{ path: /api/v1/data }}
    key: user
    limits:
      - {{ algorithm: fixed_window, limit: 2, window: 1m }}
    tiers:
      pro:
        - {{ algorithm: fixed_window, limit: 4, window: 1m }}
"#
    )
}

fn hs(claims: serde_json::Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn rs(file: &str, kid: &str, claims: serde_json::Value) -> String {
    let pem = std::fs::read(format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(kid.into());
    encode(&h, &claims, &EncodingKey::from_rsa_pem(&pem).unwrap()).unwrap()
}

fn claims(sub: &str) -> serde_json::Value {
    json!({ "sub": sub, "exp": NOW + 60 })
}

async fn with_token(url: &str, token: &str) -> Reply {
    let bearer = format!("Bearer {token}");
    get(url, &[("authorization", &bearer)]).await
}

/// Unpadded base64url.
fn b64url(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=c.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// Every kind of invalid token, each a fresh one.
fn invalid_tokens() -> Vec<(&'static str, String)> {
    let b64 = |v: serde_json::Value| b64url(v.to_string().as_bytes());
    let none = format!(
        "{}.{}.",
        b64(json!({ "alg": "none", "typ": "JWT" })),
        b64(claims("mallory"))
    );
    let wrong_sig = encode(
        &Header::new(Algorithm::HS256),
        &claims("mallory"),
        &EncodingKey::from_secret(b"another secret"),
    )
    .unwrap();
    vec![
        ("expired", hs(json!({ "sub": "mallory", "exp": NOW - 1 }))),
        (
            "not yet valid",
            hs(json!({ "sub": "mallory", "exp": NOW + 60, "nbf": NOW + 30 })),
        ),
        ("wrong signature", wrong_sig),
        ("alg none", none),
        (
            "wrong algorithm",
            rs("jwt_rsa1.pem", "rsa1", claims("mallory")),
        ),
        ("missing claim", hs(json!({ "exp": NOW + 60 }))),
    ]
}

#[tokio::test]
async fn valid_tokens_key_by_their_subject_and_name_the_tier() {
    let s = start(&config("reject")).await;
    let url = format!("http://{}/api/v1/data", s.public);
    let alice = hs(claims("alice"));
    let alice2 = hs(json!({ "sub": "alice", "exp": NOW + 50 }));
    let bob = hs(claims("bob"));
    assert_eq!(with_token(&url, &alice).await.status, 200);
    // Another token for the same subject shares the counter.
    let r = with_token(&url, &alice2).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(with_token(&url, &alice).await.status, 429);
    // Another subject has its own; a plain user header cannot borrow it.
    let r = with_token(&url, &bob).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-ratelimit-remaining"), Some("1"));
    // The tier claim names pro: four a minute.
    let carol = hs(json!({ "sub": "carol", "plan": "pro", "exp": NOW + 60 }));
    let r = with_token(&url, &carol).await;
    assert_eq!(r.header("x-ratelimit-remaining"), Some("3"));
    // An unknown tier is ignored: the default tier.
    let dave = hs(json!({ "sub": "dave", "plan": "platinum", "exp": NOW + 60 }));
    let r = with_token(&url, &dave).await;
    assert_eq!(r.header("x-ratelimit-remaining"), Some("1"));
    // Past exp on the server's clock: refused.
    s.clock.advance(Duration::from_secs(61));
    let r = with_token(&url, &bob).await;
    assert_eq!(r.status, 401);
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn invalid_tokens_are_refused_under_reject() {
    let s = start(&config("reject")).await;
    let url = format!("http://{}/api/v1/data", s.public);
    for (what, token) in invalid_tokens() {
        let r = with_token(&url, &token).await;
        assert_eq!(r.status, 401, "{what}");
        let body = r.json();
        assert_eq!(body["error"], "unauthorized", "{what}");
        assert!(
            body["message"].as_str().unwrap().contains("token"),
            "{what}"
        );
    }
    // The decision API verifies a token in attributes.headers alike.
    let check = format!("http://{}/v1/check", s.admin);
    let body = json!({ "attributes": { "path": "/api/v1/data", "ip": "198.51.100.1",
        "headers": { "authorization": format!("Bearer {}", invalid_tokens()[2].1) } } });
    let r = send(
        "POST",
        &check,
        &[("content-type", "application/json")],
        body.to_string(),
    )
    .await;
    assert_eq!(r.status, 401);
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn invalid_tokens_are_anonymous_under_anonymous() {
    let s = start(&config("anonymous")).await;
    let url = format!("http://{}/api/v1/data", s.public);
    // Every invalid token counts against the one IP, not against mallory.
    let tokens = invalid_tokens();
    for (i, (what, token)) in tokens.iter().enumerate() {
        let r = with_token(&url, token).await;
        if i < 2 {
            assert_eq!(r.status, 200, "{what}");
        } else {
            assert_eq!(r.status, 429, "{what}: keyed by the IP");
        }
    }
    // A valid token for mallory still has mallory's fresh counter.
    let r = with_token(&url, &hs(claims("mallory"))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-ratelimit-remaining"), Some("1"));
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_user_header_counts_only_from_trusted_proxies_when_so_configured() {
    for (trusted, separate) in [("[]", false), ("[127.0.0.1/32]", true)] {
        let yaml = format!(
            "{}identity: {{ user_header_from: trusted_proxies }}\ntrusted_proxies: {trusted}\n",
            BASE.replace("key: ip", "key: user")
        );
        let s = start(&yaml).await;
        let url = format!("http://{}/api/v1/data", s.public);
        for i in 0..5 {
            let u = format!("user-{i}");
            assert_eq!(get(&url, &[("x-user-id", &u)]).await.status, 200);
        }
        let r = get(&url, &[("x-user-id", "user-99")]).await;
        if separate {
            assert_eq!(r.status, 200, "a trusted proxy names the user");
            assert_eq!(r.header("x-ratelimit-remaining"), Some("4"));
        } else {
            assert_eq!(r.status, 429, "an untrusted peer cannot name itself");
        }
        s.running.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn a_changed_jwks_file_applies_at_reload() {
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    let data = format!("{}/tests/data", env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(format!("{data}/jwks_rsa1.json"), &jwks).unwrap();
    let path = dir.path().join("floodgate.yaml");
    let yaml = format!(
        "{}identity:\n  jwt:\n    algorithms: [RS256]\n    jwks_file: {}\n",
        BASE.replace("key: ip", "key: user"),
        jwks.display()
    );
    std::fs::write(&path, &yaml).unwrap();
    let s = start_with_path(&yaml, Some(path.clone())).await;
    let url = format!("http://{}/api/v1/data", s.public);
    let old = rs("jwt_rsa1.pem", "rsa1", claims("alice"));
    let new = rs("jwt_rsa2.pem", "rsa2", claims("alice"));
    assert_eq!(with_token(&url, &old).await.status, 200);
    assert_eq!(with_token(&url, &new).await.status, 401);
    std::fs::copy(format!("{data}/jwks_rsa2.json"), &jwks).unwrap();
    s.running.reload().await.unwrap();
    assert_eq!(with_token(&url, &new).await.status, 200);
    assert_eq!(with_token(&url, &old).await.status, 401);
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn es256_keys_written_in_the_config_verify_tokens() {
    let data = format!("{}/tests/data", env!("CARGO_MANIFEST_DIR"));
    let public = std::fs::read_to_string(format!("{data}/jwt_ec1.pub.pem")).unwrap();
    let yaml = format!(
        "{}identity:\n  jwt:\n    algorithms: [ES256]\n    keys:\n      - {{ kid: e1, alg: ES256, pem: {} }}\n",
        BASE.replace("key: ip", "key: user"),
        serde_json::to_string(&public).unwrap()
    );
    let s = start(&yaml).await;
    let url = format!("http://{}/api/v1/data", s.public);
    let private = std::fs::read(format!("{data}/jwt_ec1.pem")).unwrap();
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some("e1".into());
    let sign = |sub: &str| {
        encode(
            &h,
            &claims(sub),
            &EncodingKey::from_ec_pem(&private).unwrap(),
        )
        .unwrap()
    };
    let r = with_token(&url, &sign("erin")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-ratelimit-remaining"), Some("4"));
    let r = with_token(&url, &sign("erin")).await;
    assert_eq!(r.header("x-ratelimit-remaining"), Some("3"));
    let r = with_token(&url, &sign("frank")).await;
    assert_eq!(r.header("x-ratelimit-remaining"), Some("4"));
    // An HS256 token is not accepted here.
    assert_eq!(with_token(&url, &hs(claims("erin"))).await.status, 401);
    s.running.shutdown().await.unwrap();
}
