//! The names of rules, limits and tiers: the set they are written in.

/// The longest rule, limit or tier name.
pub const MAX_NAME_LEN: usize = 64;

/// A rule, limit or tier name outside the allowed set.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{name}` is not a valid name: use 1 to {MAX_NAME_LEN} of A-Z a-z 0-9 _ - . starting with a letter or digit"
)]
pub struct NameError {
    /// The name as given.
    pub name: String,
}

/// Checks a rule, limit or tier name: 1 to [`MAX_NAME_LEN`] characters of
/// `A-Z a-z 0-9 _ - .`, starting with a letter or a digit. Names travel in
/// headers (`RateLimit-Policy`), metrics labels, logs, URLs of the admin
/// API and store keys, where this set needs no quoting.
pub fn check_name(name: &str) -> Result<(), NameError> {
    let ok_first = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric());
    let ok_rest = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
    if name.len() > MAX_NAME_LEN || !ok_first || !ok_rest {
        return Err(NameError {
            name: name.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in [
            "api",
            "per-ip",
            "login_v2",
            "a.b",
            "9",
            &"x".repeat(MAX_NAME_LEN),
        ] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-a",
            ".a",
            "a/b",
            "a@b",
            "a b",
            "é",
            &"x".repeat(MAX_NAME_LEN + 1),
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
