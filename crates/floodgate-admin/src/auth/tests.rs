//! Tests of tokens, roles and the bearer header.

use super::*;
use floodgate_config::server::AdminToken;
use floodgate_config::server::{AdminRole, AdminSection};
use sha2::{Digest, Sha256};

fn hex(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn section(tokens: &[(&str, AdminRole, &str)]) -> AdminSection {
    AdminSection {
        tokens: tokens
            .iter()
            .map(|(name, role, token)| AdminToken {
                name: name.to_string(),
                role: *role,
                sha256: hex(token),
            })
            .collect(),
        ..AdminSection::default()
    }
}

#[test]
fn roles_follow_the_method_and_the_two_posts_that_change_nothing() {
    let read = [
        (Method::GET, "/metrics"),
        (Method::HEAD, "/v1/policy"),
        (Method::POST, "/v1/check"),
        (Method::POST, "/v1/acquire"),
        (Method::POST, "/v1/release"),
        (Method::POST, "/v1/renew"),
        (Method::POST, "/v1/policy/validate"),
    ];
    for (m, p) in read {
        assert_eq!(Role::needed_for(&m, p), Role::Read, "{m} {p}");
    }
    let admin = [
        (Method::POST, "/v1/policy"),
        (Method::PUT, "/v1/check"),
        (Method::DELETE, "/v1/anything"),
        (Method::PATCH, "/metrics"),
        (Method::POST, "/v1/check/"),
    ];
    for (m, p) in admin {
        assert_eq!(Role::needed_for(&m, p), Role::Admin, "{m} {p}");
    }
    assert!(Role::Admin.allows(Role::Read) && Role::Admin.allows(Role::Admin));
    assert!(Role::Read.allows(Role::Read) && !Role::Read.allows(Role::Admin));
}

#[test]
fn authenticate_finds_the_token_by_its_digest() {
    let s = section(&[
        ("ops", AdminRole::Admin, "ops-token-0123456789"),
        ("grafana", AdminRole::Read, "grafana-token-0123456789"),
    ]);
    let t = Tokens::from_config(&s, None).unwrap();
    assert_eq!(
        t.authenticate("grafana-token-0123456789"),
        Some(("grafana", Role::Read))
    );
    assert_eq!(
        t.authenticate("ops-token-0123456789"),
        Some(("ops", Role::Admin))
    );
    for wrong in [
        "",
        "ops",
        "ops-token-012345678",
        "ops-token-01234567890",
        &hex("ops-token-0123456789"),
    ] {
        assert_eq!(t.authenticate(wrong), None, "{wrong}");
    }
    assert_eq!(Tokens::default().authenticate(""), None);
    // Debug shows names and roles only.
    let shown = format!("{t:?}");
    assert_eq!(shown, r#"["ops (admin)", "grafana (read)"]"#);
}

#[test]
fn the_environment_adds_tokens_and_a_bad_entry_is_located_not_echoed() {
    let s = section(&[("ops", AdminRole::Admin, "ops-token-0123456789")]);
    let env = format!("ci:read:{}, deploy:admin:{}", hex("ci-1"), hex("deploy-1"));
    let t = Tokens::from_config(&s, Some(&env)).unwrap();
    let names: Vec<_> = t.iter().collect();
    assert_eq!(
        names,
        [
            ("ops", Role::Admin),
            ("ci", Role::Read),
            ("deploy", Role::Admin)
        ]
    );
    assert_eq!(t.authenticate("deploy-1"), Some(("deploy", Role::Admin)));
    assert!(Tokens::from_config(&s, Some("")).unwrap().len() == 1);

    let good = format!("ci:read:{}", hex("ci-1"));
    let secret = "s3cret-s3cret-s3cret";
    for (entry, col_of_bad, msg) in [
        (
            format!("{good},ci:admin:{}", hex("x")),
            1,
            "`ci` names another token",
        ),
        (
            format!("{good},ops:read:{}", hex("x")),
            1,
            "`ops` names another token",
        ),
        (format!("{good}, {secret}"), 1, "expected name:role:sha256"),
        (format!("{good},x:root:{secret}"), 1, "the role must be"),
        (format!("{good},x:read:{secret}"), 1, "64 lowercase hex"),
        (
            format!("{good},{secret}!:read:{}", hex("x")),
            1,
            "the name must be",
        ),
        (format!("{good},"), 1, "expected name:role:sha256"),
    ] {
        let e = Tokens::from_config(&s, Some(&entry)).unwrap_err();
        assert_eq!(e.field, format!("[{col_of_bad}]"), "{entry}");
        assert_eq!(e.file, ENV_VAR);
        let shown = e.to_string();
        assert!(shown.contains(msg), "{shown}");
        assert!(!shown.contains(secret), "{shown}");
        assert!(shown.starts_with(&format!("{ENV_VAR}:1:")), "{shown}");
    }
    let e = Tokens::from_config(&s, Some(&format!("{good},  {secret}"))).unwrap_err();
    assert_eq!(e.column, good.len() + 4);
}

#[test]
fn bearer_takes_the_scheme_in_any_case() {
    for (v, want) in [
        ("Bearer abc", Some("abc")),
        ("bearer abc", Some("abc")),
        ("Bearer  abc ", Some("abc")),
        ("Bearer ", None),
        ("Basic abc", None),
        ("abc", None),
    ] {
        assert_eq!(bearer(&HeaderValue::from_static(v)), want, "{v}");
    }
}
