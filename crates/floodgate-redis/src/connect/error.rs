//! `ConnectError`: why connecting to Redis failed, and [`within`], the
//! bound on each connecting step.

use std::time::Duration;

/// Connecting failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The config does not validate.
    #[error(transparent)]
    Config(#[from] crate::config_error::ConfigError),
    /// Redis refused or did not answer in time.
    #[error("cannot connect to redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// No answer within `connect_timeout`.
    #[error("cannot connect to redis within {0:?}")]
    Timeout(Duration),
    /// A password cannot be read.
    #[error("redis credentials: {0}")]
    Secret(#[from] super::secret::SecretError),
    /// A TLS file cannot be used.
    #[error("redis tls: {0}")]
    Tls(#[from] super::tls::TlsError),
    /// Sentinel gave no usable primary.
    #[error("redis sentinel: {0}")]
    Sentinel(String),
    /// The ACL user may not run a command the store needs.
    #[error("redis: {0}")]
    Permission(String),
    /// Redis refused the user and password.
    #[error("cannot connect to redis: {0}")]
    Auth(String),
}

impl ConnectError {
    /// Whether Redis (or the config) refuses this configuration, so that
    /// trying again cannot help: a wrong password, a missing permission,
    /// an unusable TLS file or secret, an invalid config. Not for a
    /// server that does not answer.
    pub fn is_refusal(&self) -> bool {
        match self {
            ConnectError::Auth(_)
            | ConnectError::Permission(_)
            | ConnectError::Secret(_)
            | ConnectError::Tls(_)
            | ConnectError::Config(_) => true,
            ConnectError::Redis(e) => e.kind() == redis::ErrorKind::InvalidClientConfig,
            ConnectError::Timeout(_) | ConnectError::Sentinel(_) => false,
        }
    }

    /// A refused password said plainly, naming the user (never the
    /// password).
    pub(crate) fn explained(self, user: Option<&str>) -> ConnectError {
        match self {
            ConnectError::Redis(e) if e.kind() == redis::ErrorKind::AuthenticationFailed => {
                ConnectError::Auth(format!(
                    "Redis refused the password of user `{}` (WRONGPASS: a wrong password, or an unknown or disabled user)",
                    user.unwrap_or("default")
                ))
            }
            e => e,
        }
    }
}

/// `f`, failing with [`ConnectError::Timeout`] past `ct`.
pub(crate) async fn within<T>(
    ct: Duration,
    f: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, ConnectError> {
    tokio::time::timeout(ct, f)
        .await
        .map_err(|_| ConnectError::Timeout(ct))?
        .map_err(ConnectError::Redis)
}
