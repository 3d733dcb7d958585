//! The built-in demo endpoints served when there is no upstream.

use axum::routing::get;
use axum::{Json, Router};
use floodgate_tower::response::{error_body, json_response};
use http::StatusCode;
use serde_json::{json, Value};

async fn data() -> Json<Value> {
    Json(json!({
        "data": [
            { "id": 1, "name": "alpha" },
            { "id": 2, "name": "beta" },
            { "id": 3, "name": "gamma" }
        ],
        "message": "Demo data from Floodgate. Set `upstream` to protect your own API."
    }))
}

async fn resource() -> Json<Value> {
    Json(json!({ "resource": "demo", "status": "ok" }))
}

async fn not_found() -> http::Response<axum::body::Body> {
    json_response(
        StatusCode::NOT_FOUND,
        error_body(
            "not_found",
            "No such endpoint. Try GET /api/v1/data or GET /resource.",
        ),
    )
}

/// `GET /api/v1/data` and `GET /resource`.
pub fn router() -> Router {
    Router::new()
        .route("/api/v1/data", get(data))
        .route("/resource", get(resource))
        .fallback(not_found)
}
