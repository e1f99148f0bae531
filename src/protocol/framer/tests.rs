use super::*;

fn frame_all(input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
    let mut f = RequestFramer::new(FrameLimits::default());
    let mut buf = input;
    let mut out = Vec::new();
    while let Some(req) = f.next_frame(buf)? {
        out.push(req.args().map(<[u8]>::to_vec).collect());
        buf = &buf[req.wire_len()..];
    }
    Ok(out)
}

#[test]
fn arrays_and_inline() {
    let got = frame_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\nset  a b\n").unwrap();
    assert_eq!(got[0], vec![b"GET".to_vec(), b"k".to_vec()]);
    assert_eq!(got[1], vec![b"PING".to_vec()]);
    assert_eq!(got[2], vec![b"set".to_vec(), b"a".to_vec(), b"b".to_vec()]);
}

#[test]
fn errors() {
    let cases: [(&[u8], ProtocolError); 12] = [
        (b"*x\r\n", ProtocolError::BadArrayLength),
        (b"*1\r\n$4\r\nPIN\r\n", ProtocolError::MissingCrlf),
        (b"*-1\r\n", ProtocolError::EmptyArray),
        (b"*0\r\n", ProtocolError::EmptyArray),
        (b"*1\r\n:1\r\n", ProtocolError::ExpectedBulk(b':')),
        (b"*1\r\n$-2\r\n", ProtocolError::BadBulkLength),
        (b"SET k \"v\r\n", ProtocolError::UnbalancedQuotes),
        (b"PING\r\nSET k 'v'x\r\n", ProtocolError::UnbalancedQuotes),
        (b"\x00\xff garbage", ProtocolError::InlineNul),
        (b"\r\nPI\x00NG\r\n", ProtocolError::InlineNul),
        (b"\x16\x03\x01\x02\x00\x01", ProtocolError::TlsHandshake),
        (b"\r\n\x16\x03\x01\x02\x00\x01", ProtocolError::TlsHandshake),
    ];
    for (input, want) in cases {
        assert_eq!(
            frame_all(input).unwrap_err(),
            want,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn resumes_after_every_split() {
    let input = b"*3\r\n$3\r\nSET\r\n$5\r\nhello\r\n$10\r\n0123456789\r\n";
    for cut in 0..input.len() {
        let mut f = RequestFramer::new(FrameLimits::default());
        assert!(f.next_frame(&input[..cut]).unwrap().is_none(), "cut {cut}");
        let req = f.next_frame(input).unwrap().unwrap();
        assert_eq!(req.wire_len(), input.len());
        assert_eq!(req.arg(2), b"0123456789");
    }
}

#[test]
fn limits_apply_at_the_header() {
    let limits = FrameLimits {
        max_request: 100,
        max_key: 8,
        max_args: 4,
    };
    let cases: [(&[u8], ProtocolError); 5] = [
        // Inline, as it is unescaped.
        (b"GET \"1234\x356789\"\r\n", ProtocolError::KeyTooLarge(8)),
        (b"MGET a b c d\r\n", ProtocolError::TooManyArgs(5, 4)),
        (b"*2\r\n$3\r\nGET\r\n$9\r\n", ProtocolError::KeyTooLarge(8)),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$600000000\r\n",
            ProtocolError::RequestTooLarge(100),
        ),
        (b"*5\r\n", ProtocolError::TooManyArgs(5, 4)),
    ];
    for (input, want) in cases {
        let mut f = RequestFramer::new(limits);
        assert_eq!(f.next_frame(input).unwrap_err(), want);
    }
}

/// An MGET of `n - 1` keys: `n` arguments.
fn mget(n: usize) -> Vec<u8> {
    let mut out = format!("*{n}\r\n$4\r\nMGET\r\n").into_bytes();
    for i in 1..n {
        let k = format!("k{i}");
        out.extend(format!("${}\r\n{k}\r\n", k.len()).bytes());
    }
    out
}

#[test]
fn a_burst_of_arguments_reaches_the_caller_whole() {
    for n in [KEEP_ARGS, KEEP_ARGS + 1, 3 * KEEP_ARGS] {
        let mut input = mget(n);
        let small = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
        input.extend_from_slice(small);
        let mut f = RequestFramer::new(FrameLimits::default());
        let req = f.next_frame(&input).unwrap().unwrap();
        assert_eq!(req.argc(), n);
        assert_eq!(req.arg(n - 1), format!("k{}", n - 1).as_bytes());
        let len = req.wire_len();
        let req = f.next_frame(&input[len..]).unwrap().unwrap();
        assert_eq!(req.args().collect::<Vec<_>>(), [&b"GET"[..], b"k"]);
        // Given back when the small request began, not before.
        assert!(f.args.capacity() <= KEEP_ARGS, "n {n}");
    }
}

#[test]
fn a_held_request_comes_back_as_it_was() {
    let first = mget(KEEP_ARGS * 2);
    let mut input = first.clone();
    let mut f = RequestFramer::new(FrameLimits::default());
    let len = f.next_frame(&input).unwrap().unwrap().wire_len();
    f.hold();
    assert!(f.holding());
    // Idle memory is not given back from under a held request.
    f.shrink();
    input.extend_from_slice(b"PING\r\n");
    let again = f.next_frame(&input).unwrap().unwrap();
    assert_eq!(again.wire_len(), len);
    assert_eq!(again.argc(), KEEP_ARGS * 2);
    assert_eq!(
        again.arg(KEEP_ARGS * 2 - 1),
        format!("k{}", KEEP_ARGS * 2 - 1).as_bytes()
    );
    assert!(!f.holding());
    let next = f.next_frame(&input[len..]).unwrap().unwrap();
    assert!(next.is_inline());
    assert_eq!(next.args().collect::<Vec<_>>(), [&b"PING"[..]]);
    f.shrink();
    assert!(f.args.capacity() <= KEEP_ARGS);
    f.clear();
    assert!(!f.holding());
}

/// Frames `input` fed whole: each request's exact arguments and the bytes
/// it took, and what is left unframed. Fed cut at every byte, the same
/// requests and the same left (blank lines may go with a request or be
/// dropped before it, as the bytes come).
/// Each request's arguments and the bytes it took; the bytes left unframed.
type Framed = (Vec<(Vec<Vec<u8>>, usize)>, usize);

fn frames_at_every_cut(input: &[u8]) -> Framed {
    let whole = frames_cut(input, input.len());
    let args = |(frames, left): Framed| (frames.into_iter().map(|f| f.0).collect::<Vec<_>>(), left);
    for cut in 0..input.len() {
        assert_eq!(
            args(frames_cut(input, cut)),
            args(whole.clone()),
            "cut at {cut}"
        );
    }
    whole
}

fn frames_cut(input: &[u8], cut: usize) -> Framed {
    let mut f = RequestFramer::new(FrameLimits::default());
    let (mut start, mut available) = (0, cut);
    let mut out = Vec::new();
    loop {
        match f.next_frame(&input[start..available]).unwrap() {
            Some(req) => {
                out.push((req.args().map(<[u8]>::to_vec).collect(), req.wire_len()));
                start += req.wire_len();
            }
            None => {
                start += f.take_blank();
                if available == input.len() {
                    return (out, input.len() - start);
                }
                available = input.len();
            }
        }
    }
}

fn words(list: &[&[u8]]) -> Vec<Vec<u8>> {
    list.iter().map(|w| w.to_vec()).collect()
}

#[test]
fn inline_commands_are_split_as_redis_splits_them() {
    let cases: [(&[u8], &[&[u8]]); 9] = [
        (
            b"SET k \"hello world\"\r\n",
            &[b"SET", b"k", b"hello world"],
        ),
        (b"SET k 'a b'\n", &[b"SET", b"k", b"a b"]),
        (b"ECHO \"\\x41\\n\\\"\"\r\n", &[b"ECHO", b"A\n\""]),
        (b"ECHO 'it\\'s'\r\n", &[b"ECHO", b"it's"]),
        (b"  \t PING\r\n", &[b"PING"]),
        (b"ECHO \"\"\r\n", &[b"ECHO", b""]),
        (b"SET k ab\"c d\"\r\n", &[b"SET", b"k", b"abc d"]),
        (b"$4\r\n", &[b"$4"]),
        (b"PING \r\r\n", &[b"PING"]),
    ];
    for (input, want) in cases {
        let (got, left) = frames_at_every_cut(input);
        assert_eq!(
            got,
            [(words(want), input.len())],
            "{:?}",
            String::from_utf8_lossy(input)
        );
        assert_eq!(left, 0);
    }
}

#[test]
fn blank_lines_are_skipped() {
    // They go with the request after them...
    let input = b"\r\n\n  \t\r\n*1\r\n$4\r\nPING\r\n\r\nPING\n";
    let (got, left) = frames_at_every_cut(input);
    assert_eq!(
        got,
        [(words(&[b"PING"]), 22), (words(&[b"PING"]), 7)],
        "{got:?}"
    );
    assert_eq!(left, 0);
    // ...or to the caller to drop when none follows yet.
    let mut f = RequestFramer::new(FrameLimits::default());
    assert!(f.next_frame(b"\r\n\n").unwrap().is_none());
    assert_eq!(f.take_blank(), 3);
    assert_eq!(f.take_blank(), 0);
    // Not while a request after them is partly read: they go with it.
    assert!(f.next_frame(b"\r\n*1\r\n$4\r\nPI").unwrap().is_none());
    assert_eq!(f.take_blank(), 0);
    let req = f.next_frame(b"\r\n*1\r\n$4\r\nPING\r\n").unwrap().unwrap();
    assert_eq!(
        (req.wire_len(), req.bytes()),
        (16, &b"*1\r\n$4\r\nPING\r\n"[..])
    );
    // A partial line after them: dropped, and the line read again.
    let mut f = RequestFramer::new(FrameLimits::default());
    assert!(f.next_frame(b"\n\nPI").unwrap().is_none());
    assert_eq!(f.take_blank(), 2);
    let req = f.next_frame(b"PING\r\n").unwrap().unwrap();
    assert_eq!((req.argc(), req.wire_len()), (1, 6));
}

#[test]
fn an_inline_command_is_forwarded_as_resp() {
    let mut f = RequestFramer::new(FrameLimits::default());
    let input = b"\r\nset k \"a b\\r\\n\"\r\n";
    let req = f.next_frame(input).unwrap().unwrap();
    assert!(req.is_inline());
    assert_eq!(req.bytes(), &input[2..]);
    let mut out = bytes::BytesMut::new();
    req.encode_whole(&mut out);
    assert_eq!(&out[..], b"*3\r\n$3\r\nset\r\n$1\r\nk\r\n$5\r\na b\r\n\r\n");
    // A RESP request after blank lines goes as its own bytes.
    let input = b"\n*1\r\n$4\r\nPING\r\n";
    let req = f.next_frame(input).unwrap().unwrap();
    let mut out = bytes::BytesMut::new();
    req.encode_whole(&mut out);
    assert_eq!(&out[..], &input[1..]);
}

#[test]
fn inline_limits() {
    let mut f = RequestFramer::new(FrameLimits {
        max_key: 4,
        ..FrameLimits::default()
    });
    assert!(f.next_frame(b"GET \"1\x323\"\r\n").unwrap().is_some());
    // The line limit, with or without its end.
    let mut long = vec![b'a'; inline::MAX_INLINE + 1];
    let mut f = RequestFramer::new(FrameLimits::default());
    assert_eq!(
        f.next_frame(&long).unwrap_err(),
        ProtocolError::InlineTooBig
    );
    long.extend_from_slice(b"\r\n");
    assert_eq!(
        f.next_frame(&long).unwrap_err(),
        ProtocolError::InlineTooBig
    );
}

#[test]
fn a_held_inline_command_comes_back_with_its_words() {
    let mut f = RequestFramer::new(FrameLimits::default());
    let mut input = b"\r\nSET k \"a b\"\r\n".to_vec();
    assert_eq!(f.next_frame(&input).unwrap().unwrap().wire_len(), 15);
    f.hold();
    input.extend_from_slice(b"GET k\r\n");
    let again = f.next_frame(&input).unwrap().unwrap();
    assert_eq!(
        again.args().collect::<Vec<_>>(),
        [&b"SET"[..], b"k", b"a b"]
    );
    assert_eq!(again.wire_len(), 15);
    let next = f.next_frame(&input[15..]).unwrap().unwrap();
    assert_eq!(next.args().collect::<Vec<_>>(), [&b"GET"[..], b"k"]);
}

#[test]
fn inline_words_give_their_memory_back() {
    let mut f = RequestFramer::new(FrameLimits::default());
    let mut line = b"SET k ".to_vec();
    line.extend(vec![b'v'; 10_000]);
    line.extend_from_slice(b"\r\n");
    f.next_frame(&line).unwrap().unwrap();
    assert!(f.held_bytes() >= 10_000);
    f.next_frame(b"*1\r\n$4\r\nPING\r\n").unwrap().unwrap();
    assert!(f.words.capacity() <= KEEP_WORDS);
}
