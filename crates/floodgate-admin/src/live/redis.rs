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

use std::collections::VecDeque;

use super::backend::{BackendError, Commit, HistoryEntry, PolicyBackend, Stored, HISTORY_LIMIT};
use super::clients::kept::since;
use super::clients::{
    ClientRecord, ClientsCommit, ClientsOp, ClientsSince, ClientsWrite, Logged, LOG_LIMIT,
};
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
                    file_digest: k.file_digest,
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
                .commit_with_digest(
                    expected,
                    stored.version,
                    &doc,
                    &entry,
                    HISTORY_LIMIT,
                    stored.file_digest.as_deref(),
                )
                .await?;
            Ok(match out {
                RedisCommit::Done => Commit::Done,
                RedisCommit::Conflict { current } => Commit::Conflict { current },
            })
        })
    }

    fn history(&self) -> BoxFuture<'_, Result<Vec<HistoryEntry>, BackendError>> {
        Box::pin(async move {
            let store = self.store().await?;
            let policy = store.history(HISTORY_LIMIT).await?;
            let clients = store.clients_history(HISTORY_LIMIT).await?;
            let parse_all = |list: Vec<String>| -> Result<Vec<HistoryEntry>, BackendError> {
                list.iter().map(|t| parse("history entry", t)).collect()
            };
            Ok(super::backend::merge_history(
                parse_all(policy)?,
                parse_all(clients)?,
            ))
        })
    }

    fn describe(&self) -> String {
        "Redis".into()
    }

    fn clients(&self) -> BoxFuture<'_, Result<(u64, Vec<ClientRecord>), BackendError>> {
        Box::pin(async move {
            let (seq, pairs) = self.store().await?.clients().await?;
            let records = pairs
                .into_iter()
                .map(|(k, v)| Ok(ClientRecord::of(k, parse("client", &v)?)))
                .collect::<Result<_, BackendError>>()?;
            Ok((seq, records))
        })
    }

    fn change_clients<'a>(
        &'a self,
        write: &'a ClientsWrite,
        entry: Option<&'a HistoryEntry>,
    ) -> BoxFuture<'a, Result<ClientsCommit, BackendError>> {
        Box::pin(async move {
            let pairs: Vec<(String, String)> = write
                .records
                .iter()
                .map(|r| {
                    let v = serde_json::to_string(&r.value()).expect("a client serialises");
                    (r.api_key_sha256.clone(), v)
                })
                .collect();
            let log_entry = serde_json::to_string(&write.logged()).expect("a change serialises");
            let entry = entry.map(|e| serde_json::to_string(e).expect("an entry serialises"));
            let op = match write.op {
                ClientsOp::Create => floodgate_redis::ClientsOp::Create,
                ClientsOp::Update => floodgate_redis::ClientsOp::Update,
                ClientsOp::Delete => floodgate_redis::ClientsOp::Delete,
                ClientsOp::Import => floodgate_redis::ClientsOp::Import,
                ClientsOp::Restore(seq) => floodgate_redis::ClientsOp::Restore(seq),
            };
            let out = self
                .store()
                .await?
                .change_clients(&floodgate_redis::ClientsChange {
                    op,
                    pairs: &pairs,
                    log_entry: &log_entry,
                    seq: write.seq,
                    history_entry: entry.as_deref(),
                    history_limit: HISTORY_LIMIT,
                    log_limit: LOG_LIMIT,
                })
                .await?;
            Ok(match out {
                floodgate_redis::ClientsCommit::Done(seq) => ClientsCommit::Done(seq),
                floodgate_redis::ClientsCommit::Exists => ClientsCommit::Exists,
                floodgate_redis::ClientsCommit::Missing => ClientsCommit::Missing,
                floodgate_redis::ClientsCommit::Lost => ClientsCommit::Lost,
            })
        })
    }

    fn clients_since(&self, seq: u64) -> BoxFuture<'_, Result<ClientsSince, BackendError>> {
        Box::pin(async move {
            let store = self.store().await?;
            let now = store.clients_seq().await?;
            let wanted = now.saturating_sub(seq) as usize;
            let log: VecDeque<(u64, Logged)> = if now > seq && wanted <= LOG_LIMIT {
                store
                    .clients_log(wanted)
                    .await?
                    .iter()
                    .map(|t| {
                        let e: LogEntry = parse("clients log entry", t)?;
                        Ok((e.seq, e.change))
                    })
                    .collect::<Result<_, BackendError>>()?
            } else {
                VecDeque::new()
            };
            match since(seq, now, &log, Vec::new) {
                ClientsSince::Reload { .. } => {
                    let (seq, clients) = self.clients().await?;
                    Ok(ClientsSince::Reload { seq, clients })
                }
                other => Ok(other),
            }
        })
    }
}

/// A log entry as the script writes it.
#[derive(serde::Deserialize)]
struct LogEntry {
    seq: u64,
    change: Logged,
}
