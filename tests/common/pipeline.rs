//! The request path without sockets, shared by the `pipeline` fuzz target
//! and its property test: frame every request in some bytes, look its
//! command up, route it over a placement and encode what each server would
//! receive, checking on the way what must hold whatever the bytes are.
//!
//! Included by path (`#[path = ...] mod pipeline;`), so it depends only on
//! the library and its dependencies.

use bytes::BytesMut;
use redshard::command;
use redshard::config::Config;
use redshard::pool::Placement;
use redshard::protocol::{FrameLimits, Request, RequestFramer};
use redshard::route::{lookup, server_of_keys, Action, Route, RouteError, Router, Split};

#[path = "splitargs.rs"]
pub mod splitargs;

/// Small enough for a fuzzer, large enough to pass the 4,096 arguments
/// past which the framer once lost a request's arguments.
pub const LIMITS: FrameLimits = FrameLimits {
    max_request: 1 << 17,
    max_key: 1 << 10,
    max_args: 1 << 13,
};

/// What became of the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Driven {
    /// Complete requests framed (and checked).
    pub requests: usize,
    /// The framer refused the bytes after them.
    pub protocol_error: bool,
    /// Bytes left over: the start of a request not complete yet.
    pub pending: usize,
}

/// The placements requests are routed over: three servers as configured by
/// default, with a hash tag and another hash and distribution, with one
/// server ejected, with none live, and a pool of one server.
pub fn placements() -> Vec<Placement> {
    let three = "   - 127.0.0.1:7001:1\n   - 127.0.0.1:7002:1\n   - 127.0.0.1:7003:1\n";
    let pool = |extra: &str, servers: &str| {
        let yaml =
            format!("p:\n  listen: 127.0.0.1:22121\n  redis: true\n{extra}  servers:\n{servers}");
        Config::parse(&yaml, std::path::Path::new("pipeline.yml"))
            .expect("valid config")
            .pools
            .remove(0)
    };
    let tagged = pool(
        "  hash_tag: \"{}\"\n  hash: murmur\n  distribution: modula\n",
        three,
    );
    let ejecting = pool("  auto_eject_hosts: true\n", three);
    vec![
        Placement::new(&pool("", three)),
        Placement::new(&tagged),
        Placement::with_live(&ejecting, |i| i != 1),
        Placement::with_live(&ejecting, |_| false),
        Placement::new(&pool("", "   - 127.0.0.1:7001:1\n")),
    ]
}

/// Frames and checks every request in `input`, as a session takes them;
/// every third request is held first and must come back unchanged.
pub fn drive(input: &[u8], placement: &Placement) -> Driven {
    let mut framer = RequestFramer::with_key_rule(LIMITS, command::first_arg_is_key);
    let mut router = Router::new();
    let mut rest = input;
    let mut requests = 0;
    loop {
        let req = match framer.next_frame(rest) {
            Ok(Some(req)) => req,
            Ok(None) => {
                return Driven {
                    requests,
                    protocol_error: false,
                    pending: rest.len(),
                }
            }
            Err(_) => {
                return Driven {
                    requests,
                    protocol_error: true,
                    pending: rest.len(),
                }
            }
        };
        requests += 1;
        let len = req.wire_len();
        check(&req, &mut router, placement);
        if requests % 3 == 0 {
            let args = owned(&req);
            framer.hold();
            let again = framer.next_frame(rest).expect("held").expect("held");
            assert_eq!(again.wire_len(), len, "a held request changed length");
            assert_eq!(owned(&again), args, "a held request changed");
        }
        rest = &rest[len..];
    }
}

/// How many arguments a RESP request's bytes hold: its `*<count>`.
fn declared_args(bytes: &[u8]) -> usize {
    let end = bytes
        .iter()
        .position(|&b| b == b'\r')
        .expect("a header line");
    let count = std::str::from_utf8(&bytes[1..end]).expect("digits");
    count.parse().expect("a count")
}

fn owned(req: &Request<'_>) -> Vec<Vec<u8>> {
    req.args().map(<[u8]>::to_vec).collect()
}

/// What must hold for one framed request: its command routes without a
/// panic, and every server gets a valid request holding the right keys.
fn check(req: &Request<'_>, router: &mut Router, placement: &Placement) {
    if req.is_inline() {
        let line = req.bytes().strip_suffix(b"\n").expect("a line end");
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let words = splitargs::sdssplitargs(line);
        assert_eq!(Some(owned(req)), words, "words not as Redis splits them");
    } else {
        assert_eq!(req.argc(), declared_args(req.bytes()), "arguments lost");
    }
    let Some(spec) = lookup(req.arg(0)) else {
        return;
    };
    // As dispatch does: a wrong arity is answered before any routing.
    if !spec.arity_ok(req.argc()) {
        return;
    }
    if let Action::Hosted(h) = spec.action {
        let words: Vec<&[u8]> = req.args().skip(1).collect();
        let limits = redshard::hosted::Limits {
            bloom_max_bytes: redshard::config::defaults::BLOOM_MAX_BYTES,
        };
        if let Ok(plan) = h.plan(spec.name, &words, &limits) {
            let keys = plan.keys.iter().map(Vec::as_slice);
            assert_ne!(
                server_of_keys(keys, placement),
                Err(RouteError::CrossServer),
                "{}: a hosted call's keys must share a server",
                spec.name
            );
        }
    }
    let split = matches!(spec.action, Action::Split(_));
    match router.route(spec, req, placement) {
        Route::One(server) => {
            assert!(placement.is_live(server), "routed to a server not live");
            if split {
                let (step, groups) = key_groups(req);
                assert_eq!(step * groups.len() + 1, req.argc());
                for group in &groups {
                    assert_eq!(placement.server_for(&group[0]), Some(server));
                }
            }
            check_whole(req);
        }
        Route::All { servers, .. } => {
            assert!(!servers.is_empty());
            for (i, &s) in servers.iter().enumerate() {
                assert!(placement.is_live(s as usize));
                assert!(!servers[..i].contains(&s), "a server twice");
            }
            check_whole(req);
        }
        Route::Split(split) => check_split(req, &split, placement),
        Route::Scan(scan) => {
            assert!(placement.is_live(scan.server), "SCAN to a server not live");
            let mut out = BytesMut::new();
            scan.encode(req, &mut out);
            let args = reframe(&out);
            assert_eq!(args.len(), req.argc());
            assert!(args[1].iter().all(u8::is_ascii_digit), "a server cursor");
            assert_eq!(args[0], req.arg(0));
            assert_eq!(&args[2..], &owned(req)[2..], "SCAN's options as sent");
        }
        Route::Refused(_) => {}
    }
}

/// The request's keys, each with its value for MSET: (arguments per key,
/// the groups in request order).
fn key_groups(req: &Request<'_>) -> (usize, Vec<Vec<Vec<u8>>>) {
    let step = match lookup(req.arg(0)).map(|s| s.action) {
        Some(Action::Split(Split::Mset)) => 2,
        _ => 1,
    };
    let args = owned(req);
    (step, args[1..].chunks(step).map(<[_]>::to_vec).collect())
}

/// Re-frames `bytes`: exactly one complete request, its arguments.
fn reframe(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut framer = RequestFramer::new(FrameLimits::default());
    let req = framer
        .next_frame(bytes)
        .expect("an encoded request is valid RESP")
        .expect("an encoded request is complete");
    assert_eq!(req.wire_len(), bytes.len(), "one request exactly");
    assert!(!req.is_inline());
    owned(&req)
}

/// The request sent whole: its own bytes, or its arguments re-encoded.
fn check_whole(req: &Request<'_>) {
    let mut out = BytesMut::new();
    req.encode_whole(&mut out);
    if !req.is_inline() {
        assert_eq!(&out[..], req.bytes());
    }
    assert_eq!(reframe(&out), owned(req));
}

/// Each part holds exactly the keys (and values) of its server, in request
/// order; all parts together hold every key once; MGET's order maps each
/// key to its place in its part's reply.
fn check_split(req: &Request<'_>, split: &redshard::route::SplitRoute<'_>, placement: &Placement) {
    let (step, groups) = key_groups(req);
    assert_eq!(step * groups.len() + 1, req.argc());
    assert!(split.parts() >= 2, "a split of one part goes whole");
    let mut parts = Vec::with_capacity(split.parts());
    for part in 0..split.parts() {
        let server = split.server(part);
        assert!(placement.is_live(server));
        let mut out = BytesMut::new();
        split.encode_part(part, req, &mut out);
        let args = reframe(&out);
        assert_eq!(args[0], req.arg(0), "a part keeps the command name");
        let got: Vec<Vec<Vec<u8>>> = args[1..].chunks(step).map(<[_]>::to_vec).collect();
        let want: Vec<Vec<Vec<u8>>> = groups
            .iter()
            .filter(|g| placement.server_for(&g[0]) == Some(server))
            .cloned()
            .collect();
        assert!(!got.is_empty(), "an empty part");
        assert_eq!(got, want, "part {part} (server {server})");
        parts.push(got);
    }
    assert_eq!(parts.iter().map(Vec::len).sum::<usize>(), groups.len());
    if split.kind == Split::Mget {
        let order = split.mget_order();
        assert_eq!(order.len(), groups.len());
        for (group, &(part, at)) in groups.iter().zip(&order) {
            assert_eq!(&parts[part as usize][at as usize], group);
        }
    }
}
