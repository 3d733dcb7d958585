//! Rules and tiers one by one: `GET`/`PUT`/`DELETE /v1/rules/{name}` and
//! `/v1/tiers/{name}`. A `PUT` creates or replaces; `If-Match` is optional
//! here (checked when sent).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use floodgate_config::RuleDocument;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::extract::{edit, from_value, json_body, tagged, ActorName};
use crate::control::Control;

pub(crate) async fn list_rules(State(admin): State<Control>) -> Response {
    let (version, doc) = admin.live.snapshot().await;
    tagged(Json(json!({ "rules": doc.rules })), version)
}

pub(crate) async fn get_rule(
    State(admin): State<Control>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let (version, doc) = admin.live.snapshot().await;
    let rule = doc
        .rules
        .into_iter()
        .find(|r| r.name == name)
        .ok_or_else(|| ApiError::NotFound(format!("no rule is named `{name}`")))?;
    Ok(tagged(Json(rule), version))
}

pub(crate) async fn put_rule(
    State(admin): State<Control>,
    ActorName(actor): ActorName,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    // The name may be left out of the body; when given it must agree.
    let mut value: serde_json::Value = json_body(&body)?;
    let Some(fields) = value.as_object_mut() else {
        return Err(ApiError::BadRequest(
            "the body must be a JSON object".into(),
        ));
    };
    match fields.get("name") {
        None => {
            fields.insert("name".into(), json!(name));
        }
        Some(n) if n == &json!(name) => {}
        Some(n) => {
            return Err(ApiError::BadRequest(format!(
                "the body names rule {n}, the path `{name}`"
            )))
        }
    }
    let rule: RuleDocument = from_value(value)?;
    edit(&admin, &actor, &headers, |doc| {
        match doc.rules.iter_mut().find(|r| r.name == name) {
            Some(r) => *r = rule.clone(),
            None => doc.rules.push(rule.clone()),
        }
        Ok(())
    })
    .await
}

pub(crate) async fn delete_rule(
    State(admin): State<Control>,
    ActorName(actor): ActorName,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    edit(&admin, &actor, &headers, |doc| {
        let before = doc.rules.len();
        doc.rules.retain(|r| r.name != name);
        if doc.rules.len() == before {
            return Err(ApiError::NotFound(format!("no rule is named `{name}`")));
        }
        // Its overrides go with it.
        doc.overrides.retain(|o| o.rule != name);
        Ok(())
    })
    .await
}

pub(crate) async fn list_tiers(State(admin): State<Control>) -> Response {
    let (version, doc) = admin.live.snapshot().await;
    tagged(
        Json(json!({ "tiers": doc.tiers, "default_tier": doc.default_tier })),
        version,
    )
}

pub(crate) async fn get_tier(
    State(admin): State<Control>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let (version, doc) = admin.live.snapshot().await;
    if !doc.tiers.contains(&name) {
        return Err(ApiError::NotFound(format!("no tier is named `{name}`")));
    }
    let rules: Vec<&str> = doc
        .rules
        .iter()
        .filter(|r| r.tiers.contains_key(&name))
        .map(|r| r.name.as_str())
        .collect();
    let clients = admin
        .live
        .book()
        .snapshot()
        .values()
        .filter(|c| *c.tier == *name)
        .count();
    Ok(tagged(
        Json(json!({
            "name": name,
            "default": doc.default_tier.as_deref() == Some(name.as_str()),
            "clients": clients,
            "rules": rules,
        })),
        version,
    ))
}

/// `PUT /v1/tiers/{name}` body (optional).
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TierBody {
    /// Make it the tier of clients without a known key.
    #[serde(default)]
    default: bool,
}

pub(crate) async fn put_tier(
    State(admin): State<Control>,
    ActorName(actor): ActorName,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: TierBody = if body.iter().all(u8::is_ascii_whitespace) {
        TierBody::default()
    } else {
        json_body(&body)?
    };
    edit(&admin, &actor, &headers, |doc| {
        if !doc.tiers.contains(&name) {
            doc.tiers.push(name.clone());
        }
        if req.default {
            doc.default_tier = Some(name.clone());
        }
        Ok(())
    })
    .await
}

pub(crate) async fn delete_tier(
    State(admin): State<Control>,
    ActorName(actor): ActorName,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    edit(&admin, &actor, &headers, |doc| {
        if !doc.tiers.contains(&name) {
            return Err(ApiError::NotFound(format!("no tier is named `{name}`")));
        }
        // Clients, rules or the default that still name it make the
        // result invalid (422, naming each place).
        doc.tiers.retain(|t| *t != name);
        Ok(())
    })
    .await
}
