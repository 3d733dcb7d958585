//! Tests of the scenario file and the presets.

use super::*;

#[test]
fn the_api_keys_preset_is_the_issue_traffic_model() {
    let s = ScenarioFile::preset("api-keys").unwrap().resolve().unwrap();
    assert_eq!(s.clients, 12_000);
    assert_eq!(s.identity, Identity::ApiKey);
    assert_eq!(s.profile.steady, 500.0);
    assert!(!s.profile.peaks.is_empty());
    for p in &s.profile.peaks {
        assert_eq!(p.rate, 1200.0);
        assert_eq!(p.duration, Duration::from_secs(4));
    }
    // The policy shipped beside it: token bucket 40 refilled at 10/s.
    let policy = floodgate_config::ConfigFile::parse(
        "api-keys.floodgate.yaml",
        include_str!("../../scenarios/api-keys.floodgate.yaml"),
    )
    .unwrap();
    let rule = &policy.policy.rules[0];
    assert_eq!(rule.limits.len(), 1);
    assert_eq!(
        rule.limits[0].quota,
        floodgate_core::Quota::token_bucket(40, floodgate_core::Rate::per_second(10).unwrap())
            .unwrap()
    );
}

#[test]
fn the_envoy_grpc_preset_is_the_same_model_as_descriptors() {
    let g = ScenarioFile::preset("envoy-grpc")
        .unwrap()
        .resolve()
        .unwrap();
    let a = ScenarioFile::preset("api-keys").unwrap().resolve().unwrap();
    assert_eq!(g.mode, Mode::Grpc);
    assert_eq!(
        (g.domain.as_str(), g.descriptor_key.as_str()),
        ("edge", "api_key")
    );
    assert_eq!(g.connections, 2);
    assert_eq!(
        (g.clients, g.pick, g.key_prefix.as_str()),
        (a.clients, a.pick, "lg-")
    );
    assert_eq!(g.profile, a.profile);
    let policy = floodgate_config::ConfigFile::parse(
        "envoy-grpc.floodgate.yaml",
        include_str!("../../scenarios/envoy-grpc.floodgate.yaml"),
    )
    .unwrap();
    let bucket =
        floodgate_core::Quota::token_bucket(40, floodgate_core::Rate::per_second(10).unwrap())
            .unwrap();
    for rule in &policy.policy.rules {
        assert_eq!(rule.limits[0].quota, bucket, "{}", rule.name);
    }
    // Defaults: the descriptor key follows the identity.
    let ip = ScenarioFile::parse("x", "target: {mode: grpc}\nclients: {identity: ip}")
        .unwrap()
        .resolve()
        .unwrap();
    assert_eq!(ip.descriptor_key, "remote_address");
    assert_eq!(ip.url, "http://127.0.0.1:8081/");
    let zero = ScenarioFile::parse("x", "target: {mode: grpc, connections: 0}").unwrap();
    assert!(zero
        .resolve()
        .unwrap_err()
        .to_string()
        .contains("connections"));
}

#[test]
fn unknown_fields_and_bad_values_are_refused() {
    let e = ScenarioFile::parse("x", "clients: {cont: 3}").unwrap_err();
    assert!(e.to_string().contains("unknown field"), "{e}");
    let f = ScenarioFile::parse("x", "rate: {duration: 10}").unwrap();
    assert!(f.resolve().unwrap_err().to_string().contains("unit"));
    let f = ScenarioFile::parse(
        "x",
        "clients: {identity: ip, ip_base: 10.0.0.1}\ntarget: {mode: http}",
    )
    .unwrap();
    assert!(f.resolve().unwrap_err().to_string().contains("127.0.0.0/8"));
    assert!(ScenarioFile::preset("nope").is_err());
}
