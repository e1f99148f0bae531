//! Heavy but ordinary requests through the proxy: MSET, MGET and DEL with
//! thousands to a million arguments, split over three servers, every reply
//! checked byte for byte (values in key order, the exact count).

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::servers::{pool_config, RedisServer, Redshard};

/// Appends `n` in decimal (cheaper than `write!` in an unoptimized build,
/// which matters a million times over).
fn push_num(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Appends a bulk string: `prefix` followed by `n` in decimal.
fn push_bulk(out: &mut Vec<u8>, prefix: &[u8], n: usize) {
    let mut text = Vec::with_capacity(24);
    text.extend_from_slice(prefix);
    push_num(&mut text, n);
    out.push(b'$');
    push_num(out, text.len());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&text);
    out.extend_from_slice(b"\r\n");
}

/// A request's first line and its command name; the arguments follow.
fn header(name: &str, argc: usize) -> Vec<u8> {
    let mut out = b"*".to_vec();
    push_num(&mut out, argc);
    out.extend_from_slice(format!("\r\n${}\r\n{name}\r\n", name.len()).as_bytes());
    out
}

/// Sends `request` (its pieces back to back) and reads back exactly `want`,
/// within `timeout`.
fn expect_reply(s: &mut TcpStream, what: &str, request: &[&[u8]], want: &[u8], timeout: Duration) {
    for piece in request {
        s.write_all(piece)
            .unwrap_or_else(|e| panic!("{what}: write: {e}"));
    }
    let deadline = Instant::now() + timeout;
    let mut got = vec![0u8; want.len()];
    let mut have = 0;
    while have < want.len() {
        assert!(
            Instant::now() < deadline,
            "{what}: {have} of {} reply bytes after {timeout:?}",
            want.len()
        );
        match s.read(&mut got[have..]) {
            Ok(0) => panic!(
                "{what}: connection closed after {have} of {} reply bytes",
                want.len()
            ),
            Ok(n) => have += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("{what}: read after {have} bytes: {e}"),
        }
    }
    if got != want {
        let at = got.iter().zip(want).position(|(a, b)| a != b).unwrap();
        let show = |b: &[u8]| String::from_utf8_lossy(&b[at..(at + 60).min(b.len())]).into_owned();
        panic!(
            "{what}: reply differs at byte {at}: got {:?}, want {:?}",
            show(&got),
            show(want)
        );
    }
}

/// One round of `n`: an MSET of ceil(n/2) pairs, an MGET of n keys (the
/// first ceil(n/2) set, the rest missing, so values and nils interleave
/// across the servers' parts), a DEL of the same n keys (the count of those
/// set).
fn round(s: &mut TcpStream, round: usize, n: usize) -> Duration {
    let started = Instant::now();
    let pairs = n.div_ceil(2);
    let timeout = Duration::from_secs(60);
    let key = format!("k{round}:").into_bytes();

    let mut mset = header("MSET", 1 + 2 * pairs);
    for i in 0..pairs {
        push_bulk(&mut mset, &key, i);
        push_bulk(&mut mset, b"v", i);
    }
    expect_reply(
        s,
        &format!("MSET of {pairs} pairs"),
        &[&mset],
        b"+OK\r\n",
        timeout,
    );
    drop(mset);

    let mut keys = Vec::with_capacity(n * 16);
    let mut want = b"*".to_vec();
    push_num(&mut want, n);
    want.extend_from_slice(b"\r\n");
    for i in 0..n {
        push_bulk(&mut keys, &key, i);
        if i < pairs {
            push_bulk(&mut want, b"v", i);
        } else {
            want.extend_from_slice(b"$-1\r\n");
        }
    }
    let mget = header("MGET", 1 + n);
    let what = format!("MGET of {n} keys");
    expect_reply(s, &what, &[&mget, &keys], &want, timeout);
    drop(want);

    let del = header("DEL", 1 + n);
    let count = format!(":{pairs}\r\n");
    let what = format!("DEL of {n} keys");
    expect_reply(s, &what, &[&del, &keys], count.as_bytes(), timeout);
    started.elapsed()
}

#[test]
fn mset_mget_del_with_up_to_a_million_arguments() {
    let servers: Vec<RedisServer> = (0..3).map(|_| RedisServer::start()).collect();
    let proxy = Redshard::start(&pool_config(
        "heavy",
        &servers.iter().collect::<Vec<_>>(),
        "",
    ));
    let mut s = TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    // 4,097: one past the size at which the framer used to drop the argument
    // positions of the request it had just framed. A million keys fit the
    // framer's limit of 1,048,576 arguments and the default 64 MiB request.
    for (i, n) in [4_097, 100_000, 1_000_000].into_iter().enumerate() {
        let took = round(&mut s, i, n);
        eprintln!("{n} keys: MSET + MGET + DEL in {took:?}");
    }
    // Every key set was deleted, on every server.
    expect_reply(
        &mut s,
        "DBSIZE after the DELs",
        &[b"*1\r\n$6\r\nDBSIZE\r\n"],
        b":0\r\n",
        Duration::from_secs(10),
    );
    let log = proxy.log_text();
    assert!(!log.contains("panic"), "the proxy logged a panic:\n{log}");
}
