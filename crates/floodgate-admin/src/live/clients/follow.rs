//! Following the clients other replicas change: the backend's log since
//! this replica's sequence number, every client again when too far behind,
//! the clients given back to a store that lost them, and a creation
//! refused here but kept later revoked.

use std::sync::atomic::Ordering;

use super::check::fingerprint_hex;
use super::registry::apply_one;
use super::{
    digest_of_hex, map_of, ClientRecord, ClientsCommit, ClientsOp, ClientsSince, ClientsWrite,
};
use crate::live::backend::HistoryEntry;
use crate::live::{unix_secs, LivePolicy};

impl LivePolicy {
    /// Brings the clients in step with the backend: applies the changes
    /// other replicas made, reads them all when too far behind, gives a
    /// store that lost them this replica's, and undoes a creation refused
    /// here that the store kept after all.
    pub async fn sync_clients(&self) {
        let _one_at_a_time = self.clients_lock.lock().await;
        if !self.follow_clients().await {
            return;
        }
        let refused: Vec<String> = std::mem::take(&mut *self.refused_clients.lock());
        let book = self.book.snapshot();
        for hex in refused {
            let landed = digest_of_hex(&hex).is_some_and(|d| book.contains_key(&d));
            if !landed {
                continue;
            }
            let r = ClientRecord {
                api_key_sha256: hex.clone(),
                tier: String::new(),
                name: None,
            };
            let write = ClientsWrite {
                op: ClientsOp::Delete,
                records: vec![r],
                seq: self.clients_seq(),
            };
            let entry = HistoryEntry {
                version: self.version(),
                time: unix_secs(self.clock.now()),
                actor: "replica".into(),
                summary: format!(
                    "clients -{} (its creation was refused, then kept by the policy store)",
                    fingerprint_hex(&hex)
                ),
                document: None,
            };
            match self.backend.change_clients(&write, Some(&entry)).await {
                Ok(_) => {
                    tracing::warn!(
                        fingerprint = fingerprint_hex(&hex),
                        "a client creation refused while the policy store was away was kept by it later: revoked"
                    );
                    self.follow_clients().await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "a client creation refused while the policy store was away was kept by it later, and cannot be revoked yet");
                    self.refused_clients.lock().push(hex);
                }
            }
        }
    }

    /// Reads the changes since this replica's number (the lock held);
    /// whether the backend answered.
    pub(super) async fn follow_clients(&self) -> bool {
        let local = self.clients_seq();
        let since = match self.backend.clients_since(local).await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, "clients sync: the backend cannot be read");
                return false;
            }
        };
        match since {
            ClientsSince::UpToDate => {}
            ClientsSince::Changes { seq, changes } => {
                self.book.update(|map| {
                    for c in &changes {
                        apply_one(map, c);
                    }
                });
                self.clients_seq.store(seq, Ordering::Release);
                tracing::debug!(
                    seq,
                    changes = changes.len(),
                    "clients changed on another replica: applied"
                );
            }
            ClientsSince::Reload { seq, clients } => {
                self.book.replace(map_of(&clients));
                self.clients_seq.store(seq, Ordering::Release);
                tracing::info!(
                    seq,
                    clients = clients.len(),
                    "clients read again from the policy store"
                );
            }
            ClientsSince::Lost { seq } if local > 0 => {
                let records = self.client_records();
                let write = ClientsWrite {
                    op: ClientsOp::Restore(local),
                    records,
                    seq: local,
                };
                match self.backend.change_clients(&write, None).await {
                    Ok(ClientsCommit::Done(_)) => tracing::warn!(
                        kept = seq,
                        seq = local,
                        clients = write.records.len(),
                        "the policy store had lost the clients: this replica's are kept there again"
                    ),
                    // Another replica restored them first, or the store
                    // holds clients again: take what it holds.
                    Ok(_) => match self.backend.clients().await {
                        Ok((seq, clients)) => {
                            self.book.replace(map_of(&clients));
                            self.clients_seq.store(seq, Ordering::Release);
                            tracing::warn!(
                                seq,
                                clients = clients.len(),
                                "the policy store had lost the clients and holds others now: this replica takes them"
                            );
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "clients sync: the backend cannot be read")
                        }
                    },
                    Err(e) => tracing::debug!(error = %e, "the clients cannot be restored yet"),
                }
            }
            ClientsSince::Lost { .. } => {}
        }
        true
    }
}
