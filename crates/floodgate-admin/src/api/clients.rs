//! API keys, kept apart from the policy document (each change a small
//! record; see `live::clients`): `POST /v1/clients` creates one (generated
//! when none is given, shown once in the answer, kept only as its
//! SHA-256), `GET` lists them a page at a time (fingerprints, tiers, names;
//! never keys), `PATCH` changes a tier or name, `DELETE` revokes (the key
//! is unknown from then on); `POST /v1/clients/import` adds or changes many
//! at once, `GET /v1/clients/export` gives them all (digests only).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;

use floodgate_config::ConfigError;
use floodgate_core::policy::{fingerprint_of, key_digest};
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::extract::{json_body, ActorName};
use crate::control::Control;
use crate::live::clients::{hex_of, ClientRecord};

/// A page holds at most this many clients.
pub const MAX_PAGE: usize = 1000;
/// A page's size when `limit` is not given.
pub const DEFAULT_PAGE: usize = 100;
/// An import takes at most this many clients per request.
pub const MAX_IMPORT: usize = 10_000;

/// A new API key: `fg_` and 32 random bytes in hex.
fn generate_key() -> Result<String, ApiError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b)
        .map_err(|e| ApiError::Unavailable(format!("no randomness for a new key: {e}")))?;
    Ok(format!("fg_{}", hex_of(&b)))
}

/// The 422 of a field of the request body.
fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::Invalid(vec![ConfigError {
        file: "request body".into(),
        line: 0,
        column: 0,
        field: field.into(),
        message: message.into(),
    }])
}

/// A key a client may be given: 16 to 256 characters.
fn check_key(key: &str, field: &str) -> Result<(), ApiError> {
    if key.len() < 16 || key.len() > 256 {
        return Err(invalid(
            field,
            "give 16 to 256 characters, or none to have one generated",
        ));
    }
    Ok(())
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
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: NewClient = json_body(&body)?;
    let key = match req.api_key {
        Some(k) => {
            check_key(&k, "api_key")?;
            k
        }
        None => generate_key()?,
    };
    let digest = key_digest(&key);
    let record = ClientRecord {
        api_key_sha256: hex_of(&digest),
        tier: req.tier.clone(),
        name: req.name.clone(),
    };
    let seq = admin.live.create_client(&actor, record).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "api_key": key,
            "fingerprint": fingerprint_of(&digest),
            "tier": req.tier,
            "name": req.name,
            "seq": seq,
        })),
    )
        .into_response())
}

/// `GET /v1/clients`'s query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Only this tier's.
    #[serde(default)]
    tier: Option<String>,
    /// Fingerprints starting with it, or names containing it (any case).
    #[serde(default)]
    q: Option<String>,
    /// At most this many (1 to [`MAX_PAGE`]).
    #[serde(default)]
    limit: Option<usize>,
    /// The page after this fingerprint (the last page's `next`).
    #[serde(default)]
    after: Option<String>,
}

pub(crate) async fn list_clients(
    State(admin): State<Control>,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1 to {MAX_PAGE}"
        )));
    }
    let needle = query.q.as_deref().map(str::to_lowercase);
    let matching: Vec<_> = admin
        .live
        .clients()
        .into_iter()
        .filter(|(fp, tier, name)| {
            query.tier.as_deref().is_none_or(|t| t == tier)
                && needle.as_deref().is_none_or(|q| {
                    fp.starts_with(q)
                        || name
                            .as_deref()
                            .is_some_and(|n| n.to_lowercase().contains(q))
                })
        })
        .collect();
    let total = matching.len();
    let start = match &query.after {
        Some(a) => matching.partition_point(|(fp, _, _)| fp.as_str() <= a.as_str()),
        None => 0,
    };
    let page = &matching[start..(start + limit).min(total)];
    let next = (start + limit < total).then(|| page.last().map(|(fp, _, _)| fp.clone()));
    let list: Vec<_> = page
        .iter()
        .map(|(fp, tier, name)| json!({ "fingerprint": fp, "tier": tier, "name": name }))
        .collect();
    Ok(Json(json!({
        "clients": list,
        "total": total,
        "next": next.flatten(),
        "seq": admin.live.clients_seq(),
    }))
    .into_response())
}

/// The record of the client whose fingerprint is `fp`.
fn find(admin: &Control, fp: &str) -> Result<ClientRecord, ApiError> {
    admin
        .live
        .client_records()
        .into_iter()
        .find(|r| r.api_key_sha256.get(..16) == Some(fp))
        .ok_or_else(|| ApiError::NotFound(format!("no client has the fingerprint `{fp}`")))
}

fn client_json(r: &ClientRecord) -> serde_json::Value {
    json!({ "fingerprint": r.api_key_sha256.get(..16), "tier": r.tier, "name": r.name })
}

pub(crate) async fn get_client(
    State(admin): State<Control>,
    Path(fp): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(client_json(&find(&admin, &fp)?)).into_response())
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
    body: Bytes,
) -> Result<Response, ApiError> {
    let patch: ClientPatch = json_body(&body)?;
    let mut r = find(&admin, &fp)?;
    if let Some(t) = patch.tier {
        r.tier = t;
    }
    if let Some(n) = patch.name {
        r.name = Some(n);
    }
    let seq = admin.live.update_client(&actor, r.clone()).await?;
    let mut out = client_json(&r);
    out["seq"] = json!(seq);
    Ok(Json(out).into_response())
}

pub(crate) async fn delete_client(
    State(admin): State<Control>,
    ActorName(actor): ActorName,
    Path(fp): Path<String>,
) -> Result<Response, ApiError> {
    let r = find(&admin, &fp)?;
    let seq = admin.live.delete_client(&actor, &r.api_key_sha256).await?;
    Ok(Json(json!({ "fingerprint": fp, "revoked": true, "seq": seq })).into_response())
}

/// One client of an import: its key in clear or its SHA-256.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportedClient {
    #[serde(default)]
    api_key: Option<String>,
    #[serde(default)]
    api_key_sha256: Option<String>,
    tier: String,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Import {
    clients: Vec<ImportedClient>,
}

pub(crate) async fn import_clients(
    State(admin): State<Control>,
    ActorName(actor): ActorName,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: Import = json_body(&body)?;
    if req.clients.len() > MAX_IMPORT {
        return Err(invalid(
            "clients",
            &format!("at most {MAX_IMPORT} clients per request: send them in parts"),
        ));
    }
    let mut records = Vec::with_capacity(req.clients.len());
    for (i, c) in req.clients.into_iter().enumerate() {
        let hex = match (c.api_key, c.api_key_sha256) {
            (Some(k), None) => {
                check_key(&k, &format!("clients[{i}].api_key"))?;
                hex_of(&key_digest(&k))
            }
            (None, Some(h)) => h,
            _ => {
                return Err(invalid(
                    &format!("clients[{i}]"),
                    "give `api_key` or `api_key_sha256`, not both",
                ))
            }
        };
        records.push(ClientRecord {
            api_key_sha256: hex,
            tier: c.tier,
            name: c.name,
        });
    }
    let done = admin.live.import_clients(&actor, records).await?;
    Ok(Json(done).into_response())
}

pub(crate) async fn export_clients(State(admin): State<Control>) -> Response {
    Json(json!({
        "clients": admin.live.client_records(),
        "seq": admin.live.clients_seq(),
    }))
    .into_response()
}
