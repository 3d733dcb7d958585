//! `Direct`: a multiplexed connection that opens itself again after it
//! broke, for servers whose certificate is checked against a name other
//! than the address connected to (`tls.server_name`). redis-rs's
//! `ConnectionManager` cannot be told where a name is; this connection
//! opens with a DNS resolver that sends the name to the URL's address.
//!
//! It opens at its first use (one opening at a time), is dropped when a
//! call finds it broken (an I/O error, a dropped connection), and the next
//! call opens it again. A call that could not open it fails, so the
//! failure policy decides; a call refused before it was sent is sent once
//! more on a new connection.

use std::net::SocketAddr;
use std::sync::Arc;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisFuture, RedisResult, Value};
use std::sync::Mutex;

/// A connection that opens itself again.
pub(crate) struct Direct {
    client: redis::Client,
    config: AsyncConnectionConfig,
    current: Mutex<Option<MultiplexedConnection>>,
    opening: tokio::sync::Mutex<()>,
}

impl Direct {
    /// A connection to `client`'s server, opened as `config` says.
    pub(crate) fn new(client: redis::Client, config: AsyncConnectionConfig) -> Direct {
        Direct {
            client,
            config,
            current: Mutex::new(None),
            opening: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<MultiplexedConnection>> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The open connection, opened first if there is none.
    pub(crate) async fn open(&self) -> RedisResult<MultiplexedConnection> {
        if let Some(c) = self.lock().clone() {
            return Ok(c);
        }
        let _one = self.opening.lock().await;
        if let Some(c) = self.lock().clone() {
            return Ok(c);
        }
        let c = self
            .client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        *self.lock() = Some(c.clone());
        Ok(c)
    }

    /// Notes a failed call: a broken connection is dropped.
    fn failed(&self, e: &redis::RedisError) {
        if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() {
            *self.lock() = None;
        }
    }

    async fn run<T>(
        self: Arc<Self>,
        call: impl Fn(MultiplexedConnection) -> RedisFuture<'static, T>,
    ) -> RedisResult<T> {
        for attempt in 0..2 {
            let c = match self.open().await {
                Ok(c) => c,
                Err(e) if attempt == 0 && e.is_connection_refusal() => continue,
                Err(e) => return Err(e),
            };
            match call(c).await {
                Err(e) => {
                    self.failed(&e);
                    return Err(e);
                }
                ok => return ok,
            }
        }
        unreachable!("the second attempt returns")
    }
}

/// A [`Direct`] connection, shared by the calls on it.
#[derive(Clone)]
pub(crate) struct DirectLink(pub(crate) Arc<Direct>);

impl ConnectionLike for DirectLink {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let cmd = cmd.clone();
        let d = self.0.clone();
        Box::pin(d.run(move |mut c| {
            let cmd = cmd.clone();
            Box::pin(async move { c.req_packed_command(&cmd).await })
        }))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let pipe = cmd.clone();
        let d = self.0.clone();
        Box::pin(d.run(move |mut c| {
            let pipe = pipe.clone();
            Box::pin(async move { c.req_packed_commands(&pipe, offset, count).await })
        }))
    }

    fn get_db(&self) -> i64 {
        self.0.client.get_connection_info().redis_settings().db()
    }
}

/// Resolves one name (the certificate's) to the addresses of another
/// host (the URL's): every other name as the system does.
pub(crate) struct Pinned {
    pub(crate) name: String,
    pub(crate) host: String,
}

impl redis::io::AsyncDNSResolver for Pinned {
    fn resolve<'a, 'b: 'a>(
        &'a self,
        host: &'b str,
        port: u16,
    ) -> RedisFuture<'a, Box<dyn Iterator<Item = SocketAddr> + Send + 'a>> {
        let target = if host == self.name {
            self.host.clone()
        } else {
            host.to_string()
        };
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((target.as_str(), port))
                .await?
                .collect();
            Ok(Box::new(addrs.into_iter()) as Box<dyn Iterator<Item = SocketAddr> + Send>)
        })
    }
}
