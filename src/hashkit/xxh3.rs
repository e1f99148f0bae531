//! `hash: xxh3`, redshard's addition: the low 32 bits of xxh3_64. Fast and well
//! spread, for new pools that do not need nutcracker placement.

pub fn hash(key: &[u8]) -> u32 {
    xxhash_rust::xxh3::xxh3_64(key) as u32
}
