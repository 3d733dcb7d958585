//! A replica's live clients: one `ClientBook` that every limiter of this
//! replica reads, its sequence number, the changes made here (checked
//! against the live policy's tiers, kept by the backend, then applied) and
//! the changes made elsewhere (followed through the backend's log).

use std::sync::atomic::Ordering;

use floodgate_core::policy::ClientMap;

use super::check::{check, fingerprint_hex, Imported};
use super::{digest_of_hex, ClientRecord, ClientsCommit, ClientsOp, ClientsWrite, Logged};
use crate::live::backend::{BackendError, HistoryEntry};
use crate::live::{unix_secs, LiveError, LivePolicy};

impl LivePolicy {
    /// The clients' sequence number on this replica.
    pub fn clients_seq(&self) -> u64 {
        self.clients_seq.load(Ordering::Acquire)
    }

    /// Registers a client (refused when its key is known).
    pub async fn create_client(&self, actor: &str, r: ClientRecord) -> Result<u64, LiveError> {
        let summary = format!(
            "clients +{} ({})",
            fingerprint_hex(&r.api_key_sha256),
            r.tier
        );
        self.write_clients(actor, ClientsOp::Create, vec![r], summary)
            .await
    }

    /// Changes a known client's tier or name.
    pub async fn update_client(&self, actor: &str, r: ClientRecord) -> Result<u64, LiveError> {
        let summary = format!(
            "clients ~{} ({})",
            fingerprint_hex(&r.api_key_sha256),
            r.tier
        );
        self.write_clients(actor, ClientsOp::Update, vec![r], summary)
            .await
    }

    /// Revokes a known client.
    pub async fn delete_client(&self, actor: &str, api_key_sha256: &str) -> Result<u64, LiveError> {
        let r = ClientRecord {
            api_key_sha256: api_key_sha256.to_string(),
            tier: String::new(),
            name: None,
        };
        let summary = format!("clients -{}", fingerprint_hex(api_key_sha256));
        self.write_clients(actor, ClientsOp::Delete, vec![r], summary)
            .await
    }

    /// Adds or changes `records` (idempotent: clients already as given
    /// are left alone, and an import that changes nothing writes nothing).
    pub async fn import_clients(
        &self,
        actor: &str,
        records: Vec<ClientRecord>,
    ) -> Result<Imported, LiveError> {
        let policy = self.policy().await;
        check(&records, &policy, true)?;
        let known = self.book.snapshot();
        let mut out = Imported::default();
        let mut write = Vec::new();
        for r in records {
            let d = r.digest().expect("checked");
            match known.get(&d) {
                Some(c) if c == &r.client() => out.unchanged += 1,
                Some(_) => {
                    out.updated += 1;
                    write.push(r);
                }
                None => {
                    out.created += 1;
                    write.push(r);
                }
            }
        }
        if write.is_empty() {
            out.seq = self.clients_seq();
            return Ok(out);
        }
        let summary = format!(
            "clients imported: {} new, {} changed, {} as they were",
            out.created, out.updated, out.unchanged
        );
        out.seq = self
            .write_clients(actor, ClientsOp::Import, write, summary)
            .await?;
        Ok(out)
    }

    /// Keeps and applies one change of the clients; its audit line names
    /// `actor`. Returns the clients' sequence number after it.
    pub(crate) async fn write_clients(
        &self,
        actor: &str,
        op: ClientsOp,
        records: Vec<ClientRecord>,
        summary: String,
    ) -> Result<u64, LiveError> {
        if op != ClientsOp::Delete && op != ClientsOp::Import {
            check(&records, &*self.policy().await, false)?;
        }
        let _one_at_a_time = self.clients_lock.lock().await;
        let entry = HistoryEntry {
            version: self.version(),
            time: unix_secs(self.clock.now()),
            actor: actor.to_string(),
            summary: summary.clone(),
            document: None,
        };
        let mut write = ClientsWrite {
            op,
            records,
            seq: self.clients_seq(),
        };
        let mut tries = 0;
        let (before, seq) = loop {
            let before = self.clients_seq();
            write.seq = before;
            match self.backend.change_clients(&write, Some(&entry)).await {
                Ok(ClientsCommit::Done(seq)) => break (before, seq),
                Ok(ClientsCommit::Exists) => return Err(LiveError::ClientExists),
                Ok(ClientsCommit::Missing) => return Err(LiveError::NoSuchClient),
                // The store lost its clients (restarted empty): give it
                // this replica's, then write.
                Ok(ClientsCommit::Lost) if tries == 0 => {
                    tries += 1;
                    self.follow_clients().await;
                }
                Ok(ClientsCommit::Lost) => {
                    return Err(self.clients_refused(
                        actor,
                        &write,
                        BackendError::Corrupt(
                            "the policy store lost its clients and cannot take them back yet"
                                .into(),
                        ),
                    ))
                }
                Err(source) => return Err(self.clients_refused(actor, &write, source)),
            }
        };
        if op != ClientsOp::Delete {
            // A key refused earlier and written now is no refused creation
            // any more: it must not be revoked.
            self.refused_clients
                .lock()
                .retain(|h| !write.records.iter().any(|r| r.api_key_sha256 == *h));
        }
        if seq == before + 1 {
            self.book.update(|map| apply(map, &write.logged_or_all()));
            self.clients_seq.store(seq, Ordering::Release);
        } else {
            // Another replica changed the clients meanwhile: read them
            // (this change included).
            self.follow_clients().await;
        }
        tracing::info!(
            target: "floodgate::audit",
            actor,
            clients = seq,
            summary = %summary,
            "clients changed"
        );
        Ok(seq)
    }

    /// A change the store did not confirm: logged; a creation is
    /// remembered, to be undone if the store kept it after all (nobody
    /// was shown its key).
    fn clients_refused(
        &self,
        actor: &str,
        write: &ClientsWrite,
        source: BackendError,
    ) -> LiveError {
        tracing::warn!(
            target: "floodgate::audit",
            actor,
            error = %source,
            "clients change refused: the policy store did not confirm it"
        );
        let version = self.version();
        if !source.is_transient() || matches!(source, BackendError::File { .. }) {
            return LiveError::NotKept { version, source };
        }
        if write.op == ClientsOp::Create {
            let mut refused = self.refused_clients.lock();
            refused.extend(write.records.iter().map(|r| r.api_key_sha256.clone()));
        }
        LiveError::NotConfirmed { version, source }
    }

    /// Every live client as a record, by digest.
    pub fn client_records(&self) -> Vec<ClientRecord> {
        let mut out: Vec<ClientRecord> = self
            .book
            .snapshot()
            .iter()
            .map(|(d, c)| ClientRecord {
                api_key_sha256: super::hex_of(d),
                tier: c.tier.to_string(),
                name: c.name.as_deref().map(str::to_string),
            })
            .collect();
        out.sort_by(|a, b| a.api_key_sha256.cmp(&b.api_key_sha256));
        out
    }
}

impl ClientsWrite {
    /// What this write does to a map, as a log entry (an import as every
    /// client it writes).
    fn logged_or_all(&self) -> Vec<Logged> {
        match self.op {
            ClientsOp::Delete => self
                .records
                .iter()
                .map(|r| Logged::Delete {
                    api_key_sha256: r.api_key_sha256.clone(),
                })
                .collect(),
            _ => self
                .records
                .iter()
                .map(|r| Logged::Put { client: r.clone() })
                .collect(),
        }
    }
}

fn apply(map: &mut ClientMap, changes: &[Logged]) {
    for c in changes {
        apply_one(map, c);
    }
}

pub(super) fn apply_one(map: &mut ClientMap, change: &Logged) {
    match change {
        Logged::Put { client } => {
            if let Some(d) = client.digest() {
                map.insert(d, client.client());
            }
        }
        Logged::Delete { api_key_sha256 } => {
            if let Some(d) = digest_of_hex(api_key_sha256) {
                map.remove(&d);
            }
        }
        // Never in a log read as changes.
        Logged::Reload => {}
    }
}
