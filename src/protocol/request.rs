//! A complete request as the framer found it: its bytes and where each
//! argument lies — in them for a RESP array, in the framer's unescaped
//! words for an inline command.
//!
//! Only the framer makes one, and it borrows the framer's argument positions:
//! while a `Request` lives, the framer cannot move on, so its arguments cannot
//! change or vanish between framing and routing.

use std::ops::Range;

use bytes::BytesMut;

use super::encode;

/// A framed request (argument 0 is the command name). Every argument range
/// lies inside `data`, and there is at least one argument.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The front of the client's buffer up to the request's end: blank
    /// lines skipped before it, then the request.
    wire: &'a [u8],
    /// Where the request itself begins in `wire`.
    start: usize,
    /// What the argument ranges index: `wire` for a RESP array, the
    /// unescaped words for an inline command.
    data: &'a [u8],
    args: &'a [Range<usize>],
    inline: bool,
}

impl<'a> Request<'a> {
    /// Made by the framer only, from ranges it checked against `data`.
    pub(super) fn new(
        wire: &'a [u8],
        start: usize,
        data: &'a [u8],
        args: &'a [Range<usize>],
        inline: bool,
    ) -> Self {
        debug_assert!(!args.is_empty() && args.iter().all(|r| r.end <= data.len()));
        debug_assert!(start < wire.len());
        Request {
            wire,
            start,
            data,
            args,
            inline,
        }
    }

    /// Argument `i`; `i` must be below [`argc`](Self::argc).
    #[inline]
    pub fn arg(&self, i: usize) -> &'a [u8] {
        &self.data[self.args[i].clone()]
    }

    #[inline]
    pub fn argc(&self) -> usize {
        self.args.len()
    }

    /// Every argument, in order.
    pub fn args(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        let data = self.data;
        self.args.iter().map(move |r| &data[r.clone()])
    }

    /// The request's bytes as the client sent them (blank lines before it
    /// excluded).
    #[inline]
    pub fn bytes(&self) -> &'a [u8] {
        &self.wire[self.start..]
    }

    /// How many bytes it takes at the start of the buffer it was framed in
    /// (blank lines before it included).
    #[inline]
    pub fn wire_len(&self) -> usize {
        self.wire.len()
    }

    /// Sent as a line of text, not a RESP array: forwarded re-encoded.
    #[inline]
    pub fn is_inline(&self) -> bool {
        self.inline
    }

    /// The request as RESP: its own bytes, or re-encoded when it came inline.
    pub fn encode_whole(&self, out: &mut BytesMut) {
        if self.inline {
            encode::command(out, self.args());
        } else {
            out.extend_from_slice(self.bytes());
        }
    }
}
