//! The gRPC settings, and Envoy's reference config files loaded by
//! `serve`.

use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::rate_limit::Unit;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::Code;

use super::common::*;
use super::*;

#[test]
fn grpc_settings_are_checked_with_their_place() {
    use floodgate_server::config::Config;
    let e = Config::parse("t.yaml", "grpc: { listen: nowhere }\n").unwrap_err();
    assert_eq!((e.field.as_str(), e.line), ("grpc.listen", 1), "{e}");
    let e = Config::parse(
        "t.yaml",
        "grpc:\n  listen: 127.0.0.1:0\n  connections: { max: 0 }\n",
    )
    .unwrap_err();
    assert_eq!(
        (e.field.as_str(), e.line),
        ("grpc.connections.max", 3),
        "{e}"
    );
    let c = Config::parse("t.yaml", "grpc: { listen: 127.0.0.1:8081 }\n").unwrap();
    assert_eq!(c.grpc_connections().max_body, 64 << 10);
    assert!(
        c.summary().contains("grpc: 127.0.0.1:8081"),
        "{}",
        c.summary()
    );
}

const REFERENCE: &str = "\
domain: edge
descriptors:
  - key: api_key
    rate_limit: { unit: minute, requests_per_unit: 2 }
  - key: api_key
    value: vip
    rate_limit: { unlimited: true }
";

#[tokio::test]
async fn serve_loads_reference_config_files_beside_its_own_rules() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("edge.yaml"), REFERENCE).unwrap();
    let yaml = format!(
        "listen: 127.0.0.1:0\nadmin: {{ listen: 127.0.0.1:0 }}\ngrpc: {{ listen: 127.0.0.1:0 }}\nenvoy_ratelimit: {}\n",
        dir.path().display()
    );
    let s = start(&yaml).await;
    let mut c = client(&s).await;
    let key = |k: &str| request("edge", vec![descriptor(&[("api_key", k)])]);
    for _ in 0..2 {
        assert_eq!(ask(&mut c, key("k1")).await.overall_code, Code::Ok as i32);
    }
    let r = ask(&mut c, key("k1")).await;
    assert_eq!(r.overall_code, Code::OverLimit as i32);
    let limit = r.statuses[0].current_limit.as_ref().unwrap();
    assert_eq!(
        (limit.requests_per_unit, limit.unit),
        (2, Unit::Minute as i32)
    );
    for _ in 0..5 {
        assert_eq!(ask(&mut c, key("vip")).await.overall_code, Code::Ok as i32);
    }
    // The imported rules are part of the live policy.
    let p = get(&format!("http://{}/v1/policy", s.admin), &[])
        .await
        .json();
    assert_eq!(p["rules"][0]["name"], "edge.api_key");
    assert_eq!(p["rules"][1]["unlimited"], true);
}

#[test]
fn a_bad_reference_file_is_named_by_serve() {
    use floodgate_server::config::Config;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("edge.yaml");
    std::fs::write(&file, "domain: edge\ndescriptors:\n  - key: a\n    rate_limit: { unit: eon, requests_per_unit: 1 }\n").unwrap();
    let yaml = format!("envoy_ratelimit: {}\n", file.display());
    let e = Config::parse("t.yaml", &yaml).unwrap_err();
    assert_eq!(e.file, file.display().to_string());
    assert_eq!(
        (e.line, e.field.as_str()),
        (4, "descriptors[0].rate_limit.unit"),
        "{e}"
    );
    let e = Config::parse("t.yaml", "envoy_ratelimit: /nonexistent/rl\n").unwrap_err();
    assert_eq!(
        (e.file.as_str(), e.field.as_str()),
        ("t.yaml", "envoy_ratelimit"),
        "{e}"
    );
}
