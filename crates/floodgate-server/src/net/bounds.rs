//! Open connections, counted in total and per peer IP; a connection past
//! either bound is refused before it is served.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

/// Which bound a refused connection was past.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// `max`: the listener's open connections.
    Max,
    /// `max_per_ip`: the open connections of the peer's IP.
    MaxPerIp,
}

impl Refused {
    /// The metric label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Refused::Max => "max",
            Refused::MaxPerIp => "max_per_ip",
        }
    }
}

/// The open connections of one listener.
pub(crate) struct Bounds {
    max: u64,
    max_per_ip: usize,
    /// Shared with the `floodgate_connections_open` gauge.
    open: Arc<AtomicU64>,
    // A std-style lock, not tokio's: it is held for a map lookup, never
    // across an await.
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

impl Bounds {
    pub(crate) fn new(max: usize, max_per_ip: usize, open: Arc<AtomicU64>) -> Arc<Bounds> {
        Arc::new(Bounds {
            max: max as u64,
            max_per_ip,
            open,
            per_ip: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for a connection from `ip`, held until the connection ends.
    /// Only the accept loop admits, so the total cannot overshoot.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refused> {
        if self.open.load(Ordering::SeqCst) >= self.max {
            return Err(Refused::Max);
        }
        let ip = ip.to_canonical();
        {
            let mut per_ip = self.per_ip.lock();
            let n = per_ip.entry(ip).or_insert(0);
            if *n >= self.max_per_ip {
                return Err(Refused::MaxPerIp);
            }
            *n += 1;
        }
        self.open.fetch_add(1, Ordering::SeqCst);
        Ok(Slot {
            bounds: self.clone(),
            ip,
        })
    }
}

/// One admitted connection; dropping it frees its place.
pub(crate) struct Slot {
    bounds: Arc<Bounds>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut per_ip = self.bounds.per_ip.lock();
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
        drop(per_ip);
        self.bounds.open.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_bounds_hold_and_places_come_back() {
        let open = Arc::new(AtomicU64::new(0));
        let b = Bounds::new(3, 2, open.clone());
        let (a, c) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let a1 = b.admit(a).unwrap();
        let _a2 = b.admit(a).unwrap();
        assert_eq!(b.admit(a).err(), Some(Refused::MaxPerIp));
        let _c1 = b.admit(c).unwrap();
        assert_eq!(open.load(Ordering::SeqCst), 3);
        assert_eq!(b.admit(c).err(), Some(Refused::Max));
        drop(a1);
        assert_eq!(open.load(Ordering::SeqCst), 2);
        assert!(b.admit(a).is_ok());
        // A mapped IPv4 address is the same client.
        let mapped: IpAddr = "::ffff:10.0.0.2".parse().unwrap();
        assert_eq!(open.load(Ordering::SeqCst), 2);
        let _c2 = b.admit(mapped).unwrap();
        assert_eq!(b.per_ip.lock()[&c], 2);
    }
}
