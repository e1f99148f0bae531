//! The reply skipper: finds where each complete reply ends in a backend's read
//! buffer, for every RESP2 and RESP3 type, nested aggregates included, without
//! building the reply. Resumable like the request framer.
//!
//! A reply larger than the limit is not buffered: once its size is known to be
//! over, the skipper switches to discarding it, and tells the caller how many
//! leading bytes of the buffer may be dropped as they arrive, until the reply
//! ends. The connection it came on goes on with the next reply.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("unknown reply type byte 0x{0:02x}")]
    BadType(u8),
    #[error("invalid length in reply header")]
    BadLength,
    #[error("bulk reply not followed by CRLF")]
    MissingCrlf,
    #[error("streamed RESP3 replies are not supported")]
    Streamed,
    /// Not a broken stream: the skipper now discards this reply ([`ReplySkipper::discard`]).
    #[error("reply larger than {0} bytes")]
    TooLarge(usize),
}

/// Longest header line of a bulk or aggregate (`$`, a sign, 18 digits, CRLF,
/// with room to spare): a longer one without its CRLF is malformed.
const MAX_HEADER: usize = 64;

/// The skipper keeps one small entry per open aggregate level on the heap,
/// not on the call stack, so nesting is bounded only by the reply size: a
/// Lua table 100 (or 10,000) levels deep that a client's own EVAL returns
/// comes back instead of breaking a connection other clients share.
#[derive(Debug)]
pub struct ReplySkipper {
    /// Parse position inside the current reply (while discarding: in the
    /// caller's buffer, which starts where the last `discard` left off).
    pos: usize,
    /// Largest reply accepted (`max_reply_bytes`): a larger one is discarded
    /// as soon as its size is known to be over, before it is buffered.
    max_reply: usize,
    /// Elements still expected at each open aggregate level, and whether the
    /// level is an attribute (which annotates the next value but is not an
    /// element itself).
    stack: Vec<(u64, bool)>,
    /// Where the reply being discarded is, while there is one.
    discarding: Option<Discarding>,
}

/// Where the skipper is inside a reply it discards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Discarding {
    /// An element's header starts at `pos`.
    Header,
    /// Inside a bulk body: this many bytes still to drop, its CRLF included.
    Body(u64),
    /// Inside a simple line (status, error, number...): drop up to its CRLF.
    Line,
    /// The reply ended at `pos`.
    Ended,
}

/// What one call of [`ReplySkipper::discard`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Discarded {
    /// Leading bytes of the buffer that belong to the discarded reply: drop
    /// them before the next call.
    pub consumed: usize,
    /// The reply ended with those bytes; the next reply starts after them.
    pub ended: bool,
}

/// One element's header line.
#[derive(Debug, Clone, Copy)]
enum Header {
    /// A simple type or a null: the element ends at `end`.
    Line { end: usize },
    /// A bulk string of `len` bytes (and its CRLF) from `body`.
    Bulk { body: usize, len: u64 },
    /// An aggregate: `children` elements follow from `after`. An attribute
    /// annotates the next value and is not an element itself.
    Aggregate {
        after: usize,
        children: u64,
        attribute: bool,
    },
}

impl Default for ReplySkipper {
    fn default() -> Self {
        ReplySkipper::with_limit(usize::MAX)
    }
}

impl ReplySkipper {
    pub fn new() -> Self {
        Self::default()
    }

    /// A skipper that discards replies larger than `max_reply` bytes.
    pub fn with_limit(max_reply: usize) -> Self {
        ReplySkipper {
            pos: 0,
            max_reply,
            stack: Vec::new(),
            discarding: None,
        }
    }

    /// Length of the complete reply at the start of `buf`, or `None` when more
    /// bytes are needed (call again with the same bytes plus more). After
    /// `Some(len)` the caller consumes `len` bytes before the next call.
    ///
    /// `Err(TooLarge)`: the reply is over the limit and the skipper now
    /// discards it: call [`discard`](Self::discard) (with the same bytes, then
    /// with what follows) until it reports the end. Any other error means the
    /// stream is broken.
    pub fn next_reply(&mut self, buf: &[u8]) -> Result<Option<usize>, ReplyError> {
        debug_assert!(
            self.discarding.is_none(),
            "discard the oversized reply first"
        );
        loop {
            let Some(header) = header(buf, self.pos)? else {
                if buf.len() > self.max_reply {
                    return self.too_large(Discarding::Header);
                }
                return Ok(None);
            };
            match header {
                Header::Line { end } => {
                    self.pos = end;
                    let ended = self.finish_element();
                    if end > self.max_reply {
                        return self.too_large(next_after(ended));
                    }
                    if ended {
                        return Ok(Some(self.take()));
                    }
                }
                Header::Bulk { body, len } => {
                    let end = (body as u64).saturating_add(len).saturating_add(2);
                    if end > self.max_reply as u64 {
                        self.pos = body;
                        return self.too_large(Discarding::Body(len + 2));
                    }
                    let end = end as usize;
                    if buf.len() < end {
                        return Ok(None);
                    }
                    if &buf[end - 2..end] != b"\r\n" {
                        return Err(ReplyError::MissingCrlf);
                    }
                    self.pos = end;
                    if self.finish_element() {
                        return Ok(Some(self.take()));
                    }
                }
                Header::Aggregate {
                    after,
                    children,
                    attribute,
                } => {
                    self.pos = after;
                    let ended = self.open(children, attribute);
                    if after > self.max_reply {
                        return self.too_large(next_after(ended));
                    }
                    if ended {
                        return Ok(Some(self.take()));
                    }
                }
            }
        }
    }

    /// Whether a reply over the limit is being discarded.
    pub fn discarding(&self) -> bool {
        self.discarding.is_some()
    }

    /// Drops what `buf` holds of the reply being discarded, keeping at most a
    /// partial header line (a few bytes) for the next call; the caller drops
    /// `consumed` bytes. Errors mean the stream is broken.
    pub fn discard(&mut self, buf: &[u8]) -> Result<Discarded, ReplyError> {
        let mut at = std::mem::take(&mut self.pos);
        let Some(mut state) = self.discarding else {
            return Ok(Discarded {
                consumed: 0,
                ended: true,
            });
        };
        let partial = |state, at| (Some(state), at, false);
        let (state, consumed, ended) = loop {
            match state {
                Discarding::Ended => break (None, at, true),
                Discarding::Body(left) => {
                    let (taken, left) = drop_body(&buf[at..], left)?;
                    at += taken;
                    if left > 0 {
                        break partial(Discarding::Body(left), at);
                    }
                    state = next_after(self.finish_element());
                }
                Discarding::Line => match find_crlf(buf, at) {
                    Some(line_end) => {
                        at = line_end + 2;
                        state = next_after(self.finish_element());
                    }
                    None => {
                        // A CR at the very end may be the line's: keep it.
                        let keep = usize::from(buf.last() == Some(&b'\r'));
                        break partial(Discarding::Line, (buf.len() - keep).max(at));
                    }
                },
                Discarding::Header if at >= buf.len() => break partial(state, at),
                Discarding::Header => match header(buf, at)? {
                    None if is_line_kind(buf[at]) => {
                        at += 1;
                        state = Discarding::Line;
                    }
                    None if buf.len() - at > MAX_HEADER => return Err(ReplyError::BadLength),
                    None => break partial(state, at),
                    Some(Header::Line { end }) => {
                        at = end;
                        state = next_after(self.finish_element());
                    }
                    Some(Header::Bulk { body, len }) => {
                        at = body;
                        state = Discarding::Body(len + 2);
                    }
                    Some(Header::Aggregate {
                        after,
                        children,
                        attribute,
                    }) => {
                        at = after;
                        state = next_after(self.open(children, attribute));
                    }
                },
            }
        };
        self.discarding = state;
        Ok(Discarded { consumed, ended })
    }

    fn too_large(&mut self, state: Discarding) -> Result<Option<usize>, ReplyError> {
        self.discarding = Some(state);
        Err(ReplyError::TooLarge(self.max_reply))
    }

    /// An aggregate header with `children` elements to follow; true when it
    /// completes the whole reply (an empty aggregate at the top level).
    fn open(&mut self, children: u64, attribute: bool) -> bool {
        if attribute {
            // Metadata before the value it annotates: not an element itself.
            if children > 0 {
                self.stack.push((children, true));
            }
            return false;
        }
        if children == 0 {
            return self.finish_element();
        }
        self.stack.push((children, false));
        false
    }

    /// One element is complete; closes the aggregates it completes. True when
    /// the whole reply is complete.
    fn finish_element(&mut self) -> bool {
        while let Some((left, _)) = self.stack.last_mut() {
            *left -= 1;
            if *left > 0 {
                return false;
            }
            if let Some((_, true)) = self.stack.pop() {
                // The attribute is complete; the value it annotates comes next.
                return false;
            }
        }
        true
    }

    fn take(&mut self) -> usize {
        let len = self.pos;
        self.pos = 0;
        len
    }
}

/// What a discard goes on with after an element: the next header, or
/// nothing when the element ended the reply.
fn next_after(reply_ended: bool) -> Discarding {
    if reply_ended {
        Discarding::Ended
    } else {
        Discarding::Header
    }
}

/// Drops the bytes of a bulk body in `bytes`, `left` of them (its CRLF
/// included) still due: returns how many were taken and how many remain.
fn drop_body(bytes: &[u8], left: u64) -> Result<(usize, u64), ReplyError> {
    let take = left.min(bytes.len() as u64) as usize;
    // The body's last two bytes must be its CRLF.
    let crlf_from = left.saturating_sub(2).min(take as u64) as usize;
    for (i, &b) in bytes.iter().enumerate().take(take).skip(crlf_from) {
        let from_end = left - i as u64;
        if b != b"\r\n"[2 - from_end as usize] {
            return Err(ReplyError::MissingCrlf);
        }
    }
    Ok((take, left - take as u64))
}

/// The header of the element at `at`, or `None` while its line is incomplete.
fn header(buf: &[u8], at: usize) -> Result<Option<Header>, ReplyError> {
    let Some(&kind) = buf.get(at) else {
        return Ok(None);
    };
    if !is_line_kind(kind) && !b"$!=*%~>|".contains(&kind) {
        return Err(ReplyError::BadType(kind));
    }
    let Some(line_end) = find_crlf(buf, at + 1) else {
        return Ok(None);
    };
    let text = &buf[at + 1..line_end];
    let after = line_end + 2;
    Ok(Some(match kind {
        _ if is_line_kind(kind) => Header::Line { end: after },
        b'$' | b'!' | b'=' => match length(text)? {
            Some(len) => Header::Bulk { body: after, len },
            None => Header::Line { end: after },
        },
        _ => {
            let n = length(text)?.unwrap_or(0);
            Header::Aggregate {
                after,
                children: if matches!(kind, b'%' | b'|') {
                    n * 2
                } else {
                    n
                },
                attribute: kind == b'|',
            }
        }
    }))
}

/// Whether an element of this type is one line (status, error, number...).
fn is_line_kind(kind: u8) -> bool {
    matches!(kind, b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(')
}

/// A length in a header; `None` for -1 (a null).
fn length(text: &[u8]) -> Result<Option<u64>, ReplyError> {
    if text == b"?" {
        return Err(ReplyError::Streamed);
    }
    match super::framer::parse_i64(text) {
        Some(-1) => Ok(None),
        Some(n) if n >= 0 => Ok(Some(n as u64)),
        _ => Err(ReplyError::BadLength),
    }
}

#[inline]
fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let rest = buf.get(from..)?;
    let mut i = 0;
    while let Some(off) = rest[i..].iter().position(|&b| b == b'\r') {
        let at = i + off;
        if rest.get(at + 1) == Some(&b'\n') {
            return Some(from + at);
        }
        if at + 1 >= rest.len() {
            return None;
        }
        i = at + 1;
    }
    None
}

/// A complete array reply (`*n`) as its element count and the bytes of its
/// elements, without reading them. `None` when `reply` is not an array.
pub fn array_body(reply: &[u8]) -> Option<(usize, &[u8])> {
    if reply.first() != Some(&b'*') {
        return None;
    }
    let line_end = find_crlf(reply, 1)?;
    let n = super::framer::parse_i64(&reply[1..line_end])?;
    Some((usize::try_from(n).ok()?, &reply[line_end + 2..]))
}

/// The elements of a complete array reply (`*n`): their byte ranges, in order.
/// `None` when `reply` is not an array (an error, or a null array).
pub fn array_elements(reply: &[u8], out: &mut Vec<std::ops::Range<usize>>) -> Option<()> {
    out.clear();
    let (n, body) = array_body(reply)?;
    let mut pos = reply.len() - body.len();
    let mut skipper = ReplySkipper::new();
    for _ in 0..n {
        let len = skipper.next_reply(&reply[pos..]).ok()??;
        out.push(pos..pos + len);
        pos += len;
    }
    Some(())
}

#[cfg(test)]
mod tests;
