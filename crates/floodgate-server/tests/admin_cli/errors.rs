//! Refusals and failures: a wrong or missing token (exit 1), no server
//! or a silent one (exit 3), usage and local errors (exit 2).

use super::common::*;
use super::kit::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_or_missing_token_is_refused_with_exit_1() {
    let s = start(&config()).await;
    let url = format!("http://{}", s.admin);
    let wrong = "wrong-token-0123456789";
    let r = cli_at(&url, Some(wrong), &["get"]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
    assert!(r.stderr.contains("unauthorized"), "{}", r.stderr);
    assert!(r.stdout.is_empty());

    let r = cli_at(&url, None, &["clients", "list"]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("FLOODGATE_ADMIN_TOKEN"), "{}", r.stderr);

    // --token on the command line works as the variable does.
    let r = cli_at(&url, None, &["--token", TOKEN, "history"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains(TOKEN));
    s.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_is_not_there_or_does_not_answer_is_exit_3() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let url = format!("http://{closed}");
    let r = cli_at(&url, Some(TOKEN), &["history"]).await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains(&url), "{}", r.stderr);

    // A listener that accepts and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = silent.accept().await {
            held.push(sock);
        }
    });
    let started = std::time::Instant::now();
    let r = cli_at(
        &format!("http://{addr}"),
        Some(TOKEN),
        &["--timeout", "300ms", "get"],
    )
    .await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("within 300ms"), "{}", r.stderr);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_and_local_errors_are_exit_2() {
    let s = start(&config()).await;
    for args in [
        &["--bogus", "get"][..],
        &["get", "--format", "toml"],
        &["--output", "xml", "history"],
        &["rollback", "latest"],
        &["override", "set", "per-ip", ME],
        &["apply", "-f", "/nonexistent/policy.yaml"],
        &["--timeout", "10", "get"],
        &["--url", "https://127.0.0.1:9090", "get"],
    ] {
        let r = cli(&s, args).await;
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(!r.stderr.is_empty(), "{args:?}");
    }
    let help = cli(&s, &["--help"]).await;
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("Exit codes:"), "{}", help.stdout);
    assert_eq!(live_version(&s).await, "version: 1");
    s.running.shutdown().await.unwrap();
}
