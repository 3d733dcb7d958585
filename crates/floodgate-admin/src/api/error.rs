//! Errors of the admin API, as JSON answers: `{"error": code, "message":
//! reason}`, and for an invalid policy every error with its JSON path.

use axum::response::{IntoResponse, Response};
use floodgate_config::ConfigError;
use http::StatusCode;
use serde_json::json;

use crate::live::LiveError;

/// Why an admin request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// No such rule, tier, client, override or version (404).
    #[error("{0}")]
    NotFound(String),
    /// `If-Match` names another version than the live one (409).
    #[error("the live policy is at version {current}")]
    Conflict {
        /// The live version.
        current: u64,
    },
    /// A replacement without `If-Match` (428).
    #[error("send If-Match with the version you changed (GET /v1/policy gives it as ETag)")]
    PreconditionRequired,
    /// The changed policy is not valid (422); nothing changed.
    #[error("the policy is not valid")]
    Invalid(Vec<ConfigError>),
    /// Where the policy is kept cannot be reached (503); nothing changed.
    #[error("{0}")]
    Unavailable(String),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict { .. } => (StatusCode::CONFLICT, "version_mismatch"),
            ApiError::PreconditionRequired => {
                (StatusCode::PRECONDITION_REQUIRED, "precondition_required")
            }
            ApiError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_policy"),
            ApiError::Unavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "policy_store_unavailable")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let mut body = json!({ "error": code, "message": self.to_string() });
        match &self {
            ApiError::Conflict { current } => body["current_version"] = json!(current),
            ApiError::Invalid(errors) => {
                body["errors"] = errors
                    .iter()
                    .map(|e| {
                        json!({
                            "field": e.field,
                            "line": e.line,
                            "column": e.column,
                            "message": e.message,
                        })
                    })
                    .collect();
            }
            _ => {}
        }
        crate::response::json(status, body)
    }
}

impl From<LiveError> for ApiError {
    fn from(e: LiveError) -> Self {
        match e {
            LiveError::Conflict { current } => ApiError::Conflict { current },
            LiveError::Invalid(errors) => ApiError::Invalid(errors),
            LiveError::NoSuchVersion(_) => ApiError::NotFound(e.to_string()),
            LiveError::NoSuchClient => ApiError::NotFound("no such client".into()),
            LiveError::ClientExists => ApiError::Invalid(vec![ConfigError {
                file: "request body".into(),
                line: 0,
                column: 0,
                field: "api_key".into(),
                message: "this API key is already a client".into(),
            }]),
            LiveError::NotConfirmed { .. }
            | LiveError::NotKept { .. }
            | LiveError::History(_)
            | LiveError::KeptInvalid { .. } => ApiError::Unavailable(e.to_string()),
        }
    }
}

impl From<ConfigError> for ApiError {
    fn from(e: ConfigError) -> Self {
        ApiError::Invalid(vec![e])
    }
}

impl From<Vec<ConfigError>> for ApiError {
    fn from(errors: Vec<ConfigError>) -> Self {
        ApiError::Invalid(errors)
    }
}
