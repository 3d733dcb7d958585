//! `RedisPolicyStore`: the admin API's policy document in Redis, shared by
//! every replica, with compare-and-set commits, a bounded history and an
//! announcement of each new version.
//!
//! The document and history entries are opaque text (JSON, to the server;
//! this crate never parses them). Keys, all in the hash slot of the tag
//! `policy`, so that a commit is one script on one node, on a cluster too:
//!
//! - `{prefix}{policy}:doc`: a hash, fields `version` (decimal),
//!   `document` and `clients_seq` (the known clients' sequence number);
//! - `{prefix}{policy}:history`: a list of entries, newest first, trimmed
//!   on each commit to a count and to [`HISTORY_BYTES`];
//! - `{prefix}{policy}:clients`, `{prefix}{policy}:clients_log` and
//!   `{prefix}{policy}:clients_history`: the known clients, their change
//!   log and their history (`policy_store/clients.rs`);
//! - channel `{prefix}policy`: each committed version, as a decimal
//!   string, and each clients change, as `c` and its sequence number.
//!
//! A commit is `lua/policy_commit.lua`, a clients change
//! `lua/clients_change.lua`; a load, a version read and a history read are
//! one command each. How replicas learn of new versions is in
//! `policy_store/watch.rs` ([`RedisPolicyStore::watch`]).

mod clients;
mod watch;

pub use clients::{ClientsChange, ClientsCommit, ClientsOp};
pub use watch::Announced;

use std::sync::Arc;
use std::time::Duration;

use floodgate_core::StoreError;
use redis::Script;

use crate::config::RedisConfig;
use crate::conn::{bounded, Conn, ConnectError};
use crate::keys::{
    policy_channel, policy_clients_history_key, policy_clients_key, policy_clients_log_key,
    policy_doc_key, policy_history_key,
};

/// The commit script's source.
const COMMIT: &str = include_str!("../lua/policy_commit.lua");
/// The clients change script's source.
const CLIENTS_CHANGE: &str = include_str!("../lua/clients_change.lua");

/// The history is trimmed to this many bytes (the newest entry is always
/// kept), besides its count.
pub const HISTORY_BYTES: usize = 1 << 20;

/// The stored policy document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPolicy {
    /// Its version (at least 1).
    pub version: u64,
    /// The document, as committed.
    pub document: String,
    /// The digest of the config file's policy part last applied, when a
    /// commit gave one.
    pub file_digest: Option<String>,
}

/// The outcome of [`RedisPolicyStore::commit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Commit {
    /// Written, recorded in the history and announced.
    Done,
    /// Nothing written: the stored version was not the expected one.
    Conflict {
        /// The stored version (0: none).
        current: u64,
    },
}

/// The policy document in Redis or Redis Cluster. Clones share the
/// connections.
#[derive(Clone)]
pub struct RedisPolicyStore {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Conn,
    commit: Script,
    clients_change: Script,
    doc_key: String,
    clients_key: String,
    clients_log_key: String,
    clients_history_key: String,
    history_key: String,
    channel: String,
    /// Bound on each operation.
    timeout: Duration,
    connect_timeout: Duration,
}

impl RedisPolicyStore {
    /// Connects as `config` says (standalone or cluster, one connection;
    /// its `key_prefix` names the keys) and loads the commit script.
    ///
    /// Each operation is bounded by the larger of `config.timeout` and
    /// `config.connect_timeout`: these are admin and background calls,
    /// not on a request's path, and a document is larger than a decision.
    pub async fn connect(config: &RedisConfig) -> Result<RedisPolicyStore, ConnectError> {
        let timeout = config.timeout.max(config.connect_timeout);
        let conn = Conn::open(config, 1, timeout, None).await?;
        let commit = Script::new(COMMIT);
        conn.load(&commit, config.connect_timeout).await?;
        let clients_change = Script::new(CLIENTS_CHANGE);
        conn.load(&clients_change, config.connect_timeout).await?;
        let p = &config.key_prefix;
        Ok(RedisPolicyStore {
            inner: Arc::new(Inner {
                conn,
                commit,
                clients_change,
                doc_key: policy_doc_key(p),
                clients_key: policy_clients_key(p),
                clients_log_key: policy_clients_log_key(p),
                clients_history_key: policy_clients_history_key(p),
                history_key: policy_history_key(p),
                channel: policy_channel(p),
                timeout,
                connect_timeout: config.connect_timeout,
            }),
        })
    }

    /// The stored document, or `None` when nothing was ever committed.
    pub async fn load(&self) -> Result<Option<StoredPolicy>, StoreError> {
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(&self.inner.doc_key)
            .arg("version")
            .arg("document")
            .arg("file_digest");
        let (version, document, file_digest): (Option<String>, Option<String>, Option<String>) =
            self.query(&cmd).await?;
        match (version, document) {
            (None, _) => Ok(None),
            (Some(v), Some(document)) => Ok(Some(StoredPolicy {
                version: parse_version(&v)?,
                document,
                file_digest,
            })),
            (Some(v), None) => Err(StoreError::permanent(format!(
                "redis policy store: version {v} without a document in {}",
                self.inner.doc_key
            ))),
        }
    }

    /// The stored version, 0 when none: one `HGET`, cheap enough to poll.
    pub async fn version(&self) -> Result<u64, StoreError> {
        let mut cmd = redis::cmd("HGET");
        cmd.arg(&self.inner.doc_key).arg("version");
        let v: Option<String> = self.query(&cmd).await?;
        v.map_or(Ok(0), |v| parse_version(&v))
    }

    /// Stores `document` as `new_version` if the stored version is
    /// `expected` (0: nothing stored yet), pushes `history_entry` onto the
    /// history, keeping the newest `history_limit` entries (0: none) within
    /// [`HISTORY_BYTES`], and
    /// publishes `new_version` on the channel; all in one script, so two
    /// replicas committing on the same `expected` cannot both succeed.
    ///
    /// `new_version` must be greater than `expected` (versions only grow,
    /// and 0 means "none"); otherwise a permanent error.
    pub async fn commit(
        &self,
        expected: u64,
        new_version: u64,
        document: &str,
        history_entry: &str,
        history_limit: usize,
    ) -> Result<Commit, StoreError> {
        self.commit_with_digest(
            expected,
            new_version,
            document,
            history_entry,
            history_limit,
            None,
        )
        .await
    }

    /// [`RedisPolicyStore::commit`], keeping `file_digest` (the digest of
    /// the config file's policy part last applied) beside the document
    /// when given.
    pub async fn commit_with_digest(
        &self,
        expected: u64,
        new_version: u64,
        document: &str,
        history_entry: &str,
        history_limit: usize,
        file_digest: Option<&str>,
    ) -> Result<Commit, StoreError> {
        if new_version <= expected {
            return Err(StoreError::permanent(format!(
                "redis policy store: new version {new_version} is not past {expected}"
            )));
        }
        let i = &self.inner;
        let mut inv = i.commit.prepare_invoke();
        inv.key(&i.doc_key)
            .key(&i.history_key)
            .arg(expected.to_string())
            .arg(new_version.to_string())
            .arg(document)
            .arg(history_entry)
            .arg(history_limit)
            .arg(&i.channel)
            .arg(HISTORY_BYTES)
            .arg(file_digest.unwrap_or(""));
        let reply: Vec<redis::Value> = bounded(i.timeout, i.conn.invoke(&inv)).await?;
        match reply.as_slice() {
            [redis::Value::Int(1)] => Ok(Commit::Done),
            [redis::Value::Int(0), current] => {
                let current: String = redis::from_redis_value_ref(current)
                    .map_err(|e| bad_reply(format!("commit: {e}")))?;
                Ok(Commit::Conflict {
                    current: parse_version(&current)?,
                })
            }
            other => Err(bad_reply(format!("commit: {other:?}"))),
        }
    }

    /// Up to `limit` history entries, newest first.
    pub async fn history(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("LRANGE");
        cmd.arg(&self.inner.history_key).arg(0).arg(limit - 1);
        self.query(&cmd).await
    }

    /// The document hash's key.
    pub fn doc_key(&self) -> &str {
        &self.inner.doc_key
    }

    /// The history list's key.
    pub fn history_key(&self) -> &str {
        &self.inner.history_key
    }

    /// The channel new versions are published on.
    pub fn channel(&self) -> &str {
        &self.inner.channel
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        bounded(self.inner.timeout, self.inner.conn.query(cmd)).await
    }
}

fn bad_reply(msg: impl std::fmt::Display) -> StoreError {
    StoreError::permanent(format!("redis policy store reply: {msg}"))
}

fn parse_version(v: &str) -> Result<u64, StoreError> {
    v.parse()
        .map_err(|_| bad_reply(format!("version {v:?} is not a number")))
}
