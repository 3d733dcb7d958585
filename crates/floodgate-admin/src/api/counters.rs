//! `GET /v1/counters?rule=…&key=…` inspects one identity's state under
//! every limit of a rule (its own, each tier's, and an override's), without
//! consuming; `DELETE` with the same query resets them. `key` is the
//! identity as the rule's key gives it (`i:203.0.113.7`, `k:<key
//! fingerprint>`, `u:alice`, parts joined by `|`; `g` for `rule=global`).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use floodgate_core::decision::{ceil_secs, unix_secs_after};
use floodgate_core::policy::Limit;
use floodgate_core::{LimitCheck, RetryAfter};
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use crate::control::Control;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Which {
    rule: String,
    key: String,
}

/// Each limit of the rule that could apply to the identity, with where it
/// comes from (`rule`, `tier:<name>`, `override`).
async fn limits_of(admin: &Control, which: &Which) -> Result<Vec<(String, Limit)>, ApiError> {
    if which.key.is_empty() || which.key.len() > 512 {
        return Err(ApiError::BadRequest("key: give 1 to 512 bytes".into()));
    }
    let policy = admin.live.policy().await;
    let now = admin.handle.clock().now();
    let mut out = Vec::new();
    if which.rule == "global" {
        out.extend(
            policy
                .global
                .iter()
                .map(|l| ("rule".to_string(), l.clone())),
        );
        return Ok(out);
    }
    let rule = policy
        .rules
        .iter()
        .find(|r| *r.name == *which.rule)
        .ok_or_else(|| ApiError::NotFound(format!("no rule is named `{}`", which.rule)))?;
    out.extend(rule.limits.iter().map(|l| ("rule".to_string(), l.clone())));
    let mut tiers: Vec<_> = rule.tiers.iter().collect();
    tiers.sort_by(|a, b| a.0.cmp(b.0));
    for (t, ls) in tiers {
        out.extend(ls.iter().map(|l| (format!("tier:{t}"), l.clone())));
    }
    if let Some(o) = policy.override_for(&rule.name, &which.key, now) {
        out.extend(o.limits.iter().map(|l| ("override".to_string(), l.clone())));
    }
    Ok(out)
}

fn checks(limits: &[(String, Limit)], key: &str) -> Vec<LimitCheck> {
    let identity: Arc<str> = Arc::from(key);
    limits
        .iter()
        .map(|(_, l)| LimitCheck::new(l.id.clone(), identity.clone(), l.quota, 1))
        .collect()
}

pub(crate) async fn inspect(
    State(admin): State<Control>,
    Query(which): Query<Which>,
) -> Result<Response, ApiError> {
    let limits = limits_of(&admin, &which).await?;
    let now = admin.handle.clock().now();
    let store = admin.handle.limiter().store().clone();
    let decisions = store
        .inspect(&checks(&limits, &which.key), now)
        .await
        .map_err(|e| ApiError::Unavailable(format!("the store cannot say: {e}")))?;
    let list: Vec<_> = limits
        .iter()
        .zip(decisions)
        .map(|((scope, l), d)| {
            json!({
                "scope": scope,
                "limit_name": &*l.name,
                "algorithm": l.quota.algorithm_name(),
                "limit": d.limit,
                "remaining": d.remaining,
                "allowed": d.allowed,
                "reset": unix_secs_after(now, d.reset_after),
                "reset_after": d.reset_after.as_secs_f64(),
                "retry_after": match d.retry_after {
                    None => json!(null),
                    Some(RetryAfter::Never) => json!("never"),
                    Some(RetryAfter::After(x) | RetryAfter::Unavailable(x)) => json!(ceil_secs(x)),
                },
            })
        })
        .collect();
    Ok(Json(json!({ "rule": which.rule, "key": which.key, "limits": list })).into_response())
}

pub(crate) async fn reset(
    State(admin): State<Control>,
    super::extract::ActorName(actor): super::extract::ActorName,
    Query(which): Query<Which>,
) -> Result<Response, ApiError> {
    let limits = limits_of(&admin, &which).await?;
    let store = admin.handle.limiter().store().clone();
    let n = store
        .reset(&checks(&limits, &which.key))
        .await
        .map_err(|e| ApiError::Unavailable(format!("the store cannot reset: {e}")))?;
    tracing::info!(
        target: "floodgate::audit",
        actor,
        rule = %which.rule,
        key = %which.key,
        keys = n,
        "counters reset"
    );
    Ok(Json(json!({ "rule": which.rule, "key": which.key, "reset": n })).into_response())
}
