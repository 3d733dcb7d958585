//! JSON responses: the shape of every answer Floodgate gives itself (the
//! 429 of [`headers`](crate::headers), the 401 and 503 of a request that
//! cannot be decided, and the server's own error answers).

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Response, StatusCode};

/// A response of `status` with `body` as `application/json`.
pub fn json_response<B: From<Bytes>>(status: StatusCode, body: String) -> Response<B> {
    let mut r = Response::new(B::from(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// A JSON error body: `{"error": code, "message": message}`.
pub fn error_body(code: &str, message: &str) -> String {
    serde_json::json!({ "error": code, "message": message }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_compact_json_with_code_then_message() {
        assert_eq!(
            error_body("unauthorized", "an API key is required"),
            r#"{"error":"unauthorized","message":"an API key is required"}"#
        );
        // Quotes in a message are escaped, not trusted.
        assert_eq!(
            error_body("x", r#"say "hi""#),
            r#"{"error":"x","message":"say \"hi\""}"#
        );
    }

    #[test]
    fn json_responses_carry_status_type_and_body() {
        let r: Response<Bytes> = json_response(StatusCode::IM_A_TEAPOT, "{}".into());
        assert_eq!(r.status(), StatusCode::IM_A_TEAPOT);
        assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(r.body().as_ref(), b"{}");
    }
}
