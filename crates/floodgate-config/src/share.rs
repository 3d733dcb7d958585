//! A share of a limit as written: `80%` or `87.5%` (0.1% to 99.9%), held
//! in thousandths.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A share in thousandths, 1 to 999.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShareField(pub u16);

/// A share that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a share: write a percentage from 0.1% to 99.9%, e.g. 80%")]
pub struct ShareError {
    /// As written.
    pub text: String,
}

/// Parses `80%` or `87.5%` into thousandths (1 to 999).
pub fn parse_share(text: &str) -> Result<u16, ShareError> {
    let bad = || ShareError {
        text: text.to_string(),
    };
    let number = text.trim().strip_suffix('%').ok_or_else(bad)?.trim();
    let (whole, tenth) = match number.split_once('.') {
        Some((w, t)) if t.len() == 1 => (w, t),
        Some(_) => return Err(bad()),
        None => (number, "0"),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || whole.len() > 3 {
        return Err(bad());
    }
    let tenth: u16 = tenth.parse().map_err(|_| bad())?;
    let permille = whole.parse::<u16>().map_err(|_| bad())? * 10 + tenth;
    if !(1..=999).contains(&permille) {
        return Err(bad());
    }
    Ok(permille)
}

/// Writes thousandths as a percentage: `800` → `80%`, `875` → `87.5%`.
pub fn format_share(permille: u16) -> String {
    match permille % 10 {
        0 => format!("{}%", permille / 10),
        t => format!("{}.{t}%", permille / 10),
    }
}

impl Serialize for ShareField {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_share(self.0))
    }
}

impl<'de> Deserialize<'de> for ShareField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ShareField;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a percentage such as 80%")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ShareField, E> {
                parse_share(v).map(ShareField).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ShareField, E> {
                Err(E::custom(format!(
                    "a share needs a percent sign: write `{v}%`"
                )))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ShareField, E> {
                Err(E::custom(format!("`{v}` is not a share")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ShareField, E> {
                Err(E::custom(format!(
                    "`{v}` is not a share: write a percentage such as 80%"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_round_trip() {
        for (text, permille) in [
            ("80%", 800),
            ("87.5%", 875),
            ("0.1%", 1),
            ("99.9%", 999),
            (" 5 %", 50),
        ] {
            assert_eq!(parse_share(text), Ok(permille), "{text}");
        }
        for p in [1, 50, 800, 875, 999] {
            assert_eq!(parse_share(&format_share(p)), Ok(p));
        }
        for bad in [
            "80", "0%", "100%", "120%", "-5%", "8.25%", "%", ".5%", "abc%", "1e2%",
        ] {
            assert!(parse_share(bad).is_err(), "{bad}");
        }
    }
}
