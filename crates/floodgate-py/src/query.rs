//! A request as the Python side states it: by its attributes
//! ([`Query`], `Limiter.check`), or as an HTTP request seen by the
//! middleware ([`HttpQuery`]: the socket peer and the headers, the client
//! IP found through the trusted proxies as the gateway finds it).

use std::net::IpAddr;

use floodgate_core::policy::Attributes;

/// A request stated by its attributes, its client IP already resolved
/// (as `POST /v1/check` takes one).
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// The client IP.
    pub ip: Option<IpAddr>,
    /// The method (`GET` when absent).
    pub method: Option<String>,
    /// The path, starting with `/` (a query is cut off).
    pub path: String,
    /// The API key; wins over the policy's API key header.
    pub api_key: Option<String>,
    /// The user; wins over the policy's user header.
    pub user: Option<String>,
    /// Request headers (any case).
    pub headers: Vec<(String, String)>,
    /// The cost (1 when absent).
    pub cost: Option<u64>,
}

impl Query {
    /// The attributes the engine builds a request from.
    pub fn attributes(&self) -> Attributes<'_> {
        Attributes {
            ip: self.ip,
            method: self.method.as_deref(),
            path: &self.path,
            api_key: self.api_key.as_deref(),
            user: self.user.as_deref(),
            headers: self
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
        }
    }
}

/// An HTTP request as a server sees it.
#[derive(Clone, Debug, Default)]
pub struct HttpQuery {
    /// The socket peer; the client unless it is a trusted proxy.
    pub peer: Option<IpAddr>,
    /// The method.
    pub method: String,
    /// The path (a query is cut off).
    pub path: String,
    /// The request headers (any case; a name may repeat).
    pub headers: Vec<(String, String)>,
    /// The cost (1 when absent).
    pub cost: Option<u64>,
}

impl HttpQuery {
    /// The headers as an [`http::HeaderMap`]; names or values that are not
    /// valid HTTP are left out, as a server would have refused them.
    pub fn header_map(&self) -> http::HeaderMap {
        let mut map = http::HeaderMap::with_capacity(self.headers.len());
        for (k, v) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(k.as_bytes()),
                http::HeaderValue::from_str(v),
            ) {
                map.append(name, value);
            }
        }
        map
    }
}
