//! Bounds on one listener's connections, each listener with its
//! defaults.

use std::time::Duration;

use floodgate_config::server::ConnectionsSection;

/// Bounds on one listener's connections, defaults filled in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Time to send a whole request head.
    pub header_read_timeout: Duration,
    /// A keep-alive connection with no request in flight closes after this.
    pub idle_timeout: Duration,
    /// Open connections at most.
    pub max: usize,
    /// Open connections from one peer IP at most.
    pub max_per_ip: usize,
    /// Largest request head, bytes.
    pub max_head: usize,
    /// Largest request body, bytes.
    pub max_body: u64,
}

impl ConnectionLimits {
    /// The public listener's defaults.
    pub const PUBLIC: ConnectionLimits = ConnectionLimits {
        header_read_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        max: 10_000,
        max_per_ip: 256,
        max_head: 16 << 10,
        max_body: 10 << 20,
    };

    /// The gRPC listener's defaults: few clients (Envoy proxies), many
    /// requests each, small messages.
    pub const GRPC: ConnectionLimits = ConnectionLimits {
        max: 1_024,
        max_per_ip: 64,
        max_body: 64 << 10,
        ..ConnectionLimits::PUBLIC
    };

    /// The admin listener's defaults: few clients, small bodies.
    pub const ADMIN: ConnectionLimits = ConnectionLimits {
        max: 128,
        max_per_ip: 128,
        max_body: 1 << 20,
        ..ConnectionLimits::PUBLIC
    };

    /// `section` over `defaults` (its ranges are checked at load).
    pub fn from_section(section: &ConnectionsSection, defaults: ConnectionLimits) -> Self {
        let count = |n: Option<u64>, d: usize| n.map_or(d, |n| usize::try_from(n).unwrap_or(d));
        ConnectionLimits {
            header_read_timeout: section
                .header_read_timeout
                .map_or(defaults.header_read_timeout, |d| d.0),
            idle_timeout: section.idle_timeout.map_or(defaults.idle_timeout, |d| d.0),
            max: count(section.max, defaults.max),
            max_per_ip: count(section.max_per_ip, defaults.max_per_ip),
            max_head: count(section.max_head.map(|s| s.0), defaults.max_head),
            max_body: section.max_body.map_or(defaults.max_body, |s| s.0),
        }
    }
}
