//! Every dashboard answer carries the headers docs/dashboard.md promises
//! (`Cache-Control: no-store`, the `Content-Security-Policy` allowing only
//! its own script and style, `X-Frame-Options: DENY`): the pages, the
//! assets, the data with and without a session, every login and logout
//! answer, and a wrong method on a dashboard route.

mod common;

use common::{get, send, start, Reply};

const READ_TOKEN: &str = "read-secret-token";

// The SHA-256 of READ_TOKEN.
const YAML: &str = r#"
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
  tokens:
    - { name: viewer, role: read, sha256: 92e586fe7b75f854df552c2753e7987d8a9563b7da457f2ba3a17e629fa82f81 }
rules:
  - name: per-ip
    key: ip
    limits:
      - { algorithm: fixed_window, limit: 5, window: 1m }
"#;

fn guarded(what: &str, r: &Reply) {
    assert_eq!(r.header("cache-control"), Some("no-store"), "{what}");
    let csp = r
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy"));
    assert!(
        csp.contains("script-src 'self'")
            && csp.contains("style-src 'self'")
            && csp.contains("default-src 'none'"),
        "{what}: {csp}"
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
}

#[tokio::test]
async fn every_dashboard_answer_carries_the_promised_headers() {
    let s = start(YAML).await;
    let base = format!("http://{}/dashboard", s.admin);
    let form = [("content-type", "application/x-www-form-urlencoded")];

    let r = get(&format!("{base}/data"), &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "unauthorized");
    guarded("the data without a session (401)", &r);
    let r = get(&base, &[]).await;
    assert_eq!(r.status, 200);
    guarded("the login page", &r);
    for (name, kind) in [("app.js", "text/javascript"), ("app.css", "text/css")] {
        let r = get(&format!("{base}/assets/{name}"), &[]).await;
        assert_eq!(r.status, 200);
        assert!(r.header("content-type").unwrap().starts_with(kind));
        guarded(name, &r);
    }
    let r = get(&format!("{base}/login"), &[]).await;
    assert_eq!(r.status, 405);
    guarded("a GET of the login form's target (405)", &r);
    let login = format!("{base}/login");
    let r = send("POST", &login, &form, "token=wrong").await;
    assert_eq!(r.status, 401);
    guarded("a wrong token (401)", &r);
    let other = [form[0], ("origin", "http://evil.example")];
    let r = send("POST", &login, &other, format!("token={READ_TOKEN}")).await;
    assert_eq!(r.status, 403);
    guarded("a login from another site (403)", &r);
    let r = send("POST", &login, &form, format!("token={READ_TOKEN}")).await;
    assert_eq!(r.status, 303);
    guarded("a login (303)", &r);
    let session = r.header("set-cookie").unwrap().split(';').next().unwrap();
    let session = session.to_string();
    let with = [("cookie", session.as_str())];
    let r = get(&base, &with).await;
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains("total-allowed"));
    guarded("the dashboard", &r);
    let r = get(&format!("{base}/data"), &with).await;
    assert_eq!(r.status, 200);
    guarded("the data", &r);
    let r = send("POST", &format!("{base}/logout"), &with, "").await;
    assert_eq!(r.status, 303);
    guarded("a logout (303)", &r);
    // Failed logins past the burst: a 429 page.
    let mut last = None;
    for _ in 0..12 {
        last = Some(send("POST", &login, &form, "token=wrong").await);
    }
    let r = last.unwrap();
    assert_eq!(r.status, 429);
    guarded("too many failed logins (429)", &r);
    s.running.shutdown().await.unwrap();
}
