//! Two replicas publishing under one name overwrite each other's report:
//! the fleet then shows one replica whose instance id keeps changing. A
//! restart changes it once; a name whose id changed at least
//! [`CONFLICT_CHANGES`] times in the last 16 reads is flagged.

use std::collections::HashMap;

/// Id changes within the last 16 reads that flag a name.
pub const CONFLICT_CHANGES: u32 = 3;

/// The instance id each replica name last showed, and which of the last
/// 16 reads saw it change (one bit a read). Holds at most the names of the
/// last read.
#[derive(Default)]
pub struct Instances {
    names: HashMap<String, (String, u16)>,
}

impl Instances {
    /// Records a read, as `(replica name, instance id)` of each report
    /// read; answers the names flagged.
    pub fn observe<'a>(
        &mut self,
        read: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Vec<String> {
        let mut next = HashMap::new();
        let mut flagged = Vec::new();
        for (name, id) in read {
            if id.is_empty() {
                continue;
            }
            let (changed, history) = match self.names.remove(name) {
                Some((last, h)) => (last != id, h),
                None => (false, 0),
            };
            let history = (history << 1) | u16::from(changed);
            if history.count_ones() >= CONFLICT_CHANGES {
                flagged.push(name.to_string());
            }
            next.insert(name.to_string(), (id.to_string(), history));
        }
        self.names = next;
        flagged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member<'a>(name: &'a str, instance: &'a str) -> (&'a str, &'a str) {
        (name, instance)
    }

    #[test]
    fn a_restart_is_not_a_conflict_two_writers_are() {
        let mut i = Instances::default();
        assert!(i.observe([member("a", "1")]).is_empty());
        // A restart: one change.
        for _ in 0..5 {
            assert!(i.observe([member("a", "2")]).is_empty());
        }
        // Two replicas named `b` taking turns.
        let mut flagged = Vec::new();
        for n in 0..4 {
            flagged = i.observe([member("a", "2"), member("b", ["x", "y"][n % 2])]);
        }
        assert_eq!(flagged, vec!["b".to_string()]);
        // Once `b` settles, the flag goes after 16 reads.
        for _ in 0..16 {
            flagged = i.observe([member("b", "y")]);
        }
        assert!(flagged.is_empty());
        // A name no longer read is forgotten.
        assert!(!i.names.contains_key("a"));
    }
}
