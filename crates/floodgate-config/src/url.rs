//! The form of a Redis URL in `store:` (`url`, `nodes`, `sentinels`).
//! Errors show it with its password redacted.

use floodgate_core::store::redacted_url;

/// A Redis URL of the wrong form.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Neither `redis://` nor `rediss://`.
    #[error("`{0}` is not a Redis URL: write redis://host:port or rediss://host:port")]
    Scheme(String),
    /// No host.
    #[error("`{0}`: no host")]
    NoHost(String),
    /// A port that is not 1 to 65535.
    #[error("`{url}`: `{port}` is not a port")]
    Port {
        /// The URL.
        url: String,
        /// The port as written.
        port: String,
    },
    /// A database that is not a number.
    #[error("`{url}`: `{db}` is not a database number")]
    Database {
        /// The URL.
        url: String,
        /// The database as written.
        db: String,
    },
}

/// Checks a Redis URL's form: `redis://` or `rediss://`, then a host (with
/// an optional `user:password@`, `:port` and `/db`).
pub(crate) fn check_url(url: &str) -> Result<(), UrlError> {
    let rest = url
        .strip_prefix("redis://")
        .or_else(|| url.strip_prefix("rediss://"))
        .ok_or_else(|| UrlError::Scheme(redacted_url(url)))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| UrlError::NoHost(redacted_url(url)))?;
        (h, after.strip_prefix(':'))
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(UrlError::NoHost(redacted_url(url)));
    }
    if let Some(p) = port {
        if p.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(UrlError::Port {
                url: redacted_url(url),
                port: p.to_string(),
            });
        }
    }
    if let Some(db) = rest.split_once('/').map(|(_, d)| d) {
        if !db.is_empty() && db.parse::<u32>().is_err() {
            return Err(UrlError::Database {
                url: redacted_url(url),
                db: db.to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_url;

    #[test]
    fn redis_urls() {
        for ok in [
            "redis://127.0.0.1:6379",
            "redis://h",
            "rediss://user:pw@h:6380/2",
            "redis://[::1]:6379",
            "redis://[::1]",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "not a url",
            "http://a:1",
            "redis://",
            "redis://h:x",
            "redis://h:0",
            "redis://h/db",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
