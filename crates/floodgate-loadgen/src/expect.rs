//! What the policy says should have happened: the run's requests replayed
//! through `floodgate_core::Limiter` on a fresh `MemoryStore` (gRPC mode:
//! as descriptor requests, `check_descriptors`), in order, at
//! the wall-clock time they were due (open loop: the scheduled time; closed
//! loop: the actual send time).
//!
//! Only requests that got a response are replayed: one that never reached
//! the server consumed nothing there. The server decides on its own clock,
//! at arrival, so with limits that refill continuously (token bucket, GCRA)
//! a request arriving a few hundred microseconds late may find one more
//! token than the replay did: the accuracy figure measures that, plus any
//! real miscount.

use std::sync::Arc;

use floodgate_config::ConfigFile;
use floodgate_core::policy::{Attributes, Descriptor, Origin, RequestError};
use floodgate_core::{CheckError, Limiter, MemoryStore, Timestamp};

use crate::client::Clients;
use crate::run::{Outcome, RunResult};

/// The expected verdict of each record (same order as `run.records`):
/// `Some(allowed)` for requests that got a response, `None` otherwise.
pub async fn expected(
    config: &ConfigFile,
    clients: &Clients,
    run: &RunResult,
) -> Vec<Option<bool>> {
    let limiter = Limiter::new(
        config.policy.clone(),
        Arc::new(MemoryStore::new(config.memory)),
    );
    let when = |r: &crate::run::Record| r.scheduled.unwrap_or(r.sent);
    let mut order: Vec<usize> = (0..run.records.len())
        .filter(|&i| matches!(run.records[i].outcome, Outcome::Status(_)))
        .collect();
    order.sort_by_key(|&i| (when(&run.records[i]), run.records[i].index));
    let mut out = vec![None; run.records.len()];
    let (method, path) = (clients.limited_method(), clients.limited_path());
    let grpc = clients.grpc().is_some();
    for i in order {
        let r = &run.records[i];
        let now = Timestamp::from_micros(
            run.start_wall.as_micros() + u64::try_from(when(r).as_micros()).unwrap_or(u64::MAX),
        );
        let result = if grpc {
            let value = clients.descriptor_value(r.client as usize);
            let (domain, key) = clients.descriptor_target();
            let d = Descriptor {
                entries: vec![(key, value.as_str())],
                cost: 1,
            };
            limiter
                .check_descriptors(domain, &[d], now)
                .await
                .map(|v| v.verdict)
        } else {
            // The loadgen sends its key in the policy's API key header.
            let who = clients.who(r.client as usize);
            let attributes = Attributes {
                ip: Some(who.ip),
                method: Some(method),
                path,
                api_key: who.api_key.as_deref(),
                ..Attributes::default()
            };
            let origin = Origin {
                peer_trusted: false,
                now,
            };
            match config.policy.identity.request_from(&attributes, origin) {
                Ok(req) => limiter.check(&req, 1, now).await,
                Err(RequestError::Refused(e)) => Err(e),
                // The server answers 400, which passed the limiter.
                Err(RequestError::Attributes(_)) => {
                    out[i] = Some(true);
                    continue;
                }
            }
        };
        out[i] = Some(match result {
            Ok(v) => v.allowed,
            Err(
                CheckError::MissingApiKey | CheckError::UnknownApiKey | CheckError::InvalidToken(_),
            ) => false,
            // The memory store does not fail; count it as allowed (fail
            // open) if it ever does.
            Err(CheckError::Store(_)) => true,
        });
    }
    out
}

/// Whether a response says the limiter let the request through: anything
/// but 429 (limited) and 401 (no or unknown API key). Upstream errors
/// behind a gateway passed the limiter and count as allowed.
pub fn measured_allowed(status: u16) -> bool {
    status != 429 && status != 401
}
