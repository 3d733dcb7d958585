//! What every admin API route reads of a request (who asks, `If-Match`,
//! a JSON body) and how a change is answered (the new version as `ETag`).

use axum::extract::FromRequestParts;
use http::request::Parts;
use http::{HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::control::Control;

/// Who asks: the admin token's name (`anonymous` without tokens).
pub struct ActorName(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ActorName {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ActorName(
            parts
                .extensions
                .get::<crate::auth::Actor>()
                .map_or_else(|| "anonymous".to_string(), |a| a.name.clone()),
        ))
    }
}

/// The version `If-Match` names (`"7"`, `7` or `W/"7"`); `None` without
/// the header.
pub fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(v) = headers.get(http::header::IF_MATCH) else {
        return Ok(None);
    };
    let text = v.to_str().unwrap_or("").trim();
    let bare = text.trim_start_matches("W/").trim_matches('"');
    bare.parse().map(Some).map_err(|_| {
        ApiError::BadRequest(format!(
            "If-Match `{text}` is not a policy version (GET /v1/policy gives it as ETag)"
        ))
    })
}

/// An `ETag` for `version`.
pub fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("digits are a valid header")
}

/// Edits the live policy with `f` (checking `If-Match` when sent) and
/// answers the change.
pub async fn edit(
    admin: &Control,
    actor: &str,
    headers: &HeaderMap,
    f: impl Fn(&mut floodgate_config::PolicyDocument) -> Result<(), ApiError>,
) -> Result<axum::response::Response, ApiError> {
    let expected = if_match(headers)?;
    Ok(committed(admin.live.change(actor, expected, f).await?))
}

/// The answer to a change: the new version and the diff, with the
/// version as `ETag`.
pub fn committed(done: crate::live::Committed) -> axum::response::Response {
    tagged(axum::Json(&done), done.version)
}

/// `answer` with `version` as its `ETag`.
pub fn tagged(answer: impl axum::response::IntoResponse, version: u64) -> axum::response::Response {
    let mut r = answer.into_response();
    r.headers_mut().insert(http::header::ETAG, etag(version));
    r
}

/// A JSON body, or a 400 naming the JSON path of what is wrong.
/// A body that is not JSON, or not an object, is a 400; one that is an
/// object but not a valid one (a field of the wrong type or value) a 422
/// naming the field. The body is parsed once.
pub fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    object_body(body)?;
    let de = &mut serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let (line, column) = (e.inner().line(), e.inner().column());
        if e.inner().classify() == serde_json::error::Category::Data {
            return invalid_field(e, line, column);
        }
        ApiError::BadRequest(format!("invalid JSON body: {}", e.inner()))
    })?;
    de.end()
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?;
    Ok(value)
}

/// A value already parsed (and perhaps amended), as `T`; a field of the
/// wrong type or value is a 422 naming it.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| invalid_field(e, 0, 0))
}

/// The 422 of a field that is not what it should be.
fn invalid_field(
    e: serde_path_to_error::Error<serde_json::Error>,
    line: usize,
    column: usize,
) -> ApiError {
    let path = e.path().to_string();
    let mut message = e.inner().to_string();
    if let Some(at) = message.rfind(" at line ") {
        message.truncate(at);
    }
    ApiError::Invalid(vec![floodgate_config::ConfigError {
        file: "request body".into(),
        line,
        column,
        field: if path == "." { String::new() } else { path },
        message,
    }])
}

/// Checks that `body` starts as a JSON object (serde would otherwise take
/// an array for a struct, field by position); the reason otherwise.
pub fn object_body(body: &[u8]) -> Result<(), ApiError> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        return Ok(());
    }
    Err(
        match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            Err(e) => ApiError::BadRequest(format!("invalid JSON body: {e}")),
            Ok(_) => ApiError::BadRequest("the body must be a JSON object".into()),
        },
    )
}
