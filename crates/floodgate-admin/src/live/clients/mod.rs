//! The known clients (API key digest → tier and name), kept apart from the
//! policy document: a keyed collection in which each change is a small
//! record with a sequence number, so that registering one client among
//! thousands neither makes a policy version nor sends the others again.
//! Replicas follow the change log (`since`), or read every client again
//! when they are too far behind.
//!
//! # Layout
//!
//! - this file: the records, the changes, what a backend answers;
//! - `kept`: the clients as a local backend keeps them (memory, state
//!   file);
//! - `check`: a change checked before it is kept;
//! - `registry`: the live clients of a replica and the changes made here;
//! - `follow`: the changes made elsewhere.

pub mod check;
mod follow;
pub(crate) mod kept;
pub mod registry;

use floodgate_core::policy::{Client, ClientMap, KeyDigest};
use serde::{Deserialize, Serialize};

pub use kept::KeptClients;

/// Change log entries kept, for replicas that are behind.
pub const LOG_LIMIT: usize = 1000;

/// A client as kept: the SHA-256 of its key in hex, its tier, a name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientRecord {
    /// The SHA-256 of the API key, 64 lowercase hex digits.
    pub api_key_sha256: String,
    /// Its tier.
    pub tier: String,
    /// A name, for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// What is kept under a client's digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientValue {
    /// Its tier.
    pub tier: String,
    /// A name, for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl ClientRecord {
    /// The record of `digest` kept as `value`.
    pub fn of(api_key_sha256: String, value: ClientValue) -> ClientRecord {
        ClientRecord {
            api_key_sha256,
            tier: value.tier,
            name: value.name,
        }
    }

    /// What is kept under its digest.
    pub fn value(&self) -> ClientValue {
        ClientValue {
            tier: self.tier.clone(),
            name: self.name.clone(),
        }
    }

    /// Its digest, if its hex is one.
    pub fn digest(&self) -> Option<KeyDigest> {
        digest_of_hex(&self.api_key_sha256)
    }

    /// The client the limiter knows.
    pub fn client(&self) -> Client {
        Client {
            tier: self.tier.as_str().into(),
            name: self.name.as_deref().map(Into::into),
        }
    }
}

/// A digest from 64 lowercase hex digits.
pub fn digest_of_hex(hex: &str) -> Option<KeyDigest> {
    if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut d = [0u8; 32];
    for (i, byte) in d.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(d)
}

/// A digest in lowercase hex.
pub fn hex_of(digest: &KeyDigest) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// `records` as the limiter's map (records whose digest is not hex are
/// left out: a backend only keeps checked ones).
pub fn map_of(records: &[ClientRecord]) -> ClientMap {
    records
        .iter()
        .filter_map(|r| Some((r.digest()?, r.client())))
        .collect()
}

/// The clients of `doc` as records (`doc` normalized: digests only),
/// taken out of it.
pub fn take_clients(doc: &mut floodgate_config::PolicyDocument) -> Vec<ClientRecord> {
    std::mem::take(&mut doc.clients)
        .into_iter()
        .filter_map(|c| {
            Some(ClientRecord {
                api_key_sha256: c.api_key_sha256?,
                tier: c.tier,
                name: c.name,
            })
        })
        .collect()
}

/// What a change does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientsOp {
    /// One new client (refused when its key is known).
    Create,
    /// One known client changed (refused when unknown).
    Update,
    /// One known client removed (refused when unknown).
    Delete,
    /// Clients added or changed, any number.
    Import,
    /// A store that lost its clients given a replica's, at this sequence
    /// number: refused (`Exists`) unless it holds none and is below it.
    Restore(u64),
}

/// A change to write.
#[derive(Clone, Debug)]
pub struct ClientsWrite {
    /// What it does.
    pub op: ClientsOp,
    /// The clients it writes (for a delete, only their digests count).
    pub records: Vec<ClientRecord>,
    /// The writer's sequence number: a store below it lost its clients
    /// (the change is refused as `Lost`, to restore them first).
    pub seq: u64,
}

impl ClientsWrite {
    /// The change as the log keeps it: one client's, or "read them all
    /// again" for an import or a restore.
    pub fn logged(&self) -> Logged {
        match (self.op, self.records.as_slice()) {
            (ClientsOp::Create | ClientsOp::Update, [r]) => Logged::Put { client: r.clone() },
            (ClientsOp::Delete, [r]) => Logged::Delete {
                api_key_sha256: r.api_key_sha256.clone(),
            },
            _ => Logged::Reload,
        }
    }
}

/// A change as the log keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Logged {
    /// One client added or changed.
    Put {
        /// The client.
        client: ClientRecord,
    },
    /// One client removed.
    Delete {
        /// Its digest.
        api_key_sha256: String,
    },
    /// Many changed: read them all again.
    Reload,
}

/// The outcome of a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientsCommit {
    /// Done: the clients are at this sequence number.
    Done(u64),
    /// A create whose key is known.
    Exists,
    /// An update or delete whose key is unknown.
    Missing,
    /// The store is below the writer's sequence number: it lost its
    /// clients, to be restored first.
    Lost,
}

/// The changes after a sequence number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientsSince {
    /// None.
    UpToDate,
    /// These, oldest first, up to `seq`.
    Changes {
        /// The sequence number they lead to.
        seq: u64,
        /// The changes.
        changes: Vec<Logged>,
    },
    /// Too many, or not kept any more: every client, at `seq`.
    Reload {
        /// Their sequence number.
        seq: u64,
        /// Every client.
        clients: Vec<ClientRecord>,
    },
    /// The store is behind the number asked for (it lost its clients).
    Lost {
        /// The store's number.
        seq: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_in_hex_go_both_ways() {
        let d = floodgate_core::policy::key_digest("a key of some length");
        assert_eq!(digest_of_hex(&hex_of(&d)), Some(d));
        assert_eq!(digest_of_hex("ab"), None);
        assert_eq!(digest_of_hex(&"A".repeat(64)), None);
        assert_eq!(digest_of_hex(&"g".repeat(64)), None);
    }

    #[test]
    fn only_one_clients_change_is_logged_as_itself() {
        let r = ClientRecord {
            api_key_sha256: "0".repeat(64),
            tier: "free".into(),
            name: None,
        };
        let write = |op, n| ClientsWrite {
            op,
            records: vec![r.clone(); n],
            seq: 0,
        };
        assert_eq!(
            write(ClientsOp::Create, 1).logged(),
            Logged::Put { client: r.clone() }
        );
        assert_eq!(
            write(ClientsOp::Delete, 1).logged(),
            Logged::Delete {
                api_key_sha256: "0".repeat(64)
            }
        );
        assert_eq!(write(ClientsOp::Import, 1).logged(), Logged::Reload);
        assert_eq!(write(ClientsOp::Restore(3), 1).logged(), Logged::Reload);
    }
}
