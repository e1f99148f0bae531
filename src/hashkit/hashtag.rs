//! Hash tags: hash only the part of a key between two delimiter characters.

/// A pool's `hash_tag`: its two delimiter bytes, e.g. `{}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashTag {
    pub open: u8,
    pub close: u8,
}

/// The bytes of `key` to hash: the text between the first `open` and the next
/// `close` after it, when that text is non-empty; otherwise the whole key.
#[inline]
pub fn extract_hash_tag(key: &[u8], tag: HashTag) -> &[u8] {
    if let Some(start) = key.iter().position(|&b| b == tag.open) {
        let inner = &key[start + 1..];
        if let Some(len) = inner.iter().position(|&b| b == tag.close) {
            if len > 0 {
                return &inner[..len];
            }
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    const BRACES: HashTag = HashTag {
        open: b'{',
        close: b'}',
    };

    #[test]
    fn extraction_rules() {
        let cases: [(&[u8], &[u8]); 9] = [
            (b"user:{42}:name", b"42"),
            (b"{a}{b}", b"a"),
            (b"{}abc", b"{}abc"),
            (b"{abc", b"{abc"),
            (b"abc}", b"abc}"),
            (b"}{x}", b"x"),
            (b"{{x}}", b"{x"),
            (b"", b""),
            (b"plain", b"plain"),
        ];
        for (key, want) in cases {
            assert_eq!(extract_hash_tag(key, BRACES), want, "{:?}", key);
        }
        let same = HashTag {
            open: b'$',
            close: b'$',
        };
        assert_eq!(extract_hash_tag(b"a$bc$d", same), b"bc");
    }
}
