//! A descriptor verdict as Envoy's rate limit service answers it: the
//! overall code, a status per descriptor (code, the limit that speaks for
//! it as `requests_per_unit` per `unit`, what remains, when it resets) and
//! the rate-limit headers Envoy adds to its response.

use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::HeaderValue;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::rate_limit::Unit;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::{
    Code, DescriptorStatus, RateLimit,
};
use envoy_types::pb::envoy::service::ratelimit::v3::RateLimitResponse;
use envoy_types::pb::google::protobuf::Duration as PbDuration;
use floodgate_core::policy::{DescriptorVerdict, LimitOutcome};
use floodgate_core::Timestamp;
use floodgate_tower::headers;

/// The units of the API, shortest first, in seconds.
const UNITS: [(Unit, u64); 4] = [
    (Unit::Second, 1),
    (Unit::Minute, 60),
    (Unit::Hour, 3_600),
    (Unit::Day, 86_400),
];

/// The nearest expression of a limit of `limit` per `window_secs` seconds
/// as requests per unit: the unit of exactly that window when there is
/// one, else the shortest unit at least as long as the window (scaled,
/// rounded to the nearest whole number and at least 1 unless the limit
/// is 0), else days.
pub fn per_unit(limit: u64, window_secs: u64) -> (u32, Unit) {
    let window = window_secs.max(1);
    let (unit, secs) = UNITS
        .iter()
        .copied()
        .find(|(_, s)| *s >= window)
        .unwrap_or(UNITS[UNITS.len() - 1]);
    let scaled =
        (u128::from(limit) * u128::from(secs) + u128::from(window) / 2) / u128::from(window);
    // At least 1, unless the limit is 0 (every request denied).
    let n = u32::try_from(scaled)
        .unwrap_or(u32::MAX)
        .max(u32::from(limit > 0));
    (n, unit)
}

fn pb_duration(d: Duration) -> PbDuration {
    PbDuration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: d.subsec_nanos() as i32,
    }
}

fn current_limit(o: &LimitOutcome) -> RateLimit {
    let (requests_per_unit, unit) = per_unit(o.decision.limit, o.quota.window_secs());
    RateLimit {
        name: format!("{}/{}", o.rule, o.limit),
        requests_per_unit,
        unit: unit as i32,
    }
}

/// The response to a request of `count` descriptors decided as `v` at
/// `now`. A descriptor no rule matched (or only shadow rules) is `OK`
/// with no `current_limit`.
pub fn response(v: &DescriptorVerdict, count: usize, now: Timestamp) -> RateLimitResponse {
    let statuses = (0..count)
        .map(|i| {
            let own = v.of(i);
            let speaking = own.deciding();
            DescriptorStatus {
                code: if own.allowed {
                    Code::Ok
                } else {
                    Code::OverLimit
                } as i32,
                current_limit: speaking.map(current_limit),
                limit_remaining: speaking.map_or(0, |o| {
                    u32::try_from(o.decision.remaining).unwrap_or(u32::MAX)
                }),
                duration_until_reset: speaking.map(|o| pb_duration(o.decision.reset_after)),
                ..DescriptorStatus::default()
            }
        })
        .collect();
    let mut response_headers_to_add = Vec::new();
    if let Some(o) = v.verdict.deciding() {
        response_headers_to_add.reserve(6);
        headers::each(o, now, |k, val| {
            if let Ok(value) = val.to_str() {
                response_headers_to_add.push(HeaderValue {
                    key: header_case(k.as_str()).to_string(),
                    value: value.to_string(),
                    ..HeaderValue::default()
                });
            }
        });
    }
    RateLimitResponse {
        overall_code: if v.verdict.allowed {
            Code::Ok
        } else {
            Code::OverLimit
        } as i32,
        statuses,
        response_headers_to_add,
        ..RateLimitResponse::default()
    }
}

/// `x-ratelimit-limit` as `X-RateLimit-Limit` (header names are
/// case-insensitive; this is how the HTTP listener's read in logs).
pub(super) fn header_case(name: &str) -> &str {
    match name {
        "x-ratelimit-limit" => "X-RateLimit-Limit",
        "x-ratelimit-remaining" => "X-RateLimit-Remaining",
        "x-ratelimit-reset" => "X-RateLimit-Reset",
        "ratelimit-policy" => "RateLimit-Policy",
        "ratelimit" => "RateLimit",
        "retry-after" => "Retry-After",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_expressed_in_the_nearest_unit() {
        assert_eq!(per_unit(100, 60), (100, Unit::Minute));
        assert_eq!(per_unit(5, 1), (5, Unit::Second));
        assert_eq!(per_unit(1000, 3_600), (1000, Unit::Hour));
        // 5 per 10 s is 30 a minute; 10 per 3 s is 200 a minute.
        assert_eq!(per_unit(5, 10), (30, Unit::Minute));
        assert_eq!(per_unit(10, 3), (200, Unit::Minute));
        // A week's worth is said per day; never 0 per unit.
        assert_eq!(per_unit(70, 7 * 86_400), (10, Unit::Day));
        assert_eq!(per_unit(1, 7 * 86_400), (1, Unit::Day));
        // But a limit of 0 (every request denied) is 0 per unit.
        assert_eq!(per_unit(0, 60), (0, Unit::Minute));
        assert_eq!(per_unit(0, 7 * 86_400), (0, Unit::Day));
        assert_eq!(per_unit(u64::MAX, 1), (u32::MAX, Unit::Second));
    }
}
