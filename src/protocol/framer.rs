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
//! Accepted, as Redis accepts them: RESP arrays of bulk strings (a request
//! starting with `*`), and inline commands (anything else: a line of words,
//! with Redis's quotes and escapes, see [`super::inline`]). An inline
//! command's words may differ from its bytes (`"a b"` is `a b`), so they are
//! copied, unescaped, into a second buffer the request borrows too; inline
//! is rare, and a RESP request's arguments stay ranges of the client's
//! bytes. Lines of blanks are skipped, as Redis skips them: they go with
//! the request after them, or to the caller to drop
//! ([`RequestFramer::take_blank`]) when none has come yet. Everything else
//! is a [`ProtocolError`], answered with `-ERR Protocol error: ...` before
//! the client is closed.

use std::ops::Range;

pub use super::frame_error::ProtocolError;
use super::inline;
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

/// Where the framer is inside the current request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Nothing parsed yet.
    Start,
    /// Expecting the header of argument `args.len()`.
    ArgHeader,
    /// Expecting `len` payload bytes (plus CRLF) at `pos`.
    ArgBody { len: usize },
    /// The request at `start..len` was returned (blank lines before it);
    /// its arguments are still in `args`. `held`: the caller keeps it to
    /// take later.
    Done {
        start: usize,
        len: usize,
        inline: bool,
        held: bool,
    },
}

/// Argument positions kept between requests; more (16 bytes each) are given
/// back once the request that needed them is done with.
const KEEP_ARGS: usize = 4096;

/// Argument positions reserved up front: the common request needs no growth.
const INITIAL_ARGS: usize = 16;

/// Bytes of inline words kept between requests (a typed line needs less).
const KEEP_WORDS: usize = 4096;

/// Says whether a command (given its name as sent) takes a key as its first
/// argument, so that `max_key` applies to that argument.
pub type KeyedCommand = fn(&[u8]) -> bool;

#[derive(Debug)]
pub struct RequestFramer {
    limits: FrameLimits,
    keyed: KeyedCommand,
    step: Step,
    /// Where the current request begins: blank lines before it are skipped.
    start: usize,
    /// Parse position inside the current request.
    pos: usize,
    argc: usize,
    args: Vec<Range<usize>>,
    /// An inline command's words, unescaped (its `args` index them).
    words: Vec<u8>,
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
            start: 0,
            pos: 0,
            argc: 0,
            args: Vec::with_capacity(INITIAL_ARGS),
            words: Vec::new(),
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
        if let Step::Done {
            start,
            len,
            inline,
            held,
        } = self.step
        {
            self.step = Step::Start;
            // A held request is still at the start of `buf`; a shorter
            // buffer is not the same one, so it is framed afresh.
            if held && buf.len() >= len {
                self.step = Step::Done {
                    start,
                    len,
                    inline,
                    held: false,
                };
                return Ok(Some(self.request(buf, start, len, inline)));
            }
        }
        if self.step == Step::Start {
            loop {
                let Some(&first) = buf.get(self.start) else {
                    return Ok(None);
                };
                if first == b'*' {
                    break;
                }
                match self.inline(buf)? {
                    Line::Command(len) => return Ok(Some(self.done(buf, len, true))),
                    Line::Blank(next) => self.start = next,
                    Line::Partial => return Ok(None),
                }
            }
            if !self.array_header(buf)? {
                return Ok(None);
            }
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
                    if next + len + 2 - self.start > self.limits.max_request {
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

    /// The `*<count>` line of the array at `self.start`: `Ok(false)` while
    /// it is not complete.
    #[inline]
    fn array_header(&mut self, buf: &[u8]) -> Result<bool, ProtocolError> {
        let from = self.start + 1;
        let Some((value, next)) = read_line_number(buf, from)? else {
            return self
                .pending_line(buf, from, ProtocolError::BadArrayLength)
                .map(|_| false);
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
        Ok(true)
    }

    /// The request just parsed, ending at `len` in `buf`; its arguments
    /// stay in `args` (and `words`) until the next request begins.
    fn done<'a>(&'a mut self, buf: &'a [u8], len: usize, inline: bool) -> Request<'a> {
        let start = std::mem::take(&mut self.start);
        self.step = Step::Done {
            start,
            len,
            inline,
            held: false,
        };
        self.pos = 0;
        self.argc = 0;
        self.request(buf, start, len, inline)
    }

    fn request<'a>(&'a self, buf: &'a [u8], start: usize, len: usize, inline: bool) -> Request<'a> {
        // A RESP request's ranges are positions in `buf`; an inline
        // command's, in its unescaped words.
        let data = if inline { &self.words[..] } else { &buf[..len] };
        Request::new(&buf[..len], start, data, &self.args, inline)
    }

    /// A new request begins, of `argc` arguments if known: the previous
    /// one's positions (and words) are dropped, and the memory a burst of
    /// arguments took is given back unless this request needs it too.
    fn begin(&mut self, argc: usize) {
        if self.args.capacity() > KEEP_ARGS && argc <= KEEP_ARGS {
            self.args = Vec::with_capacity(INITIAL_ARGS);
        } else {
            self.args.clear();
        }
        if self.words.capacity() > KEEP_WORDS {
            self.words = Vec::new();
        } else {
            self.words.clear();
        }
    }

    /// Keeps the request last returned: the next call returns it again
    /// instead of framing the bytes after it.
    pub fn hold(&mut self) {
        if let Step::Done { held, .. } = &mut self.step {
            *held = true;
        }
    }

    /// Bytes the argument positions take (16 per argument of the largest
    /// request since the last `shrink`) and an inline command's words, for
    /// the memory account.
    pub fn held_bytes(&self) -> usize {
        self.args.capacity() * std::mem::size_of::<Range<usize>>() + self.words.capacity()
    }

    /// Whether a request is held (see [`hold`](Self::hold)).
    pub fn holding(&self) -> bool {
        matches!(self.step, Step::Done { held: true, .. })
    }

    /// Forgets everything, a held request included: the caller dropped its
    /// buffer.
    pub fn clear(&mut self) {
        self.step = Step::Start;
        self.start = 0;
        self.pos = 0;
        self.argc = 0;
        self.begin(0);
    }

    /// After `Ok(None)`: how many bytes at the front of the buffer are
    /// blank lines with no request begun after them, which the caller drops
    /// now (as Redis skips an empty line when it reads it), so that a client
    /// sending only empty lines holds no memory. Once a request after them
    /// is partly parsed they stay, and go with it (its `wire_len`).
    pub fn take_blank(&mut self) -> usize {
        if self.step != Step::Start {
            return 0;
        }
        std::mem::take(&mut self.start)
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

    /// The inline line at `self.start`: a command (its words in `args`),
    /// a blank line, or not complete yet.
    fn inline(&mut self, buf: &[u8]) -> Result<Line, ProtocolError> {
        let from = self.start;
        if inline::looks_like_tls(&buf[from..]) {
            return Err(ProtocolError::TlsHandshake);
        }
        let Some((end, next)) = inline::find_line(buf, from)? else {
            return Ok(Line::Partial);
        };
        self.begin(0);
        inline::split(
            &buf[from..end],
            &mut self.words,
            &mut self.args,
            self.limits.max_args,
        )?;
        match self.args.as_slice() {
            [] => Ok(Line::Blank(next)),
            [name, key, ..]
                if key.len() > self.limits.max_key && (self.keyed)(&self.words[name.clone()]) =>
            {
                Err(ProtocolError::KeyTooLarge(self.limits.max_key))
            }
            _ => Ok(Line::Command(next)),
        }
    }
}

/// What the inline line at the current start holds.
enum Line {
    /// A command ending at this position.
    Command(usize),
    /// No word: skipped, the next line starts at this position.
    Blank(usize),
    /// Its end has not come.
    Partial,
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
mod tests;
