//! MULTI / EXEC / WATCH and blocking commands on connections a client owns,
//! against real redis-server processes.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::servers::{
    alpha_proxy, command_calls, info_number, keys_on, start_servers, wait_blocked, Conn,
    RedisServer, Reply,
};

/// Sends `commands` in one write and reads one reply each.
fn pipeline(c: &mut Conn, commands: &[&[&str]]) -> Vec<Reply> {
    let mut batch = Vec::new();
    for args in commands {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        batch.extend(common::servers::encode(&args));
    }
    c.send_raw(&batch);
    commands.iter().map(|_| c.read()).collect()
}

fn queued() -> Reply {
    Reply::Status("QUEUED".into())
}

#[test]
fn a_transaction_runs_on_the_server_of_its_keys() {
    let s = start_servers(3, &[]);
    let p = alpha_proxy(&s, "");
    let (keys, _) = keys_on(&p, 1, 2);
    let mut c = p.conn();
    let got = pipeline(
        &mut c,
        &[
            &["MULTI"],
            &["INCR", &keys[0]],
            &["PING"],
            &["SET", &keys[1], "v"],
            &["EXEC"],
        ],
    );
    assert_eq!(got[..4], [Reply::ok(), queued(), queued(), queued()]);
    assert_eq!(
        got[4],
        Reply::Array(vec![
            Reply::Int(1),
            Reply::Status("PONG".into()),
            Reply::ok()
        ])
    );
    assert_eq!(command_calls(&s[1], "exec"), 1);
    // Outside the transaction everything works as before.
    assert_eq!(c.cmd(&["GET", &keys[1]]), Reply::bulk("v"));
    assert_eq!(
        pipeline(&mut c, &[&["MULTI"], &["EXEC"]]),
        [Reply::ok(), Reply::Array(vec![])]
    );
    assert_eq!(c.cmd(&["EXEC"]).error_text(), "ERR EXEC without MULTI");
    assert_eq!(
        c.cmd(&["DISCARD"]).error_text(),
        "ERR DISCARD without MULTI"
    );
}

/// Nothing of a refused transaction runs: checked on the servers directly.
#[test]
fn a_refused_transaction_runs_none_of_its_commands() {
    let s = start_servers(3, &[]);
    let p = alpha_proxy(&s, "");
    let (on0, _) = keys_on(&p, 0, 2);
    let (on2, _) = keys_on(&p, 2, 1);
    let mut c = p.conn();
    // A key on another server.
    let got = pipeline(
        &mut c,
        &[
            &["MULTI"],
            &["INCR", &on0[0]],
            &["INCR", &on2[0]],
            &["INCR", &on0[1]],
            &["EXEC"],
        ],
    );
    assert_eq!(got[..2], [Reply::ok(), queued()]);
    assert!(
        got[2].error_text().starts_with(
            "ERR 'incr' inside MULTI: its key lives on another server of pool 'alpha' than the transaction, which its first key fixed;"
        ),
        "{:?}",
        got[2]
    );
    assert_eq!(got[3], queued());
    assert_eq!(
        got[4].error_text(),
        "EXECABORT Transaction discarded because of previous errors."
    );
    // An unknown command, a wrong arity.
    let got = pipeline(
        &mut c,
        &[&["MULTI"], &["INCR", &on0[0]], &["NOSUCH"], &["EXEC"]],
    );
    assert!(got[2].error_text().starts_with("ERR unknown command"));
    assert!(got[3].error_text().starts_with("EXECABORT"));
    let got = pipeline(
        &mut c,
        &[&["MULTI"], &["INCR", &on0[0]], &["GET"], &["EXEC"]],
    );
    assert!(got[3].error_text().starts_with("EXECABORT"));
    // DISCARD.
    let got = pipeline(&mut c, &[&["MULTI"], &["INCR", &on0[0]], &["DISCARD"]]);
    assert_eq!(got, [Reply::ok(), queued(), Reply::ok()]);
    for (server, key) in [(0, &on0[0]), (0, &on0[1]), (2, &on2[0])] {
        assert_eq!(
            s[server].conn().cmd(&["EXISTS", key]),
            Reply::Int(0),
            "{key} was written by a refused transaction"
        );
    }
    assert_eq!(command_calls(&s[0], "incr"), 0);
}

#[test]
fn a_full_dedicated_pool_refuses_the_transaction_at_once() {
    let s = start_servers(1, &[]);
    let p = alpha_proxy(&s, "  max_dedicated_connections: 1\n");
    // One client holds the only dedicated connection, blocked. (Until the
    // server has it blocked, a transaction could take the connection first
    // and the BLPOP be refused.)
    let mut blocked = p.conn();
    blocked.send(&[b"BLPOP", b"nothing", b"0"]);
    wait_blocked(&s[0], 1);
    let mut c = p.conn();
    let got = pipeline(&mut c, &[&["MULTI"], &["INCR", "k"], &["EXEC"]]);
    assert!(
        got[1].error_text().contains("max_dedicated_connections"),
        "{:?}",
        got[1]
    );
    assert!(got[2].error_text().starts_with("EXECABORT"));
    assert_eq!(s[0].conn().cmd(&["EXISTS", "k"]), Reply::Int(0));
    // Released when the blocked call returns.
    assert_eq!(c.cmd(&["RPUSH", "nothing", "x"]), Reply::Int(1));
    assert_eq!(
        blocked.read(),
        Reply::Array(vec![Reply::bulk("nothing"), Reply::bulk("x")])
    );
    let got = pipeline(&mut c, &[&["MULTI"], &["INCR", "k"], &["EXEC"]]);
    assert_eq!(got[2], Reply::Array(vec![Reply::Int(1)]));
}

#[test]
fn per_server_transactions_merge_exec_in_queue_order() {
    let s = start_servers(3, &[]);
    let p = alpha_proxy(&s, "  multi: per_server\n");
    let keys: Vec<String> = (0..3).map(|i| keys_on(&p, i, 1).0.remove(0)).collect();
    let mut c = p.conn();
    let got = pipeline(
        &mut c,
        &[
            &["MULTI"],
            &["SET", &keys[2], "c"],
            &["SET", &keys[0], "a"],
            &["INCR", &keys[1]],
            &["GET", &keys[2]],
            &["GET", &keys[0]],
            &["EXEC"],
        ],
    );
    assert_eq!(
        got[..6],
        [
            Reply::ok(),
            queued(),
            queued(),
            queued(),
            queued(),
            queued()
        ]
    );
    assert_eq!(
        got[6],
        Reply::Array(vec![
            Reply::ok(),
            Reply::ok(),
            Reply::Int(1),
            Reply::bulk("c"),
            Reply::bulk("a")
        ])
    );
    for server in &s {
        assert_eq!(command_calls(server, "multi"), 1);
        assert_eq!(command_calls(server, "exec"), 1);
    }
    // A refusal by one server discards the transaction on all of them.
    let got = pipeline(
        &mut c,
        &[
            &["MULTI"],
            &["SET", &keys[0], "x"],
            &["SET", &keys[1]],
            &["EXEC"],
        ],
    );
    assert!(got[3].error_text().starts_with("EXECABORT"), "{got:?}");
    assert_eq!(c.cmd(&["GET", &keys[0]]), Reply::bulk("a"));
    // WATCH pins the transaction to one server even here.
    let got = pipeline(
        &mut c,
        &[
            &["WATCH", &keys[0]],
            &["MULTI"],
            &["SET", &keys[1], "y"],
            &["EXEC"],
        ],
    );
    assert!(got[2].error_text().contains("one server"), "{got:?}");
    assert!(got[3].error_text().starts_with("EXECABORT"));
}

/// MSET, MGET, DEL, EXISTS across servers inside a per-server MULTI (what
/// aiocache's multi_set and redis-py pipelines queue): each server queues
/// its piece, the client gets one `+QUEUED`, and EXEC gives each command's
/// one result, combined as outside MULTI. Before, they were refused.
#[test]
fn per_server_transactions_split_multi_key_commands() {
    let s = start_servers(3, &[]);
    let p = alpha_proxy(&s, "  multi: per_server\n");
    let keys: Vec<String> = (0..3).map(|i| keys_on(&p, i, 1).0.remove(0)).collect();
    let (k0, k1, k2) = (keys[0].as_str(), keys[1].as_str(), keys[2].as_str());
    let mut c = p.conn();
    let got = pipeline(
        &mut c,
        &[
            &["MULTI"],
            &["MSET", k2, "c", k0, "a", k1, "b"],
            &["INCR", "n"],
            &["MGET", k1, "nothing", k2, k0],
            &["EXISTS", k0, k1, k2, k0],
            &["DEL", k0, k2],
            &["MGET", k0, k1, k2],
            &["EXEC"],
        ],
    );
    assert_eq!(got[0], Reply::ok());
    assert_eq!(
        got[1..7],
        [queued(), queued(), queued(), queued(), queued(), queued()]
    );
    assert_eq!(
        got[7],
        Reply::Array(vec![
            Reply::ok(),
            Reply::Int(1),
            Reply::Array(vec![
                Reply::bulk("b"),
                Reply::Nil,
                Reply::bulk("c"),
                Reply::bulk("a")
            ]),
            Reply::Int(4),
            Reply::Int(2),
            Reply::Array(vec![Reply::Nil, Reply::bulk("b"), Reply::Nil]),
        ])
    );
    for server in &s {
        assert_eq!(command_calls(server, "multi"), 1);
        assert_eq!(command_calls(server, "exec"), 1);
    }
    // One server refuses its piece (out of memory, at queuing): the client
    // gets that refusal for the command, and EXEC discards the transaction
    // on every server, the other pieces included.
    assert_eq!(
        s[1].conn().cmd(&["CONFIG", "SET", "maxmemory", "1"]),
        Reply::ok()
    );
    let got = pipeline(
        &mut c,
        &[
            &["MULTI"],
            &["MSET", k0, "x", k1, "y"],
            &["SET", k2, "z"],
            &["EXEC"],
        ],
    );
    assert!(got[1].error_text().starts_with("OOM"), "{got:?}");
    assert_eq!(got[2], queued());
    assert!(got[3].error_text().starts_with("EXECABORT"), "{got:?}");
    assert_eq!(s[0].conn().cmd(&["EXISTS", k0]), Reply::Int(0));
    assert_eq!(s[2].conn().cmd(&["EXISTS", k2]), Reply::Int(0));
}

#[test]
fn watch_retries_under_contention_count_exactly() {
    let s = start_servers(3, &[]);
    let p = alpha_proxy(&s, "");
    const CLIENTS: u64 = 10;
    const EACH: u64 = 30;
    let retries = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let port = p.port;
            let retries = retries.clone();
            thread::spawn(move || {
                let mut c = Conn::tcp(port);
                for _ in 0..EACH {
                    loop {
                        assert_eq!(c.cmd(&["WATCH", "counter"]), Reply::ok());
                        let n = match c.cmd(&["GET", "counter"]) {
                            Reply::Bulk(b) => String::from_utf8(b).unwrap().parse::<u64>().unwrap(),
                            _ => 0,
                        };
                        let got = pipeline(
                            &mut c,
                            &[
                                &["MULTI"],
                                &["SET", "counter", &(n + 1).to_string()],
                                &["EXEC"],
                            ],
                        );
                        match &got[2] {
                            Reply::Array(r) if r == &vec![Reply::ok()] => break,
                            Reply::Nil => {
                                retries.fetch_add(1, Ordering::Relaxed);
                            }
                            other => panic!("EXEC: {other:?}"),
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let mut c = p.conn();
    assert_eq!(
        c.cmd(&["GET", "counter"]),
        Reply::bulk(&(CLIENTS * EACH).to_string())
    );
    eprintln!("{} retries", retries.load(Ordering::Relaxed));
}

#[test]
fn blocked_clients_wait_on_their_own_connections() {
    let s = start_servers(2, &[]);
    let p = alpha_proxy(&s, "");
    const BLOCKED: usize = 50;
    let blocked: Vec<_> = (0..BLOCKED)
        .map(|i| {
            let mut c = p.conn();
            c.send(&[b"BLPOP", format!("queue:{i}").as_bytes(), b"0"]);
            c
        })
        .collect();
    // Others at full speed beside them.
    let mut other = p.conn();
    let mut slowest = Duration::ZERO;
    for i in 0..500 {
        let started = Instant::now();
        assert_eq!(other.cmd(&["SET", &format!("k{i}"), "v"]), Reply::ok());
        assert_eq!(other.cmd(&["GET", &format!("k{i}")]), Reply::bulk("v"));
        slowest = slowest.max(started.elapsed());
    }
    eprintln!("slowest SET+GET beside {BLOCKED} blocked clients: {slowest:?}");
    assert!(slowest < Duration::from_secs(2), "{slowest:?}");
    // Blocked connections (flag b) on a server.
    let dedicated = |server: &RedisServer| {
        let Reply::Bulk(list) = server.conn().cmd(&["CLIENT", "LIST"]) else {
            panic!("CLIENT LIST")
        };
        String::from_utf8_lossy(&list)
            .lines()
            .filter(|l| {
                l.split(' ')
                    .any(|f| f.strip_prefix("flags=").is_some_and(|v| v.contains('b')))
            })
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.iter().map(dedicated).sum::<usize>() < BLOCKED {
        assert!(
            Instant::now() < deadline,
            "the blocked calls never reached the servers"
        );
        thread::sleep(Duration::from_millis(10));
    }
    // Each returns when its key is pushed; the second half leave instead.
    let mut blocked = blocked;
    for (i, c) in blocked.iter_mut().enumerate().take(BLOCKED / 2) {
        let key = format!("queue:{i}");
        assert_eq!(other.cmd(&["RPUSH", &key, "job"]), Reply::Int(1));
        assert_eq!(
            c.read(),
            Reply::Array(vec![Reply::bulk(&key), Reply::bulk("job")])
        );
        // The connection is the client's usual one again.
        assert_eq!(c.cmd(&["GET", &format!("k{i}")]), Reply::bulk("v"));
    }
    drop(blocked);
    // Those that left closed theirs; of those answered, each worker keeps
    // at most 4 idle per server: with its 2 workers' shared connections and
    // the one asking, at most 11 per server.
    let deadline = Instant::now() + Duration::from_secs(5);
    let connected = |r: &RedisServer| info_number(r, "clients", "connected_clients");
    while s.iter().map(dedicated).sum::<usize>() > 0 || s.iter().any(|r| connected(r) > 11) {
        assert!(
            Instant::now() < deadline,
            "a blocked client that left kept its server connection"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_blocking_call_times_out_on_its_own_timeout_not_the_pools() {
    let s = start_servers(1, &[]);
    let p = alpha_proxy(&s, "  timeout: 200\n");
    let mut c = p.conn();
    let started = Instant::now();
    assert_eq!(c.cmd(&["BLPOP", "empty", "1"]), Reply::Nil);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900), "{took:?}");
    // XREAD BLOCK on a stream written meanwhile.
    let mut writer = p.conn();
    c.send(&[b"XREAD", b"BLOCK", b"5000", b"STREAMS", b"st", b"$"]);
    thread::sleep(Duration::from_millis(100));
    let Reply::Bulk(_) = writer.cmd(&["XADD", "st", "*", "f", "v"]) else {
        panic!("XADD")
    };
    let Reply::Array(streams) = c.read() else {
        panic!("XREAD")
    };
    assert_eq!(streams.len(), 1);
}

/// Timeouts Redis reads and the proxy's parser does not (a hex float, a
/// tiny negative one, a repeated BLOCK) are the server's to time: the
/// calls get Redis's own answers, and no false "timed out" counts against
/// a server that did nothing wrong (before, two such calls ejected it).
#[test]
fn timeouts_only_redis_can_read_are_left_to_redis() {
    let s = start_servers(1, &[]);
    let p = alpha_proxy(
        &s,
        "  timeout: 300\n  auto_eject_hosts: true\n  server_failure_limit: 2\n  server_retry_timeout: 60000\n",
    );
    for _ in 0..2 {
        let started = Instant::now();
        assert_eq!(p.conn().cmd(&["BLPOP", "q", "0x1p-1"]), Reply::Nil);
        assert!(started.elapsed() >= Duration::from_millis(450));
        let started = Instant::now();
        let read = ["XREAD", "BLOCK", "10", "BLOCK", "600", "STREAMS", "st", "$"];
        assert_eq!(p.conn().cmd(&read), Reply::Nil);
        assert!(started.elapsed() >= Duration::from_millis(550));
    }
    // Blocks until pushed, as on Redis (rounded to 0: for ever).
    let mut c = p.conn();
    c.send(&[b"BLPOP", b"q", b"-0.0001"]);
    wait_blocked(&s[0], 1);
    assert_eq!(p.conn().cmd(&["LPUSH", "q", "v"]), Reply::Int(1));
    assert_eq!(
        c.read(),
        Reply::Array(vec![Reply::bulk("q"), Reply::bulk("v")])
    );
    assert_eq!(p.conn().cmd(&["SET", "k", "v"]), Reply::ok(), "not ejected");
}

/// A client that half-closes while blocked (ioredis's `disconnect()`, which
/// BullMQ's QueueEvents uses to stop its XREAD BLOCK) gets no reply, as from
/// Redis: not the error of the call the proxy abandons for it.
#[test]
fn a_client_that_leaves_while_blocked_gets_no_reply() {
    let s = start_servers(1, &[]);
    let p = alpha_proxy(&s, "");
    let stream = std::net::TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut c = Conn::from_tcp(stream.try_clone().unwrap());
    assert_eq!(c.cmd(&["SET", "k", "v"]), Reply::ok());
    c.send(&[b"XREAD", b"BLOCK", b"10000", b"STREAMS", b"events", b"$"]);
    wait_blocked(&s[0], 1);
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let (closed, rest) = c.closed_within(Duration::from_secs(5));
    assert!(closed, "the proxy kept the connection open");
    assert_eq!(
        String::from_utf8_lossy(&rest),
        "",
        "a reply after the client left"
    );
}

#[test]
fn connections_left_clean_serve_the_next_call_and_the_others_close() {
    let s = start_servers(1, &[]);
    let p = alpha_proxy(&s, "");
    // Connections the server accepted; each asking is one more.
    let opened = || info_number(&s[0], "stats", "total_connections_received");
    let mut c = p.conn();
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
    let before = opened();
    // A worker looping on a blocking pop, as job queues do, and on
    // transactions: one dedicated connection serves them all.
    for i in 0..30 {
        assert_eq!(c.cmd(&["BLPOP", "empty", "0.01"]), Reply::Nil, "call {i}");
        let got = pipeline(&mut c, &[&["MULTI"], &["INCR", "n"], &["EXEC"]]);
        assert_eq!(
            got[2],
            Reply::Array(vec![Reply::Int(i + 1)]),
            "transaction {i}"
        );
    }
    assert_eq!(
        opened() - before,
        1 + 1,
        "one connection for 60 calls, one to ask"
    );
    // DISCARD leaves the transaction to the server to drop: that connection
    // closes, and the next transaction takes a new one.
    let got = pipeline(&mut c, &[&["MULTI"], &["INCR", "n"], &["DISCARD"]]);
    assert_eq!(got[2], Reply::ok());
    let got = pipeline(&mut c, &[&["MULTI"], &["INCR", "n"], &["EXEC"]]);
    assert_eq!(got[2], Reply::Array(vec![Reply::Int(31)]));
    assert_eq!(
        opened() - before,
        2 + 2,
        "one more after DISCARD, two to ask"
    );
    // An idle connection the server closed is not handed out again.
    assert_eq!(
        s[0].conn()
            .cmd(&["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"]),
        Reply::Int(info_number(&s[0], "clients", "connected_clients") as i64 - 1)
    );
    assert_eq!(c.cmd(&["BLPOP", "empty", "0.01"]), Reply::Nil);
    let got = pipeline(&mut c, &[&["MULTI"], &["INCR", "n"], &["EXEC"]]);
    assert_eq!(got[2], Reply::Array(vec![Reply::Int(32)]));
}
