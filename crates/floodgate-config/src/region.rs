//! `region:` and `global_store:`: a replica in one region of several.
//!
//! ```yaml
//! region:
//!   name: us                              # or FLOODGATE_REGION
//!   regions: { us: 40%, eu: 40%, asia: 20% }   # or [us, eu, asia]: equal shares
//! store: { kind: redis, url: redis://redis-us:6379 }          # the region's
//! global_store: { kind: redis, url: redis://redis-global:6379, local_divisor: 2 }
//! ```
//!
//! A region's weight is its share of a `region_weighted` limit, and of a
//! `global` limit while the global store is out of reach.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use floodgate_core::policy::check_name;
use floodgate_core::store::RegionShare;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{ConfigError, Source};
use crate::locate::Seg;

/// The environment variable that names this replica's region (wins over
/// `region.name`).
pub const REGION_ENV: &str = "FLOODGATE_REGION";

/// The most regions.
pub const MAX_REGIONS: usize = 64;

/// `region:` as written.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegionSection {
    /// This replica's region (`FLOODGATE_REGION` wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Every region, with its weight (a map of percentages) or in equal
    /// shares (a list).
    pub regions: RegionsField,
}

/// `regions` as written: names in equal shares, or names with weights.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RegionsField(pub BTreeMap<String, Option<String>>);

impl Serialize for RegionsField {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.values().all(Option::is_none) {
            s.collect_seq(self.0.keys())
        } else {
            s.collect_map(self.0.iter())
        }
    }
}

impl<'de> Deserialize<'de> for RegionsField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RegionsField;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of region names, or a map of region names to weights (`40%`)")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RegionsField, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(name) = seq.next_element::<String>()? {
                    if out.insert(name.clone(), None).is_some() {
                        return Err(de::Error::custom(format!(
                            "region `{name}` is listed twice"
                        )));
                    }
                }
                Ok(RegionsField(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RegionsField, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((name, weight)) = map.next_entry::<String, String>()? {
                    if out.insert(name.clone(), Some(weight)).is_some() {
                        return Err(de::Error::custom(format!(
                            "region `{name}` is listed twice"
                        )));
                    }
                }
                Ok(RegionsField(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// This replica's region as the server runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// Its name and weight.
    pub share: RegionShare,
    /// Every region's name and weight (millionths), by name.
    pub all: Vec<(Arc<str>, u32)>,
}

fn at(f: &[&str]) -> Vec<Seg> {
    std::iter::once("region")
        .chain(f.iter().copied())
        .map(Seg::from)
        .collect()
}

impl RegionSection {
    /// Checks the section; `env` is `FLOODGATE_REGION`'s value, if set.
    pub fn resolve(&self, src: &Source, env: Option<&str>) -> Result<Region, ConfigError> {
        let regions = &self.regions.0;
        if regions.is_empty() || regions.len() > MAX_REGIONS {
            return Err(src.error(
                &at(&["regions"]),
                format!("list 1 to {MAX_REGIONS} regions"),
            ));
        }
        let equal = regions.values().all(Option::is_none);
        if !equal && regions.values().any(Option::is_none) {
            return Err(src.error(&at(&["regions"]), "give every region a weight, or none"));
        }
        let mut all = Vec::with_capacity(regions.len());
        let mut total: u64 = 0;
        for (name, weight) in regions {
            check_name(name).map_err(|m| src.error(&at(&["regions", name]), m))?;
            let ppm = match weight {
                None => (1_000_000 / regions.len()) as u32,
                Some(w) => crate::sync::parse_percent(w).ok_or_else(|| {
                    src.error(
                        &at(&["regions", name]),
                        format!(
                            "`{w}` is not a weight: write a percentage from 0.1% to 100%, e.g. 40%"
                        ),
                    )
                })?,
            };
            total += ppm as u64;
            all.push((Arc::<str>::from(name.as_str()), ppm));
        }
        if total > 1_000_000 {
            return Err(src.error(
                &at(&["regions"]),
                format!(
                    "the weights add up to {}.{}%: at most 100%",
                    total / 10_000,
                    total % 10_000 / 1000
                ),
            ));
        }
        let name = match (env, &self.name) {
            (Some(e), _) if !e.is_empty() => e.to_string(),
            (_, Some(n)) => n.clone(),
            _ => {
                return Err(src.error(
                    &at(&["name"]),
                    format!("name this replica's region (`region.name`, or {REGION_ENV})"),
                ))
            }
        };
        let Some(&(_, weight_ppm)) = all.iter().find(|(n, _)| **n == *name) else {
            let from = if env.is_some_and(|e| !e.is_empty()) {
                format!(" ({REGION_ENV})")
            } else {
                String::new()
            };
            return Err(src.error(
                &at(&["name"]),
                format!("region `{name}`{from} is not among `regions`"),
            ));
        };
        Ok(Region {
            share: RegionShare {
                name: Arc::from(name.as_str()),
                weight_ppm,
            },
            all,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::ConfigFile;

    fn parse(extra: &str) -> Result<ConfigFile, crate::ConfigError> {
        ConfigFile::parse(
            "f.yaml",
            &format!("rules:\n  - name: r\n    scope: global\n    limits: [{{ algorithm: fixed_window, limit: 10, window: 1m }}]\n{extra}"),
        )
    }

    #[test]
    fn a_region_resolves_its_weight_or_an_equal_share() {
        let cf = parse("region: { name: eu, regions: { us: 40%, eu: 40%, asia: 20% } }\n").unwrap();
        let r = cf.document.server.region.as_ref().unwrap();
        let src = cf.source();
        let got = r.resolve(&src, None).unwrap();
        assert_eq!((&*got.share.name, got.share.weight_ppm), ("eu", 400_000));
        let got = r.resolve(&src, Some("asia")).unwrap();
        assert_eq!((&*got.share.name, got.share.weight_ppm), ("asia", 200_000));
        let cf = parse("region: { name: b, regions: [a, b, c, d] }\n").unwrap();
        let got = cf
            .document
            .server
            .region
            .as_ref()
            .unwrap()
            .resolve(&cf.source(), None);
        assert_eq!(got.unwrap().share.weight_ppm, 250_000);
    }

    #[test]
    fn bad_regions_are_refused_where_written() {
        for (text, line, field, says) in [
            (
                "region: { name: mars, regions: [us, eu] }\n",
                5,
                "region.name",
                "not among",
            ),
            (
                "region: { name: us, regions: { us: 70%, eu: 40% } }\n",
                5,
                "region.regions",
                "110",
            ),
            (
                "region: { name: us, regions: { us: lots } }\n",
                5,
                "region.regions.us",
                "not a weight",
            ),
            (
                "region: { regions: [us] }\n",
                5,
                "region.name",
                "FLOODGATE_REGION",
            ),
        ] {
            let cf = parse(text).unwrap();
            let e = cf
                .document
                .server
                .region
                .as_ref()
                .unwrap()
                .resolve(&cf.source(), None)
                .unwrap_err();
            assert_eq!((e.line, e.field.as_str()), (line, field), "{e}");
            assert!(e.message.contains(says), "{e}");
        }
        let e = parse("global_store: { kind: redis, url: redis://g:1 }\n")
            .err()
            .unwrap();
        assert_eq!(e.field, "global_store", "{e}");
        let e = parse("region: { name: us, regions: [us] }\nglobal_store: { kind: redis, url: redis://g:1, max_keys: 0 }\n").err().unwrap();
        assert_eq!(
            (e.line, e.field.as_str()),
            (6, "global_store.max_keys"),
            "{e}"
        );
    }

    #[test]
    fn global_limits_are_leased_unless_they_say() {
        let cf = ConfigFile::parse(
            "f.yaml",
            "rules:\n  - name: r\n    scope: global\n    limits:\n      - { name: a, algorithm: fixed_window, limit: 10, window: 1m }\n      - { name: b, algorithm: fixed_window, limit: 10, window: 1m, sync: exact }\n      - { name: c, algorithm: fixed_window, limit: 10, window: 1m, scope: region_weighted }\n",
        )
        .unwrap();
        let l = &cf.policy.rules[0].limits;
        use floodgate_core::store::Scope;
        assert_eq!((l[0].scope, l[0].sync.is_some()), (Scope::Global, true));
        assert_eq!((l[1].scope, l[1].sync.is_some()), (Scope::Global, false));
        assert_eq!(
            (l[2].scope, l[2].sync.is_some()),
            (Scope::RegionWeighted, false)
        );
        let e = ConfigFile::parse("f.yaml", "rules:\n  - name: r\n    scope: planet\n    limits: [{ algorithm: fixed_window, limit: 1, window: 1m }]\n").err().unwrap();
        assert_eq!(e.line, 3, "{e}");
    }
}
