//! Key hashes, each computed exactly as nutcracker 0.5.0 computes it.
//!
//! nutcracker reads key bytes through a signed `char` on x86-64, so in several
//! hashes a byte >= 0x80 enters as a sign-extended value (0xffffff80 | b).
//! `signed` is that conversion; each hash module says where it applies.

pub(crate) mod crc16;
mod crc32;
mod fnv;
mod hashtag;
mod hsieh;
mod jenkins;
mod md5;
mod murmur;
mod one_at_a_time;
mod xxh3;

pub use hashtag::{extract_hash_tag, HashTag};

use std::fmt;
use std::str::FromStr;

/// A byte as nutcracker's `(uint32_t) key[i]` sees it, `key` being `const char *`.
#[inline(always)]
pub(crate) fn signed(b: u8) -> u32 {
    b as i8 as i32 as u32
}

/// The hash functions a pool can name in `hash:`.
// Variant names mirror the config names (fnv1a_64), which camel case would blur.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hash {
    OneAtATime,
    Md5,
    Crc16,
    Crc32,
    Crc32a,
    Fnv1_64,
    Fnv1a_64,
    Fnv1_32,
    Fnv1a_32,
    Hsieh,
    Murmur,
    Jenkins,
    /// Not in nutcracker: the low 32 bits of xxh3_64.
    Xxh3,
}

impl Hash {
    /// Every hash with its config name, in nutcracker's order (xxh3 last).
    pub const ALL: [(Hash, &'static str); 13] = [
        (Hash::OneAtATime, "one_at_a_time"),
        (Hash::Md5, "md5"),
        (Hash::Crc16, "crc16"),
        (Hash::Crc32, "crc32"),
        (Hash::Crc32a, "crc32a"),
        (Hash::Fnv1_64, "fnv1_64"),
        (Hash::Fnv1a_64, "fnv1a_64"),
        (Hash::Fnv1_32, "fnv1_32"),
        (Hash::Fnv1a_32, "fnv1a_32"),
        (Hash::Hsieh, "hsieh"),
        (Hash::Murmur, "murmur"),
        (Hash::Jenkins, "jenkins"),
        (Hash::Xxh3, "xxh3"),
    ];

    /// The name used in config files.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(h, _)| *h == self)
            .map(|(_, n)| *n)
            .unwrap_or("?")
    }

    /// The names accepted by `hash:`, comma separated, for error messages.
    pub fn names() -> String {
        Self::ALL
            .iter()
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Hashes `key` to the u32 nutcracker would compute.
    #[inline]
    pub fn hash(self, key: &[u8]) -> u32 {
        match self {
            Hash::OneAtATime => one_at_a_time::hash(key),
            Hash::Md5 => md5::hash(key),
            Hash::Crc16 => crc16::hash(key),
            Hash::Crc32 => crc32::hash_libmemcached(key),
            Hash::Crc32a => crc32::hash_standard(key),
            Hash::Fnv1_64 => fnv::fnv1_64(key),
            Hash::Fnv1a_64 => fnv::fnv1a_64(key),
            Hash::Fnv1_32 => fnv::fnv1_32(key),
            Hash::Fnv1a_32 => fnv::fnv1a_32(key),
            Hash::Hsieh => hsieh::hash(key),
            Hash::Murmur => murmur::hash(key),
            Hash::Jenkins => jenkins::hash(key),
            Hash::Xxh3 => xxh3::hash(key),
        }
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name is not one of [`Hash::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a valid hash; expected one of: {names}", names = Hash::names())]
pub struct UnknownHash(pub String);

impl FromStr for Hash {
    type Err = UnknownHash;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .find(|(_, n)| *n == s)
            .map(|(h, _)| *h)
            .ok_or_else(|| UnknownHash(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (h, n) in Hash::ALL {
            assert_eq!(n.parse::<Hash>().unwrap(), h);
            assert_eq!(h.name(), n);
        }
        let err = "md6".parse::<Hash>().unwrap_err().to_string();
        assert!(err.contains("'md6'") && err.contains("fnv1a_64"), "{err}");
    }

    #[test]
    fn signed_byte_extension() {
        assert_eq!(signed(0x41), 0x41);
        assert_eq!(signed(0x80), 0xffff_ff80);
        assert_eq!(signed(0xff), 0xffff_ffff);
    }
}
