//! The server on Redis as managed services run it: TLS with a CA file, an
//! ACL user whose password is read from a file. Replicas share exact
//! counts over it; `check-config` shows where the password comes from and
//! never the password; a wrong password stops `serve` at start with an
//! error that says so.

mod common;

use std::process::Command;

use common::*;
use floodgate_testkit::pki::Pki;
use floodgate_testkit::redis::{RedisServer, DOCUMENTED_ACL};

const PASSWORD: &str = "pw-Xy7-secret";

struct Setup {
    redis: RedisServer,
    pki: Pki,
    dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let pki = Pki::new("server");
    let redis = RedisServer::start_tls(&pki, false);
    redis.add_user("floodgate", PASSWORD, DOCUMENTED_ACL);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("redis-password"), format!("{PASSWORD}\n")).unwrap();
    Setup { redis, pki, dir }
}

fn yaml(s: &Setup, password_file: &str) -> String {
    format!(
        "listen: 127.0.0.1:0\nadmin: {{ listen: 127.0.0.1:0 }}\nrules:\n  - name: shared\n    key: global\n    limits:\n      - {{ algorithm: fixed_window, limit: 30, window: 1h }}\nstore:\n  kind: redis\n  url: {url}\n  time: caller\n  timeout: 2s\n  username: floodgate\n  password_file: {pw}\n  tls:\n    ca_file: {ca}\n",
        url = s.redis.tls_url().unwrap(),
        pw = s.dir.path().join(password_file).display(),
        ca = s.pki.ca().display(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_share_exact_counts_over_tls_as_an_acl_user() {
    let s = setup();
    let config = yaml(&s, "redis-password");
    let a = start(&config).await;
    let b = start(&config).await;
    let mut allowed = 0;
    for i in 0..40 {
        let server = if i % 2 == 0 { &a } else { &b };
        match get(&format!("http://{}/resource", server.public), &[])
            .await
            .status
            .as_u16()
        {
            200 => allowed += 1,
            429 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(allowed, 30, "exactly the limit across two replicas");
    // The counts are in Redis, written as the ACL user.
    let keys = s.redis.cli(&["--scan", "--pattern", "fg:*"]);
    assert!(!keys.trim().is_empty());
    a.running.shutdown().await.unwrap();
    b.running.shutdown().await.unwrap();
}

#[test]
fn check_config_says_where_the_password_is_and_never_what_it_is() {
    let s = setup();
    let file = s.dir.path().join("floodgate.yaml");
    // A password in the URL too: shown as ***.
    let text = yaml(&s, "redis-password").replace(
        "rediss://localhost",
        &format!("rediss://floodgate:{PASSWORD}@localhost"),
    );
    std::fs::write(&file, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_floodgate"))
        .arg("check-config")
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(!stdout.contains(PASSWORD), "{stdout}");
    assert!(stdout.contains("floodgate:***@localhost"), "{stdout}");
    assert!(
        stdout.contains("user floodgate, password from file "),
        "{stdout}"
    );
    assert!(stdout.contains("tls (CA file "), "{stdout}");
}

#[test]
fn a_wrong_password_stops_serve_at_start() {
    let s = setup();
    std::fs::write(s.dir.path().join("wrong"), "not-the-password\n").unwrap();
    let file = s.dir.path().join("floodgate.yaml");
    std::fs::write(&file, yaml(&s, "wrong")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_floodgate"))
        .arg("serve")
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("refused the password of user `floodgate`"),
        "{stderr}"
    );
    assert!(!stderr.contains("not-the-password"), "{stderr}");
}
