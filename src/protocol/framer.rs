//! The request framer: finds complete requests in a client's read buffer.
//!
//! Resumable: after a partial read it continues where it stopped instead of
//! re-parsing from byte 0, so a large pipelined request arriving in many reads
//! costs linear time. It allocates nothing per request: argument positions go
//! into a vector that is reused from request to request.
//!
//! A framed [`Request`] borrows that vector, so the framer cannot touch it
//! while the request is in use: its arguments reach the router whole. The
//! vector is cut back after a burst of arguments only when the next request
//! starts, or when the caller says it is idle ([`RequestFramer::shrink`]).
//! A request the caller cannot take yet is kept with [`RequestFramer::hold`]
//! and handed back by the next call without being parsed again.
//!
//! Accepted: RESP arrays of bulk strings, and inline commands (a line of
//! space-separated words starting with a letter, as typed into telnet).
//! Everything else is a [`ProtocolError`], answered with
//! `-ERR Protocol error: ...` before the client is closed.

use std::ops::Range;

use super::request::Request;

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
    /// The request of `len` bytes was returned; its arguments are still in
    /// `args`. `held`: the caller keeps it to take later.
    Done {
        len: usize,
        inline: bool,
        held: bool,
    },
}

/// Longest inline command line accepted (Redis: 64 KiB).
const MAX_INLINE: usize = 64 * 1024;

/// Argument positions kept between requests; more (16 bytes each) are given
/// back once the request that needed them is done with.
const KEEP_ARGS: usize = 4096;

/// Argument positions reserved up front: the common request needs no growth.
const INITIAL_ARGS: usize = 16;

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
            args: Vec::with_capacity(INITIAL_ARGS),
        }
    }

    /// Looks for a complete request at the start of `buf`. `Ok(None)` means
    /// more bytes are needed; call again with the same bytes plus more.
    ///
    /// After `Ok(Some(request))` the caller removes `request.wire_len()`
    /// bytes from the front of its buffer before the next call — unless it
    /// called [`hold`](Self::hold): then the next call, with the same bytes
    /// (more may have been appended), returns the same request again.
    pub fn next_frame<'a>(
        &'a mut self,
        buf: &'a [u8],
    ) -> Result<Option<Request<'a>>, ProtocolError> {
        if let Step::Done { len, inline, held } = self.step {
            self.step = Step::Start;
            // A held request is still at the start of `buf`; a shorter
            // buffer is not the same one, so it is framed afresh.
            if held && buf.len() >= len {
                self.step = Step::Done {
                    len,
                    inline,
                    held: false,
                };
                return Ok(Some(Request::new(&buf[..len], &self.args, inline)));
            }
        }
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
            self.begin(self.argc);
            // Reserve for the common case only; a huge count grows as data arrives.
            self.args.reserve(self.argc.min(1024));
            self.pos = next;
            self.step = Step::ArgHeader;
        }
        loop {
            match self.step {
                Step::Start | Step::Done { .. } => unreachable!("handled above"),
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
                        return Ok(Some(self.done(buf, self.pos, false)));
                    }
                    self.step = Step::ArgHeader;
                }
            }
        }
    }

    /// The request just parsed, `len` bytes of `buf`; its arguments stay
    /// in `args` until the next request begins.
    fn done<'a>(&'a mut self, buf: &'a [u8], len: usize, inline: bool) -> Request<'a> {
        self.step = Step::Done {
            len,
            inline,
            held: false,
        };
        self.pos = 0;
        self.argc = 0;
        Request::new(&buf[..len], &self.args, inline)
    }

    /// A new request begins, of `argc` arguments if known: the previous
    /// one's positions are dropped, and the memory a burst of arguments
    /// took is given back unless this request needs it too.
    fn begin(&mut self, argc: usize) {
        if self.args.capacity() > KEEP_ARGS && argc <= KEEP_ARGS {
            self.args = Vec::with_capacity(INITIAL_ARGS);
        } else {
            self.args.clear();
        }
    }

    /// Keeps the request last returned: the next call returns it again
    /// instead of framing the bytes after it.
    pub fn hold(&mut self) {
        if let Step::Done { held, .. } = &mut self.step {
            *held = true;
        }
    }

    /// Whether a request is held (see [`hold`](Self::hold)).
    /// Bytes the argument positions take (16 per argument of the largest
    /// request since the last `shrink`), for the memory account.
    pub fn held_bytes(&self) -> usize {
        self.args.capacity() * std::mem::size_of::<Range<usize>>()
    }

    pub fn holding(&self) -> bool {
        matches!(self.step, Step::Done { held: true, .. })
    }

    /// Forgets everything, a held request included: the caller dropped its
    /// buffer.
    pub fn clear(&mut self) {
        self.step = Step::Start;
        self.pos = 0;
        self.argc = 0;
        self.begin(0);
    }

    /// The caller is idle between requests: gives back the memory a burst
    /// of arguments took. Nothing changes while a request is held or
    /// partly parsed.
    pub fn shrink(&mut self) {
        if matches!(self.step, Step::Start | Step::Done { held: false, .. }) {
            self.step = Step::Start;
            self.begin(0);
        }
    }

    /// A header line is not complete yet: fine unless it is already too long
    /// to be a number.
    fn pending_line(
        &self,
        buf: &[u8],
        from: usize,
        err: ProtocolError,
    ) -> Result<Option<Request<'static>>, ProtocolError> {
        if buf.len().saturating_sub(from) > 24 {
            return Err(err);
        }
        Ok(None)
    }

    fn inline<'a>(
        &'a mut self,
        buf: &'a [u8],
        first: u8,
    ) -> Result<Option<Request<'a>>, ProtocolError> {
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
        self.begin(0);
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
        Ok(Some(self.done(buf, nl + 1, true)))
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
        while let Some(req) = f.next_frame(buf)? {
            out.push(req.args().map(<[u8]>::to_vec).collect());
            buf = &buf[req.wire_len()..];
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
            assert!(f.next_frame(&input[..cut]).unwrap().is_none(), "cut {cut}");
            let req = f.next_frame(input).unwrap().unwrap();
            assert_eq!(req.wire_len(), input.len());
            assert_eq!(req.arg(2), b"0123456789");
        }
    }

    #[test]
    fn limits_apply_at_the_header() {
        let limits = FrameLimits {
            max_request: 100,
            max_key: 8,
            max_args: 4,
        };
        let cases: [(&[u8], ProtocolError); 3] = [
            (b"*2\r\n$3\r\nGET\r\n$9\r\n", ProtocolError::KeyTooLarge(8)),
            (
                b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$600000000\r\n",
                ProtocolError::RequestTooLarge(100),
            ),
            (b"*5\r\n", ProtocolError::TooManyArgs(5, 4)),
        ];
        for (input, want) in cases {
            let mut f = RequestFramer::new(limits);
            assert_eq!(f.next_frame(input).unwrap_err(), want);
        }
    }

    /// An MGET of `n - 1` keys: `n` arguments.
    fn mget(n: usize) -> Vec<u8> {
        let mut out = format!("*{n}\r\n$4\r\nMGET\r\n").into_bytes();
        for i in 1..n {
            let k = format!("k{i}");
            out.extend(format!("${}\r\n{k}\r\n", k.len()).bytes());
        }
        out
    }

    #[test]
    fn a_burst_of_arguments_reaches_the_caller_whole() {
        for n in [KEEP_ARGS, KEEP_ARGS + 1, 3 * KEEP_ARGS] {
            let mut input = mget(n);
            let small = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
            input.extend_from_slice(small);
            let mut f = RequestFramer::new(FrameLimits::default());
            let req = f.next_frame(&input).unwrap().unwrap();
            assert_eq!(req.argc(), n);
            assert_eq!(req.arg(n - 1), format!("k{}", n - 1).as_bytes());
            let len = req.wire_len();
            let req = f.next_frame(&input[len..]).unwrap().unwrap();
            assert_eq!(req.args().collect::<Vec<_>>(), [&b"GET"[..], b"k"]);
            // Given back when the small request began, not before.
            assert!(f.args.capacity() <= KEEP_ARGS, "n {n}");
        }
    }

    #[test]
    fn a_held_request_comes_back_as_it_was() {
        let first = mget(KEEP_ARGS * 2);
        let mut input = first.clone();
        let mut f = RequestFramer::new(FrameLimits::default());
        let len = f.next_frame(&input).unwrap().unwrap().wire_len();
        f.hold();
        assert!(f.holding());
        // Idle memory is not given back from under a held request.
        f.shrink();
        input.extend_from_slice(b"PING\r\n");
        let again = f.next_frame(&input).unwrap().unwrap();
        assert_eq!(again.wire_len(), len);
        assert_eq!(again.argc(), KEEP_ARGS * 2);
        assert_eq!(
            again.arg(KEEP_ARGS * 2 - 1),
            format!("k{}", KEEP_ARGS * 2 - 1).as_bytes()
        );
        assert!(!f.holding());
        let next = f.next_frame(&input[len..]).unwrap().unwrap();
        assert!(next.is_inline());
        assert_eq!(next.args().collect::<Vec<_>>(), [&b"PING"[..]]);
        f.shrink();
        assert!(f.args.capacity() <= KEEP_ARGS);
        f.clear();
        assert!(!f.holding());
    }
}
