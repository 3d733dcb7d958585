//! The listeners, bound before the server starts (tests bind port 0 and
//! read the addresses back).

use std::net::SocketAddr;

use tokio::net::TcpListener;

use super::error::ServerError;
use crate::config::Config;

/// The listeners, bound.
pub struct Listeners {
    /// The public listener.
    pub public: TcpListener,
    /// The admin listener.
    pub admin: TcpListener,
    /// The gRPC listener (Envoy's rate limit service), if any.
    pub grpc: Option<TcpListener>,
}

impl Listeners {
    /// Binds the addresses `config` names.
    pub async fn bind(config: &Config) -> Result<Listeners, ServerError> {
        let bind = |what, addr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| ServerError::Bind { what, addr, source })
        };
        Ok(Listeners {
            public: bind("public", config.listen).await?,
            admin: bind("admin", config.admin_listen).await?,
            grpc: match config.grpc_listen {
                Some(addr) => Some(bind("grpc", addr).await?),
                None => None,
            },
        })
    }
}

/// Where each listener listens.
#[derive(Clone, Copy, Debug)]
pub struct Addrs {
    /// The public listener.
    pub public: SocketAddr,
    /// The admin listener.
    pub admin: SocketAddr,
    /// The gRPC listener, if there is one.
    pub grpc: Option<SocketAddr>,
}

impl Addrs {
    /// The addresses `listeners` are bound to.
    pub fn of(listeners: &Listeners) -> std::io::Result<Addrs> {
        Ok(Addrs {
            public: listeners.public.local_addr()?,
            admin: listeners.admin.local_addr()?,
            grpc: listeners
                .grpc
                .as_ref()
                .map(|l| l.local_addr())
                .transpose()?,
        })
    }
}
