//! `deploy/local.sh smoke`: three replicas of this build on one real Redis
//! (or on a primary under three Sentinels, `REDIS_TOPOLOGY=sentinel`)
//! enforce one shared limit exactly, and a real Prometheus scrapes all
//! three (its targets API says up). The script polls with deadlines and
//! stops everything it started.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn local_topology_smoke_test_passes() {
    smoke("single");
}

/// The same with the replicas on a primary under three Sentinels.
#[test]
fn local_topology_on_sentinel_smoke_test_passes() {
    smoke("sentinel");
}

fn smoke(topology: &str) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/local.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("smoke")
        .env("FLOODGATE_BIN", env!("CARGO_BIN_EXE_floodgate"))
        .env("SMOKE_LIMIT", "30")
        .env("REDIS_TOPOLOGY", topology)
        .output()
        .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "local.sh smoke failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("smoke test passed"), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("dashboard shows the fleet: three replicas alive"),
        "{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("45 requests: 30 allowed, 15 limited (limit 30)"),
        "{stderr}"
    );
    assert!(stderr.contains("targets API: up"), "{stderr}");
    if topology == "sentinel" {
        assert!(stderr.contains("Sentinel: primary on port"), "{stderr}");
    }
}
