//! The gRPC listener end to end: Envoy's rate limit service
//! (`ShouldRateLimit`) with a status per descriptor, the overall code and
//! the rate-limit headers; bad input; admin API changes; metrics; health.

mod common;

use std::time::Duration;

use common::*;
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::rate_limit_descriptor::Entry;
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::rate_limit::Unit;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::Code;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_client::RateLimitServiceClient;
use envoy_types::pb::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};
use envoy_types::pb::google::protobuf::UInt64Value;
use serde_json::json;
use tonic::transport::Channel;

const CONFIG: &str = r#"
listen: 127.0.0.1:0
admin: { listen: 127.0.0.1:0 }
grpc: { listen: 127.0.0.1:0, connections: { max_body: 4KiB } }
rules:
  - name: per-key
    match:
      domain: edge
      descriptors: [ { key: api_key } ]
    limits: [ { name: minute, algorithm: fixed_window, limit: 3, window: 1m } ]
  - name: login
    match:
      domain: edge
      descriptors: [ { key: remote_address }, { key: path, value: /login } ]
    limits: [ { name: burst, algorithm: token_bucket, capacity: 2, refill: 1/10s } ]
  - name: login-watch
    match:
      domain: edge
      descriptors: [ { key: remote_address }, { key: path, value: /login } ]
    shadow: true
    limits: [ { algorithm: fixed_window, limit: 1, window: 1h } ]
  - name: http-only
    match: { path: /api/* }
    limits: [ { algorithm: fixed_window, limit: 1, window: 1h } ]
"#;

fn descriptor(entries: &[(&str, &str)]) -> RateLimitDescriptor {
    RateLimitDescriptor {
        entries: entries
            .iter()
            .map(|(k, v)| Entry {
                key: k.to_string(),
                value: v.to_string(),
            })
            .collect(),
        ..RateLimitDescriptor::default()
    }
}

fn request(domain: &str, descriptors: Vec<RateLimitDescriptor>) -> RateLimitRequest {
    RateLimitRequest {
        domain: domain.into(),
        descriptors,
        hits_addend: 0,
    }
}

async fn client(s: &Server) -> RateLimitServiceClient<Channel> {
    let addr = s.grpc.expect("a gRPC listener");
    RateLimitServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connects")
}

async fn ask(c: &mut RateLimitServiceClient<Channel>, r: RateLimitRequest) -> RateLimitResponse {
    c.should_rate_limit(r).await.expect("answered").into_inner()
}

fn header<'a>(r: &'a RateLimitResponse, name: &str) -> Option<&'a str> {
    r.response_headers_to_add
        .iter()
        .find(|h| h.key.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

#[tokio::test]
async fn descriptors_get_statuses_headers_and_all_or_nothing() {
    let s = start(CONFIG).await;
    let mut c = client(&s).await;
    let key = || descriptor(&[("api_key", "k1")]);
    let login = || descriptor(&[("remote_address", "10.0.0.1"), ("path", "/login")]);

    let r = ask(&mut c, request("edge", vec![key(), login()])).await;
    assert_eq!(r.overall_code, Code::Ok as i32);
    assert_eq!(r.statuses.len(), 2);
    let st = &r.statuses[0];
    assert_eq!(st.code, Code::Ok as i32);
    let limit = st.current_limit.as_ref().unwrap();
    assert_eq!(
        (limit.name.as_str(), limit.requests_per_unit, limit.unit),
        ("per-key/minute", 3, Unit::Minute as i32)
    );
    assert_eq!(st.limit_remaining, 2);
    assert_eq!(st.duration_until_reset.as_ref().unwrap().seconds, 60);
    // 2 per 20 s (capacity 2, one every 10 s) is 6 a minute.
    let login_limit = r.statuses[1].current_limit.as_ref().unwrap();
    assert_eq!(
        (login_limit.requests_per_unit, login_limit.unit),
        (6, Unit::Minute as i32)
    );
    assert_eq!(r.statuses[1].limit_remaining, 1);
    // The headers are the speaking limit's: the login's, with 1 left.
    assert_eq!(header(&r, "X-RateLimit-Remaining"), Some("1"));
    // One token comes back in 10 s, and the bucket is full again.
    assert_eq!(header(&r, "RateLimit"), Some("\"burst\";r=1;t=10"));
    assert_eq!(header(&r, "RateLimit-Policy"), Some("\"burst\";q=2;w=20"));
    assert_eq!(header(&r, "Retry-After"), None);

    ask(&mut c, request("edge", vec![key(), login()])).await;
    // The login is spent: the call is OVER_LIMIT, the key's status OK, and
    // the key's counter untouched (all or nothing).
    let r = ask(&mut c, request("edge", vec![key(), login()])).await;
    assert_eq!(r.overall_code, Code::OverLimit as i32);
    assert_eq!(r.statuses[0].code, Code::Ok as i32);
    assert_eq!(r.statuses[1].code, Code::OverLimit as i32);
    assert_eq!(header(&r, "Retry-After"), Some("10"));
    let r = ask(&mut c, request("edge", vec![key()])).await;
    assert_eq!(r.statuses[0].limit_remaining, 0);
    assert_eq!(r.overall_code, Code::Ok as i32);

    // Time passes on the server's clock: the login refills one.
    s.clock.advance(Duration::from_secs(10));
    let r = ask(&mut c, request("edge", vec![login()])).await;
    assert_eq!(r.overall_code, Code::Ok as i32);

    // No rule: OK with no limit; another domain; an HTTP rule never
    // matches a descriptor.
    for (domain, d) in [
        ("edge", descriptor(&[("nothing", "x")])),
        ("other", descriptor(&[("api_key", "k1")])),
        ("edge", descriptor(&[("path", "/api/x")])),
    ] {
        let r = ask(&mut c, request(domain, vec![d])).await;
        assert_eq!(r.overall_code, Code::Ok as i32);
        assert!(r.statuses[0].current_limit.is_none());
        assert!(r.response_headers_to_add.is_empty());
    }

    // Costs: hits_addend of the request, and of a descriptor (which wins).
    let mut big = request("edge", vec![descriptor(&[("api_key", "k2")])]);
    big.hits_addend = 3;
    assert_eq!(
        ask(&mut c, big.clone()).await.statuses[0].limit_remaining,
        0
    );
    let mut d = descriptor(&[("api_key", "k3")]);
    d.hits_addend = Some(UInt64Value { value: 2 });
    let mut r = request("edge", vec![d]);
    r.hits_addend = 3;
    assert_eq!(ask(&mut c, r).await.statuses[0].limit_remaining, 1);

    // Metrics by rule and outcome, shadow rules counted.
    let m = get(&format!("http://{}/metrics", s.admin), &[]).await;
    let text = String::from_utf8_lossy(&m.body);
    for line in [
        "floodgate_requests_total{rule=\"login\",outcome=\"limited\"} 1",
        "floodgate_requests_total{rule=\"login-watch\",outcome=\"shadow_limited\"}",
        "floodgate_decisions_total{outcome=\"limited\"} 1",
    ] {
        assert!(text.contains(line), "{line} not in\n{text}");
    }
}

#[tokio::test]
async fn bad_input_is_invalid_argument() {
    let s = start(CONFIG).await;
    let mut c = client(&s).await;
    let ok = || descriptor(&[("api_key", "k1")]);
    let mut huge = ok();
    huge.hits_addend = Some(UInt64Value { value: u64::MAX });
    let mut negative = ok();
    negative.is_negative_hits = true;
    let cases = [
        (request("", vec![ok()]), "domain"),
        (request("edge", vec![]), "descriptors"),
        (request("edge", vec![descriptor(&[])]), "descriptors[0]"),
        (
            request("edge", vec![ok(), descriptor(&[("", "v")])]),
            "descriptors[1].entries[0].key",
        ),
        (
            request("edge", vec![descriptor(&[("k", &"v".repeat(2000))])]),
            "value",
        ),
        (request("edge", vec![huge]), "hits_addend"),
        (request("edge", vec![negative]), "is_negative_hits"),
        (
            request("edge", (0..65).map(|_| ok()).collect()),
            "descriptors",
        ),
    ];
    for (req, what) in cases {
        let e = c.should_rate_limit(req).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{what}: {e:?}");
        assert!(e.message().contains(what), "{what}: {e:?}");
    }
    // A message over grpc.connections.max_body is refused before it is
    // read whole; the listener still answers.
    let long = (0..30)
        .map(|i| descriptor(&[("api_key", &format!("{i:0>200}"))]))
        .collect();
    let e = c
        .should_rate_limit(request("edge", long))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::OutOfRange, "{e:?}");
    // Nothing was consumed by any of them.
    let r = ask(&mut c, request("edge", vec![ok()])).await;
    assert_eq!(r.statuses[0].limit_remaining, 2);
}

/// Sends `body` as a raw `ShouldRateLimit` call; its `grpc-status` and
/// `grpc-message` (trailers-only answers carry them in the headers).
async fn raw_call(addr: std::net::SocketAddr, body: Vec<u8>) -> (String, String) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let req = http::Request::post(format!(
        "http://{addr}/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit"
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .body(http_body_util::Full::new(bytes::Bytes::from(body)))
    .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/grpc");
    let h = |name: &str| {
        resp.headers()
            .get(name)
            .map_or(String::new(), |v| v.to_str().unwrap().to_string())
    };
    (h("grpc-status"), h("grpc-message"))
}

#[tokio::test]
async fn a_malformed_message_is_refused_and_the_server_goes_on() {
    let s = start(CONFIG).await;
    let addr = s.grpc.unwrap();
    // A gRPC frame whose payload is not a RateLimitRequest.
    let (status, message) = raw_call(addr, vec![0, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff]).await;
    assert_eq!(status, "3", "{message}");
    assert!(message.starts_with("malformed message"), "{message}");
    // A compressed one: no compression is offered.
    let (status, _) = raw_call(addr, vec![1, 0, 0, 0, 1, 0]).await;
    assert_eq!(status, "12");
    // No whole message: an empty body, a prefix cut short, a message
    // shorter than its prefix says.
    for body in [vec![], vec![0, 0, 0], vec![0, 0, 0, 0, 9, 1]] {
        let (status, message) = raw_call(addr, body.clone()).await;
        assert_eq!(status, "3", "{body:?}: {message}");
        assert!(message.contains("no whole message"), "{message}");
    }
    // A prefix announcing more than max_body: refused on the prefix alone.
    let (status, _) = raw_call(addr, vec![0, 0x7f, 0xff, 0xff, 0xff]).await;
    assert_eq!(status, "11");
    let mut c = client_of(addr).await;
    let r = ask(
        &mut c,
        request("edge", vec![descriptor(&[("api_key", "k")])]),
    )
    .await;
    assert_eq!(r.overall_code, Code::Ok as i32);
}

async fn client_of(addr: std::net::SocketAddr) -> RateLimitServiceClient<Channel> {
    RateLimitServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
}

#[tokio::test]
async fn admin_api_changes_apply_to_grpc_decisions() {
    let s = start(CONFIG).await;
    let mut c = client(&s).await;
    let key = || request("edge", vec![descriptor(&[("api_key", "k9")])]);
    for _ in 0..3 {
        assert_eq!(ask(&mut c, key()).await.overall_code, Code::Ok as i32);
    }
    assert_eq!(
        ask(&mut c, key()).await.overall_code,
        Code::OverLimit as i32
    );
    // An override for this descriptor's identity lifts its limit.
    let admin = format!("http://{}", s.admin);
    let doc = get(&format!("{admin}/v1/policy"), &[]).await;
    let etag = doc.header("etag").unwrap().to_string();
    let mut doc = doc.json();
    doc["overrides"] = json!([{
        "rule": "per-key",
        "identity": "d:api_key=k9",
        "limits": [{ "algorithm": "fixed_window", "limit": 10, "window": "1m" }]
    }]);
    let r = send(
        "PUT",
        &format!("{admin}/v1/policy"),
        &[("if-match", &etag)],
        doc.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = ask(&mut c, key()).await;
    assert_eq!(r.overall_code, Code::Ok as i32);
    assert_eq!(
        r.statuses[0]
            .current_limit
            .as_ref()
            .unwrap()
            .requests_per_unit,
        10
    );
}

#[tokio::test]
async fn health_checking_answers_serving() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    let yaml = CONFIG.replace("rules:", "shutdown_grace: 30s\nrules:");
    assert_ne!(yaml, CONFIG);
    let s = start(&yaml).await;
    let channel = Channel::from_shared(format!("http://{}", s.grpc.unwrap()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut h = HealthClient::new(channel);
    for service in ["", "envoy.service.ratelimit.v3.RateLimitService"] {
        let r = h
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status, 1, "{service}: SERVING");
    }
    let unknown = HealthCheckRequest {
        service: "no.such.Service".into(),
    };
    let e = h.check(unknown.clone()).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
    // Watch: the status at once, SERVICE_UNKNOWN for an unknown service.
    let mut unknown_watch = h.watch(unknown).await.unwrap().into_inner();
    let first = unknown_watch.message().await.unwrap().unwrap();
    assert_eq!(first.status, 3, "SERVICE_UNKNOWN");
    let mut watch = h
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(watch.message().await.unwrap().unwrap().status, 1);
    // An open Watch does not hold the shutdown for its grace (30 s here):
    // it ends with the server.
    let stopped = tokio::time::timeout(Duration::from_secs(10), s.running.shutdown()).await;
    assert!(matches!(stopped, Ok(Ok(()))), "{stopped:?}");
    let ended = watch.message().await;
    assert!(
        matches!(&ended, Err(e) if e.code() == tonic::Code::Unavailable),
        "{ended:?}"
    );
}

#[tokio::test]
async fn without_grpc_listen_there_is_no_grpc_listener() {
    let s = start(BASE).await;
    assert!(s.grpc.is_none());
}

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
