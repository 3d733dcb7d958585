//! What a policy change does: rules, limits, tiers, clients and overrides
//! added, removed and changed, and which counters it restarts and which it
//! keeps (a limit whose numbers changed keeps its counts where its
//! algorithm allows, see `Quota::hash_state_shape`; one whose algorithm,
//! unit, window or rule key changed starts afresh).

use std::collections::BTreeMap;

use floodgate_core::policy::{fingerprint_of, Policy};
use serde::Serialize;

use floodgate_config::PolicyDocument;

/// Names added, removed and changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    /// New.
    pub added: Vec<String>,
    /// Gone.
    pub removed: Vec<String>,
    /// Different.
    pub changed: Vec<String>,
}

impl Changes {
    fn between<V: PartialEq>(old: &BTreeMap<String, V>, new: &BTreeMap<String, V>) -> Changes {
        Changes {
            added: new
                .keys()
                .filter(|k| !old.contains_key(*k))
                .cloned()
                .collect(),
            removed: old
                .keys()
                .filter(|k| !new.contains_key(*k))
                .cloned()
                .collect(),
            changed: new
                .iter()
                .filter(|(k, v)| old.get(*k).is_some_and(|o| o != *v))
                .map(|(k, _)| k.clone())
                .collect(),
        }
    }

    fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    fn summary(&self, what: &str) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let mut parts = Vec::new();
        for (sign, list) in [
            ("+", &self.added),
            ("-", &self.removed),
            ("~", &self.changed),
        ] {
            parts.extend(list.iter().map(|n| format!("{sign}{n}")));
        }
        Some(format!("{what} {}", parts.join(" ")))
    }
}

/// The difference between two policies.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    /// Rules, by name.
    pub rules: Changes,
    /// Limits, as `rule/limit`, `rule@tier/limit`, `rule!identity/limit`
    /// (an override's) or `global/limit`.
    pub limits: Changes,
    /// Tiers.
    pub tiers: Changes,
    /// Clients, by key fingerprint.
    pub clients: Changes,
    /// Overrides, as `rule/identity`.
    pub overrides: Changes,
    /// Whether the identity settings or the default tier changed.
    pub settings_changed: bool,
    /// Sections of the document that changed in a way the lists above do
    /// not tell (the order of rules or tiers, a field they do not show).
    pub other: Vec<String>,
    /// Limits whose counters start afresh: changed limits whose algorithm,
    /// unit or window changed, and every limit of a rule whose key
    /// changed.
    pub counters_restarted: Vec<String>,
    /// Changed limits whose counters carry over (a bucket keeps its level,
    /// clamped to a new capacity; a window keeps its count).
    pub counters_kept: Vec<String>,
}

/// Each limit's definition (its id and numbers), by `rule/limit`.
fn limit_defs(p: &Policy) -> BTreeMap<String, (String, String)> {
    let mut quotas = limit_quotas(p);
    limit_ids(p)
        .into_iter()
        .map(|(k, id)| {
            let q = quotas.remove(&k).unwrap_or_default();
            (k, (id, q))
        })
        .collect()
}

/// Each limit's numbers and soft share, by `rule/limit`.
fn limit_quotas(p: &Policy) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for r in &p.rules {
        for l in &r.limits {
            out.insert(
                format!("{}/{}", r.name, l.name),
                format!("{:?}/{:?}", l.quota, l.soft),
            );
        }
        for (t, ls) in &r.tiers {
            for l in ls {
                out.insert(
                    format!("{}@{t}/{}", r.name, l.name),
                    format!("{:?}/{:?}", l.quota, l.soft),
                );
            }
        }
    }
    for (rule, by_id) in &p.overrides {
        for (who, o) in by_id {
            for l in &o.limits {
                out.insert(
                    format!("{rule}!{who}/{}", l.name),
                    format!("{:?}/{:?}", l.quota, l.soft),
                );
            }
        }
    }
    for l in &p.global {
        out.insert(
            format!("global/{}", l.name),
            format!("{:?}/{:?}", l.quota, l.soft),
        );
    }
    out
}

fn limit_ids(p: &Policy) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for r in &p.rules {
        for l in &r.limits {
            out.insert(format!("{}/{}", r.name, l.name), l.id.to_string());
        }
        for (t, ls) in &r.tiers {
            for l in ls {
                out.insert(format!("{}@{t}/{}", r.name, l.name), l.id.to_string());
            }
        }
    }
    for (rule, by_id) in &p.overrides {
        for (who, o) in by_id {
            for l in &o.limits {
                out.insert(format!("{rule}!{who}/{}", l.name), l.id.to_string());
            }
        }
    }
    for l in &p.global {
        out.insert(format!("global/{}", l.name), l.id.to_string());
    }
    out
}

impl Diff {
    /// From `old` to `new` (each a validated policy and its document).
    pub fn between(old: (&Policy, &PolicyDocument), new: (&Policy, &PolicyDocument)) -> Diff {
        let rules = |d: &PolicyDocument| -> BTreeMap<String, String> {
            d.rules
                .iter()
                .map(|r| (r.name.clone(), serde_json::to_string(r).unwrap_or_default()))
                .collect()
        };
        let tiers = |p: &Policy| -> BTreeMap<String, ()> {
            p.tiers.iter().map(|t| (t.to_string(), ())).collect()
        };
        let clients = |p: &Policy| -> BTreeMap<String, (String, Option<String>)> {
            p.clients
                .snapshot()
                .iter()
                .map(|(d, c)| {
                    let name = c.name.as_deref().map(str::to_string);
                    (fingerprint_of(d), (c.tier.to_string(), name))
                })
                .collect()
        };
        let overrides = |p: &Policy| -> BTreeMap<String, String> {
            p.overrides
                .iter()
                .flat_map(|(rule, m)| {
                    m.iter()
                        .map(move |(who, o)| (format!("{rule}/{who}"), format!("{o:?}")))
                })
                .collect()
        };
        let (old_ids, new_ids) = (limit_ids(old.0), limit_ids(new.0));
        let limits = Changes::between(&limit_defs(old.0), &limit_defs(new.0));
        let (mut restarted, kept): (Vec<String>, Vec<String>) = limits
            .changed
            .iter()
            .cloned()
            .partition(|k| old_ids.get(k) != new_ids.get(k));
        for r in &new.0.rules {
            let rekeyed = old
                .0
                .rules
                .iter()
                .any(|o| o.name == r.name && o.key != r.key);
            if rekeyed || old.0.identity.ipv6_prefix != new.0.identity.ipv6_prefix {
                let prefix = format!("{}/", r.name);
                let tier_prefix = format!("{}@", r.name);
                restarted.extend(
                    new_ids
                        .keys()
                        .filter(|k| k.starts_with(&prefix) || k.starts_with(&tier_prefix))
                        .filter(|k| old_ids.contains_key(*k))
                        .cloned(),
                );
            }
        }
        restarted.sort();
        restarted.dedup();
        let kept: Vec<String> = kept
            .into_iter()
            .filter(|k| restarted.binary_search(k).is_err())
            .collect();
        let mut diff = Diff {
            rules: Changes::between(&rules(old.1), &rules(new.1)),
            limits,
            tiers: Changes::between(&tiers(old.0), &tiers(new.0)),
            clients: Changes::between(&clients(old.0), &clients(new.0)),
            overrides: Changes::between(&overrides(old.0), &overrides(new.0)),
            settings_changed: old.1.identity != new.1.identity
                || old.1.default_tier != new.1.default_tier,
            other: Vec::new(),
            counters_restarted: restarted,
            counters_kept: kept,
        };
        diff.other = diff.untold(old.1, new.1);
        diff
    }

    /// The document's sections that differ and that no list of `self`
    /// reports.
    fn untold(&self, old: &PolicyDocument, new: &PolicyDocument) -> Vec<String> {
        let sections = |d: &PolicyDocument| match serde_json::to_value(d) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        let (a, b) = (sections(old), sections(new));
        let told = |k: &str| match k {
            "rules" => !self.rules.is_empty(),
            "tiers" => !self.tiers.is_empty(),
            "clients" => !self.clients.is_empty(),
            "overrides" => !self.overrides.is_empty(),
            "identity" | "default_tier" => self.settings_changed,
            "global" => self
                .limits
                .summary("")
                .is_some_and(|s| s.contains("global/")),
            _ => false,
        };
        let mut out: Vec<String> = a
            .keys()
            .chain(b.keys())
            .filter(|k| a.get(*k) != b.get(*k) && !told(k))
            .cloned()
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.summary() == "no change"
    }

    /// The change in one line, for the history and the audit log.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = [
            self.rules.summary("rules"),
            self.limits.summary("limits"),
            self.tiers.summary("tiers"),
            self.clients.summary("clients"),
            self.overrides.summary("overrides"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if self.settings_changed {
            parts.push("identity settings".into());
        }
        if !self.other.is_empty() {
            parts.push(format!("{} (order or other fields)", self.other.join(", ")));
        }
        if parts.is_empty() {
            "no change".into()
        } else {
            parts.join("; ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(yaml: &str) -> (Policy, PolicyDocument) {
        let doc = PolicyDocument::from_yaml("t", yaml).unwrap();
        let p = doc
            .validate(&floodgate_config::Source {
                name: "t",
                text: yaml,
            })
            .unwrap();
        (p, doc)
    }

    #[test]
    fn a_changed_limit_restarts_its_counters_and_nothing_else() {
        let a = both("tiers: [pro]\nrules:\n  - name: api\n    limits: [{name: s, algorithm: gcra, rate: 1/s}, {name: d, algorithm: fixed_window, limit: 9, window: 1d}]\n  - name: old\n    limits: [{algorithm: gcra, rate: 1/s}]\n");
        let b = both("tiers: [pro, gold]\nrules:\n  - name: api\n    limits: [{name: s, algorithm: sliding_window_counter, limit: 1, window: 1s}, {name: d, algorithm: fixed_window, limit: 9, window: 1d}]\n  - name: new\n    limits: [{algorithm: gcra, rate: 1/s}]\n");
        let d = Diff::between((&a.0, &a.1), (&b.0, &b.1));
        assert_eq!(d.rules.added, ["new"]);
        assert_eq!(d.rules.removed, ["old"]);
        assert_eq!(d.rules.changed, ["api"]);
        assert_eq!(d.limits.changed, ["api/s"]);
        assert_eq!(d.counters_restarted, ["api/s"]);
        assert!(d.counters_kept.is_empty());
        assert_eq!(d.tiers.added, ["gold"]);
        assert_eq!(
            d.summary(),
            "rules +new -old ~api; limits +new/new -old/old ~api/s; tiers +gold"
        );
        assert!(Diff::between((&a.0, &a.1), (&a.0, &a.1)).is_empty());
    }

    #[test]
    fn a_bucket_s_new_capacity_keeps_its_counters_a_new_window_does_not() {
        let a = both("rules:\n  - name: api\n    limits: [{name: b, algorithm: token_bucket, capacity: 40, refill: 10/s}, {name: w, algorithm: fixed_window, limit: 9, window: 1h}]\n");
        let b = both("rules:\n  - name: api\n    limits: [{name: b, algorithm: token_bucket, capacity: 80, refill: 10/s}, {name: w, algorithm: fixed_window, limit: 9, window: 1d}]\n");
        let d = Diff::between((&a.0, &a.1), (&b.0, &b.1));
        assert_eq!(d.limits.changed, ["api/b", "api/w"]);
        assert_eq!(d.counters_kept, ["api/b"]);
        assert_eq!(d.counters_restarted, ["api/w"]);
    }

    #[test]
    fn a_new_key_restarts_every_counter_of_the_rule() {
        let a = both(
            "rules:\n  - name: api\n    key: ip\n    limits: [{algorithm: gcra, rate: 1/s}]\n",
        );
        let b = both(
            "rules:\n  - name: api\n    key: user\n    limits: [{algorithm: gcra, rate: 1/s}]\n",
        );
        let d = Diff::between((&a.0, &a.1), (&b.0, &b.1));
        assert!(d.limits.is_empty());
        assert_eq!(d.counters_restarted, ["api/api"]);
    }

    #[test]
    fn a_change_the_lists_do_not_show_is_named_by_its_section() {
        let a = both("tiers: [free, pro]\nrules:\n  - name: a\n    limits: [{algorithm: gcra, rate: 1/s}]\n  - name: b\n    limits: [{algorithm: gcra, rate: 1/s}]\n");
        let b = both("tiers: [pro, free]\nrules:\n  - name: b\n    limits: [{algorithm: gcra, rate: 1/s}]\n  - name: a\n    limits: [{algorithm: gcra, rate: 1/s}]\n");
        let d = Diff::between((&a.0, &a.1), (&b.0, &b.1));
        assert!(d.rules.is_empty() && d.tiers.is_empty());
        assert_eq!(d.other, ["rules", "tiers"]);
        assert!(!d.is_empty());
        assert_eq!(d.summary(), "rules, tiers (order or other fields)");
    }
}
