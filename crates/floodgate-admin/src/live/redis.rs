//! The live policy kept in Redis, shared by every replica: commits are a
//! compare-and-set on the version; every commit is announced, and a
//! watcher (subscription plus a periodic version check) makes each replica
//! load and apply a newer version. While Redis is away a replica keeps its
//! last policy and refuses changes (503); it converges when Redis is back.

use std::sync::Arc;
use std::time::Duration;

use floodgate_core::store::BoxFuture;
use floodgate_redis::{Commit as RedisCommit, RedisConfig, RedisPolicyStore};
use tokio::sync::OnceCell;

use super::backend::{BackendError, Commit, HistoryEntry, PolicyBackend, Stored, HISTORY_LIMIT};
use super::LivePolicy;

/// How often a replica checks the kept version when no announcement came
/// (and retries a connection to Redis).
pub const SYNC_EVERY: Duration = Duration::from_secs(1);

/// Kept in Redis; connected on first use.
pub struct RedisBackend {
    config: RedisConfig,
    store: OnceCell<RedisPolicyStore>,
}

impl RedisBackend {
    /// A backend on the Redis that `config` names.
    pub fn new(config: RedisConfig) -> RedisBackend {
        RedisBackend {
            config,
            store: OnceCell::new(),
        }
    }

    async fn store(&self) -> Result<&RedisPolicyStore, BackendError> {
        self.store
            .get_or_try_init(|| RedisPolicyStore::connect(&self.config))
            .await
            .map_err(BackendError::from)
    }

    /// Keeps `live` in step with Redis until `stop` changes: applies
    /// every announced version, checks every [`SYNC_EVERY`] for missed
    /// ones, and seeds Redis when it holds no policy yet.
    pub fn spawn_sync(
        self: &Arc<Self>,
        live: Arc<LivePolicy>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SYNC_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut watch = None;
            loop {
                if watch.is_none() {
                    if let Ok(store) = me.store().await {
                        watch = Some(store.watch(SYNC_EVERY).await);
                    }
                }
                match &mut watch {
                    Some(rx) => {
                        tokio::select! {
                            changed = rx.changed() => {
                                if changed.is_err() {
                                    watch = None;
                                }
                            }
                            _ = tick.tick() => {}
                            _ = stop.changed() => return,
                        }
                    }
                    None => {
                        tokio::select! {
                            _ = tick.tick() => {}
                            _ = stop.changed() => return,
                        }
                    }
                }
                live.reconcile().await;
            }
        });
    }
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, BackendError> {
    serde_json::from_str(text)
        .map_err(|e| BackendError::Corrupt(format!("Redis holds a bad {what}: {e}")))
}

impl PolicyBackend for RedisBackend {
    fn load(&self) -> BoxFuture<'_, Result<Option<Stored>, BackendError>> {
        Box::pin(async move {
            let kept = self.store().await?.load().await?;
            match kept {
                None => Ok(None),
                Some(k) => Ok(Some(Stored {
                    version: k.version,
                    document: parse("policy document", &k.document)?,
                })),
            }
        })
    }

    fn commit<'a>(
        &'a self,
        expected: u64,
        stored: &'a Stored,
        entry: &'a HistoryEntry,
    ) -> BoxFuture<'a, Result<Commit, BackendError>> {
        Box::pin(async move {
            let doc =
                serde_json::to_string(&stored.document).expect("a policy document serialises");
            let entry = serde_json::to_string(entry).expect("a history entry serialises");
            let out = self
                .store()
                .await?
                .commit(expected, stored.version, &doc, &entry, HISTORY_LIMIT)
                .await?;
            Ok(match out {
                RedisCommit::Done => Commit::Done,
                RedisCommit::Conflict { current } => Commit::Conflict { current },
            })
        })
    }

    fn history(&self) -> BoxFuture<'_, Result<Vec<HistoryEntry>, BackendError>> {
        Box::pin(async move {
            let list = self.store().await?.history(HISTORY_LIMIT).await?;
            list.iter().map(|t| parse("history entry", t)).collect()
        })
    }

    fn describe(&self) -> String {
        "Redis".into()
    }
}
