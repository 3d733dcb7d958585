//! The clients as a local backend keeps them (memory, or the state file):
//! the map, the sequence number and the change log, changed the way the
//! Redis script changes them.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::{
    ClientRecord, ClientValue, ClientsCommit, ClientsOp, ClientsSince, ClientsWrite, Logged,
    LOG_LIMIT,
};

/// The kept clients.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KeptClients {
    /// By the hex digest of their key.
    #[serde(default)]
    pub clients: BTreeMap<String, ClientValue>,
    /// The sequence number of the last change.
    #[serde(default)]
    pub seq: u64,
    /// The last changes, newest first.
    #[serde(default)]
    pub log: VecDeque<(u64, Logged)>,
}

impl KeptClients {
    /// Every client.
    pub fn records(&self) -> Vec<ClientRecord> {
        self.clients
            .iter()
            .map(|(k, v)| ClientRecord::of(k.clone(), v.clone()))
            .collect()
    }

    /// Makes `write`, or refuses it (nothing changed).
    pub fn change(&mut self, write: &ClientsWrite) -> ClientsCommit {
        match write.op {
            ClientsOp::Restore(seq) if !self.clients.is_empty() || self.seq >= seq => {
                return ClientsCommit::Exists
            }
            ClientsOp::Restore(_) => {}
            _ if self.seq < write.seq => return ClientsCommit::Lost,
            _ => {}
        }
        let known = |k: &ClientRecord| self.clients.contains_key(&k.api_key_sha256);
        match (write.op, write.records.first()) {
            (ClientsOp::Create, Some(r)) if known(r) => return ClientsCommit::Exists,
            (ClientsOp::Update | ClientsOp::Delete, Some(r)) if !known(r) => {
                return ClientsCommit::Missing
            }
            _ => {}
        }
        match write.op {
            ClientsOp::Delete => {
                for r in &write.records {
                    self.clients.remove(&r.api_key_sha256);
                }
            }
            ClientsOp::Restore(_) => self.put(&write.records),
            _ => self.put(&write.records),
        }
        self.seq = match write.op {
            ClientsOp::Restore(seq) => seq,
            _ => self.seq + 1,
        };
        self.log.push_front((self.seq, write.logged()));
        self.log.truncate(LOG_LIMIT);
        ClientsCommit::Done(self.seq)
    }

    fn put(&mut self, records: &[ClientRecord]) {
        for r in records {
            self.clients.insert(r.api_key_sha256.clone(), r.value());
        }
    }

    /// The changes after `seq`.
    pub fn since(&self, seq: u64) -> ClientsSince {
        since(seq, self.seq, &self.log, || self.records())
    }
}

/// The changes after `seq` when the store is at `now` and its `log`
/// (newest first) holds the last ones; `all` reads every client.
pub fn since(
    seq: u64,
    now: u64,
    log: &VecDeque<(u64, Logged)>,
    all: impl FnOnce() -> Vec<ClientRecord>,
) -> ClientsSince {
    if now == seq {
        return ClientsSince::UpToDate;
    }
    if now < seq {
        return ClientsSince::Lost { seq: now };
    }
    let wanted = (now - seq) as usize;
    let mut changes: Vec<(u64, Logged)> = log.iter().take(wanted).cloned().collect();
    changes.reverse();
    let whole = changes.len() == wanted
        && changes
            .iter()
            .enumerate()
            .all(|(i, (s, l))| *s == seq + 1 + i as u64 && *l != Logged::Reload);
    if whole {
        ClientsSince::Changes {
            seq: now,
            changes: changes.into_iter().map(|(_, l)| l).collect(),
        }
    } else {
        ClientsSince::Reload {
            seq: now,
            clients: all(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(k: char, tier: &str) -> ClientRecord {
        ClientRecord {
            api_key_sha256: k.to_string().repeat(64),
            tier: tier.into(),
            name: None,
        }
    }

    fn one(op: ClientsOp, r: ClientRecord) -> ClientsWrite {
        ClientsWrite {
            op,
            records: vec![r],
            seq: 0,
        }
    }

    #[test]
    fn changes_are_refused_or_numbered_and_logged() {
        let mut k = KeptClients::default();
        assert_eq!(
            k.change(&one(ClientsOp::Create, rec('a', "free"))),
            ClientsCommit::Done(1)
        );
        assert_eq!(
            k.change(&one(ClientsOp::Create, rec('a', "pro"))),
            ClientsCommit::Exists
        );
        assert_eq!(
            k.change(&one(ClientsOp::Update, rec('b', "pro"))),
            ClientsCommit::Missing
        );
        assert_eq!(
            k.change(&one(ClientsOp::Update, rec('a', "pro"))),
            ClientsCommit::Done(2)
        );
        assert_eq!(
            k.since(0),
            ClientsSince::Changes {
                seq: 2,
                changes: vec![
                    Logged::Put {
                        client: rec('a', "free")
                    },
                    Logged::Put {
                        client: rec('a', "pro")
                    }
                ]
            }
        );
        assert_eq!(k.since(2), ClientsSince::UpToDate);
        assert_eq!(k.since(5), ClientsSince::Lost { seq: 2 });
        let import = ClientsWrite {
            op: ClientsOp::Import,
            records: vec![rec('b', "free"), rec('c', "free")],
            seq: 0,
        };
        assert_eq!(k.change(&import), ClientsCommit::Done(3));
        // An import is read whole.
        assert!(
            matches!(k.since(2), ClientsSince::Reload { seq: 3, ref clients } if clients.len() == 3)
        );
        assert_eq!(
            k.change(&one(ClientsOp::Delete, rec('a', ""))),
            ClientsCommit::Done(4)
        );
        assert_eq!(k.records().len(), 2);
        // A store that holds clients is not restored; an empty one below
        // the number is, and a writer ahead of a store is refused.
        let restore = ClientsWrite {
            op: ClientsOp::Restore(9),
            records: vec![rec('z', "free")],
            seq: 0,
        };
        assert_eq!(k.change(&restore), ClientsCommit::Exists);
        let mut lost = KeptClients::default();
        let mut ahead = one(ClientsOp::Create, rec('y', "free"));
        ahead.seq = 9;
        assert_eq!(lost.change(&ahead), ClientsCommit::Lost);
        assert_eq!(lost.change(&restore), ClientsCommit::Done(9));
        assert_eq!(lost.records(), vec![rec('z', "free")]);
        assert_eq!(lost.change(&ahead), ClientsCommit::Done(10));
    }

    #[test]
    fn a_replica_too_far_behind_reads_every_client() {
        let mut k = KeptClients::default();
        for i in 0..(LOG_LIMIT + 5) {
            let r = ClientRecord {
                api_key_sha256: format!("{i:064x}"),
                tier: "free".into(),
                name: None,
            };
            k.change(&one(ClientsOp::Create, r));
        }
        assert!(matches!(k.since(2), ClientsSince::Reload { .. }));
        assert!(matches!(
            k.since(10),
            ClientsSince::Changes { ref changes, .. } if changes.len() == LOG_LIMIT - 5
        ));
    }
}
