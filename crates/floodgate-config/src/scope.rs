//! Where a limit is counted when replicas run in several regions
//! (`scope`): `region` (the default: the region's own store, the limit as
//! written), `region_weighted` (the region's own store, the limit times
//! the region's weight) or `global` (the store all regions share; leased
//! slices unless `sync` says `exact`).
//!
//! ```yaml
//! scope: global
//! ```

use floodgate_core::store::Scope;
use serde::{Deserialize, Serialize};

/// `scope` as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeField {
    /// The region's own store, the limit as written.
    Region,
    /// The region's own store, the limit times the region's weight.
    RegionWeighted,
    /// The store all regions share.
    Global,
}

impl From<ScopeField> for Scope {
    fn from(f: ScopeField) -> Scope {
        match f {
            ScopeField::Region => Scope::Region,
            ScopeField::RegionWeighted => Scope::RegionWeighted,
            ScopeField::Global => Scope::Global,
        }
    }
}
