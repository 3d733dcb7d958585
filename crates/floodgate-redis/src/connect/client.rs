//! redis-rs clients for one address: the URL, with the configured
//! credentials (which win over the URL's) and TLS files applied.

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo};

use super::error::ConnectError;
use super::secret::Credentials;
use super::tls::TlsSettings;

/// `url` as connection info, with `creds` applied (an ACL user or a
/// password given in the config wins over the URL's).
pub(crate) fn info(url: &str, creds: &Credentials) -> Result<ConnectionInfo, ConnectError> {
    let info = url.into_connection_info()?;
    with_credentials(info, creds)
}

/// `info` with `creds` applied.
pub(crate) fn with_credentials(
    info: ConnectionInfo,
    creds: &Credentials,
) -> Result<ConnectionInfo, ConnectError> {
    let mut settings = info.redis_settings().clone();
    if let Some(u) = &creds.username {
        settings = settings.set_username(u);
    }
    if let Some(p) = &creds.password {
        settings = settings.set_password(p.read()?);
    }
    Ok(info.set_redis_settings(settings))
}

/// Whether `info` asks for TLS (`rediss://`).
pub(crate) fn is_tls(info: &ConnectionInfo) -> bool {
    matches!(info.addr(), ConnectionAddr::TcpTls { .. })
}

/// `info` to be verified against `tls.server_name` (when set, on a TLS
/// address): its host becomes that name, and the resolver that sends the
/// name to the original host is returned.
pub(crate) fn named(
    info: ConnectionInfo,
    tls: &TlsSettings,
) -> (ConnectionInfo, Option<super::direct::Pinned>) {
    let Some(name) = &tls.server_name else {
        return (info, None);
    };
    match info.addr().clone() {
        ConnectionAddr::TcpTls {
            host,
            port,
            insecure,
            ..
        } => {
            let info = info.set_addr(ConnectionAddr::TcpTls {
                host: name.clone(),
                port,
                insecure,
                tls_params: None,
            });
            let pinned = super::direct::Pinned {
                name: name.clone(),
                host,
            };
            (info, Some(pinned))
        }
        _ => (info, None),
    }
}

/// A client for `info`: over TLS when it says `rediss://`, trusting and
/// presenting what `tls` names.
pub(crate) fn client(
    info: ConnectionInfo,
    tls: &TlsSettings,
) -> Result<redis::Client, ConnectError> {
    let info = if tls.insecure_skip_verify {
        insecure(info)
    } else {
        info
    };
    if !is_tls(&info) {
        return Ok(redis::Client::open(info)?);
    }
    match tls.certificates()? {
        // An insecure address stays so (the client certificate is still
        // presented).
        Some(certs) => Ok(redis::Client::build_with_tls(info, certs)?),
        None => Ok(redis::Client::open(info)?),
    }
}

/// `info` accepting any server certificate (TLS addresses only).
fn insecure(info: ConnectionInfo) -> ConnectionInfo {
    match info.addr().clone() {
        ConnectionAddr::TcpTls { host, port, .. } => info.set_addr(ConnectionAddr::TcpTls {
            host,
            port,
            insecure: true,
            tls_params: None,
        }),
        _ => info,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_credentials_win_over_the_urls() {
        let creds = Credentials {
            username: Some("fg".into()),
            password: Some(super::super::secret::Secret::Value("new".into())),
        };
        let i = info("redis://old:pw@h:6379", &creds).unwrap();
        assert_eq!(i.redis_settings().username(), Some("fg"));
        assert_eq!(i.redis_settings().password(), Some("new"));
        let i = info("redis://old:pw@h:6379", &Credentials::default()).unwrap();
        assert_eq!(i.redis_settings().username(), Some("old"));
        assert_eq!(i.redis_settings().password(), Some("pw"));
    }
}
