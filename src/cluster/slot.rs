//! The hash slot of a key, by the Redis Cluster specification: CRC16
//! (XMODEM) of the key, or of its hash tag, modulo 16384. The tag is the
//! text between the first `{` and the first `}` after it, when non-empty:
//! `foo{}{bar}` hashes the whole key, `foo{{bar}}` hashes `{bar`.

use crate::hashkit::{crc16, extract_hash_tag, HashTag};

/// Slots in a cluster.
pub const SLOTS: u16 = 16384;

const BRACES: HashTag = HashTag {
    open: b'{',
    close: b'}',
};

/// The slot `key` belongs to.
pub fn slot(key: &[u8]) -> u16 {
    // nutcracker's crc16 keeps bits above 16 in its accumulator, but the low
    // 16 bits are CRC16/XMODEM's, and the slot needs only the low 14.
    (crc16::hash(extract_hash_tag(key, BRACES)) & (SLOTS as u32 - 1)) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_as_the_specification_gives_them() {
        // Values from CLUSTER KEYSLOT on Redis 7.
        assert_eq!(slot(b"123456789"), 0x31c3 & 0x3fff);
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"bar"), 5061);
        assert_eq!(slot(b"user:{42}:name"), slot(b"42"));
        assert_eq!(slot(b"foo{}{bar}"), slot(b"foo{}{bar}"));
        assert_ne!(slot(b"foo{}{bar}"), slot(b"bar"));
        assert_eq!(slot(b"foo{{bar}}"), slot(b"{bar"));
        assert_eq!(slot(b""), 0);
    }
}
