//! How the engine decides a request, as the server does: stated by its
//! attributes (`POST /v1/check`), or as an HTTP request (the gateway).
//! Concurrency limits are checked, not held.

use floodgate_core::policy::{check_cost, Attributes, Origin, RequestError};
use floodgate_core::{CheckError, Timestamp};
use floodgate_tower::{client_ip, Decided, LimiterHandle};

use crate::engine::Answer;
use crate::outcome::Outcome;
use crate::query::HttpQuery;

/// As `POST /v1/check` decides: the caller states the client IP and is
/// trusted for the user header.
pub(crate) async fn decide(
    handle: &LimiterHandle,
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
        Ok(req) => handle.decide_with(&limiter, &req, cost, false).await,
        Err(RequestError::Attributes(e)) => return Err(e.into()),
        Err(RequestError::Refused(e)) => refused(handle, e, now, cost),
    };
    Ok(Outcome::new(decided))
}

/// As the gateway decides: the client IP through the trusted proxies, the
/// user header believed from a trusted peer only (`user_header_from`).
pub(crate) async fn decide_http(handle: &LimiterHandle, q: &HttpQuery) -> Answer {
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
                .decide_with(&settings.limiter, &req, cost, false)
                .await
        }
        Err(e) => refused(handle, e, now, cost),
    };
    Ok(Outcome::new(decided))
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
