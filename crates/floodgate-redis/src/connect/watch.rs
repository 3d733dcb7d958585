//! The watcher of a connection set whose ground can move: TLS files that
//! may be rotated, and Sentinel's primary. It opens a new set when the
//! files' content changes or Sentinel names another primary, and swaps it
//! in once it is open (calls under way finish on the old set). A set that
//! cannot be opened leaves the old one in place; the watcher tries again
//! at its next look and logs once per distinct error.
//!
//! It looks every second, at once when a call saw a sign that the
//! primary moved (`READONLY`, a connection error), when a Sentinel
//! announces `+switch-master` (a subscription kept on the first Sentinel
//! that takes it), and when [`recheck_now`] is called (the server does on
//! SIGHUP). It ends with the connection set.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::mpsc;

use super::client;
use super::open::Opener;
use super::shared::Shared;
use crate::config::RedisKind;

/// How often the watcher looks.
pub(crate) const EVERY: Duration = Duration::from_secs(1);

/// Wakes every watcher of this process.
static RECHECK: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Makes every watcher of this process look now (TLS files, Sentinel's
/// primary) instead of at its next second.
pub fn recheck_now() {
    RECHECK.notify_waiters();
}

/// Starts watching `shared`, reopened by `opener`.
pub(crate) fn spawn(shared: Weak<Shared>, opener: Opener) {
    tokio::spawn(run(shared, opener));
}

async fn run(weak: Weak<Shared>, opener: Opener) {
    let tls = opener.config.tls.clone();
    let mut seen = tls.fingerprint();
    let sentinel = opener.config.kind == RedisKind::RedisSentinel;
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut announcements: Option<Announcements> = None;
    let mut last_error = String::new();
    loop {
        let moved = match weak.upgrade() {
            Some(s) => s,
            None => return,
        };
        let moved = async move { moved.moved.notified().await };
        tokio::select! {
            _ = tick.tick() => {}
            _ = moved => {}
            _ = RECHECK.notified() => {}
            _ = switched(&mut announcements) => {}
        }
        let Some(shared) = weak.upgrade() else { return };
        let mut why = None;
        let now = tls.fingerprint();
        if now != seen {
            why = Some("the TLS files changed".to_string());
        }
        if sentinel {
            if announcements.is_none() {
                announcements = subscribe(&opener).await;
            }
            let current = shared.links.load().addr().map(str::to_string);
            match super::sentinel::ask(&opener.config.sentinel, &tls, opener.config.connect_timeout)
                .await
            {
                Ok((host, port)) => {
                    let named = format!("{host}:{port}");
                    if current.as_deref() != Some(named.as_str()) && !is_same(&current, &host, port)
                    {
                        why = Some(format!("Sentinel names {named} the primary"));
                    }
                }
                Err(e) => log_once(&mut last_error, &e.to_string()),
            }
        }
        let Some(why) = why else { continue };
        match opener.open().await {
            Ok(links) => {
                let addr = links.addr().map(str::to_string);
                shared.links.store(Arc::new(links));
                seen = now;
                last_error.clear();
                tracing::info!(reason = %why, primary = ?addr, "redis: new connections in place");
            }
            Err(e) => log_once(&mut last_error, &format!("{why}, but: {e}")),
        }
    }
}

/// Whether `current` is `host:port` (an IPv6 host is written bare in
/// one and bracketed in the other).
fn is_same(current: &Option<String>, host: &str, port: u16) -> bool {
    current.as_deref() == Some(format!("[{host}]:{port}").as_str())
}

fn log_once(last: &mut String, e: &str) {
    if last != e {
        tracing::warn!(error = %e, "redis: cannot open new connections");
        *last = e.to_string();
    }
}

/// A subscription to a Sentinel's `+switch-master`.
struct Announcements {
    _conn: redis::aio::MultiplexedConnection,
    pushes: mpsc::UnboundedReceiver<redis::PushInfo>,
}

/// The next announcement; never, without a subscription (which is then
/// taken again at the next look).
async fn switched(a: &mut Option<Announcements>) {
    match a {
        Some(s) => {
            if s.pushes.recv().await.is_none() {
                *a = None;
            }
        }
        None => std::future::pending().await,
    }
}

/// A subscription on the first Sentinel that takes it.
async fn subscribe(opener: &Opener) -> Option<Announcements> {
    let s = &opener.config.sentinel;
    for url in &s.sentinels {
        let Ok(info) = client::info(url, &s.credentials) else {
            continue;
        };
        let resp3 = info
            .redis_settings()
            .clone()
            .set_protocol(redis::ProtocolVersion::RESP3);
        let Ok(c) = client::client(info.set_redis_settings(resp3), &opener.config.tls) else {
            continue;
        };
        let (tx, pushes) = mpsc::unbounded_channel();
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(opener.config.connect_timeout))
            .set_push_sender(tx);
        let sub = async {
            let mut conn = c
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            conn.subscribe("+switch-master").await?;
            redis::RedisResult::Ok(conn)
        };
        if let Ok(Ok(conn)) = tokio::time::timeout(opener.config.connect_timeout, sub).await {
            return Some(Announcements {
                _conn: conn,
                pushes,
            });
        }
    }
    None
}
