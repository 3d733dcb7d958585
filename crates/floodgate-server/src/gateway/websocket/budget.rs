//! The client's message budget (`websocket.messages`): kept with the
//! connection (`key: connection`), or in the store under the client's
//! identity (`key: ip`, `api_key`, `user`), so that every connection of
//! one client (on every replica, with Redis) spends one budget. Time
//! comes from the server's clock.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use floodgate_core::algorithm::{self, State};
use floodgate_core::policy::{key_digest, CheckError, KeyPart, Limit, Origin};
use floodgate_core::{Clock, LimitCheck, Quota, RetryAfter, Store, Timestamp};
use floodgate_tower::client_ip;
use floodgate_tower::handle::Settings;
use http::Request;

use super::{BudgetKey, WebSockets};

/// The rule part of the shared budgets' limit id: `~` is in no rule name,
/// so these counters never mix with a rule's.
const LIMIT_RULE: &str = "~websocket";

/// Whether a message may go on.
pub(super) enum Spend {
    /// Forward it (after this delay, under a shaping limit).
    Go(Duration),
    /// Past the limit: retry after this long, if ever.
    Limited(Option<RetryAfter>),
}

/// One connection's budget.
pub(super) enum Budget {
    /// No limit.
    Unlimited,
    /// The connection's own.
    Local {
        quota: Quota,
        state: Option<State>,
        clock: Arc<dyn Clock>,
    },
    /// Shared by the client's connections, in the store.
    Shared {
        check: [LimitCheck; 1],
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    },
}

/// The identity a rule keyed by `part` gives the client of `req` from
/// `peer` (the client IP found through the trusted proxies), as a
/// decision on the same settings would count it.
fn identity_of<B>(
    settings: &Settings,
    now: Timestamp,
    peer: SocketAddr,
    req: &Request<B>,
    part: KeyPart,
) -> Result<Arc<str>, CheckError> {
    let headers = req.headers();
    let ip = client_ip(peer.ip(), headers, &settings.proxies);
    let peer_trusted = settings.proxies.contains(peer.ip());
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let policy = settings.limiter.policy();
    let built = policy.identity.request(
        Some(ip),
        req.method().as_str(),
        req.uri().path(),
        header,
        Origin { peer_trusted, now },
    )?;
    let digest = built.api_key.map(key_digest);
    Ok(policy.identity(&[part], &built, digest.as_ref()))
}

impl Budget {
    /// The budget of the connection `req` (an upgrade request from
    /// `peer`) opens.
    pub(super) fn for_request<B>(
        ws: &WebSockets,
        peer: SocketAddr,
        req: &Request<B>,
    ) -> Result<Budget, CheckError> {
        let Some(quota) = ws.settings.messages else {
            return Ok(Budget::Unlimited);
        };
        let clock = ws.handle.clock().clone();
        Ok(match ws.settings.key {
            BudgetKey::Connection => Budget::Local {
                quota,
                state: None,
                clock,
            },
            BudgetKey::Client(part) => {
                let settings = ws.handle.settings();
                let identity = identity_of(&settings, clock.now(), peer, req, part)?;
                let id = Limit::new(LIMIT_RULE, None, "messages", quota).id;
                Budget::Shared {
                    check: [LimitCheck::new(id, identity, quota, 1)],
                    store: settings.limiter.store().clone(),
                    clock,
                }
            }
        })
    }

    /// Spends one message.
    pub(super) async fn spend(&mut self) -> Spend {
        let decision = match self {
            Budget::Unlimited => return Spend::Go(Duration::ZERO),
            Budget::Local {
                quota,
                state,
                clock,
            } => {
                let now = clock.now();
                let state = state.get_or_insert_with(|| State::fresh(quota, now));
                algorithm::decide(state, now, 1, quota)
            }
            Budget::Shared {
                check,
                store,
                clock,
            } => match store.check(check, clock.now()).await {
                Ok(d) => d[0],
                // The store's failure policy has had its say already:
                // what is left is not the client's fault.
                Err(e) => {
                    tracing::debug!(error = %e, "WebSocket message budget: store failed, message allowed");
                    return Spend::Go(Duration::ZERO);
                }
            },
        };
        if decision.allowed {
            Spend::Go(decision.delay)
        } else {
            Spend::Limited(decision.retry_after)
        }
    }
}
