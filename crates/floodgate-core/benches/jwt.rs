//! The per-request cost of verifying a token (`identity.jwt`): HS256,
//! RS256 and ES256, keys as the server's tests use them.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use floodgate_core::policy::jwt::{Jwt, JwtAlgorithm, JwtKey, OnInvalid};
use jsonwebtoken::{encode, EncodingKey, Header};

const RSA: &str = include_str!("../../floodgate-server/tests/data/jwt_rsa1.pem");
const EC: &str = include_str!("../../floodgate-server/tests/data/jwt_ec1.pem");
const EC_PUB: &str = include_str!("../../floodgate-server/tests/data/jwt_ec1.pub.pem");
const JWKS: &str = include_str!("../../floodgate-server/tests/data/jwks_rsa1.json");
const NOW: u64 = 1_764_028_800;

fn jwt(keys: Vec<JwtKey>, alg: JwtAlgorithm) -> Jwt {
    Jwt {
        header: "authorization".into(),
        algorithms: vec![alg],
        keys,
        user_claim: "sub".into(),
        tier_claim: Some("plan".into()),
        issuer: None,
        audience: None,
        leeway_secs: 30,
        on_invalid: OnInvalid::Reject,
        tiers: vec![Arc::from("free"), Arc::from("pro")],
    }
}

fn bench(c: &mut Criterion) {
    let claims = serde_json::json!({ "sub": "alice", "plan": "pro", "exp": NOW + 600 });
    let cases = [
        (
            "hs256",
            jwt(vec![JwtKey::hs256(b"secret")], JwtAlgorithm::HS256),
            EncodingKey::from_secret(b"secret"),
            JwtAlgorithm::HS256,
        ),
        (
            "rs256",
            jwt(JwtKey::from_jwks(JWKS).unwrap(), JwtAlgorithm::RS256),
            EncodingKey::from_rsa_pem(RSA.as_bytes()).unwrap(),
            JwtAlgorithm::RS256,
        ),
        (
            "es256",
            jwt(
                vec![JwtKey::from_pem(None, JwtAlgorithm::ES256, EC_PUB).unwrap()],
                JwtAlgorithm::ES256,
            ),
            EncodingKey::from_ec_pem(EC.as_bytes()).unwrap(),
            JwtAlgorithm::ES256,
        ),
    ];
    let mut g = c.benchmark_group("jwt_verify");
    for (name, verifier, key, alg) in cases {
        let token = encode(&Header::new(alg), &claims, &key).unwrap();
        assert!(verifier.verify(&token, NOW).is_ok());
        g.bench_function(name, |b| b.iter(|| verifier.verify(&token, NOW).unwrap()));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
