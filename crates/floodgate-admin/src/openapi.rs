//! `GET /v1/openapi.json`: the admin API as an OpenAPI 3.1 document
//! (`openapi.json` beside this file; the server's `tests/openapi/` keeps
//! it true to the router and the handlers).

use axum::body::Body;
use http::{HeaderValue, Response};

/// The document, as served.
pub const DOCUMENT: &str = include_str!("openapi.json");

/// Answers with [`DOCUMENT`].
pub async fn serve() -> Response<Body> {
    let mut r = Response::new(Body::from(DOCUMENT));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}
