//! HTTP clients and the request each client sends.
//!
//! API-key and `X-Forwarded-For` clients share one pooled keep-alive
//! client. `ip` clients in `http` mode each get their own pool whose
//! sockets are bound to the client's address (127.x.y.z), so the server
//! sees distinct socket peers; the pools are created on a client's first
//! request.

use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request};
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::grpc::Channels;
use crate::keys;
use crate::scenario::{Identity, Mode, Scenario};

/// The HTTP client type.
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Who client `k` is, as the limiter sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Who {
    /// The client IP the server should resolve.
    pub ip: IpAddr,
    /// The API key sent, if any.
    pub api_key: Option<String>,
}

/// Builds requests and holds connection pools.
pub struct Clients {
    scenario: Scenario,
    shared: HttpClient,
    bound: Vec<OnceLock<HttpClient>>,
    grpc: Option<Channels>,
}

fn pool(local: Option<IpAddr>, idle: Duration) -> HttpClient {
    let mut c = HttpConnector::new();
    c.set_nodelay(true);
    c.set_local_address(local);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(idle)
        .pool_max_idle_per_host(if local.is_some() { 4 } else { 1024 })
        .build(c)
}

impl Clients {
    /// Clients for `scenario`.
    pub fn new(scenario: &Scenario) -> Clients {
        let bind = scenario.mode == Mode::Http && scenario.identity == Identity::Ip;
        let bound = if bind {
            (0..scenario.clients).map(|_| OnceLock::new()).collect()
        } else {
            Vec::new()
        };
        Clients {
            scenario: scenario.clone(),
            shared: pool(None, Duration::from_secs(30)),
            bound,
            grpc: (scenario.mode == Mode::Grpc).then(|| Channels::new(scenario)),
        }
    }

    /// Who client `k` is.
    pub fn who(&self, k: usize) -> Who {
        let s = &self.scenario;
        let loopback = IpAddr::from([127, 0, 0, 1]);
        match s.identity {
            Identity::ApiKey => Who {
                ip: loopback,
                api_key: Some(keys::api_key(&s.key_prefix, k)),
            },
            Identity::Ip | Identity::ForwardedFor => Who {
                ip: keys::client_ip(s.ip_base, k).expect("checked when resolving"),
                api_key: None,
            },
        }
    }

    /// The gRPC connections (gRPC mode).
    pub fn grpc(&self) -> Option<&Channels> {
        self.grpc.as_ref()
    }

    /// The value of client `k`'s descriptor entry (gRPC mode): its API
    /// key, or its address.
    pub fn descriptor_value(&self, k: usize) -> String {
        let who = self.who(k);
        who.api_key.unwrap_or_else(|| who.ip.to_string())
    }

    /// The `ShouldRateLimit` request client `k` sends (gRPC mode).
    pub fn grpc_request(
        &self,
        k: usize,
    ) -> envoy_types::pb::envoy::service::ratelimit::v3::RateLimitRequest {
        let s = &self.scenario;
        crate::grpc::request(&s.domain, &s.descriptor_key, &self.descriptor_value(k))
    }

    /// The scenario's gRPC `domain` and descriptor key.
    pub fn descriptor_target(&self) -> (&str, &str) {
        (&self.scenario.domain, &self.scenario.descriptor_key)
    }

    /// The pool client `k` sends on.
    pub fn client(&self, k: usize) -> &HttpClient {
        match self.bound.get(k) {
            None => &self.shared,
            Some(cell) => cell.get_or_init(|| {
                // A short idle timeout: thousands of quiet clients should
                // not each keep a socket open.
                pool(Some(self.who(k).ip), Duration::from_secs(5))
            }),
        }
    }

    /// The request client `k` sends.
    pub fn request(&self, k: usize) -> Request<Full<Bytes>> {
        let s = &self.scenario;
        let who = self.who(k);
        match s.mode {
            Mode::Http => {
                let mut r = Request::builder()
                    .method(s.method.clone())
                    .uri(s.url.clone());
                match s.identity {
                    Identity::ApiKey => {
                        let key = who.api_key.as_deref().unwrap_or_default();
                        r = r.header(
                            s.api_key_header.clone(),
                            HeaderValue::from_str(key).expect("keys are ASCII"),
                        );
                    }
                    Identity::ForwardedFor => {
                        r = r.header("x-forwarded-for", who.ip.to_string());
                    }
                    Identity::Ip => {}
                }
                r.body(Full::new(Bytes::new())).expect("valid request")
            }
            Mode::Check | Mode::Grpc => {
                let body = serde_json::json!({
                    "attributes": {
                        "ip": who.ip.to_string(),
                        "method": s.method.as_str(),
                        "path": s.path,
                        "api_key": who.api_key,
                    },
                    "cost": 1,
                });
                post_json(&s.url, &body)
            }
            Mode::Limitador => {
                let mut values = serde_json::Map::new();
                values.insert(
                    s.descriptor_key.clone(),
                    serde_json::Value::String(self.descriptor_value(k)),
                );
                let body = serde_json::json!({
                    "namespace": s.domain,
                    "values": values,
                    "delta": 1,
                });
                post_json(&s.url, &body)
            }
        }
    }

    /// The path the limiter sees.
    pub fn limited_path(&self) -> &str {
        match self.scenario.mode {
            Mode::Http => self.scenario.url.path(),
            Mode::Check | Mode::Grpc | Mode::Limitador => &self.scenario.path,
        }
    }

    /// The method the limiter sees.
    pub fn limited_method(&self) -> &str {
        self.scenario.method.as_str()
    }
}

/// `POST url` with `body` as JSON.
fn post_json(url: &http::Uri, body: &serde_json::Value) -> Request<Full<Bytes>> {
    Request::builder()
        .method(http::Method::POST)
        .uri(url.clone())
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("valid request")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::ScenarioFile;

    fn scenario(yaml: &str) -> Scenario {
        ScenarioFile::parse("t", yaml).unwrap().resolve().unwrap()
    }

    #[test]
    fn api_key_clients_send_their_key() {
        let c = Clients::new(&scenario(
            "target: {url: 'http://127.0.0.1:1/x'}\nclients: {key_prefix: k, api_key_header: X-Key}",
        ));
        let r = c.request(7);
        assert_eq!(r.headers()["x-key"], "k7");
        assert_eq!(r.uri().path(), "/x");
        assert_eq!(c.who(7).api_key.as_deref(), Some("k7"));
        assert_eq!(c.limited_path(), "/x");
    }

    #[test]
    fn forwarded_for_clients_state_their_address() {
        let c = Clients::new(&scenario(
            "clients: {identity: forwarded_for, ip_base: 10.0.0.1}",
        ));
        assert_eq!(c.request(2).headers()["x-forwarded-for"], "10.0.0.3");
        assert_eq!(c.who(2).ip, IpAddr::from([10, 0, 0, 3]));
    }

    #[test]
    fn check_bodies_carry_the_attributes() {
        let c = Clients::new(&scenario(
            "target: {mode: check, path: /api/search, method: POST}\nclients: {identity: ip}",
        ));
        let r = c.request(1);
        assert_eq!(r.method(), http::Method::POST);
        assert_eq!(r.uri().path(), "/v1/check");
        let body = futures_body(r);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["attributes"]["ip"], "127.1.0.2");
        assert_eq!(v["attributes"]["path"], "/api/search");
        assert_eq!(v["attributes"]["method"], "POST");
        assert_eq!(v["cost"], 1);
    }

    #[test]
    fn limitador_bodies_name_the_namespace_and_the_key() {
        let c = Clients::new(&scenario(
            "target: {mode: limitador, domain: ns1, descriptor_key: user}\nclients: {key_prefix: u}",
        ));
        let r = c.request(4);
        assert_eq!(r.method(), http::Method::POST);
        assert_eq!(r.uri().path(), "/check_and_report");
        let v: serde_json::Value = serde_json::from_slice(&futures_body(r)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"namespace": "ns1", "values": {"user": "u4"}, "delta": 1})
        );
    }

    fn futures_body(r: Request<Full<Bytes>>) -> Bytes {
        use http_body_util::BodyExt;
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(r.into_body().collect()).unwrap().to_bytes()
    }
}
