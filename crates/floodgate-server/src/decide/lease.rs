//! `POST /v1/acquire`, `POST /v1/release` and `POST /v1/renew`: the
//! decision API's concurrency slots, for a gateway that holds them itself.
//!
//! `acquire` decides as `POST /v1/check` does, and an allowed request takes
//! a slot of every concurrency limit that applies; the answer's `lease`
//! names them (`null` when no concurrency limit applied). The lease is a
//! token that carries the lease id and, per slot, its limit id, identity
//! and lease length, so any replica sharing the store releases or renews
//! it; it grants nothing by itself (a slot is only ever freed under the
//! random id it was taken with). The caller releases it when its request
//! is done (or renews it every third of the lease while it lasts); a
//! lease neither released nor renewed ends after the limit's `lease`.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use floodgate_core::policy::Held;
use floodgate_core::quota::MAX_LEASE;
use floodgate_core::{Clock as _, LeaseId, LeaseStatus, LimitCheck, Quota};
use floodgate_tower::response::{error_body, json_response};
use http::{Response, StatusCode};
use serde::Deserialize;

use crate::decide::check::{answer, decide};
use floodgate_tower::LimiterHandle;

/// The longest lease token accepted.
pub const MAX_TOKEN_LEN: usize = 8192;

/// Separates a slot's fields, and slots, inside a token (neither occurs
/// in a limit id or an identity, which are printable).
const FIELD: char = '\u{1f}';
const SLOT: char = '\u{1e}';

/// `POST /v1/acquire`.
pub(crate) async fn acquire(State(handle): State<LimiterHandle>, body: Bytes) -> Response<Body> {
    let decided = match decide(&handle, &body, true).await {
        Ok(d) => d,
        Err(refused) => return refused,
    };
    let mut decided = decided;
    // The caller holds the slots now: this replica neither renews nor
    // releases them.
    let token = decided.slots.take().map(|g| encode(&g.detach()));
    answer(&decided, Some(token))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LeaseRequest {
    lease: String,
}

/// `POST /v1/release`.
pub(crate) async fn release(State(handle): State<LimiterHandle>, body: Bytes) -> Response<Body> {
    on_lease(&handle, &body, false).await
}

/// `POST /v1/renew`.
pub(crate) async fn renew(State(handle): State<LimiterHandle>, body: Bytes) -> Response<Body> {
    on_lease(&handle, &body, true).await
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    json_response(status, error_body(code, message))
}

async fn on_lease(handle: &LimiterHandle, body: &Bytes, renew: bool) -> Response<Body> {
    let req: LeaseRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                &format!("invalid lease request: {e}"),
            )
        }
    };
    let held = match decode(&req.lease) {
        Ok(h) => h,
        Err(reason) => return error(StatusCode::BAD_REQUEST, "bad_request", reason),
    };
    let limiter = handle.limiter();
    let now = handle.clock().now();
    let result = if renew {
        limiter.renew(&held, now).await
    } else {
        limiter.release(&held, now).await
    };
    let statuses = match result {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "the store cannot release or renew a lease");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "rate_limiter_unavailable",
                "The rate limiter cannot release or renew leases right now. Try again shortly.",
            );
        }
    };
    let count = |s: LeaseStatus| statuses.iter().filter(|x| **x == s).count();
    let (held_n, expired) = (count(LeaseStatus::Held), count(LeaseStatus::Expired));
    if held_n > 0 {
        let key = if renew { "renewed" } else { "released" };
        let body = serde_json::json!({ key: held_n, "expired": expired }).to_string();
        return json_response(StatusCode::OK, body);
    }
    if expired > 0 {
        return error(
            StatusCode::CONFLICT,
            "lease_expired",
            "The lease had ended: its slots were already free.",
        );
    }
    error(
        StatusCode::NOT_FOUND,
        "lease_not_found",
        "No slot is held under this lease (never acquired, already released, or ended and removed).",
    )
}

/// The token naming `held`: the lease id, then per slot its lease length
/// (µs), limit id and identity, hex-encoded.
pub fn encode(held: &Held) -> String {
    let mut inner = String::new();
    for c in &held.checks {
        let lease_us = match c.quota {
            Quota::Concurrency { lease_us, .. } => lease_us,
            _ => continue,
        };
        inner.push_str(&format!(
            "{lease_us}{FIELD}{}{FIELD}{}{SLOT}",
            c.limit_id, c.identity
        ));
    }
    let hex: String = inner.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{}.{hex}", held.lease)
}

/// The slots a token names, or why it names none.
pub fn decode(token: &str) -> Result<Held, &'static str> {
    const BAD: &str = "not a lease: a lease is the `lease` string POST /v1/acquire answered";
    if token.len() > MAX_TOKEN_LEN {
        return Err("a lease is at most 8192 bytes");
    }
    let (id, hex) = token.split_once('.').ok_or(BAD)?;
    let lease: LeaseId = id.parse().map_err(|_| BAD)?;
    if hex.len() % 2 != 0 || hex.is_empty() {
        return Err(BAD);
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2).ok_or(BAD)?, 16).map_err(|_| BAD))
        .collect::<Result<Vec<u8>, _>>()?;
    let text = String::from_utf8(bytes).map_err(|_| BAD)?;
    let mut checks = Vec::new();
    for slot in text.strip_suffix(SLOT).ok_or(BAD)?.split(SLOT) {
        let mut f = slot.split(FIELD);
        let (Some(us), Some(limit_id), Some(identity), None) =
            (f.next(), f.next(), f.next(), f.next())
        else {
            return Err(BAD);
        };
        let us: u64 = us.parse().map_err(|_| BAD)?;
        let lease_len = Duration::from_micros(us).min(MAX_LEASE);
        let quota = Quota::concurrency(1, lease_len).map_err(|_| BAD)?;
        if limit_id.is_empty() || identity.is_empty() {
            return Err(BAD);
        }
        checks.push(
            LimitCheck::new(limit_id.into(), identity.into(), quota, 1).with_lease(Some(lease)),
        );
    }
    if checks.len() > 64 {
        return Err("a lease names at most 64 slots");
    }
    // Rule and limit names are not carried: a released lease is not
    // counted in this replica's in-flight gauge.
    Ok(Held {
        lease,
        checks,
        names: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_what_is_not_one() {
        let q = Quota::concurrency(5, Duration::from_secs(30)).unwrap();
        let lease = LeaseId::random();
        let held = Held {
            lease,
            checks: vec![
                LimitCheck::new("api/slots/1234abcd".into(), "ip:192.0.2.1".into(), q, 1)
                    .with_lease(Some(lease)),
                LimitCheck::new("global/g/99".into(), "g".into(), q, 1).with_lease(Some(lease)),
            ],
            names: vec![
                ("api".into(), "slots".into()),
                ("global".into(), "g".into()),
            ],
        };
        let token = encode(&held);
        let back = decode(&token).unwrap();
        assert_eq!(back.lease, lease);
        assert_eq!(back.checks.len(), 2);
        assert_eq!(&*back.checks[0].limit_id, "api/slots/1234abcd");
        assert_eq!(&*back.checks[1].identity, "g");
        assert_eq!(back.checks[0].lease, Some(lease));
        assert_eq!(back.lease_length(), Duration::from_secs(30));
        for bad in [
            "",
            "nope",
            "0000000000000000.00",
            &format!("{lease}."),
            &format!("{lease}.zz"),
            &format!("{lease}.414243"),
            &"a".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }
}
