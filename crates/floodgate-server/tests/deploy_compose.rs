//! The container image and compose files of `deploy/` (no container engine
//! here, so what can be checked without one): the compose file is valid
//! YAML with the services of the topology, every file it mounts exists and
//! passes its own checker (`floodgate check-config`, `promtool check
//! config`), the secrets it wants are made by `init-secrets.sh`, the
//! Dockerfile is multi-stage, non-root, with a health check whose script
//! works against a real server, and the systemd unit names real commands.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use common::*;
use serde_yaml_ng::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().expect("command runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn compose() -> Value {
    let text = std::fs::read_to_string(root().join("deploy/compose.yaml")).unwrap();
    let mut v: Value = serde_yaml_ng::from_str(&text).unwrap();
    v.apply_merge().unwrap();
    // Merge keys nested in services (`<<: *replica`) too.
    for (_, s) in v["services"].as_mapping_mut().unwrap().iter_mut() {
        s.apply_merge().unwrap();
    }
    v
}

/// Bind mounts of `service`: container path → host path (relative to
/// `deploy/`).
fn mounts(c: &Value, service: &str) -> BTreeMap<String, PathBuf> {
    c["services"][service]["volumes"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|v| {
            let parts: Vec<&str> = v.as_str().unwrap().split(':').collect();
            parts[0]
                .starts_with("./")
                .then(|| (parts[1].to_string(), root().join("deploy").join(parts[0])))
        })
        .collect()
}

/// `deploy/` copied to a temporary directory with its secrets made by
/// `init-secrets.sh`, and the `.env` it wrote.
fn with_secrets() -> (tempfile::TempDir, BTreeMap<String, String>) {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = run(Command::new("cp")
        .arg("-r")
        .arg(root().join("deploy"))
        .arg(dir.path()));
    assert!(ok, "{out}");
    let (ok, out) =
        run(Command::new("bash").arg(dir.path().join("deploy/compose/init-secrets.sh")));
    assert!(ok, "{out}");
    let env = std::fs::read_to_string(dir.path().join("deploy/.env")).unwrap();
    let env = env
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (dir, env)
}

#[test]
fn compose_file_has_the_topology_and_its_mounts_exist() {
    let c = compose();
    let services: BTreeSet<&str> = c["services"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(
        services,
        BTreeSet::from([
            "redis",
            "upstream",
            "floodgate-1",
            "floodgate-2",
            "floodgate-3",
            "prometheus",
            "grafana",
            "loadgen"
        ])
    );
    let redis: Vec<&str> = c["services"]["redis"]["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        redis.windows(2).any(|w| w == ["--appendonly", "yes"]),
        "{redis:?}"
    );
    let mut host_ports = BTreeSet::new();
    for n in 1..=3 {
        let s = &c["services"][format!("floodgate-{n}").as_str()];
        assert_eq!(s["image"].as_str(), Some("floodgate:local"));
        assert!(s["build"]["dockerfile"].as_str().is_some());
        for p in s["ports"].as_sequence().unwrap() {
            assert!(host_ports.insert(p.as_str().unwrap().to_string()));
        }
    }
    for service in &services {
        for host in mounts(&c, service).values() {
            assert!(host.exists(), "{service} mounts {}", host.display());
        }
    }
    let build = c["services"]["floodgate-1"]["build"]["context"]
        .as_str()
        .unwrap();
    assert!(root()
        .join("deploy")
        .join(build)
        .join("Dockerfile")
        .exists());
    // The load generator replays the 12,000-client preset on each replica.
    let lg = c["services"]["loadgen"]["command"][0].as_str().unwrap();
    assert!(lg.contains("--preset api-keys"), "{lg}");
    assert!(lg.contains("for n in 1 2 3"), "{lg}");
    assert!(lg.contains("http://floodgate-$$n:8080/api/v1/data"), "{lg}");
    // Grafana loads the dashboards from where they are mounted.
    let grafana = mounts(&c, "grafana");
    let providers: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(
            grafana["/etc/grafana/provisioning"].join("dashboards/floodgate.yml"),
        )
        .unwrap(),
    )
    .unwrap();
    let path = providers["providers"][0]["options"]["path"]
        .as_str()
        .unwrap();
    assert!(grafana[path].join("floodgate.json").exists());
}

#[test]
fn compose_secrets_are_made_by_init_secrets_and_configs_pass_their_checkers() {
    let c = compose();
    let (dir, env) = with_secrets();
    let deploy = dir.path().join("deploy");
    // Every ${VAR:?…} of the compose file is in the .env.
    let text = std::fs::read_to_string(root().join("deploy/compose.yaml")).unwrap();
    for (i, _) in text.match_indices("${") {
        let var = &text[i + 2..][..text[i + 2..].find([':', '}']).unwrap()];
        assert!(env.contains_key(var), "{var} missing from .env: {env:?}");
    }
    let secret = c["secrets"]["metrics_token"]["file"].as_str().unwrap();
    let token = std::fs::read_to_string(deploy.join(secret)).unwrap();
    assert_eq!(token.len(), 64);
    // The replicas' config passes check-config with the tokens of .env,
    // and the read token is Prometheus's.
    let tokens = &env["FLOODGATE_ADMIN_TOKENS"];
    use sha2::Digest;
    let digest: String = sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        tokens.starts_with(&format!("prometheus:read:{digest},")),
        "{tokens}"
    );
    let config = &mounts(&c, "floodgate-1")["/etc/floodgate/floodgate.yaml"];
    let (ok, out) = run(Command::new(env!("CARGO_BIN_EXE_floodgate"))
        .args(["check-config"])
        .arg(config)
        .env("FLOODGATE_ADMIN_TOKENS", tokens));
    assert!(ok, "{out}");
    // Prometheus's config, with its container paths mapped back to the
    // files mounted there.
    let prom_mounts = mounts(&c, "prometheus");
    let mut prom = std::fs::read_to_string(&prom_mounts["/etc/prometheus/prometheus.yml"]).unwrap();
    prom = prom.replace(
        "/etc/prometheus/alerts.yml",
        prom_mounts["/etc/prometheus/alerts.yml"].to_str().unwrap(),
    );
    prom = prom.replace(
        "/run/secrets/metrics_token",
        deploy.join(secret).to_str().unwrap(),
    );
    let path = dir.path().join("prometheus.yml");
    std::fs::write(&path, prom).unwrap();
    let (ok, out) = run(Command::new("promtool")
        .args(["check", "config"])
        .arg(&path));
    assert!(ok, "{out}");
}

fn dockerfile() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    // Join continuation lines; drop comments.
    text.replace("\\\n", " ")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn dockerfile_is_multi_stage_non_root_with_a_health_check() {
    let lines = dockerfile();
    let froms = lines.iter().filter(|l| l.starts_with("FROM ")).count();
    assert!(froms >= 2, "multi-stage");
    let last_from = lines.iter().rposition(|l| l.starts_with("FROM ")).unwrap();
    let last: &[String] = &lines[last_from..];
    assert!(
        last[0].contains("slim") || last[0].contains("distroless"),
        "{}",
        last[0]
    );
    let user = last
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER in the final stage");
    assert!(!["root", "0", "0:0"].contains(&user.trim()), "{user}");
    assert!(last.iter().any(|l| l.starts_with("HEALTHCHECK ")));
    for l in last
        .iter()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let parts: Vec<&str> = l.split_whitespace().collect();
        for src in &parts[1..parts.len() - 1] {
            assert!(root().join(src).exists(), "COPY {src}");
        }
    }
    // The image's default config needs an admin token and passes with one.
    let (ok, out) = run(Command::new(env!("CARGO_BIN_EXE_floodgate"))
        .args(["check-config"])
        .arg(root().join("deploy/container/floodgate.yaml"))
        .env_remove("FLOODGATE_ADMIN_TOKENS"));
    assert!(!ok && out.contains("admin.tokens"), "{out}");
    let (ok, out) = run(Command::new(env!("CARGO_BIN_EXE_floodgate"))
        .args(["check-config"])
        .arg(root().join("deploy/container/floodgate.yaml"))
        .env(
            "FLOODGATE_ADMIN_TOKENS",
            format!("ops:admin:{}", "ab".repeat(32)),
        ));
    assert!(ok, "{out}");
}

fn healthcheck(port: u16) -> (bool, String) {
    run(Command::new("bash")
        .arg(root().join("deploy/container/healthcheck.sh"))
        .args(["127.0.0.1", &port.to_string()]))
}

#[tokio::test]
async fn container_health_check_passes_on_a_live_server_only() {
    let s = start(BASE).await;
    let port = s.admin.port();
    let (ok, out) = tokio::task::spawn_blocking(move || healthcheck(port))
        .await
        .unwrap();
    assert!(ok, "{out}");
    s.running.shutdown().await.unwrap();
    let (ok, _) = tokio::task::spawn_blocking(move || healthcheck(port))
        .await
        .unwrap();
    assert!(!ok, "a stopped server is unhealthy");
}

#[test]
fn systemd_unit_runs_the_binary_on_its_config() {
    let unit = std::fs::read_to_string(root().join("deploy/floodgate.service")).unwrap();
    let line = |k: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("{k} missing"))
            .to_string()
    };
    let start = line("ExecStart");
    assert_eq!(
        start,
        "/usr/local/bin/floodgate serve --config /etc/floodgate/floodgate.yaml"
    );
    assert_eq!(line("RestartPreventExitStatus"), "2");
    assert!(unit.contains("ExecReload=/bin/kill -HUP $MAINPID"));
    // The command it runs before starting is the real check.
    let pre = line("ExecStartPre");
    let args: Vec<&str> = pre.split_whitespace().collect();
    assert_eq!(args[0], start.split_whitespace().next().unwrap());
    assert_eq!(args[1..], ["check-config", "/etc/floodgate/floodgate.yaml"]);
}
