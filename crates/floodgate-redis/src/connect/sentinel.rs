//! Sentinel: which server is the primary now, as the Sentinels say.
//!
//! The store asks the Sentinels in turn (`SENTINEL
//! get-master-addr-by-name`) and takes the first answer; it then checks
//! the server itself says it is a primary (`ROLE`) before deciding on it,
//! so it never decides on a replica. It asks again when a Sentinel
//! announces `+switch-master`, on a `READONLY` answer or a connection
//! error, and every second.

use std::time::Duration;

use redis::ConnectionInfo;

use floodgate_core::store::redacted_url;

use super::client::{client, info};
use super::error::{within, ConnectError};
use super::secret::Credentials;
use super::tls::TlsSettings;

/// Where the Sentinels are and what they call the primary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SentinelSettings {
    /// The master name the Sentinels monitor (`sentinel monitor <name>`).
    pub master_name: String,
    /// The Sentinels' URLs (`redis://host:26379`, or `rediss://` when
    /// they, and then the primary, speak TLS).
    pub sentinels: Vec<String>,
    /// The Sentinels' own ACL user and password (`sentinel_username`,
    /// `sentinel_password_*`); `None`: the URLs'.
    pub credentials: Credentials,
    /// The database on the primary (default 0).
    pub db: i64,
}

/// The primary's address (`host`, `port`) as the first Sentinel that
/// knows `master_name` says.
pub(crate) async fn ask(
    s: &SentinelSettings,
    tls: &TlsSettings,
    ct: Duration,
) -> Result<(String, u16), ConnectError> {
    let mut failures = Vec::new();
    for url in &s.sentinels {
        match ask_one(url, s, tls, ct).await {
            Ok(Some(addr)) => return Ok(addr),
            Ok(None) => failures.push(format!(
                "{}: no master named `{}`",
                redacted_url(url),
                s.master_name
            )),
            Err(e) => failures.push(format!("{}: {e}", redacted_url(url))),
        }
    }
    Err(ConnectError::Sentinel(format!(
        "no Sentinel gave the primary of `{}`: {}",
        s.master_name,
        failures.join("; ")
    )))
}

async fn ask_one(
    url: &str,
    s: &SentinelSettings,
    tls: &TlsSettings,
    ct: Duration,
) -> Result<Option<(String, u16)>, ConnectError> {
    let c = client(info(url, &s.credentials)?, tls)?;
    let mut get = redis::cmd("SENTINEL");
    get.arg("get-master-addr-by-name").arg(&s.master_name);
    within(ct, async move {
        let mut conn = c.get_multiplexed_async_connection().await?;
        let addr: Option<(String, u16)> = get.query_async(&mut conn).await?;
        Ok(addr)
    })
    .await
}

/// The primary at `host:port`, reached the way the Sentinels are (TLS
/// when their URLs are `rediss://`), as `creds`, on database `s.db`.
pub(crate) fn primary_info(
    s: &SentinelSettings,
    host: &str,
    port: u16,
    creds: &Credentials,
) -> Result<ConnectionInfo, ConnectError> {
    let tls = s.sentinels.iter().any(|u| u.starts_with("rediss://"));
    let scheme = if tls { "rediss" } else { "redis" };
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    info(&format!("{scheme}://{host}:{port}/{}", s.db), creds)
}

/// Whether the server on `conn` says it is a primary (`ROLE`).
pub(crate) async fn is_primary(
    conn: &mut impl redis::aio::ConnectionLike,
    ct: Duration,
) -> Result<bool, ConnectError> {
    let role: Vec<redis::Value> = within(ct, redis::cmd("ROLE").query_async(conn)).await?;
    Ok(matches!(role.first(), Some(redis::Value::BulkString(b)) if b == b"master"))
}
