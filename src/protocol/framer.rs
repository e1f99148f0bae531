//! The request framer: finds complete requests in a client's read buffer.
//!
//! Resumable: after a partial read it continues where it stopped instead of
//! re-parsing from byte 0, so a large pipelined request arriving in many reads
//! costs linear time. It allocates nothing per request: argument positions go
//! into a vector that is reused from request to request.
//!
//! Accepted: RESP arrays of bulk strings, and inline commands (a line of
//! space-separated words starting with a letter, as typed into telnet).
//! Everything else is a [`ProtocolError`], answered with
//! `-ERR Protocol error: ...` before the client is closed.

use std::ops::Range;

/// Limits checked as soon as a header is read, before any payload is buffered.
#[derive(Debug, Clone, Copy)]
pub struct FrameLimits {
    /// Largest request, in bytes of payload and framing.
    pub max_request: usize,
    /// Largest key (the argument after the command name).
    pub max_key: usize,
    /// Most arguments in one request.
    pub max_args: usize,
}

impl Default for FrameLimits {
    fn default() -> Self {
        FrameLimits {
            max_request: 64 << 20,
            max_key: 1 << 20,
            max_args: 1 << 20,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("invalid multibulk length")]
    BadArrayLength,
    #[error("empty or null command array ('*0' or '*-1')")]
    EmptyArray,
    #[error("expected '$', got '{}'", *.0 as char)]
    ExpectedBulk(u8),
    #[error("invalid bulk length")]
    BadBulkLength,
    #[error("bulk string not followed by CRLF (its length does not match its data)")]
    MissingCrlf,
    #[error("expected '*' or an inline command, got byte 0x{0:02x}")]
    BadFirstByte(u8),
    #[error("unbalanced quotes or an overlong line in an inline command")]
    BadInline,
    #[error("too many arguments ({0}, at most {1})")]
    TooManyArgs(u64, usize),
    #[error("request larger than max_request_bytes ({0} bytes)")]
    RequestTooLarge(usize),
    #[error("key larger than max_key_bytes ({0} bytes)")]
    KeyTooLarge(usize),
}

/// Where the framer is inside the current request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Nothing parsed yet.
    Start,
    /// Expecting the header of argument `args.len()`.
    ArgHeader,
    /// Expecting `len` payload bytes (plus CRLF) at `pos`.
    ArgBody { len: usize },
}

/// A complete request found at the start of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Bytes the request occupies at the start of the buffer.
    pub len: usize,
    /// Written as an inline command, not a RESP array: its bytes cannot be
    /// forwarded as they are.
    pub inline: bool,
}

/// Longest inline command line accepted (Redis: 64 KiB).
const MAX_INLINE: usize = 64 * 1024;

/// Says whether a command (given its name as sent) takes a key as its first
/// argument, so that `max_key` applies to that argument.
pub type KeyedCommand = fn(&[u8]) -> bool;

#[derive(Debug)]
pub struct RequestFramer {
    limits: FrameLimits,
    keyed: KeyedCommand,
    step: Step,
    /// Parse position inside the current request.
    pos: usize,
    argc: usize,
    args: Vec<Range<usize>>,
}

impl RequestFramer {
    /// A framer that treats the first argument of every command as a key.
    pub fn new(limits: FrameLimits) -> Self {
        Self::with_key_rule(limits, |_| true)
    }

    /// A framer that applies `max_key` to the first argument only where
    /// `keyed(command name)` says it is a key.
    pub fn with_key_rule(limits: FrameLimits, keyed: KeyedCommand) -> Self {
        RequestFramer {
            limits,
            keyed,
            step: Step::Start,
            pos: 0,
            argc: 0,
            args: Vec::with_capacity(16),
        }
    }

    /// Argument positions of the frame last returned, relative to its start.
    #[inline]
    pub fn args(&self) -> &[Range<usize>] {
        &self.args
    }

    /// Looks for a complete request at the start of `buf`. `Ok(None)` means
    /// more bytes are needed; call again with the same bytes plus more. After
    /// `Ok(Some(frame))` the caller consumes `frame.len` bytes before the next
    /// call.
    pub fn next_frame(&mut self, buf: &[u8]) -> Result<Option<Frame>, ProtocolError> {
        if self.step == Step::Start {
            let Some(&first) = buf.first() else {
                return Ok(None);
            };
            if first != b'*' {
                return self.inline(buf, first);
            }
            let Some((value, next)) = read_line_number(buf, 1)? else {
                return self.pending_line(buf, 1, ProtocolError::BadArrayLength);
            };
            let count = value.ok_or(ProtocolError::BadArrayLength)?;
            if count <= 0 {
                return Err(ProtocolError::EmptyArray);
            }
            if count as u64 > self.limits.max_args as u64 {
                return Err(ProtocolError::TooManyArgs(
                    count as u64,
                    self.limits.max_args,
                ));
            }
            self.argc = count as usize;
            self.args.clear();
            // Reserve for the common case only; a huge count grows as data arrives.
            self.args.reserve(self.argc.min(1024));
            self.pos = next;
            self.step = Step::ArgHeader;
        }
        loop {
            match self.step {
                Step::Start => unreachable!("handled above"),
                Step::ArgHeader => {
                    let Some(&marker) = buf.get(self.pos) else {
                        return Ok(None);
                    };
                    if marker != b'$' {
                        return Err(ProtocolError::ExpectedBulk(marker));
                    }
                    let Some((value, next)) = read_line_number(buf, self.pos + 1)? else {
                        return self.pending_line(buf, self.pos + 1, ProtocolError::BadBulkLength);
                    };
                    let len = match value {
                        Some(n) if n >= 0 => n as usize,
                        _ => return Err(ProtocolError::BadBulkLength),
                    };
                    if next + len + 2 > self.limits.max_request {
                        return Err(ProtocolError::RequestTooLarge(self.limits.max_request));
                    }
                    if self.args.len() == 1
                        && len > self.limits.max_key
                        && (self.keyed)(&buf[self.args[0].clone()])
                    {
                        return Err(ProtocolError::KeyTooLarge(self.limits.max_key));
                    }
                    self.pos = next;
                    self.step = Step::ArgBody { len };
                }
                Step::ArgBody { len } => {
                    let end = self.pos + len;
                    if let Some(&cr) = buf.get(end) {
                        if cr != b'\r' {
                            return Err(ProtocolError::MissingCrlf);
                        }
                    }
                    if let Some(&lf) = buf.get(end + 1) {
                        if lf != b'\n' {
                            return Err(ProtocolError::MissingCrlf);
                        }
                    } else {
                        return Ok(None);
                    }
                    self.args.push(self.pos..end);
                    self.pos = end + 2;
                    if self.args.len() == self.argc {
                        let len = self.pos;
                        self.reset();
                        return Ok(Some(Frame { len, inline: false }));
                    }
                    self.step = Step::ArgHeader;
                }
            }
        }
    }

    fn reset(&mut self) {
        self.step = Step::Start;
        self.pos = 0;
        self.argc = 0;
        // Give back memory a burst of arguments took.
        if self.args.capacity() > 4096 {
            self.args = Vec::with_capacity(16);
        }
    }

    /// A header line is not complete yet: fine unless it is already too long
    /// to be a number.
    fn pending_line(
        &self,
        buf: &[u8],
        from: usize,
        err: ProtocolError,
    ) -> Result<Option<Frame>, ProtocolError> {
        if buf.len().saturating_sub(from) > 24 {
            return Err(err);
        }
        Ok(None)
    }

    fn inline(&mut self, buf: &[u8], first: u8) -> Result<Option<Frame>, ProtocolError> {
        if !first.is_ascii_alphabetic() {
            return Err(ProtocolError::BadFirstByte(first));
        }
        let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
            if buf.len() > MAX_INLINE {
                return Err(ProtocolError::BadInline);
            }
            return Ok(None);
        };
        let line_end = if nl > 0 && buf[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        self.args.clear();
        let mut i = 0;
        while i < line_end {
            while i < line_end && buf[i].is_ascii_whitespace() {
                i += 1;
            }
            if i == line_end {
                break;
            }
            if buf[i] == b'"' || buf[i] == b'\'' {
                // Quoted words would need unescaping; refuse rather than guess.
                return Err(ProtocolError::BadInline);
            }
            let start = i;
            while i < line_end && !buf[i].is_ascii_whitespace() {
                i += 1;
            }
            self.args.push(start..i);
            if self.args.len() > self.limits.max_args {
                return Err(ProtocolError::TooManyArgs(
                    self.args.len() as u64,
                    self.limits.max_args,
                ));
            }
        }
        Ok(Some(Frame {
            len: nl + 1,
            inline: true,
        }))
    }
}

/// Reads `<digits>\r\n` starting at `from`. `Ok(None)`: line not complete.
/// `Ok(Some((None, _)))`: the line is not a number.
#[inline]
fn read_line_number(
    buf: &[u8],
    from: usize,
) -> Result<Option<(Option<i64>, usize)>, ProtocolError> {
    let rest = buf.get(from..).unwrap_or(&[]);
    let Some(cr) = rest.iter().position(|&b| b == b'\r') else {
        return Ok(None);
    };
    let Some(&lf) = rest.get(cr + 1) else {
        return Ok(None);
    };
    if lf != b'\n' {
        return Ok(Some((None, from + cr + 2)));
    }
    Ok(Some((parse_i64(&rest[..cr]), from + cr + 2)))
}

/// A decimal integer with an optional leading '-', at most 18 digits.
#[inline]
pub fn parse_i64(digits: &[u8]) -> Option<i64> {
    let (neg, digits) = match digits.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, digits),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + (d - b'0') as i64;
    }
    Some(if neg { -n } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_all(input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
        let mut f = RequestFramer::new(FrameLimits::default());
        let mut buf = input;
        let mut out = Vec::new();
        while let Some(frame) = f.next_frame(buf)? {
            out.push(f.args().iter().map(|r| buf[r.clone()].to_vec()).collect());
            buf = &buf[frame.len..];
        }
        Ok(out)
    }

    #[test]
    fn arrays_and_inline() {
        let got = frame_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\nset  a b\n").unwrap();
        assert_eq!(got[0], vec![b"GET".to_vec(), b"k".to_vec()]);
        assert_eq!(got[1], vec![b"PING".to_vec()]);
        assert_eq!(got[2], vec![b"set".to_vec(), b"a".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn errors() {
        let cases: [(&[u8], ProtocolError); 8] = [
            (b"*x\r\n", ProtocolError::BadArrayLength),
            (b"$4\r\nPING\r\n", ProtocolError::BadFirstByte(b'$')),
            (b"*1\r\n$4\r\nPIN\r\n", ProtocolError::MissingCrlf),
            (b"*-1\r\n", ProtocolError::EmptyArray),
            (b"*0\r\n", ProtocolError::EmptyArray),
            (b"*1\r\n:1\r\n", ProtocolError::ExpectedBulk(b':')),
            (b"*1\r\n$-2\r\n", ProtocolError::BadBulkLength),
            (b"\x00\xff garbage", ProtocolError::BadFirstByte(0)),
        ];
        for (input, want) in cases {
            assert_eq!(
                frame_all(input).unwrap_err(),
                want,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn resumes_after_every_split() {
        let input = b"*3\r\n$3\r\nSET\r\n$5\r\nhello\r\n$10\r\n0123456789\r\n";
        for cut in 0..input.len() {
            let mut f = RequestFramer::new(FrameLimits::default());
            assert_eq!(f.next_frame(&input[..cut]).unwrap(), None, "cut {cut}");
            let frame = f.next_frame(input).unwrap().unwrap();
            assert_eq!(frame.len, input.len());
            assert_eq!(&input[f.args()[2].clone()], b"0123456789");
        }
    }

    #[test]
    fn limits_apply_at_the_header() {
        let limits = FrameLimits {
            max_request: 100,
            max_key: 8,
            max_args: 4,
        };
        let mut f = RequestFramer::new(limits);
        assert_eq!(
            f.next_frame(b"*2\r\n$3\r\nGET\r\n$9\r\n"),
            Err(ProtocolError::KeyTooLarge(8))
        );
        let mut f = RequestFramer::new(limits);
        assert_eq!(
            f.next_frame(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$600000000\r\n"),
            Err(ProtocolError::RequestTooLarge(100))
        );
        let mut f = RequestFramer::new(limits);
        assert_eq!(
            f.next_frame(b"*5\r\n"),
            Err(ProtocolError::TooManyArgs(5, 4))
        );
    }
}
