//! Store URLs as they may be shown: in logs, errors and summaries.

/// `url` with its password, if any, replaced by `***`: the form a URL
/// is logged and printed in.
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = match userinfo.split_once(':') {
                Some((u, _)) => format!("{u}:***"),
                None if userinfo.is_empty() => String::new(),
                // `redis://secret@host`: a bare userinfo is the password.
                None => "***".to_string(),
            };
            format!("{scheme}://{user}@{host}{tail}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redacted_url("rediss://fg:hunter2@cache.example:6380/0"),
            "rediss://fg:***@cache.example:6380/0"
        );
        assert_eq!(
            redacted_url("redis://:hunter2@h:6379"),
            "redis://:***@h:6379"
        );
        assert_eq!(redacted_url("redis://h:6379/2"), "redis://h:6379/2");
        assert_eq!(redacted_url("redis://hunter2@h"), "redis://***@h");
    }
}
