//! Overrides: `PUT /v1/overrides/{rule}/{identity}` sets limits for one
//! identity of a rule (optionally until `expires_at` or for `expires_in`),
//! `GET` shows them, `DELETE` removes one. Expired overrides stop applying
//! at once and are left out of every answer.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use floodgate_config::units::DurationField;
use floodgate_config::{LimitDocument, OverrideDocument};
use http::HeaderMap;
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::extract::{committed, edit, if_match, json_body, tagged, ActorName};
use crate::control::Control;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideBody {
    limits: Vec<LimitDocument>,
    /// Unix seconds.
    #[serde(default)]
    expires_at: Option<u64>,
    /// From now, e.g. `24h`.
    #[serde(default)]
    expires_in: Option<DurationField>,
}

pub(crate) async fn put_override(
    State(admin): State<Control>,
    ActorName(actor): ActorName,
    Path((rule, identity)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: OverrideBody = json_body(&body)?;
    let now_s = admin.handle.clock().now().as_micros() / 1_000_000;
    let expires_at = match (req.expires_at, req.expires_in) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "give expires_at or expires_in, not both".into(),
            ))
        }
        (Some(at), None) if at <= now_s => {
            return Err(ApiError::BadRequest(format!(
                "expires_at {at} is not in the future (now {now_s})"
            )))
        }
        (at, None) => at,
        (None, Some(d)) if d.0.as_secs() == 0 => {
            return Err(ApiError::BadRequest(
                "expires_in must be at least 1s".into(),
            ))
        }
        (None, Some(d)) => Some(now_s.saturating_add(d.0.as_secs())),
    };
    let expected = if_match(&headers)?;
    let o = OverrideDocument {
        rule: rule.clone(),
        identity: identity.clone(),
        limits: req.limits,
        expires_at,
    };
    let done = admin
        .live
        .change(&actor, expected, |doc| {
            doc.overrides
                .retain(|x| !(x.rule == rule && x.identity == identity));
            doc.overrides.push(o.clone());
            Ok::<(), ApiError>(())
        })
        .await?;
    Ok(committed(done))
}

pub(crate) async fn list_overrides(State(admin): State<Control>) -> Response {
    let (version, doc) = admin.live.snapshot().await;
    tagged(Json(json!({ "overrides": doc.overrides })), version)
}

pub(crate) async fn get_override(
    State(admin): State<Control>,
    Path((rule, identity)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (_, doc) = admin.live.snapshot().await;
    doc.overrides
        .into_iter()
        .find(|o| o.rule == rule && o.identity == identity)
        .map(|o| Json(o).into_response())
        .ok_or_else(|| ApiError::NotFound(format!("no override of `{rule}` for `{identity}`")))
}

pub(crate) async fn delete_override(
    State(admin): State<Control>,
    ActorName(actor): ActorName,
    Path((rule, identity)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    edit(&admin, &actor, &headers, |doc| {
        let before = doc.overrides.len();
        doc.overrides
            .retain(|o| !(o.rule == rule && o.identity == identity));
        if doc.overrides.len() == before {
            return Err(ApiError::NotFound(format!(
                "no override of `{rule}` for `{identity}`"
            )));
        }
        Ok(())
    })
    .await
}
