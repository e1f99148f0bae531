//! Replies the proxy writes itself, in the client's protocol where RESP2 and
//! RESP3 differ (nulls, maps).

use bytes::{BufMut, BytesMut};

/// The protocol a client chose with HELLO (RESP2 until it says otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Proto {
    #[default]
    Resp2,
    Resp3,
}

impl Proto {
    pub fn version(self) -> i64 {
        match self {
            Proto::Resp2 => 2,
            Proto::Resp3 => 3,
        }
    }
}

/// A null: `$-1` in RESP2, `_` in RESP3.
#[inline]
pub fn null(out: &mut BytesMut, proto: Proto) {
    out.put_slice(match proto {
        Proto::Resp2 => b"$-1\r\n",
        Proto::Resp3 => b"_\r\n",
    });
}

/// A map of `pairs` entries: `%n` in RESP3, a flat array of 2n in RESP2.
#[inline]
pub fn map_header(out: &mut BytesMut, pairs: usize, proto: Proto) {
    match proto {
        Proto::Resp2 => array_header(out, pairs * 2),
        Proto::Resp3 => {
            out.put_u8(b'%');
            put_decimal(out, pairs as i64);
            out.put_slice(b"\r\n");
        }
    }
}

/// A long text (INFO): verbatim `txt` in RESP3, a bulk string in RESP2.
pub fn text(out: &mut BytesMut, text: &str, proto: Proto) {
    match proto {
        Proto::Resp2 => bulk(out, text.as_bytes()),
        Proto::Resp3 => {
            out.put_u8(b'=');
            put_decimal(out, text.len() as i64 + 4);
            out.put_slice(b"\r\ntxt:");
            out.put_slice(text.as_bytes());
            out.put_slice(b"\r\n");
        }
    }
}

#[inline]
pub fn simple(out: &mut BytesMut, text: &str) {
    out.reserve(text.len() + 3);
    out.put_u8(b'+');
    out.put_slice(text.as_bytes());
    out.put_slice(b"\r\n");
}

/// An error reply; `text` starts with its code (ERR, WRONGTYPE, ...). Line
/// breaks in it would end the reply early, so they become spaces.
pub fn error(out: &mut BytesMut, text: &str) {
    out.reserve(text.len() + 3);
    out.put_u8(b'-');
    for &b in text.as_bytes() {
        out.put_u8(if b == b'\r' || b == b'\n' { b' ' } else { b });
    }
    out.put_slice(b"\r\n");
}

#[inline]
pub fn integer(out: &mut BytesMut, n: i64) {
    out.put_u8(b':');
    put_decimal(out, n);
    out.put_slice(b"\r\n");
}

#[inline]
pub fn bulk(out: &mut BytesMut, data: &[u8]) {
    out.reserve(data.len() + 16);
    out.put_u8(b'$');
    put_decimal(out, data.len() as i64);
    out.put_slice(b"\r\n");
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

#[inline]
pub fn array_header(out: &mut BytesMut, n: usize) {
    out.put_u8(b'*');
    put_decimal(out, n as i64);
    out.put_slice(b"\r\n");
}

/// A request as a RESP array of bulk strings.
pub fn command<'a>(out: &mut BytesMut, args: impl ExactSizeIterator<Item = &'a [u8]>) {
    array_header(out, args.len());
    for a in args {
        bulk(out, a);
    }
}

#[inline]
pub fn put_decimal(out: &mut BytesMut, n: i64) {
    let mut buf = [0u8; 20];
    out.put_slice(decimal(n, &mut buf));
}

/// A number as a bulk string, the way commands take numeric arguments.
pub fn bulk_decimal(out: &mut BytesMut, n: i64) {
    let mut buf = [0u8; 20];
    bulk(out, decimal(n, &mut buf));
}

/// The decimal digits of `n` (with its sign), written at the end of `buf`.
fn decimal(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        let mut out = BytesMut::new();
        bulk_decimal(&mut out, 3);
        put_decimal(&mut out, i64::MIN);
        bulk_decimal(&mut out, -10);
        assert_eq!(&out[..], b"$1\r\n3\r\n-9223372036854775808$3\r\n-10\r\n");
    }

    #[test]
    fn encodings() {
        let mut out = BytesMut::new();
        simple(&mut out, "OK");
        error(&mut out, "ERR a\r\nb");
        integer(&mut out, -42);
        integer(&mut out, 0);
        bulk(&mut out, b"hi");
        null(&mut out, Proto::Resp2);
        null(&mut out, Proto::Resp3);
        map_header(&mut out, 2, Proto::Resp2);
        map_header(&mut out, 2, Proto::Resp3);
        text(&mut out, "a", Proto::Resp3);
        command(&mut out, [&b"GET"[..], b"k"].into_iter());
        assert_eq!(
            &out[..],
            b"+OK\r\n-ERR a  b\r\n:-42\r\n:0\r\n$2\r\nhi\r\n$-1\r\n_\r\n*4\r\n%2\r\n=5\r\ntxt:a\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
        );
    }
}
