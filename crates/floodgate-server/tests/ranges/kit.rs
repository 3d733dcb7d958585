//! The config files the tables are made of, and `floodgate` run on them.

use std::path::Path;
use std::process::Command;

/// A config file and the text of the line that holds its one bad value.
pub struct Case {
    pub label: &'static str,
    pub yaml: String,
    pub bad_line: &'static str,
}

/// A config at the bounds, which loads: `(label, yaml)`.
pub type Good = (&'static str, String);

pub fn case(label: &'static str, yaml: String, bad_line: &'static str) -> Case {
    Case {
        label,
        yaml,
        bad_line,
    }
}

/// One rule with one limit, written one field to a line.
pub fn limit(fields: &str) -> String {
    format!("# one limit\nrules:\n  - name: r\n    limits:\n      - {fields}\n")
}

pub fn fixed_window(limit_value: &str, window: &str) -> String {
    limit(&format!(
        "algorithm: fixed_window\n        limit: {limit_value}\n        window: {window}"
    ))
}

pub fn token_bucket(capacity: &str, refill: &str) -> String {
    limit(&format!(
        "algorithm: token_bucket\n        capacity: {capacity}\n        refill: {refill}"
    ))
}

pub fn leaky_bucket(capacity: &str, rate: &str) -> String {
    limit(&format!(
        "algorithm: leaky_bucket\n        capacity: {capacity}\n        rate: {rate}"
    ))
}

pub fn gcra(rate: &str, burst: &str) -> String {
    limit(&format!(
        "algorithm: gcra\n        rate: {rate}\n        burst: {burst}"
    ))
}

pub fn sliding_log(limit_value: &str) -> String {
    limit(&format!(
        "algorithm: sliding_window_log\n        limit: {limit_value}\n        window: 1s"
    ))
}

/// A valid policy followed by `server` (top-level server sections).
pub fn server(server: &str) -> String {
    format!("{}{server}", fixed_window("10", "1s"))
}

/// A Redis store with `extra` lines (two spaces in).
pub fn redis(extra: &str) -> String {
    server(&format!(
        "store:\n  kind: redis\n  url: redis://127.0.0.1:6379\n{extra}"
    ))
}

/// A gateway with `websocket:` lines `lines` (two spaces in).
pub fn websocket(lines: &str) -> String {
    server(&format!(
        "upstream: http://127.0.0.1:9\nwebsocket:\n{lines}"
    ))
}

pub fn floodgate_check(path: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_floodgate"))
        .args(["check-config", path.to_str().unwrap()])
        .output()
        .unwrap()
}

/// `serve` on the same file: it refuses a bad config before it binds
/// anything, so it exits at once.
pub fn floodgate_serve(path: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_floodgate"))
        .args([
            "serve",
            "--watch",
            "off",
            "--config",
            path.to_str().unwrap(),
        ])
        .output()
        .unwrap()
}

/// The 1-based line of `text` that contains `needle`.
pub fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("`{needle}` not in\n{text}"))
        + 1
}

/// Runs `check-config` on each case and returns what went wrong, one line
/// a case, so that one run names every case that fails.
pub fn refusals_that_went_wrong(cases: &[Case]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let mut wrong = Vec::new();
    for c in cases {
        let path = dir.path().join(format!("{}.yaml", c.label));
        std::fs::write(&path, &c.yaml).unwrap();
        let line = line_of(&c.yaml, c.bad_line);
        let place = format!("{}.yaml:{line}:", c.label);
        let mut problems = Vec::new();
        let mut err = String::new();
        // check-config and serve agree: both refuse, with the place.
        for (what, out) in [
            ("check-config", floodgate_check(&path)),
            ("serve", floodgate_serve(&path)),
        ] {
            err = String::from_utf8_lossy(&out.stderr).to_string();
            if out.status.code() != Some(2) {
                problems.push(format!("{what}: exit {:?}", out.status.code()));
            }
            if err.contains("panicked") {
                problems.push(format!("{what}: panicked"));
            }
            if !err.contains(&place) {
                problems.push(format!("{what}: no `{place}`"));
            }
        }
        if !problems.is_empty() {
            wrong.push(format!(
                "{}: {} — stderr: {}",
                c.label,
                problems.join(", "),
                err.trim()
            ));
        }
    }
    wrong
}
