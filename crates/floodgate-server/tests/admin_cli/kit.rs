//! The server the CLI talks to, and the CLI run against it.

use std::path::PathBuf;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::common::*;

pub const TOKEN: &str = "ops-cli-0123456789abcdef";
pub const ME: &str = "i:127.0.0.1";

pub fn sha256(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `BASE` (per-ip, 5 a minute on `/api/v1/data`) with the admin token.
pub fn config() -> String {
    BASE.replace(
        "admin: { listen: 127.0.0.1:0 }",
        &format!(
            "admin:\n  listen: 127.0.0.1:0\n  tokens:\n    - {{ name: ops, role: admin, sha256: {} }}",
            sha256(TOKEN)
        ),
    )
}

/// `BASE`'s policy part with another limit on `per-ip`.
pub fn policy_with_limit(limit: &str) -> String {
    format!(
        "tiers: [free, pro]\ndefault_tier: free\nclients:\n  - {{ api_key: key-pro-1, tier: pro }}\nrules:\n  - name: per-ip\n    match: {{ path: /api/v1/data }}\n    key: ip\n    limits:\n      - {{ algorithm: fixed_window, limit: {limit}, window: 1m }}\n"
    )
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

/// Runs the binary with `url` and `token` in its environment, on a
/// blocking thread so the server keeps serving meanwhile.
pub async fn cli_at(url: &str, token: Option<&str>, args: &[&str]) -> Run {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_floodgate"));
    cmd.arg("admin")
        .args(args)
        .env("FLOODGATE_ADMIN_URL", url)
        .env_remove("FLOODGATE_ADMIN_TOKEN");
    if let Some(t) = token {
        cmd.env("FLOODGATE_ADMIN_TOKEN", t);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("the binary runs"))
        .await
        .unwrap();
    let run = Run {
        code: out.status.code().expect("exited"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    };
    if let Some(t) = token {
        assert!(
            !run.stdout.contains(t) && !run.stderr.contains(t),
            "the token was printed"
        );
    }
    run
}

pub async fn cli(s: &Server, args: &[&str]) -> Run {
    cli_at(&format!("http://{}", s.admin), Some(TOKEN), args).await
}

/// Asserts success and returns the run.
pub async fn ok(s: &Server, args: &[&str]) -> Run {
    let r = cli(s, args).await;
    assert_eq!(r.code, 0, "{args:?}: {}{}", r.stdout, r.stderr);
    r
}

pub async fn statuses(s: &Server, n: usize) -> Vec<u16> {
    let url = format!("http://{}/api/v1/data", s.public);
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(get(&url, &[]).await.status.as_u16());
    }
    out
}

pub async fn live_version(s: &Server) -> String {
    let r = ok(s, &["get", "--format", "json"]).await;
    r.stderr.trim().to_string()
}

pub fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}
