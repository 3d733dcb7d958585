//! Hostile and odd input to the admin API: never a panic, always a JSON
//! answer with the reason, and nothing changed.

mod common;

use common::*;

const POLICY: &str = "listen: 127.0.0.1:0\nadmin: { listen: 127.0.0.1:0 }\ntiers: [free]\nrules:\n  - name: api\n    match: { path: /api/v1/data }\n    limits:\n      - { algorithm: fixed_window, limit: 2, window: 1h }\n";

async fn version(admin: &str) -> String {
    get(&format!("{admin}/v1/policy"), &[])
        .await
        .header("etag")
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn bodies_that_are_not_objects_are_refused_with_400() {
    let s = start(POLICY).await;
    let admin = format!("http://{}", s.admin);
    for (method, path) in [
        ("PUT", "/v1/rules/x"),
        ("PUT", "/v1/policy"),
        ("POST", "/v1/policy/validate"),
        ("POST", "/v1/policy/rollback"),
        ("POST", "/v1/clients"),
        ("PUT", "/v1/tiers/gold"),
        ("PUT", "/v1/overrides/api/g"),
    ] {
        for body in [
            "[]",
            "[{\"path\":\"/x\"},\"ip\",[]]",
            "1",
            "\"s\"",
            "true",
            "{",
            "nope",
        ] {
            let r = send(
                method,
                &format!("{admin}{path}"),
                &[("if-match", "\"1\"")],
                body,
            )
            .await;
            assert_eq!(
                r.status,
                400,
                "{method} {path} {body}: {}",
                String::from_utf8_lossy(&r.body)
            );
            assert_eq!(r.json()["error"], "bad_request", "{method} {path} {body}");
        }
    }
    assert_eq!(version(&admin).await, "\"1\"", "nothing changed");
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_wrong_field_is_422_with_its_path_and_no_change_makes_no_version() {
    let s = start(POLICY).await;
    let admin = format!("http://{}", s.admin);
    let r = send(
        "PUT",
        &format!("{admin}/v1/rules/api"),
        &[],
        r#"{"limits":[{"algorithm":"gcra","rate":"0/s"}]}"#,
    )
    .await;
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["errors"][0]["field"], "limits[0].rate");
    // An override that would already be expired.
    let r = send(
        "PUT",
        &format!("{admin}/v1/overrides/api/g"),
        &[],
        r#"{"limits":[{"algorithm":"gcra","rate":"1/s"}],"expires_in":"0s"}"#,
    )
    .await;
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    // Putting the live policy back unchanged keeps its version.
    let doc = get(&format!("{admin}/v1/policy"), &[]).await.body;
    let r = send(
        "PUT",
        &format!("{admin}/v1/policy"),
        &[("if-match", "\"1\"")],
        doc,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["version"], 1);
    let h = get(&format!("{admin}/v1/policy/history"), &[]).await.json();
    assert_eq!(h["history"].as_array().unwrap().len(), 1);
    assert_eq!(h["history"][0]["summary"], "initial policy");
    s.running.shutdown().await.unwrap();
}

#[test]
fn config_mistakes_around_the_admin_api_are_refused() {
    use floodgate_server::config::Config;
    let hex = "a".repeat(64);
    let twice = format!(
        "admin:\n  tokens:\n    - {{ name: a, role: read, sha256: {hex} }}\n    - {{ name: b, role: admin, sha256: {hex} }}\n"
    );
    let e = Config::parse("t.yaml", &twice).unwrap_err();
    assert_eq!(
        (e.line, e.field.as_str()),
        (4, "admin.tokens[1].sha256"),
        "{e}"
    );
    let redis_state =
        "admin:\n  state_file: /tmp/x.json\nstore: { kind: redis, url: redis://127.0.0.1:1 }\n";
    let e = Config::parse("t.yaml", redis_state).unwrap_err();
    assert_eq!(e.field, "admin.state_file", "{e}");
    assert!(e.message.contains("memory store"), "{e}");
}

#[tokio::test]
async fn a_bad_or_taken_api_key_is_422_naming_the_field_like_an_unknown_tier() {
    let s = start(POLICY).await;
    let admin = format!("http://{}", s.admin);
    let create = |body: &'static str| {
        let url = format!("{admin}/v1/clients");
        async move { send("POST", &url, &[], body.to_string()).await }
    };
    let ok = create(r#"{"tier":"free","api_key":"a-key-of-24-characters!"}"#).await;
    assert_eq!(ok.status, 201);
    for body in [
        r#"{"tier":"free","api_key":"fifteen-chars.."}"#,
        r#"{"tier":"free","api_key":"a-key-of-24-characters!"}"#,
        r#"{"tier":"gold"}"#,
    ] {
        let r = create(body).await;
        assert_eq!(r.status, 422, "{body}");
        let v = r.json();
        assert_eq!(v["error"], "invalid_policy", "{v}");
        let field = v["errors"][0]["field"].as_str().unwrap_or_default();
        assert!(field == "api_key" || field == "tier", "{v}");
    }
    let clients = get(&format!("{admin}/v1/clients"), &[]).await.json();
    assert_eq!(
        clients["clients"].as_array().map(Vec::len),
        Some(1),
        "{clients}"
    );
}
