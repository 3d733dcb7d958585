//! Every rule name that loads keeps its failure mode: with Redis gone,
//! each rule is decided by its own `on_store_failure` (or the store's
//! `on_failure`), whatever characters of the name set its name uses, and
//! names outside the set are refused at load with their place.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use common::*;
use floodgate_testkit::redis::RedisServer;

/// A rule: its name and whether it says `on_store_failure: fail_closed`
/// (else it takes the store's `fail_open`).
struct Case {
    name: String,
    closed: bool,
}

fn case(name: &str, closed: bool) -> Case {
    Case {
        name: name.to_string(),
        closed,
    }
}

/// Rule `i` matches exactly `/r{i}` and allows `100 + i` an hour.
fn yaml(redis_url: &str, upstream: SocketAddr, cases: &[Case]) -> String {
    let mut y = format!(
        "listen: 127.0.0.1:0\nadmin: {{ listen: 127.0.0.1:0 }}\nupstream: http://{upstream}\nstore:\n  kind: redis\n  url: {redis_url}\n  on_failure: fail_open\n  time: caller\n  timeout: 50ms\n  breaker: {{ failures: 1 }}\nrules:\n"
    );
    for (i, c) in cases.iter().enumerate() {
        y.push_str(&format!(
            "  - name: \"{}\"\n    match: {{ path: /r{i} }}\n",
            c.name
        ));
        if c.closed {
            y.push_str("    on_store_failure: fail_closed\n");
        }
        y.push_str(&format!(
            "    limits:\n      - {{ algorithm: fixed_window, limit: {}, window: 1h }}\n",
            100 + i
        ));
    }
    y
}

/// Starts a server on a real Redis with `cases`, checks that each path is
/// decided by its own rule, stops Redis, and checks that each rule then
/// follows its own failure mode (also after the breaker's cool-down, when
/// a probe finds Redis still gone).
async fn each_rule_keeps_its_mode(cases: &[Case]) {
    let mut redis = RedisServer::start();
    let up = upstream().await;
    let s = start(&yaml(&redis.url(), up, cases)).await;
    let url = |i: usize| format!("http://{}/r{i}", s.public);

    for (i, c) in cases.iter().enumerate() {
        let r = get(&url(i), &[]).await;
        assert_eq!(r.status, 201, "`{}` allowed while Redis is up", c.name);
        let limit = (100 + i).to_string();
        assert_eq!(
            r.header("x-ratelimit-limit"),
            Some(limit.as_str()),
            "`{}` decides /r{i}",
            c.name
        );
        let policy = r.header("ratelimit-policy").unwrap_or_default();
        assert!(
            policy.starts_with(&format!("\"{}\";", c.name)),
            "`{}`: {policy}",
            c.name
        );
    }

    redis.kill();
    for round in ["breaker open", "after a failed probe"] {
        for (i, c) in cases.iter().enumerate() {
            let r = get(&url(i), &[]).await;
            if c.closed {
                assert_eq!(r.status, 503, "`{}` fails closed ({round})", c.name);
                assert_eq!(r.json()["error"], "limiter_unavailable", "`{}`", c.name);
                assert_eq!(r.header("x-upstream"), None);
            } else {
                assert_eq!(r.status, 201, "`{}` fails open ({round})", c.name);
                assert_eq!(r.header("x-upstream"), Some("yes"));
            }
        }
        // Past the default cool-down (1s) on the server's clock: the next
        // check probes Redis, which is still gone.
        s.clock.advance(Duration::from_secs(2));
    }
    let m = get(&format!("http://{}/metrics", s.admin), &[]).await;
    let text = String::from_utf8_lossy(&m.body).to_string();
    let closed = cases.iter().filter(|c| c.closed).count() * 2;
    assert!(
        text.contains(&format!(
            "floodgate_degraded_decisions_total{{mode=\"fail_closed\"}} {closed}"
        )),
        "{text}"
    );
    s.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn every_rule_name_that_loads_keeps_its_failure_mode() {
    let long: String = "L0ng_name-with.every-class_".repeat(3)[..64].to_string();
    assert_eq!(long.len(), 64);
    let cases = [
        case("a.b-c_D9", true),
        case("9lives", true),
        case("x", true),
        case("7", true),
        case(&long, true),
        // Names that differ only by `.`, `-` or `_`, or by case, each with
        // the other mode than its neighbour.
        case("a.b", true),
        case("a-b", false),
        case("a_b", true),
        case("Ab", true),
        case("ab", false),
        case("z..z", true),
        case("z--z", false),
        case("0.0", true),
        case("0-0", false),
        case("trailing.", true),
        case("trailing-", false),
        // No `on_store_failure`: the store's fail_open.
        case("open", false),
    ];
    each_rule_keeps_its_mode(&cases).await;
}

/// A small deterministic generator (xorshift64*), so that a failing seed
/// is a number to rerun.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A name of the allowed set: 1 to 64 of A-Z a-z 0-9 _ - . starting
    /// with a letter or digit; one in four is of the greatest length.
    fn name(&mut self) -> String {
        const FIRST: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        const REST: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.";
        let len = if self.below(4) == 0 {
            64
        } else {
            1 + self.below(64)
        };
        let mut s = String::with_capacity(len);
        s.push(FIRST[self.below(FIRST.len())] as char);
        for _ in 1..len {
            // Punctuation more often than its share, so runs like `.-_`
            // appear.
            let c = if self.below(3) == 0 {
                b"_-."[self.below(3)]
            } else {
                REST[self.below(REST.len())]
            };
            s.push(c as char);
        }
        s
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn random_valid_rule_names_keep_their_failure_modes() {
    for seed in [0x5eed_0001_u64, 0xdead_beef, 42] {
        let mut g = Gen(seed);
        let mut cases: Vec<Case> = Vec::new();
        while cases.len() < 20 {
            let name = g.name();
            if name == "global" || cases.iter().any(|c| c.name == name) {
                continue;
            }
            let closed = g.below(2) == 0;
            cases.push(Case { name, closed });
        }
        // Both modes, whatever the seed.
        cases[0].closed = true;
        cases[1].closed = false;
        each_rule_keeps_its_mode(&cases).await;
    }
}

#[test]
fn a_rule_name_outside_the_set_is_refused_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("names.yaml");
    let file = path.to_str().unwrap();
    let too_long = "a".repeat(65);
    for bad in [
        "a/b", "a@b", "a b", "-a", ".a", "_a", "", "é", "a:b", "a{b}", &too_long,
    ] {
        // The name stands on line 3.
        let text = format!(
            "# a rule with a bad name\nrules:\n  - name: '{bad}'\n    limits:\n      - {{ algorithm: fixed_window, limit: 1, window: 1s }}\n"
        );
        std::fs::write(&path, &text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_floodgate"))
            .args(["check-config", file])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "`{bad}`: {err}");
        assert!(err.contains(&format!("{file}:3:")), "`{bad}`: {err}");
        assert!(err.contains("rules[0].name"), "`{bad}`: {err}");
        assert!(!err.contains("panicked"), "`{bad}`: {err}");
    }
}
