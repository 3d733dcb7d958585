//! How long a server asks a client to wait: `Retry-After` (seconds or an
//! HTTP date), else the `RateLimit` field of
//! draft-ietf-httpapi-ratelimit-headers (`"name";r=0;t=5`), else the older
//! `RateLimit-Reset` (seconds).

use std::time::{Duration, SystemTime};

use http::header::RETRY_AFTER;
use http::HeaderMap;

/// The wait a response asks for, if it says one; `now` turns an HTTP date
/// into a delay (a date in the past is no wait).
pub fn wait_hint(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    if let Some(v) = headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()) {
        if let Some(d) = retry_after(v, now) {
            return Some(d);
        }
    }
    let ratelimit = headers
        .get_all("ratelimit")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(ratelimit_field)
        .max();
    if ratelimit.is_some() {
        return ratelimit;
    }
    headers
        .get("ratelimit-reset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// `Retry-After`: delay-seconds or an HTTP date (RFC 9110, 10.2.3).
fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The longest `t` among the field's items with no quota left (`r=0`):
/// `"day";r=0;t=3600, "burst";r=0;t=5` waits an hour. Items with quota
/// left ask for no wait.
fn ratelimit_field(value: &str) -> Option<Duration> {
    let mut wait: Option<u64> = None;
    for item in split_outside_quotes(value, ',') {
        let mut remaining = None;
        let mut reset = None;
        for param in split_outside_quotes(item, ';').skip(1) {
            let (k, v) = param.split_once('=').unwrap_or((param, ""));
            match k.trim() {
                "r" => remaining = v.trim().parse::<u64>().ok(),
                "t" => reset = v.trim().parse::<u64>().ok(),
                _ => {}
            }
        }
        if let (Some(0), Some(t)) = (remaining, reset) {
            wait = Some(wait.map_or(t, |w| w.max(t)));
        }
    }
    wait.map(Duration::from_secs)
}

/// Splits on `sep` outside double-quoted strings (names may hold commas).
fn split_outside_quotes(s: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    const NOW: u64 = 1_764_028_800;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(NOW)
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let secs = |v| wait_hint(&headers(&[("retry-after", v)]), now());
        assert_eq!(secs("7"), Some(Duration::from_secs(7)));
        assert_eq!(secs(" 0 "), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(now() + Duration::from_secs(90));
        assert_eq!(secs(&later), Some(Duration::from_secs(90)));
        let earlier = httpdate::fmt_http_date(now() - Duration::from_secs(90));
        assert_eq!(secs(&earlier), Some(Duration::ZERO));
        assert_eq!(secs("soon"), None);
        assert_eq!(secs("-3"), None);
    }

    #[test]
    fn ratelimit_field_waits_for_the_longest_exhausted_limit() {
        let wait = |v| wait_hint(&headers(&[("ratelimit", v)]), now());
        assert_eq!(wait(r#""burst";r=0;t=5"#), Some(Duration::from_secs(5)));
        assert_eq!(
            wait(r#""day";r=0;t=3600, "burst";r=0;t=5"#),
            Some(Duration::from_secs(3600))
        );
        // Quota left: no wait asked.
        assert_eq!(wait(r#""burst";r=3;t=5"#), None);
        // A quoted name holding the separators.
        assert_eq!(wait(r#""a,b;r=9";r=0;t=2"#), Some(Duration::from_secs(2)));
        assert_eq!(wait("garbage"), None);
    }

    #[test]
    fn retry_after_wins_then_ratelimit_then_reset() {
        let h = headers(&[
            ("retry-after", "3"),
            ("ratelimit", r#""x";r=0;t=9"#),
            ("ratelimit-reset", "20"),
        ]);
        assert_eq!(wait_hint(&h, now()), Some(Duration::from_secs(3)));
        let h = headers(&[("ratelimit", r#""x";r=0;t=9"#), ("ratelimit-reset", "20")]);
        assert_eq!(wait_hint(&h, now()), Some(Duration::from_secs(9)));
        let h = headers(&[("ratelimit-reset", "20")]);
        assert_eq!(wait_hint(&h, now()), Some(Duration::from_secs(20)));
        assert_eq!(wait_hint(&HeaderMap::new(), now()), None);
    }
}
