//! The state the policy holds besides its rules: clients and their keys,
//! overrides, and counters.

use super::common::*;
use super::kit::*;

#[tokio::test(flavor = "multi_thread")]
async fn clients_are_created_listed_changed_and_revoked_and_keys_shown_once() {
    let s = start(&config()).await;
    let r = ok(
        &s,
        &["clients", "create", "--tier", "pro", "--name", "acme corp"],
    )
    .await;
    assert!(r.stdout.contains("shown only now"), "{}", r.stdout);
    let field = |name: &str| {
        r.stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {name} in {}", r.stdout))
    };
    let (key, fp) = (field("api key:"), field("fingerprint:"));
    assert!(key.starts_with("fg_") && key.len() > 32, "{key}");

    let list = ok(&s, &["clients", "list"]).await.stdout;
    assert!(list.starts_with("FINGERPRINT"), "{list}");
    let row = list.lines().find(|l| l.contains(&fp)).expect("listed");
    assert!(row.contains("pro") && row.contains("acme corp"), "{row}");
    let everything = [
        list,
        ok(&s, &["--output", "json", "clients", "list"])
            .await
            .stdout,
        ok(&s, &["get"]).await.stdout,
        ok(&s, &["get", "--format", "json"]).await.stdout,
        ok(&s, &["history"]).await.stdout,
    ];
    for out in &everything {
        assert!(!out.contains(&key), "the key was printed again: {out}");
    }

    // JSON output is the server's own, and the hint stays off stdout.
    let r = ok(
        &s,
        &["--output", "json", "clients", "create", "--tier", "free"],
    )
    .await;
    assert!(r.json()["api_key"].as_str().unwrap().starts_with("fg_"));
    assert!(r.stderr.contains("shown only now"));

    ok(&s, &["clients", "set", &fp, "--tier", "free"]).await;
    let clients = ok(&s, &["--output", "json", "clients", "list"])
        .await
        .json();
    let me = clients["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["fingerprint"] == fp.as_str())
        .unwrap();
    assert_eq!(me["tier"], "free");
    assert_eq!(me["name"], "acme corp");
    let r = cli(&s, &["clients", "set", &fp]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);

    let r = ok(&s, &["clients", "revoke", &fp]).await;
    assert!(r.stdout.contains("revoked client"), "{}", r.stdout);
    assert!(!ok(&s, &["clients", "list"]).await.stdout.contains(&fp));
    let r = cli(&s, &["clients", "revoke", &fp]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("not_found"), "{}", r.stderr);
    s.running.shutdown().await.unwrap();
}

/// `override list`, as a table and as JSON: `ME` with its limit and
/// expiry, `odd` with its own, in that order.
async fn assert_overrides_listed(s: &Server, odd: &str) {
    let list = ok(s, &["override", "list"]).await.stdout;
    assert!(list.starts_with("RULE"), "{list}");
    let row = list.lines().find(|l| l.contains(odd)).expect("listed");
    assert!(row.contains("gcra") && row.contains("never"), "{row}");
    let row = list.lines().find(|l| l.contains(ME)).expect("listed");
    assert!(row.contains("fixed_window limit=1 window=1m"), "{row}");
    assert!(row.contains("2025-11-26 00:00:00 UTC"), "{row}");
    let v = ok(s, &["--output", "json", "override", "list"])
        .await
        .json();
    let identities: Vec<&str> = v["overrides"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["identity"].as_str().unwrap())
        .collect();
    assert_eq!(identities, [ME, odd]);
}

#[tokio::test(flavor = "multi_thread")]
async fn overrides_are_set_listed_enforced_and_deleted() {
    let s = start(&config()).await;
    let dir = tempfile::tempdir().unwrap();

    // This client's own identity: one request a minute from now on.
    let limit = "algorithm=fixed_window,limit=1,window=1m";
    let r = ok(
        &s,
        &[
            "override",
            "set",
            "per-ip",
            ME,
            "--limit",
            limit,
            "--expires-in",
            "24h",
        ],
    )
    .await;
    assert!(r.stdout.contains("now version 2"), "{}", r.stdout);
    assert_eq!(statuses(&s, 2).await, [200, 429]);

    // Identities with `:`, `|` and spaces stay one path segment.
    let odd = "u:al ice|k:a/b?c";
    let file = write(
        &dir,
        "limits.yaml",
        "limits:\n  - { algorithm: gcra, rate: 10/s, burst: 5 }\n",
    );
    ok(
        &s,
        &[
            "override",
            "set",
            "per-ip",
            odd,
            "-f",
            file.to_str().unwrap(),
        ],
    )
    .await;
    assert_overrides_listed(&s, odd).await;

    ok(&s, &["override", "delete", "per-ip", odd]).await;
    ok(&s, &["override", "delete", "per-ip", ME]).await;
    let r = cli(&s, &["override", "delete", "per-ip", ME]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no override of `per-ip`"), "{}", r.stderr);
    let v = ok(&s, &["--output", "json", "override", "list"])
        .await
        .json();
    assert_eq!(v["overrides"], serde_json::json!([]));

    // A limit that does not parse is caught before anything is sent.
    let r = cli(
        &s,
        &[
            "override",
            "set",
            "per-ip",
            ME,
            "--limit",
            "algorithm=fixed_window,limit=lots",
        ],
    )
    .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("limit: `lots` is not a whole number"));
    assert_eq!(live_version(&s).await, "version: 5");
    s.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn counters_are_inspected_and_reset() {
    let s = start(&config()).await;
    assert_eq!(statuses(&s, 2).await, [200, 200]);
    let args = ["inspect", "--rule", "per-ip", "--key", ME];
    let r = ok(&s, &args).await;
    assert!(r.stdout.starts_with("SCOPE"), "{}", r.stdout);
    // What would remain after one more request; inspecting is free.
    assert!(r.stdout.contains("fixed_window  2/5"), "{}", r.stdout);
    let json_args = [
        "--output", "json", "inspect", "--rule", "per-ip", "--key", ME,
    ];
    let v = ok(&s, &json_args).await.json();
    assert_eq!(v["limits"][0]["remaining"], 2);
    assert_eq!(v["key"], ME);

    let r = ok(&s, &["reset", "--rule", "per-ip", "--key", ME]).await;
    assert_eq!(
        r.stdout,
        "reset 1 counter(s) of rule per-ip for i:127.0.0.1\n"
    );
    assert_eq!(ok(&s, &json_args).await.json()["limits"][0]["remaining"], 4);
    assert_eq!(statuses(&s, 6).await, [200, 200, 200, 200, 200, 429]);

    let r = cli(&s, &["inspect", "--rule", "nope", "--key", ME]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no rule is named `nope`"), "{}", r.stderr);
    s.running.shutdown().await.unwrap();
}
