//! Opening a connection set: where (a URL, Cluster seed nodes, or the
//! primary Sentinel names), as whom, over what; [`Opener::open`] makes a
//! new set each time it is called.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::{Cmd, Pipeline, RedisFuture, Value};

use super::client;
use super::direct::{Direct, DirectLink, Pinned};
use super::error::{within, ConnectError};
use super::sentinel;
use crate::config::{RedisConfig, RedisKind};
use crate::placement::Placement;

/// Open connections: a pool to one server, or a cluster connection.
#[allow(clippy::large_enum_variant)] // one per store, swapped whole: its size is not copied around
pub(crate) enum Links {
    /// Standalone (or Sentinel's primary): multiplexed connections used
    /// in turn.
    Single {
        pool: Vec<PoolConn>,
        /// The server's client, for connections of other kinds (pub/sub).
        client: redis::Client,
        /// `host:port`, for logs.
        addr: String,
    },
    /// A cluster connection, and a client per seed node (pub/sub).
    Cluster {
        conn: redis::cluster_async::ClusterConnection,
        clients: Vec<redis::Client>,
    },
}

impl Links {
    /// Clients of the servers, for connections of other kinds.
    pub(crate) fn clients(&self) -> Vec<redis::Client> {
        match self {
            Links::Single { client, .. } => vec![client.clone()],
            Links::Cluster { clients, .. } => clients.clone(),
        }
    }

    /// The server's `host:port` (standalone and Sentinel).
    pub(crate) fn addr(&self) -> Option<&str> {
        match self {
            Links::Single { addr, .. } => Some(addr),
            Links::Cluster { .. } => None,
        }
    }
}

/// One connection of a standalone pool: redis-rs's `ConnectionManager`,
/// or, when the certificate is checked against `tls.server_name`, a
/// [`Direct`] connection (which can be told where that name is).
#[derive(Clone)]
pub(crate) enum PoolConn {
    Managed(ConnectionManager),
    Direct(DirectLink),
}

impl ConnectionLike for PoolConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            PoolConn::Managed(c) => c.req_packed_command(cmd),
            PoolConn::Direct(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            PoolConn::Managed(c) => c.req_packed_commands(cmd, offset, count),
            PoolConn::Direct(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            PoolConn::Managed(c) => c.get_db(),
            PoolConn::Direct(c) => c.get_db(),
        }
    }
}

/// What opening connections needs, kept to open them again.
pub(crate) struct Opener {
    pub(crate) config: RedisConfig,
    pub(crate) connections: usize,
    pub(crate) response_timeout: Duration,
    pub(crate) placement: Option<Placement>,
}

impl Opener {
    /// Whether connections must be watched (and opened again): TLS files
    /// that may be rotated, or a primary Sentinel may move.
    pub(crate) fn needs_watch(&self) -> bool {
        self.config.kind == RedisKind::RedisSentinel || self.config.tls.has_files()
    }

    /// The ACL user the data connections log in as (the config's, else
    /// the URL's).
    pub(crate) fn user(&self) -> Option<String> {
        let c = &self.config;
        c.credentials.username.clone().or_else(|| {
            let url = c.urls().first().copied()?;
            let info = redis::IntoConnectionInfo::into_connection_info(url).ok()?;
            info.redis_settings().username().map(str::to_string)
        })
    }

    /// A new set of connections, as the config says now (files and
    /// secrets read again; Sentinel asked again).
    pub(crate) async fn open(&self) -> Result<Links, ConnectError> {
        let c = &self.config;
        let ct = c.connect_timeout;
        if c.tls.insecure_skip_verify {
            tracing::warn!(
                "redis: tls.insecure_skip_verify is set: the server's certificate is NOT verified (tests only)"
            );
        }
        match c.kind {
            RedisKind::Redis => {
                let url = c.url.as_deref().unwrap_or_default();
                let info = client::info(url, &c.credentials)?;
                let addr = addr_of(&info);
                let (info, pinned) = client::named(info, &c.tls);
                let client = client::client(info, &c.tls)?;
                let pool = self.pool(&client, pinned).await?;
                Ok(Links::Single { pool, client, addr })
            }
            RedisKind::RedisSentinel => {
                let s = &c.sentinel;
                let (host, port) = sentinel::ask(s, &c.tls, ct).await?;
                let info = sentinel::primary_info(s, &host, port, &c.credentials)?;
                let addr = addr_of(&info);
                let (info, pinned) = client::named(info, &c.tls);
                let client = client::client(info, &c.tls)?;
                let mut pool = self.pool(&client, pinned).await?;
                if !sentinel::is_primary(&mut pool[0], ct).await? {
                    return Err(ConnectError::Sentinel(format!(
                        "{addr}, named primary of `{}` by Sentinel, says it is not a primary",
                        s.master_name
                    )));
                }
                Ok(Links::Single { pool, client, addr })
            }
            RedisKind::RedisCluster => {
                let infos = c
                    .nodes
                    .iter()
                    .map(|n| client::info(n, &c.credentials))
                    .collect::<Result<Vec<_>, _>>()?;
                let clients = infos
                    .iter()
                    .map(|i| client::client(i.clone(), &c.tls))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut b = redis::cluster::ClusterClientBuilder::new(infos.clone())
                    .connection_timeout(ct)
                    .response_timeout(self.response_timeout)
                    .retries(1);
                if infos.iter().any(client::is_tls) {
                    b = b.tls(if c.tls.insecure_skip_verify {
                        redis::TlsMode::Insecure
                    } else {
                        redis::TlsMode::Secure
                    });
                    if let Some(certs) = c.tls.certificates()? {
                        b = b.certs(certs);
                    }
                }
                let cluster = b.build()?;
                let conn = within(
                    ct,
                    Box::pin(async move { cluster.get_async_connection().await }),
                )
                .await?;
                Ok(Links::Cluster { conn, clients })
            }
        }
    }

    /// `connections` multiplexed connections to `client`'s server, each
    /// opened (and driven) on its thread when placed; [`Direct`] ones,
    /// whose name resolves as `pinned` says, when the certificate's name
    /// is not the address's.
    async fn pool(
        &self,
        client: &redis::Client,
        pinned: Option<Pinned>,
    ) -> Result<Vec<PoolConn>, ConnectError> {
        let ct = self.config.connect_timeout;
        if let Some(pinned) = pinned {
            let config = redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(ct))
                .set_dns_resolver(pinned);
            let mut pool = Vec::with_capacity(self.connections);
            for _ in 0..self.connections.max(1) {
                let d = std::sync::Arc::new(Direct::new(client.clone(), config.clone()));
                within(ct, d.open()).await?;
                pool.push(PoolConn::Direct(DirectLink(d)));
            }
            return Ok(pool);
        }
        let mgr_config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(ct))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(500));
        let mut pool = Vec::with_capacity(self.connections);
        for i in 0..self.connections.max(1) {
            let opening = ConnectionManager::new_with_config(client.clone(), mgr_config.clone());
            let c = match &self.placement {
                // Opened there, its driver runs there.
                Some(p) => {
                    within(ct, async {
                        p.runtime(i).spawn(opening).await.map_err(|e| {
                            redis::RedisError::from(std::io::Error::other(e.to_string()))
                        })?
                    })
                    .await?
                }
                None => within(ct, Box::pin(opening)).await?,
            };
            pool.push(PoolConn::Managed(c));
        }
        Ok(pool)
    }
}

/// A client for a standalone config's server, with its credentials and
/// TLS files (read now).
pub(crate) fn standalone_client(config: &RedisConfig) -> Result<redis::Client, ConnectError> {
    let url = config.url.as_deref().unwrap_or_default();
    client::client(client::info(url, &config.credentials)?, &config.tls)
}

/// `host:port` of `info`.
fn addr_of(info: &redis::ConnectionInfo) -> String {
    match info.addr() {
        redis::ConnectionAddr::Tcp(h, p) => format!("{h}:{p}"),
        redis::ConnectionAddr::TcpTls { host, port, .. } => format!("{host}:{port}"),
        other => other.to_string(),
    }
}
