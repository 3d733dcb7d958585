//! The building blocks of the hand-kept exposition: a lock-free histogram,
//! labelled counters, and the writers of the text format (0.0.4).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hash::Hasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use floodgate_core::hash::Fnv1a;
use parking_lot::RwLock;

/// A histogram with fixed buckets, lock-free.
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_ns: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    /// An empty histogram with upper bounds `bounds` (seconds, ascending).
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: (0..bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_ns: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        if let Some(i) = self.bounds.iter().position(|b| s <= *b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sum_ns
            .fetch_add(d.as_nanos().min(u64::MAX as u128) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The upper bounds (seconds), each bucket's own count (not
    /// cumulative), and the count of all observations (those past the
    /// last bound included).
    pub fn buckets(&self) -> (&'static [f64], Vec<u64>, u64) {
        let counts = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        (self.bounds, counts, self.count.load(Ordering::Relaxed))
    }

    /// Writes the histogram as `name`.
    pub fn render(&self, out: &mut String, name: &str, help: &str) {
        header(out, name, help, "histogram");
        let mut cumulative = 0;
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            cumulative += c.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// Escapes a label value.
pub fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Writes a family's `# HELP` and `# TYPE` lines.
pub fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Writes a family of one unlabelled sample.
pub fn single(out: &mut String, name: &str, help: &str, kind: &str, value: impl std::fmt::Display) {
    header(out, name, help, kind);
    let _ = writeln!(out, "{name} {value}");
}

/// Writes one sample of `name` with `labels` (names and values).
pub fn sample(
    out: &mut String,
    name: &str,
    labels: &[(&str, &str)],
    value: impl std::fmt::Display,
) {
    let labels: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", label(v)))
        .collect();
    let _ = writeln!(out, "{name}{{{}}} {value}", labels.join(","));
}

/// One series: its label values and count.
type Series = (Box<[Box<str>]>, AtomicU64);

/// Counters keyed by label values, found by a hash of the values (so a
/// lookup costs the same however many series there are). Lookups of an
/// existing series take a read lock and allocate nothing; a new series
/// takes the write lock once.
#[derive(Default)]
pub struct Counters(RwLock<BTreeMap<u64, Vec<Series>>>);

/// FNV-1a of the label values, each followed by a byte no UTF-8 text
/// holds (so `["ab", "c"]` and `["a", "bc"]` differ).
fn hash(labels: &[&str]) -> u64 {
    let mut h = Fnv1a::default();
    for l in labels {
        h.write(l.as_bytes());
        h.write_u8(0xff);
    }
    h.finish()
}

impl Counters {
    /// Adds one to the series of `labels`.
    pub fn inc(&self, labels: &[&str]) {
        let h = hash(labels);
        if let Some(c) = self.0.read().get(&h).and_then(|v| find(v, labels)) {
            c.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut m = self.0.write();
        let bucket = m.entry(h).or_default();
        match find(bucket, labels) {
            Some(c) => c.fetch_add(1, Ordering::Relaxed),
            None => {
                let key = labels.iter().map(|l| Box::<str>::from(*l)).collect();
                bucket.push((key, AtomicU64::new(1)));
                0
            }
        };
    }

    /// The count of the series of `labels` (0 if never counted).
    pub fn get(&self, labels: &[&str]) -> u64 {
        self.0
            .read()
            .get(&hash(labels))
            .and_then(|v| find(v, labels))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Writes the family `name`, its labels called `names`, its series
    /// sorted by label values.
    pub fn render(&self, out: &mut String, name: &str, help: &str, names: &[&str]) {
        header(out, name, help, "counter");
        let m = self.0.read();
        let mut series: Vec<&Series> = m.values().flatten().collect();
        series.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (values, n) in series {
            let labels: Vec<(&str, &str)> = names
                .iter()
                .zip(values.iter())
                .map(|(k, v)| (*k, &**v))
                .collect();
            sample(out, name, &labels, n.load(Ordering::Relaxed));
        }
    }
}

fn find<'a>(bucket: &'a [Series], labels: &[&str]) -> Option<&'a AtomicU64> {
    bucket.iter().find_map(|(k, c)| {
        (k.len() == labels.len() && k.iter().zip(labels).all(|(a, b)| **a == **b)).then_some(c)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_keep_series_apart_and_render_them_sorted() {
        let c = Counters::default();
        for labels in [["b", "x"], ["ab", "c"], ["a", "bc"], ["ab", "c"]] {
            c.inc(&labels);
        }
        assert_eq!(c.get(&["ab", "c"]), 2);
        assert_eq!(c.get(&["a", "bc"]), 1);
        assert_eq!(c.get(&["b", "x"]), 1);
        assert_eq!(c.get(&["b", "y"]), 0);
        let mut out = String::new();
        c.render(&mut out, "m_total", "help", &["k", "v"]);
        let samples: Vec<&str> = out.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                r#"m_total{k="a",v="bc"} 1"#,
                r#"m_total{k="ab",v="c"} 2"#,
                r#"m_total{k="b",v="x"} 1"#
            ]
        );
    }
}
