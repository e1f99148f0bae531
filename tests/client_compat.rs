//! Today's clients through redshard: their handshakes (HELLO 3, CLIENT
//! SETINFO, SELECT, AUTH), real RESP3 for RESP3 clients next to RESP2 ones,
//! and the client libraries themselves with their default settings.

mod common;

use std::path::{Path, PathBuf};

use common::clients::{clients_dir, require, run_script};
use common::sentinel::{Layout, Topology};
use common::servers::{Conn, RedisServer, Redshard, Reply};

fn servers(n: usize, extra: &[&str]) -> Vec<RedisServer> {
    common::servers::start_servers(n, extra)
}

fn proxy(servers: &[RedisServer], extra: &str) -> Redshard {
    common::servers::alpha_proxy(servers, extra)
}

#[test]
fn hello_3_gives_real_resp3_while_resp2_clients_get_resp2() {
    let s = servers(3, &[]);
    let p = proxy(&s, "");
    let mut v3 = p.conn();
    let mut v2 = p.conn();
    // HELLO 3: a map, as Redis 7 answers it.
    v3.send_raw(b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n");
    let Reply::Array(hello) = v3.read() else {
        panic!()
    };
    assert_eq!(hello[0], Reply::bulk("server"));
    assert_eq!(hello[4], Reply::bulk("proto"));
    assert_eq!(hello[5], Reply::Int(3));
    assert!(hello.len() == 14, "{hello:?}");

    for c in [&mut v2, &mut v3] {
        assert!(!c.cmd(&["HSET", "h", "f1", "v1", "f2", "v2"]).is_error());
        c.cmd(&["ZADD", "z", "1.5", "m"]);
        c.cmd(&["SET", "present:x", "1"]);
    }
    // Exact bytes: RESP3 map, null and double for the RESP3 client...
    v3.send_raw(b"*2\r\n$7\r\nHGETALL\r\n$1\r\nh\r\n");
    assert_eq!(
        read_raw(&mut v3),
        b"%2\r\n$2\r\nf1\r\n$2\r\nv1\r\n$2\r\nf2\r\n$2\r\nv2\r\n"
    );
    v3.send_raw(b"*3\r\n$6\r\nZSCORE\r\n$1\r\nz\r\n$1\r\nm\r\n");
    assert_eq!(read_raw(&mut v3), b",1.5\r\n");
    v3.send_raw(b"*2\r\n$3\r\nGET\r\n$7\r\nmissing\r\n");
    assert_eq!(read_raw(&mut v3), b"_\r\n");
    // ... MGET across servers, with missing keys: merged, nulls in RESP3.
    let keys: Vec<String> = (0..12).map(|i| format!("present:{i}:k")).collect();
    for k in &keys[..6] {
        v3.cmd(&["SET", k, "v"]);
    }
    let mut mget = vec!["MGET"];
    mget.extend(keys.iter().map(|s| s.as_str()));
    let a: Vec<&[u8]> = mget.iter().map(|s| s.as_bytes()).collect();
    v3.send(&a);
    let raw = read_raw(&mut v3);
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.starts_with("*12\r\n") && text.matches("_\r\n").count() == 6 && !text.contains("$-1"),
        "{text}"
    );
    // ... and RESP2 for the RESP2 client at the same time.
    v2.send_raw(b"*2\r\n$7\r\nHGETALL\r\n$1\r\nh\r\n");
    assert_eq!(
        read_raw(&mut v2),
        b"*4\r\n$2\r\nf1\r\n$2\r\nv1\r\n$2\r\nf2\r\n$2\r\nv2\r\n"
    );
    v2.send_raw(b"*3\r\n$6\r\nZSCORE\r\n$1\r\nz\r\n$1\r\nm\r\n");
    assert_eq!(read_raw(&mut v2), b"$3\r\n1.5\r\n");
    v2.send(&a);
    let raw = read_raw(&mut v2);
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.starts_with("*12\r\n") && text.matches("$-1\r\n").count() == 6,
        "{text}"
    );
    // The proxy's own nulls follow the protocol too.
    v3.send_raw(b"*2\r\n$6\r\nCLIENT\r\n$7\r\nGETNAME\r\n");
    assert_eq!(read_raw(&mut v3), b"_\r\n");
    v2.send_raw(b"*2\r\n$6\r\nCLIENT\r\n$7\r\nGETNAME\r\n");
    assert_eq!(read_raw(&mut v2), b"$-1\r\n");
    // HELLO 2 switches back; an unknown version is NOPROTO.
    let Reply::Array(hello2) = v3.cmd(&["HELLO", "2"]) else {
        panic!()
    };
    assert_eq!(hello2[5], Reply::Int(2));
    assert!(v3.cmd(&["HELLO", "4"]).error_text().starts_with("NOPROTO"));
}

/// Reads exactly one reply and returns its bytes.
fn read_raw(c: &mut Conn) -> Vec<u8> {
    c.read_raw()
}

#[test]
fn auth_select_client_info_answered_by_the_proxy() {
    // Without redis_auth: nutcracker's text for AUTH.
    let s = servers(2, &[]);
    let p = proxy(&s, "");
    let mut c = p.conn();
    assert_eq!(
        c.cmd(&["AUTH", "x"]).error_text(),
        "ERR Client sent AUTH, but no password is set"
    );
    assert_eq!(c.cmd(&["SELECT", "0"]), Reply::ok());
    assert!(c
        .cmd(&["SELECT", "1"])
        .error_text()
        .starts_with("ERR DB index is out of range"));
    assert_eq!(c.cmd(&["CLIENT", "SETNAME", "app-1"]), Reply::ok());
    assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), Reply::bulk("app-1"));
    assert!(c
        .cmd(&["CLIENT", "SETNAME", "bad name"])
        .error_text()
        .contains("cannot contain spaces"));
    assert_eq!(
        c.cmd(&["CLIENT", "SETINFO", "LIB-NAME", "redis-py"]),
        Reply::ok()
    );
    assert_eq!(
        c.cmd(&["CLIENT", "SETINFO", "LIB-VER", "8.0.0"]),
        Reply::ok()
    );
    assert!(matches!(c.cmd(&["CLIENT", "ID"]), Reply::Int(n) if n > 0));
    // Redis's reply to a value other than ON or OFF.
    assert_eq!(
        c.cmd(&["CLIENT", "NO-EVICT", "maybe"]),
        Reply::Error("ERR syntax error".into())
    );
    let unknown = c.cmd(&[
        "CLIENT",
        "MAINT_NOTIFICATIONS",
        "ON",
        "moving-endpoint-type",
        "none",
    ]);
    assert_eq!(
        unknown.error_text(),
        "ERR unknown subcommand 'MAINT_NOTIFICATIONS'. Try CLIENT HELP."
    );
    assert!(c
        .cmd(&["CLIENT", "KILL", "ID", "1"])
        .error_text()
        .contains("does not support 'client kill'"));
    let Reply::Bulk(info) = c.cmd(&["INFO"]) else {
        panic!()
    };
    let info = String::from_utf8(info).unwrap();
    for field in [
        "redis_version:",
        "redshard_version:",
        "uptime_in_seconds:",
        "workers:2",
        "pool:name=alpha",
        "server0:",
        "server1:",
    ] {
        assert!(info.contains(field), "INFO lacks {field}: {info}");
    }
    // DBSIZE sums the servers; TIME and COMMAND come from a server.
    c.cmd(&[
        "MSET", "a:1:x", "1", "b:2:x", "2", "c:3:x", "3", "d:4:x", "4",
    ]);
    let direct: i64 = s
        .iter()
        .map(|srv| match srv.conn().cmd(&["DBSIZE"]) {
            Reply::Int(n) => n,
            other => panic!("{other:?}"),
        })
        .sum();
    assert_eq!(direct, 4);
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(4));
    assert!(matches!(c.cmd(&["TIME"]), Reply::Array(t) if t.len() == 2));
    assert!(matches!(c.cmd(&["COMMAND", "COUNT"]), Reply::Int(n) if n > 100));
    // The connection survived all of it.
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
}

/// CLIENT INFO gives the client's address (rq reads `addr`); CLIENT LIST
/// lists every client of the pool, on any worker, by name (BullMQ finds its
/// workers so), until it leaves.
#[test]
fn client_info_and_client_list_show_the_pools_clients() {
    let s = servers(1, &[]);
    let p = proxy(&s, "");
    let mut clients: Vec<(String, Conn)> = (0..6)
        .map(|i| {
            let stream = std::net::TcpStream::connect(("127.0.0.1", p.port)).unwrap();
            stream
                .set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            let addr = stream.local_addr().unwrap().to_string();
            let mut c = Conn::from_tcp(stream);
            assert_eq!(
                c.cmd(&["CLIENT", "SETNAME", &format!("app-{i}")]),
                Reply::ok()
            );
            (addr, c)
        })
        .collect();
    let (addr, c) = &mut clients[0];
    let Reply::Bulk(info) = c.cmd(&["CLIENT", "INFO"]) else {
        panic!("CLIENT INFO")
    };
    let info = String::from_utf8(info).unwrap();
    assert!(
        info.ends_with('\n') && info.lines().count() == 1,
        "{info:?}"
    );
    let field = |line: &str, name: &str| {
        line.split(' ')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .map(str::to_string)
    };
    assert_eq!(
        field(&info, "addr").as_deref(),
        Some(addr.as_str()),
        "{info}"
    );
    assert_eq!(
        field(&info, "laddr"),
        Some(format!("127.0.0.1:{}", p.port)),
        "{info}"
    );
    assert_eq!(field(&info, "name").as_deref(), Some("app-0"), "{info}");
    let list = |c: &mut Conn| {
        let Reply::Bulk(list) = c.cmd(&["CLIENT", "LIST"]) else {
            panic!("CLIENT LIST")
        };
        let list = String::from_utf8(list).unwrap();
        let mut names: Vec<(String, String)> = list
            .lines()
            .map(|l| (field(l, "name").unwrap(), field(l, "addr").unwrap()))
            .collect();
        names.sort();
        names
    };
    let expected: Vec<(String, String)> = clients
        .iter()
        .enumerate()
        .map(|(i, (addr, _))| (format!("app-{i}"), addr.clone()))
        .collect();
    assert_eq!(list(&mut clients[5].1), expected);
    // A renamed client shows its new name; a client that left, nothing.
    assert_eq!(
        clients[1].1.cmd(&["CLIENT", "SETNAME", "renamed"]),
        Reply::ok()
    );
    let (_, gone) = clients.remove(2);
    drop(gone);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let names = loop {
        let names: Vec<String> = list(&mut clients[0].1)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        if names.len() == 5 || std::time::Instant::now() > deadline {
            break names;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert_eq!(names, ["app-0", "app-3", "app-4", "app-5", "renamed"]);
}

#[test]
fn redis_auth_and_redis_db_are_enforced_and_passed_on() {
    let s = servers(2, &["--requirepass", "s3cret"]);
    let p = proxy(&s, "  redis_auth: s3cret\n  redis_db: 3\n");
    let mut c = p.conn();
    assert_eq!(
        c.cmd(&["GET", "k"]).error_text(),
        "NOAUTH Authentication required."
    );
    assert!(c
        .cmd(&["AUTH", "wrong"])
        .error_text()
        .starts_with("WRONGPASS"));
    assert_eq!(c.cmd(&["AUTH", "s3cret"]), Reply::ok());
    assert_eq!(c.cmd(&["SET", "in-db-3", "yes"]), Reply::ok());
    assert_eq!(c.cmd(&["SELECT", "3"]), Reply::ok());
    assert!(c.cmd(&["SELECT", "0"]).is_error());
    // The backends got AUTH and SELECT 3 on connect: the key is in db 3.
    let found = s.iter().any(|srv| {
        let mut d = srv.conn();
        d.cmd(&["AUTH", "s3cret"]);
        d.cmd(&["SELECT", "3"]);
        d.cmd(&["GET", "in-db-3"]) == Reply::bulk("yes")
    });
    assert!(found);
    // HELLO 3 AUTH in one step, as redis-py 8 does with a password.
    let mut c = p.conn();
    let Reply::Array(h) = c.cmd(&["HELLO", "3", "AUTH", "default", "s3cret", "SETNAME", "x"])
    else {
        panic!()
    };
    assert_eq!(h[5], Reply::Int(3));
    assert_eq!(c.cmd(&["GET", "in-db-3"]), Reply::bulk("yes"));
    assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), Reply::bulk("x"));
    let mut c = p.conn();
    assert!(c
        .cmd(&["HELLO", "3", "AUTH", "default", "nope"])
        .error_text()
        .starts_with("WRONGPASS"));
    assert!(c.cmd(&["HELLO", "3"]).error_text().starts_with("NOAUTH"));
}

#[test]
fn redis_crate_with_default_settings() {
    let s = servers(3, &[]);
    let p = proxy(&s, "");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Default settings: CLIENT SETINFO on connect, RESP2.
        let client = redis::Client::open(p.url()).unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let _: () = redis::cmd("SET")
            .arg("crate-k")
            .arg("v")
            .query_async(&mut con)
            .await
            .unwrap();
        let v: String = redis::cmd("GET")
            .arg("crate-k")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(v, "v");
        // RESP3 through the URL option.
        let client = redis::Client::open(format!("{}?protocol=resp3", p.url())).unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let _: () = redis::cmd("HSET")
            .arg("crate-h")
            .arg("f")
            .arg("1")
            .query_async(&mut con)
            .await
            .unwrap();
        let m: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
            .arg("crate-h")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(m.get("f").map(String::as_str), Some("1"));
    });
}

fn run_client_script(
    program: &Path,
    script: &str,
    port: u16,
    password: Option<&str>,
    env: &[(&str, PathBuf)],
) {
    let mut args = vec![port.to_string()];
    args.extend(password.map(str::to_string));
    run_script(program, script, &args, env);
}

/// Runs `check` against a fresh proxy and three servers, without and then
/// with a password on both.
fn with_and_without_auth(check: impl Fn(u16, Option<&str>)) {
    for auth in [None, Some("pw-123")] {
        let extra: Vec<&str> = auth.map(|pw| vec!["--requirepass", pw]).unwrap_or_default();
        let s = servers(3, &extra);
        let cfg = auth
            .map(|pw| format!("  redis_auth: {pw}\n"))
            .unwrap_or_default();
        let p = proxy(&s, &cfg);
        check(p.port, auth);
    }
}

#[test]
fn redis_py_latest_and_4_with_default_settings() {
    for venv in ["py-latest", "py4"] {
        let python = clients_dir().join(venv).join("bin/python");
        if !require(&python) {
            return;
        }
        with_and_without_auth(|port, auth| {
            run_client_script(&python, "redis_py_check.py", port, auth, &[])
        });
    }
}

#[test]
fn ioredis_and_node_redis_with_default_settings() {
    let modules = clients_dir().join("node/node_modules");
    if !require(&modules.join("ioredis")) || !require(&modules.join("redis")) {
        return;
    }
    with_and_without_auth(|port, auth| {
        run_client_script(
            Path::new("node"),
            "node_check.js",
            port,
            auth,
            &[("NODE_PATH", modules.clone())],
        );
    });
}

/// The client libraries' smoke checks through a pool that follows Sentinel,
/// with passwords on the servers (`redis_auth`) and on the sentinels
/// (`sentinel_auth`).
#[test]
fn client_libraries_through_a_sentinel_pool() {
    let python = clients_dir().join("py-latest/bin/python");
    let modules = clients_dir().join("node/node_modules");
    if !require(&python) || !require(&modules.join("ioredis")) {
        return;
    }
    let topology = Topology::start(Layout {
        replicas: 1,
        password: Some("pw-s".into()),
        ..Layout::default()
    });
    let p = Redshard::start(&topology.pool_config(
        "  redis_auth: pw-s
  sentinel_auth: pw-s
",
    ));
    run_client_script(&python, "redis_py_check.py", p.port, Some("pw-s"), &[]);
    let node_path = [("NODE_PATH", modules)];
    run_client_script(
        Path::new("node"),
        "node_check.js",
        p.port,
        Some("pw-s"),
        &node_path,
    );
}

/// twemproxy's own test: the proxy's password differs from the servers'.
/// Clients authenticate with the proxy; the servers' NOAUTH comes back.
#[test]
fn a_wrong_redis_auth_lets_the_servers_answer_noauth() {
    let s = servers(2, &["--requirepass", "right"]);
    let p = proxy(&s, "  redis_auth: wrong\n");
    let mut c = p.conn();
    assert!(c
        .cmd(&["PING"])
        .error_text()
        .contains("Authentication required"));
    assert_eq!(c.cmd(&["AUTH", "wrong"]), Reply::ok());
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
    for _ in 0..3 {
        let r = c.cmd(&["SET", "k", "v"]);
        assert!(r.error_text().contains("Authentication required"), "{r:?}");
    }
    // No password on the proxy, one on the servers: PING is answered, the
    // servers refuse the rest, AUTH gets nutcracker's text.
    let p = proxy(&s, "");
    let mut c = p.conn();
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
    assert!(c
        .cmd(&["GET", "k"])
        .error_text()
        .contains("Authentication required"));
    assert_eq!(
        c.cmd(&["AUTH", "any"]).error_text(),
        "ERR Client sent AUTH, but no password is set"
    );
}
