//! The key escaping of the placement files: printable ASCII other than `\` as
//! is, every other byte as `\xNN`.

/// Decodes `\xNN` escapes; any other backslash is an error.
pub fn unescape(text: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] != b'\\' {
            out.push(text[i]);
            i += 1;
            continue;
        }
        let hex = text
            .get(i + 1..i + 4)
            .filter(|h| h[0] == b'x')
            .and_then(|h| std::str::from_utf8(&h[1..]).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .ok_or_else(|| format!("bad escape at byte {i}; expected \\xNN with two hex digits"))?;
        out.push(hex);
        i += 4;
    }
    Ok(out)
}

/// Encodes bytes the same way, so any key prints on one line.
pub fn escape(key: &[u8]) -> String {
    let mut out = String::with_capacity(key.len());
    for &b in key {
        if (0x21..=0x7e).contains(&b) && b != b'\\' {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let key = b"a b\\c\xff\x00{t}";
        let text = escape(key);
        assert_eq!(text, "a\\x20b\\x5cc\\xff\\x00{t}");
        assert_eq!(unescape(text.as_bytes()).unwrap(), key);
        assert!(unescape(b"bad\\q").is_err());
        assert!(unescape(b"bad\\x4").is_err());
    }
}
