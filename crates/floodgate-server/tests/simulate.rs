//! End-to-end: the `floodgate simulate` binary on trace files.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("floodgate-sim-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    fn file(&self, name: &str, body: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, body).unwrap();
        p
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn simulate(config: &PathBuf, trace: &PathBuf) -> Output {
    Command::new(env!("CARGO_BIN_EXE_floodgate"))
        .args(["simulate", "--config"])
        .arg(config)
        .arg("--trace")
        .arg(trace)
        .output()
        .expect("run floodgate")
}

fn lines(out: &Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "simulate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const POLICY: &str = r#"
tiers: [free, pro, enterprise]
default_tier: free
clients:
  - { api_key: key-pro, tier: pro }
  - { api_key: key-ent, tier: enterprise }
rules:
  - name: login
    match: { path: /api/login, methods: [POST] }
    key: ip
    limits:
      - { algorithm: fixed_window, limit: 5, window: 1m }
  - name: api
    match: { path: /api/v1/* }
    key: api_key
    limits:
      - { algorithm: token_bucket, capacity: 3, refill: 1/s }
    tiers:
      pro: [ { algorithm: token_bucket, capacity: 10, refill: 10/s } ]
      enterprise: []
  - name: search-preview
    match: { path: /search }
    key: user
    shadow: true
    limits:
      - { algorithm: sliding_window_log, limit: 2, window: 10s }
  - name: upload
    match: { path: /upload, methods: [PUT] }
    key: user
    limits:
      - { algorithm: leaky_bucket, mode: shaping, capacity: 2, rate: 2/s }
global:
  - { algorithm: fixed_window, limit: 1000, window: 1s }
"#;

#[test]
fn login_allows_exactly_the_limit_then_says_when() {
    let d = Dir::new("login");
    let config = d.file("c.yaml", POLICY);
    let trace: String = (0..7)
        .map(|i| {
            format!(
                "{{\"t\": {}, \"ip\": \"10.0.0.1\", \"method\": \"POST\", \"path\": \"/api/login\"}}\n",
                60.0 + f64::from(i) * 0.5
            )
        })
        .collect::<String>()
        + "{\"t\": 120, \"ip\": \"10.0.0.1\", \"method\": \"POST\", \"path\": \"/api/login\"}\n"
        + "{\"t\": 120, \"ip\": \"10.0.0.2\", \"method\": \"POST\", \"path\": \"/api/login\"}\n";
    let trace = d.file("t.jsonl", &trace);
    let out = lines(&simulate(&config, &trace));
    let allowed: Vec<bool> = out[..9]
        .iter()
        .map(|l| l["allowed"].as_bool().unwrap())
        .collect();
    assert_eq!(
        allowed,
        [true, true, true, true, true, false, false, true, true]
    );
    // Denied at t = 62.5 in the window [60, 120): retry 57.5 s later.
    assert_eq!(out[5]["rule"], "login");
    assert_eq!(out[5]["retry_after"], 57.5);
    assert_eq!(out[5]["remaining"], 0);
    assert_eq!(out[4]["remaining"], 0);
    assert_eq!(out[0]["remaining"], 4);
    let summary = &out[9]["summary"];
    assert_eq!(summary["requests"], 9);
    assert_eq!(summary["allowed"], 7);
    assert_eq!(summary["limited"], 2);
    assert_eq!(summary["rules"]["login"]["limited"], 2);
    assert_eq!(summary["rules"]["global"]["matched"], 9);
}

#[test]
fn tiers_get_their_own_limits() {
    let d = Dir::new("tiers");
    let config = d.file("c.yaml", POLICY);
    let mut trace = String::new();
    for key in ["key-free-unknown", "key-pro", "key-ent"] {
        for _ in 0..12 {
            trace.push_str(&format!(
                "{{\"t\": 5, \"ip\": \"10.0.0.9\", \"path\": \"/api/v1/data\", \"headers\": {{\"X-Api-Key\": \"{key}\"}}}}\n"
            ));
        }
    }
    let trace = d.file("t.jsonl", &trace);
    let out = lines(&simulate(&config, &trace));
    let admitted = |range: std::ops::Range<usize>| {
        out[range]
            .iter()
            .filter(|l| l["allowed"].as_bool().unwrap())
            .count()
    };
    assert_eq!(admitted(0..12), 3, "free: capacity 3");
    assert_eq!(admitted(12..24), 10, "pro: capacity 10");
    assert_eq!(admitted(24..36), 12, "enterprise: no api limit");
    assert_eq!(out[0]["tier"], "free");
    assert_eq!(out[12]["tier"], "pro");
    assert_eq!(out[12]["limit"], 10);
}

#[test]
fn shadow_rules_never_deny_but_are_counted() {
    let d = Dir::new("shadow");
    let config = d.file("c.yaml", POLICY);
    let trace: String = (0..5)
        .map(|i| {
            format!(
                "{{\"t\": {i}, \"ip\": \"10.0.0.3\", \"path\": \"/search\", \"headers\": {{\"x-user-id\": \"ann\"}}}}\n"
            )
        })
        .collect();
    let trace = d.file("t.jsonl", &trace);
    let out = lines(&simulate(&config, &trace));
    assert!(out[..5].iter().all(|l| l["allowed"] == true));
    assert!(out[1].get("shadow_limited").is_none());
    assert_eq!(out[2]["shadow_limited"][0], "search-preview/search-preview");
    let rule = &out[5]["summary"]["rules"]["search-preview"];
    assert_eq!(rule["shadow"], true);
    assert_eq!(rule["limited"], 3);
    assert_eq!(rule["allowed"], 2);
    assert_eq!(out[5]["summary"]["limited"], 0);
}

#[test]
fn shaping_reports_the_delay() {
    let d = Dir::new("shaping");
    let config = d.file("c.yaml", POLICY);
    let line = "{\"t\": 1, \"ip\": \"10.0.0.4\", \"method\": \"PUT\", \"path\": \"/upload\", \"headers\": {\"x-user-id\": \"bo\"}}\n";
    let trace = d.file("t.jsonl", &line.repeat(4));
    let out = lines(&simulate(&config, &trace));
    let delays: Vec<f64> = out[..3]
        .iter()
        .map(|l| l["delay"].as_f64().unwrap())
        .collect();
    assert_eq!(delays, [0.0, 0.5, 1.0]);
    assert_eq!(out[3]["allowed"], false);
    assert_eq!(out[3]["retry_after"], 0.5);
    assert_eq!(out[4]["summary"]["delayed"], 2);
}

#[test]
fn cost_above_capacity_is_never() {
    let d = Dir::new("never");
    let config = d.file("c.yaml", POLICY);
    let trace = d.file(
        "t.jsonl",
        "{\"t\": 1, \"ip\": \"10.0.0.5\", \"path\": \"/api/v1/x\", \"cost\": 4}\n",
    );
    let out = lines(&simulate(&config, &trace));
    assert_eq!(out[0]["allowed"], false);
    assert_eq!(out[0]["retry_after"], "never");
}

#[test]
fn a_bad_trace_line_is_named() {
    let d = Dir::new("badline");
    let config = d.file("c.yaml", POLICY);
    for (body, needle) in [
        (
            "{\"t\": 1, \"path\": \"/a\"}\n{\"t\": 2, \"path\": \"/a\", \"ip\": \"nope\"}\n",
            "t.jsonl:2:",
        ),
        (
            "{\"t\": 3, \"path\": \"/a\"}\n\n{\"t\": 2, \"path\": \"/a\"}\n",
            "t.jsonl:3: `t` goes back",
        ),
        (
            "{\"t\": 1, \"path\": \"/a\", \"colour\": 1}\n",
            "t.jsonl:1: unknown field `colour`",
        ),
        ("not json\n", "t.jsonl:1:"),
        (
            "{\"t\": 1, \"path\": \"/a\", \"cost\": 1099511627777}\n",
            "t.jsonl:1: `cost` must be between 1 and 1099511627776",
        ),
        // Past 2^53 µs the engine's time arithmetic would not be exact.
        (
            "{\"t\": 1e308, \"path\": \"/a\"}\n",
            "t.jsonl:1: `t` must be a number of seconds from 0 to 9000000000, got 1e308",
        ),
    ] {
        let trace = d.file("t.jsonl", body);
        let out = simulate(&config, &trace);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{err:?} should contain {needle:?}");
    }
}

#[test]
fn a_bad_config_is_refused_with_its_place() {
    let d = Dir::new("badconfig");
    let trace = d.file("t.jsonl", "{\"t\": 1, \"path\": \"/a\"}\n");
    let cases = [
        (
            "rules:\n  - name: a\n    limits:\n      - { algorithm: token_bucket, capacity: 3, refil: 1/s }\n",
            ":4:",
            "unknown field `refil`",
        ),
        (
            "tiers: [free]\nrules:\n  - name: a\n    limits: []\n    tiers:\n      gold:\n        - { algorithm: gcra, rate: 1/s }\n",
            ":7:",
            "unknown tier `gold`",
        ),
        (
            "global:\n  - { algorithm: fixed_window, limit: 5, window: 10 }\n",
            ":2:",
            "needs a unit",
        ),
        (
            "rules:\n  - name: a\n    limits:\n      - algorithm: token_bucket\n        capacity: 3\n",
            ":4:",
            "needs `refill`",
        ),
    ];
    for (body, place, message) in cases {
        let config = d.file("bad.yaml", body);
        let out = simulate(&config, &trace);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("bad.yaml{place}")), "{err}");
        assert!(err.contains(message), "{err}");
    }
}

#[test]
fn check_config_summarises() {
    let d = Dir::new("check");
    let config = d.file("c.yaml", POLICY);
    let out = Command::new(env!("CARGO_BIN_EXE_floodgate"))
        .arg("check-config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("rule login: /api/login POST by ip"), "{text}");
    assert!(text.contains("tier enterprise: unlimited"), "{text}");
    assert!(text.contains("fixed_window(limit=5, window=1m)"), "{text}");
}
