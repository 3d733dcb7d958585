//! Key names and Redis Cluster hash slots.
//!
//! A limit's state lives at `{prefix}{{identity}}:{limit}`: the identity
//! is the hash tag, so every limit of one client hashes to one slot and is
//! decided in one atomic script call, on one node. `{limit}` is a 6-character
//! digest of the limit id (rule, name and quota fingerprint): key names are
//! most of a small key's memory, and a key of up to 30 characters fits
//! Redis' smallest allocation for it.

use floodgate_core::hash::fnv1a;

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

/// The channel the policy store announces new versions on,
/// `{prefix}policy`.
pub fn policy_channel(prefix: &str) -> String {
    format!("{prefix}policy")
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

    #[test]
    fn a_clients_limits_share_a_slot() {
        let a = state_key("fg:", "client-7", "api/second/0000abcd");
        let b = state_key("fg:", "client-7", "api/day/0000beef");
        assert!(a.starts_with("fg:{client-7}:"), "{a}");
        assert_ne!(a, b);
        assert_eq!(slot(&a), slot(&b));
    }
}
