//! The known clients: API key digest → tier and name. One book is shared
//! by every policy version built on it and changed in place (a copy of the
//! map swapped in), so registering, changing or revoking one client among
//! thousands rebuilds no limiter, and a request reads the clients with one
//! atomic load.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

/// The SHA-256 digest of an API key.
pub type KeyDigest = [u8; 32];

/// A known client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    /// Its tier.
    pub tier: Arc<str>,
    /// A name, for humans.
    pub name: Option<Arc<str>>,
}

/// The clients by the SHA-256 digest of their API key (keys are never held
/// in clear).
pub type ClientMap = HashMap<KeyDigest, Client>;

/// The known clients, shared and changed in place.
#[derive(Default)]
pub struct ClientBook {
    map: ArcSwap<ClientMap>,
}

impl std::fmt::Debug for ClientBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBook")
            .field("clients", &self.len())
            .finish()
    }
}

impl ClientBook {
    /// A book holding `map`.
    pub fn new(map: ClientMap) -> ClientBook {
        ClientBook {
            map: ArcSwap::from_pointee(map),
        }
    }

    /// The client whose key has `digest`.
    pub fn get(&self, digest: &KeyDigest) -> Option<Client> {
        self.map.load().get(digest).cloned()
    }

    /// The tier of the client whose key has `digest`.
    pub fn tier_of(&self, digest: &KeyDigest) -> Option<Arc<str>> {
        self.map.load().get(digest).map(|c| c.tier.clone())
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.map.load().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All of them, as they are now.
    pub fn snapshot(&self) -> Arc<ClientMap> {
        self.map.load_full()
    }

    /// Puts `map` in place of the clients.
    pub fn replace(&self, map: ClientMap) {
        self.map.store(Arc::new(map));
    }

    /// Changes the clients with `f`, on a copy swapped in whole: a request
    /// sees the clients before or after, never half of a change. Changes
    /// are not serialised here: the caller makes them one at a time.
    pub fn update(&self, f: impl FnOnce(&mut ClientMap)) {
        let mut map = ClientMap::clone(&self.map.load());
        f(&mut map);
        self.replace(map);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(tier: &str) -> Client {
        Client {
            tier: Arc::from(tier),
            name: None,
        }
    }

    #[test]
    fn a_change_is_seen_by_every_holder_of_the_book() {
        let book = Arc::new(ClientBook::new(HashMap::from([(
            [1u8; 32],
            client("free"),
        )])));
        let other = book.clone();
        let before = book.snapshot();
        other.update(|m| {
            m.insert([2u8; 32], client("pro"));
            m.remove(&[1u8; 32]);
        });
        assert_eq!(book.tier_of(&[2u8; 32]).as_deref(), Some("pro"));
        assert_eq!(book.get(&[1u8; 32]), None);
        assert_eq!(book.len(), 1);
        // A snapshot taken before keeps what it saw.
        assert_eq!(before.len(), 1);
        assert!(before.contains_key(&[1u8; 32]));
    }
}
