//! Inline commands — a line of words, as typed into telnet or piped through
//! `nc` — read exactly as Redis reads them: `processInlineBuffer` in its
//! networking.c finds the line, `sdssplitargs` in sds.c splits it. People
//! type quotes and escapes, and scripts send them; a line Redis takes must
//! mean the same here.
//!
//! - A line ends at `\n`; a `\r` before it is dropped. A line of blanks
//!   only holds no command: Redis skips it, and so does the framer.
//! - Blanks before a word are skipped (C's `isspace`: space, `\t`, `\n`,
//!   `\v`, `\f`, `\r`), but only space, `\t` and `\r` end an unquoted word:
//!   `\v` and `\f` inside one are part of it.
//! - `"..."` reads `\n \r \t \b \a`, `\xHH` (two hex digits) and `\<c>`
//!   (`c` itself, so `\"` and `\\`); `'...'` reads `\'` only. A quote may
//!   open inside a word (`ab"c d"` is `abc d`), but a closing quote must be
//!   followed by a blank or the end of the line. Otherwise, and when a quote
//!   is not closed: "unbalanced quotes in request", and the client is closed.
//! - A line over 64 KiB: "too big inline request", and the client is closed.
//!   (Redis checks only when a read ends without the line's end, so it may
//!   take a longer line whose end came in the same read; here the limit
//!   does not depend on how the bytes arrived.)
//!
//! Where Redis has no answer, the framer gives one. A NUL byte before the
//! line's end: Redis looks for the end with `strchr`, which stops at the
//! NUL, so it waits without replying until 64 KiB have come; here it is
//! refused at once. A TLS handshake on a plain port (first bytes 0x16
//! 0x03): Redis would wait for a line end that never comes, while the
//! client waits for the server's handshake; here it is refused at once.

use std::ops::Range;

use super::frame_error::ProtocolError;

/// Longest inline line accepted, line end excluded (Redis's
/// `PROTO_INLINE_MAX_SIZE`).
pub const MAX_INLINE: usize = 64 * 1024;

/// The line that starts at `from`: `(end of its words, start of the next
/// line)`, or `None` while its end has not come.
pub(super) fn find_line(buf: &[u8], from: usize) -> Result<Option<(usize, usize)>, ProtocolError> {
    let rest = &buf[from..];
    // Looked for within the limit only: a longer line is refused anyway.
    let window = &rest[..rest.len().min(MAX_INLINE + 1)];
    match window.iter().position(|&b| b == b'\n' || b == 0) {
        Some(at) if window[at] == 0 => Err(ProtocolError::InlineNul),
        Some(nl) => {
            let end = if nl > 0 && rest[nl - 1] == b'\r' {
                nl - 1
            } else {
                nl
            };
            Ok(Some((from + end, from + nl + 1)))
        }
        None if rest.len() > MAX_INLINE => Err(ProtocolError::InlineTooBig),
        None => Ok(None),
    }
}

/// Whether `rest` begins as a TLS handshake record does (type 22, version
/// 3.x), which no command name does.
pub(super) fn looks_like_tls(rest: &[u8]) -> bool {
    rest.starts_with(&[0x16, 0x03])
}

/// Splits `line` (its end excluded) into words: each word's bytes,
/// unescaped, are appended to `words` and its range in `words` to `args`.
/// No word at all: a blank line.
pub(super) fn split(
    line: &[u8],
    words: &mut Vec<u8>,
    args: &mut Vec<Range<usize>>,
    max_args: usize,
) -> Result<(), ProtocolError> {
    let mut i = 0;
    loop {
        while i < line.len() && is_space(line[i]) {
            i += 1;
        }
        if i == line.len() {
            return Ok(());
        }
        let start = words.len();
        i = word(line, i, words)?;
        args.push(start..words.len());
        if args.len() > max_args {
            return Err(ProtocolError::TooManyArgs(args.len() as u64, max_args));
        }
    }
}

/// Inside a word: outside quotes, or inside double or single ones.
#[derive(Clone, Copy)]
enum Mode {
    Bare,
    Double,
    Single,
}

/// Reads the word starting at `i` (not a blank) into `out`; returns where
/// the next word may start.
fn word(line: &[u8], mut i: usize, out: &mut Vec<u8>) -> Result<usize, ProtocolError> {
    let at = |j: usize| line.get(j).copied();
    let mut mode = Mode::Bare;
    loop {
        match (mode, at(i)) {
            (Mode::Bare, None) => return Ok(i),
            (Mode::Bare, Some(b' ' | b'\t' | b'\r' | b'\n')) => return Ok(i + 1),
            (Mode::Bare, Some(b'"')) => mode = Mode::Double,
            (Mode::Bare, Some(b'\'')) => mode = Mode::Single,
            (Mode::Double | Mode::Single, None) => return Err(ProtocolError::UnbalancedQuotes),
            (Mode::Double, Some(b'\\')) if at(i + 1) == Some(b'x') => {
                match (hex(at(i + 2)), hex(at(i + 3))) {
                    (Some(high), Some(low)) => {
                        out.push(high << 4 | low);
                        i += 3;
                    }
                    // Not an escape of a byte: `\x` is `x`, as `\q` is `q`.
                    _ => {
                        out.push(b'x');
                        i += 1;
                    }
                }
            }
            (Mode::Double, Some(b'\\')) if i + 1 < line.len() => {
                i += 1;
                out.push(match line[i] {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'b' => 0x08,
                    b'a' => 0x07,
                    other => other,
                });
            }
            (Mode::Single, Some(b'\\')) if at(i + 1) == Some(b'\'') => {
                out.push(b'\'');
                i += 1;
            }
            (Mode::Double, Some(b'"')) | (Mode::Single, Some(b'\'')) => {
                return match at(i + 1) {
                    Some(next) if !is_space(next) => Err(ProtocolError::UnbalancedQuotes),
                    _ => Ok(i + 1),
                };
            }
            (_, Some(b)) => out.push(b),
        }
        i += 1;
    }
}

/// C's `isspace` in the C locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex(b: Option<u8>) -> Option<u8> {
    (b? as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &[u8]) -> Result<Vec<Vec<u8>>, ProtocolError> {
        let (mut words, mut args) = (Vec::new(), Vec::new());
        split(line, &mut words, &mut args, 100)?;
        Ok(args.into_iter().map(|r| words[r].to_vec()).collect())
    }

    fn ok(line: &[u8], want: &[&[u8]]) {
        let got = words(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert_eq!(got, want, "{:?}", String::from_utf8_lossy(line));
    }

    #[test]
    fn bare_words_and_blanks() {
        ok(b"", &[]);
        ok(b" \t\x0b\x0c\r ", &[]);
        ok(b"PING", &[b"PING"]);
        ok(b"  set\tk  v ", &[b"set", b"k", b"v"]);
        // \v and \f are skipped before a word, not ended at inside one.
        ok(b"\x0bPI\x0bNG\x0c", &[b"PI\x0bNG\x0c"]);
        // \r ends a word wherever it is.
        ok(b"a\rb", &[b"a", b"b"]);
    }

    #[test]
    fn double_quotes_and_their_escapes() {
        ok(br#"SET k "hello world""#, &[b"SET", b"k", b"hello world"]);
        ok(br#""""#, &[b""]);
        ok(br#""" """#, &[b"", b""]);
        ok(br#""\x41\n\r\t\b\a\\\"\q""#, &[b"A\n\r\t\x08\x07\\\"q"]);
        ok(br#""\xff\x00\xAb""#, &[b"\xff\x00\xab"]);
        // Not a byte escape: `\x` is `x`, the rest as it is.
        ok(br#""\x4g" "\x4" "\x""#, &[b"x4g", b"x4", b"x"]);
        // A quote opened inside a word joins it.
        ok(br#"ab"c d" e"#, &[b"abc d", b"e"]);
        // Any blank may follow the closing quote, \v too.
        ok(b"\"a\"\tb \"c\"\x0bd", &[b"a", b"b", b"c", b"d"]);
    }

    #[test]
    fn single_quotes_read_only_their_own_escape() {
        ok(br"SET k 'a b'", &[b"SET", b"k", b"a b"]);
        ok(br"'it\'s \n \x41'", &[br"it's \n \x41"]);
        ok(br"''", &[b""]);
        ok(br#"'say "hi"'"#, &[br#"say "hi""#]);
    }

    #[test]
    fn unbalanced_quotes() {
        for line in [
            &br#"SET k "abc"#[..],
            br"SET k 'abc",
            br#"SET k "abc"d"#,
            br"SET k 'ab'c",
            br#""abc\""#,
            br#""abc\"#,
            br"'abc\'",
            br#"""x"#,
        ] {
            assert_eq!(
                words(line),
                Err(ProtocolError::UnbalancedQuotes),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn too_many_words() {
        let (mut words, mut args) = (Vec::new(), Vec::new());
        assert_eq!(
            split(b"a b c", &mut words, &mut args, 2),
            Err(ProtocolError::TooManyArgs(3, 2))
        );
    }

    #[test]
    fn lines_end_at_lf_with_or_without_cr() {
        assert_eq!(find_line(b"PING\r\nX", 0), Ok(Some((4, 6))));
        assert_eq!(find_line(b"PING\nX", 0), Ok(Some((4, 5))));
        assert_eq!(find_line(b"\r\n", 0), Ok(Some((0, 2))));
        assert_eq!(find_line(b"\n", 0), Ok(Some((0, 1))));
        assert_eq!(find_line(b"ab\r\r\n", 0), Ok(Some((3, 5))));
        assert_eq!(find_line(b"xxPING\r", 2), Ok(None));
        assert_eq!(find_line(b"PI\0NG\r\n", 0), Err(ProtocolError::InlineNul));
        assert_eq!(find_line(b"PI\0", 0), Err(ProtocolError::InlineNul));
    }

    #[test]
    fn the_line_limit_is_64_kib() {
        let mut line = vec![b'a'; MAX_INLINE];
        assert_eq!(find_line(&line, 0), Ok(None));
        line.push(b'\n');
        assert_eq!(find_line(&line, 0), Ok(Some((MAX_INLINE, MAX_INLINE + 1))));
        line.insert(0, b'a');
        assert_eq!(find_line(&line, 0), Err(ProtocolError::InlineTooBig));
        line.pop();
        assert_eq!(find_line(&line, 0), Err(ProtocolError::InlineTooBig));
    }
}
