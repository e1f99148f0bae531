//! The skipper on every reply type, split anywhere; oversized replies
//! discarded as they stream past.

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

/// What a reader of a stream sees: each reply's bytes, or that one was over
/// the limit (and discarded).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Got {
    Reply(Vec<u8>),
    TooLarge,
}

/// Feeds `pieces` to a skipper limited to `limit`, as the backend's reader
/// does: bytes appended to a buffer, each reply (or discarded part) dropped
/// from its front. Returns what it found and the most bytes of a discarded
/// reply the buffer kept between two pieces.
fn feed<'a>(pieces: impl IntoIterator<Item = &'a [u8]>, limit: usize) -> (Vec<Got>, usize) {
    let mut s = ReplySkipper::with_limit(limit);
    let mut buf = Vec::new();
    let mut got = Vec::new();
    let mut kept = 0;
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            if s.discarding() {
                let d = s.discard(&buf).unwrap();
                buf.drain(..d.consumed);
                if d.ended {
                    continue;
                }
                kept = kept.max(buf.len());
                break;
            }
            match s.next_reply(&buf) {
                Ok(Some(n)) => got.push(Got::Reply(buf.drain(..n).collect())),
                Ok(None) => break,
                Err(ReplyError::TooLarge(l)) => {
                    assert_eq!(l, limit);
                    got.push(Got::TooLarge);
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
    assert!(
        buf.is_empty(),
        "left over: {}",
        String::from_utf8_lossy(&buf)
    );
    assert!(!s.discarding(), "still discarding at the end");
    (got, kept)
}

fn bulk(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = format!("{}{}\r\n", kind as char, body.len()).into_bytes();
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n");
    out
}

/// Replies under and over a limit of 256 bytes, of every kind, and what a
/// reader must see of each.
fn mixed_stream() -> (Vec<u8>, Vec<Got>) {
    const LIMIT: usize = 256;
    let mut nested = b"*3\r\n*2\r\n".to_vec();
    nested.extend(bulk(b'$', b"0123456789"));
    nested.extend(bulk(b'$', &[b'n'; 200]));
    nested.extend(b"*1\r\n");
    nested.extend(bulk(b'$', &[b'm'; 100]));
    nested.extend(b":5\r\n");
    let mut map = b"%2\r\n+k\r\n".to_vec();
    map.extend(bulk(b'!', &[b'e'; 150]));
    map.extend(b"+k2\r\n");
    map.extend(bulk(b'=', &[b't'; 150]));
    let mut attributed = b"|1\r\n+key\r\n:1\r\n".to_vec();
    attributed.extend(bulk(b'$', &[b'a'; 300]));
    let mut push = b">2\r\n+message\r\n".to_vec();
    push.extend(bulk(b'$', &[b'p'; 300]));
    let mut error = b"-ERR ".to_vec();
    error.extend([b'x'; 400]);
    error.extend(b"\r\n");
    let mut big_number = b"(".to_vec();
    big_number.extend([b'9'; 300]);
    big_number.extend(b"\r\n");
    let mut deep = b"*1\r\n".repeat(70);
    deep.extend(b":1\r\n");
    // Exactly at the limit: "$248\r\n" + 248 + CRLF = 256 bytes.
    let at_limit = bulk(b'$', &[b'l'; 248]);
    assert_eq!(at_limit.len(), LIMIT);
    let one_over = bulk(b'$', &[b'o'; 249]);
    let small: [&[u8]; 4] = [b"+OK\r\n", b":1\r\n", b"$-1\r\n", b"*0\r\n"];
    let big = [
        bulk(b'$', &[b'b'; 3000]),
        nested,
        map,
        attributed,
        push,
        error,
        big_number,
        deep,
        one_over,
    ];
    let mut input = Vec::new();
    let mut want = Vec::new();
    for (i, b) in big.iter().enumerate() {
        let s = small[i % small.len()];
        input.extend_from_slice(s);
        want.push(Got::Reply(s.to_vec()));
        input.extend_from_slice(b);
        want.push(Got::TooLarge);
    }
    input.extend_from_slice(&at_limit);
    want.push(Got::Reply(at_limit));
    input.extend_from_slice(b"+last\r\n");
    want.push(Got::Reply(b"+last\r\n".to_vec()));
    (input, want)
}

#[test]
fn oversized_replies_are_discarded_at_every_split_point() {
    let (input, want) = mixed_stream();
    for cut in 0..=input.len() {
        let (got, kept) = feed([&input[..cut], &input[cut..]], 256);
        assert_eq!(got, want, "cut at {cut}");
        assert!(kept <= MAX_HEADER, "cut at {cut}: kept {kept} bytes");
    }
}

#[test]
fn discarding_keeps_no_more_than_a_header_however_the_bytes_come() {
    let (input, want) = mixed_stream();
    for chunk in [1, 2, 3, 7, 64, 1000] {
        let (got, kept) = feed(input.chunks(chunk), 256);
        assert_eq!(got, want, "chunks of {chunk}");
        // Byte by byte, a header is at most a few bytes; never the reply.
        assert!(
            kept <= MAX_HEADER.min(chunk + 24),
            "chunks of {chunk}: kept {kept}"
        );
    }
}

#[test]
fn a_reply_whose_header_alone_is_over_the_limit_is_discarded() {
    // The limit is smaller than the header: the reply is over it all the same.
    let mut input = bulk(b'$', &[b'h'; 40]);
    input.extend(b":1\r\n");
    for cut in 0..=input.len() {
        let (got, _) = feed([&input[..cut], &input[cut..]], 4);
        assert_eq!(got, vec![Got::TooLarge, Got::Reply(b":1\r\n".to_vec())]);
    }
}

#[test]
fn a_broken_stream_is_an_error_while_discarding_too() {
    let discard_all = |input: &[u8]| {
        let mut s = ReplySkipper::with_limit(16);
        assert_eq!(s.next_reply(input), Err(ReplyError::TooLarge(16)));
        s.discard(input)
    };
    let mut no_crlf = bulk(b'$', &[b'x'; 40]);
    let n = no_crlf.len();
    no_crlf[n - 2] = b'X';
    assert_eq!(discard_all(&no_crlf), Err(ReplyError::MissingCrlf));
    // Split inside the CRLF: the second byte is checked on its own.
    let mut s = ReplySkipper::with_limit(16);
    let mut cr_only = bulk(b'$', &[b'x'; 40]);
    *cr_only.last_mut().unwrap() = b'?';
    assert!(s.next_reply(&cr_only[..n - 1]).is_err());
    let d = s.discard(&cr_only[..n - 1]).unwrap();
    assert_eq!((d.consumed, d.ended), (n - 1, false));
    assert_eq!(s.discard(&cr_only[n - 1..]), Err(ReplyError::MissingCrlf));

    let mut bad_type = b"*2\r\n".to_vec();
    bad_type.extend(bulk(b'$', &[b'x'; 40]));
    bad_type.extend(b"?what\r\n");
    assert_eq!(discard_all(&bad_type), Err(ReplyError::BadType(b'?')));
    let mut endless_header = b"*2\r\n".to_vec();
    endless_header.extend(bulk(b'$', &[b'x'; 40]));
    endless_header.push(b'$');
    endless_header.extend([b'1'; 100]);
    assert_eq!(discard_all(&endless_header), Err(ReplyError::BadLength));
}
