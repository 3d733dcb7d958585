//! What an identity is called on the dashboard, kept inline (no heap):
//! an API key's fingerprint (never the key), a user id or a client IP,
//! cut to [`Label::MAX`] bytes.

use std::fmt;

/// Which attribute names the identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// An API key, by its fingerprint.
    ApiKey,
    /// A user id.
    User,
    /// A client IP.
    Ip,
    /// None of them was known.
    Unknown,
}

impl Kind {
    /// `api_key`, `user`, `ip` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ApiKey => "api_key",
            Kind::User => "user",
            Kind::Ip => "ip",
            Kind::Unknown => "unknown",
        }
    }
}

/// An identity's name, inline.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    kind: Kind,
    len: u8,
    bytes: [u8; Label::MAX],
}

impl Label {
    /// The longest label kept, in bytes.
    pub const MAX: usize = 64;

    /// `text` of `kind`, cut to [`Label::MAX`] bytes (at a character
    /// boundary).
    pub fn new(kind: Kind, text: &str) -> Label {
        let mut end = text.len().min(Label::MAX);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0u8; Label::MAX];
        bytes[..end].copy_from_slice(&text.as_bytes()[..end]);
        Label {
            kind,
            len: end as u8,
            bytes,
        }
    }

    /// Which attribute it is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The text.
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_at_a_character_boundary() {
        let long = "é".repeat(40);
        let l = Label::new(Kind::User, &long);
        assert_eq!(l.text().len(), 64);
        assert!(long.starts_with(l.text()));
        assert_eq!(Label::new(Kind::Ip, "10.0.0.1").text(), "10.0.0.1");
    }
}
