//! Key names and Redis Cluster hash slots.
//!
//! A limit's state lives at `{prefix}{{identity}}:{limit_id}`: the identity
//! is the hash tag, so every limit of one client hashes to one slot and is
//! decided in one atomic script call, on one node.

/// The Redis key of `identity`'s state under `limit_id`.
pub fn state_key(prefix: &str, identity: &str, limit_id: &str) -> String {
    let mut k = String::with_capacity(prefix.len() + identity.len() + limit_id.len() + 3);
    k.push_str(prefix);
    k.push('{');
    k.push_str(identity);
    k.push_str("}:");
    k.push_str(limit_id);
    k
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
    fn slots_match_redis() {
        // Values from `CLUSTER KEYSLOT`.
        assert_eq!(slot("foo"), 12182);
        assert_eq!(slot("{user1000}.following"), slot("user1000"));
        assert_eq!(slot("foo{}{bar}"), crc16(b"foo{}{bar}") % 16384);
    }

    #[test]
    fn a_clients_limits_share_a_slot() {
        let a = state_key("fg:", "client-7", "api/second/0000abcd");
        let b = state_key("fg:", "client-7", "api/day/0000beef");
        assert_eq!(a, "fg:{client-7}:api/second/0000abcd");
        assert_eq!(slot(&a), slot(&b));
    }
}
