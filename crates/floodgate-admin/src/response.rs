//! The control plane's own JSON answers: `{"error": code, "message":
//! reason}` with a status, as every admin answer that is not a result.

use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use serde_json::{json, Value};

/// The error object of an answer.
pub fn error_value(code: &str, message: &str) -> Value {
    json!({ "error": code, "message": message })
}

/// An error answer of `status`.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(error_value(code, message))).into_response()
}

/// A JSON answer of `status` with `body`.
pub fn json(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}
