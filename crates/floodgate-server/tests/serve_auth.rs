//! End-to-end: the real server on port 0, spoken to over HTTP; the admin
//! listener's tokens: roles, refusals, the limit on failed attempts, and
//! reloads of the token set.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{delete, get as get_route};
use axum::{Extension, Router};
use common::*;
use floodgate_admin::auth::{self, Actor, Auth, Tokens};
use floodgate_config::server::AdminSection;
use floodgate_core::{ManualClock, Timestamp};
use sha2::{Digest, Sha256};

const OPS: &str = "ops-0123456789abcdef";
const GRAFANA: &str = "grafana-0123456789abcdef";

fn sha256(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `BASE` with an admin token `ops` and a read token `grafana`.
fn with_tokens() -> String {
    BASE.replace(
        "admin: { listen: 127.0.0.1:0 }",
        &format!(
            "admin:\n  listen: 127.0.0.1:0\n  tokens:\n    - {{ name: ops, role: admin, sha256: {} }}\n    - {{ name: grafana, role: read, sha256: {} }}",
            sha256(OPS),
            sha256(GRAFANA)
        ),
    )
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn tokens_and_roles_decide_who_may_do_what() {
    let s = start(&with_tokens()).await;
    let metrics = format!("http://{}/metrics", s.admin);
    let check = format!("http://{}/v1/check", s.admin);
    let body = r#"{"attributes":{"path":"/"}}"#;

    let r = get(&metrics, &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert_eq!(r.json()["error"], "unauthorized");
    let r = get(&metrics, &[("authorization", &bearer("wrong"))]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    // The digest itself is not a token.
    let r = get(&metrics, &[("authorization", &bearer(&sha256(OPS)))]).await;
    assert_eq!(r.status, 401);
    assert_eq!(send("POST", &check, &[], body).await.status, 401);

    for token in [GRAFANA, OPS] {
        let auth = bearer(token);
        let h = [("authorization", auth.as_str())];
        assert_eq!(get(&metrics, &h).await.status, 200, "{token}");
        // The decision API changes nothing: a read token may ask it.
        assert_eq!(send("POST", &check, &h, body).await.status, 200, "{token}");
    }
    for path in ["/healthz", "/readyz"] {
        let url = format!("http://{}{path}", s.admin);
        assert_eq!(get(&url, &[]).await.status, 200, "{path}");
    }
    s.running.shutdown().await.unwrap();
}

/// The middleware on a router of its own, for what no admin route does
/// yet: a write, and a handler that reads the actor.
async fn serve_who(tokens: Tokens) -> SocketAddr {
    let clock = ManualClock::new(Timestamp::from_micros(T0));
    let auth = Arc::new(Auth::new(tokens, Arc::new(clock)));
    let who =
        |Extension(a): Extension<Actor>| async move { format!("{} {}", a.name, a.role.as_str()) };
    let app = Router::new()
        .route("/who", get_route(who).post(who))
        .route("/v1/thing", delete(who))
        .route_layer(axum::middleware::from_fn_with_state(auth, auth::require));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(l, app.into_make_service_with_connect_info::<SocketAddr>())
            .await
            .unwrap();
    });
    addr
}

#[tokio::test]
async fn handlers_see_the_actor_and_writes_need_the_admin_role() {
    let cf = floodgate_config::ConfigFile::parse("t.yaml", &with_tokens()).unwrap();
    let tokens = Tokens::from_config(&cf.document.server.admin, None).unwrap();
    let addr = serve_who(tokens).await;
    let (ops, grafana) = (bearer(OPS), bearer(GRAFANA));
    let call = |method: &'static str, path: &'static str, auth: String| async move {
        let url = format!("http://{addr}{path}");
        send(method, &url, &[("authorization", &auth)], "").await
    };
    let r = call("GET", "/who", grafana.clone()).await;
    assert_eq!(
        (r.status.as_u16(), &r.body[..]),
        (200, &b"grafana read"[..])
    );
    let r = call("DELETE", "/v1/thing", ops.clone()).await;
    assert_eq!((r.status.as_u16(), &r.body[..]), (200, &b"ops admin"[..]));
    for (method, path) in [("DELETE", "/v1/thing"), ("POST", "/who")] {
        let r = call(method, path, grafana.clone()).await;
        assert_eq!(r.status, 403, "{method} {path}");
        assert_eq!(
            r.json(),
            serde_json::json!({"error": "forbidden", "message": "this endpoint needs the admin role"})
        );
    }
    // Without tokens (a loopback listener) everyone is `anonymous`, admin.
    let open = serve_who(Tokens::from_config(&AdminSection::default(), None).unwrap()).await;
    let r = send("DELETE", &format!("http://{open}/v1/thing"), &[], "").await;
    assert_eq!(
        (r.status.as_u16(), &r.body[..]),
        (200, &b"anonymous admin"[..])
    );
}

#[tokio::test]
async fn repeated_failures_from_one_address_are_refused_until_the_clock_moves_on() {
    let s = start(&with_tokens()).await;
    let metrics = format!("http://{}/metrics", s.admin);
    let (wrong, good) = (bearer("wrong-0123456789"), bearer(GRAFANA));
    // A valid token is never counted.
    for _ in 0..20 {
        assert_eq!(get(&metrics, &[("authorization", &good)]).await.status, 200);
    }
    for i in 0..auth::FAILURE_BURST {
        let h: &[(&str, &str)] = if i % 2 == 0 {
            &[("authorization", &wrong)]
        } else {
            &[]
        };
        assert_eq!(get(&metrics, h).await.status, 401, "attempt {i}");
    }
    // Over: refused before the token is looked at, even a valid one.
    for h in [&wrong, &good] {
        let r = get(&metrics, &[("authorization", h)]).await;
        assert_eq!(r.status, 429);
        assert_eq!(r.header("retry-after"), Some("6"));
        assert_eq!(r.json()["error"], "too_many_failed_attempts");
    }
    // The health checks stay open.
    let health = format!("http://{}/healthz", s.admin);
    assert_eq!(get(&health, &[]).await.status, 200);

    s.clock.advance(Duration::from_secs(3));
    let r = get(&metrics, &[("authorization", &good)]).await;
    assert_eq!(r.header("retry-after"), Some("3"));
    s.clock.advance(Duration::from_secs(3));
    // One attempt back: a good one passes, and is not counted.
    assert_eq!(get(&metrics, &[("authorization", &good)]).await.status, 200);
    assert_eq!(get(&metrics, &[("authorization", &good)]).await.status, 200);
    assert_eq!(
        get(&metrics, &[("authorization", &wrong)]).await.status,
        401
    );
    assert_eq!(get(&metrics, &[("authorization", &good)]).await.status, 429);
    // A full minute refills the whole burst.
    s.clock.advance(Duration::from_secs(60));
    for _ in 0..auth::FAILURE_BURST {
        assert_eq!(
            get(&metrics, &[("authorization", &wrong)]).await.status,
            401
        );
    }
    assert_eq!(
        get(&metrics, &[("authorization", &wrong)]).await.status,
        429
    );
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_reload_swaps_the_token_set() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("floodgate.yaml");
    let before = with_tokens();
    std::fs::write(&path, &before).unwrap();
    let s = start_with_path(&before, Some(path.clone())).await;
    let metrics = format!("http://{}/metrics", s.admin);
    let status = |token: &'static str| {
        let metrics = metrics.clone();
        async move {
            get(&metrics, &[("authorization", &bearer(token))])
                .await
                .status
        }
    };
    assert_eq!(status(OPS).await, 200);
    const NEW: &str = "rotated-0123456789abcdef";
    let after = before.replace(&sha256(OPS), &sha256(NEW));
    std::fs::write(&path, &after).unwrap();
    let report = s.running.reload().await.unwrap();
    assert!(report.needs_restart.is_empty(), "{report:?}");
    assert_eq!(status(OPS).await, 401);
    assert_eq!(status(NEW).await, 200);
    assert_eq!(status(GRAFANA).await, 200);
    // A file whose token is refused keeps the running set.
    std::fs::write(&path, after.replace("role: read", "role: root")).unwrap();
    assert!(s.running.reload().await.is_err());
    assert_eq!(status(GRAFANA).await, 200);
    // Without tokens, a loopback listener is open again.
    std::fs::write(&path, BASE).unwrap();
    s.running.reload().await.unwrap();
    assert_eq!(get(&metrics, &[]).await.status, 200);
    s.running.shutdown().await.unwrap();
}
