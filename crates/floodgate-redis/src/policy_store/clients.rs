//! The known clients in Redis, apart from the policy document: a hash of
//! clients by their key's digest, a sequence number, and a change log the
//! replicas follow (one entry per change, newest first, trimmed), so that
//! one client's change reaches every replica without the others being
//! sent again. A change is `lua/clients_change.lua`.

use floodgate_core::StoreError;

use super::{bad_reply, parse_version, RedisPolicyStore, HISTORY_BYTES};
use crate::conn::bounded;

/// One change to the clients, as the script takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientsOp {
    /// One client, refused when its field is present.
    Create,
    /// One client, refused when its field is absent.
    Update,
    /// One field, refused when absent.
    Delete,
    /// Every pair written (present or not).
    Import,
    /// A store that lost its clients given a replica's, at its sequence
    /// number: refused (`Exists`) unless the store holds no client and is
    /// below that number.
    Restore(u64),
}

impl ClientsOp {
    fn name(self) -> &'static str {
        match self {
            ClientsOp::Create => "create",
            ClientsOp::Update => "update",
            ClientsOp::Delete => "delete",
            ClientsOp::Import => "import",
            ClientsOp::Restore(_) => "restore",
        }
    }
}

/// The outcome of [`RedisPolicyStore::change_clients`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientsCommit {
    /// Done, with this sequence number.
    Done(u64),
    /// A create whose client is present.
    Exists,
    /// An update or delete whose client is absent.
    Missing,
    /// The store is below the caller's sequence number: it lost its
    /// clients (restarted empty), to be restored first.
    Lost,
}

/// One change to make.
pub struct ClientsChange<'a> {
    /// What it does.
    pub op: ClientsOp,
    /// Field, value pairs (create, update, import, restore) or fields
    /// (delete, values empty).
    pub pairs: &'a [(String, String)],
    /// The change as the log keeps it (opaque text, JSON).
    pub log_entry: &'a str,
    /// The caller's sequence number (for a restore, the one restored).
    pub seq: u64,
    /// The history entry, if the change has one.
    pub history_entry: Option<&'a str>,
    /// History entries to keep.
    pub history_limit: usize,
    /// Log entries to keep.
    pub log_limit: usize,
}

impl RedisPolicyStore {
    /// Makes `change`, atomically with its sequence number, log entry,
    /// history entry and announcement.
    pub async fn change_clients(
        &self,
        change: &ClientsChange<'_>,
    ) -> Result<ClientsCommit, StoreError> {
        let i = &self.inner;
        let mut inv = i.clients_change.prepare_invoke();
        inv.key(&i.clients_key)
            .key(&i.doc_key)
            .key(&i.clients_log_key)
            .key(&i.clients_history_key)
            .arg(change.op.name())
            .arg(change.log_entry)
            .arg(change.history_entry.unwrap_or(""))
            .arg(change.history_limit.max(1))
            .arg(HISTORY_BYTES)
            .arg(change.log_limit.max(1))
            .arg(&i.channel)
            .arg(match change.op {
                ClientsOp::Restore(seq) => seq,
                _ => change.seq,
            });
        for (field, value) in change.pairs {
            inv.arg(field);
            if change.op != ClientsOp::Delete {
                inv.arg(value);
            }
        }
        let reply: Vec<redis::Value> = bounded(i.timeout, i.conn.invoke(&inv)).await?;
        match reply.as_slice() {
            [redis::Value::Int(1), redis::Value::Int(seq)] => Ok(ClientsCommit::Done(*seq as u64)),
            [redis::Value::Int(0), why] => {
                let why: String = redis::from_redis_value_ref(why)
                    .map_err(|e| bad_reply(format!("clients change: {e}")))?;
                match why.as_str() {
                    "exists" => Ok(ClientsCommit::Exists),
                    "missing" => Ok(ClientsCommit::Missing),
                    "lost" => Ok(ClientsCommit::Lost),
                    other => Err(bad_reply(format!("clients change refused: {other}"))),
                }
            }
            other => Err(bad_reply(format!("clients change: {other:?}"))),
        }
    }

    /// The clients' sequence number (0: none ever changed).
    pub async fn clients_seq(&self) -> Result<u64, StoreError> {
        let mut cmd = redis::cmd("HGET");
        cmd.arg(&self.inner.doc_key).arg("clients_seq");
        let v: Option<String> = self.query(&cmd).await?;
        v.map_or(Ok(0), |v| parse_version(&v))
    }

    /// Every client (field, value) and the sequence number they are at,
    /// read together.
    pub async fn clients(&self) -> Result<(u64, Vec<(String, String)>), StoreError> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("HGET")
            .arg(&self.inner.doc_key)
            .arg("clients_seq")
            .cmd("HGETALL")
            .arg(&self.inner.clients_key);
        let (seq, all): (Option<String>, Vec<(String, String)>) =
            bounded(self.inner.timeout, self.inner.conn.pipeline(&pipe)).await?;
        Ok((seq.map_or(Ok(0), |v| parse_version(&v))?, all))
    }

    /// The newest `n` log entries, newest first (each
    /// `{"seq":N,"change":…}`).
    pub async fn clients_log(&self, n: usize) -> Result<Vec<String>, StoreError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("LRANGE");
        cmd.arg(&self.inner.clients_log_key).arg(0).arg(n - 1);
        self.query(&cmd).await
    }

    /// Up to `limit` entries of the clients' history, newest first.
    pub async fn clients_history(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("LRANGE");
        cmd.arg(&self.inner.clients_history_key)
            .arg(0)
            .arg(limit - 1);
        self.query(&cmd).await
    }

    /// The clients hash's key.
    pub fn clients_key(&self) -> &str {
        &self.inner.clients_key
    }
}
