//! `hash: md5`: the first four digest bytes, little endian.

pub fn hash(key: &[u8]) -> u32 {
    let d = ::md5::compute(key).0;
    u32::from_le_bytes([d[0], d[1], d[2], d[3]])
}
