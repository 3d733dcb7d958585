//! `connections:` and `admin.connections:`: bounds on one listener's
//! connections, and sizes (`16KiB`) as written.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, Source};
use crate::locate::Seg;
use crate::units::{format_duration, DurationField};

/// A size in bytes: a whole number (bytes) or a number with a unit, `B`,
/// `KiB`, `MiB` or `GiB` (`16KiB`, `10MiB`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeField(pub u64);

const SIZE_UNITS: [(&str, u64); 4] = [
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
    ("B", 1),
];

/// A size that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// Not `<number><unit>`.
    #[error("`{0}` is not a size (e.g. 16KiB, 10MiB, 1GiB)")]
    NotASize(String),
    /// A number past `u64`.
    #[error("`{0}`: number too large")]
    NumberTooLarge(String),
    /// A unit not among `B KiB MiB GiB`.
    #[error("`{text}`: unknown unit `{unit}` (use B, KiB, MiB or GiB)")]
    UnknownUnit {
        /// As written.
        text: String,
        /// The unit.
        unit: String,
    },
    /// More bytes than `u64` holds.
    #[error("`{0}`: size too large")]
    TooLarge(String),
}

/// Parses `16KiB`, `10MiB`, `512B` or `16384` (bytes).
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let s = text.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if digits == 0 {
        return Err(SizeError::NotASize(text.to_string()));
    }
    let n: u64 = s[..digits]
        .parse()
        .map_err(|_| SizeError::NumberTooLarge(text.to_string()))?;
    let unit = s[digits..].trim();
    let per = match unit {
        "" => 1,
        u => SIZE_UNITS
            .iter()
            .find(|(name, _)| *name == u)
            .map(|(_, per)| *per)
            .ok_or_else(|| SizeError::UnknownUnit {
                text: text.to_string(),
                unit: u.to_string(),
            })?,
    };
    n.checked_mul(per)
        .ok_or_else(|| SizeError::TooLarge(text.to_string()))
}

/// Writes `bytes` in the largest unit that divides it (`16KiB`).
pub fn format_size(bytes: u64) -> String {
    for (unit, per) in SIZE_UNITS {
        if bytes >= per && bytes % per == 0 {
            return format!("{}{unit}", bytes / per);
        }
    }
    format!("{bytes}B")
}

impl Serialize for SizeField {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_size(self.0))
    }
}

impl<'de> Deserialize<'de> for SizeField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = SizeField;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a size such as 16KiB, 10MiB or a number of bytes")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SizeField, E> {
                parse_size(v).map(SizeField).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<SizeField, E> {
                Ok(SizeField(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<SizeField, E> {
                Err(E::custom(format!("`{v}` is not a size")))
            }
        }
        d.deserialize_any(V)
    }
}

/// `connections:` and `admin.connections:`: bounds on one listener's
/// connections. Every field is optional; the server fills in its defaults
/// (which differ between the public and the admin listener).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionsSection {
    /// Time a client has to send a whole request head, from the
    /// connection's start or the first byte of a later request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_read_timeout: Option<DurationField>,
    /// A keep-alive connection with no request in flight is closed after
    /// this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<DurationField>,
    /// Open connections at most; a connection past it is closed at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
    /// Open connections from one peer IP at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_ip: Option<u64>,
    /// Largest request head (request line and headers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_head: Option<SizeField>,
    /// Largest request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body: Option<SizeField>,
}

/// The shortest and longest connection timeouts.
pub const CONNECTION_WAITS: (Duration, Duration) =
    (Duration::from_millis(1), Duration::from_secs(3_600));
/// The range of `max` and `max_per_ip`.
pub const CONNECTION_COUNTS: (u64, u64) = (1, 1_000_000);
/// The range of `max_head`: hyper buffers at least 8 KiB, and a head
/// larger than 1 MiB is an attack, not a request.
pub const HEAD_SIZES: (u64, u64) = (8 << 10, 1 << 20);
/// The range of `max_body`.
pub const BODY_SIZES: (u64, u64) = (1 << 10, 1 << 30);

impl ConnectionsSection {
    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        *self == ConnectionsSection::default()
    }

    /// Checks every field's range; `at` is where the section stands.
    pub fn check(&self, src: &Source, at: &[Seg]) -> Result<(), ConfigError> {
        let field = |f: &str| {
            let mut v = at.to_vec();
            v.push(Seg::from(f));
            v
        };
        let (lo, hi) = CONNECTION_WAITS;
        let us = |d: Duration| format_duration(floodgate_core::time::duration_micros(d));
        for (name, d) in [
            ("header_read_timeout", self.header_read_timeout),
            ("idle_timeout", self.idle_timeout),
        ] {
            if let Some(DurationField(d)) = d {
                if d < lo || d > hi {
                    return Err(src.error(
                        &field(name),
                        format!("must be from {} to {}", us(lo), us(hi)),
                    ));
                }
            }
        }
        let (lo, hi) = CONNECTION_COUNTS;
        for (name, n) in [("max", self.max), ("max_per_ip", self.max_per_ip)] {
            if n.is_some_and(|n| n < lo || n > hi) {
                return Err(src.error(&field(name), format!("must be from {lo} to {hi}")));
            }
        }
        for (name, size, (lo, hi)) in [
            ("max_head", self.max_head, HEAD_SIZES),
            ("max_body", self.max_body, BODY_SIZES),
        ] {
            if size.is_some_and(|SizeField(n)| n < lo || n > hi) {
                return Err(src.error(
                    &field(name),
                    format!("must be from {} to {}", format_size(lo), format_size(hi)),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16KiB"), Ok(16 * 1024));
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("512"), Ok(512));
        assert!(parse_size("10MB")
            .unwrap_err()
            .to_string()
            .contains("unknown unit"));
        assert!(parse_size("KiB").is_err());
        assert_eq!(format_size(16 * 1024), "16KiB");
        assert_eq!(format_size(1500), "1500B");
    }

    fn check(yaml: &str) -> Result<(), ConfigError> {
        crate::ConfigFile::parse("t.yaml", yaml).map(|_| ())
    }

    #[test]
    fn connection_bounds_are_checked_where_they_stand() {
        check("connections: {max: 5, max_head: 16KiB, max_body: 10MiB, idle_timeout: 1h}\n")
            .unwrap();
        for (yaml, line, field) in [
            ("connections:\n  max: 0\n", 2, "connections.max"),
            (
                "connections:\n  max_per_ip: 1000001\n",
                2,
                "connections.max_per_ip",
            ),
            (
                "connections:\n  idle_timeout: 2h\n",
                2,
                "connections.idle_timeout",
            ),
            (
                "connections:\n  header_read_timeout: 500us\n",
                2,
                "connections.header_read_timeout",
            ),
            (
                "connections:\n  max_head: 4KiB\n",
                2,
                "connections.max_head",
            ),
            (
                "connections:\n  max_body: 2GiB\n",
                2,
                "connections.max_body",
            ),
            (
                "admin:\n  connections:\n    max_body: 512\n",
                3,
                "admin.connections.max_body",
            ),
        ] {
            let e = check(yaml).unwrap_err();
            assert_eq!((e.line, e.field.as_str()), (line, field), "{yaml}: {e}");
        }
        assert!(check("connections: {max_conns: 1}\n").is_err());
    }
}
