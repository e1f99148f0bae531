//! crc32a is the standard CRC-32; crc32 is libmemcached's variant of it, which
//! keeps only 15 bits (so under ketama nearly every key lands on one server: a
//! real nutcracker quirk that placement must reproduce).

pub fn hash_standard(key: &[u8]) -> u32 {
    crc32fast::hash(key)
}

pub fn hash_libmemcached(key: &[u8]) -> u32 {
    (crc32fast::hash(key) >> 16) & 0x7fff
}
