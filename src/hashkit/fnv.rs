//! The FNV family. nutcracker's "64-bit" variants return only the low 32 bits,
//! and the low 32 bits of a 64-bit product depend only on the operands' low 32
//! bits, so all four run in u32 with the 64-bit constants truncated. Every
//! variant reads bytes sign-extended (signed `char`).

use super::signed;

const FNV_64_INIT_LOW: u32 = 0xcbf2_9ce4_8422_2325_u64 as u32;
const FNV_64_PRIME_LOW: u32 = 0x0000_0100_0000_01b3_u64 as u32;
const FNV_32_INIT: u32 = 2_166_136_261;
const FNV_32_PRIME: u32 = 16_777_619;

#[inline]
fn fnv1(key: &[u8], init: u32, prime: u32) -> u32 {
    key.iter()
        .fold(init, |h, &b| h.wrapping_mul(prime) ^ signed(b))
}

#[inline]
fn fnv1a(key: &[u8], init: u32, prime: u32) -> u32 {
    key.iter()
        .fold(init, |h, &b| (h ^ signed(b)).wrapping_mul(prime))
}

pub fn fnv1_64(key: &[u8]) -> u32 {
    fnv1(key, FNV_64_INIT_LOW, FNV_64_PRIME_LOW)
}

pub fn fnv1a_64(key: &[u8]) -> u32 {
    fnv1a(key, FNV_64_INIT_LOW, FNV_64_PRIME_LOW)
}

pub fn fnv1_32(key: &[u8]) -> u32 {
    fnv1(key, FNV_32_INIT, FNV_32_PRIME)
}

pub fn fnv1a_32(key: &[u8]) -> u32 {
    fnv1a(key, FNV_32_INIT, FNV_32_PRIME)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 64-bit computation, truncated, must equal the 32-bit shortcut.
    #[test]
    fn truncation_is_exact() {
        for key in [&b""[..], b"a", b"foobar", b"\xff\x80key\xc3\xa9"] {
            let mut h: u64 = 0xcbf29ce484222325;
            for &b in key {
                h = h.wrapping_mul(0x100000001b3);
                h ^= b as i8 as i64 as u64;
            }
            assert_eq!(fnv1_64(key), h as u32);
        }
    }

    #[test]
    fn standard_32_bit_vectors_for_ascii() {
        // Published FNV test vectors (ASCII, so the sign of a byte plays no part).
        assert_eq!(fnv1a_32(b"a"), 0xe40c292c);
        assert_eq!(fnv1_32(b"a"), 0x050c5d7e);
        assert_eq!(fnv1a_32(b"foobar"), 0xbf9cf968);
    }
}
