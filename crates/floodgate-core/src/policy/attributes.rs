//! A request stated by its attributes (the decision API, `simulate`, the
//! load generator's replay): checked one way, then built into the
//! [`Request`] the engine decides.

use std::collections::HashMap;
use std::net::IpAddr;

use super::identity::{Origin, Request};
use super::model::Identity;
use super::verdict::CheckError;

/// The largest cost one request may state.
pub const MAX_COST: u64 = 1 << 40;

/// What is stated of a request. Its strings borrow from the caller.
#[derive(Clone, Debug, Default)]
pub struct Attributes<'a> {
    /// Client IP, already resolved (no proxy walk here).
    pub ip: Option<IpAddr>,
    /// HTTP method (`GET` when absent).
    pub method: Option<&'a str>,
    /// Path, with or without a query; it must start with `/`.
    pub path: &'a str,
    /// API key; wins over the policy's API key header.
    pub api_key: Option<&'a str>,
    /// User; wins over the policy's user header.
    pub user: Option<&'a str>,
    /// Request headers.
    pub headers: Headers<'a>,
}

/// Request headers by lower-cased name.
#[derive(Clone, Debug, Default)]
pub struct Headers<'a>(HashMap<String, &'a str>);

impl<'a> Headers<'a> {
    /// The value of the header named `name` (lower case).
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.0.get(name).copied()
    }
}

impl<'a, K: AsRef<str>> FromIterator<(K, &'a str)> for Headers<'a> {
    /// Headers from `(name, value)` pairs, names in any case.
    fn from_iter<I: IntoIterator<Item = (K, &'a str)>>(pairs: I) -> Self {
        Headers(
            pairs
                .into_iter()
                .map(|(k, v)| (k.as_ref().to_ascii_lowercase(), v))
                .collect(),
        )
    }
}

/// Attributes that cannot make a request. The messages are the decision
/// API's answers.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AttributeError {
    /// A cost of 0 or above [`MAX_COST`].
    #[error("cost must be between 1 and {MAX_COST}")]
    Cost(u64),
    /// A path that does not start with `/`.
    #[error("attributes.path must start with /, got `{0}`")]
    Path(String),
    /// A method that is not ASCII letters.
    #[error("attributes.method `{0}` is not an HTTP method")]
    Method(String),
}

/// Why no request was built from attributes.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The attributes are malformed (a bad request).
    #[error(transparent)]
    Attributes(#[from] AttributeError),
    /// The identity settings refuse them (an invalid token).
    #[error(transparent)]
    Refused(#[from] CheckError),
}

/// `cost` when it is between 1 and [`MAX_COST`].
pub fn check_cost(cost: u64) -> Result<u64, AttributeError> {
    if cost == 0 || cost > MAX_COST {
        return Err(AttributeError::Cost(cost));
    }
    Ok(cost)
}

impl<'a> Attributes<'a> {
    /// The method, `GET` when absent.
    pub fn method(&self) -> &'a str {
        self.method.unwrap_or("GET")
    }

    /// Checks the path starts with `/` and the method is ASCII letters.
    pub fn check(&self) -> Result<(), AttributeError> {
        if !self.path.starts_with('/') {
            return Err(AttributeError::Path(self.path.to_string()));
        }
        let method = self.method();
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(AttributeError::Method(method.to_string()));
        }
        Ok(())
    }
}

impl Identity {
    /// The request `attributes` state, checked ([`Attributes::check`]) and
    /// built as [`Identity::request`] builds one, the explicit API key and
    /// user winning over their headers.
    pub fn request_from<'a>(
        &self,
        attributes: &Attributes<'a>,
        origin: Origin,
    ) -> Result<Request<'a>, RequestError> {
        attributes.check()?;
        let a = attributes;
        let lookup = |name: &str| {
            if name == self.api_key_header && a.api_key.is_some() {
                return a.api_key;
            }
            if name == self.user_header && a.user.is_some() {
                return a.user;
            }
            a.headers.get(name)
        };
        Ok(self.request(a.ip, a.method(), a.path, lookup, origin)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(path: &str) -> Attributes<'_> {
        Attributes {
            path,
            ..Attributes::default()
        }
    }

    #[test]
    fn costs_are_bounded_with_the_decision_apis_message() {
        assert_eq!(check_cost(1), Ok(1));
        assert_eq!(check_cost(MAX_COST), Ok(MAX_COST));
        for bad in [0, MAX_COST + 1] {
            let e = check_cost(bad).unwrap_err();
            assert_eq!(e, AttributeError::Cost(bad));
            assert_eq!(e.to_string(), "cost must be between 1 and 1099511627776");
        }
    }

    #[test]
    fn paths_and_methods_are_checked_with_the_decision_apis_messages() {
        let id = Identity::default();
        let e = id.request_from(&attrs("x"), Origin::default()).unwrap_err();
        assert_eq!(e.to_string(), "attributes.path must start with /, got `x`");
        for method in ["", "GE T", "M-SEARCH"] {
            let a = Attributes {
                method: Some(method),
                ..attrs("/a")
            };
            let e = id.request_from(&a, Origin::default()).unwrap_err();
            assert!(matches!(
                e,
                RequestError::Attributes(AttributeError::Method(_))
            ));
            assert_eq!(
                e.to_string(),
                format!("attributes.method `{method}` is not an HTTP method")
            );
        }
        let r = id
            .request_from(&attrs("/a?q=1"), Origin::default())
            .unwrap();
        assert_eq!((r.method, r.path), ("GET", "/a"));
    }

    #[test]
    fn explicit_attributes_win_over_headers() {
        let id = Identity::default();
        let headers: Headers = [("X-Api-Key", "from-header"), ("x-user-id", "hu")]
            .into_iter()
            .collect();
        let a = Attributes {
            headers,
            ..attrs("/a")
        };
        let r = id.request_from(&a, Origin::default()).unwrap();
        assert_eq!(r.api_key, Some("from-header"));
        assert_eq!(r.user.as_deref(), Some("hu"));
        let a = Attributes {
            api_key: Some("k"),
            user: Some("u"),
            ..a
        };
        let r = id.request_from(&a, Origin::default()).unwrap();
        assert_eq!(r.api_key, Some("k"));
        assert_eq!(r.user.as_deref(), Some("u"));
    }

    #[test]
    fn the_user_header_counts_only_as_the_identity_settings_say() {
        let id = Identity {
            user_header_from: super::super::model::HeaderTrust::TrustedProxies,
            ..Identity::default()
        };
        let a = Attributes {
            user: Some("u"),
            ..attrs("/a")
        };
        let r = id.request_from(&a, Origin::default()).unwrap();
        assert_eq!(r.user, None);
        let trusted = Origin {
            peer_trusted: true,
            ..Origin::default()
        };
        let r = id.request_from(&a, trusted).unwrap();
        assert_eq!(r.user.as_deref(), Some("u"));
    }
}
