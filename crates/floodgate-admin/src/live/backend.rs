//! Where the live policy and its history are kept: nowhere but memory, a
//! state file (memory store), or Redis (shared by every replica).

use std::collections::VecDeque;
use std::io::Write as _;
use std::path::PathBuf;

use floodgate_core::store::BoxFuture;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use floodgate_config::PolicyDocument;

use super::clients::{ClientRecord, ClientsCommit, ClientsSince, ClientsWrite, KeptClients};

/// How many past changes are kept.
pub const HISTORY_LIMIT: usize = 100;
/// How many bytes of history are kept at most (the newest entry always).
pub const HISTORY_BYTES: usize = floodgate_redis::HISTORY_BYTES;

/// A version of the policy, as kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    /// The version (1 for the first).
    pub version: u64,
    /// The document (clients only by the digest of their keys).
    pub document: PolicyDocument,
    /// The digest of the config file's policy part last applied (at a
    /// start or a reload), so that a start can tell a file that changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_digest: Option<String>,
}

/// One change, as the history shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The version it made.
    pub version: u64,
    /// When, Unix seconds.
    pub time: u64,
    /// Who: the admin token's name, `config file`, or `rollback`.
    pub actor: String,
    /// What changed, in a line.
    pub summary: String,
    /// The document of that version (for rollbacks); none for a change
    /// of the clients, which makes no version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<PolicyDocument>,
}

/// The outcome of a commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Commit {
    /// Written.
    Done,
    /// Another change got there first: the kept version is `current`.
    Conflict {
        /// The kept version.
        current: u64,
    },
}

/// A backend that could not answer.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The state file cannot be read or written.
    #[error("{path}: cannot {action}: {source}")]
    File {
        /// The state file.
        path: PathBuf,
        /// `read` or `write`.
        action: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// What is kept is not a policy (a state file or a Redis value
    /// another program wrote).
    #[error("{0}")]
    Corrupt(String),
    /// Redis cannot be reached or failed.
    #[error("Redis: {0}")]
    Connect(#[from] floodgate_redis::ConnectError),
    /// Redis failed an operation.
    #[error("Redis: {0}")]
    Store(#[from] floodgate_core::StoreError),
}

impl BackendError {
    /// Whether trying again later may succeed (Redis away, a full disk);
    /// a corrupt state is not.
    pub fn is_transient(&self) -> bool {
        match self {
            BackendError::File { .. } | BackendError::Connect(_) => true,
            BackendError::Store(e) => e.transient,
            BackendError::Corrupt(_) => false,
        }
    }
}

/// Where the live policy is kept.
pub trait PolicyBackend: Send + Sync + 'static {
    /// The kept version, if any.
    fn load(&self) -> BoxFuture<'_, Result<Option<Stored>, BackendError>>;
    /// Writes `stored` if the kept version is `expected` (0: none), with
    /// its history entry, atomically.
    fn commit<'a>(
        &'a self,
        expected: u64,
        stored: &'a Stored,
        entry: &'a HistoryEntry,
    ) -> BoxFuture<'a, Result<Commit, BackendError>>;
    /// Past versions, newest first.
    fn history(&self) -> BoxFuture<'_, Result<Vec<HistoryEntry>, BackendError>>;
    /// Where it is kept, for logs.
    fn describe(&self) -> String;
    /// Every kept client, and the sequence number they are at.
    fn clients(&self) -> BoxFuture<'_, Result<(u64, Vec<ClientRecord>), BackendError>>;
    /// Makes `write` with its history `entry` (if any), atomically, or
    /// refuses it.
    fn change_clients<'a>(
        &'a self,
        write: &'a ClientsWrite,
        entry: Option<&'a HistoryEntry>,
    ) -> BoxFuture<'a, Result<ClientsCommit, BackendError>>;
    /// The changes of the clients after `seq`.
    fn clients_since(&self, seq: u64) -> BoxFuture<'_, Result<ClientsSince, BackendError>>;
}

/// Kept in this process only: lost on restart.
#[derive(Default)]
pub struct MemoryBackend {
    kept: Mutex<Kept>,
}

impl PolicyBackend for MemoryBackend {
    fn load(&self) -> BoxFuture<'_, Result<Option<Stored>, BackendError>> {
        let kept = self.kept.lock().current.clone();
        Box::pin(std::future::ready(Ok(kept)))
    }

    fn commit<'a>(
        &'a self,
        expected: u64,
        stored: &'a Stored,
        entry: &'a HistoryEntry,
    ) -> BoxFuture<'a, Result<Commit, BackendError>> {
        let out = self.kept.lock().commit(expected, stored, entry);
        Box::pin(std::future::ready(Ok(out)))
    }

    fn history(&self) -> BoxFuture<'_, Result<Vec<HistoryEntry>, BackendError>> {
        let h = self.kept.lock().merged();
        Box::pin(std::future::ready(Ok(h)))
    }

    fn describe(&self) -> String {
        "memory (not persisted)".into()
    }

    fn clients(&self) -> BoxFuture<'_, Result<(u64, Vec<ClientRecord>), BackendError>> {
        let k = self.kept.lock();
        let out = (k.clients.seq, k.clients.records());
        Box::pin(std::future::ready(Ok(out)))
    }

    fn change_clients<'a>(
        &'a self,
        write: &'a ClientsWrite,
        entry: Option<&'a HistoryEntry>,
    ) -> BoxFuture<'a, Result<ClientsCommit, BackendError>> {
        let out = self.kept.lock().change_clients(write, entry);
        Box::pin(std::future::ready(Ok(out)))
    }

    fn clients_since(&self, seq: u64) -> BoxFuture<'_, Result<ClientsSince, BackendError>> {
        let out = self.kept.lock().clients.since(seq);
        Box::pin(std::future::ready(Ok(out)))
    }
}

/// What a local backend keeps (the state file's content).
#[derive(Default, Serialize, Deserialize)]
struct Kept {
    current: Option<Stored>,
    history: VecDeque<HistoryEntry>,
    #[serde(default)]
    clients: KeptClients,
    /// The clients' history, apart from the policy's.
    #[serde(default)]
    clients_history: VecDeque<HistoryEntry>,
}

impl Kept {
    /// The compare-and-set of a commit: `stored` is kept, with `entry`
    /// first in the history, if the kept version is `expected`.
    fn commit(&mut self, expected: u64, stored: &Stored, entry: &HistoryEntry) -> Commit {
        let current = self.current.as_ref().map_or(0, |s| s.version);
        if current != expected {
            return Commit::Conflict { current };
        }
        self.current = Some(stored.clone());
        self.record(entry);
        Commit::Done
    }

    /// Makes a change of the clients, with its history entry.
    fn change_clients(
        &mut self,
        write: &ClientsWrite,
        entry: Option<&HistoryEntry>,
    ) -> ClientsCommit {
        let out = self.clients.change(write);
        if let (ClientsCommit::Done(_), Some(entry)) = (out, entry) {
            record(&mut self.clients_history, entry);
        }
        out
    }

    fn record(&mut self, entry: &HistoryEntry) {
        record(&mut self.history, entry);
    }

    /// Both histories, newest first.
    fn merged(&self) -> Vec<HistoryEntry> {
        merge_history(
            self.history.iter().cloned().collect(),
            self.clients_history.iter().cloned().collect(),
        )
    }
}

/// Puts `entry` first in `history`, kept within its count and its bytes
/// (the newest entry always).
fn record(history: &mut VecDeque<HistoryEntry>, entry: &HistoryEntry) {
    history.push_front(entry.clone());
    history.truncate(HISTORY_LIMIT);
    let mut total = 0;
    let keep = history
        .iter()
        .position(|e| {
            total += serde_json::to_vec(e).map_or(0, |v| v.len());
            total > HISTORY_BYTES
        })
        .unwrap_or(history.len())
        .max(1);
    history.truncate(keep);
}

/// The policy's history and the clients', each newest first, as one,
/// newest first: by time, then by the policy version (a client change
/// records the version live when it was made, so it comes after that
/// version's entry, above it in the list).
pub fn merge_history(policy: Vec<HistoryEntry>, clients: Vec<HistoryEntry>) -> Vec<HistoryEntry> {
    let mut out = Vec::with_capacity(policy.len() + clients.len());
    let (mut p, mut c) = (
        policy.into_iter().peekable(),
        clients.into_iter().peekable(),
    );
    loop {
        let take_policy = match (p.peek(), c.peek()) {
            (Some(a), Some(b)) => (a.time, a.version) > (b.time, b.version),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return out,
        };
        out.extend(if take_policy { p.next() } else { c.next() });
    }
}

/// Kept in a state file, written atomically (a temporary file beside it,
/// fsync, rename, fsync of the directory).
pub struct FileBackend {
    path: PathBuf,
    lock: Mutex<()>,
}

impl FileBackend {
    /// A backend writing `path`.
    pub fn new(path: PathBuf) -> FileBackend {
        FileBackend {
            path,
            lock: Mutex::new(()),
        }
    }

    fn read(&self) -> Result<Kept, BackendError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                BackendError::Corrupt(format!(
                    "{}: not a policy state file: {e}",
                    self.path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Kept::default()),
            Err(source) => Err(BackendError::File {
                path: self.path.clone(),
                action: "read",
                source,
            }),
        }
    }

    fn write(&self, state: &Kept) -> Result<(), BackendError> {
        let fail = |source: std::io::Error| BackendError::File {
            path: self.path.clone(),
            action: "write",
            source,
        };
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = self.path.file_name().unwrap_or_default().to_string_lossy();
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let text = serde_json::to_vec_pretty(state).expect("a policy state serialises");
        // Readable by the server's user only: it holds the key digests.
        let mut f = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(fail)?
        };
        f.write_all(&text).map_err(fail)?;
        f.sync_all().map_err(fail)?;
        drop(f);
        std::fs::rename(&tmp, &self.path).map_err(fail)?;
        // The rename itself is durable once the directory is synced.
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl PolicyBackend for FileBackend {
    fn load(&self) -> BoxFuture<'_, Result<Option<Stored>, BackendError>> {
        let _g = self.lock.lock();
        Box::pin(std::future::ready(self.read().map(|s| s.current)))
    }

    fn commit<'a>(
        &'a self,
        expected: u64,
        stored: &'a Stored,
        entry: &'a HistoryEntry,
    ) -> BoxFuture<'a, Result<Commit, BackendError>> {
        let _g = self.lock.lock();
        let out = self
            .read()
            .and_then(|mut state| match state.commit(expected, stored, entry) {
                Commit::Done => self.write(&state).map(|()| Commit::Done),
                conflict => Ok(conflict),
            });
        Box::pin(std::future::ready(out))
    }

    fn history(&self) -> BoxFuture<'_, Result<Vec<HistoryEntry>, BackendError>> {
        let _g = self.lock.lock();
        Box::pin(std::future::ready(self.read().map(|s| s.merged())))
    }

    fn describe(&self) -> String {
        format!("state file {}", self.path.display())
    }

    fn clients(&self) -> BoxFuture<'_, Result<(u64, Vec<ClientRecord>), BackendError>> {
        let _g = self.lock.lock();
        Box::pin(std::future::ready(
            self.read().map(|s| (s.clients.seq, s.clients.records())),
        ))
    }

    fn change_clients<'a>(
        &'a self,
        write: &'a ClientsWrite,
        entry: Option<&'a HistoryEntry>,
    ) -> BoxFuture<'a, Result<ClientsCommit, BackendError>> {
        let _g = self.lock.lock();
        let out = self
            .read()
            .and_then(|mut state| match state.change_clients(write, entry) {
                done @ ClientsCommit::Done(_) => self.write(&state).map(|()| done),
                refused => Ok(refused),
            });
        Box::pin(std::future::ready(out))
    }

    fn clients_since(&self, seq: u64) -> BoxFuture<'_, Result<ClientsSince, BackendError>> {
        let _g = self.lock.lock();
        Box::pin(std::future::ready(
            self.read().map(|s| s.clients.since(seq)),
        ))
    }
}
