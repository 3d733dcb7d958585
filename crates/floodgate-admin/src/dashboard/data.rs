//! `GET /dashboard/data`: what the dashboard shows, as JSON: the
//! analytics of the last 15 minutes, store health, the live policy and
//! its history, and on Redis the fleet.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::analytics::{Snapshot, TopEntry};
use crate::control::Control;

/// Seconds of each rule's series the dashboard gets unless it asks for
/// others (`?seconds=`, at most [`HISTORY_SECS`](crate::analytics::HISTORY_SECS)).
pub const WINDOW_SECS: usize = 900;
pub use crate::health::TOP;

/// Names the API keys' fingerprints with their client name and tier.
fn name_clients(list: &mut [TopEntry], clients: &HashMap<String, (String, Option<String>)>) {
    for e in list.iter_mut().filter(|e| e.kind == "api_key") {
        if let Some((tier, name)) = clients.get(&e.identity) {
            e.client = name.clone();
            e.tier = Some(tier.clone());
        }
    }
}

/// The names and tiers of the API keys among `wanted` (fingerprints),
/// found in one pass over the clients, whatever their number.
fn client_names(
    admin: &Control,
    wanted: &std::collections::HashSet<&str>,
) -> HashMap<String, (String, Option<String>)> {
    let mut out = HashMap::new();
    if wanted.is_empty() {
        return out;
    }
    for (d, c) in admin.live.book().snapshot().iter() {
        let fp = floodgate_core::policy::fingerprint_of(d);
        if wanted.contains(fp.as_str()) {
            out.insert(
                fp,
                (c.tier.to_string(), c.name.as_deref().map(str::to_string)),
            );
        }
    }
    out
}

/// The analytics' last `seconds`, with client names.
pub async fn analytics(admin: &Control, seconds: usize) -> Snapshot {
    let mut s = admin.dashboard.analytics.snapshot(seconds, TOP);
    let wanted = s
        .top_limited
        .iter()
        .chain(&s.top_near_limit)
        .map(|e| e.identity.as_str())
        .collect();
    let clients = client_names(admin, &wanted);
    name_clients(&mut s.top_limited, &clients);
    name_clients(&mut s.top_near_limit, &clients);
    s
}

/// The change history, newest first, read now (`now`, Unix seconds) or,
/// when it cannot be read, as last read: `(entries, read at, error)`.
async fn history(admin: &Control, now: u64) -> (Vec<Value>, Option<u64>, Option<String>) {
    match admin.live.history().await {
        Ok(h) => {
            let entries: Vec<Value> = h
                .into_iter()
                .rev()
                .map(|h| json!({"version": h.version, "time": h.time, "actor": h.actor, "summary": h.summary}))
                .collect();
            admin.dashboard.history.keep(entries.clone(), now);
            (entries, Some(now), None)
        }
        Err(e) => {
            let (entries, read) = admin.dashboard.history.last();
            (entries, read, Some(e.to_string()))
        }
    }
}

/// The live policy (with the number of known clients) and its change
/// history (with `history_read`, when it was read, and
/// `history_error`, why it could not be read now).
pub async fn policy(admin: &Control, now: u64) -> Value {
    let (version, doc) = admin.live.snapshot().await;
    let mut doc = serde_json::to_value(&doc).unwrap_or(Value::Null);
    if let Some(o) = doc.as_object_mut() {
        o.remove("clients");
    }
    let clients = admin.live.book().len();
    let (history, read, error) = history(admin, now).await;
    json!({
        "version": version,
        "document": doc,
        "clients": clients,
        "history": history,
        "history_read": read,
        "history_error": error,
    })
}

/// The whole answer, with `seconds` of each rule's series.
pub async fn build(admin: &Control, seconds: usize) -> Value {
    let s = analytics(admin, seconds).await;
    let store = crate::health::store(
        admin.dashboard.store.as_ref(),
        &admin.dashboard.store_latency,
        &s,
    );
    let policy = policy(admin, s.now).await;
    let fleet = match &admin.dashboard.fleet {
        Some(f) => {
            let mut v = f.view();
            let wanted = v
                .top_limited
                .iter()
                .chain(&v.top_near_limit)
                .map(|e| e.identity.as_str())
                .collect();
            let clients = client_names(admin, &wanted);
            name_clients(&mut v.top_limited, &clients);
            name_clients(&mut v.top_near_limit, &clients);
            serde_json::to_value(v).unwrap_or(Value::Null)
        }
        None => Value::Null,
    };
    json!({
        "fleet": fleet,
        "replica": admin.dashboard.replica,
        "near_limit_share": admin.dashboard.near_limit_share,
        "analytics": s,
        "store": store,
        "policy": policy,
    })
}
