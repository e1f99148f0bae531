//! SCAN across shards: one cursor that walks server 0's keyspace, then
//! server 1's, and so on, in the pool's config order.
//!
//! The client's cursor folds three things into one unsigned 64-bit number:
//!
//! ```text
//!   bits 63..24  the server's own cursor (Redis's reverse-binary bucket index)
//!   bits 23..10  the pool's layout tag (1..=16383): which servers, in which order
//!   bits  9..0   the server's index in the pool's config (at most 1024 servers)
//! ```
//!
//! Cursor 0 starts the walk and ends it, as with one Redis. A server whose
//! own cursor comes back 0 is done: the walk goes on at the next server's 0.
//! A cursor made under another layout (a reload added, removed or reordered
//! servers) is refused rather than read as a position in the new one, which
//! would skip or repeat keys. Redis's own cursors stay far below 2^40: they
//! index buckets of one hash table.

/// Most servers a pool may have for SCAN (the index field's width).
pub const MAX_SERVERS: usize = 1 << SERVER_BITS;

const SERVER_BITS: u32 = 10;
const TAG_BITS: u32 = 14;
const INNER_SHIFT: u32 = SERVER_BITS + TAG_BITS;
/// Largest server cursor that fits.
const MAX_INNER: u64 = u64::MAX >> INNER_SHIFT;

/// Where a walk stands: a server and that server's own cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanCursor {
    pub server: usize,
    pub inner: u64,
}

/// Why a client's cursor cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("invalid cursor")]
    NotANumber,
    #[error("the cursor was made for another server layout of this pool (the config was reloaded); start again from 0")]
    OtherLayout,
    #[error("a server returned a cursor too large to carry through the proxy")]
    InnerTooLarge,
    #[error("pool has more than 1024 servers; SCAN through the proxy supports at most 1024")]
    TooManyServers,
}

/// The layout tag of a pool whose servers have these names, in config order:
/// any change of names or order gives (almost always) another tag. Never 0.
pub fn layout_tag<'a>(names: impl IntoIterator<Item = &'a str>) -> u16 {
    // FNV-1a over the names, each followed by a separator.
    let mut h: u32 = 0x811c_9dc5;
    for name in names {
        for &b in name.as_bytes().iter().chain(b"\n") {
            h ^= b as u32;
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    let tags = (1u32 << TAG_BITS) - 1;
    (h % tags + 1) as u16
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
        let server = (value & (MAX_SERVERS as u64 - 1)) as usize;
        let got_tag = ((value >> SERVER_BITS) & ((1 << TAG_BITS) - 1)) as u16;
        if got_tag != tag || server >= servers {
            return Err(ScanError::OtherLayout);
        }
        Ok(ScanCursor {
            server,
            inner: value >> INNER_SHIFT,
        })
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
        let tag = layout_tag(["a:1", "b:2", "c:3"]);
        let got = walk(tag, 3, &[(0, 17), (0, 0), (1, 0), (2, 5), (2, 0)]);
        let want = [(0, 0), (0, 17), (1, 0), (2, 0), (2, 5)];
        let got: Vec<_> = got.iter().map(|c| (c.server, c.inner)).collect();
        assert_eq!(got, want);
        assert_eq!(ScanCursor::after(2, 0, tag, 3), Ok(0));
    }

    #[test]
    fn the_largest_inner_cursor_round_trips() {
        let tag = layout_tag(["x"]);
        let out = ScanCursor::after(0, MAX_INNER, tag, 1).unwrap();
        let back = ScanCursor::decode(out.to_string().as_bytes(), tag, 1).unwrap();
        assert_eq!(back.inner, MAX_INNER);
        assert_eq!(
            ScanCursor::after(0, MAX_INNER + 1, tag, 1),
            Err(ScanError::InnerTooLarge)
        );
    }

    #[test]
    fn another_layout_is_refused() {
        let old = layout_tag(["a:1", "b:2", "c:3"]);
        let new = layout_tag(["a:1", "c:3", "b:2"]);
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
    }

    #[test]
    fn cursors_must_be_plain_numbers() {
        for bad in [&b""[..], b"-1", b"1x", b" 1", b"18446744073709551616"] {
            assert_eq!(
                ScanCursor::decode(bad, 1, 1),
                Err(ScanError::NotANumber),
                "{bad:?}"
            );
        }
        assert!(ScanCursor::decode(b"18446744073709551615", 1, 1).is_err());
    }

    #[test]
    fn tags_are_never_zero() {
        for n in 0..5000 {
            let name = format!("server-{n}");
            assert_ne!(layout_tag([name.as_str()]), 0);
        }
    }
}
