//! HTTP to the admin API: the bearer token on every request, one deadline
//! for connecting and answering, and path segments and query values
//! percent-encoded (identities hold `:`, `|` and spaces).

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use super::error::{CliError, Refusal};

/// A body to send, with its content type.
pub struct Body {
    content_type: &'static str,
    bytes: Vec<u8>,
}

impl Body {
    /// A JSON body.
    pub fn json(v: &Value) -> Body {
        Body {
            content_type: "application/json",
            bytes: v.to_string().into_bytes(),
        }
    }

    /// A policy document as written, YAML or JSON.
    pub fn document(text: &str, yaml: bool) -> Body {
        Body {
            content_type: if yaml {
                "application/yaml"
            } else {
                "application/json"
            },
            bytes: text.as_bytes().to_vec(),
        }
    }
}

/// A 2xx answer.
pub struct Answer {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> Result<Value, CliError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            CliError::Unreachable(format!("the admin API answered something not JSON: {e}"))
        })
    }

    /// The policy version its `ETag` names.
    pub fn version(&self) -> Option<u64> {
        let tag = self.headers.get(http::header::ETAG)?.to_str().ok()?;
        tag.trim_start_matches("W/").trim_matches('"').parse().ok()
    }
}

/// The admin API at one URL. Deliberately not `Debug`: it holds the token.
pub struct Client {
    base: String,
    token: Option<HeaderValue>,
    timeout: Duration,
    http: hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>,
    /// Whether the unchecked-token note was written already.
    told: std::sync::atomic::AtomicBool,
}

impl Client {
    /// For `url` (`http://host:port`, optionally with a path prefix).
    pub fn new(url: &str, token: Option<&str>, timeout: Duration) -> Result<Client, CliError> {
        let base = url.trim().trim_end_matches('/');
        let uri: http::Uri = base
            .parse()
            .map_err(|e| CliError::Usage(format!("--url `{base}`: {e}")))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(CliError::Usage(format!(
                    "--url `{base}`: https is not supported; reach the admin listener over http (e.g. through an SSH tunnel)"
                )))
            }
            _ => {
                return Err(CliError::Usage(format!(
                    "--url `{base}`: give http://host:port"
                )))
            }
        }
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or("");
        if authority.is_empty() {
            return Err(CliError::Usage(format!("--url `{base}`: no host")));
        }
        if authority.contains('@') {
            return Err(CliError::Usage(
                "--url: leave credentials out of the URL; give the token with --token or FLOODGATE_ADMIN_TOKEN".into(),
            ));
        }
        if uri.query().is_some() {
            return Err(CliError::Usage(format!("--url `{base}`: no query, please")));
        }
        let token = match token.map(str::trim).filter(|t| !t.is_empty()) {
            None => None,
            Some(t) => {
                let mut v = HeaderValue::from_str(&format!("Bearer {t}")).map_err(|_| {
                    CliError::Usage("--token: the token holds characters a header cannot".into())
                })?;
                v.set_sensitive(true);
                Some(v)
            }
        };
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        let http =
            hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector);
        Ok(Client {
            base: base.to_string(),
            token,
            timeout,
            http,
            told: Default::default(),
        })
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<Answer, CliError> {
        self.send(Method::GET, path, None, None).await
    }

    /// Sends a request; a non-2xx answer is a [`CliError::Refused`].
    /// `path` holds its query, already encoded ([`path`], [`query`]).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Body>,
        if_match: Option<u64>,
    ) -> Result<Answer, CliError> {
        let url = format!("{}{path}", self.base);
        let mut req = Request::builder().method(method).uri(&url);
        if let Some(t) = &self.token {
            req = req.header(http::header::AUTHORIZATION, t.clone());
        }
        if let Some(v) = if_match {
            req = req.header(http::header::IF_MATCH, format!("\"{v}\""));
        }
        let bytes = match body {
            Some(b) => {
                req = req.header(http::header::CONTENT_TYPE, b.content_type);
                b.bytes
            }
            None => Vec::new(),
        };
        let req = req
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|e| CliError::Usage(format!("{url}: {e}")))?;
        let exchange = async {
            let resp = self.http.request(req).await.map_err(|e| {
                CliError::Unreachable(format!(
                    "cannot reach the admin API at {url}: {}",
                    chain(&e)
                ))
            })?;
            let (parts, body) = resp.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| {
                    CliError::Unreachable(format!("{url}: the answer broke off: {}", chain(&e)))
                })?
                .to_bytes();
            Ok::<_, CliError>((parts, body))
        };
        let (parts, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| {
                CliError::Unreachable(format!(
                    "no answer from the admin API at {url} within {:?}",
                    self.timeout
                ))
            })??;
        if !parts.status.is_success() {
            return Err(CliError::Refused(Refusal::from_answer(parts.status, &body)));
        }
        self.tell_if_unchecked(&parts.headers);
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

impl Client {
    /// A token sent to a server without admin tokens is not checked: the
    /// server says so (`floodgate-actor`), and so does the CLI, once, on
    /// stderr.
    fn tell_if_unchecked(&self, headers: &http::HeaderMap) {
        let unchecked = headers
            .get("floodgate-actor")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("not checked"));
        if unchecked
            && self.token.is_some()
            && !self.told.swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            super::output::note(
                "note: the server has no admin tokens configured: your token was not checked, \
                 and you act as `anonymous` (with the admin role)\n",
            );
        }
    }
}

/// An error and its causes, `: `-joined (hyper's own message alone says
/// only "client error (Connect)").
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// Percent-encodes all but RFC 3986's unreserved characters, so a value is
/// one path segment or one query value whatever it holds.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `/seg/seg/…`, each segment encoded.
pub fn path(segments: &[&str]) -> String {
    segments.iter().map(|s| format!("/{}", encode(s))).collect()
}

/// `?k=v&…`, each value encoded.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let q: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    format!("?{}", q.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_stay_one_segment_and_one_value() {
        assert_eq!(
            path(&["v1", "overrides", "api", "u:al ice|k:ab/c"]),
            "/v1/overrides/api/u%3Aal%20ice%7Ck%3Aab%2Fc"
        );
        assert_eq!(
            query(&[("rule", "a&b"), ("key", "i:1.2.3.4|u:x+y")]),
            "?rule=a%26b&key=i%3A1.2.3.4%7Cu%3Ax%2By"
        );
        assert_eq!(encode("é"), "%C3%A9");
    }

    #[test]
    fn urls_are_checked_before_anything_is_sent() {
        let t = Duration::from_secs(1);
        for bad in [
            "https://h:1",
            "ftp://h",
            "127.0.0.1:9090",
            "http://u:p@h:1",
            "http://h:1/?x=1",
        ] {
            assert!(
                matches!(Client::new(bad, None, t), Err(CliError::Usage(_))),
                "{bad}"
            );
        }
        let c = Client::new("http://h:1/prefix/", Some("t"), t).unwrap();
        assert_eq!(c.base, "http://h:1/prefix");
        assert!(matches!(
            Client::new("http://h:1", Some("a\nb"), t),
            Err(CliError::Usage(_))
        ));
    }
}
