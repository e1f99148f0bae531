//! What one client's heavy request does to the other clients whose requests
//! share its server connection: nothing. A reply over `max_reply_bytes` fails
//! only its own request and is discarded as it streams past; a script that
//! keeps its server busy gets the requests queued behind it a clear error in
//! bounded time, and SCRIPT KILL through the proxy stops it. One worker and
//! one connection per server, so every client shares it. Real redis-server
//! and redshard processes on loopback; every wait is bounded.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::servers::{encode, free_port, pool_config, Conn, RedisServer, Redshard, Reply};

/// One worker, one connection per server: every client's requests to a
/// server travel on the same connection. Its `default` user holds @admin,
/// as SCRIPT KILL needs.
fn shared_proxy(servers: &[&RedisServer], extra: &str) -> Redshard {
    let config = pool_config(
        "alpha",
        servers,
        &format!("  hash_tag: \"{{}}\"\n  server_connections: 1\n  users: [{{name: default, commands: [\"+@all\"]}}]\n{extra}"),
    );
    let stats = free_port().to_string();
    Redshard::start_args(
        &config,
        &["--workers", "1", "-s", &stats, "-a", "127.0.0.1"],
    )
}

/// A hash tag whose keys the proxy places on `server` (of `servers`).
fn tag_on(proxy: &Redshard, servers: &[&RedisServer], server: usize) -> String {
    let mut c = proxy.conn();
    for i in 0..1000 {
        let tag = format!("t{i}");
        let key = format!("{{{tag}}}probe");
        assert_eq!(c.cmd(&["SET", &key, "1"]), Reply::ok());
        if servers[server].conn().cmd(&["EXISTS", &key]) == Reply::Int(1) {
            return tag;
        }
    }
    panic!("no tag lands on server {server}");
}

/// A client that pipelines INCRs of its counters, 100 a batch, until told to
/// stop, counting the error replies it gets.
struct Bystander {
    stop: Arc<AtomicBool>,
    batches: Arc<AtomicU64>,
    thread: JoinHandle<(u64, u64, Vec<String>)>,
}

impl Bystander {
    fn start(proxy: &Redshard, counters: &[String]) -> Bystander {
        let stop = Arc::new(AtomicBool::new(false));
        let batches = Arc::new(AtomicU64::new(0));
        let port = proxy.port;
        let counters = counters.to_vec();
        let (stop2, batches2) = (stop.clone(), batches.clone());
        let thread = std::thread::spawn(move || {
            let mut conn = Conn::tcp(port);
            let mut batch = Vec::new();
            for i in 0..100 {
                batch.extend(encode(&[b"INCR", counters[i % counters.len()].as_bytes()]));
            }
            let (mut sent, mut errors, mut samples) = (0u64, 0u64, Vec::new());
            while !stop2.load(Ordering::Relaxed) {
                conn.send_raw(&batch);
                for _ in 0..100 {
                    sent += 1;
                    if let Reply::Error(e) = conn.read() {
                        errors += 1;
                        if samples.len() < 3 {
                            samples.push(e);
                        }
                    }
                }
                batches2.fetch_add(1, Ordering::Relaxed);
            }
            (sent, errors, samples)
        });
        Bystander {
            stop,
            batches,
            thread,
        }
    }

    fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    /// Stops it; (INCRs sent, error replies, a few of the errors).
    fn finish(self) -> (u64, u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("bystander thread")
    }
}

/// Runs `heavy` (one oversized request and the check of its reply) over and
/// over while a bystander pipelines INCRs on the same connections: at least
/// `rounds` times, and until the bystander has done as many batches, so the
/// two overlap. Returns the bystander's (INCRs, errors) after checking that
/// every INCR counted exactly once.
fn with_bystander(
    proxy: &Redshard,
    counters: &[(String, &RedisServer)],
    rounds: u32,
    mut heavy: impl FnMut(u32),
) -> (u64, u64) {
    let names: Vec<String> = counters.iter().map(|(k, _)| k.clone()).collect();
    let bystander = Bystander::start(proxy, &names);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut round = 0;
    while round < rounds || bystander.batches() < rounds as u64 {
        assert!(Instant::now() < deadline, "no progress after 20 s");
        heavy(round);
        round += 1;
    }
    let (sent, errors, samples) = bystander.finish();
    assert_eq!(
        errors, 0,
        "the bystander got {errors} errors in {sent} INCRs, e.g. {samples:?}"
    );
    let total: i64 = counters
        .iter()
        .map(|(k, srv)| match srv.conn().cmd(&["GET", k]) {
            Reply::Bulk(v) => String::from_utf8(v).unwrap().parse::<i64>().unwrap(),
            other => panic!("GET {k}: {other:?}"),
        })
        .sum();
    assert_eq!(total, sent as i64, "every INCR counted exactly once");
    println!("{round} oversized replies; bystander: {sent} INCRs, {errors} errors");
    (sent, errors)
}

fn assert_too_large(reply: &Reply, what: &str) {
    assert!(
        matches!(reply, Reply::Error(e) if e.contains("larger than max_reply_bytes (1048576 bytes)")),
        "{what}: {}",
        match reply {
            Reply::Bulk(b) => format!("a bulk of {} bytes", b.len()),
            Reply::Array(a) => format!("an array of {} elements", a.len()),
            other => format!("{other:?}"),
        }
    );
}

#[test]
fn an_oversized_reply_fails_only_its_own_request() {
    let s = RedisServer::start();
    let p = shared_proxy(&[&s], "  max_reply_bytes: 1mb\n");
    let value = "v".repeat(3 << 20);
    assert_eq!(s.conn().cmd(&["SET", "big", &value]), Reply::ok());
    let mut heavy = p.conn();
    let (sent, _) = with_bystander(&p, &[("counter".into(), &s)], 30, |_| {
        assert_too_large(&heavy.cmd(&["GET", "big"]), "GET of 3 MiB");
    });
    assert!(sent >= 3000, "only {sent} INCRs overlapped");
    // The heavy client's connection is open and served.
    assert_eq!(heavy.cmd(&["SET", "small", "1"]), Reply::ok());
    assert_eq!(heavy.cmd(&["GET", "small"]), Reply::bulk("1"));
}

#[test]
fn oversized_split_parts_and_nested_script_tables_spare_the_others() {
    let s = [RedisServer::start(), RedisServer::start()];
    let servers = [&s[0], &s[1]];
    let p = shared_proxy(&servers, "  max_reply_bytes: 1mb\n");
    let (a, b) = (tag_on(&p, &servers, 0), tag_on(&p, &servers, 1));
    let big = format!("{{{a}}}big");
    let small = format!("{{{b}}}small");
    assert_eq!(
        s[0].conn().cmd(&["SET", &big, &"v".repeat(3 << 20)]),
        Reply::ok()
    );
    assert_eq!(s[1].conn().cmd(&["SET", &small, "s"]), Reply::ok());
    // A table three levels deep, about 1.3 MB as RESP.
    let script =
        "local t = {} for i = 1, 2000 do t[i] = {i, {string.rep('x', 600)}} end return {t}";
    let script_key = format!("{{{b}}}script");
    let mut heavy = p.conn();
    let counters = [
        (format!("{{{a}}}counter"), &s[0]),
        (format!("{{{b}}}counter"), &s[1]),
    ];
    with_bystander(&p, &counters, 30, |round| {
        let (what, reply) = if round % 2 == 0 {
            (
                "MGET with a part over the limit",
                heavy.cmd(&["MGET", &small, &big]),
            )
        } else {
            (
                "EVAL returning a nested table over the limit",
                heavy.cmd(&["EVAL", script, "1", &script_key]),
            )
        };
        assert_too_large(&reply, what);
    });
    // Under the limit, the same commands are answered in full.
    assert_eq!(
        heavy.cmd(&["MGET", &small, &format!("{{{a}}}counter"), &small]),
        Reply::Array(vec![
            Reply::bulk("s"),
            match s[0].conn().cmd(&["GET", &format!("{{{a}}}counter")]) {
                Reply::Bulk(v) => Reply::Bulk(v),
                other => panic!("{other:?}"),
            },
            Reply::bulk("s"),
        ])
    );
    let small_table = "return {{1, {'x'}}}";
    assert_eq!(
        heavy.cmd(&["EVAL", small_table, "1", &script_key]),
        Reply::Array(vec![Reply::Array(vec![
            Reply::Int(1),
            Reply::Array(vec![Reply::bulk("x")])
        ])])
    );
}

/// A redis-server that answers other connections with BUSY 100 ms into a
/// script rather than after 5 s (Redis's default), to keep the tests short.
fn busy_server() -> RedisServer {
    RedisServer::start_with(&["--busy-reply-threshold", "100"])
}

/// Waits until `srv` answers a direct PING with BUSY: a script runs.
fn wait_busy(srv: &RedisServer) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = srv.conn().cmd(&["PING"]);
        if matches!(&r, Reply::Error(e) if e.starts_with("BUSY ")) {
            return;
        }
        assert!(Instant::now() < deadline, "no script runs: PING says {r:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A client that sends `args` and does not wait for the reply.
fn send_only(proxy: &Redshard, args: &[&str]) -> Conn {
    let mut c = proxy.conn();
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    c.send(&a);
    c
}

#[test]
fn a_request_behind_a_busy_script_is_answered_and_script_kill_frees_the_server() {
    let s = [busy_server(), busy_server()];
    let servers = [&s[0], &s[1]];
    // No `timeout`: nutcracker's default, under which this used to hang.
    let p = shared_proxy(&servers, "");
    let (a, b) = (tag_on(&p, &servers, 0), tag_on(&p, &servers, 1));
    let (key, elsewhere) = (format!("{{{a}}}k"), format!("{{{b}}}k"));
    let mut script = send_only(&p, &["EVAL", "while true do end", "1", &key]);
    wait_busy(&s[0]);
    // Behind the script on the shared connection: a clear error, in bounded time.
    let mut other = p.conn();
    let started = Instant::now();
    let behind = other.try_call(&[b"GET", key.as_bytes()]);
    let waited = started.elapsed();
    println!("a GET behind the busy script was answered after {waited:?}");
    let Ok(Reply::Error(e)) = &behind else {
        panic!("GET behind a busy script after {waited:?}: {behind:?}")
    };
    assert!(
        e.contains("is busy running a script (BUSY Redis is busy running a script.")
            && e.contains("queued behind the script"),
        "{e}"
    );
    assert!(waited < Duration::from_secs(3), "answered after {waited:?}");
    // While the script runs, the next request is answered at once; another
    // server's keys are not affected.
    let started = Instant::now();
    let r = other.cmd(&["GET", &key]);
    assert!(
        matches!(&r, Reply::Error(e) if e.contains("busy running a script") && e.contains("not sent")),
        "{r:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(other.cmd(&["SET", &elsewhere, "v"]), Reply::ok());
    // SCRIPT KILL through the proxy: killed on server 0, nothing ran on 1.
    assert_eq!(other.cmd(&["SCRIPT", "KILL"]), Reply::ok());
    let killed = script.read();
    assert!(
        matches!(&killed, Reply::Error(e) if e.contains("Script killed by user")),
        "the script's own client: {killed:?}"
    );
    // The server serves again, on the same connection, to every client.
    assert_eq!(other.cmd(&["SET", &key, "after"]), Reply::ok());
    assert_eq!(script.cmd(&["GET", &key]), Reply::bulk("after"));
    assert_eq!(other.cmd(&["GET", &elsewhere]), Reply::bulk("v"));
    assert_eq!(s[0].conn().cmd(&["PING"]), Reply::Status("PONG".into()));
}

#[test]
fn a_kill_with_nothing_running_answers_as_redis_does() {
    let s = [RedisServer::start(), RedisServer::start()];
    let p = shared_proxy(&[&s[0], &s[1]], "");
    let mut c = p.conn();
    for kill in [["SCRIPT", "KILL"], ["FUNCTION", "KILL"]] {
        let direct = s[0].conn().cmd(&kill);
        assert_eq!(
            direct,
            Reply::Error("NOTBUSY No scripts in execution right now.".into())
        );
        assert_eq!(c.cmd(&kill), direct, "{kill:?}");
    }
    let r = c.cmd(&["FUNCTION", "FLUSH"]);
    assert_eq!(
        r.error_text(),
        "ERR redshard does not support 'function flush': it administers a server; run it on each server directly; FUNCTION KILL goes to every server"
    );
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
}

#[test]
fn a_script_that_wrote_is_unkillable_and_the_proxy_says_so() {
    let s = busy_server();
    let p = shared_proxy(&[&s], "");
    let _script = send_only(
        &p,
        &[
            "EVAL",
            "redis.call('SET', KEYS[1], '1') while true do end",
            "1",
            "w",
        ],
    );
    wait_busy(&s);
    let direct = s.conn().cmd(&["SCRIPT", "KILL"]);
    assert!(direct.error_text().starts_with("UNKILLABLE "), "{direct:?}");
    assert_eq!(p.conn().cmd(&["SCRIPT", "KILL"]), direct);
    // Only SHUTDOWN NOSAVE stops it: the server goes away.
    let _ = s.conn().try_call(&[b"SHUTDOWN", b"NOSAVE"]);
}

#[test]
fn with_a_timeout_a_busy_server_times_out_as_before() {
    let s = busy_server();
    let p = shared_proxy(&[&s], "  timeout: 300\n");
    let _script = send_only(&p, &["EVAL", "while true do end", "1", "k"]);
    wait_busy(&s);
    let r = p.conn().cmd(&["GET", "k"]);
    assert!(
        matches!(&r, Reply::Error(e) if e.contains("timed out after 300 ms")),
        "{r:?}"
    );
    assert_eq!(p.conn().cmd(&["SCRIPT", "KILL"]), Reply::ok());
}

#[test]
fn a_script_on_another_connection_leaves_the_servers_own_busy_replies() {
    // The threshold is past the probe's first second, so the proxy's probe
    // and its requests are answered BUSY in the same round.
    let s = RedisServer::start_with(&["--busy-reply-threshold", "1500"]);
    let p = shared_proxy(&[&s], "");
    let mut direct = s.conn();
    direct.send(&[b"EVAL", b"while true do end", b"0"]);
    let mut c = p.conn();
    c.send_raw(
        &[
            encode(&[b"GET", b"a"]),
            encode(&[b"GET", b"b"]),
            encode(&[b"GET", b"c"]),
        ]
        .concat(),
    );
    for key in ["a", "b", "c"] {
        let r = c.read();
        assert_eq!(
            r,
            Reply::Error(
                "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
                    .into()
            ),
            "GET {key}: the server's own answer, as this connection runs no script"
        );
    }
    assert_eq!(c.cmd(&["SCRIPT", "KILL"]), Reply::ok());
    assert!(direct.read().is_error());
    assert_eq!(c.cmd(&["GET", "a"]), Reply::Nil);
}

/// Clients that pipeline GETs of a large value and never read: what they
/// asked for streams past on the shared connection, and what is queued
/// behind it waits, but the server keeps answering all the while. Its
/// `timeout` measures its silence, so it is neither timed out nor ejected,
/// and the bystander's INCRs all count on it. (Before, the wait behind the
/// unread replies timed it out, and it was ejected.)
#[test]
fn clients_that_never_read_large_replies_get_no_healthy_server_ejected() {
    let s = [RedisServer::start(), RedisServer::start()];
    let servers = [&s[0], &s[1]];
    let p = shared_proxy(
        &servers,
        "  timeout: 200\n  auto_eject_hosts: true\n  server_failure_limit: 1\n  server_retry_timeout: 30000\n",
    );
    let tag = tag_on(&p, &servers, 0);
    // A long key: Redis reads 16 KB of requests at a time and copies the
    // replies of all it read before it writes again, so 4 such GETs (4 MB,
    // a few ms) are the longest it stays silent, well within the timeout;
    // all the sinks ask for about 1 GB, far more than it sends in 200 ms.
    let big = format!("{{{tag}}}{}", "k".repeat(4000));
    assert_eq!(
        s[0].conn().cmd(&["SET", &big, &"v".repeat(1 << 20)]),
        Reply::ok()
    );
    let mut gets = Vec::new();
    for _ in 0..100 {
        gets.extend(encode(&[b"GET", big.as_bytes()]));
    }
    // Sixteen clients that never read, each with about 64 MB asked for
    // (what the proxy takes of a client's pipeline before it stops reading
    // it, and closes it once that much is held).
    let mut sinks = Vec::new();
    let counter = format!("{{{tag}}}n");
    with_bystander(&p, &[(counter, &s[0])], 16, |round| {
        if round < 16 {
            let mut sink = p.conn();
            sink.send_raw(&gets);
            sinks.push(sink);
        } else {
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    // Still in the ring: the value is read from it through the proxy.
    let got = p.conn().cmd(&["GET", &big]);
    assert!(
        matches!(&got, Reply::Bulk(v) if v.len() == 1 << 20),
        "{got:?}"
    );
}
