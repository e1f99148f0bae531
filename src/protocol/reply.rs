//! The reply skipper: finds where each complete reply ends in a backend's read
//! buffer, for every RESP2 and RESP3 type, nested aggregates included, without
//! building the reply. Resumable like the request framer.

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
    #[error("reply larger than {0} bytes")]
    TooLarge(usize),
}

/// The skipper keeps one small entry per open aggregate level on the heap,
/// not on the call stack, so nesting is bounded only by the reply size: a
/// Lua table 100 (or 10,000) levels deep that a client's own EVAL returns
/// comes back instead of breaking a connection other clients share.
#[derive(Debug)]
pub struct ReplySkipper {
    /// Parse position inside the current reply.
    pos: usize,
    /// Largest reply accepted (`max_reply_bytes`): a larger one is an error
    /// as soon as its size is known, before it is buffered.
    max_reply: usize,
    /// Elements still expected at each open aggregate level, and whether the
    /// level is an attribute (which annotates the next value but is not an
    /// element itself).
    stack: Vec<(u64, bool)>,
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

    /// A skipper that refuses replies larger than `max_reply` bytes.
    pub fn with_limit(max_reply: usize) -> Self {
        ReplySkipper {
            pos: 0,
            max_reply,
            stack: Vec::new(),
        }
    }

    /// Length of the complete reply at the start of `buf`, or `None` when more
    /// bytes are needed (call again with the same bytes plus more). After
    /// `Some(len)` the caller consumes `len` bytes before the next call.
    pub fn next_reply(&mut self, buf: &[u8]) -> Result<Option<usize>, ReplyError> {
        loop {
            let Some(&kind) = buf.get(self.pos) else {
                return Ok(None);
            };
            let Some(line_end) = find_crlf(buf, self.pos + 1) else {
                if buf.len() > self.max_reply {
                    return Err(ReplyError::TooLarge(self.max_reply));
                }
                return Ok(None);
            };
            let header = &buf[self.pos + 1..line_end];
            let after = line_end + 2;
            match kind {
                b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => {
                    self.pos = after;
                    if after > self.max_reply {
                        return Err(ReplyError::TooLarge(self.max_reply));
                    }
                    if self.finish_element() {
                        return Ok(Some(self.take()));
                    }
                }
                b'$' | b'!' | b'=' => {
                    if header == b"?" {
                        return Err(ReplyError::Streamed);
                    }
                    let len = super::framer::parse_i64(header).ok_or(ReplyError::BadLength)?;
                    if len < -1 {
                        return Err(ReplyError::BadLength);
                    }
                    let end = if len == -1 {
                        after
                    } else {
                        after.saturating_add(len as usize).saturating_add(2)
                    };
                    if end > self.max_reply {
                        return Err(ReplyError::TooLarge(self.max_reply));
                    }
                    if len >= 0 {
                        if buf.len() < end {
                            return Ok(None);
                        }
                        if &buf[end - 2..end] != b"\r\n" {
                            return Err(ReplyError::MissingCrlf);
                        }
                    }
                    self.pos = end;
                    if self.finish_element() {
                        return Ok(Some(self.take()));
                    }
                }
                b'*' | b'%' | b'~' | b'>' | b'|' => {
                    if header == b"?" {
                        return Err(ReplyError::Streamed);
                    }
                    let n = super::framer::parse_i64(header).ok_or(ReplyError::BadLength)?;
                    if n < -1 {
                        return Err(ReplyError::BadLength);
                    }
                    self.pos = after;
                    if after > self.max_reply {
                        return Err(ReplyError::TooLarge(self.max_reply));
                    }
                    let children = match kind {
                        b'%' | b'|' => (n.max(0) as u64) * 2,
                        _ => n.max(0) as u64,
                    };
                    if kind == b'|' {
                        // An attribute is metadata before the value it annotates:
                        // it is not an element itself.
                        if children > 0 {
                            self.push(children, true)?;
                        }
                        continue;
                    }
                    if children == 0 {
                        if self.finish_element() {
                            return Ok(Some(self.take()));
                        }
                    } else {
                        self.push(children, false)?;
                    }
                }
                other => return Err(ReplyError::BadType(other)),
            }
        }
    }

    fn push(&mut self, children: u64, attribute: bool) -> Result<(), ReplyError> {
        self.stack.push((children, attribute));
        Ok(())
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
mod tests {
    use super::*;

    fn lengths(input: &[u8]) -> Vec<usize> {
        let mut s = ReplySkipper::new();
        let mut buf = input;
        let mut out = Vec::new();
        while let Some(n) = s.next_reply(buf).unwrap() {
            out.push(n);
            buf = &buf[n..];
        }
        assert!(
            buf.is_empty(),
            "left over: {:?}",
            String::from_utf8_lossy(buf)
        );
        out
    }

    #[test]
    fn every_type() {
        let replies: [&[u8]; 16] = [
            b"+OK\r\n",
            b"-ERR no\r\n",
            b":42\r\n",
            b"$5\r\nhe\r\no\r\n",
            b"$-1\r\n",
            b"*-1\r\n",
            b"*0\r\n",
            b"*2\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n",
            b"_\r\n",
            b",3.14\r\n",
            b"#t\r\n",
            b"(123456789012345678901234567890\r\n",
            b"!5\r\nERR x\r\n",
            b"=8\r\ntxt:abcd\r\n",
            b"%2\r\n+a\r\n:1\r\n+b\r\n~1\r\n>0\r\n",
            b"|1\r\n+ttl\r\n:3\r\n*1\r\n+x\r\n",
        ];
        let all: Vec<u8> = replies.concat();
        let want: Vec<usize> = replies.iter().map(|r| r.len()).collect();
        assert_eq!(lengths(&all), want);
        for cut in 0..all.len() {
            let mut s = ReplySkipper::new();
            let first = s.next_reply(&all[..cut]).unwrap();
            if cut < replies[0].len() {
                assert_eq!(first, None);
            }
        }
    }

    #[test]
    fn resumes_inside_nested_arrays() {
        let reply = b"*3\r\n*2\r\n$3\r\nabc\r\n:1\r\n$0\r\n\r\n%1\r\n+k\r\n*1\r\n_\r\n";
        for cut in 0..reply.len() {
            let mut s = ReplySkipper::new();
            assert_eq!(s.next_reply(&reply[..cut]).unwrap(), None, "cut {cut}");
            assert_eq!(s.next_reply(reply).unwrap(), Some(reply.len()));
        }
    }

    #[test]
    fn elements_of_an_array() {
        let reply = b"*3\r\n$1\r\na\r\n$-1\r\n:5\r\n";
        let mut out = Vec::new();
        array_elements(reply, &mut out).unwrap();
        let parts: Vec<&[u8]> = out.iter().map(|r| &reply[r.clone()]).collect();
        assert_eq!(parts, vec![&b"$1\r\na\r\n"[..], b"$-1\r\n", b":5\r\n"]);
        assert!(array_elements(b"-ERR x\r\n", &mut out).is_none());
    }

    #[test]
    fn deep_nesting_is_only_bounded_by_size() {
        let depth = 10_000;
        let mut reply = b"*1\r\n".repeat(depth);
        reply.extend_from_slice(b":1\r\n");
        assert_eq!(lengths(&reply), vec![reply.len()]);
    }

    #[test]
    fn a_reply_over_the_limit_is_refused_at_its_header() {
        let mut s = ReplySkipper::with_limit(1024);
        assert_eq!(s.next_reply(b"$2000\r\n"), Err(ReplyError::TooLarge(1024)));
        let mut s = ReplySkipper::with_limit(1024);
        let mut big = b"*300\r\n".to_vec();
        big.extend(b":1\r\n".repeat(300));
        assert_eq!(s.next_reply(&big), Err(ReplyError::TooLarge(1024)));
        let mut s = ReplySkipper::with_limit(1024);
        assert_eq!(s.next_reply(b"$10\r\n0123456789\r\n"), Ok(Some(17)));
    }

    #[test]
    fn errors() {
        let mut s = ReplySkipper::new();
        assert_eq!(s.next_reply(b"?x\r\n"), Err(ReplyError::BadType(b'?')));
        let mut s = ReplySkipper::new();
        assert_eq!(
            s.next_reply(b"$3\r\nabcd\r\n"),
            Err(ReplyError::MissingCrlf)
        );
    }
}
