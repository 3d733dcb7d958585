//! API keys: `POST /v1/clients` creates one (generated when none is given,
//! shown once in the answer, kept only as its SHA-256), `GET` lists them
//! (fingerprints, tiers, names; never keys), `PATCH` changes a tier or
//! name, `DELETE` revokes (the key is unknown from then on).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::sync::Arc;

use floodgate_config::{ClientDocument, PolicyDocument};
use floodgate_core::policy::{fingerprint_of, key_digest};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::extract::{edit, if_match, json_body, tagged, ActorName};
use crate::control::Control;
use crate::live::Undo;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new API key: `fg_` and 32 random bytes in hex.
fn generate_key() -> Result<String, ApiError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b)
        .map_err(|e| ApiError::Unavailable(format!("no randomness for a new key: {e}")))?;
    Ok(format!("fg_{}", hex(&b)))
}

/// The fingerprint of a client as kept (its digest's first 8 bytes).
fn fingerprint_of_doc(c: &ClientDocument) -> Option<String> {
    match (&c.api_key_sha256, &c.api_key) {
        (Some(h), _) => h.get(..16).map(str::to_string),
        (None, Some(k)) => Some(fingerprint_of(&key_digest(k))),
        _ => None,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewClient {
    #[serde(default)]
    api_key: Option<String>,
    tier: String,
    #[serde(default)]
    name: Option<String>,
}

pub(crate) async fn create_client(
    State(admin): State<Control>,
    ActorName(actor): ActorName,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: NewClient = json_body(&body)?;
    let key = match req.api_key {
        Some(k) if k.len() < 16 || k.len() > 256 => {
            return Err(invalid_key(
                "give 16 to 256 characters, or none to have one generated",
            ))
        }
        Some(k) => k,
        None => generate_key()?,
    };
    let digest = key_digest(&key);
    let fingerprint = fingerprint_of(&digest);
    let expected = if_match(&headers)?;
    let (tier, name) = (req.tier.clone(), req.name.clone());
    let undo: Undo = {
        let fp = fingerprint.clone();
        Arc::new(move |doc: &mut PolicyDocument| {
            doc.clients
                .retain(|c| fingerprint_of_doc(c).as_deref() != Some(fp.as_str()))
        })
    };
    let done = admin
        .live
        .change_with(
            &actor,
            expected,
            |doc| {
                let fp = fingerprint.clone();
                if doc
                    .clients
                    .iter()
                    .any(|c| fingerprint_of_doc(c).as_deref() == Some(&fp))
                {
                    return Err(invalid_key("this API key is already a client"));
                }
                doc.clients.push(ClientDocument {
                    api_key: None,
                    api_key_sha256: Some(hex(&digest)),
                    tier: tier.clone(),
                    name: name.clone(),
                });
                Ok(())
            },
            // A creation refused with 503 must not come back when the
            // store answers again: nobody was shown its key.
            Some(undo),
        )
        .await?;
    let r = (
        StatusCode::CREATED,
        Json(json!({
            "api_key": key,
            "fingerprint": fingerprint,
            "tier": req.tier,
            "name": req.name,
            "version": done.version,
        })),
    );
    Ok(tagged(r, done.version))
}

/// The 422 of an `api_key` the policy cannot take.
fn invalid_key(message: &str) -> ApiError {
    ApiError::Invalid(vec![floodgate_config::ConfigError {
        file: "request body".into(),
        line: 0,
        column: 0,
        field: "api_key".into(),
        message: message.into(),
    }])
}

fn client_json(c: &ClientDocument) -> serde_json::Value {
    json!({ "fingerprint": fingerprint_of_doc(c), "tier": c.tier, "name": c.name })
}

pub(crate) async fn list_clients(State(admin): State<Control>) -> Response {
    let (version, doc) = admin.live.snapshot().await;
    let list: Vec<_> = doc.clients.iter().map(client_json).collect();
    tagged(Json(json!({ "clients": list })), version)
}

pub(crate) async fn get_client(
    State(admin): State<Control>,
    Path(fp): Path<String>,
) -> Result<Response, ApiError> {
    let (_, doc) = admin.live.snapshot().await;
    doc.clients
        .iter()
        .find(|c| fingerprint_of_doc(c).as_deref() == Some(&fp))
        .map(|c| Json(client_json(c)).into_response())
        .ok_or_else(|| ApiError::NotFound(format!("no client has the fingerprint `{fp}`")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientPatch {
    #[serde(default)]
    tier: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

pub(crate) async fn patch_client(
    State(admin): State<Control>,
    ActorName(actor): ActorName,
    Path(fp): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let patch: ClientPatch = json_body(&body)?;
    edit(&admin, &actor, &headers, |doc| {
        let c = doc
            .clients
            .iter_mut()
            .find(|c| fingerprint_of_doc(c).as_deref() == Some(&fp))
            .ok_or_else(|| ApiError::NotFound(format!("no client has the fingerprint `{fp}`")))?;
        if let Some(t) = &patch.tier {
            c.tier.clone_from(t);
        }
        if let Some(n) = &patch.name {
            c.name = Some(n.clone());
        }
        Ok(())
    })
    .await
}

pub(crate) async fn delete_client(
    State(admin): State<Control>,
    ActorName(actor): ActorName,
    Path(fp): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    edit(&admin, &actor, &headers, |doc| {
        let before = doc.clients.len();
        doc.clients
            .retain(|c| fingerprint_of_doc(c).as_deref() != Some(&fp));
        if doc.clients.len() == before {
            return Err(ApiError::NotFound(format!(
                "no client has the fingerprint `{fp}`"
            )));
        }
        Ok(())
    })
    .await
}
