//! Dashboard sessions: a random id (32 bytes from the OS) in an
//! `HttpOnly`, `SameSite=Strict` cookie; the server keeps only its
//! SHA-256, the token's name and role and an expiry, for at most
//! [`MAX_SESSIONS`] sessions (the one closest to expiring goes first).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use floodgate_core::{Clock, Timestamp};
use http::HeaderMap;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use crate::auth::{Actor, Role};

/// Sessions kept at most.
pub const MAX_SESSIONS: usize = 1_024;
/// The cookie's name.
pub const COOKIE: &str = "floodgate_session";

struct Session {
    actor: Actor,
    expires: Timestamp,
}

/// The open sessions.
pub struct Sessions {
    ttl: Duration,
    clock: Arc<dyn Clock>,
    open: Mutex<HashMap<[u8; 32], Session>>,
}

impl Sessions {
    /// No sessions; each lasts `ttl` on `clock`.
    pub fn new(ttl: Duration, clock: Arc<dyn Clock>) -> Sessions {
        Sessions {
            ttl,
            clock,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// How long a session lasts.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Opens a session for `name` with `role`; returns its id (hex), for
    /// the cookie only.
    pub fn open(&self, name: &str, role: Role) -> Result<String, getrandom::Error> {
        let mut id = [0u8; 32];
        getrandom::fill(&mut id)?;
        let now = self.clock.now();
        let mut open = self.open.lock();
        open.retain(|_, s| s.expires > now);
        if open.len() >= MAX_SESSIONS {
            if let Some(k) = open.iter().min_by_key(|(_, s)| s.expires).map(|(k, _)| *k) {
                open.remove(&k);
            }
        }
        open.insert(
            digest(&hex(&id)),
            Session {
                actor: Actor {
                    name: name.to_string(),
                    role,
                },
                expires: now.plus(self.ttl),
            },
        );
        Ok(hex(&id))
    }

    /// The actor of the session the request's cookie names, if it is open.
    pub fn actor(&self, headers: &HeaderMap) -> Option<Actor> {
        let id = cookie(headers)?;
        let now = self.clock.now();
        let mut open = self.open.lock();
        let key = digest(id);
        match open.get(&key) {
            Some(s) if s.expires > now => Some(s.actor.clone()),
            Some(_) => {
                open.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Closes the session the request's cookie names.
    pub fn close(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers) {
            self.open.lock().remove(&digest(id));
        }
    }

    /// Sessions open (expired ones included until they are next seen).
    pub fn len(&self) -> usize {
        self.open.lock().len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// The session id in the request's `Cookie` headers.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim())
        .filter(|v| v.len() == 64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use floodgate_core::ManualClock;

    fn with_cookie(id: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            format!("other=1; {COOKIE}={id}").parse().unwrap(),
        );
        h
    }

    #[test]
    fn a_session_expires_closes_and_is_bounded() {
        let clock = ManualClock::new(Timestamp::from_micros(1_000_000));
        let s = Sessions::new(Duration::from_secs(60), Arc::new(clock.clone()));
        let id = s.open("ops", Role::Read).unwrap();
        assert_eq!(id.len(), 64);
        assert_eq!(s.actor(&with_cookie(&id)).unwrap().name, "ops");
        assert!(s.actor(&with_cookie(&"0".repeat(64))).is_none());
        assert!(s.actor(&HeaderMap::new()).is_none());
        clock.advance(Duration::from_secs(61));
        assert!(s.actor(&with_cookie(&id)).is_none());
        let id = s.open("ops", Role::Read).unwrap();
        s.close(&with_cookie(&id));
        assert!(s.actor(&with_cookie(&id)).is_none());
        for _ in 0..MAX_SESSIONS + 10 {
            s.open("ops", Role::Read).unwrap();
        }
        assert_eq!(s.len(), MAX_SESSIONS);
    }
}
