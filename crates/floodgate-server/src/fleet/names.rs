//! Two replicas publishing under one name overwrite each other's report:
//! the fleet then shows one replica whose instance id keeps changing. A
//! restart changes it once; a name whose id changed at least
//! [`CONFLICT_CHANGES`] times in the last 16 reads is flagged.

use std::collections::HashMap;

use floodgate_redis::FleetMember;

/// Id changes within the last 16 reads that flag a name.
pub const CONFLICT_CHANGES: u32 = 3;

/// The instance id each replica name last showed, and which of the last
/// 16 reads saw it change (one bit a read). Holds at most the names of the
/// last read.
#[derive(Default)]
pub struct Instances {
    names: HashMap<String, (String, u16)>,
}

/// The instance id in a report, without parsing the whole report.
fn instance_of(report: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Id {
        #[serde(default)]
        instance: String,
    }
    serde_json::from_str::<Id>(report)
        .ok()
        .map(|i| i.instance)
        .filter(|i| !i.is_empty())
}

impl Instances {
    /// Records a read; answers the names flagged.
    pub fn observe(&mut self, members: &[FleetMember]) -> Vec<String> {
        let mut next = HashMap::with_capacity(members.len());
        let mut flagged = Vec::new();
        for m in members {
            let Some(id) = m.report.as_deref().and_then(instance_of) else {
                continue;
            };
            let (changed, history) = match self.names.remove(&m.replica) {
                Some((last, h)) => (last != id, h),
                None => (false, 0),
            };
            let history = (history << 1) | u16::from(changed);
            if history.count_ones() >= CONFLICT_CHANGES {
                flagged.push(m.replica.clone());
            }
            next.insert(m.replica.clone(), (id, history));
        }
        self.names = next;
        flagged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, instance: &str) -> FleetMember {
        FleetMember {
            replica: name.into(),
            seen_ms: 0,
            report: Some(format!("{{\"instance\":\"{instance}\",\"other\":1}}")),
        }
    }

    #[test]
    fn a_restart_is_not_a_conflict_two_writers_are() {
        let mut i = Instances::default();
        assert!(i.observe(&[member("a", "1")]).is_empty());
        // A restart: one change.
        for _ in 0..5 {
            assert!(i.observe(&[member("a", "2")]).is_empty());
        }
        // Two replicas named `b` taking turns.
        let mut flagged = Vec::new();
        for n in 0..4 {
            flagged = i.observe(&[member("a", "2"), member("b", ["x", "y"][n % 2])]);
        }
        assert_eq!(flagged, vec!["b".to_string()]);
        // Once `b` settles, the flag goes after 16 reads.
        for _ in 0..16 {
            flagged = i.observe(&[member("b", "y")]);
        }
        assert!(flagged.is_empty());
        // A name no longer read is forgotten.
        assert!(!i.names.contains_key("a"));
    }
}
