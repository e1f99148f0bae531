//! An oracle for inline commands: Redis's `sdssplitargs` (sds.c) carried
//! over line by line, C string and all (the line copied with a NUL after
//! it, `*p` read as `s[p]`), written apart from the framer's version so
//! that the two can be compared on any line. `None`: Redis's "unbalanced
//! quotes". Only for lines without a NUL byte, which Redis never splits.
//!
//! Included by path (`#[path = ...]`), so it depends on nothing.
// The fuzz target that includes it uses the oracle only.
#![allow(dead_code)]

pub fn sdssplitargs(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    assert!(!line.contains(&0), "Redis never splits a line with a NUL");
    let mut s = line.to_vec();
    s.push(0);
    let isspace = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let is_hex_digit = |c: u8| c.is_ascii_hexdigit();
    let hex_digit_to_int = |c: u8| (c as char).to_digit(16).unwrap() as u8;
    let mut p = 0;
    let mut vector = Vec::new();
    loop {
        // skip blanks
        while s[p] != 0 && isspace(s[p]) {
            p += 1;
        }
        if s[p] == 0 {
            return Some(vector);
        }
        let (mut inq, mut insq, mut done) = (false, false, false);
        let mut current = Vec::new();
        while !done {
            if inq {
                if s[p] == b'\\'
                    && s[p + 1] == b'x'
                    && is_hex_digit(s[p + 2])
                    && is_hex_digit(s[p + 3])
                {
                    current.push(hex_digit_to_int(s[p + 2]) * 16 + hex_digit_to_int(s[p + 3]));
                    p += 3;
                } else if s[p] == b'\\' && s[p + 1] != 0 {
                    p += 1;
                    current.push(match s[p] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        c => c,
                    });
                } else if s[p] == b'"' {
                    // closing quote must be followed by a space or nothing at all
                    if s[p + 1] != 0 && !isspace(s[p + 1]) {
                        return None;
                    }
                    done = true;
                } else if s[p] == 0 {
                    return None; // unterminated quotes
                } else {
                    current.push(s[p]);
                }
            } else if insq {
                if s[p] == b'\\' && s[p + 1] == b'\'' {
                    p += 1;
                    current.push(b'\'');
                } else if s[p] == b'\'' {
                    if s[p + 1] != 0 && !isspace(s[p + 1]) {
                        return None;
                    }
                    done = true;
                } else if s[p] == 0 {
                    return None;
                } else {
                    current.push(s[p]);
                }
            } else {
                match s[p] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    c => current.push(c),
                }
            }
            if s[p] != 0 {
                p += 1;
            }
        }
        vector.push(current);
    }
}

/// One argument written so that Redis reads it back as it is: bare when
/// it can be, else in double quotes with `\xHH` for what is not printable.
pub fn quote(arg: &[u8]) -> Vec<u8> {
    let bare = !arg.is_empty()
        && arg
            .iter()
            .all(|&b| b.is_ascii_graphic() && b != b'"' && b != b'\'');
    if bare {
        return arg.to_vec();
    }
    let mut out = vec![b'"'];
    for &b in arg {
        match b {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            b' ' | 0x21..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
    out
}

/// A command as one inline line, each argument quoted as it needs.
pub fn inline_line(args: &[Vec<u8>]) -> Vec<u8> {
    let mut line = args
        .iter()
        .map(|a| quote(a))
        .collect::<Vec<_>>()
        .join(&b' ');
    line.extend_from_slice(b"\r\n");
    line
}
