//! `deploy/regions.sh smoke`: three regions of two replicas of this build,
//! one real Redis per region, a real global Redis behind a latency proxy
//! per region (`floodgate-delay-proxy`, built here if missing): a
//! `region_weighted` limit per region, a `global` limit from one region
//! and from all, a partition decided on the region's share and healed.
//! The script polls with deadlines and stops everything it started.

use std::path::PathBuf;
use std::process::Command;

/// The delay proxy of this build's profile, built by cargo if missing.
fn delay_proxy() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<this test> -> target/<profile>
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let bin = dir.join("floodgate-delay-proxy");
    if !bin.exists() {
        let mut build = Command::new(env!("CARGO"));
        build.args([
            "build",
            "-q",
            "-p",
            "floodgate-testkit",
            "--bin",
            "floodgate-delay-proxy",
        ]);
        if dir.file_name().is_some_and(|p| p == "release") {
            build.arg("--release");
        }
        let ok = build.status().expect("cargo").success();
        assert!(ok, "building floodgate-delay-proxy failed");
    }
    assert!(bin.exists(), "{} is missing", bin.display());
    bin
}

#[test]
fn regions_topology_smoke_test_passes() {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/regions.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("smoke")
        .env("FLOODGATE_BIN", env!("CARGO_BIN_EXE_floodgate"))
        .env("DELAY_PROXY_BIN", delay_proxy())
        .output()
        .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "regions.sh smoke failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("smoke test passed"), "{stdout}\n{stderr}");
    for want in [
        "500 requests: 400 admitted, 100 limited (us's share 400 of 1000)",
        "global, us replicas only: 200 admitted",
        "us partitioned: 80 admitted",
        "healed: floodgate_global_partitioned 0 on both us replicas",
    ] {
        assert!(stderr.contains(want), "{want}:\n{stderr}");
    }
}
