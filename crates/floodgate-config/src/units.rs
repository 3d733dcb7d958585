//! Durations (`500ms`, `1s`, `1m30s`, `1h`, `1d`) and rates (`100/minute`,
//! `10/s`, `1/500ms`) as written in the config file.

use std::fmt;
use std::time::Duration;

use floodgate_core::quota::QuotaError;
use floodgate_core::Rate;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::error::{ConfigError, Source};
use crate::locate::Seg;

/// A duration that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing written.
    #[error("empty duration")]
    Empty,
    /// Not `<number><unit>`.
    #[error("`{0}` is not a duration (e.g. 500ms, 1s, 1m, 1h, 1d)")]
    NotADuration(String),
    /// A number past `u128`.
    #[error("`{0}`: number too large")]
    NumberTooLarge(String),
    /// A number without its unit.
    #[error("`{text}` needs a unit: us, ms, s, m, h or d (e.g. {n}s)")]
    NoUnit {
        /// As written.
        text: String,
        /// The number.
        n: u128,
    },
    /// A unit not among `us ms s m h d`.
    #[error("`{text}`: unknown unit `{unit}` (use us, ms, s, m, h or d)")]
    UnknownUnit {
        /// As written.
        text: String,
        /// The unit.
        unit: String,
    },
    /// More microseconds than `u64` holds.
    #[error("duration too large")]
    TooLarge,
}

/// A rate that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    /// Not `amount/period`.
    #[error("`{0}` is not a rate (write it as amount/period, e.g. 100/minute or 10/s)")]
    NotARate(String),
    /// The amount is not a whole number.
    #[error("`{text}`: the amount `{amount}` is not a whole number")]
    Amount {
        /// As written.
        text: String,
        /// The amount.
        amount: String,
    },
    /// The period is not a duration.
    #[error(transparent)]
    Period(#[from] DurationError),
    /// The rate cannot work (a zero amount).
    #[error("`{text}`: {source}")]
    Rate {
        /// As written.
        text: String,
        /// Why.
        source: QuotaError,
    },
}

/// Parses a duration: one or more `<number><unit>` with units `us`, `ms`,
/// `s`, `m`, `h`, `d` (e.g. `1m30s`). A bare number is refused: its unit
/// would be a guess.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(DurationError::NotADuration(text.to_string()));
        }
        let n: u128 = rest[..digits]
            .parse()
            .map_err(|_| DurationError::NumberTooLarge(text.to_string()))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let micros: u128 = match unit {
            "us" | "µs" => 1,
            "ms" => 1_000,
            "s" => 1_000_000,
            "m" => 60_000_000,
            "h" => 3_600_000_000,
            "d" => 86_400_000_000,
            "" => {
                return Err(DurationError::NoUnit {
                    text: text.to_string(),
                    n,
                })
            }
            other => {
                return Err(DurationError::UnknownUnit {
                    text: text.to_string(),
                    unit: other.to_string(),
                })
            }
        };
        total = total
            .checked_add(n.checked_mul(micros).ok_or(DurationError::TooLarge)?)
            .ok_or(DurationError::TooLarge)?;
    }
    let us = u64::try_from(total).map_err(|_| DurationError::TooLarge)?;
    Ok(Duration::from_micros(us))
}

/// Parses a rate `<amount>/<period>`, the period a unit name (`s`, `second`,
/// `m`, `min`, `minute`, `h`, `hour`, `d`, `day`) or a duration (`500ms`,
/// `10s`).
pub fn parse_rate(text: &str) -> Result<Rate, RateError> {
    let (amount, per) = text
        .split_once('/')
        .ok_or_else(|| RateError::NotARate(text.to_string()))?;
    let amount: u64 = amount.trim().parse().map_err(|_| RateError::Amount {
        text: text.to_string(),
        amount: amount.trim().to_string(),
    })?;
    let per = per.trim();
    let period = match per {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "m" | "min" | "minute" => Duration::from_secs(60),
        "h" | "hour" => Duration::from_secs(3_600),
        "d" | "day" => Duration::from_secs(86_400),
        other => parse_duration(other)?,
    };
    Rate::new(amount, period).map_err(|source| RateError::Rate {
        text: text.to_string(),
        source,
    })
}

/// Writes `us` microseconds in the largest unit that divides it
/// (`90s`, `1500ms`, `2h`), as [`parse_duration`] reads it back.
pub fn format_duration(us: u64) -> String {
    for (unit, per) in [
        ("d", 86_400_000_000),
        ("h", 3_600_000_000),
        ("m", 60_000_000),
        ("s", 1_000_000),
        ("ms", 1_000),
    ] {
        if us >= per && us % per == 0 {
            return format!("{}{unit}", us / per);
        }
    }
    format!("{us}us")
}

/// Writes a rate per second, minute, hour or day when one is whole
/// (`100/minute` reads back as `100/m`), else as amount per duration.
pub fn format_rate(rate: &Rate) -> String {
    let (amount, period) = (u128::from(rate.amount()), u128::from(rate.period_us()));
    for (unit, per) in [
        ("s", 1_000_000u128),
        ("m", 60_000_000),
        ("h", 3_600_000_000),
        ("d", 86_400_000_000),
    ] {
        if (amount * per) % period == 0 {
            return format!("{}/{unit}", amount * per / period);
        }
    }
    format!("{}/{}", rate.amount(), format_duration(rate.period_us()))
}

/// Checks that `d`, found at `path`, lies in `(0, max]`.
pub(crate) fn check_wait(
    src: &Source,
    path: &[Seg],
    d: Option<DurationField>,
    max: Duration,
) -> Result<(), ConfigError> {
    match d {
        Some(DurationField(d)) if d.is_zero() || d > max => Err(src.error(
            path,
            format!(
                "must be above 0 and at most {}",
                format_duration(floodgate_core::time::duration_micros(max))
            ),
        )),
        _ => Ok(()),
    }
}

/// A duration field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DurationField(pub Duration);

/// A rate field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateField(pub Rate);

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = DurationField;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration such as 500ms, 1s, 1m, 1h or 1d")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        parse_duration(v).map(DurationField).map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Err(E::custom(format!(
            "a duration needs a unit: write `{v}s`, `{v}ms`, `{v}m`…"
        )))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Err(E::custom(format!("`{v}` is not a duration")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Err(E::custom(format!(
            "`{v}` is not a duration: use whole numbers with a unit, e.g. 1500ms"
        )))
    }
}

impl Serialize for DurationField {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(floodgate_core::time::duration_micros(
            self.0,
        )))
    }
}

impl Serialize for RateField {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_rate(&self.0))
    }
}

impl<'de> Deserialize<'de> for DurationField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DurationVisitor)
    }
}

struct RateVisitor;

impl Visitor<'_> for RateVisitor {
    type Value = RateField;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a rate such as 100/minute or 10/s")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        parse_rate(v).map(RateField).map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Err(E::custom(format!(
            "a rate needs a period: write `{v}/s`, `{v}/minute`…"
        )))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Err(E::custom(format!("`{v}` is not a rate")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Err(E::custom(format!(
            "`{v}` is not a rate: write amount/period, e.g. 10/s"
        )))
    }
}

impl<'de> Deserialize<'de> for RateField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RateVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert!(parse_duration("10")
            .unwrap_err()
            .to_string()
            .contains("needs a unit"));
        assert!(parse_duration("1w")
            .unwrap_err()
            .to_string()
            .contains("unknown unit"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("ms").is_err());
    }

    #[test]
    fn rates() {
        let r = parse_rate("100/minute").unwrap();
        assert_eq!((r.amount(), r.period_us()), (1, 600_000));
        let r = parse_rate("3/s").unwrap();
        assert_eq!((r.amount(), r.period_us()), (3, 1_000_000));
        let r = parse_rate("1/500ms").unwrap();
        assert_eq!(r.period_us(), 500_000);
        assert!(parse_rate("100").is_err());
        assert!(parse_rate("x/s").is_err());
        assert!(parse_rate("0/s").is_err());
    }

    #[test]
    fn written_back_as_read() {
        for d in ["90s", "1500ms", "2h", "1d", "7us", "1m"] {
            let us = parse_duration(d).unwrap().as_micros() as u64;
            assert_eq!(format_duration(us), d);
        }
        assert_eq!(format_rate(&parse_rate("100/minute").unwrap()), "100/m");
        assert_eq!(format_rate(&parse_rate("10/s").unwrap()), "10/s");
        assert_eq!(format_rate(&parse_rate("1/7us").unwrap()), "1/7us");
        let odd = parse_rate("3/7ms").unwrap();
        assert_eq!(parse_rate(&format_rate(&odd)).unwrap(), odd);
    }
}
