//! Replies the proxy writes itself (RESP2).

use bytes::{BufMut, BytesMut};

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
    let mut i = buf.len();
    let neg = n < 0;
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if neg {
        out.put_u8(b'-');
    }
    out.put_slice(&buf[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        let mut out = BytesMut::new();
        simple(&mut out, "OK");
        error(&mut out, "ERR a\r\nb");
        integer(&mut out, -42);
        integer(&mut out, 0);
        bulk(&mut out, b"hi");
        command(&mut out, [&b"GET"[..], b"k"].into_iter());
        assert_eq!(
            &out[..],
            b"+OK\r\n-ERR a  b\r\n:-42\r\n:0\r\n$2\r\nhi\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
        );
    }
}
