//! The watcher: a background task that tells a replica the newest policy
//! version, from two sources.
//!
//! - **Announcements.** A dedicated connection SUBSCRIBEs to the channel.
//!   It speaks RESP3, whose pushes redis-rs hands to a tokio channel (the
//!   RESP2 `PubSub` offers its messages only as a `futures` `Stream`,
//!   which this crate does not depend on); RESP3 needs Redis 6 or later.
//!   On a cluster it subscribes on one seed node (the first that answers):
//!   a plain PUBLISH on any node reaches every node's subscribers.
//! - **Polls.** Every `every`, a `version()` read: the safety net for
//!   announcements missed while the subscription was down. Each tick
//!   also PINGs the subscription (a dead peer that never closed the
//!   socket is noticed) or, when it is down, subscribes again, and only
//!   then polls, so nothing published in between is missed.
//!
//! An announcement only raises the value (a poll that was already under
//! way cannot have read an older version than one announced before it
//! started); a poll sets it to what is stored, so a Redis that came back
//! empty is reported as 0. The interval is tokio's timer, a real periodic
//! task; tests wait for the value with a deadline instead of sleeping.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, PushInfo, PushKind};
use tokio::sync::{mpsc, watch};

use super::RedisPolicyStore;

/// A live subscription: the connection and its pushes.
struct Subscription {
    conn: MultiplexedConnection,
    pushes: mpsc::UnboundedReceiver<PushInfo>,
}

/// What an announcement says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Announced {
    /// A policy version was committed.
    Version(u64),
    /// The known clients changed (to this sequence number).
    Clients(u64),
}

impl Announced {
    fn parse(payload: &str) -> Option<Announced> {
        match payload.strip_prefix('c') {
            Some(seq) => seq.parse().ok().map(Announced::Clients),
            None => payload.parse().ok().map(Announced::Version),
        }
    }
}

impl Subscription {
    /// The next announcement, or `None` once the connection is gone.
    async fn next(&mut self) -> Option<Announced> {
        loop {
            let push = self.pushes.recv().await?;
            match push.kind {
                PushKind::Message => {
                    let announced = redis::Msg::from_push_info(push)
                        .and_then(|m| m.get_payload::<String>().ok())
                        .and_then(|p| Announced::parse(&p));
                    match announced {
                        Some(a) => return Some(a),
                        None => tracing::debug!("ignoring a policy announcement that says nothing"),
                    }
                }
                PushKind::Disconnection => return None,
                _ => {}
            }
        }
    }
}

impl RedisPolicyStore {
    /// A receiver of the newest policy version (0: none), kept current by
    /// a background task (an announced change of the clients marks it
    /// changed, at the same version) until every receiver (clones included) is
    /// dropped. The task subscribes to the channel and polls
    /// [`version`](Self::version) every `every` (1 s is a sensible
    /// default); see `policy_store/watch.rs`. It holds a clone of this
    /// store, so its connections live as long as the task.
    ///
    /// Before returning, it subscribes and reads the version once, so on
    /// a reachable Redis the receiver starts current and no later commit
    /// is missed; when Redis is away it starts at 0 and catches up once
    /// Redis is back. Must be called within a tokio runtime.
    pub async fn watch(&self, every: Duration) -> watch::Receiver<u64> {
        let mut sub = self.subscribe().await;
        let first = self.version().await.unwrap_or(0);
        let (tx, rx) = watch::channel(first);
        let store = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tx.closed() => return,
                    announced = next(&mut sub) => match announced {
                        Some(Announced::Version(v)) => {
                            tx.send_if_modified(|cur| raise(cur, v));
                        }
                        // The version stays; the receivers wake up and
                        // read the clients' change.
                        Some(Announced::Clients(_)) => tx.send_modify(|_| {}),
                        None => {
                            tracing::debug!("policy subscription lost: polling until it is back");
                            sub = None;
                        }
                    },
                    _ = tick.tick() => {
                        sub = match sub.take() {
                            Some(s) => store.ping(s).await,
                            None => store.subscribe().await,
                        };
                        match store.version().await {
                            Ok(v) => {
                                tx.send_if_modified(|cur| set(cur, v));
                            }
                            Err(e) => tracing::debug!(error = %e, "policy version poll failed"),
                        }
                    }
                }
            }
        });
        rx
    }

    /// A new subscription on the first node that takes it, or `None`.
    async fn subscribe(&self) -> Option<Subscription> {
        for client in self.inner.conn.clients() {
            match self.subscribe_on(&client).await {
                Ok(s) => return Some(s),
                Err(e) => tracing::debug!(error = %e, "cannot subscribe to policy announcements"),
            }
        }
        None
    }

    async fn subscribe_on(&self, client: &redis::Client) -> redis::RedisResult<Subscription> {
        let info = client.get_connection_info();
        let resp3 = info
            .redis_settings()
            .clone()
            .set_protocol(redis::ProtocolVersion::RESP3);
        // The client's TLS settings are part of its address: kept.
        let client = redis::Client::open(info.clone().set_redis_settings(resp3))?;
        let (tx, pushes) = mpsc::unbounded_channel();
        let ct = self.inner.connect_timeout;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(ct))
            .set_response_timeout(Some(self.inner.timeout))
            .set_push_sender(tx);
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        conn.subscribe(&self.inner.channel).await?;
        Ok(Subscription { conn, pushes })
    }

    /// `sub` if it still answers a PING, else a new subscription (or none).
    async fn ping(&self, mut sub: Subscription) -> Option<Subscription> {
        let pong: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut sub.conn).await;
        match pong {
            Ok(_) => Some(sub),
            Err(e) => {
                tracing::debug!(error = %e, "policy subscription does not answer: subscribing again");
                drop(sub);
                self.subscribe().await
            }
        }
    }
}

/// The next announcement on `sub`; never, without one.
async fn next(sub: &mut Option<Subscription>) -> Option<Announced> {
    match sub {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

/// Raises `cur` to `v`; whether it changed.
fn raise(cur: &mut u64, v: u64) -> bool {
    if v > *cur {
        *cur = v;
        true
    } else {
        false
    }
}

/// Sets `cur` to `v`; whether it changed.
fn set(cur: &mut u64, v: u64) -> bool {
    if *cur != v {
        *cur = v;
        true
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_name_a_version_or_a_clients_change() {
        assert_eq!(Announced::parse("42"), Some(Announced::Version(42)));
        assert_eq!(Announced::parse("c7"), Some(Announced::Clients(7)));
        assert_eq!(Announced::parse("c"), None);
        assert_eq!(Announced::parse("x1"), None);
    }

    #[test]
    fn announcements_only_raise_and_polls_set() {
        let mut v = 5;
        assert!(!raise(&mut v, 4));
        assert_eq!(v, 5);
        assert!(raise(&mut v, 6));
        assert_eq!(v, 6);
        assert!(!set(&mut v, 6));
        assert!(set(&mut v, 0), "a Redis that came back empty");
        assert_eq!(v, 0);
    }
}
