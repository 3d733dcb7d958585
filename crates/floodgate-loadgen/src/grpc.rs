//! gRPC mode: Envoy's `ShouldRateLimit`
//! (`envoy.service.ratelimit.v3.RateLimitService`) over a few HTTP/2
//! connections, one descriptor per request.
//!
//! Request `i` goes out on connection `i mod connections`; each connection
//! carries as many concurrent streams as there are requests in flight on
//! it (Envoy, too, multiplexes its calls over one connection per worker
//! thread). The answer counts as the status Envoy gives its client:
//! `overall_code` `OK` as 200, `OVER_LIMIT` as 429; a gRPC error status
//! (`INVALID_ARGUMENT`, `UNAVAILABLE`, ...) is an error, as Envoy applies
//! its `failure_mode_deny` to it.

use std::task::{Context, Poll};

use envoy_types::pb::envoy::extensions::common::ratelimit::v3::rate_limit_descriptor::Entry;
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::Code;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_client::RateLimitServiceClient;
use envoy_types::pb::envoy::service::ratelimit::v3::RateLimitRequest;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::OnceCell;
use tonic::body::Body;
use tonic::codegen::{BoxFuture, Service};

use crate::run::Outcome;
use crate::scenario::Scenario;

/// One HTTP/2 connection, as the generated client's transport: hyper's
/// connection handle straight, with no buffer task or reconnection in
/// between (the loadgen shares the machine with the server: its own cost
/// per call should stay small, as in the HTTP modes).
#[derive(Clone, Debug)]
pub struct H2(http2::SendRequest<Body>);

impl Service<http::Request<Body>> for H2 {
    type Response = http::Response<hyper::body::Incoming>;
    type Error = hyper::Error;
    type Future = BoxFuture<Self::Response, hyper::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), hyper::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        Box::pin(self.0.send_request(req))
    }
}

/// Opens an HTTP/2 connection (prior knowledge, no TLS) to `authority`.
async fn connect(authority: &str) -> Result<H2, String> {
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| format!("connecting to {authority}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (send, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP/2 handshake with {authority}: {e}"))?;
    tokio::spawn(connection);
    Ok(H2(send))
}

/// The gRPC connections of a run, each opened at its first call. A
/// connection that breaks is not reopened: its calls fail (as errors in
/// the report).
#[derive(Debug)]
pub struct Channels {
    url: http::Uri,
    connections: Vec<OnceCell<RateLimitServiceClient<H2>>>,
}

impl Channels {
    /// `scenario.connections` connections to `scenario.url`.
    pub fn new(scenario: &Scenario) -> Channels {
        Channels {
            url: scenario.url.clone(),
            connections: (0..scenario.connections).map(|_| OnceCell::new()).collect(),
        }
    }

    /// Sends request number `index` and reads its answer.
    pub async fn should_rate_limit(&self, index: u64, req: RateLimitRequest) -> Outcome {
        let cell = &self.connections[(index % self.connections.len() as u64) as usize];
        let authority = self.url.authority().map_or("", |a| a.as_str());
        let client = cell
            .get_or_try_init(|| async {
                let h2 = connect(authority).await?;
                Ok::<_, String>(RateLimitServiceClient::with_origin(h2, self.url.clone()))
            })
            .await;
        let mut client = match client {
            Ok(c) => c.clone(),
            Err(e) => return Outcome::Error(e),
        };
        match client.should_rate_limit(req).await {
            Ok(resp) => outcome(resp.into_inner().overall_code),
            Err(status) => Outcome::Error(format!(
                "gRPC status {:?}: {}",
                status.code(),
                status.message()
            )),
        }
    }
}

/// The outcome of an answer with this `overall_code`.
pub fn outcome(overall_code: i32) -> Outcome {
    match Code::try_from(overall_code) {
        Ok(Code::Ok) => Outcome::Status(200),
        Ok(Code::OverLimit) => Outcome::Status(429),
        _ => Outcome::Error(format!("overall_code {overall_code} (UNKNOWN)")),
    }
}

/// The request of a client whose descriptor value is `value`: one
/// descriptor, one entry `key=value`, in `domain`, cost 1.
pub fn request(domain: &str, key: &str, value: &str) -> RateLimitRequest {
    RateLimitRequest {
        domain: domain.to_string(),
        descriptors: vec![RateLimitDescriptor {
            entries: vec![Entry {
                key: key.to_string(),
                value: value.to_string(),
            }],
            ..RateLimitDescriptor::default()
        }],
        hits_addend: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_count_as_the_status_envoy_gives() {
        assert_eq!(outcome(Code::Ok as i32), Outcome::Status(200));
        assert_eq!(outcome(Code::OverLimit as i32), Outcome::Status(429));
        assert!(matches!(outcome(Code::Unknown as i32), Outcome::Error(_)));
        assert!(matches!(outcome(42), Outcome::Error(_)));
    }

    #[test]
    fn one_descriptor_of_one_entry() {
        let r = request("edge", "api_key", "lg-7");
        assert_eq!(r.domain, "edge");
        assert_eq!(r.hits_addend, 1);
        assert_eq!(r.descriptors.len(), 1);
        let e = &r.descriptors[0].entries;
        assert_eq!(
            (e[0].key.as_str(), e[0].value.as_str()),
            ("api_key", "lg-7")
        );
    }
}
