//! Property tests of the request framer and the reply skipper, with
//! redis-protocol as the oracle (and for inline commands, Redis's own
//! splitting carried over), every input also fed split at every byte;
//! replies over a limit discarded as they stream past.

use proptest::prelude::*;
use redis_protocol::resp2::types::Resp2Frame;
use redis_protocol::resp3::types::Resp3Frame;
use redis_protocol::{resp2, resp3};
use redshard::protocol::{FrameLimits, ProtocolError, ReplyError, ReplySkipper, RequestFramer};

#[path = "common/splitargs.rs"]
mod splitargs;

fn encode2(frame: &resp2::types::OwnedFrame) -> Vec<u8> {
    let mut buf = vec![0u8; frame.encode_len(false)];
    let n = resp2::encode::encode(&mut buf, frame, false).unwrap();
    buf.truncate(n);
    buf
}

fn encode3(frame: &resp3::types::OwnedFrame) -> Vec<u8> {
    let mut buf = vec![0u8; frame.encode_len(false)];
    let n = resp3::encode::complete::encode(&mut buf, frame, false).unwrap();
    buf.truncate(n);
    buf
}

/// Frames every request in `input`, feeding the bytes as they would arrive
/// if the stream were cut at `cut`.
fn frame_with_cut(input: &[u8], cut: usize) -> Vec<Vec<Vec<u8>>> {
    let mut framer = RequestFramer::new(FrameLimits::default());
    let mut out = Vec::new();
    let mut start = 0;
    let mut available = cut.min(input.len());
    loop {
        match framer.next_frame(&input[start..available]).unwrap() {
            Some(req) => {
                out.push(req.args().map(<[u8]>::to_vec).collect());
                start += req.wire_len();
            }
            None if available < input.len() => available = input.len(),
            None => break,
        }
    }
    assert_eq!(start, input.len(), "bytes left unframed");
    out
}

/// Reads `input` as the backend's reader does, the bytes arriving in two
/// pieces cut at `cut`: each reply's length, or `None` for one over `limit`
/// (discarded, never held whole).
fn skip_with_limit(input: &[u8], cut: usize, limit: usize) -> Vec<Option<usize>> {
    let mut skipper = ReplySkipper::with_limit(limit);
    let mut buf = Vec::new();
    let mut got = Vec::new();
    for piece in [&input[..cut], &input[cut..]] {
        buf.extend_from_slice(piece);
        loop {
            if skipper.discarding() {
                let d = skipper.discard(&buf).unwrap();
                buf.drain(..d.consumed);
                if d.ended {
                    continue;
                }
                // What stays of a discarded reply is at most a partial header.
                assert!(
                    buf.len() <= 64,
                    "kept {} bytes of a discarded reply",
                    buf.len()
                );
                break;
            }
            match skipper.next_reply(&buf) {
                Ok(Some(n)) => {
                    got.push(Some(n));
                    buf.drain(..n);
                }
                Ok(None) => break,
                Err(ReplyError::TooLarge(_)) => got.push(None),
                Err(e) => panic!("{e}"),
            }
        }
    }
    assert!(buf.is_empty() && !skipper.discarding());
    got
}

fn arg() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..40)
}

fn command() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(arg(), 1..6)
}

/// A line of the bytes that mean something to Redis's splitting (quotes,
/// escapes, hex digits, every kind of blank) and a few that do not.
fn inline_line() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop::sample::select(b"ab4fx \t\r\x0b\x0c\"'\\n\xff".to_vec());
    prop::collection::vec(byte, 0..24)
}

fn reply3() -> impl Strategy<Value = resp3::types::OwnedFrame> {
    use resp3::types::OwnedFrame as F;
    let leaf = prop_oneof![
        arg().prop_map(|d| F::BlobString {
            data: d,
            attributes: None
        }),
        "[a-zA-Z0-9 ]{0,20}".prop_map(|s| F::SimpleString {
            data: s.into_bytes(),
            attributes: None
        }),
        "ERR [a-z ]{0,20}".prop_map(|s| F::SimpleError {
            data: s,
            attributes: None
        }),
        any::<i64>().prop_map(|n| F::Number {
            data: n,
            attributes: None
        }),
        any::<bool>().prop_map(|b| F::Boolean {
            data: b,
            attributes: None
        }),
        (-1e9f64..1e9).prop_map(|d| F::Double {
            data: d,
            attributes: None
        }),
        arg().prop_map(|d| F::BlobError {
            data: d,
            attributes: None
        }),
        "[0-9]{1,40}".prop_map(|s| F::BigNumber {
            data: s.into_bytes(),
            attributes: None
        }),
        Just(F::Null),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|v| F::Array {
                data: v,
                attributes: None
            }),
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| F::Push {
                data: v,
                attributes: None
            }),
            prop::collection::vec((any::<i64>(), inner), 0..4).prop_map(|kv| F::Map {
                data: kv
                    .into_iter()
                    .map(|(k, v)| (
                        F::Number {
                            data: k,
                            attributes: None
                        },
                        v
                    ))
                    .collect(),
                attributes: None,
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn framer_finds_every_request_at_every_split(commands in prop::collection::vec(command(), 1..5)) {
        let mut input = Vec::new();
        for c in &commands {
            let frame = resp2::types::OwnedFrame::Array(
                c.iter().map(|a| resp2::types::OwnedFrame::BulkString(a.clone())).collect(),
            );
            input.extend(encode2(&frame));
        }
        for cut in 0..=input.len() {
            prop_assert_eq!(&frame_with_cut(&input, cut), &commands);
        }
    }

    #[test]
    fn inline_commands_frame_to_their_words_at_every_split(
        commands in prop::collection::vec((command(), any::<bool>()), 1..5),
    ) {
        let mut input = Vec::new();
        for (c, inline) in &commands {
            if *inline {
                input.extend(splitargs::inline_line(c));
            } else {
                let frame = resp2::types::OwnedFrame::Array(
                    c.iter().map(|a| resp2::types::OwnedFrame::BulkString(a.clone())).collect(),
                );
                input.extend(encode2(&frame));
            }
        }
        let want: Vec<Vec<Vec<u8>>> = commands.into_iter().map(|(c, _)| c).collect();
        for cut in 0..=input.len() {
            prop_assert_eq!(&frame_with_cut(&input, cut), &want);
        }
    }

    #[test]
    fn inline_lines_split_as_redis_splits_them(line in inline_line(), lf_only in any::<bool>()) {
        let mut input = line.clone();
        input.extend_from_slice(if lf_only { b"\n" } else { b"\r\n" });
        let mut framer = RequestFramer::new(FrameLimits::default());
        let got = framer
            .next_frame(&input)
            .map(|r| r.map(|req| (req.args().map(<[u8]>::to_vec).collect::<Vec<_>>(), req.wire_len())));
        // Redis drops one \r before the \n.
        let words = line.strip_suffix(b"\r").unwrap_or(&line);
        match splitargs::sdssplitargs(if lf_only { words } else { &line }) {
            None => prop_assert_eq!(got, Err(ProtocolError::UnbalancedQuotes)),
            Some(w) if w.is_empty() => {
                prop_assert_eq!(got, Ok(None));
                prop_assert_eq!(framer.take_blank(), input.len());
            }
            Some(w) => prop_assert_eq!(got, Ok(Some((w, input.len())))),
        }
    }

    #[test]
    fn skipper_finds_every_reply_at_every_split(replies in prop::collection::vec(reply3(), 1..4)) {
        let encoded: Vec<Vec<u8>> = replies.iter().map(encode3).collect();
        let input: Vec<u8> = encoded.concat();
        let want: Vec<usize> = encoded.iter().map(|e| e.len()).collect();
        for cut in 0..=input.len() {
            let mut skipper = ReplySkipper::new();
            let mut got = Vec::new();
            let mut start = 0;
            let mut available = cut;
            loop {
                match skipper.next_reply(&input[start..available]).unwrap() {
                    Some(n) => { got.push(n); start += n; }
                    None if available < input.len() => available = input.len(),
                    None => break,
                }
            }
            prop_assert_eq!(&got, &want);
            // The oracle agrees on where the first reply ends.
            let (_, n) = resp3::decode::complete::decode(&input).unwrap().unwrap();
            prop_assert_eq!(n, want[0]);
        }
    }

    #[test]
    fn skipper_discards_the_replies_over_its_limit_at_every_split(
        replies in prop::collection::vec(reply3(), 1..5),
        limit in 1usize..400,
    ) {
        let encoded: Vec<Vec<u8>> = replies.iter().map(encode3).collect();
        let input: Vec<u8> = encoded.concat();
        let want: Vec<Option<usize>> = encoded
            .iter()
            .map(|e| (e.len() <= limit).then_some(e.len()))
            .collect();
        for cut in 0..=input.len() {
            prop_assert_eq!(&skip_with_limit(&input, cut, limit), &want, "cut at {}", cut);
        }
    }

    #[test]
    fn framer_and_skipper_never_panic_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut framer = RequestFramer::new(FrameLimits::default());
        let mut rest = &bytes[..];
        while let Ok(Some(req)) = framer.next_frame(rest) {
            rest = &rest[req.wire_len()..];
        }
        let mut skipper = ReplySkipper::new();
        let mut rest = &bytes[..];
        while let Ok(Some(n)) = skipper.next_reply(rest) {
            rest = &rest[n..];
        }
        // With a small limit, discarding too.
        let mut skipper = ReplySkipper::with_limit(16);
        let mut rest = &bytes[..];
        loop {
            if skipper.discarding() {
                match skipper.discard(rest) {
                    Ok(d) if d.consumed > 0 || d.ended => rest = &rest[d.consumed..],
                    _ => break,
                }
                continue;
            }
            match skipper.next_reply(rest) {
                Ok(Some(n)) => rest = &rest[n..],
                Err(ReplyError::TooLarge(_)) => {}
                _ => break,
            }
        }
    }
}
