//! Changes the policy store did not confirm. A store that stopped
//! answering midway (a frozen Redis) may still keep such a change when it
//! answers again; every replica then applies it like any other. The
//! replica that made it writes its audit line then, once, and a change
//! that must never land late (a client whose key nobody was shown) is
//! undone at once.

use std::sync::Arc;

use floodgate_config::PolicyDocument;

use parking_lot::Mutex;

/// What undoes a change on the document it made.
pub type Undo = Arc<dyn Fn(&mut PolicyDocument) + Send + Sync>;

/// A change the store did not confirm.
pub(super) struct Pending {
    /// The version it would make.
    pub(super) version: u64,
    /// The document it would keep.
    pub(super) document: PolicyDocument,
    /// Who made it.
    pub(super) actor: String,
    /// What it changed, in a line.
    pub(super) summary: String,
    /// Set for a change that must not land late.
    pub(super) undo: Option<Undo>,
}

/// How many unconfirmed changes are remembered (the oldest go first).
const KEPT: usize = 64;

/// The changes the store did not confirm, newest last.
#[derive(Default)]
pub(super) struct Unconfirmed(Mutex<Vec<Pending>>);

impl Unconfirmed {
    /// Remembers a change the store did not confirm.
    pub(super) fn remember(&self, pending: Pending) {
        let mut p = self.0.lock();
        if p.len() == KEPT {
            p.remove(0);
        }
        p.push(pending);
    }

    /// The kept `version` with `document` was applied: if it is a change
    /// of this replica's that the store had not confirmed, its audit line
    /// is written now, and its undo (if it must not land late) returned.
    /// Unconfirmed changes at or below `version` are forgotten: they
    /// landed or never will.
    pub(super) fn landed(&self, version: u64, document: &PolicyDocument) -> Option<Undo> {
        let mut pending = self.0.lock();
        let at = pending
            .iter()
            .position(|p| p.version == version && p.document == *document);
        let found = at.map(|i| pending.remove(i));
        pending.retain(|p| p.version > version);
        drop(pending);
        let p = found?;
        tracing::info!(
            target: "floodgate::audit",
            actor = %p.actor,
            version,
            summary = %p.summary,
            confirmed_late = true,
            "policy changed"
        );
        p.undo
    }
}
