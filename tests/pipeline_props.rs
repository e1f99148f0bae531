//! Framer, router and encoder together, on random bytes, on valid pipelines
//! of every command the proxy knows, and on those pipelines mutated: the
//! same driver as the `pipeline` fuzz target (fuzz/fuzz_targets/pipeline.rs),
//! so the property runs in every test run and the fuzzer digs deeper.

#[path = "common/pipeline.rs"]
mod pipeline;

use bytes::BytesMut;
use proptest::prelude::*;
use redshard::command;
use redshard::protocol::encode;

use pipeline::{drive, placements, splitargs, Driven};

/// The placements, built once.
fn placement(i: usize) -> &'static redshard::pool::Placement {
    static ALL: std::sync::LazyLock<Vec<redshard::pool::Placement>> =
        std::sync::LazyLock::new(placements);
    &ALL[i % ALL.len()]
}

/// An argument likely to mean something to some command: a key with or
/// without a tag, a number (key counts), a keyword, a reserved key, or
/// anything.
fn word() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[a-z]{1,3}".prop_map(String::into_bytes),
        "\\{[a-c]\\}[a-z]{0,2}".prop_map(String::into_bytes),
        "[0-9]{1,2}".prop_map(String::into_bytes),
        prop::sample::select(vec!["STREAMS", "STORE", "BLOCK", "LOAD", "WAIT", "100"])
            .prop_map(|s| s.as_bytes().to_vec()),
        "rs:(lock|rp|bf):\\{[a-c]\\}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..6),
    ]
}

/// A command of the table (in any case) and some arguments; sent inline
/// (quoted where a word needs it) or as RESP.
fn command() -> impl Strategy<Value = (Vec<Vec<u8>>, bool)> {
    let names: Vec<&'static str> = command::all().iter().map(|c| c.name).collect();
    (
        prop::sample::select(names),
        any::<bool>(),
        prop::collection::vec(word(), 0..8),
        any::<bool>(),
    )
        .prop_map(|(name, upper, mut args, inline)| {
            let name = if upper {
                name.to_ascii_uppercase()
            } else {
                name.to_string()
            };
            args.insert(0, name.into_bytes());
            (args, inline)
        })
}

/// The commands one after the other; every third after blank lines, which
/// Redis skips.
fn encode_pipeline(commands: &[(Vec<Vec<u8>>, bool)]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for (i, (args, inline)) in commands.iter().enumerate() {
        if i % 3 == 2 {
            out.extend_from_slice(b"\r\n \t\n");
        }
        if *inline {
            out.extend_from_slice(&splitargs::inline_line(args));
        } else {
            encode::command(&mut out, args.iter().map(Vec::as_slice));
        }
    }
    out.to_vec()
}

/// A byte changed, removed or inserted at a position (taken modulo the
/// length), or the input cut there.
#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Remove(usize),
    Insert(usize, u8),
    Cut(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let special = prop::sample::select(vec![b'*', b'$', b'\r', b'\n', b'-', b'0', b'9', b' ']);
    let byte = prop_oneof![special, any::<u8>()];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(at, b)| Mutation::Set(at, b)),
        any::<usize>().prop_map(Mutation::Remove),
        (any::<usize>(), byte).prop_map(|(at, b)| Mutation::Insert(at, b)),
        any::<usize>().prop_map(Mutation::Cut),
    ]
}

fn mutate(bytes: &mut Vec<u8>, m: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    let len = bytes.len();
    match *m {
        Mutation::Set(at, b) => bytes[at % len] = b,
        Mutation::Remove(at) => {
            bytes.remove(at % len);
        }
        Mutation::Insert(at, b) => bytes.insert(at % (len + 1), b),
        Mutation::Cut(at) => bytes.truncate(at % len),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400), p in 0..5usize) {
        drive(&bytes, placement(p));
    }

    #[test]
    fn every_valid_request_is_framed_routed_and_encoded(
        commands in prop::collection::vec(command(), 1..8),
        p in 0..5usize,
    ) {
        let input = encode_pipeline(&commands);
        let driven = drive(&input, placement(p));
        prop_assert_eq!(driven, Driven { requests: commands.len(), protocol_error: false, pending: 0 });
    }

    #[test]
    fn mutated_pipelines_never_panic(
        commands in prop::collection::vec(command(), 1..8),
        mutations in prop::collection::vec(mutation(), 1..4),
        p in 0..5usize,
    ) {
        let mut input = encode_pipeline(&commands);
        for m in &mutations {
            mutate(&mut input, m);
        }
        drive(&input, placement(p));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Split commands around the 4,096 arguments past which the framer once
    /// dropped a request's arguments before routing.
    #[test]
    fn thousands_of_keys_split_whole(
        name in prop::sample::select(vec!["MGET", "DEL", "EXISTS", "MSET"]),
        argc in 4_000..4_200usize,
        p in 0..3usize,
    ) {
        let step = if name == "MSET" { 2 } else { 1 };
        let mut args = vec![name.as_bytes().to_vec()];
        for i in 0..argc / step {
            args.push(format!("key:{i}").into_bytes());
            if step == 2 {
                args.push(format!("v{i}").into_bytes());
            }
        }
        // The third request is held and taken again, as a session does.
        let input = encode_pipeline(&[(vec![b"PING".to_vec()], true), (args.clone(), false), (args, false)]);
        let driven = drive(&input, placement(p));
        prop_assert_eq!(driven, Driven { requests: 3, protocol_error: false, pending: 0 });
    }
}
