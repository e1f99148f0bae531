//! A reply from one server that the client gets changed: SCAN's cursor, from
//! the server's own to the proxy's (see [`crate::route::scan`]). Applied in
//! the client's reply slot as the reply lands: straight into the output when
//! the slot is first in line, so it costs no more than a reply passed through.

use bytes::BytesMut;

use super::error::ClientError;
use crate::protocol::{encode, reply::array_body};
use crate::route::scan::parse_u64;
use crate::route::ScanRoute;

/// How a reply is changed on its way to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rewrite {
    /// SCAN: the cursor in `[cursor, [keys...]]` becomes the client's.
    ScanCursor(ScanRoute),
}

impl Rewrite {
    /// Writes the client's reply for `reply` to `out`.
    pub fn apply(&self, reply: &[u8], out: &mut BytesMut) {
        match self {
            Rewrite::ScanCursor(route) => scan_reply(route, reply, out),
        }
    }
}

/// An error (a bad MATCH, COUNT or TYPE; a failed server) passes unchanged:
/// only a well-formed SCAN reply has a cursor to change.
fn scan_reply(route: &ScanRoute, reply: &[u8], out: &mut BytesMut) {
    let Some((next, keys)) = split_scan_reply(reply) else {
        out.extend_from_slice(reply);
        return;
    };
    match route.client_cursor(next) {
        Ok(cursor) => {
            encode::array_header(out, 2);
            // Below 2^63 by construction.
            encode::bulk_decimal(out, cursor as i64);
            out.extend_from_slice(keys);
        }
        Err(e) => ClientError::Scan(e).write(out),
    }
}

/// `*2 $cursor *keys` (the same in RESP2 and RESP3): the server's cursor and
/// the key array's bytes.
fn split_scan_reply(reply: &[u8]) -> Option<(u64, &[u8])> {
    let (2, body) = array_body(reply)? else {
        return None;
    };
    let body = body.strip_prefix(b"$")?;
    let line = body.iter().position(|&b| b == b'\r')?;
    let len = usize::try_from(parse_u64(&body[..line])?).ok()?;
    let text = body.get(line + 2..)?;
    let cursor = text.get(..len)?;
    let keys = text.get(len..)?.strip_prefix(b"\r\n")?;
    Some((parse_u64(cursor)?, keys))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::scan::layout_tag;

    fn rewrite(cursor: &[u8], servers: usize, reply: &[u8]) -> Vec<u8> {
        let route = ScanRoute::new(cursor, 42, servers).unwrap();
        let mut out = BytesMut::new();
        Rewrite::ScanCursor(route).apply(reply, &mut out);
        out.to_vec()
    }

    /// The client's cursor for (server, the server's cursor), as text.
    fn client(server: usize, inner: u64, servers: usize) -> String {
        let tag = layout_tag(42);
        crate::route::scan::ScanCursor::after(server, inner, tag, servers)
            .unwrap()
            .to_string()
    }

    #[test]
    fn the_cursor_changes_and_the_keys_pass_unchanged() {
        let keys = b"*2\r\n$1\r\na\r\n$3\r\nbcd\r\n";
        let mut reply = b"*2\r\n$4\r\n1536\r\n".to_vec();
        reply.extend_from_slice(keys);
        let c = client(0, 1536, 3);
        let mut want = format!("*2\r\n${}\r\n{c}\r\n", c.len()).into_bytes();
        want.extend_from_slice(keys);
        assert_eq!(rewrite(b"0", 3, &reply), want);
        // The server is done: the next server's start.
        let c = client(0, 0, 3);
        assert_eq!(
            rewrite(b"0", 3, b"*2\r\n$1\r\n0\r\n*0\r\n"),
            format!("*2\r\n${}\r\n{c}\r\n*0\r\n", c.len()).into_bytes()
        );
        // The last server is done: the walk is.
        let from_last = client(1, 0, 3);
        assert_eq!(
            rewrite(
                from_last.as_bytes(),
                3,
                b"*2\r\n$1\r\n0\r\n*1\r\n$1\r\nz\r\n"
            ),
            b"*2\r\n$1\r\n0\r\n*1\r\n$1\r\nz\r\n"
        );
    }

    #[test]
    fn errors_and_odd_replies_pass_unchanged() {
        for reply in [
            &b"-ERR syntax error\r\n"[..],
            b"-ERR redshard: server 127.0.0.1:1 timed out after 5 ms\r\n",
            b"*1\r\n$1\r\n0\r\n",
            b"*2\r\n:0\r\n*0\r\n",
            b"*2\r\n$2\r\n0x\r\n*0\r\n",
            b"$-1\r\n",
        ] {
            assert_eq!(rewrite(b"0", 2, reply), reply);
        }
    }

    #[test]
    fn a_cursor_too_large_to_carry_is_an_error() {
        let reply = b"*2\r\n$13\r\n1099511627776\r\n*0\r\n";
        let out = rewrite(b"0", 2, reply);
        assert!(
            out.starts_with(b"-ERR redshard: a server returned a SCAN cursor larger"),
            "{}",
            String::from_utf8_lossy(&out)
        );
    }
}
