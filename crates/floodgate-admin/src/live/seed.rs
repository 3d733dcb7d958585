//! Seeding a store that holds nothing yet: the config file's policy as
//! version 1 (unless a policy was kept meanwhile, which wins unless the file
//! changed since), the clients moved out of a kept document of an earlier
//! release, and the config file's clients when the store holds none.

use std::sync::atomic::Ordering;

use super::{clients, file_digest, LiveError, LivePolicy};

impl LivePolicy {
    /// Keeps the config file's policy as version 1 in a store that holds
    /// none; a policy kept meanwhile wins unless the file changed since the
    /// one it was last applied from.
    pub(super) async fn seed(&self) -> Result<(), LiveError> {
        let (doc, file) = {
            let c = self.current.lock().await;
            (c.document.clone(), c.file_document.clone())
        };
        let policy = self.validated(&doc)?;
        let digest = file_digest(&file);
        let digest_of_file = digest.clone();
        match self
            .commit_with("config file", Some(0), doc, policy, None, Some(digest))
            .await
        {
            Ok(_) => Ok(()),
            // A policy was kept after all (another replica seeded first,
            // or the store was away when this one started): take it, unless
            // the config file changed since the one it was last applied
            // from, which then wins as at any start.
            Err(LiveError::Conflict { .. }) => {
                self.sync().await;
                let kept_digest = self.current.lock().await.file_digest.clone();
                if kept_digest.is_some_and(|d| d != digest_of_file) {
                    let policy = self.validated(&file)?;
                    match self
                        .commit_with("config file", None, file, policy, None, Some(digest_of_file))
                        .await
                    {
                        Ok(done) => tracing::info!(
                            version = done.version,
                            "the config file's policy part changed since it was last applied: it is the live policy now"
                        ),
                        Err(LiveError::Conflict { .. }) => {
                            self.sync().await;
                        }
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Keeps the clients to seed, if any are left: those moved out of a
    /// kept document of an earlier release; and the config file's, only
    /// when the store holds no client (a store that holds some, read late
    /// because it was away at start, wins). On error they are tried again
    /// at the next sync.
    pub(super) async fn seed_clients(&self) -> Result<(), LiveError> {
        let moved = std::mem::take(&mut *self.seed_clients.lock());
        if !moved.is_empty() {
            let summary = format!(
                "clients imported: {} moved out of the kept policy document",
                moved.len()
            );
            if let Err(e) = self
                .write_clients(
                    "replica",
                    clients::ClientsOp::Import,
                    moved.clone(),
                    summary,
                )
                .await
            {
                *self.seed_clients.lock() = moved;
                return Err(e);
            }
        }
        let file = std::mem::take(&mut *self.seed_file_clients.lock());
        if file.is_empty() {
            return Ok(());
        }
        match self.backend.clients().await {
            Ok((0, kept)) if kept.is_empty() => {}
            Ok(_) => {
                // Kept by the store after all: those apply.
                tracing::info!("the policy store holds clients: the config file's do not seed it");
                {
                    let _one_at_a_time = self.clients_lock.lock().await;
                    self.book.replace(Default::default());
                    self.clients_seq.store(0, Ordering::Release);
                }
                self.sync_clients().await;
                return Ok(());
            }
            Err(e) => {
                *self.seed_file_clients.lock() = file;
                return Err(LiveError::NotKept {
                    version: self.version(),
                    source: e,
                });
            }
        }
        let summary = format!("clients imported: {} from the config file", file.len());
        match self
            .write_clients(
                "config file",
                clients::ClientsOp::Import,
                file.clone(),
                summary,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                *self.seed_file_clients.lock() = file;
                Err(e)
            }
        }
    }
}
