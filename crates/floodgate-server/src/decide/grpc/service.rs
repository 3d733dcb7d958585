//! `ShouldRateLimit`: a request of Envoy's rate limit filter, checked
//! (bad input is `INVALID_ARGUMENT`), decided on the policy in force (its
//! descriptor rules) and answered.

use std::time::Instant;

use bytes::Bytes;
use envoy_types::pb::envoy::service::ratelimit::v3::RateLimitRequest;
use floodgate_core::policy::descriptor::{MAX_ENTRIES, MAX_ENTRY_LEN};
use floodgate_core::policy::{Descriptor, DescriptorVerdict, MAX_COST};
use floodgate_core::{CheckError, Request, Timestamp};
use floodgate_tower::{LimiterHandle, Seen};
use tonic::Status;

/// The most descriptors one request may carry.
pub const MAX_DESCRIPTORS: usize = 64;

/// The rate limit service, deciding on a limiter handle (the one the
/// admin API and reloads update).
pub struct RateLimits {
    handle: LimiterHandle,
}

impl RateLimits {
    /// The service deciding on `handle`.
    pub fn new(handle: LimiterHandle) -> RateLimits {
        RateLimits { handle }
    }
}

/// Why a request's descriptors cannot be decided (`INVALID_ARGUMENT`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidRequest(String);

/// The descriptors of `req`, or why they cannot be decided.
pub fn descriptors(req: &RateLimitRequest) -> Result<Vec<Descriptor<'_>>, InvalidRequest> {
    checked(req).map_err(InvalidRequest)
}

fn checked(req: &RateLimitRequest) -> Result<Vec<Descriptor<'_>>, String> {
    if req.domain.is_empty() || req.domain.len() > MAX_ENTRY_LEN {
        return Err(format!("domain: 1 to {MAX_ENTRY_LEN} bytes"));
    }
    if req.descriptors.is_empty() || req.descriptors.len() > MAX_DESCRIPTORS {
        return Err(format!("descriptors: 1 to {MAX_DESCRIPTORS}"));
    }
    // Envoy's unset hits_addend (0) means 1.
    let request_cost = u64::from(req.hits_addend.max(1));
    let mut out = Vec::with_capacity(req.descriptors.len());
    for (i, d) in req.descriptors.iter().enumerate() {
        if d.entries.is_empty() || d.entries.len() > MAX_ENTRIES {
            return Err(format!("descriptors[{i}]: 1 to {MAX_ENTRIES} entries"));
        }
        if d.limit.is_some() {
            return Err(format!(
                "descriptors[{i}].limit: limits sent with the request are not supported; set them in the policy"
            ));
        }
        if d.is_negative_hits {
            return Err(format!(
                "descriptors[{i}].is_negative_hits: returning hits is not supported"
            ));
        }
        let mut entries = Vec::with_capacity(d.entries.len());
        for (j, e) in d.entries.iter().enumerate() {
            if e.key.is_empty() || e.key.len() > MAX_ENTRY_LEN {
                return Err(format!(
                    "descriptors[{i}].entries[{j}].key: 1 to {MAX_ENTRY_LEN} bytes"
                ));
            }
            if e.value.len() > MAX_ENTRY_LEN {
                return Err(format!(
                    "descriptors[{i}].entries[{j}].value: at most {MAX_ENTRY_LEN} bytes"
                ));
            }
            entries.push((e.key.as_str(), e.value.as_str()));
        }
        let cost = d.hits_addend.map_or(request_cost, |h| h.value.max(1));
        if cost > MAX_COST {
            return Err(format!(
                "descriptors[{i}]: hits_addend {cost} is above {MAX_COST}"
            ));
        }
        out.push(Descriptor { entries, cost });
    }
    Ok(out)
}

impl RateLimits {
    /// The answer to `req`, framed (see [`encode`](super::encode)), or the
    /// status that refuses it.
    pub async fn decide(&self, req: RateLimitRequest) -> Result<Bytes, Status> {
        let descriptors = descriptors(&req).map_err(|e| Status::invalid_argument(e.0))?;
        let (result, now) = self.decide_descriptors(&req.domain, &descriptors).await;
        match result {
            Ok(v) => Ok(super::encode::response_frame(&v, descriptors.len(), now)),
            // Envoy applies its `failure_mode_deny`.
            Err(CheckError::Store(_)) => Err(Status::unavailable(
                "the rate limiter cannot decide right now",
            )),
            Err(e) => Err(Status::internal(e.to_string())),
        }
    }
}

impl RateLimits {
    /// Decides `descriptors` of `domain` on the limiter in force; the
    /// observer sees it as a request with method `GRPC` and the domain as
    /// its path.
    async fn decide_descriptors(
        &self,
        domain: &str,
        descriptors: &[Descriptor<'_>],
    ) -> (Result<DescriptorVerdict, CheckError>, Timestamp) {
        let limiter = self.handle.limiter();
        let started = Instant::now();
        let now = self.handle.clock().now();
        let result = limiter.check_descriptors(domain, descriptors, now).await;
        if let Some(obs) = self.handle.observer() {
            let req = Request {
                method: "GRPC",
                path: domain,
                ..Request::default()
            };
            let verdict = result.as_ref().map(|v| &v.verdict);
            obs.observe(&Seen::new(&req, now, verdict, started.elapsed()));
        }
        (result, now)
    }
}
