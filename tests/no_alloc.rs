//! The framer allocates nothing per request once warmed up: RESP requests
//! (the hot path) and inline commands, whose unescaped words reuse one
//! buffer. The permission check allocates nothing per request: for the `default`
//! user of a pool without `users:` (nutcracker's case, which still checks
//! writes for the hosted state), for a user with every right, and for a
//! user with rules and key patterns — single-key and multi-key commands,
//! once the router's scratch space has grown. Counted by a global allocator
//! wrapper, on this thread only: the harness's own thread allocates when it
//! likes (a process-wide count once saw 4 allocations in 1,000 checks that
//! were not the check's).

use std::path::Path;

use bytes::BytesMut;
use redshard::auth::check;
use redshard::config::Config;
use redshard::protocol::{encode, FrameLimits, RequestFramer};
use redshard::route::{lookup, Router};

const CONFIG: &str = "p:
  listen: 127.0.0.1:1
  redis: true
  servers:
   - 127.0.0.1:2:1
q:
  listen: 127.0.0.1:3
  redis: true
  users:
   - {name: ops, password: o, commands: [\"+@all\"]}
   - {name: app, password: a, commands: [\"+@all\", \"-@dangerous\"], keys: [\"app:*\", \"{u*\"]}
  servers:
   - 127.0.0.1:2:1
";

#[test]
fn the_check_allocates_nothing_per_request() {
    let config = Config::parse(CONFIG, Path::new("t.yml")).unwrap();
    let implicit = config.pools[0].users.at_connect().unwrap();
    let ops = config.pools[1].users.find(b"ops").unwrap().clone();
    let app = config.pools[1].users.find(b"app").unwrap().clone();
    let requests: [&[&str]; 6] = [
        &["GET", "app:1"],
        &["SET", "app:1", "v"],
        &["MSET", "app:1", "a", "app:2", "b", "app:3", "c"],
        &["DEL", "app:1", "app:2"],
        &["EVAL", "return 1", "2", "app:1", "app:2"],
        &["SCRIPT", "LOAD", "return 1"],
    ];
    let mut router = Router::new();
    for words in requests {
        let mut raw = BytesMut::new();
        encode::command(&mut raw, words.iter().map(|w| w.as_bytes()));
        let mut framer = RequestFramer::new(FrameLimits::default());
        let req = framer.next_frame(&raw).unwrap().unwrap();
        let spec = lookup(req.arg(0)).unwrap();
        for user in [&implicit, &ops, &app] {
            // The scratch space grows once.
            assert!(check(&user.perms, spec, &req, false, router.scratch()).is_ok());
            let counted = allocation_counter::measure(|| {
                for _ in 0..1000 {
                    let ok = check(&user.perms, spec, &req, false, router.scratch()).is_ok();
                    std::hint::black_box(ok);
                }
            });
            assert_eq!(counted.count_total, 0, "{words:?} as {}", user.name);
        }
    }
}

#[test]
fn the_framer_allocates_nothing_per_request() {
    let mut pipeline = BytesMut::new();
    for words in [&["SET", "k", "v"][..], &["MGET", "a", "b", "c"], &["PING"]] {
        encode::command(&mut pipeline, words.iter().map(|w| w.as_bytes()));
    }
    let resp = pipeline.to_vec();
    let inline = b"\r\nSET k \"a b\"\r\nMGET a 'b' c\nPING\r\n".to_vec();
    for input in [resp, inline] {
        let mut framer = RequestFramer::new(FrameLimits::default());
        let mut frame_all = || {
            let mut rest = &input[..];
            let mut n = 0;
            while let Some(req) = framer.next_frame(rest).unwrap() {
                n += req.argc();
                rest = &rest[req.wire_len()..];
            }
            assert!(rest.is_empty());
            n
        };
        // The buffers grow once.
        assert_eq!(frame_all(), 8);
        let counted = allocation_counter::measure(|| {
            for _ in 0..1000 {
                std::hint::black_box(frame_all());
            }
        });
        assert_eq!(
            counted.count_total,
            0,
            "{:?}",
            String::from_utf8_lossy(&input)
        );
    }
}
