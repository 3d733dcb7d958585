//! The gRPC listener end to end: Envoy's rate limit service
//! (`ShouldRateLimit`) with a status per descriptor, the overall code and
//! the rate-limit headers; bad input; admin API changes; metrics; health.

#[path = "../common/mod.rs"]
mod common;
mod config;
mod decisions;
mod health;
mod input;

use common::Server;
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::rate_limit_descriptor::Entry;
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_client::RateLimitServiceClient;
use envoy_types::pb::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};
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

pub fn descriptor(entries: &[(&str, &str)]) -> RateLimitDescriptor {
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

pub fn request(domain: &str, descriptors: Vec<RateLimitDescriptor>) -> RateLimitRequest {
    RateLimitRequest {
        domain: domain.into(),
        descriptors,
        hits_addend: 0,
    }
}

pub async fn client(s: &Server) -> RateLimitServiceClient<Channel> {
    let addr = s.grpc.expect("a gRPC listener");
    RateLimitServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connects")
}

pub async fn ask(
    c: &mut RateLimitServiceClient<Channel>,
    r: RateLimitRequest,
) -> RateLimitResponse {
    c.should_rate_limit(r).await.expect("answered").into_inner()
}

pub fn header<'a>(r: &'a RateLimitResponse, name: &str) -> Option<&'a str> {
    r.response_headers_to_add
        .iter()
        .find(|h| h.key.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

pub async fn client_of(addr: std::net::SocketAddr) -> RateLimitServiceClient<Channel> {
    RateLimitServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
}
