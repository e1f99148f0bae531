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
/// server travel on the same connection.
fn shared_proxy(servers: &[&RedisServer], extra: &str) -> Redshard {
    let config = pool_config(
        "alpha",
        servers,
        &format!("  hash_tag: \"{{}}\"\n  server_connections: 1\n{extra}"),
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
