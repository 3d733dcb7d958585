//! Where the live policy and its history are kept: nowhere but memory, a
//! state file (memory store), or Redis (shared by every replica).

use std::collections::VecDeque;
use std::io::Write as _;
use std::path::PathBuf;

use floodgate_core::store::BoxFuture;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use floodgate_config::PolicyDocument;

/// How many past versions are kept.
pub const HISTORY_LIMIT: usize = 100;

/// A version of the policy, as kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    /// The version (1 for the first).
    pub version: u64,
    /// The document (clients only by the digest of their keys).
    pub document: PolicyDocument,
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
    /// The document of that version (for rollbacks).
    pub document: PolicyDocument,
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
#[error("{0}")]
pub struct BackendError(pub String);

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
}

/// Kept in this process only: lost on restart.
#[derive(Default)]
pub struct MemoryBackend {
    kept: Mutex<(Option<Stored>, VecDeque<HistoryEntry>)>,
}

impl PolicyBackend for MemoryBackend {
    fn load(&self) -> BoxFuture<'_, Result<Option<Stored>, BackendError>> {
        let kept = self.kept.lock().0.clone();
        Box::pin(std::future::ready(Ok(kept)))
    }

    fn commit<'a>(
        &'a self,
        expected: u64,
        stored: &'a Stored,
        entry: &'a HistoryEntry,
    ) -> BoxFuture<'a, Result<Commit, BackendError>> {
        let mut kept = self.kept.lock();
        let current = kept.0.as_ref().map_or(0, |s| s.version);
        let out = if current != expected {
            Commit::Conflict { current }
        } else {
            kept.0 = Some(stored.clone());
            kept.1.push_front(entry.clone());
            kept.1.truncate(HISTORY_LIMIT);
            Commit::Done
        };
        Box::pin(std::future::ready(Ok(out)))
    }

    fn history(&self) -> BoxFuture<'_, Result<Vec<HistoryEntry>, BackendError>> {
        let h = self.kept.lock().1.iter().cloned().collect();
        Box::pin(std::future::ready(Ok(h)))
    }

    fn describe(&self) -> String {
        "memory (not persisted)".into()
    }
}

/// The state file's content.
#[derive(Default, Serialize, Deserialize)]
struct StateFile {
    current: Option<Stored>,
    history: VecDeque<HistoryEntry>,
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

    fn read(&self) -> Result<StateFile, BackendError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                BackendError(format!(
                    "{}: not a policy state file: {e}",
                    self.path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StateFile::default()),
            Err(e) => Err(BackendError(format!(
                "{}: cannot read: {e}",
                self.path.display()
            ))),
        }
    }

    fn write(&self, state: &StateFile) -> Result<(), BackendError> {
        let fail =
            |e: std::io::Error| BackendError(format!("{}: cannot write: {e}", self.path.display()));
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = self.path.file_name().unwrap_or_default().to_string_lossy();
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let text = serde_json::to_vec_pretty(state).map_err(|e| BackendError(e.to_string()))?;
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
        let out = self.read().and_then(|mut state| {
            let current = state.current.as_ref().map_or(0, |s| s.version);
            if current != expected {
                return Ok(Commit::Conflict { current });
            }
            state.current = Some(stored.clone());
            state.history.push_front(entry.clone());
            state.history.truncate(HISTORY_LIMIT);
            self.write(&state).map(|()| Commit::Done)
        });
        Box::pin(std::future::ready(out))
    }

    fn history(&self) -> BoxFuture<'_, Result<Vec<HistoryEntry>, BackendError>> {
        let _g = self.lock.lock();
        Box::pin(std::future::ready(
            self.read().map(|s| s.history.into_iter().collect()),
        ))
    }

    fn describe(&self) -> String {
        format!("state file {}", self.path.display())
    }
}
