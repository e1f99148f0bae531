//! SCAN, KEYS and RANDOMKEY across shards, against three real redis-servers:
//! a walk over 100,000 keys returns each exactly once whatever its COUNT,
//! server after server; MATCH and TYPE filter; bad, stale and ejected
//! cursors get clear errors; KEYS and RANDOMKEY only with `allow_keys`,
//! FLUSHDB and FLUSHALL only with `allow_flush`;
//! client libraries' own SCAN iterators see every key.

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use common::clients::{clients_dir, require, run_script};
use common::servers::{encode, pool_config, Conn, RedisServer, Redshard, Reply};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use redshard::config::Config;
use redshard::pool::Placement;
use redshard::route::scan::{layout_tag, ScanCursor};

/// Servers that answer DEBUG HTSTATS (from loopback), to wait out a rehash.
fn servers(n: usize) -> Vec<RedisServer> {
    (0..n)
        .map(|_| RedisServer::start_with(&["--enable-debug-command", "local"]))
        .collect()
}

fn config(servers: &[RedisServer], extra: &str) -> String {
    pool_config("alpha", &servers.iter().collect::<Vec<_>>(), extra)
}

/// Where the pool of `config` places each key (the config's ring).
fn placement(config: &str) -> Placement {
    let text = config.replace("{port}", "1");
    let parsed = Config::parse(&text, Path::new("scan.yml")).unwrap();
    Placement::new(&parsed.pools[0])
}

/// Writes `n` keys `{prefix}{i}` through the proxy: pipelined MSETs of 1,000
/// keys, which the proxy splits per server.
fn fill(c: &mut Conn, prefix: &str, n: usize) {
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
    let mut batch = Vec::new();
    let mut sent = 0;
    for chunk in names.chunks(1000) {
        let mut args: Vec<&[u8]> = vec![b"MSET"];
        for k in chunk {
            args.push(k.as_bytes());
            args.push(b"v");
        }
        batch.extend(encode(&args));
        sent += 1;
    }
    c.send_raw(&batch);
    for _ in 0..sent {
        assert_eq!(c.read(), Reply::ok());
    }
}

/// Until no server's keyspace is being rehashed: during a rehash Redis's
/// own SCAN may return a key twice; with a table at rest it returns each
/// key exactly once, which is what the walk is checked against.
fn wait_rehashed(servers: &[RedisServer]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    for s in servers {
        let mut c = s.conn();
        loop {
            let Reply::Bulk(stats) = c.cmd(&["DEBUG", "HTSTATS", "0"]) else {
                panic!("DEBUG HTSTATS refused")
            };
            if !String::from_utf8_lossy(&stats).contains("rehashing") {
                break;
            }
            assert!(Instant::now() < deadline, "still rehashing after 10 s");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// One page: the next cursor and the keys.
fn page(c: &mut Conn, cursor: &[u8], options: &[&str]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut args: Vec<&[u8]> = vec![b"SCAN", cursor];
    args.extend(options.iter().map(|o| o.as_bytes()));
    match c.call(&args) {
        Reply::Array(parts) => match &parts[..] {
            [Reply::Bulk(next), Reply::Array(keys)] => {
                let keys = keys
                    .iter()
                    .map(|k| match k {
                        Reply::Bulk(k) => k.clone(),
                        other => panic!("key {other:?}"),
                    })
                    .collect();
                (next.clone(), keys)
            }
            other => panic!("SCAN reply {other:?}"),
        },
        other => panic!("SCAN: {other:?}"),
    }
}

/// A whole walk from cursor 0 back to 0: the pages' keys, in order.
fn walk(c: &mut Conn, options: &[&str]) -> Vec<Vec<Vec<u8>>> {
    let mut cursor = b"0".to_vec();
    let mut pages = Vec::new();
    loop {
        let (next, keys) = page(c, &cursor, options);
        pages.push(keys);
        if next == b"0" {
            return pages;
        }
        assert!(pages.len() < 200_000, "the walk does not end");
        cursor = next;
    }
}

fn names(prefix: &str, n: usize) -> HashSet<Vec<u8>> {
    (0..n)
        .map(|i| format!("{prefix}{i}").into_bytes())
        .collect()
}

#[test]
fn a_walk_returns_every_key_exactly_once_server_after_server() {
    let s = servers(3);
    let cfg = config(&s, "");
    let p = Redshard::start(&cfg);
    let ring = placement(&cfg);
    let mut c = p.conn();
    // An empty pool: one page per server, then 0.
    let empty = walk(&mut c, &[]);
    assert_eq!(empty, vec![Vec::<Vec<u8>>::new(); 3]);

    let n = 100_000;
    fill(&mut c, "key:", n);
    wait_rehashed(&s);
    let want = names("key:", n);
    for count in ["10", "100", "1000"] {
        let started = Instant::now();
        let pages = walk(&mut c, &["COUNT", count]);
        let took = started.elapsed();
        let all: Vec<&Vec<u8>> = pages.iter().flatten().collect();
        let distinct: HashSet<Vec<u8>> = all.iter().map(|k| k.to_vec()).collect();
        assert_eq!(all.len(), n, "COUNT {count}: a key twice or missing");
        assert_eq!(distinct, want, "COUNT {count}");
        // Server 0's keys first, then server 1's, then server 2's.
        let servers: Vec<usize> = all.iter().map(|k| ring.server_for(k).unwrap()).collect();
        assert!(
            servers.windows(2).all(|w| w[0] <= w[1]),
            "COUNT {count}: not server by server"
        );
        eprintln!("COUNT {count}: {} pages in {took:?}", pages.len());
    }
}

#[test]
fn match_and_type_filter_and_options_pass_to_the_servers() {
    let s = servers(3);
    let p = Redshard::start(&config(&s, ""));
    let mut c = p.conn();
    fill(&mut c, "str:", 200);
    for i in 0..30 {
        c.cmd(&["HSET", &format!("hash:{i}"), "f", "v"]);
    }
    for i in 0..20 {
        c.cmd(&["RPUSH", &format!("list:{i}"), "a"]);
    }
    let got = |c: &mut Conn, options: &[&str]| -> HashSet<Vec<u8>> {
        let pages = walk(c, options);
        let all: Vec<Vec<u8>> = pages.into_iter().flatten().collect();
        let set: HashSet<Vec<u8>> = all.iter().cloned().collect();
        assert_eq!(set.len(), all.len(), "a key twice");
        set
    };
    assert_eq!(got(&mut c, &["MATCH", "hash:*"]), names("hash:", 30));
    assert_eq!(
        got(&mut c, &["TYPE", "list", "COUNT", "7"]),
        names("list:", 20)
    );
    assert_eq!(
        got(&mut c, &["MATCH", "str:1?", "TYPE", "string"]),
        (10..20).map(|i| format!("str:{i}").into_bytes()).collect()
    );
    assert!(got(&mut c, &["MATCH", "hash:*", "TYPE", "list"]).is_empty());
    assert_eq!(got(&mut c, &[]).len(), 250);
    // A bad option is the server's own error, and the walk can go on.
    assert_eq!(
        c.cmd(&["SCAN", "0", "COUNT", "0"]),
        Reply::Error("ERR syntax error".into())
    );
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
}

#[test]
fn bad_and_foreign_cursors_get_clear_errors() {
    let s = servers(3);
    let p = Redshard::start(&config(&s, ""));
    let mut c = p.conn();
    // 2^63 and up: a number, but never a cursor the proxy made.
    for bad in [
        "abc",
        "-1",
        "1.5",
        "18446744073709551616",
        "9223372036854775808",
        "18446744073709551615",
    ] {
        assert_eq!(
            c.cmd(&["SCAN", bad]),
            Reply::Error("ERR invalid cursor".into()),
            "{bad}"
        );
    }
    // A cursor a server gave directly, not the proxy.
    let foreign = c.cmd(&["SCAN", "1536"]);
    assert!(
        foreign
            .error_text()
            .contains("start the scan again from cursor 0"),
        "{foreign:?}"
    );
    assert_eq!(
        c.cmd(&["SCAN", "0", "COUNT"]).error_text(),
        "ERR syntax error"
    );
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
}

/// Waits until the proxy's INFO contains `part`.
fn wait_info(c: &mut Conn, part: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let Reply::Bulk(info) = c.cmd(&["INFO"]) else {
            panic!()
        };
        if String::from_utf8_lossy(&info).contains(part) {
            return;
        }
        assert!(Instant::now() < deadline, "INFO never showed {part}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_reload_that_changes_the_servers_makes_old_cursors_fail_clearly() {
    let s = servers(3);
    let cfg = config(&s, "");
    let p = Redshard::start(&cfg);
    let mut c = p.conn();
    fill(&mut c, "k:", 3000);
    let (mid_walk, _) = page(&mut c, b"0", &["COUNT", "10"]);
    assert_ne!(mid_walk, b"0");
    let hup = || kill(Pid::from_raw(p.pid() as i32), Signal::SIGHUP).unwrap();

    // Options only: the layout stands, the cursor goes on; KEYS is allowed now.
    assert!(c.cmd(&["KEYS", "*"]).error_text().contains("allow_keys"));
    p.write_config(&config(&s, "  allow_keys: true\n  timeout: 4000\n"));
    hup();
    // The file watch or the SIGHUP, whichever comes first, applies it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !p
        .log_text()
        .contains("options changed [timeout_ms, allow_keys]")
    {
        assert!(Instant::now() < deadline, "not applied:\n{}", p.log_text());
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        c.cmd(&["KEYS", "k:1"]),
        Reply::Array(vec![Reply::bulk("k:1")])
    );
    let (_, keys) = page(&mut c, &mid_walk, &["COUNT", "10"]);
    assert!(!keys.is_empty());

    // A server removed: the old cursor is refused, a new walk sees the rest.
    p.write_config(&config(&s[..2], ""));
    hup();
    wait_info(&mut c, "servers=2");
    let stale = c.call(&[b"SCAN", &mid_walk]);
    assert_eq!(
        stale.error_text(),
        "ERR redshard: this SCAN cursor was made for another list of servers (the pool's config was reloaded since); start the scan again from cursor 0"
    );
    let on_two: usize = s[..2].iter().map(|srv| srv.keys().len()).sum();
    let pages = walk(&mut c, &["COUNT", "100"]);
    assert_eq!(pages.iter().map(Vec::len).sum::<usize>(), on_two);
}

#[test]
fn an_ejected_or_down_server_stops_the_walk_with_its_name() {
    let mut s = servers(3);
    let cfg = config(
        &s,
        "  auto_eject_hosts: true\n  server_failure_limit: 1\n  server_retry_timeout: 60000\n",
    );
    let p = Redshard::start(&cfg);
    let mut c = p.conn();
    fill(&mut c, "k:", 300);
    // The cursor after server 0 is done: server 1's start.
    let ring = placement(&cfg);
    let tag = layout_tag(ring.layout());
    let server_1_start = ScanCursor::after(0, 0, tag, 3).unwrap().to_string();
    let server_1_start = server_1_start.as_bytes();
    // (Server 0's at most 300 keys fit one page of COUNT 1000.)
    let (next, _) = page(&mut c, b"0", &["COUNT", "1000"]);
    assert_eq!(next, server_1_start);
    let victim = format!("127.0.0.1:{}", s[1].port);
    s[1].kill();
    // Its failure names it, and ejects it...
    let down = c.call(&[b"SCAN", server_1_start]);
    assert!(down.error_text().contains(&victim), "{down:?}");
    wait_info(&mut c, "state=ejected");
    // ... after which the walk stops there with an error naming it.
    let ejected = c.call(&[b"SCAN", server_1_start]);
    assert_eq!(
        ejected.error_text(),
        format!("ERR redshard: SCAN walks every server of pool 'alpha' in turn, and server {victim} is ejected after failing; retry this cursor once it is back")
    );
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
}

#[test]
fn keys_and_randomkey_only_with_allow_keys() {
    let s = servers(3);
    let off = Redshard::start(&config(&s, ""));
    let mut c = off.conn();
    for cmd in [&["KEYS", "*"][..], &["RANDOMKEY"]] {
        let name = cmd[0].to_ascii_lowercase();
        assert_eq!(
            c.cmd(cmd).error_text(),
            format!("ERR redshard does not support '{name}' on pool 'alpha': it needs the whole keyspace of every server; use SCAN, or set allow_keys: true on the pool (one KEYS on a large keyspace stalls every server while it runs)")
        );
    }
    let cfg = config(&s, "  allow_keys: true\n");
    let on = Redshard::start(&cfg);
    let mut c = on.conn();
    // Nothing anywhere: nil, in either protocol.
    assert_eq!(c.cmd(&["RANDOMKEY"]), Reply::Nil);
    assert_eq!(c.cmd(&["KEYS", "*"]), Reply::Array(vec![]));
    let mut v3 = on.conn();
    v3.cmd(&["HELLO", "3"]);
    v3.send(&[b"RANDOMKEY"]);
    assert_eq!(v3.read_raw(), b"_\r\n");

    // One key on one server: every RANDOMKEY finds it, whichever server
    // it asks first.
    c.cmd(&["SET", "only", "1"]);
    for _ in 0..20 {
        assert_eq!(c.cmd(&["RANDOMKEY"]), Reply::bulk("only"));
    }
    c.cmd(&["DEL", "only"]);
    fill(&mut c, "k:", 500);
    let ring = placement(&cfg);
    let all = |reply: Reply| -> HashSet<Vec<u8>> {
        let Reply::Array(keys) = reply else {
            panic!("{reply:?}")
        };
        let set: HashSet<Vec<u8>> = keys
            .iter()
            .map(|k| match k {
                Reply::Bulk(k) => k.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(set.len(), keys.len(), "a key twice");
        set
    };
    assert_eq!(all(c.cmd(&["KEYS", "*"])), names("k:", 500));
    assert_eq!(all(v3.cmd(&["KEYS", "k:*"])), names("k:", 500));
    assert_eq!(
        all(c.cmd(&["KEYS", "k:4?"])),
        (40..50).map(|i| format!("k:{i}").into_bytes()).collect()
    );
    // RANDOMKEY's answers come from every server that has keys.
    let holding: HashSet<usize> = names("k:", 500)
        .iter()
        .map(|k| ring.server_for(k).unwrap())
        .collect();
    let mut from = HashSet::new();
    for _ in 0..200 {
        let Reply::Bulk(k) = c.cmd(&["RANDOMKEY"]) else {
            panic!()
        };
        assert!(names("k:", 500).contains(&k));
        from.insert(ring.server_for(&k).unwrap());
    }
    assert_eq!(from, holding);
}

#[test]
fn flushdb_and_flushall_empty_every_server_only_with_allow_flush() {
    let s = servers(3);
    let off = Redshard::start(&config(&s, "  allow_keys: true\n"));
    let mut c = off.conn();
    fill(&mut c, "k:", 300);
    for cmd in [&["FLUSHDB"][..], &["FLUSHALL", "ASYNC"]] {
        let name = cmd[0].to_ascii_lowercase();
        assert_eq!(
            c.cmd(cmd).error_text(),
            format!("ERR redshard does not support '{name}' on pool 'alpha': it empties every server of the pool; set allow_flush: true on the pool to allow it")
        );
    }
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(300));
    let cfg = config(&s, "  allow_flush: true\n");
    let on = Redshard::start(&cfg);
    let mut c = on.conn();
    // A key on each server, whatever the ring makes of the k: keys.
    let ring = placement(&cfg);
    let spread: Vec<String> = (0..s.len())
        .map(|server| {
            (0..)
                .map(|i| format!("spread:{i}"))
                .find(|k| ring.server_for(k.as_bytes()) == Some(server))
                .unwrap()
        })
        .collect();
    for cmd in [
        &["FLUSHDB"][..],
        &["FLUSHDB", "SYNC"],
        &["flushall", "async"],
    ] {
        fill(&mut c, "k:", 300);
        for k in &spread {
            assert_eq!(c.cmd(&["SET", k, "v"]), Reply::ok());
        }
        assert!(
            s.iter().all(|srv| !srv.keys().is_empty()),
            "keys on every server"
        );
        assert_eq!(c.cmd(cmd), Reply::ok(), "{cmd:?}");
        for srv in &s {
            assert_eq!(srv.conn().cmd(&["DBSIZE"]), Reply::Int(0), "{cmd:?}");
        }
    }
    // A bad argument: the servers' own error, once.
    assert_eq!(
        c.cmd(&["FLUSHDB", "LATER"]).error_text(),
        "ERR syntax error"
    );
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
}

#[test]
fn client_libraries_iterate_every_key_through_the_proxy() {
    let s = servers(3);
    let p = Redshard::start(&config(&s, ""));
    let mut c = p.conn();
    let n = 5000;
    fill(&mut c, "lib:", n);
    fill(&mut c, "noise:", 1000);
    wait_rehashed(&s);

    // The redis crate's scan_match, RESP2 and RESP3.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for url in [p.url(), format!("{}?protocol=resp3", p.url())] {
        let got: Vec<String> = rt.block_on(async {
            let client = redis::Client::open(url.as_str()).unwrap();
            let mut con = client.get_multiplexed_async_connection().await.unwrap();
            let mut iter = redis::AsyncCommands::scan_match::<_, String>(&mut con, "lib:*")
                .await
                .unwrap();
            let mut keys = Vec::new();
            while let Some(key) = iter.next_item().await {
                keys.push(key.unwrap());
            }
            keys
        });
        let set: HashSet<Vec<u8>> = got.iter().map(|k| k.as_bytes().to_vec()).collect();
        assert_eq!(got.len(), n, "{url}");
        assert_eq!(set, names("lib:", n), "{url}");
    }

    let args = [p.port.to_string(), "lib:".into(), n.to_string()];
    for venv in ["py-latest", "py4"] {
        let python = clients_dir().join(venv).join("bin/python");
        if require(&python) {
            run_script(&python, "scan_check.py", &args, &[]);
        }
    }
    let modules = clients_dir().join("node/node_modules");
    if require(&modules.join("ioredis")) && require(&modules.join("redis")) {
        run_script(
            Path::new("node"),
            "scan_check.js",
            &args,
            &[("NODE_PATH", modules)],
        );
    }
}

#[test]
fn info_keyspace_sums_the_servers_for_the_pools_db() {
    let s = servers(3);
    let p = Redshard::start(&config(&s, "  redis_db: 2\n"));
    let mut c = p.conn();
    let text = |r: Reply| match r {
        Reply::Bulk(b) => String::from_utf8(b).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(text(c.cmd(&["INFO", "keyspace"])), "# Keyspace\r\n");
    fill(&mut c, "k:", 900);
    for i in 0..30 {
        c.cmd(&["EXPIRE", &format!("k:{i}"), "1000"]);
    }
    // Another db on the servers is not the pool's.
    s[0].conn().cmd(&["SET", "elsewhere", "1"]);
    let keyspace = text(c.cmd(&["INFO", "keyspace"]));
    let line = keyspace
        .strip_prefix("# Keyspace\r\ndb2:keys=900,expires=30,avg_ttl=")
        .unwrap_or_else(|| panic!("{keyspace}"));
    // Redis's own estimate, which starts at 0 and creeps up: a number below
    // the TTL (the weighing is checked in the unit tests).
    let ttl: u64 = line.trim_end().parse().unwrap();
    assert!(ttl <= 1_000_000, "{ttl}");
    // Plain INFO is the proxy's own; `all` gives both.
    let plain = text(c.cmd(&["INFO"]));
    assert!(plain.contains("# Proxy") && !plain.contains("# Keyspace"));
    let all = text(c.cmd(&["INFO", "all"]));
    assert!(all.starts_with("# Server\r\n") && all.contains("\r\n\r\n# Keyspace\r\ndb2:keys=900,"));
    // RESP3: a verbatim string.
    let mut v3 = std::net::TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    v3.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    v3.write_all(&encode(&[b"HELLO", b"3"])).unwrap();
    v3.write_all(&encode(&[b"INFO", b"keyspace"])).unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while !got.ends_with(b"\r\n\r\n") {
        let n = v3.read(&mut chunk).unwrap();
        assert!(n > 0, "closed");
        got.extend_from_slice(&chunk[..n]);
    }
    let got = String::from_utf8(got).unwrap();
    let at = got
        .find("\r\n=")
        .expect("a verbatim string after HELLO's map");
    assert!(
        got[at..].contains("\r\ntxt:# Keyspace\r\ndb2:keys=900,expires=30,"),
        "{got}"
    );
}
