//! SCAN across shards: one cursor that walks server 0's keyspace, then
//! server 1's, and so on, in the pool's config order.
//!
//! The client's cursor folds three things into one unsigned number below
//! 2^63 (so clients that read cursors as signed 64-bit integers work):
//!
//! ```text
//!   bits 62..24  the server's own cursor (Redis's reverse-binary bucket index)
//!   bits 23..10  the pool's layout tag (1..=16383): which servers, in which
//!                order, at which addresses, in which db
//!   bits  9..0   the server's index in the pool's config (at most 1024 servers)
//! ```
//!
//! Cursor 0 starts the walk and ends it, as with one Redis. A server whose
//! own cursor comes back 0 is done: the walk goes on at the next server's 0.
//! A cursor made under another layout (a reload added, removed, moved or
//! reordered servers) is refused rather than read as a position in the new
//! one, which would skip or repeat keys; a changed layout gets the same tag
//! by chance once in 16383 reloads. Redis's own cursors stay far below 2^39:
//! they index the buckets of one hash table (2^27 buckets for 100 million
//! keys), so the whole cursor stays below 2^53 (exact in a JavaScript number)
//! for servers of up to about 500 million keys.

use bytes::BytesMut;

use crate::protocol::{encode, Request};

/// Most servers a pool may have for SCAN (the index field's width).
pub const MAX_SERVERS: usize = 1 << SERVER_BITS;

const SERVER_BITS: u32 = 10;
const TAG_BITS: u32 = 14;
const INNER_SHIFT: u32 = SERVER_BITS + TAG_BITS;
/// Largest server cursor that fits: 39 bits, so the top bit stays clear.
pub const MAX_INNER: u64 = (1 << (63 - INNER_SHIFT)) - 1;

/// Where a walk stands: a server and that server's own cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanCursor {
    pub server: usize,
    pub inner: u64,
}

/// Why a cursor cannot be used. The texts are what a client reads after
/// `ERR ` (the first is Redis's own).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("invalid cursor")]
    NotANumber,
    #[error("redshard: this SCAN cursor was made for another list of servers (the pool's config was reloaded since); start the scan again from cursor 0")]
    OtherLayout,
    #[error(
        "redshard: a server returned a SCAN cursor larger than redshard's cursor can carry (2^39)"
    )]
    InnerTooLarge,
    #[error("redshard: SCAN walks at most 1024 servers and this pool has more; run SCAN on each server directly")]
    TooManyServers,
}

/// The layout tag carried in cursors, from the pool's layout fingerprint
/// ([`crate::pool::Placement::layout`]). Never 0.
pub fn layout_tag(fingerprint: u32) -> u16 {
    let tags = (1u32 << TAG_BITS) - 1;
    (fingerprint % tags + 1) as u16
}

impl ScanCursor {
    /// Reads a client's cursor for a pool of `servers` servers with layout
    /// `tag`.
    pub fn decode(text: &[u8], tag: u16, servers: usize) -> Result<ScanCursor, ScanError> {
        if servers > MAX_SERVERS {
            return Err(ScanError::TooManyServers);
        }
        let value = parse_u64(text).ok_or(ScanError::NotANumber)?;
        if value == 0 {
            return Ok(ScanCursor {
                server: 0,
                inner: 0,
            });
        }
        // The top bit is never set in a cursor the proxy made: a number
        // no walk of any layout can have, as Redis calls one it cannot read.
        if value >> 63 != 0 {
            return Err(ScanError::NotANumber);
        }
        let server = (value & (MAX_SERVERS as u64 - 1)) as usize;
        let got_tag = ((value >> SERVER_BITS) & ((1 << TAG_BITS) - 1)) as u16;
        let inner = value >> INNER_SHIFT;
        if got_tag != tag || server >= servers || inner > MAX_INNER {
            return Err(ScanError::OtherLayout);
        }
        Ok(ScanCursor { server, inner })
    }

    /// The cursor the client gets after `server` answered with its own
    /// cursor `next`: 0 when the last server is done.
    pub fn after(server: usize, next: u64, tag: u16, servers: usize) -> Result<u64, ScanError> {
        if next > MAX_INNER {
            return Err(ScanError::InnerTooLarge);
        }
        if next == 0 && server + 1 >= servers {
            return Ok(0);
        }
        let (server, inner) = if next == 0 {
            (server + 1, 0)
        } else {
            (server, next)
        };
        Ok(inner << INNER_SHIFT | (tag as u64) << SERVER_BITS | server as u64)
    }
}

/// A SCAN routed: the server its cursor names and what that server is
/// asked; also all the reply's rewrite needs, so it is kept with the
/// client's reply slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanRoute {
    /// Config index of the server asked.
    pub server: usize,
    /// That server's own cursor.
    inner: u64,
    tag: u16,
    servers: usize,
    /// Where the walk goes on once this server is done (`None`: it ends).
    then: Option<usize>,
}

impl ScanRoute {
    /// Routes a client's cursor (the text of SCAN's first argument).
    pub fn new(cursor: &[u8], fingerprint: u32, servers: usize) -> Result<ScanRoute, ScanError> {
        let tag = layout_tag(fingerprint);
        let at = ScanCursor::decode(cursor, tag, servers)?;
        Ok(ScanRoute {
            server: at.server,
            inner: at.inner,
            tag,
            servers,
            then: (at.server + 1 < servers).then_some(at.server + 1),
        })
    }

    /// The walk over the servers for which `serves` holds only (a cluster
    /// pool's masters: a replica or a demoted master given as a seed holds
    /// copies): a cursor naming another server goes on at the next that
    /// serves, from its start. `None` when none is left.
    pub fn serving_only(mut self, serves: impl Fn(usize) -> bool) -> Option<ScanRoute> {
        if !serves(self.server) {
            self.server = (self.server + 1..self.servers).find(|&i| serves(i))?;
            self.inner = 0;
        }
        self.then = (self.server + 1..self.servers).find(|&i| serves(i));
        Some(self)
    }

    /// The request for the server: the client's, with the server's own
    /// cursor in place of the client's (MATCH, COUNT and TYPE as sent).
    pub fn encode(&self, req: &Request<'_>, out: &mut BytesMut) {
        encode::array_header(out, req.argc());
        encode::bulk(out, req.arg(0));
        // Below 2^39 by construction.
        encode::bulk_decimal(out, self.inner as i64);
        for arg in req.args().skip(2) {
            encode::bulk(out, arg);
        }
    }

    /// The client's cursor after the server answered with `next`.
    pub fn client_cursor(&self, next: u64) -> Result<u64, ScanError> {
        match (next, self.then) {
            (0, None) => Ok(0),
            // Its index and cursor 0 encode "the start of server `then`".
            (0, Some(then)) => ScanCursor::after(then - 1, 0, self.tag, self.servers),
            _ => ScanCursor::after(self.server, next, self.tag, self.servers),
        }
    }
}

/// A decimal u64 as Redis writes cursors (no sign, no spaces).
pub fn parse_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for &d in text {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add((d - b'0') as u64)?;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(tag: u16, servers: usize, pages: &[(usize, u64)]) -> Vec<ScanCursor> {
        // Each page: the server asked and the cursor it returned.
        let mut seen = vec![ScanCursor::decode(b"0", tag, servers).unwrap()];
        for &(server, next) in pages {
            let out = ScanCursor::after(server, next, tag, servers).unwrap();
            if out == 0 {
                break;
            }
            seen.push(ScanCursor::decode(out.to_string().as_bytes(), tag, servers).unwrap());
        }
        seen
    }

    #[test]
    fn zero_starts_at_the_first_server_and_the_last_ends_at_zero() {
        let tag = layout_tag(0x1234_5678);
        let got = walk(tag, 3, &[(0, 17), (0, 0), (1, 0), (2, 5), (2, 0)]);
        let want = [(0, 0), (0, 17), (1, 0), (2, 0), (2, 5)];
        let got: Vec<_> = got.iter().map(|c| (c.server, c.inner)).collect();
        assert_eq!(got, want);
        assert_eq!(ScanCursor::after(2, 0, tag, 3), Ok(0));
    }

    #[test]
    fn the_largest_inner_cursor_round_trips_below_2_63() {
        let tag = (1 << TAG_BITS) - 1;
        let out = ScanCursor::after(MAX_SERVERS - 2, MAX_INNER, tag, MAX_SERVERS).unwrap();
        assert!(out <= i64::MAX as u64, "{out}");
        let back = ScanCursor::decode(out.to_string().as_bytes(), tag, MAX_SERVERS).unwrap();
        assert_eq!((back.server, back.inner), (MAX_SERVERS - 2, MAX_INNER));
        assert_eq!(
            ScanCursor::after(0, MAX_INNER + 1, tag, 1),
            Err(ScanError::InnerTooLarge)
        );
        // A cursor with the top bit set was made by no layout: Redis's
        // text for a cursor it cannot read, not the reload's.
        let top = (1u64 << 63) | (tag as u64) << SERVER_BITS;
        assert_eq!(
            ScanCursor::decode(top.to_string().as_bytes(), tag, 1),
            Err(ScanError::NotANumber)
        );
    }

    #[test]
    fn another_layout_is_refused() {
        let (old, new) = (layout_tag(7), layout_tag(8));
        assert_ne!(old, new);
        let c = ScanCursor::after(1, 99, old, 3).unwrap();
        let text = c.to_string();
        assert_eq!(
            ScanCursor::decode(text.as_bytes(), new, 3),
            Err(ScanError::OtherLayout)
        );
        // A server index past the pool's end is another layout too.
        let c = ScanCursor::after(4, 1, old, 9).unwrap();
        assert_eq!(
            ScanCursor::decode(c.to_string().as_bytes(), old, 3),
            Err(ScanError::OtherLayout)
        );
        // Redis's own small cursors, sent to the proxy, have tag 0.
        assert_eq!(
            ScanCursor::decode(b"17", old, 3),
            Err(ScanError::OtherLayout)
        );
    }

    #[test]
    fn cursors_must_be_plain_numbers() {
        for bad in [
            &b""[..],
            b"-1",
            b"+1",
            b"1x",
            b" 1",
            b"18446744073709551616",
        ] {
            assert_eq!(
                ScanCursor::decode(bad, 1, 1),
                Err(ScanError::NotANumber),
                "{bad:?}"
            );
        }
        for top_bit in [&b"18446744073709551615"[..], b"9223372036854775808"] {
            assert_eq!(
                ScanCursor::decode(top_bit, 1, 1),
                Err(ScanError::NotANumber)
            );
        }
        assert_eq!(
            ScanCursor::decode(b"00", 1, 1),
            Ok(ScanCursor {
                server: 0,
                inner: 0
            })
        );
        assert_eq!(
            ScanCursor::decode(b"0", 1, MAX_SERVERS + 1),
            Err(ScanError::TooManyServers)
        );
    }

    #[test]
    fn tags_are_never_zero_and_fit_their_field() {
        for f in (0..5000u32).chain([u32::MAX, u32::MAX - 1, 16382, 16383]) {
            let t = layout_tag(f);
            assert!(t != 0 && u32::from(t) < 1 << TAG_BITS, "{f} -> {t}");
        }
    }
}
