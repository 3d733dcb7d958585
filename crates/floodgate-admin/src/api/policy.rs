//! `GET`/`PUT /v1/policy`, `POST /v1/policy/validate`,
//! `GET /v1/policy/history`, `POST /v1/policy/rollback`.

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use floodgate_config::{PolicyDocument, Source};
use floodgate_core::Policy;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::extract::{committed, if_match, json_body, tagged, ActorName};
use crate::control::Control;

/// `?format=yaml`.
#[derive(Deserialize)]
pub(crate) struct Format {
    #[serde(default)]
    format: Option<String>,
}

fn wants_yaml(q: &Format) -> Result<bool, ApiError> {
    match q.format.as_deref() {
        None | Some("json") => Ok(false),
        Some("yaml") => Ok(true),
        Some(f) => Err(ApiError::BadRequest(format!(
            "format `{f}`: use json or yaml"
        ))),
    }
}

/// A policy document from a request body: JSON, or YAML when the content
/// type says so; validated against the body's own text, so errors carry
/// its lines and JSON paths. The policy it validated into comes with it.
pub(crate) fn document_from_body(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(PolicyDocument, Policy), ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::BadRequest("the body is not UTF-8".into()))?;
    let yaml = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.contains("yaml"));
    let doc = if yaml {
        PolicyDocument::from_yaml("request body", text)?
    } else {
        // Not JSON, or not an object: 400; a field wrong: 422.
        super::extract::object_body(body)?;
        PolicyDocument::from_json("request body", text).map_err(
            |e| match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
                Err(syntax) => ApiError::BadRequest(format!("invalid JSON body: {syntax}")),
                Ok(_) => ApiError::from(e),
            },
        )?
    };
    let policy = doc.validate_all(&Source {
        name: "request body",
        text,
    })?;
    Ok((doc, policy))
}

pub(crate) async fn get_policy(
    State(admin): State<Control>,
    Query(q): Query<Format>,
) -> Result<Response, ApiError> {
    let yaml = wants_yaml(&q)?;
    let (version, doc) = admin.live.snapshot().await;
    let r = if yaml {
        let text =
            serde_yaml_ng::to_string(&doc).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let mut r = Response::new(Body::from(text));
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/yaml"),
        );
        r
    } else {
        Json(doc).into_response()
    };
    Ok(tagged(r, version))
}

pub(crate) async fn put_policy(
    State(admin): State<Control>,
    ActorName(actor): ActorName,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let expected = if_match(&headers)?.ok_or(ApiError::PreconditionRequired)?;
    let (doc, policy) = document_from_body(&headers, &body)?;
    let done = admin
        .live
        .commit(&actor, Some(expected), doc, policy)
        .await?;
    Ok(committed(done))
}

pub(crate) async fn validate_policy(
    State(admin): State<Control>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (doc, policy) = document_from_body(&headers, &body)?;
    let diff = admin.live.dry_run(&doc, &policy).await?;
    Ok(
        Json(json!({ "valid": true, "version": admin.live.version(), "diff": diff }))
            .into_response(),
    )
}

pub(crate) async fn history(State(admin): State<Control>) -> Result<Response, ApiError> {
    let entries: Vec<_> = admin
        .live
        .history()
        .await?
        .into_iter()
        .map(|h| {
            json!({
                "version": h.version,
                "kind": if h.document.is_some() { "policy" } else { "clients" },
                "time": h.time,
                "actor": h.actor,
                "summary": h.summary,
            })
        })
        .collect();
    Ok(crate::response::json(
        StatusCode::OK,
        json!({ "version": admin.live.version(), "history": entries }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rollback {
    version: u64,
}

pub(crate) async fn rollback(
    State(admin): State<Control>,
    ActorName(actor): ActorName,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: Rollback = json_body(&body)?;
    let expected = if_match(&headers)?;
    let done = admin.live.rollback(&actor, req.version, expected).await?;
    Ok(committed(done))
}
