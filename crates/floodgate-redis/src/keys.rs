//! Key names and Redis Cluster hash slots.
//!
//! A limit's state lives at `{prefix}{{identity}}:{limit}`: the identity
//! is the hash tag, so every limit of one client hashes to one slot and is
//! decided in one atomic script call, on one node. `{limit}` is a 6-character
//! digest of the limit id (rule, name and quota fingerprint): key names are
//! most of a small key's memory, and a key of up to 30 characters fits
//! Redis' smallest allocation for it.
//!
//! An identity is written as is only when it is short and holds no API-key
//! fingerprint. Otherwise ([`is_hashed`]) its place is taken by `h:` and a
//! keyed hash of it ([`hashed_identity`]: HMAC-SHA256 under the
//! deployment's secret, 128 bits in 22 URL-safe base64 characters), so a
//! key's length is bounded whatever the identity, and neither long
//! identities nor fingerprints (which anyone holding an API key can
//! compute) are stored in clear. [`store_key`] makes that choice for every
//! state key the store names.

use std::borrow::Cow;

use floodgate_core::hash::fnv1a;
use sha2::{Digest, Sha256};

/// Digest alphabet: URL-safe base64.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A 36-bit, 6-character digest of a limit id (FNV-1a, stable across
/// versions and platforms, as every replica must compute the same key).
pub fn limit_digest(limit_id: &str) -> [u8; 6] {
    let mut h = fnv1a(limit_id.as_bytes());
    // Fold the high bits in: FNV's low bits mix least.
    h ^= h >> 29;
    let mut out = [0u8; 6];
    for (i, c) in out.iter_mut().enumerate() {
        *c = ALPHABET[((h >> (6 * i)) & 63) as usize];
    }
    out
}

/// The Redis key of `identity`'s state under `limit_id`.
pub fn state_key(prefix: &str, identity: &str, limit_id: &str) -> String {
    let mut k = String::with_capacity(prefix.len() + identity.len() + 9);
    k.push_str(prefix);
    k.push('{');
    k.push_str(identity);
    k.push_str("}:");
    k.push_str(std::str::from_utf8(&limit_digest(limit_id)).expect("ASCII alphabet"));
    k
}

/// Identities longer than this many bytes are stored hashed.
pub const MAX_CLEAR_IDENTITY: usize = 64;

/// Whether `identity` is stored hashed: longer than
/// [`MAX_CLEAR_IDENTITY`] bytes, with an API-key part (a `|`-separated part
/// starting with `k:`), or itself starting with `h:` (so that no identity
/// in clear can take a hashed one's name).
pub fn is_hashed(identity: &str) -> bool {
    identity.len() > MAX_CLEAR_IDENTITY
        || identity.starts_with("h:")
        || identity.split('|').any(|part| part.starts_with("k:"))
}

/// `h:` and the first 128 bits of HMAC-SHA256(`secret`, `identity`) in
/// URL-safe base64 without padding (24 characters in all).
pub fn hashed_identity(secret: &[u8], identity: &str) -> String {
    let mac = hmac_sha256(secret, identity.as_bytes());
    let mut out = String::with_capacity(24);
    out.push_str("h:");
    out.push_str(&base64url(&mac[..16]));
    out
}

/// The hash tag that stands for `identity` in its keys: the identity
/// itself, or its [`hashed_identity`] when [`is_hashed`].
pub fn key_identity<'a>(secret: &[u8], identity: &'a str) -> Cow<'a, str> {
    if is_hashed(identity) {
        Cow::Owned(hashed_identity(secret, identity))
    } else {
        Cow::Borrowed(identity)
    }
}

/// The Redis key of `identity`'s state under `limit_id`, for a store whose
/// deployment secret is `secret`: [`state_key`] of [`key_identity`]. Check,
/// inspection and reset all name keys with it.
pub fn store_key(prefix: &str, secret: &[u8], identity: &str, limit_id: &str) -> String {
    state_key(prefix, &key_identity(secret, identity), limit_id)
}

/// The key of the deployment secret, `{prefix}secret` (no hash tag, so no
/// state or policy key can take its name).
pub fn secret_key(prefix: &str) -> String {
    format!("{prefix}secret")
}

/// HMAC-SHA256 (RFC 2104): H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ m)), a key longer
/// than the 64-byte block hashed first.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// URL-safe base64 without padding.
fn base64url(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// The policy store's document hash, `{prefix}{policy}:doc`. Its hash tag
/// is `policy`, like the history's: both live in one slot. No state key
/// can take either name (a state key ends in `:` and 6 digest characters).
pub fn policy_doc_key(prefix: &str) -> String {
    format!("{prefix}{{policy}}:doc")
}

/// The policy store's history list, `{prefix}{policy}:history`.
pub fn policy_history_key(prefix: &str) -> String {
    format!("{prefix}{{policy}}:history")
}

/// The known clients' hash, `{prefix}{policy}:clients`.
pub fn policy_clients_key(prefix: &str) -> String {
    format!("{prefix}{{policy}}:clients")
}

/// The history of the clients' changes, `{prefix}{policy}:clients_history`.
pub fn policy_clients_history_key(prefix: &str) -> String {
    format!("{prefix}{{policy}}:clients_history")
}

/// The known clients' change log, `{prefix}{policy}:clients_log`.
pub fn policy_clients_log_key(prefix: &str) -> String {
    format!("{prefix}{{policy}}:clients_log")
}

/// The channel the policy store announces new versions on,
/// `{prefix}policy`.
pub fn policy_channel(prefix: &str) -> String {
    format!("{prefix}policy")
}

/// The fleet view's sorted set of replicas by their last report's time,
/// `{prefix}{fleet}:seen`. Its hash tag is `fleet`, like the reports'.
pub fn fleet_seen_key(prefix: &str) -> String {
    format!("{prefix}{{fleet}}:seen")
}

/// The fleet view's hash of each replica's last report,
/// `{prefix}{fleet}:reports`.
pub fn fleet_reports_key(prefix: &str) -> String {
    format!("{prefix}{{fleet}}:reports")
}

/// The Redis Cluster hash slot of `key` (CRC16/XMODEM of its hash tag,
/// modulo 16384), as Redis computes it.
pub fn slot(key: &str) -> u16 {
    let b = key.as_bytes();
    let tagged = b.iter().position(|&c| c == b'{').and_then(|open| {
        let close = b[open + 1..].iter().position(|&c| c == b'}')?;
        (close > 0).then(|| &b[open + 1..open + 1 + close])
    });
    crc16(tagged.unwrap_or(b)) % 16384
}

fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_digests_are_stable_and_short() {
        // Every replica and every version must name a key alike.
        let k = state_key("fg:", "i:203.0.113.7", "api/per-key/1a2b3c4d");
        assert!(k.starts_with("fg:{i:203.0.113.7}:"), "{k}");
        assert_eq!(k.len(), "fg:{i:203.0.113.7}:".len() + 6);
        assert_eq!(
            limit_digest("api/per-key/1a2b3c4d"),
            limit_digest("api/per-key/1a2b3c4d")
        );
        assert_ne!(
            limit_digest("api/per-key/1a2b3c4d"),
            limit_digest("api/per-key/1a2b3c4e")
        );
        assert_eq!(&limit_digest("api/per-key/1a2b3c4d"), FROZEN);
    }

    /// The digest of `api/per-key/1a2b3c4d`, frozen: changing it would
    /// orphan every key in a running deployment.
    const FROZEN: &[u8; 6] = b"7pXr0l";

    #[test]
    fn slots_match_redis() {
        // Values from `CLUSTER KEYSLOT`.
        assert_eq!(slot("foo"), 12182);
        assert_eq!(slot("{user1000}.following"), slot("user1000"));
        assert_eq!(slot("foo{}{bar}"), crc16(b"foo{}{bar}") % 16384);
    }

    #[test]
    fn the_policy_keys_share_a_slot() {
        assert_eq!(policy_doc_key("fg:"), "fg:{policy}:doc");
        assert_eq!(policy_history_key("fg:"), "fg:{policy}:history");
        assert_eq!(policy_channel("fg:"), "fg:policy");
        assert_eq!(
            slot(&policy_doc_key("fg:")),
            slot(&policy_history_key("fg:"))
        );
        assert_eq!(slot(&policy_doc_key("x")), slot("policy"));
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test cases 1, 2 and 6 (a key longer than the block).
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn base64url_has_no_padding() {
        // RFC 4648 vectors, URL-safe alphabet.
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn long_and_api_key_identities_are_hashed() {
        let secret = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        for clear in [
            "g",
            "i:203.0.113.7",
            "u:alice",
            "r:GET /a|i:10.0.0.1",
            "u:k:x",
        ] {
            assert!(!is_hashed(clear), "{clear}");
            assert_eq!(key_identity(secret, clear), clear);
        }
        let at_limit = format!("u:{}", "a".repeat(MAX_CLEAR_IDENTITY - 2));
        assert!(!is_hashed(&at_limit));
        let over_limit = format!("u:{}", "a".repeat(MAX_CLEAR_IDENTITY - 1));
        let long = format!("u:{}", "a".repeat(60_000));
        for hashed in [
            "k:5f1c0a9e33b2d471",
            "i:10.0.0.1|k:5f1c0a9e33b2d471",
            "h:forged",
            &over_limit,
            &long,
        ] {
            assert!(is_hashed(hashed), "{hashed}");
            let tag = key_identity(secret, hashed);
            assert_eq!(tag.len(), 24, "{tag}");
            assert!(tag.starts_with("h:"));
            assert!(!tag.contains(['{', '}', '|', '+', '/', '=']), "{tag}");
            // Stable, and bound to the secret.
            assert_eq!(tag, key_identity(secret, hashed));
            assert_ne!(tag, key_identity(b"another secret", hashed));
        }
        let a = store_key("fg:", secret, &long, "api/second/0000abcd");
        let b = store_key("fg:", secret, &long, "api/day/0000beef");
        assert_eq!(a.len(), 36, "{a}");
        assert_ne!(a, b);
        assert_eq!(slot(&a), slot(&b));
        assert_eq!(
            store_key("fg:", secret, "i:203.0.113.7", "api/per-key/1a2b3c4d"),
            state_key("fg:", "i:203.0.113.7", "api/per-key/1a2b3c4d")
        );
        assert_eq!(secret_key("fg:"), "fg:secret");
    }

    #[test]
    fn a_clients_limits_share_a_slot() {
        let a = state_key("fg:", "client-7", "api/second/0000abcd");
        let b = state_key("fg:", "client-7", "api/day/0000beef");
        assert!(a.starts_with("fg:{client-7}:"), "{a}");
        assert_ne!(a, b);
        assert_eq!(slot(&a), slot(&b));
    }
}
