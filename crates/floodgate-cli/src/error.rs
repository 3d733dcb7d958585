//! Why an admin command failed, and the exit code that says so: 1 when the
//! server refused (4xx), 2 for a usage or local error, 3 when the server
//! cannot be reached or fails (5xx).

use std::fmt::Write as _;

use http::StatusCode;
use serde_json::Value;

/// The server answered, and refused.
pub const EXIT_REFUSED: u8 = 1;
/// A bad flag, a file that cannot be read, a limit that does not parse.
pub const EXIT_USAGE: u8 = 2;
/// No answer, a timeout, or a 5xx.
pub const EXIT_UNREACHABLE: u8 = 3;

/// One field of an invalid policy (a 422 answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The JSON path, e.g. `rules[0].limits[0].limit`.
    pub field: String,
    /// The line in what was sent (0 when unknown).
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

/// A non-2xx answer, as the admin API's JSON error shape gives it.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The HTTP status.
    pub status: StatusCode,
    /// The `error` code, e.g. `unauthorized`, `invalid_policy`.
    pub code: String,
    /// The `message`.
    pub message: String,
    /// The `errors` of an invalid policy.
    pub errors: Vec<FieldError>,
    /// The live version of a 409.
    pub current_version: Option<u64>,
}

impl Refusal {
    /// From a status and a body: the JSON error shape when it is one, else
    /// the start of the body (a proxy's page, say).
    pub fn from_answer(status: StatusCode, body: &[u8]) -> Refusal {
        let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let text = |k: &str| json.get(k).and_then(Value::as_str).map(str::to_string);
        let message = text("message").unwrap_or_else(|| {
            let raw = String::from_utf8_lossy(body);
            let raw: String = raw.trim().chars().take(200).collect();
            if raw.is_empty() {
                status
                    .canonical_reason()
                    .unwrap_or("no reason given")
                    .to_string()
            } else {
                raw
            }
        });
        let errors = json
            .get("errors")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .map(|e| FieldError {
                        field: e["field"].as_str().unwrap_or_default().to_string(),
                        line: e["line"].as_u64().unwrap_or(0),
                        message: e["message"].as_str().unwrap_or_default().to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Refusal {
            status,
            code: text("error").unwrap_or_else(|| "http_error".into()),
            message,
            errors,
            current_version: json.get("current_version").and_then(Value::as_u64),
        }
    }
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A usage or local error (exit 2).
    #[error("{0}")]
    Usage(String),
    /// No answer, or not in time (exit 3).
    #[error("{0}")]
    Unreachable(String),
    /// A non-2xx answer (exit 1 for 4xx, 3 otherwise).
    #[error("{}", .0.message)]
    Refused(Refusal),
}

impl CliError {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Unreachable(_) => EXIT_UNREACHABLE,
            CliError::Refused(r) if r.status.is_client_error() => EXIT_REFUSED,
            CliError::Refused(_) => EXIT_UNREACHABLE,
        }
    }

    /// What stderr shows: `error: <message>`, and for an invalid policy one
    /// line per field.
    pub fn report(&self) -> String {
        let mut s = format!("error: {self}");
        if let CliError::Refused(r) = self {
            let _ = write!(s, " ({} {})", r.status.as_u16(), r.code);
            if r.status == StatusCode::UNAUTHORIZED {
                s.push_str("\nhint: give the admin token with --token or FLOODGATE_ADMIN_TOKEN");
            }
            for e in &r.errors {
                let field = if e.field.is_empty() {
                    "(document)"
                } else {
                    &e.field
                };
                if e.line > 0 {
                    let _ = write!(s, "\n  {field} (line {}): {}", e.line, e.message);
                } else {
                    let _ = write!(s, "\n  {field}: {}", e.message);
                }
            }
        }
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_policy_lists_each_field_with_its_line() {
        let body = br#"{"error":"invalid_policy","message":"the policy is not valid","errors":[{"field":"rules[0].limits[0].limit","line":7,"column":9,"message":"must be at least 1"}]}"#;
        let e = CliError::Refused(Refusal::from_answer(StatusCode::UNPROCESSABLE_ENTITY, body));
        assert_eq!(e.exit_code(), EXIT_REFUSED);
        assert_eq!(
            e.report(),
            "error: the policy is not valid (422 invalid_policy)\n  rules[0].limits[0].limit (line 7): must be at least 1\n"
        );
    }

    #[test]
    fn a_body_that_is_not_json_still_gives_a_message_and_5xx_is_exit_3() {
        let e = CliError::Refused(Refusal::from_answer(
            StatusCode::BAD_GATEWAY,
            b"<html>bad gateway</html>",
        ));
        assert_eq!(e.exit_code(), EXIT_UNREACHABLE);
        assert!(e
            .report()
            .starts_with("error: <html>bad gateway</html> (502 http_error)"));
        let e = CliError::Refused(Refusal::from_answer(StatusCode::CONFLICT, b""));
        assert_eq!(e.to_string(), "Conflict");
    }
}
