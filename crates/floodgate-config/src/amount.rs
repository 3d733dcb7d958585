//! Sizes written as shorthands that map exactly onto the algorithms: a
//! count (`200`), a multiple of another size (`2x`: of the limit's
//! `capacity`, for `burst_capacity`), or a multiple of the rate over a
//! span (`2x for 10s`: a bucket or burst of twice the rate sustained for
//! ten seconds). A shorthand that gives no whole number is refused: it
//! would not map exactly.

use std::fmt;
use std::time::Duration;

use floodgate_core::Rate;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::units::{format_duration, parse_duration};

/// A size as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AmountField {
    /// `200`.
    Count(u64),
    /// `2x`: times another size.
    Times(u64),
    /// `2x for 10s`: times the rate over the span.
    TimesFor(u64, Duration),
}

impl AmountField {
    /// The count, `of` the size a plain multiple refers to (if any) and
    /// `rate` the rate a multiple over a span refers to (if any); the
    /// reason when it does not map exactly.
    pub fn resolve(self, of: Option<u64>, rate: Option<Rate>) -> Result<u64, String> {
        match self {
            AmountField::Count(n) => Ok(n),
            AmountField::Times(k) => {
                let base = of.ok_or_else(|| {
                    format!("`{k}x` multiplies `capacity`, and only `burst_capacity` can be written so: write a count, or `{k}x for <span>` (the rate over a span)")
                })?;
                k.checked_mul(base).ok_or_else(|| "too large".to_string())
            }
            AmountField::TimesFor(k, span) => {
                let rate =
                    rate.ok_or("`Nx for D` is a multiple of the rate, which this limit lacks")?;
                let span_us = floodgate_core::time::duration_micros(span) as u128;
                let tokens = u128::from(k) * u128::from(rate.amount()) * span_us;
                let per = u128::from(rate.period_us());
                if tokens % per != 0 {
                    return Err(format!(
                        "{k}x the rate {rate} for {} is {:.3}: not a whole number (write the count, or a span that gives one)",
                        format_duration(span_us as u64),
                        tokens as f64 / per as f64
                    ));
                }
                u64::try_from(tokens / per).map_err(|_| "too large".to_string())
            }
        }
    }

    fn parse(text: &str) -> Result<AmountField, String> {
        let t = text.trim();
        let (times, span) = match t.split_once(" for ") {
            Some((a, b)) => (a.trim(), Some(b.trim())),
            None => (t, None),
        };
        let k = times
            .strip_suffix('x')
            .and_then(|n| n.trim().parse::<u64>().ok())
            .ok_or_else(|| {
                format!("`{text}` is not a size: write a count (`200`), a multiple (`2x`) or a multiple of the rate over a span (`2x for 10s`)")
            })?;
        match span {
            None => Ok(AmountField::Times(k)),
            Some(s) => parse_duration(s)
                .map(|d| AmountField::TimesFor(k, d))
                .map_err(|e| e.to_string()),
        }
    }
}

impl fmt::Display for AmountField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AmountField::Count(n) => write!(f, "{n}"),
            AmountField::Times(k) => write!(f, "{k}x"),
            AmountField::TimesFor(k, d) => write!(
                f,
                "{k}x for {}",
                format_duration(floodgate_core::time::duration_micros(*d))
            ),
        }
    }
}

impl Serialize for AmountField {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            AmountField::Count(n) => s.serialize_u64(*n),
            other => s.serialize_str(&other.to_string()),
        }
    }
}

struct AmountVisitor;

impl Visitor<'_> for AmountVisitor {
    type Value = AmountField;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(
            "a count (200), a multiple (2x) or a multiple of the rate over a span (2x for 10s)",
        )
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<AmountField, E> {
        Ok(AmountField::Count(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<AmountField, E> {
        u64::try_from(v)
            .map(AmountField::Count)
            .map_err(|_| E::custom(format!("`{v}` is not a size")))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<AmountField, E> {
        AmountField::parse(v).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for AmountField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<AmountField, D::Error> {
        d.deserialize_any(AmountVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(n: u64, secs: u64) -> Rate {
        Rate::new(n, Duration::from_secs(secs)).unwrap()
    }

    #[test]
    fn shorthands_read_back_and_map_exactly() {
        for text in ["2x", "3x for 10s", "1x for 1h"] {
            let a = AmountField::parse(text).unwrap();
            assert_eq!(a.to_string(), text);
        }
        let a: AmountField = serde_json::from_str("200").unwrap();
        assert_eq!(a.resolve(None, None), Ok(200));
        assert_eq!(AmountField::Times(2).resolve(Some(100), None), Ok(200));
        // Twice 10/s for 10 s: 200; twice 100/h for 1 h: 200.
        let f = AmountField::parse("2x for 10s").unwrap();
        assert_eq!(f.resolve(None, Some(rate(10, 1))), Ok(200));
        let f = AmountField::parse("2x for 1h").unwrap();
        assert_eq!(f.resolve(None, Some(rate(100, 3600))), Ok(200));
        // Twice 100/h for 10 s is not a whole number.
        let f = AmountField::parse("2x for 10s").unwrap();
        let e = f.resolve(None, Some(rate(100, 3600))).unwrap_err();
        assert!(e.contains("not a whole number"), "{e}");
        assert!(AmountField::parse("two").is_err());
        assert!(AmountField::parse("2x for ten").is_err());
        assert!(AmountField::Times(2).resolve(None, None).is_err());
    }
}
