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

use envoy_types::pb::envoy::extensions::common::ratelimit::v3::rate_limit_descriptor::Entry;
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::Code;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_client::RateLimitServiceClient;
use envoy_types::pb::envoy::service::ratelimit::v3::RateLimitRequest;
use tonic::transport::{Channel, Endpoint};

use crate::run::Outcome;
use crate::scenario::Scenario;

/// The gRPC connections of a run.
#[derive(Clone, Debug)]
pub struct Channels(Vec<RateLimitServiceClient<Channel>>);

impl Channels {
    /// `scenario.connections` connections to `scenario.url`, opened at
    /// their first request. Must be called within a tokio runtime.
    pub fn new(scenario: &Scenario) -> Channels {
        let endpoint = Endpoint::from(scenario.url.clone()).tcp_nodelay(true);
        Channels(
            (0..scenario.connections)
                .map(|_| RateLimitServiceClient::new(endpoint.connect_lazy()))
                .collect(),
        )
    }

    /// Sends request number `index` and reads its answer.
    pub async fn should_rate_limit(&self, index: u64, req: RateLimitRequest) -> Outcome {
        let mut client = self.0[(index % self.0.len() as u64) as usize].clone();
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
