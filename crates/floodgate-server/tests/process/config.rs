//! Config files refused with their place, admin tokens never in clear,
//! and Envoy's rate limit config imported.

use super::kit::*;

#[test]
fn serve_refuses_a_bad_config_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.yaml");
    std::fs::write(
        &path,
        "rules:\n  - name: a\n    limits:\n      - { algorithm: token_bucket, capacity: 3, refill: 1/s, colour: red }\n",
    )
    .unwrap();
    let out = floodgate(&["serve", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.yaml:4:"), "{err}");
    assert!(err.contains("unknown field `colour`"), "{err}");
    let out = floodgate(&["check-config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// A misspelt top-level section is named on its own line, like any other
/// unknown field, and so is a section written twice.
#[test]
fn an_unknown_or_repeated_top_level_key_is_refused_on_its_line() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text, line, what) in [
        (
            "unknown.yaml",
            "rules: []\nlog: { format: json }\ncolour: red\n",
            3,
            "unknown field `colour`",
        ),
        (
            "twice.yaml",
            "rules: []\nlisten: 127.0.0.1:1\nlisten: 127.0.0.1:2\n",
            3,
            "duplicate field `listen`",
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let out = floodgate(&["check-config", path.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(what), "{name}: {err}");
        assert!(err.contains(&format!("{name}:{line}:")), "{name}: {err}");
    }
}

/// `check-config` on `text` with `FLOODGATE_ADMIN_TOKENS` as given: the
/// exit code, stdout and stderr.
fn check_config_with(text: &str, env_tokens: Option<&str>) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin.yaml");
    std::fs::write(&path, text).unwrap();
    let mut cmd = floodgate(&["check-config", path.to_str().unwrap()]);
    match env_tokens {
        Some(v) => cmd.env(floodgate_admin::auth::ENV_VAR, v),
        None => cmd.env_remove(floodgate_admin::auth::ENV_VAR),
    };
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn admin_tokens_come_from_the_file_or_the_environment_never_in_clear() {
    let secret = "s3cret-s3cret-s3cret";
    // A token in clear is refused on its line, with how to migrate.
    let (code, _, err) = check_config_with(
        &format!("rules: []\nadmin:\n  listen: 127.0.0.1:9090\n  token: {secret}\n"),
        None,
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("admin.yaml:4:"), "{err}");
    assert!(err.contains("admin.token: "), "{err}");
    assert!(err.contains("printf %s TOKEN | sha256sum"), "{err}");
    assert!(!err.contains(secret), "{err}");
    // Reachable from other hosts without a token: refused.
    let open = "rules: []\nadmin:\n  listen: 0.0.0.0:9090\n";
    let (code, _, err) = check_config_with(open, None);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("admin.yaml:3:"), "{err}");
    assert!(
        err.contains("set admin.tokens (or FLOODGATE_ADMIN_TOKENS)"),
        "{err}"
    );
    // The environment adds tokens.
    let env = format!(
        "ci:read:{}, deploy:admin:{}",
        sha256("ci"),
        sha256("deploy")
    );
    let (code, out, err) = check_config_with(open, Some(&env));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("(tokens: ci/read, deploy/admin)"), "{out}");
    // A bad entry names the variable and the entry, not what it holds.
    let env = format!("ci:read:{},deploy:admin:{secret}", sha256("ci"));
    let (code, _, err) = check_config_with(open, Some(&env));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("FLOODGATE_ADMIN_TOKENS:1:"), "{err}");
    assert!(
        err.contains("[1]: the sha256 must be 64 lowercase hex"),
        "{err}"
    );
    assert!(!err.contains(secret), "{err}");
}

#[test]
fn import_envoy_ratelimit_prints_a_policy_that_serves() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("config.yaml");
    std::fs::write(
        &src,
        "domain: edge\ndescriptors:\n  - key: remote_address\n    rate_limit: { unit: second, requests_per_unit: 10 }\n",
    )
    .unwrap();
    let out = floodgate(&["import", "envoy-ratelimit", src.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let policy = String::from_utf8(out.stdout).unwrap();
    assert!(policy.contains("domain: edge"), "{policy}");
    let file = dir.path().join("policy.yaml");
    std::fs::write(&file, &policy).unwrap();
    let check = floodgate(&["check-config", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // A bad file: exit 2, naming file, line and field.
    std::fs::write(&src, "domain: edge\ndescriptors:\n  - key: a\n    rate_limit: { unit: eon, requests_per_unit: 1 }\n").unwrap();
    let out = floodgate(&["import", "envoy-ratelimit", src.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("config.yaml:4:") && err.contains("descriptors[0].rate_limit.unit"),
        "{err}"
    );
}
