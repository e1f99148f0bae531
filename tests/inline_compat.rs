//! Inline commands (the telnet form) through the proxy, against redis-server
//! itself: the same raw bytes go to a Redis and to the proxy in front of
//! another, and the replies must be the same bytes, the connection left
//! open or closed alike. Quotes and escapes, blank lines, unknown commands,
//! unbalanced quotes, the 64 KiB line limit and an HTTP request (Redis's
//! guard against cross-protocol scripting). Then what only the proxy
//! answers: where Redis waits without a reply.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::servers::{pool_config, RedisServer, Redshard, Reply};

/// Sent after an input that should leave the connection open: its reply,
/// the last, says that every reply to the input has come.
const MARKER: &[u8] = b"*2\r\n$4\r\nECHO\r\n$11\r\nend-of-case\r\n";
const MARKER_REPLY: &[u8] = b"$11\r\nend-of-case\r\n";

/// What a server made of some bytes: its replies, and whether it closed.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    replies: String,
    closed: bool,
}

/// Sends `input` (and the marker, unless the server should close) and reads
/// every reply: up to the marker's, or to the close. A server that does
/// neither within 10 s is left open.
fn exchange(port: u16, input: &[u8], closes: bool) -> Outcome {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut sent = input.to_vec();
    if !closes {
        sent.extend_from_slice(MARKER);
    }
    stream.write_all(&sent).unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 65536];
    let closed = loop {
        if got.ends_with(MARKER_REPLY) {
            got.truncate(got.len() - MARKER_REPLY.len());
            break false;
        }
        match stream.read(&mut chunk) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break true,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break false,
        }
    };
    Outcome {
        replies: String::from_utf8_lossy(&got).into_owned(),
        closed,
    }
}

/// A Redis alone and a proxy in front of another.
struct Pair {
    redis: RedisServer,
    behind: RedisServer,
    proxy: Redshard,
}

impl Pair {
    fn start() -> Pair {
        let redis = RedisServer::start();
        let behind = RedisServer::start();
        let proxy = Redshard::start(&pool_config("alpha", &[&behind], ""));
        Pair {
            redis,
            behind,
            proxy,
        }
    }

    /// Both servers emptied, then `input` sent to each: the two outcomes.
    fn both(&self, input: &[u8], closes: bool) -> (Outcome, Outcome) {
        for server in [&self.redis, &self.behind] {
            assert_eq!(server.conn().cmd(&["FLUSHALL"]), Reply::ok());
        }
        let redis = exchange(self.redis.port, input, closes);
        let proxy = exchange(self.proxy.port, input, closes);
        (redis, proxy)
    }

    /// Whether `key` exists on each server (Redis's, the proxy's).
    fn exists(&self, key: &str) -> (Reply, Reply) {
        (
            self.redis.conn().cmd(&["EXISTS", key]),
            self.behind.conn().cmd(&["EXISTS", key]),
        )
    }
}

/// Inputs Redis answers and keeps the connection open for.
const KEPT_OPEN: &[&[u8]] = &[
    b"SET k \"hello world\"\r\nGET k\r\n",
    b"SET k 'a b'\r\nGET k\r\n",
    b"SET k v\nGET k\n",
    b"SET k \"\\x41\\n\\r\\t\\b\\a\\\\\\\"\\q\\x4\\xzz\"\r\nGET k\r\n",
    b"SET k 'it\\'s \\n \"x\"'\r\nGET k\r\n",
    b"SET k ab\"c d\"\r\nGET k\r\n",
    b"SET k \"\"\r\nSTRLEN k\r\n",
    b"ECHO \"\\xff\\x00\\x0d\\x0a\"\r\n",
    b"   PING\r\n\t\x0b\x0cECHO x\r\n",
    b"\r\n",
    b"\n\n\r\n  \t\r\n\r\r\nPING\n",
    b"*1\r\n$4\r\nPING\r\n\r\nPING\r\n\n*2\r\n$4\r\nECHO\r\n$1\r\ny\r\n",
    b"SET k \"a\"\tx\r\n",
    b"FOO bar baz\r\n",
    b"foo\r\nPING\r\n",
    b"\"\" a\r\n",
    b"PI\x0bNG\r\n",
    b"FOO \"x\\r\\ny\" \"p\\x00q\"\r\n",
    b"$4\r\nPING\r\n",
    b"*2\r\n$3\r\nFOO\r\n$1\r\nx\r\n",
    b"GET / HTTP/1.1\r\n",
];

#[test]
fn inline_commands_get_the_replies_redis_gives() {
    let pair = Pair::start();
    let long_args = [
        b"FOO ".to_vec(),
        vec![b'a'; 100],
        b" ".to_vec(),
        vec![b'b'; 100],
        b" c\r\n".to_vec(),
    ]
    .concat();
    let long_name = [vec![b'F'; 200], b" x\r\n".to_vec()].concat();
    let inputs = KEPT_OPEN
        .iter()
        .map(|i| i.to_vec())
        .chain([long_args, long_name]);
    for input in inputs {
        let (redis, proxy) = pair.both(&input, false);
        let shown = String::from_utf8_lossy(&input);
        assert!(!redis.closed, "{shown:?}: Redis closed: {redis:?}");
        assert_eq!(proxy, redis, "{shown:?}");
    }
}

#[test]
fn what_redis_closes_the_proxy_closes() {
    let pair = Pair::start();
    let cases: [&[u8]; 8] = [
        b"SET k \"abc\"d\r\n",
        b"SET k \"abc\r\n",
        b"SET k 'abc\r\n",
        b"SET k 'ab'c\r\n",
        b"PING\r\nSET k \"x\r\nSET a b\r\n",
        // Over 64 KiB without a line end; every byte read before the close.
        &[b'A'; 64 * 1024 + 1],
        // Cross-protocol scripting: closed at the POST line, unanswered,
        // and the body is never run.
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nSET a b\r\n",
        b"host: x\r\nSET a b\r\n",
    ];
    for input in cases {
        let (redis, proxy) = pair.both(input, true);
        let shown = String::from_utf8_lossy(&input[..input.len().min(60)]);
        assert!(redis.closed, "{shown:?}: Redis left it open: {redis:?}");
        assert_eq!(proxy, redis, "{shown:?}");
        assert_eq!(pair.exists("a"), (Reply::Int(0), Reply::Int(0)));
    }
    // A GET before the Host: line: both close there. Redis drops the GET's
    // error when the two lines came in one read (it frees the client
    // before writing), and writes it when they came apart; the proxy
    // writes what is due before a close, as always.
    let input = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nSET a b\r\n";
    let (redis, proxy) = pair.both(input, true);
    assert!(redis.closed && proxy.closed, "{redis:?} {proxy:?}");
    assert_eq!(
        proxy.replies,
        "-ERR wrong number of arguments for 'get' command\r\n"
    );
    assert_eq!(pair.exists("a"), (Reply::Int(0), Reply::Int(0)));
}

/// Where Redis gives no answer (it waits for more without replying), the
/// proxy refuses at once and closes.
#[test]
fn where_redis_waits_the_proxy_answers() {
    let pair = Pair::start();
    let cases: [(&[u8], &str); 3] = [
        (
            b"PING\x00 x\r\n",
            "-ERR Protocol error: NUL byte in an inline command; send binary arguments in a RESP array\r\n",
        ),
        (
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
            "-ERR Protocol error: a TLS handshake on a port without TLS; connect without TLS\r\n",
        ),
        (
            b"PING\r\n\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
            "+PONG\r\n-ERR Protocol error: a TLS handshake on a port without TLS; connect without TLS\r\n",
        ),
    ];
    for (input, want) in cases {
        let got = exchange(pair.proxy.port, input, true);
        assert_eq!(
            got,
            Outcome {
                replies: want.into(),
                closed: true
            },
            "{input:?}"
        );
    }
    // A megabyte of blank lines, skipped, then a command.
    let mut blank = b"\r\n".repeat(512 * 1024);
    blank.extend_from_slice(b"PING\r\n");
    let got = exchange(pair.proxy.port, &blank, false);
    assert_eq!((got.replies.as_str(), got.closed), ("+PONG\r\n", false));
}
