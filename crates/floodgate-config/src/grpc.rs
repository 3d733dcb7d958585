//! `grpc:`: the gRPC listener serving Envoy's rate limit service
//! (`envoy.service.ratelimit.v3.RateLimitService`), off unless `listen` is
//! set, and the bounds on its connections.

use serde::{Deserialize, Serialize};

use crate::connections::ConnectionsSection;
use crate::error::{ConfigError, Source};
use crate::locate::Seg;

/// `grpc:`
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcSection {
    /// The gRPC listener's address (none: no gRPC listener).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// Bounds on its connections (`max_body` bounds one gRPC message).
    #[serde(default, skip_serializing_if = "ConnectionsSection::is_empty")]
    pub connections: ConnectionsSection,
}

impl GrpcSection {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.listen.is_none() && self.connections.is_empty()
    }

    /// Checks the bounds' ranges.
    pub fn check(&self, src: &Source) -> Result<(), ConfigError> {
        let at: Vec<Seg> = vec!["grpc".into(), "connections".into()];
        self.connections.check(src, &at)
    }
}
