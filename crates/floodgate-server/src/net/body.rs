//! What a listener answers itself: a JSON 413 past `max_body`, and a JSON
//! body on every other error the routers produce as plain text or nothing
//! (axum's 405 and extractor rejections).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use floodgate_tower::response::{error_body, json_response};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::StatusCode;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::shared::Shared;

/// The 413 past `max` bytes.
pub(crate) fn too_large(max: u64) -> Response {
    json_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        error_body(
            "payload_too_large",
            &format!("the request body is larger than {max} bytes"),
        ),
    )
}

/// The 400 to a request whose body could not be read (`why`).
pub(crate) fn cut_short(why: impl std::fmt::Display) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        error_body(
            "bad_request",
            &format!("failed to read the request body: {why}"),
        ),
    )
}

/// The body length a request's `Content-Length` declares, if any.
pub(crate) fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// Refuses a body over `max_body`: at once when `Content-Length` says
/// so, else when the handler reads past it.
pub(crate) async fn limit_body(
    State(shared): State<Arc<Shared>>,
    req: Request,
    next: Next,
) -> Response {
    let max = shared.limits.max_body;
    let declared = declared_length(req.headers());
    if declared.is_some_and(|n| n > max) {
        shared.body_too_large(declared);
        return super::linger::draining(too_large(max), req.into_body());
    }
    let tripped = Arc::new(AtomicBool::new(false));
    let flag = tripped.clone();
    let limit = usize::try_from(max).unwrap_or(usize::MAX);
    let req = req.map(|body| {
        Body::new(Limited::new(body, limit).map_err(move |e| {
            if e.downcast_ref::<LengthLimitError>().is_some() {
                flag.store(true, Ordering::Relaxed);
            }
            e
        }))
    });
    let resp = next.run(req).await;
    if tripped.load(Ordering::Relaxed) {
        // The body was cut short: whatever the handler made of that, the
        // answer is the 413.
        shared.body_too_large(None);
        return too_large(max);
    }
    resp
}

/// The code of a JSON error body for `status`.
pub(crate) fn error_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        411 => "length_required",
        413 => "payload_too_large",
        414 => "uri_too_long",
        415 => "unsupported_media_type",
        422 => "unprocessable_entity",
        429 => "too_many_requests",
        431 => "request_header_fields_too_large",
        500 => "internal_error",
        502 => "bad_gateway",
        503 => "service_unavailable",
        504 => "gateway_timeout",
        s if s < 500 => "client_error",
        _ => "server_error",
    }
}

/// Longest plain-text error kept as the message.
const MAX_MESSAGE: usize = 1024;

/// Gives every 4xx/5xx answer that is not JSON (nor an HTML page: the
/// dashboard's login answers its refusals as a page) a JSON body
/// `{"error": code, "message": ...}`, keeping its status and headers
/// (`Allow` on a 405). The message is the plain text if there was one.
/// Not for the gateway, whose upstream's answers pass as they are.
pub(crate) async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let kept = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if !(status.is_client_error() || status.is_server_error()) || kept {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = match Limited::new(body, MAX_MESSAGE).collect().await {
        Ok(b) => String::from_utf8_lossy(&b.to_bytes()).trim().to_string(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    let json: Response = json_response(status, error_body(error_code(status), &message));
    parts.headers.remove(CONTENT_LENGTH);
    let (json_parts, body) = json.into_parts();
    parts.headers.extend(json_parts.headers);
    Response::from_parts(parts, body)
}
