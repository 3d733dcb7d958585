//! `ShouldRateLimit`: a request of Envoy's rate limit filter, checked
//! (bad input is `INVALID_ARGUMENT`), decided on the policy in force (its
//! descriptor rules) and answered.

use envoy_types::pb::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};
use floodgate_core::policy::descriptor::{MAX_ENTRIES, MAX_ENTRY_LEN};
use floodgate_core::policy::Descriptor;
use floodgate_core::CheckError;
use floodgate_tower::LimiterHandle;
use tonic::Status;

use crate::check::MAX_COST;

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

/// The descriptors of `req`, or why they cannot be decided.
pub fn descriptors(req: &RateLimitRequest) -> Result<Vec<Descriptor<'_>>, String> {
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
    /// The answer to `req`, or the status that refuses it.
    pub async fn decide(&self, req: RateLimitRequest) -> Result<RateLimitResponse, Status> {
        let descriptors = descriptors(&req).map_err(Status::invalid_argument)?;
        let (result, now) = self
            .handle
            .decide_descriptors(&req.domain, &descriptors)
            .await;
        match result {
            Ok(v) => Ok(super::status::response(&v, descriptors.len(), now)),
            // Envoy applies its `failure_mode_deny`.
            Err(CheckError::Store(_)) => Err(Status::unavailable(
                "the rate limiter cannot decide right now",
            )),
            Err(e) => Err(Status::internal(e.to_string())),
        }
    }
}
