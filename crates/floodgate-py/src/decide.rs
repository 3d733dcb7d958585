//! How the engine decides a request, as the server does: stated by its
//! attributes (`POST /v1/acquire`), or as an HTTP request (the gateway).
//! An allowed request takes the slots of its concurrency limits; they are
//! handed to the [`Outcome`] as [`Slots`], renewed and released on the
//! engine's runtime.

use std::sync::Arc;

use floodgate_core::policy::{check_cost, Attributes, Origin, RequestError};
use floodgate_core::{CheckError, Limiter, Timestamp};
use floodgate_tower::{client_ip, Decided, LimiterHandle};
use tokio::runtime::Handle;

use crate::outcome::{Answer, Outcome};
use crate::query::HttpQuery;
use crate::slots::Slots;

/// As `POST /v1/acquire` decides: the caller states the client IP and is
/// trusted for the user header.
pub(crate) async fn decide(
    handle: &LimiterHandle,
    rt: &Handle,
    attributes: &Attributes<'_>,
    cost: u64,
) -> Answer {
    let cost = check_cost(cost)?;
    let limiter = handle.limiter();
    let now = handle.clock().now();
    let origin = Origin {
        peer_trusted: true,
        now,
    };
    let decided = match limiter.policy().identity.request_from(attributes, origin) {
        Ok(req) => handle.decide_with(&limiter, &req, cost, true).await,
        Err(RequestError::Attributes(e)) => return Err(e.into()),
        Err(RequestError::Refused(e)) => refused(handle, e, now, cost),
    };
    Ok(outcome(decided, limiter, handle, rt))
}

/// As the gateway decides: the client IP through the trusted proxies, the
/// user header believed from a trusted peer only (`user_header_from`).
pub(crate) async fn decide_http(handle: &LimiterHandle, rt: &Handle, q: &HttpQuery) -> Answer {
    let cost = check_cost(q.cost.unwrap_or(1))?;
    let settings = handle.settings();
    let headers = q.header_map();
    let trusted = q.peer.is_some_and(|p| settings.proxies.contains(p));
    let ip = q.peer.map(|p| client_ip(p, &headers, &settings.proxies));
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let now = handle.clock().now();
    let origin = Origin {
        peer_trusted: trusted,
        now,
    };
    let identity = &settings.limiter.policy().identity;
    let decided = match identity.request(ip, &q.method, &q.path, header, origin) {
        Ok(req) => {
            handle
                .decide_with(&settings.limiter, &req, cost, true)
                .await
        }
        Err(e) => refused(handle, e, now, cost),
    };
    Ok(outcome(decided, settings.limiter.clone(), handle, rt))
}

/// The outcome of `decided`, its slots (if any) held on `rt`.
fn outcome(
    mut decided: Decided,
    limiter: Arc<Limiter>,
    handle: &LimiterHandle,
    rt: &Handle,
) -> Outcome {
    let slots = decided
        .slots
        .take()
        .map(|g| Slots::new(g, limiter, handle.clock().clone(), rt.clone()));
    Outcome::new(decided, slots)
}

/// A request refused before any limit (a missing or unknown API key, an
/// invalid token).
fn refused(handle: &LimiterHandle, e: CheckError, now: Timestamp, cost: u64) -> Decided {
    Decided {
        result: Err(e),
        now,
        cost,
        slots: None,
        unavailable_status: handle.unavailable_status(),
        text: None,
    }
}
