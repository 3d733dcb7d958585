//! A replica's live clients: one `ClientBook` that every limiter of this
//! replica reads, its sequence number, the changes made here (checked
//! against the live policy's tiers, kept by the backend, then applied) and
//! the changes made elsewhere (followed through the backend's log).

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use floodgate_config::ConfigError;
use floodgate_core::policy::{fingerprint_of, ClientMap, Policy};

use super::{
    digest_of_hex, map_of, ClientRecord, ClientsCommit, ClientsOp, ClientsSince, ClientsWrite,
    Logged,
};
use crate::live::backend::{BackendError, HistoryEntry};
use crate::live::{unix_secs, LiveError, LivePolicy};

/// A name is at most this long.
pub const MAX_NAME: usize = 256;

/// What an import did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Imported {
    /// Clients new to the book.
    pub created: usize,
    /// Known clients whose tier or name changed.
    pub updated: usize,
    /// Known clients left as they were.
    pub unchanged: usize,
    /// The clients' sequence number after it.
    pub seq: u64,
}

/// A mistake in a client, named by its place in the request.
fn invalid(at: &str, field: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        file: "request body".into(),
        line: 0,
        column: 0,
        field: if at.is_empty() {
            field.into()
        } else {
            format!("{at}.{field}")
        },
        message: message.into(),
    }
}

/// Checks `records` against the tiers of `policy`: digests in hex, known
/// tiers, names within [`MAX_NAME`], no key twice.
pub fn check(records: &[ClientRecord], policy: &Policy, many: bool) -> Result<(), LiveError> {
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for (i, r) in records.iter().enumerate() {
        let at = if many {
            format!("clients[{i}]")
        } else {
            String::new()
        };
        if digest_of_hex(&r.api_key_sha256).is_none() {
            errors.push(invalid(
                &at,
                "api_key_sha256",
                "must be 64 lowercase hex digits",
            ));
        } else if !seen.insert(r.api_key_sha256.as_str()) {
            errors.push(invalid(&at, "api_key", "this API key is listed twice"));
        }
        if !policy.tiers.iter().any(|t| **t == *r.tier) {
            let tiers: Vec<&str> = policy.tiers.iter().map(|t| &**t).collect();
            errors.push(invalid(
                &at,
                "tier",
                format!("unknown tier `{}` (tiers: {})", r.tier, tiers.join(", ")),
            ));
        }
        if r.name.as_ref().is_some_and(|n| n.len() > MAX_NAME) {
            errors.push(invalid(&at, "name", format!("at most {MAX_NAME} bytes")));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(LiveError::Invalid(errors))
    }
}

fn fingerprint_hex(hex: &str) -> String {
    digest_of_hex(hex).map_or_else(|| hex.chars().take(16).collect(), |d| fingerprint_of(&d))
}

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
        let write = ClientsWrite { op, records };
        let entry = HistoryEntry {
            version: self.version(),
            time: unix_secs(self.clock.now()),
            actor: actor.to_string(),
            summary: summary.clone(),
            document: None,
        };
        let before = self.clients_seq();
        let seq = match self.backend.change_clients(&write, Some(&entry)).await {
            Ok(ClientsCommit::Done(seq)) => seq,
            Ok(ClientsCommit::Exists) => return Err(LiveError::ClientExists),
            Ok(ClientsCommit::Missing) => return Err(LiveError::NoSuchClient),
            Err(source) => return Err(self.clients_refused(actor, &write, source)),
        };
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
    async fn follow_clients(&self) -> bool {
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
                };
                match self.backend.change_clients(&write, None).await {
                    Ok(_) => tracing::warn!(
                        kept = seq,
                        seq = local,
                        clients = write.records.len(),
                        "the policy store had lost the clients: this replica's are kept there again"
                    ),
                    Err(e) => tracing::debug!(error = %e, "the clients cannot be restored yet"),
                }
            }
            ClientsSince::Lost { .. } => {}
        }
        true
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

fn apply_one(map: &mut ClientMap, change: &Logged) {
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
