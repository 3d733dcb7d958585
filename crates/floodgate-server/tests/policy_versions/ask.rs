//! Asking each entry point, and reading the version off its answer.

use super::*;
use bytes::Bytes;
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::rate_limit_descriptor::Entry;
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::rate_limit::Unit;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::Code;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_client::RateLimitServiceClient;
use envoy_types::pb::envoy::service::ratelimit::v3::RateLimitRequest;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tonic::transport::Channel;

pub(crate) async fn http(
    client: &Http,
    method: &str,
    url: &str,
    headers: &[(&str, String)],
    body: Bytes,
) -> Result<(u16, http::HeaderMap, Bytes), String> {
    let mut req = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let req = req.body(Full::new(body)).unwrap();
    let resp = client.request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, headers, body))
}

pub(crate) const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

/// A valid token (ES256, the key both versions trust), as an
/// `Authorization` value. Verifying it is part of building a request from
/// the identity settings, and it takes a while: a change lands between
/// reading the settings and deciding far more often than with a request
/// built in a few microseconds.
pub(crate) fn bearer() -> String {
    let private = std::fs::read(format!("{DATA}/jwt_ec1.pem")).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("e1".into());
    let claims = serde_json::json!({ "sub": "someone", "exp": T0 / 1_000_000 + 86_400 });
    let key = jsonwebtoken::EncodingKey::from_ec_pem(&private).unwrap();
    format!(
        "Bearer {}",
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    )
}

/// Both keys, a pro client's under A's header and an unknown one under
/// B's, and a token.
pub(crate) fn identity_headers(bearer: &str) -> [(&'static str, String); 3] {
    [
        ("x-key-a", "key-pro".into()),
        ("x-key-b", "key-unknown".into()),
        ("authorization", bearer.into()),
    ]
}

/// A check of the demo endpoint carrying [`identity_headers`].
pub(crate) fn check_body(bearer: &str) -> Bytes {
    let headers: serde_json::Map<String, Value> = identity_headers(bearer)
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::from(v)))
        .collect();
    let body = serde_json::json!({
        "attributes": {
            "ip": "192.0.2.7",
            "method": "GET",
            "path": "/api/v1/data",
            "headers": headers,
        }
    });
    Bytes::from(body.to_string())
}

/// One `POST /v1/check` and the version its answer is wholly of.
pub(crate) async fn ask_check(client: Http, url: Arc<str>, body: Bytes) -> Result<Shown, String> {
    let json = [("content-type", "application/json".to_string())];
    let (status, _, body) = http(&client, "POST", &url, &json, body).await?;
    let text = String::from_utf8_lossy(&body).to_string();
    let j: Value = serde_json::from_slice(&body).map_err(|e| format!("{e}: {text}"))?;
    let version = check_version(status, &j).map_err(|why| format!("{why}: {status} {text}"))?;
    let shadows = j["shadow_limited"].as_array().is_some_and(|s| s.len() == 2);
    Ok(Shown { version, shadows })
}

pub(crate) fn check_version(status: u16, j: &Value) -> Result<Version, String> {
    if status != 200 || j["allowed"] != true {
        return Err("not allowed".into());
    }
    let rule = j["rule"].as_str().ok_or("no rule")?;
    let v = Version::BOTH
        .into_iter()
        .find(|v| v.rule() == rule)
        .ok_or("an unknown rule")?;
    // The tier says which identity settings built the request; the limit
    // which version's rules decided it.
    if j["tier"] != v.tier() {
        return Err(format!("{v:?}'s rule with the tier of the other identity"));
    }
    if j["limit"] != v.http_limit() {
        return Err(format!(
            "{v:?}'s rule with a limit not {v:?}'s for this tier"
        ));
    }
    let name = j["limit_name"].as_str().ok_or("no limit name")?;
    if Version::owning(name, Version::limit_names) != Some(v) {
        return Err(format!("{v:?}'s rule with limit `{name}`"));
    }
    for s in j["shadow_limited"].as_array().ok_or("no shadow_limited")? {
        let s = s.as_str().ok_or("a shadow limit not a string")?;
        if Version::owning(s, Version::shadow_names) != Some(v) {
            return Err(format!("{v:?}'s rule with shadow limit `{s}`"));
        }
    }
    Ok(v)
}

/// `"name";q=N;w=W` of `RateLimit-Policy`: the name and N.
pub(crate) fn policy_header(value: &str) -> Option<(&str, u64)> {
    let rest = value.strip_prefix('"')?;
    let (name, rest) = rest.split_once('"')?;
    let q = rest.strip_prefix(";q=")?.split(';').next()?.parse().ok()?;
    Some((name, q))
}

/// One request to the public listener and the version its answer is of.
pub(crate) async fn ask_gateway(
    client: Http,
    url: Arc<str>,
    bearer: Arc<str>,
) -> Result<Shown, String> {
    let headers = identity_headers(&bearer);
    let (status, headers, _) = http(&client, "GET", &url, &headers, Bytes::new()).await?;
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let version = (|| {
        if status != 200 {
            return Err("not allowed".to_string());
        }
        let policy = h("ratelimit-policy").ok_or("no RateLimit-Policy")?;
        let (name, q) = policy_header(policy).ok_or("RateLimit-Policy unreadable")?;
        let v = Version::owning(name, Version::limit_names).ok_or("an unknown limit")?;
        if q != v.http_limit() {
            return Err(format!(
                "{v:?}'s limit `{name}` at a quota {v:?} gives no request carrying both keys"
            ));
        }
        if h("x-ratelimit-limit") != Some(q.to_string().as_str()) {
            return Err("X-RateLimit-Limit is not RateLimit-Policy's".into());
        }
        Ok(v)
    })()
    .map_err(|why| format!("{why}: {status} {headers:?}"))?;
    Ok(Shown {
        version,
        shadows: false,
    })
}

pub(crate) fn grpc_request() -> RateLimitRequest {
    let d = |key: &str| RateLimitDescriptor {
        entries: vec![Entry {
            key: key.into(),
            value: "v".into(),
        }],
        ..RateLimitDescriptor::default()
    };
    RateLimitRequest {
        domain: "edge".into(),
        descriptors: vec![d("one"), d("two")],
        hits_addend: 0,
    }
}

/// One `ShouldRateLimit` of two descriptors, each matching a rule of
/// its own, and the version all its statuses are of.
pub(crate) async fn ask_grpc(mut client: RateLimitServiceClient<Channel>) -> Result<Shown, String> {
    let r = client
        .should_rate_limit(grpc_request())
        .await
        .map_err(|e| e.to_string())?
        .into_inner();
    let version = (|| {
        if r.overall_code != Code::Ok as i32 || r.statuses.len() != 2 {
            return Err("not OK with two statuses".to_string());
        }
        let mut versions = Vec::new();
        for (i, st) in r.statuses.iter().enumerate() {
            let limit = st.current_limit.as_ref().ok_or("no current_limit")?;
            let v = Version::owning(&limit.name, Version::descriptor_names)
                .ok_or("an unknown limit")?;
            if limit.name != v.descriptor_names()[i]
                || u64::from(limit.requests_per_unit) != v.descriptor_limit(i)
                || limit.unit != Unit::Hour as i32
            {
                return Err(format!("status {i} is not {v:?}'s limit"));
            }
            versions.push(v);
        }
        let header = r
            .response_headers_to_add
            .iter()
            .find(|h| h.key.eq_ignore_ascii_case("RateLimit-Policy"))
            .ok_or("no RateLimit-Policy")?;
        let (name, q) = policy_header(&header.value).ok_or("RateLimit-Policy unreadable")?;
        let v = Version::owning(name, Version::descriptor_limit_names)
            .ok_or("RateLimit-Policy names an unknown limit")?;
        let i = usize::from(name == v.descriptor_limit_names()[1]);
        if q != v.descriptor_limit(i) {
            return Err("RateLimit-Policy's quota is not its limit's".into());
        }
        versions.push(v);
        if versions.iter().any(|v| *v != versions[0]) {
            return Err(format!("versions mixed: {versions:?}"));
        }
        Ok(versions[0])
    })()
    .map_err(|why| format!("{why}: {r:?}"))?;
    Ok(Shown {
        version,
        shadows: false,
    })
}
